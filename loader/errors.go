package loader

import (
	"errors"
	"fmt"
)

// Sentinel errors; wrapped with the file, key or offset by FormatError.
var (
	ErrFormat      = errors.New("unrecognised checkpoint format")
	ErrTruncated   = errors.New("file is truncated")
	ErrCorrupt     = errors.New("corrupt data")
	ErrUnsupported = errors.New("unsupported feature")
	ErrLimit       = errors.New("resource limit exceeded")
)

// FormatError says which rule a file broke and where.
type FormatError struct {
	File   string // file name as given to Open
	Where  string // "offset 1234", `tensor "x.weight"`, `entry "a/data/0"` ...
	Detail string
	Err    error // one of the sentinels
}

func (e *FormatError) Error() string {
	s := e.File
	if e.Where != "" {
		s += ": " + e.Where
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil && e.Detail == "" {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

func ferr(file string, sentinel error, where, format string, args ...any) error {
	return &FormatError{File: file, Where: where, Detail: fmt.Sprintf(format, args...), Err: sentinel}
}
