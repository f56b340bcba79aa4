package loader

import "github.com/ditkit/ditkit/core/tensor"

var _ tensor.Source = (*Checkpoint)(nil)

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
// returns (nil, nil) when there is none: tensor.Source.
func (c *Checkpoint) Read(name string) (*tensor.Dense, error) {
	full := name
	if c.WeightsRoot != "" {
		full = c.WeightsRoot + "/" + name
	}
	t := c.Tensor(full)
	if t == nil {
		return nil, nil
	}
	return c.ReadDense(t)
}
