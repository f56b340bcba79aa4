package format

import (
	"errors"
	"fmt"
)

// Sentinel errors; wrapped with the file, key or offset by Error.
var (
	ErrFormat      = errors.New("unrecognised checkpoint format")
	ErrTruncated   = errors.New("file is truncated")
	ErrCorrupt     = errors.New("corrupt data")
	ErrUnsupported = errors.New("unsupported feature")
	ErrLimit       = errors.New("resource limit exceeded")
)

// Error says which rule a file broke and where.
type Error struct {
	File   string // file name as given to the reader
	Where  string // "offset 1234", `tensor "x.weight"`, `entry "a/data/0"` ...
	Detail string
	Err    error // one of the sentinels
}

func (e *Error) Error() string {
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

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error for file at where, wrapping sentinel.
func Errorf(file string, sentinel error, where, format string, args ...any) error {
	return &Error{File: file, Where: where, Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

// IsTruncation reports whether err says the data ended too soon (a reader
// that reads a window of the file can grow the window and try again).
func IsTruncation(err error) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Err == ErrTruncated
}
