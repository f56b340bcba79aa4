package fix_test

import (
	"bytes"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// chunkReader serves named byte slices in pieces of odd sizes, as a
// file reader's chunks would arrive.
type chunkReader map[string][]byte

func (c chunkReader) ReadRange(name string, off, n int64, fn func([]byte) error) error {
	b := c[name][off : off+n]
	for len(b) > 0 {
		k := min(len(b), 7)
		if err := fn(b[:k]); err != nil {
			return err
		}
		b = b[k:]
	}
	return nil
}

func stream(t *testing.T, d fix.Data, r fix.SourceReader) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := d.Stream(r, &b); err != nil {
		t.Fatal(err)
	}
	if int64(b.Len()) != d.Size() {
		t.Fatalf("%v: %d bytes, Size %d", d, b.Len(), d.Size())
	}
	return b.Bytes()
}

// Per-row scales ([rows] and [rows, 1], which no fixture has) apply row
// by row across chunk boundaries, equal to quant.DequantizeFP8 on the
// whole weight; the cast step multiplies them in and drops the scales.
func TestDequantizeFP8PerRow(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	w := make([]byte, 6*10)
	rng.Read(w)
	for i := range w {
		if w[i]&0x7f == 0x7f {
			w[i] = 0x10 // no NaN
		}
	}
	scales := []float32{0.5, 1.25, 3e-3, 7, 1e-5, 2}
	sb := make([]byte, 4*len(scales))
	tensor.EncodeFloat32(tensor.F32, scales, sb)
	r := chunkReader{"l.weight": w, "l.weight_scale": sb}
	for _, shape := range [][]int{{6}, {6, 1}} {
		ts := []fix.Tensor{
			{Name: "l.weight", DType: tensor.F8_E4M3, Shape: []int{6, 10}, Data: fix.Src{Name: "l.weight", N: 60}},
			{Name: "l.weight_scale", DType: tensor.F32, Shape: shape, Data: fix.Src{Name: "l.weight_scale", N: 24}},
		}
		for _, to := range []tensor.DType{tensor.F32, tensor.BF16} {
			out, err := fix.CastAll(to, nil).Apply(ts)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || out[0].DType != to {
				t.Fatalf("%v: %+v", shape, out)
			}
			want := make([]byte, 60*to.Size())
			quant.DequantizeFP8(tensor.F8_E4M3, w, scales, to, quant.ScaleF32Opmath, want)
			if got := stream(t, out[0].Data, r); !bytes.Equal(got, want) {
				t.Errorf("scales %v → %v: bytes differ", shape, to)
			}
		}
	}
}

// Scaled fp8 writing: the scale is max|w|/448 in f32 (1 for an all-zero
// weight), the weight c10_encode(w/scale); a NaN weight is refused; only
// 2-D Linear weights are converted.
func TestQuantizeFP8Scaled(t *testing.T) {
	vals := []float32{0.1, -0.7, 0.25, 3.5, -3.5, 0, 1e-4, 2}
	b := make([]byte, 32)
	tensor.EncodeFloat32(tensor.F32, vals, b)
	zero := make([]byte, 32)
	nan := append([]byte(nil), b...)
	tensor.EncodeFloat32(tensor.F32, []float32{float32(math.NaN())}, nan[:4])
	r := chunkReader{"a.weight": b, "z.weight": zero, "n.weight": nan, "norm.weight": b, "a.bias": b[:8]}
	ts := []fix.Tensor{
		{Name: "a.weight", DType: tensor.F32, Shape: []int{2, 4}, Data: fix.Src{Name: "a.weight", N: 32}},
		{Name: "z.weight", DType: tensor.F32, Shape: []int{2, 4}, Data: fix.Src{Name: "z.weight", N: 32}},
		{Name: "norm.weight", DType: tensor.F32, Shape: []int{2, 4}, Data: fix.Src{Name: "norm.weight", N: 32}},
		{Name: "a.bias", DType: tensor.F32, Shape: []int{2}, Data: fix.Src{Name: "a.bias", N: 8}},
	}
	out, err := fix.QuantizeFP8(tensor.F8_E4M3, true, nil).Apply(ts)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]fix.Tensor{}
	for _, x := range out {
		got[x.Name] = x
	}
	if len(out) != 7 || got["norm.weight"].DType != tensor.F32 || got["a.bias"].DType != tensor.F32 || got["scaled_fp8"].DType != tensor.F8_E4M3 {
		t.Fatalf("%d tensors: %+v", len(out), got)
	}
	s := float32(3.5) / 448
	var sw [4]byte
	tensor.EncodeFloat32(tensor.F32, []float32{s}, sw[:])
	if sc := stream(t, got["a.scale_weight"].Data, r); !bytes.Equal(sc, sw[:]) {
		t.Errorf("scale %v, want %v", sc, sw)
	}
	enc := make([]byte, 8)
	for i, v := range vals {
		enc[i] = tensor.F32ToF8E4M3FN(v / s)
	}
	if q := stream(t, got["a.weight"].Data, r); !bytes.Equal(q, enc) {
		t.Errorf("weight %v, want %v", q, enc)
	}
	one := make([]byte, 4)
	tensor.EncodeFloat32(tensor.F32, []float32{1}, one)
	if sc := stream(t, got["z.scale_weight"].Data, r); !bytes.Equal(sc, one) {
		t.Errorf("all-zero weight: scale %v", sc)
	}
	ts[0].Data = fix.Src{Name: "n.weight", N: 32}
	out, _ = fix.QuantizeFP8(tensor.F8_E4M3, true, nil).Apply(ts[:1])
	var buf bytes.Buffer
	if err := out[0].Data.Stream(r, &buf); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN weight: %v", err)
	}
}
