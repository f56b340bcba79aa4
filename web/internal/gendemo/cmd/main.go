// Command gendemo writes the demo checkpoint to the path given as its only
// argument (build.sh: web/static/demo/dit-demo-2d-layout.pt).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ditkit/ditkit/web/internal/gendemo"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gendemo OUT.pt")
		os.Exit(2)
	}
	out := os.Args[1]
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f, err := os.Create(out)
	if err == nil {
		err = gendemo.Write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendemo:", err)
		os.Exit(1)
	}
}
