package decode

import (
	"math"
	"testing"
)

func benchConv(b *testing.B, direct bool) {
	const C, H, W = 64, 64, 256
	k := &Conv{Name: "k", Cin: C, Cout: C, W: make([]float32, C*C*9), B: make([]float32, C)}
	for i := range k.W {
		k.W[i] = float32(math.Sin(float64(i))) * 0.05
	}
	in := make([]float32, C*H*W)
	for i := range in {
		in[i] = float32(math.Cos(float64(i)))
	}
	out := make([]float32, C*H*W)
	c := &CPU{Threads: 1, Direct: direct}
	ib := Band{Buf: in, C: C, W: W, Rows: H, Hi: H}
	ob := Band{Buf: out, C: C, W: W, Rows: H, Hi: H}
	for b.Loop() {
		if err := c.Conv3x3(ob, ib, Band{}, H, k, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(18*C*C*H*W/1e9/(b.Elapsed().Seconds()/float64(b.N)), "GFLOP/s")
}

func BenchmarkConvDirect(b *testing.B)   { benchConv(b, true) }
func BenchmarkConvWinograd(b *testing.B) { benchConv(b, false) }
