package dit_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// BenchmarkPixArtXL2 times one sampler step of PixArt-XL/2 512 px (the
// PixArt-XL-2-512x512 shapes, random weights stored as dt): the CFG batch
// of 2 (caption + null caption, 120 T5 tokens each) through
// forward_with_cfg, all threads; GFLOP/s counts the matmuls and attention.
func BenchmarkPixArtXL2(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F32} {
		b.Run(fmt.Sprintf("512/%v/cfg", dt), func(b *testing.B) {
			s, err := spec.Preset("PixArt-XL_2-512_alpha")
			if err != nil {
				b.Fatal(err)
			}
			src, err := dit.RandomWeights(s, dt, 1)
			if err != nil {
				b.Fatal(err)
			}
			m, err := dit.Build(src, &spec.Resolution{Spec: s}, dit.BuildOptions{})
			if err != nil {
				b.Fatal(err)
			}
			shape := append([]int{2}, m.Latent()...)
			x := make([]float32, 2*4*64*64)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)))
			}
			null, err := m.Null(1)
			if err != nil {
				b.Fatal(err)
			}
			caption := make([]float32, len(null.Caption))
			for i := range caption {
				caption[i] = float32(math.Cos(float64(i)))
			}
			c, err := (&dit.Cond{Caption: caption}).Concat(null)
			if err != nil {
				b.Fatal(err)
			}
			ts := []float64{500, 500}
			opt := &dit.Options{Backend: &kernels.CPU{}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := dit.ForwardWithCFG(context.Background(), m, x, shape, ts, c, 4.5, opt); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/step")
			b.ReportMetric(float64(m.WeightBytes())/1e9, "weightGB")
			b.ReportMetric(float64(ms.HeapAlloc)/1e9, "liveGB")
			b.ReportMetric(m.FLOPs(2)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
