package loader

import (
	"fmt"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// ReadStored implements quant.StoredSource for the weights root (names
// relative to it): a GGUF tensor of a ggml block type as its raw blocks
// (its shape as restored), an fp8 tensor as its bytes with its weight
// scale (the scaled-fp8 layouts quant.DetectFP8 recognises), and (nil,
// nil) for tensors stored as plain dtypes (Read them) or absent. Model
// builders keep these in memory as they are (core/dit).
func (c *Checkpoint) ReadStored(name string) (*quant.Stored, error) {
	t := c.rootTensor(name)
	switch {
	case t == nil:
		return nil, nil
	case t.GGUF.Quantized():
		if err := t.check(c.Name); err != nil {
			return nil, err
		}
		if t.GGUF.Size > MaxTensorRead {
			return nil, ferr(c.Name, ErrLimit, fmt.Sprintf("tensor %q", t.Name), "%d bytes is more than one read may hold (%d)", t.GGUF.Size, MaxTensorRead)
		}
		b := make([]byte, t.GGUF.Size)
		if err := c.ReadGGUFRaw(t, b, 0); err != nil {
			return nil, err
		}
		return &quant.Stored{Shape: append([]int(nil), t.Shape...), Type: t.GGUF.Type, Data: b}, nil
	case isFP8(t.DType):
		b, err := c.ReadTensor(t)
		if err != nil {
			return nil, err
		}
		scale, err := c.fp8Scale(name)
		if err != nil {
			return nil, err
		}
		return &quant.Stored{Shape: append([]int(nil), t.Shape...), FP8: t.DType, Data: b, Scale: scale}, nil
	}
	return nil, nil
}

func isFP8(dt tensor.DType) bool { return dt == tensor.F8_E4M3 || dt == tensor.F8_E5M2 }

// fp8Layout is a checkpoint's scaled-fp8 layout, detected once per
// weights root.
type fp8Layout struct {
	root string
	f    *quant.FP8
	err  error
}

// fp8 returns the weights root's fp8 layout (nil without fp8 tensors).
func (c *Checkpoint) fp8() (*quant.FP8, error) {
	c.fp8Mu.Lock()
	defer c.fp8Mu.Unlock()
	if l := c.fp8Layout; l != nil && l.root == c.WeightsRoot {
		return l.f, l.err
	}
	f, err := quant.DetectFP8(c.Infos(), c.Metadata)
	if err != nil {
		err = fmt.Errorf("%s: %w", c.Name, err)
	}
	c.fp8Layout = &fp8Layout{c.WeightsRoot, f, err}
	return f, err
}

// fp8Scale reads the weight scale of the fp8 tensor name (relative to
// the weights root): nil when it has none, one value, or one per row.
func (c *Checkpoint) fp8Scale(name string) ([]float32, error) {
	f, err := c.fp8()
	if err != nil || f == nil {
		return nil, err
	}
	l := f.Layer(name)
	if l == nil || l.Scale == "" {
		return nil, nil
	}
	t := c.rootTensor(l.Scale)
	if t == nil {
		return nil, fmt.Errorf("%s: scale %q of %s is missing", c.Name, l.Scale, name)
	}
	d, err := c.ReadDense(t)
	if err != nil {
		return nil, err
	}
	return d.Float32s()
}

// scaleFP8 applies the scale of the fp8 weight name (when it has one) to
// its dense values d: F32, fp8 value × scale as quant.DequantizeFP8
// computes it.
func (c *Checkpoint) scaleFP8(name string, d *tensor.Dense) (*tensor.Dense, error) {
	scale, err := c.fp8Scale(name)
	if err != nil || scale == nil {
		return d, err
	}
	out := &tensor.Dense{DType: tensor.F32, Shape: d.Shape, Data: make([]byte, 4*len(d.Data))}
	if err := quant.DequantizeFP8(d.DType, d.Data, scale, tensor.F32, quant.ScaleF32Opmath, out.Data); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", c.Name, name, err)
	}
	return out, nil
}
