package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
)

// tempFile is an output being written: on Linux an unnamed file in the
// output's directory (O_TMPFILE: even kill -9 leaves nothing), elsewhere
// a hidden temporary file beside the output; commit names it and renames
// it into place. Until then, failing (discard) or being interrupted
// (SIGINT, SIGTERM) drops it, so no partial output is ever left behind.
type tempFile struct {
	*os.File
	anon   bool   // unnamed until commit
	path   string // the final path, as the user gave it
	mu     sync.Mutex
	ended  bool // committed or discarded
	sigs   chan os.Signal
	stopCh chan struct{}
}

// checkOutputs refuses, before any work, outputs that cannot be written:
// a directory, or a path whose directory does not exist ("" is skipped).
func checkOutputs(paths ...string) error {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return fmt.Errorf("%s: is a directory; give a file name", p)
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil {
			return fmt.Errorf("%s: cannot create it in %s: %w", p, filepath.Dir(p), osCause(err))
		} else if !st.IsDir() {
			return fmt.Errorf("%s: cannot create it in %s: not a directory", p, filepath.Dir(p))
		}
	}
	return nil
}

// anonTemp lets tests take the named fallback where O_TMPFILE works.
var anonTemp = true

func createTemp(path string, stderr io.Writer) (*tempFile, error) {
	if err := checkOutputs(path); err != nil {
		return nil, err
	}
	f, err := openAnon(filepath.Dir(path))
	anon := err == nil && anonTemp
	if err == nil && !anon {
		f.Close()
	}
	if !anon {
		if f, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".ditkit-*"); err != nil {
			return nil, fmt.Errorf("%s: cannot create it in %s: %w", path, filepath.Dir(path), osCause(err))
		}
	}
	t := &tempFile{File: f, anon: anon, path: path, sigs: make(chan os.Signal, 1), stopCh: make(chan struct{})}
	signal.Notify(t.sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-t.sigs:
			t.mu.Lock() // a commit in progress finishes first
			if !t.ended {
				t.drop()
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
	name := t.Name()
	named := !t.anon // a file by that name exists (ours)
	err := t.Chmod(0o644)
	if err == nil && t.anon {
		if name, err = t.link(); err == nil {
			named = true
		}
	}
	if cerr := t.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if err = os.Rename(name, t.path); err != nil {
			err = fmt.Errorf("cannot rename the finished output into place: %w", osCause(err))
		}
	}
	if err != nil {
		if named {
			os.Remove(name)
		}
		return t.fail(err, "")
	}
	return nil
}

// fail is an error while writing the output, in the output's name: the
// temporary file the user never asked for is not named in it ("write
// /d/.x.safetensors.ditkit-569302186: no space left on device" reads
// "x.safetensors: write: no space left on device"). The cause stays
// wrapped (errors.Is(err, syscall.ENOSPC) holds).
func (t *tempFile) fail(err error, suffix string) error {
	dir, base := filepath.Dir(t.path), filepath.Base(t.path)
	names := regexp.QuoteMeta(t.Name()) + "|" + regexp.QuoteMeta(filepath.Join(dir, "."+base+".ditkit-")) + `[0-9-]+`
	msg := err.Error()
	msg = regexp.MustCompile(` (?:`+names+`):`).ReplaceAllString(msg, ":")
	msg = regexp.MustCompile(` (?:`+names+`) `).ReplaceAllString(msg, " ")
	msg = regexp.MustCompile(names).ReplaceAllString(msg, "the temporary output")
	return &outputError{msg: t.path + ": " + msg + suffix, err: err}
}

// outputError is an error message written for the user with its cause
// kept for errors.Is / errors.As.
type outputError struct {
	msg string
	err error
}

func (e *outputError) Error() string { return e.msg }
func (e *outputError) Unwrap() error { return e.err }

// osCause is the reason inside a *PathError or *LinkError, whose path
// would name a temporary file.
func osCause(err error) error {
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// link names the unnamed file: a hidden name beside the output, renamed
// over it by commit (the data is complete by then).
func (t *tempFile) link() (string, error) {
	dir, base := filepath.Dir(t.path), filepath.Base(t.path)
	for i := 0; ; i++ {
		name := filepath.Join(dir, fmt.Sprintf(".%s.ditkit-%d-%d", base, os.Getpid(), i))
		err := linkAnon(t.File, name)
		if err == nil || !errors.Is(err, os.ErrExist) || i == 99 {
			return name, err
		}
	}
}

// drop closes the file and removes it (an unnamed one just goes away).
func (t *tempFile) drop() {
	t.File.Close()
	if !t.anon {
		os.Remove(t.Name())
	}
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
	t.drop()
}
