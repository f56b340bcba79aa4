// Package demo writes the page's built-in demo checkpoint: a tiny
// facebookresearch DiT (dit_A's configuration: input 8, patch 2, 4 channels,
// hidden 64, depth 2, 4 heads, 10 classes, learn_sigma) with seeded random
// weights, saved by loader.WriteTorch in DiT's 2-D layout. Loaded into an
// Open-Sora STDiT it fails like the real thing:
// x_embedder.proj.weight is [64, 4, 2, 2] where STDiT wants [64, 4, 1, 2, 2].
//
// The file is not committed: build.sh generates it into web/static/demo/
// (the output is byte-for-byte deterministic; TestDeterministic checks it).
package demo

import (
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// FileName is the demo's name under web/static/.
const FileName = "demo/dit-demo-2d-layout.pt"

// Params is the demo model's DiT configuration.
var Params = map[string]any{
	"input_size": 8, "patch_size": 2, "in_channels": 4, "hidden_size": 64, "depth": 2,
	"num_heads": 4, "num_classes": 10, "learn_sigma": true, "mlp_ratio": 4.0, "class_dropout_prob": 0.1,
}

// Write writes the demo checkpoint to w.
func Write(w io.Writer) error {
	sp, err := spec.New("dit", Params)
	if err != nil {
		return err
	}
	keys, err := sp.Keys()
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1001, 6))
	srcs := make([]loader.Source, 0, len(keys))
	for _, k := range keys {
		n, err := tensor.Numel(k.Shape)
		if err != nil {
			return err
		}
		std := 0.02
		if len(k.Shape) == 1 {
			std = 0.01
		}
		b := make([]byte, 4*n)
		for i := int64(0); i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(rng.NormFloat64()*std)))
		}
		srcs = append(srcs, loader.BytesSource(k.Name, tensor.F32, k.Shape, b))
	}
	return loader.WriteTorch(w, srcs, loader.TorchOptions{Archive: "dit-demo-2d-layout"})
}
