package loader

import "github.com/ditkit/ditkit/loader/format"

// Sentinel errors; wrapped with the file, key or offset by FormatError.
// They are loader/format's, so errors.Is works across the reader and the
// scanner.
var (
	ErrFormat      = format.ErrFormat
	ErrTruncated   = format.ErrTruncated
	ErrCorrupt     = format.ErrCorrupt
	ErrUnsupported = format.ErrUnsupported
	ErrLimit       = format.ErrLimit
)

// FormatError says which rule a file broke and where.
type FormatError = format.Error

func ferr(file string, sentinel error, where, msg string, args ...any) error {
	return format.Errorf(file, sentinel, where, msg, args...)
}
