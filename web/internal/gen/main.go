// Command gen holds ditkit's build-time generators: the files build.sh
// makes that are not committed. Each is a subcommand:
//
//	go run ./web/internal/gen demo OUT.pt          the page's demo checkpoint (package demo)
//	go run ./web/internal/gen headers OUT          the Worker's assets/_headers (web.HeadersFile)
//	go run ./web/internal/gen benchckpt [-preset P] -o OUT
//	                                               a full-size random checkpoint for build.sh bench_io
//
// They live under web/ because web is the top of the dependency graph
// (core ← loader ← web) and the headers come from package web itself;
// internal keeps them out of the module's API. Generated source files that
// are committed (sha256x's assembly, the vugu components, the kernels) are
// made by `go generate` lines beside them instead, and `build.sh test`
// fails when one of those is stale.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ditkit/ditkit/web"
	"github.com/ditkit/ditkit/web/internal/gen/demo"
)

var errUsage = errors.New("usage: gen demo OUT.pt | gen headers OUT | gen benchckpt [-preset P] -o OUT")

func main() {
	err := errUsage
	if len(os.Args) >= 2 {
		switch what, args := os.Args[1], os.Args[2:]; what {
		case "demo":
			err = oneArg(args, writeDemo)
		case "headers":
			err = oneArg(args, func(out string) error { return os.WriteFile(out, []byte(web.HeadersFile()), 0o644) })
		case "benchckpt":
			err = benchCheckpoint(args)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func oneArg(args []string, fn func(string) error) error {
	if len(args) != 1 {
		return errUsage
	}
	return fn(args[0])
}

// writeDemo writes the demo checkpoint to out, making its folder.
func writeDemo(out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	err = demo.Write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
