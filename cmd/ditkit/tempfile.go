package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
)

// tempFile is an output being written: a hidden temporary file beside
// its final path, renamed into place by commit. Until then, failing
// (discard) or being interrupted (SIGINT, SIGTERM) removes it, so no
// partial output is ever left behind.
type tempFile struct {
	*os.File
	path   string // the final path, as the user gave it
	mu     sync.Mutex
	ended  bool // committed or discarded
	sigs   chan os.Signal
	stopCh chan struct{}
}

func createTemp(path string, stderr io.Writer) (*tempFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".ditkit-*")
	if err != nil {
		return nil, fmt.Errorf("%s: cannot write there: %w", path, err)
	}
	t := &tempFile{File: f, path: path, sigs: make(chan os.Signal, 1), stopCh: make(chan struct{})}
	signal.Notify(t.sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-t.sigs:
			t.mu.Lock() // a commit in progress finishes first
			if !t.ended {
				t.File.Close()
				os.Remove(t.Name())
				fmt.Fprintf(stderr, "ditkit: %s: interrupted (%v); nothing was written\n", path, s)
			} else {
				fmt.Fprintf(stderr, "ditkit: interrupted (%v)\n", s)
			}
			os.Exit(130)
		case <-t.stopCh:
		}
	}()
	return t, nil
}

func (t *tempFile) stopSignals() {
	signal.Stop(t.sigs)
	close(t.stopCh)
}

// commit makes the file readable by all, closes it and renames it to its
// final path; after an error nothing is left.
func (t *tempFile) commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return fmt.Errorf("%s: already ended", t.path)
	}
	t.ended = true
	defer t.stopSignals()
	err := t.Chmod(0o644)
	if cerr := t.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(t.Name(), t.path)
	}
	if err != nil {
		os.Remove(t.Name())
		return fmt.Errorf("%s: %w", t.path, err)
	}
	return nil
}

// discard removes the file unless it was committed (safe to defer).
func (t *tempFile) discard() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return
	}
	t.ended = true
	t.stopSignals()
	t.File.Close()
	os.Remove(t.Name())
}
