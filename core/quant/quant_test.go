package quant_test

import (
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Q5_1 has no fixture: a block built by hand, its values worked out from
// ggml's formula x = q·d + m with q = low nibble | qh bit << 4.
func TestDequantizeQ5_1HandBlock(t *testing.T) {
	b := make([]byte, 24)
	b[0], b[1] = 0x00, 0x38 // d = 0.5
	b[2], b[3] = 0x00, 0xc4 // m = -4
	b[4], b[5], b[6], b[7] = 0xff, 0xff, 0, 0
	for j := range 16 { // qh bits 0–15 set: the first 16 quants get their 5th bit
		b[8+j] = byte(j) | byte(15-j)<<4
	}
	y := make([]float32, 32)
	if err := quant.Dequantize(quant.Q5_1, b, y); err != nil {
		t.Fatal(err)
	}
	// y[j] = (16+j)/2 − 4 for j < 16; y[16+j] = (15−j)/2 − 4.
	want := map[int]float32{0: 4, 1: 4.5, 7: 7.5, 15: 11.5, 16: 3.5, 17: 3, 30: -3.5, 31: -4}
	for i, w := range want {
		if y[i] != w {
			t.Errorf("Q5_1 y[%d] = %v, want %v", i, y[i], w)
		}
	}
}

// Q3_K has no fixture: a block built by hand. d = 2; every 6-bit scale is
// 33 (= +1) except group 5 (40 = +8) and group 15 (0 = −32); the 2-bit
// quants of byte 0b11100100 give 0, 1, 2, 3 for the four shifts; every
// high bit is set (no −4) except the one of element 0.
func TestDequantizeQ3_KHandBlock(t *testing.T) {
	b := make([]byte, 110)
	hmask, qs, sc := b[:32], b[32:96], b[96:108]
	for i := range hmask {
		hmask[i] = 0xff
	}
	hmask[0] = 0xfe
	for i := range qs {
		qs[i] = 0xe4
	}
	for j := range 8 {
		sc[j] = 0x11 // low nibbles of scales j (low half) and j+8 (high half): 1
	}
	sc[5] = 0x18 // scale 5: low nibble 8
	sc[7] = 0x01 // scale 15: low nibble 0
	for j := 8; j < 12; j++ {
		sc[j] = 0xaa // top two bits 0b10 for every scale
	}
	sc[11] = 0x2a               // scale 15 (j%4 = 3, j/4 = 3): top bits 0
	b[108], b[109] = 0x00, 0x40 // d = 2
	y := make([]float32, 256)
	if err := quant.Dequantize(quant.Q3_K, b, y); err != nil {
		t.Fatal(err)
	}
	// Output order: for each half of 128, shifts 0, 2, 4, 6, each giving
	// two groups of 16 (qs[0:16], qs[16:32] of that half).
	want := map[int]float32{
		0:   2 * 1 * (0 - 4), // high bit cleared
		1:   0,
		32:  2 * 1 * 1,
		80:  2 * 8 * 2, // group 5: scale +8, shift 4
		95:  2 * 8 * 2,
		96:  2 * 1 * 3,
		128: 0,
		200: 2 * 1 * 2,
		240: 2 * -32 * 3, // group 15: scale −32, shift 6
		255: 2 * -32 * 3,
	}
	for i, w := range want {
		if y[i] != w {
			t.Errorf("Q3_K y[%d] = %v, want %v", i, y[i], w)
		}
	}
}

// Round trips: dequant(quant(x)) stays within each type's error on
// normal data (RMSE bounds a little above what ggml's reference gives,
// measured with the bit-exact quantizers), zeros stay zero, and Q8_0's
// error is at most half a step per block.
func TestRoundTripError(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	n := 256 * 64
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	bounds := map[quant.Type]float64{
		quant.Q8_0: 0.006, quant.Q6_K: 0.019, quant.Q5_K: 0.038, quant.Q5_1: 0.040, quant.Q5_0: 0.045,
		quant.Q4_K: 0.075, quant.Q4_1: 0.082, quant.Q4_0: 0.09, quant.Q3_K: 0.16, quant.Q2_K: 0.31,
		quant.F16: 3e-4, quant.BF16: 3e-3, quant.F32: 0,
	}
	for qt, bound := range bounds {
		if !qt.CanQuantize() || !qt.CanDequantize() {
			t.Errorf("%v: not supported both ways", qt)
			continue
		}
		nb, err := qt.Bytes(int64(n))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, nb)
		if err := quant.Quantize(qt, x, b); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, n)
		if err := quant.Dequantize(qt, b, y); err != nil {
			t.Fatal(err)
		}
		var s float64
		for i := range x {
			d := float64(y[i] - x[i])
			s += d * d
		}
		if r := math.Sqrt(s / float64(n)); r > bound {
			t.Errorf("%v: RMSE %.5f > %.5f", qt, r, bound)
		}
		zero := make([]float32, qt.BlockSize())
		zb := make([]byte, qt.BlockBytes())
		quant.Quantize(qt, zero, zb)
		quant.Dequantize(qt, zb, zero)
		for i, v := range zero {
			if v != 0 {
				t.Errorf("%v: zeros come back as %v at %d", qt, v, i)
				break
			}
		}
	}
	// Q8_0: per block, |x − y| ≤ d/2 (d = amax/127 rounded to f16, plus
	// the f16 rounding of d itself times 127).
	b := make([]byte, n/32*34)
	quant.Quantize(quant.Q8_0, x, b)
	y := make([]float32, n)
	quant.Dequantize(quant.Q8_0, b, y)
	for blk := 0; blk < n/32; blk++ {
		var amax float64
		for _, v := range x[32*blk : 32*blk+32] {
			amax = math.Max(amax, math.Abs(float64(v)))
		}
		d := amax / 127
		for i := 32 * blk; i < 32*blk+32; i++ {
			if e := math.Abs(float64(y[i] - x[i])); e > d/2+amax*1e-3 {
				t.Fatalf("Q8_0 block %d element %d: error %g > d/2 = %g", blk, i, e, d/2)
			}
		}
	}
}

// "As small as ggml's": the manifests record ggml's max |dequant − source|
// per tensor; ours equals it (the bytes are the same, and so must be the
// error computed from them).
func TestMaxErrorMatchesGGML(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf")
	src := fixtures.ReadAll(t, filepath.Join(dir, "source_f32.safetensors"))
	for _, typ := range []string{"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q2_K", "Q4_K", "Q5_K", "Q6_K"} {
		m := fixtures.ReadGGUFManifest(t, filepath.Join(dir, "tiny_"+typ+".gguf"))
		for _, mt := range m.Tensors {
			if mt.Type != typ {
				continue
			}
			qt, _ := quant.ParseType(typ)
			x, _ := src[mt.Name].Float32s()
			nb, _ := qt.Bytes(int64(len(x)))
			b := make([]byte, nb)
			quant.Quantize(qt, x, b)
			y := make([]float32, len(x))
			quant.Dequantize(qt, b, y)
			var e float64
			for i := range x {
				e = math.Max(e, math.Abs(float64(y[i])-float64(x[i])))
			}
			if math.Abs(e-mt.MaxErrVsSource) > 1e-12*math.Max(1, mt.MaxErrVsSource) {
				t.Errorf("%s %s: max error %g, ggml's %g", typ, mt.Name, e, mt.MaxErrVsSource)
			}
		}
	}
}

func TestTypesAndErrors(t *testing.T) {
	for _, c := range []struct {
		s          string
		t          quant.Type
		block, sz  int
		quantized  bool
		dequantize bool
	}{
		{"q4_k", quant.Q4_K, 256, 144, true, true},
		{"Q8_0", quant.Q8_0, 32, 34, true, true},
		{"bf16", quant.BF16, 1, 2, false, true},
		{"IQ2_XXS", quant.IQ2_XXS, 256, 66, true, false},
		{"TQ1_0", quant.TQ1_0, 256, 54, true, false},
		{"mxfp4", quant.MXFP4, 32, 17, true, false},
	} {
		got, err := quant.ParseType(c.s)
		if err != nil || got != c.t || got.BlockSize() != c.block || got.BlockBytes() != c.sz || got.Quantized() != c.quantized || got.CanDequantize() != c.dequantize {
			t.Errorf("%s: %v %v block %d×%d quantized %v dequantize %v", c.s, got, err, got.BlockSize(), got.BlockBytes(), got.Quantized(), got.CanDequantize())
		}
	}
	for _, bad := range []string{"Q4_2", "q4_0_4_4", "Q9", ""} {
		if _, err := quant.ParseType(bad); err == nil {
			t.Errorf("ParseType(%q) accepted", bad)
		}
	}
	if !quant.Type(4).Removed() || quant.Type(4).Known() || quant.Type(99).Known() || quant.Type(99).String() != "type 99" {
		t.Error("removed/unknown ids")
	}
	if _, err := quant.Q4_K.Bytes(100); err == nil {
		t.Error("Bytes accepted a partial block")
	}
	if err := quant.Dequantize(quant.Q4_0, make([]byte, 17), make([]float32, 32)); err == nil {
		t.Error("Dequantize accepted a short block")
	}
	if err := quant.Dequantize(quant.Q4_0, make([]byte, 18), make([]float32, 31)); err == nil {
		t.Error("Dequantize accepted a partial block")
	}
	if err := quant.Dequantize(quant.IQ2_XXS, make([]byte, 66), make([]float32, 256)); err == nil {
		t.Error("Dequantize accepted IQ2_XXS")
	}
	if err := quant.Quantize(quant.Q6_K, make([]float32, 255), make([]byte, 210)); err == nil {
		t.Error("Quantize accepted 255 elements for Q6_K")
	}
	if quant.F32ToBF16GGML(float32(math.Float32frombits(0xff812345))) != 0xffc1 {
		t.Error("ggml's bf16 NaN keeps sign and payload, forced quiet")
	}
}

// The fast f16 widening equals tensor.F16ToF32 for all 65536 patterns.
func TestF16Widening(t *testing.T) {
	src := make([]byte, 2*65536)
	for i := range 65536 {
		src[2*i], src[2*i+1] = byte(i), byte(i>>8)
	}
	got := make([]float32, 65536)
	if err := quant.Dequantize(quant.F16, src, got); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if w := tensor.F16ToF32(uint16(i)); math.Float32bits(v) != math.Float32bits(w) {
			t.Fatalf("%04x: %08x, want %08x", i, math.Float32bits(v), math.Float32bits(w))
		}
	}
}
