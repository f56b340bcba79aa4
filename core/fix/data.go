package fix

import (
	"fmt"
	"io"
	"sync"

	"github.com/ditkit/ditkit/core/tensor"
)

// SourceReader streams byte ranges of the source checkpoint's tensors
// (names as in the weights root). The loader implements it.
type SourceReader interface {
	ReadRange(name string, off, n int64, fn func([]byte) error) error
}

// Data describes how to produce a tensor's bytes.
type Data interface {
	Size() int64
	Stream(r SourceReader, w io.Writer) error
	String() string
}

// Src is the byte range [Off, Off+N) of a source tensor.
type Src struct {
	Name   string
	Off, N int64
}

func (s Src) Size() int64 { return s.N }
func (s Src) Stream(r SourceReader, w io.Writer) error {
	return r.ReadRange(s.Name, s.Off, s.N, func(b []byte) error { _, err := w.Write(b); return err })
}
func (s Src) String() string { return fmt.Sprintf("%s[%d:%d]", s.Name, s.Off, s.Off+s.N) }

// Concat is its parts, one after the other.
type Concat []Data

func (c Concat) Size() int64 {
	n := int64(0)
	for _, p := range c {
		n += p.Size()
	}
	return n
}
func (c Concat) Stream(r SourceReader, w io.Writer) error {
	for _, p := range c {
		if err := p.Stream(r, w); err != nil {
			return err
		}
	}
	return nil
}
func (c Concat) String() string { return fmt.Sprintf("concat(%d parts)", len(c)) }

// Const is bytes computed when the plan was made (regenerated tables).
type Const []byte

func (c Const) Size() int64                              { return int64(len(c)) }
func (c Const) Stream(_ SourceReader, w io.Writer) error { _, err := w.Write(c); return err }
func (c Const) String() string                           { return fmt.Sprintf("computed(%d bytes)", len(c)) }

// Cast converts In's elements from From to To (bit-exact like torch).
type Cast struct {
	In       Data
	From, To tensor.DType
}

func (c Cast) Size() int64    { return c.In.Size() / int64(c.From.Size()) * int64(c.To.Size()) }
func (c Cast) String() string { return fmt.Sprintf("cast(%v→%v, %v)", c.From, c.To, c.In) }
func (c Cast) Stream(r SourceReader, w io.Writer) error {
	cw := &castWriter{w: w, from: c.From, to: c.To}
	if b, ok := castBufs.Get().(*[]byte); ok {
		cw.out = *b
	}
	err := c.In.Stream(r, cw)
	out := cw.out[:0]
	castBufs.Put(&out)
	if err != nil {
		return err
	}
	if len(cw.carry) != 0 {
		return fmt.Errorf("cast: %d stray bytes", len(cw.carry))
	}
	return nil
}

// castBufs recycles castWriter output buffers across tensors.
var castBufs sync.Pool

// castWriter casts whole elements as they arrive, carrying partial ones.
type castWriter struct {
	w        io.Writer
	from, to tensor.DType
	carry    []byte
	out      []byte
}

func (c *castWriter) Write(p []byte) (int, error) {
	n := len(p)
	es := c.from.Size()
	if len(c.carry) > 0 {
		need := es - len(c.carry)
		if len(p) < need {
			c.carry = append(c.carry, p...)
			return n, nil
		}
		c.carry = append(c.carry, p[:need]...)
		if err := c.flush(c.carry); err != nil {
			return 0, err
		}
		c.carry = c.carry[:0]
		p = p[need:]
	}
	whole := len(p) / es * es
	if whole > 0 {
		if err := c.flush(p[:whole]); err != nil {
			return 0, err
		}
	}
	c.carry = append(c.carry, p[whole:]...)
	return n, nil
}

func (c *castWriter) flush(b []byte) error {
	m := len(b) / c.from.Size() * c.to.Size()
	if cap(c.out) < m {
		c.out = make([]byte, m)
	}
	if err := tensor.Cast(c.from, c.to, b, c.out[:m]); err != nil {
		return err
	}
	_, err := c.w.Write(c.out[:m])
	return err
}
