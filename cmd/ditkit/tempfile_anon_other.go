//go:build !(linux && (amd64 || arm64))

package main

import (
	"errors"
	"os"
)

var errNoAnon = errors.New("no unnamed temporary files here")

func openAnon(dir string) (*os.File, error)  { return nil, errNoAnon }
func linkAnon(f *os.File, name string) error { return errNoAnon }
