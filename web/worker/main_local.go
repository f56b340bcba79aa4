//go:build !(js && wasm)

// Command worker, built natively, serves the same handler on loopback
// ($PORT, default 8787) — workers.Serve would bind every interface.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/ditkit/ditkit/web"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8787"
	}
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: web.New(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on http://%s/\n", srv.Addr)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
