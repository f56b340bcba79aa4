package quant_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
)

var fuzzTypes = []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q8_0,
	quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K}

// FuzzDequantize: any block bytes dequantize without a panic, the same
// way twice, and re-quantize without a panic.
func FuzzDequantize(f *testing.F) {
	f.Add(uint8(12), bytes.Repeat([]byte{0x3c, 0x00, 0xff, 0x81}, 80))
	f.Add(uint8(3), []byte{0, 0x7c, 0, 0xfc, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add(uint8(14), make([]byte, 210))
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		qt := fuzzTypes[int(sel)%len(fuzzTypes)]
		nb := len(data) / qt.BlockBytes()
		src := data[:nb*qt.BlockBytes()]
		a := make([]float32, nb*qt.BlockSize())
		if err := quant.Dequantize(qt, src, a); err != nil {
			t.Fatal(err)
		}
		b := make([]float32, len(a))
		quant.Dequantize(qt, src, b)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
				t.Fatalf("%v: element %d differs between two runs", qt, i)
			}
		}
		if err := quant.Quantize(qt, a, make([]byte, len(src))); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzQuantize: any float32 values quantize without a panic and the same
// way twice; for Q8_0 on finite inputs the round-trip error stays within
// half a step of each block (plus the scale's f16 rounding).
func FuzzQuantize(f *testing.F) {
	seed := make([]byte, 4*256)
	for i := 0; i < 256; i++ {
		binary.LittleEndian.PutUint32(seed[4*i:], math.Float32bits(float32(i-128)/7))
	}
	f.Add(uint8(10), seed)
	f.Add(uint8(7), bytes.Repeat([]byte{0, 0, 0xc0, 0x7f}, 256)) // NaNs
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		qt := fuzzTypes[int(sel)%len(fuzzTypes)]
		n := len(data) / 4 / qt.BlockSize() * qt.BlockSize()
		x := make([]float32, n)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		nb, _ := qt.Bytes(int64(n))
		q1, q2 := make([]byte, nb), make([]byte, nb)
		if err := quant.Quantize(qt, x, q1); err != nil {
			t.Fatal(err)
		}
		quant.Quantize(qt, x, q2)
		if !bytes.Equal(q1, q2) {
			t.Fatalf("%v: two runs differ", qt)
		}
		y := make([]float32, n)
		if err := quant.Dequantize(qt, q1, y); err != nil {
			t.Fatal(err)
		}
		if qt != quant.Q8_0 {
			return
		}
		for b := 0; b < n; b += 32 {
			var amax float64
			finite := true
			for _, v := range x[b : b+32] {
				finite = finite && !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
				amax = math.Max(amax, math.Abs(float64(v)))
			}
			// Scales below f16's range or past it are not representable.
			if !finite || amax/127 < 6.2e-5 || amax/127 > 65000 {
				continue
			}
			for i := b; i < b+32; i++ {
				if e := math.Abs(float64(y[i]) - float64(x[i])); e > amax/254+amax*1e-3 {
					t.Fatalf("Q8_0 element %d: %g → %g (block absmax %g)", i, x[i], y[i], amax)
				}
			}
		}
	})
}
