package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/ditkit/ditkit/web"
)

func init() {
	register(&command{
		name:    "serve",
		usage:   "[--addr 127.0.0.1:8080]",
		summary: "Serve the ditkit page (the checkpoint never leaves the browser; the server accepts no uploads).",
		run:     runServe,
	})
}

func runServe(args []string, stdout, stderr io.Writer) int {
	c := commands["serve"]
	fs := newFlags(c, stdout, stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback by default)")
	if _, code, ok := parseFlags(fs, args); !ok {
		return code
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fail(stderr, err)
	}
	srv := &http.Server{Handler: web.New(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "ditkit: serving the page at http://%s/ (Ctrl-C to stop)\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fail(stderr, err)
	}
	return exitOK
}
