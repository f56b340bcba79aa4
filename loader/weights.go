package loader

import (
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

var (
	_ tensor.Source      = (*Checkpoint)(nil)
	_ quant.StoredSource = (*Checkpoint)(nil) // stored.go
)

// Infos lists the weights root's tensors (names relative to the root, in
// file order): the checkpoint as a tensor.Source.
func (c *Checkpoint) Infos() []tensor.Info {
	ws := c.Weights()
	out := make([]tensor.Info, len(ws))
	for i, w := range ws {
		out[i] = w.Info()
	}
	return out
}

// Read reads the weights-root tensor name (relative to the root), or
// returns (nil, nil) when there is none: tensor.Source. An fp8 weight with
// a scale (scaled-fp8 layouts) reads as F32 with its scale applied.
func (c *Checkpoint) Read(name string) (*tensor.Dense, error) {
	t := c.rootTensor(name)
	if t == nil {
		return nil, nil
	}
	d, err := c.ReadDense(t)
	if err != nil || !isFP8(t.DType) {
		return d, err
	}
	return c.scaleFP8(name, d)
}

// rootTensor is the weights-root tensor name (relative to the root).
func (c *Checkpoint) rootTensor(name string) *Tensor {
	if c.WeightsRoot != "" {
		name = c.WeightsRoot + "/" + name
	}
	return c.Tensor(name)
}
