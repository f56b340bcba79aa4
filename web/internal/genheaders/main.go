// Command genheaders writes web.HeadersFile() to the path given (the
// Worker's assets/_headers).
package main

import (
	"fmt"
	"os"

	"github.com/ditkit/ditkit/web"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genheaders OUT")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], []byte(web.HeadersFile()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "genheaders:", err)
		os.Exit(1)
	}
}
