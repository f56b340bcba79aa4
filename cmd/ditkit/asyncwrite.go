package main

import (
	"io"
	"sync/atomic"
)

// asyncWriter hands full buffers to a goroutine that writes them, so
// reading, casting and hashing overlap with the write syscalls.
type asyncWriter struct {
	w    io.Writer
	cur  []byte
	size int
	full chan []byte
	free chan []byte
	done chan error
	err  error
	werr atomic.Pointer[error] // the first write error, seen by Write early
}

func newAsyncWriter(w io.Writer, bufSize, depth int) *asyncWriter {
	a := &asyncWriter{w: w, size: bufSize, full: make(chan []byte, depth), free: make(chan []byte, depth+1), done: make(chan error, 1)}
	for i := 0; i < depth+1; i++ {
		a.free <- make([]byte, 0, bufSize)
	}
	a.cur = <-a.free
	full, free, done := a.full, a.free, a.done // the goroutine must not read fields Close resets
	go func() {
		var err error
		for b := range full {
			if err == nil {
				if _, err = w.Write(b); err != nil {
					a.werr.Store(&err)
				}
			}
			free <- b[:0]
		}
		done <- err
	}()
	return a
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if a.err != nil {
		return 0, a.err
	}
	if e := a.werr.Load(); e != nil {
		return 0, *e
	}
	n := len(p)
	for len(p) > 0 {
		k := copy(a.cur[len(a.cur):a.size], p)
		a.cur = a.cur[:len(a.cur)+k]
		p = p[k:]
		if len(a.cur) == a.size {
			a.full <- a.cur
			a.cur = <-a.free
		}
	}
	return n, nil
}

// Close flushes what is buffered and waits for the writes; it returns the
// first write error.
func (a *asyncWriter) Close() error {
	if a.full == nil {
		return a.err
	}
	if len(a.cur) > 0 {
		a.full <- a.cur
	}
	close(a.full)
	a.full = nil
	a.err = <-a.done
	return a.err
}
