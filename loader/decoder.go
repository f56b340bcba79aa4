package loader

import (
	"fmt"
	"strings"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/core/tensor"
)

// LoadDecoder reads a TAESD-family image decoder (madebyollin/taesd's
// taesd_decoder / taef1_decoder state dict, .safetensors or .pth) from an
// opened checkpoint's weights root: what `ditkit decode`, sample and
// preview's --decoder, window.ditkit.decode and the page's preview load.
func LoadDecoder(ck *Checkpoint) (*decode.Decoder, error) {
	byName := map[string]*Tensor{}
	for _, w := range ck.Weights() {
		byName[strings.TrimPrefix(w.Name, "module.")] = w
	}
	d, err := decode.Load(func(name string) (*tensor.Dense, error) {
		if w := byName[name]; w != nil {
			return ck.ReadDense(w)
		}
		return nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Name, err)
	}
	return d, nil
}

// LooksLikeDecoder reports, from the tensor names and shapes alone,
// whether the weights root is a TAESD-family decoder (its first conv
// 1.weight [64, C, 3, 3] and the last, 19.weight [3, 64, 3, 3], with or
// without a "decoder." or "module." prefix), and its latent channel count.
func LooksLikeDecoder(ck *Checkpoint) (channels int, ok bool) {
	shapes := map[string][]int{}
	for _, w := range ck.Weights() {
		n := strings.TrimPrefix(strings.TrimPrefix(w.Name, "module."), "decoder.")
		shapes[n] = w.Shape
	}
	first, last := shapes["1.weight"], shapes["19.weight"]
	if len(first) != 4 || first[0] != 64 || first[2] != 3 || first[3] != 3 || !tensor.EqualShape(last, []int{3, 64, 3, 3}) {
		return 0, false
	}
	return first[1], true
}
