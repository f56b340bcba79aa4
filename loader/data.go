package loader

import (
	"errors"
	"fmt"
	"io"

	"github.com/ditkit/ditkit/core/tensor"
)

// MaxTensorRead caps one in-memory tensor read; larger tensors must be streamed.
var MaxTensorRead int64 = 8 << 30

// check validates that the tensor's view lies inside its storage.
func (t *Tensor) check(file string) error {
	where := fmt.Sprintf("tensor %q", t.Name)
	if t.Storage == nil {
		return ferr(file, ErrCorrupt, where, "has no storage")
	}
	if t.GGUF.Quantized() { // blocks, not elements (gguf.go)
		return t.checkQuant(file)
	}
	n, err := tensor.Numel(t.Shape)
	if err != nil {
		return ferr(file, ErrCorrupt, where, "%v", err)
	}
	if len(t.Strides) != len(t.Shape) {
		return ferr(file, ErrCorrupt, where, "shape %v with %d strides", t.Shape, len(t.Strides))
	}
	es := int64(t.DType.Size())
	if es == 0 {
		return ferr(file, ErrUnsupported, where, "dtype %v has no element size", t.DType)
	}
	if n == 0 {
		return nil
	}
	if t.Offset < 0 {
		return ferr(file, ErrCorrupt, where, "negative storage offset %d", t.Offset)
	}
	extent := t.Offset + 1 // last element index + 1
	for i, d := range t.Shape {
		if t.Strides[i] < 0 {
			return ferr(file, ErrCorrupt, where, "negative stride %d", t.Strides[i])
		}
		step := int64(d-1) * int64(t.Strides[i])
		if step < 0 || step > (1<<62)/max(es, 1) || extent > (1<<62)-step {
			return ferr(file, ErrCorrupt, where, "stride %v overflows", t.Strides)
		}
		extent += step
	}
	storElems := t.Storage.Size / es
	if n > storElems && n*es > 64<<20 {
		return ferr(file, ErrLimit, where, "view repeats storage elements (zero strides) and would expand %d stored bytes to %d", t.Storage.Size, n*es)
	}
	if extent > storElems {
		return ferr(file, ErrCorrupt, where, "view (offset %d, shape %v, strides %v) reaches element %d but storage %q holds %d elements of %v",
			t.Offset, t.Shape, t.Strides, extent, t.Storage.Key, storElems, t.DType)
	}
	return nil
}

// ReadTensor returns the tensor's data as contiguous little-endian bytes in
// its own dtype. Non-contiguous views are gathered.
func (c *Checkpoint) ReadTensor(t *Tensor) ([]byte, error) {
	if err := t.check(c.Name); err != nil {
		return nil, err
	}
	nb := t.NBytes()
	if nb > MaxTensorRead {
		return nil, ferr(c.Name, ErrLimit, fmt.Sprintf("tensor %q", t.Name), "%d bytes is more than one read may hold (%d); stream it", nb, MaxTensorRead)
	}
	out := make([]byte, nb)
	if err := c.readTensorInto(t, out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadDense reads a tensor into a tensor.Dense.
func (c *Checkpoint) ReadDense(t *Tensor) (*tensor.Dense, error) {
	b, err := c.ReadTensor(t)
	if err != nil {
		return nil, err
	}
	return &tensor.Dense{DType: t.DType, Shape: append([]int(nil), t.Shape...), Data: b}, nil
}

// readTensorInto fills out with the contiguous bytes of elements
// [first, first+len(out)/es) of the tensor in row-major order.
func (c *Checkpoint) readTensorInto(t *Tensor, out []byte, first int64) error {
	if len(out) == 0 {
		return nil // empty tensor (a zero dimension): nothing to gather, no division by it
	}
	if t.GGUF.Quantized() {
		return c.readQuantInto(t, out, first) // dequantized (gguf.go)
	}
	es := int64(t.DType.Size())
	base := t.Storage.Off + t.Offset*es
	if t.Contiguous() {
		return c.readAt(t, out, base+first*es)
	}
	// Gather: walk rows of the innermost dimension.
	nd := len(t.Shape)
	inner := int64(t.Shape[nd-1])
	innerStride := int64(t.Strides[nd-1])
	idx := make([]int64, nd)
	rem := first
	for i := nd - 1; i >= 0; i-- {
		idx[i] = rem % int64(t.Shape[i])
		rem /= int64(t.Shape[i])
	}
	row := make([]byte, 0)
	pos := int64(0)
	for pos < int64(len(out)) {
		off := int64(0)
		for i := 0; i < nd; i++ {
			off += idx[i] * int64(t.Strides[i])
		}
		cnt := min(inner-idx[nd-1], (int64(len(out))-pos)/es)
		if innerStride == 1 {
			if err := c.readAt(t, out[pos:pos+cnt*es], base+off*es); err != nil {
				return err
			}
		} else {
			span := ((cnt-1)*innerStride + 1) * es
			if int64(cap(row)) < span {
				row = make([]byte, span)
			}
			row = row[:span]
			if err := c.readAt(t, row, base+off*es); err != nil {
				return err
			}
			for j := int64(0); j < cnt; j++ {
				copy(out[pos+j*es:pos+(j+1)*es], row[j*innerStride*es:])
			}
		}
		pos += cnt * es
		idx[nd-1] += cnt
		for i := nd - 1; i > 0 && idx[i] >= int64(t.Shape[i]); i-- {
			idx[i] = 0
			idx[i-1]++
		}
	}
	return nil
}

func (c *Checkpoint) readAt(t *Tensor, p []byte, off int64) error {
	r, file, size := c.r, c.Name, c.Size
	if sh := t.Storage.Shard; sh != nil { // a tensor of a sharded set lives in its own file
		r, file, size = sh.R, sh.Name, sh.Size
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ferr(file, ErrTruncated, fmt.Sprintf("tensor %q", t.Name), "data at offset %d+%d ends early (file is %d bytes)", off, len(p), size)
	}
	return fmt.Errorf("%s: tensor %q: read at offset %d: %w", file, t.Name, off, err)
}

// ReadTensorAt fills buf with bytes [off, off+len(buf)) of the tensor's
// contiguous data (gathered when the view is strided); off and len(buf)
// are multiples of the element size.
func (c *Checkpoint) ReadTensorAt(t *Tensor, buf []byte, off int64) error {
	if err := t.check(c.Name); err != nil {
		return err
	}
	es := int64(t.DType.Size())
	if off < 0 || off%es != 0 || int64(len(buf))%es != 0 || off+int64(len(buf)) > t.NBytes() {
		return fmt.Errorf("%s: tensor %q: bad range [%d, %d) of %d bytes", c.Name, t.Name, off, off+int64(len(buf)), t.NBytes())
	}
	return c.readTensorInto(t, buf, off/es)
}

// TensorChunks streams a tensor's contiguous bytes in pieces of at most
// chunk bytes to fn, without holding the whole tensor in memory.
func (c *Checkpoint) TensorChunks(t *Tensor, chunk int, fn func([]byte) error) error {
	if err := t.check(c.Name); err != nil {
		return err
	}
	es := int64(t.DType.Size())
	nb := t.NBytes()
	chunk = max(int(es), chunk/int(es)*int(es))
	buf := getChunk(int(min(int64(chunk), nb)))
	defer putChunk(buf)
	for pos := int64(0); pos < nb; {
		m := min(int64(len(buf)), nb-pos)
		if err := c.readTensorInto(t, buf[:m], pos/es); err != nil {
			return err
		}
		if err := fn(buf[:m]); err != nil {
			return err
		}
		pos += m
	}
	return nil
}

// ReadAll reads every tensor under the weights root into memory, by name
// (for small files: forward inputs, reference tensors).
func (c *Checkpoint) ReadAll() (map[string]*tensor.Dense, error) {
	out := map[string]*tensor.Dense{}
	for _, w := range c.Weights() {
		d, err := c.ReadDense(w)
		if err != nil {
			return nil, err
		}
		out[w.Name] = d
	}
	return out, nil
}
