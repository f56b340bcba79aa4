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
	"strconv"
	"syscall"
	"time"

	"github.com/ditkit/ditkit/web"
)

func init() {
	register(&command{
		name:    "serve",
		usage:   "[--addr HOST:PORT]",
		summary: "Serve the ditkit page (the checkpoint never leaves the browser; the server accepts no uploads).",
		run:     runServe,
	})
}

func runServe(args []string, stdout, stderr io.Writer) int {
	c := commands["serve"]
	fs := newFlags(c, stdout, stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback by default; a bare port such as 8081 means 127.0.0.1:8081)")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 {
		return usageError(stderr, c, "no arguments besides --addr")
	}
	ln, err := listen(*addr)
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

// listen listens on addr (a bare port means loopback); a port that is
// taken or not allowed is said so, with how to choose another.
func listen(addr string) (net.Listener, error) {
	if _, err := strconv.ParseUint(addr, 10, 16); err == nil {
		addr = "127.0.0.1:" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	host, port, serr := net.SplitHostPort(addr)
	if serr != nil {
		return nil, fmt.Errorf("--addr %s: want HOST:PORT, e.g. 127.0.0.1:8080 (%v)", addr, serr)
	}
	next := "8081"
	if p, perr := strconv.Atoi(port); perr == nil && p > 0 && p < 65535 {
		next = strconv.Itoa(p + 1)
	}
	other := net.JoinHostPort(host, next)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s is already in use (another ditkit serve?): pick another address with --addr %s, or ./build.sh serve %s", addr, other, other)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("%s: not allowed to listen there (ports below 1024 need privileges): pick another address with --addr %s, or ./build.sh serve %s", addr, other, other)
	}
	return nil, fmt.Errorf("--addr %s: %w", addr, err)
}
