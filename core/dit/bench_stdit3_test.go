package dit_test

import (
	"context"
	"math"
	"runtime"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// Latent240p16 is a 240p (240×426 px), 16-frame video latent through
// Open-Sora's VAEs: 16 latent frames of 30×53.
var Latent240p16 = []int{16, 30, 53}

// stdit3Step runs one rectified-flow step's model call: the guided batch
// [z; z] (2 samples of lat) at t = 500 with the model's own 300-token null
// caption, fps 24 and the latent's pixel size.
func stdit3Step(tb testing.TB, m dit.Net, lat []int, opt *dit.Options) {
	shape := append([]int{2}, lat...)
	n := 1
	for _, d := range shape {
		n *= d
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	c, err := m.Null(2)
	if err != nil {
		tb.Fatal(err)
	}
	c.FPS, c.Height, c.Width = []float64{24}, []float64{float64(8 * lat[2])}, []float64{float64(8 * lat[3])}
	if _, _, err := m.Forward(context.Background(), x, shape, []float64{500, 500}, c, opt); err != nil {
		tb.Fatal(err)
	}
}

func randomSTDiT3(tb testing.TB, s *spec.Spec, dt tensor.DType) dit.Net {
	src, err := dit.RandomWeights(s, dt, 1)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := dit.Build(src, &spec.Resolution{Spec: s}, dit.BuildOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkSTDiT3XL2Step240p16 is one sampler step of STDiT3-XL/2 (Open-Sora
// 1.2, hpcai-tech/OpenSora-STDiT-v3 shapes, random weights) at a 240p,
// 16-frame latent: the model on the guided batch of 2 (2 × 6480 tokens,
// 28 spatial + 28 temporal blocks, 300 caption tokens), CPU native, all
// threads; F32 and BF16-stored weights. Reported: GFLOP/s, the weights and
// the program's activations.
func BenchmarkSTDiT3XL2Step240p16(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F32} {
		b.Run(dt.String(), func(b *testing.B) {
			s, err := spec.Preset("STDiT3-XL_2_v1.2")
			if err != nil {
				b.Fatal(err)
			}
			m := randomSTDiT3(b, s, dt).(*dit.STDiT3)
			lat := append([]int{m.Cfg.InChannels}, Latent240p16...)
			opt := &dit.Options{Backend: &kernels.CPU{}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				stdit3Step(b, m, lat, opt)
			}
			b.StopTimer()
			flops := stdit3FLOPs(m, lat)
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(flops/1e12, "TFLOP/step")
			b.ReportMetric(float64(m.WeightBytes())/1e9, "weightGB")
			b.ReportMetric(float64(ms.HeapAlloc)/1e9, "liveGB")
		})
	}
}

// stdit3FLOPs is 2× the multiply-adds of the guided step at lat.
func stdit3FLOPs(m *dit.STDiT3, lat []int) float64 { return m.FLOPsAt(append([]int{2}, lat...)) }

// The benchmark's path at STDiT3-XL/2 width (H 1152, 16 heads) with one
// block per stack, a short caption and a small latent: random weights build (rope.freqs
// from its formula), the step runs, the output is finite.
func TestSTDiT3RandomXLWidth(t *testing.T) {
	for _, preset := range []string{"STDiT3-XL_2_v1.2", "STDiT3-XL_2_v1.3_STDiT-v4"} {
		s, err := spec.Preset(preset)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]any{"depth": 1, "model_max_length": 16, "caption_channels": 64} {
			if s, err = s.With(k, v); err != nil {
				t.Fatal(err)
			}
		}
		m := randomSTDiT3(t, s, tensor.BF16).(*dit.STDiT3)
		if len(m.RoPEFreqs) == 0 || m.RoPEFreqs[0] != 1 {
			t.Fatalf("%s: rope.freqs %v", preset, m.RoPEFreqs)
		}
		var out []float32
		opt := &dit.Options{Hook: func(name string, _ []int, d []float32) {
			if name == "out" {
				out = append(out[:0], d...)
			}
		}}
		lat := []int{m.Cfg.InChannels, 3, 6, 10}
		stdit3Step(t, m, lat, opt)
		for _, v := range out {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: non-finite output", preset)
			}
		}
		if len(out) != 2*2*m.Cfg.InChannels*3*6*10 {
			t.Fatalf("%s: %d output values", preset, len(out))
		}
		if f := stdit3FLOPs(m, lat); !(f > 0) {
			t.Errorf("%s: FLOPs %g", preset, f)
		}
	}
}
