package dit_test

import (
	"context"
	"math"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// BenchmarkDiTQuantized times a small DiT (hidden 512, depth 4, 256
// tokens, batch 2) on F32 weights and on the same weights kept quantized
// (Q8_0, Q4_K, scaled fp8 e4m3), dequantized per panel as the kernels
// run: the dequantization's cost is the difference to F32.
func BenchmarkDiTQuantized(b *testing.B) {
	cfg := dit.Config{InputSize: 32, PatchSize: 2, InChannels: 4, HiddenSize: 512, Depth: 4, NumHeads: 8, NumClasses: 1000, LearnSigma: true, MLPRatio: 4, NullClass: true}
	w := randomDiT(cfg, 5, true)
	r := &spec.Resolution{Spec: specOf(b, cfg)}
	x := make([]float32, 2*4*32*32)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	for _, c := range []struct {
		name string
		src  tensor.Source
	}{
		{"F32", tensor.Map(w)},
		{"Q8_0", quantize(b, w, quant.Q8_0, false)},
		{"Q4_K", quantize(b, w, quant.Q4_K, false)},
		{"F8_E4M3_scaled", quantize(b, w, 0, true)},
	} {
		b.Run(c.name, func(b *testing.B) {
			m, err := dit.Build(c.src, r, dit.BuildOptions{})
			if err != nil {
				b.Fatal(err)
			}
			opt := &dit.Options{Backend: &kernels.CPU{}}
			shape, cond := append([]int{2}, m.Latent()...), &dit.Cond{Labels: []int{3, 7}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := m.Forward(context.Background(), x, shape, []float64{10, 500}, cond, opt); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(m.WeightBytes())/1e6, "weightMB")
			b.ReportMetric(m.FLOPs(2)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
