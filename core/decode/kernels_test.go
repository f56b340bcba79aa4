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

// Kernel calls whose bands do not fit are refused, not run out of bounds.
func TestDecodeBandChecks(t *testing.T) {
	k := &Conv{Name: "k", Cin: 2, Cout: 2, W: make([]float32, 36)}
	buf := make([]float32, 2*4*4)
	full := Band{Buf: buf, C: 2, W: 4, Rows: 4, Hi: 4}
	c := &CPU{}
	if err := c.Conv3x3(full.rows(1, 3), full, Band{}, 4, k, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		out, in, res Band
	}{
		{full.rows(1, 3), full.rows(1, 4), Band{}},                                // input misses row 0
		{full.rows(0, 4), full.rows(0, 3), Band{}},                                // input misses row 3
		{full, Band{Buf: buf, C: 1, W: 4, Rows: 8, Hi: 8}, Band{}},                // channels
		{full.rows(0, 4), full, full.rows(1, 4)},                                  // residual misses row 0
		{Band{Buf: buf, C: 2, W: 4, Org: 2, Rows: 2, Lo: 0, Hi: 4}, full, Band{}}, // band outside its rows
	} {
		if err := c.Conv3x3(tc.out, tc.in, tc.res, 4, k, false); err == nil {
			t.Errorf("conv out %+v in %+v res %+v accepted", tc.out, tc.in, tc.res)
		}
	}
	up := Band{Buf: make([]float32, 2*8*8), C: 2, W: 8, Rows: 8, Hi: 8}
	if err := c.Upsample2x(up, full); err != nil {
		t.Fatal(err)
	}
	if err := c.Upsample2x(up, full.rows(1, 4)); err == nil {
		t.Error("upsample from missing rows accepted")
	}
	if err := c.Upsample2x(Band{Buf: up.Buf, C: 2, W: 6, Rows: 8, Hi: 8}, full); err == nil {
		t.Error("upsample to the wrong width accepted")
	}
}
