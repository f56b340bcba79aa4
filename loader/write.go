package loader

import (
	"fmt"
	"io"

	"github.com/ditkit/ditkit/core/tensor"
)

// Source is one tensor to write: metadata plus a function that streams
// exactly NBytes of contiguous little-endian data.
type Source struct {
	Name  string
	DType tensor.DType
	Shape []int
	// WriteTo writes the tensor's bytes to w. Writers check the count.
	WriteTo func(w io.Writer) error
}

// NBytes is the number of data bytes the source must produce.
func (s *Source) NBytes() (int64, error) { return tensor.NBytes(s.DType, s.Shape) }

// BytesSource is a Source over bytes already in memory.
func BytesSource(name string, dt tensor.DType, shape []int, data []byte) Source {
	return Source{Name: name, DType: dt, Shape: shape, WriteTo: func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}}
}

// countWriter counts bytes and remembers the first error.
type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	c.err = err
	return n, err
}

// writeSource streams one source and checks it produced exactly its size.
func writeSource(cw *countWriter, s *Source) error {
	want, err := s.NBytes()
	if err != nil {
		return fmt.Errorf("tensor %q: %w", s.Name, err)
	}
	start := cw.n
	lw := &limitCheckWriter{w: cw, left: want, name: s.Name}
	if err := s.WriteTo(lw); err != nil {
		return err
	}
	if cw.err != nil {
		return cw.err
	}
	if got := cw.n - start; got != want {
		return fmt.Errorf("tensor %q: source produced %d bytes, want %d", s.Name, got, want)
	}
	return nil
}

type limitCheckWriter struct {
	w    io.Writer
	left int64
	name string
}

func (l *limitCheckWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, fmt.Errorf("tensor %q: source produced more bytes than its shape holds", l.name)
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}
