package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// quantWeight quantizes v ([rows, cols]) to the ggml type q (or to fp8 dt
// with scales) and returns the quantized weight with its dequantization
// by core/quant (the reference values).
func quantWeight(t testing.TB, v []float32, rows, cols int, q quant.Type, fp8 tensor.DType, scales []float32) (*Weight, []float32) {
	t.Helper()
	s := &quant.Stored{Shape: []int{rows, cols}, Type: q, FP8: fp8, Scale: scales}
	deq := make([]float32, len(v))
	if fp8 != tensor.Invalid {
		s.Data = make([]byte, len(v))
		scaled := make([]float32, len(v))
		for i, f := range v {
			sc := float32(1)
			switch len(scales) {
			case 1:
				sc = scales[0]
			case rows:
				sc = scales[i/cols]
			}
			scaled[i] = f / sc
		}
		if err := tensor.EncodeFloat32(fp8, scaled, s.Data); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 4*len(v))
		if err := quant.DequantizeFP8(fp8, s.Data, scales, tensor.F32, quant.ScaleF32Opmath, out); err != nil {
			t.Fatal(err)
		}
		if err := tensor.DecodeFloat32(tensor.F32, out, deq); err != nil {
			t.Fatal(err)
		}
	} else {
		nb, err := q.Bytes(int64(len(v)))
		if err != nil {
			t.Fatal(err)
		}
		s.Data = make([]byte, nb)
		if err := quant.Quantize(q, v, s.Data); err != nil {
			t.Fatal(err)
		}
		if err := quant.Dequantize(q, s.Data, deq); err != nil {
			t.Fatal(err)
		}
	}
	w, err := NewStoredWeight(s)
	if err != nil {
		t.Fatal(err)
	}
	return w, deq
}

type quantCase struct {
	name   string
	q      quant.Type
	fp8    tensor.DType
	scales func(rows int) []float32
}

var quantCases = []quantCase{
	{name: "Q8_0", q: quant.Q8_0},
	{name: "Q4_K", q: quant.Q4_K},
	{name: "Q6_K", q: quant.Q6_K},
	{name: "Q5_1", q: quant.Q5_1},
	{name: "Q2_K", q: quant.Q2_K},
	{name: "F8_E4M3 scaled", fp8: tensor.F8_E4M3, scales: func(int) []float32 { return []float32{0.0173} }},
	{name: "F8_E5M2 scaled", fp8: tensor.F8_E5M2, scales: func(rows int) []float32 {
		s := make([]float32, rows)
		for i := range s {
			s[i] = 0.01 + 0.001*float32(i)
		}
		return s
	}},
	{name: "F8_E4M3", fp8: tensor.F8_E4M3, scales: func(int) []float32 { return nil }},
}

func (c quantCase) weight(t testing.TB, v []float32, rows, cols int) (*Weight, []float32) {
	var sc []float32
	if c.scales != nil {
		sc = c.scales(rows)
	}
	return quantWeight(t, v, rows, cols, c.q, c.fp8, sc)
}

// blockCols is a column count ≥ min that holds whole blocks of q.
func (c quantCase) cols(k int) int {
	if bs := c.q.BlockSize(); c.fp8 == tensor.Invalid && k%bs != 0 {
		return (k + bs - 1) / bs * bs
	}
	return k
}

func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestQuantizedWidenExact: every quantized storage widens bit for bit to
// core/quant's dequantization, whole, by rows, and from unaligned offsets
// (partial blocks); Bytes counts the stored bytes only.
func TestQuantizedWidenExact(t *testing.T) {
	modes(t, testQuantizedWiden)
}

func testQuantizedWiden(t *testing.T, portable bool) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, c := range quantCases {
		rows, cols := 9, c.cols(512)
		w, deq := c.weight(t, randNorm(r, rows*cols, 1), rows, cols)
		if !w.Quantized() || w.Format() != c.name {
			t.Fatalf("%s: Quantized %v, Format %q", c.name, w.Quantized(), w.Format())
		}
		if i := sameBits(w.Float32s(), deq); i >= 0 {
			t.Fatalf("%s: element %d widens to %v, core/quant gives %v", c.name, i, w.Float32s()[i], deq[i])
		}
		for _, span := range [][2]int{{0, 1}, {31, 300}, {cols - 5, cols + 70}, {3*cols + 17, 3*cols + 17 + 2*cols}} {
			got := make([]float32, span[1]-span[0])
			w.Widen(span[0], got)
			if i := sameBits(got, deq[span[0]:span[1]]); i >= 0 {
				t.Fatalf("%s: Widen(%d, %d): element %d differs", c.name, span[0], len(got), i)
			}
		}
		row := make([]float32, cols)
		w.Row(4, row)
		if sameBits(row, deq[4*cols:5*cols]) >= 0 {
			t.Fatalf("%s: Row(4) differs", c.name)
		}
		want := int64(len(w.Q)) + 4*int64(len(w.Scale))
		if c.fp8 == tensor.Invalid {
			want = int64(rows * cols / c.q.BlockSize() * c.q.BlockBytes())
		}
		if w.Bytes() != want {
			t.Errorf("%s: Bytes %d, want %d", c.name, w.Bytes(), want)
		}
		if w.ToDType(tensor.BF16) != w {
			t.Errorf("%s: ToDType made a copy of a quantized weight", c.name)
		}
	}
}

// TestDequantizeRawBlocksExact: random bytes as Q8_0 and Q4_K blocks
// (every f16 scale pattern: subnormal, inf, NaN) dequantize bit for bit
// as core/quant does, on the AVX-512 dequantizers and the Go ones.
func TestDequantizeRawBlocksExact(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		r := rand.New(rand.NewPCG(21, 22))
		for _, q := range []quant.Type{quant.Q8_0, quant.Q4_K, quant.Q6_K} {
			blocks := 4096
			raw := make([]byte, blocks*q.BlockBytes())
			for i := range raw {
				raw[i] = byte(r.Uint32())
			}
			for b := 0; b < blocks; b++ { // every f16 pattern as the block's d
				h := uint16(b * 16)
				raw[b*q.BlockBytes()] = byte(h)
				raw[b*q.BlockBytes()+1] = byte(h >> 8)
			}
			want := make([]float32, blocks*q.BlockSize())
			if err := quant.Dequantize(q, raw, want); err != nil {
				t.Fatal(err)
			}
			w, err := NewStoredWeight(&quant.Stored{Shape: []int{blocks, q.BlockSize()}, Type: q, Data: raw})
			if err != nil {
				t.Fatal(err)
			}
			if i := sameBits(w.Float32s(), want); i >= 0 {
				t.Fatalf("%v: element %d = %x, core/quant gives %x", q, i, math.Float32bits(w.Float32s()[i]), math.Float32bits(want[i]))
			}
		}
	})
	// The AVX-512 Q8_0 dequantizer widens d through f16Table: equal to
	// core/quant's widening for all 65536 patterns.
	raw := make([]byte, 2<<16)
	for i := 0; i < 1<<16; i++ {
		raw[2*i], raw[2*i+1] = byte(i), byte(i>>8)
	}
	f := make([]float32, 1<<16)
	if err := quant.Dequantize(quant.F16, raw, f); err != nil {
		t.Fatal(err)
	}
	if i := sameBits(f, f16Table); i >= 0 {
		t.Fatalf("f16 %#04x: table %x, core/quant %x", i, math.Float32bits(f16Table[i]), math.Float32bits(f[i]))
	}
}

// TestLinearQuantizedExact: Linear and LinearGELU on quantized weights are
// bit for bit Linear on the dequantized F32 weights (the same kernels on
// the same panels), on the vector and the portable kernels, for the
// few-row products (gemv) and the packed ones, ragged sizes, and shards.
func TestLinearQuantizedExact(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, c := range quantCases {
			for _, sz := range [][3]int{{1, 5, 256}, {3, 70, 288}, {8, 33, 512}, {9, 64, 256}, {40, 97, 768}, {67, 40, 32}} {
				m, n, k := sz[0], sz[1], c.cols(sz[2])
				x := randNorm(r, m*k, 1)
				bias := randNorm(r, n, 0.1)
				full, deq := c.weight(t, randNorm(r, n*k, 1/math.Sqrt(float64(k))), n, k)
				dense := WeightFromFloat32(deq, n, k)
				for _, shard := range [][2]int{{0, 0}, {0, min(n, 32)}, {min(n, 32), n}} {
					w, d := full, dense
					if shard[1] > 0 {
						w, d = full.Shard(shard[0], shard[1]), dense.Shard(shard[0], shard[1])
						if !w.Quantized() {
							t.Fatalf("%s: shard [%d, %d) of whole blocks was dequantized", c.name, shard[0], shard[1])
						}
					}
					for _, gelu := range []bool{false, true} {
						got, want := make([]float32, m*n), make([]float32, m*n)
						cpu := &CPU{Threads: 2}
						if gelu {
							cpu.LinearGELU(got, x, m, w, bias)
							cpu.LinearGELU(want, x, m, d, bias)
						} else {
							cpu.Linear(got, x, m, w, bias)
							cpu.Linear(want, x, m, d, bias)
						}
						if i := sameBits(got, want); i >= 0 {
							t.Fatalf("%s %dx%dx%d shard %v gelu %v: y[%d] = %v, dequantized weights give %v", c.name, m, n, k, shard, gelu, i, got[i], want[i])
						}
					}
				}
			}
		}
	})
}

// TestLinearQuantizedBF16: Precision BF16 on quantized weights rounds the
// dequantized values to bf16 as they are packed: the product equals the
// one on the dequantized weights up to the summation order.
func TestLinearQuantizedBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, c := range quantCases[:2] {
		for _, sz := range [][3]int{{2, 70, 512}, {40, 97, 256}} {
			m, n, k := sz[0], sz[1], sz[2]
			x := randNorm(r, m*k, 1)
			w, deq := c.weight(t, randNorm(r, n*k, 1/math.Sqrt(float64(k))), n, k)
			got, want := make([]float32, m*n), make([]float32, m*n)
			cpu := &CPU{Threads: 2, Precision: BF16}
			cpu.Linear(got, x, m, w, nil)
			cpu.Linear(want, x, m, WeightFromFloat32(deq, n, k).ToDType(tensor.BF16), nil)
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("%s %dx%dx%d: y[%d] = %v, bf16 weights give %v", c.name, m, n, k, i, got[i], want[i])
				}
			}
		}
	}
}

// TestShardQuantizedDense: a shard whose rows do not start on a block
// boundary holds its rows dequantized, with the same values.
func TestShardQuantizedDense(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	rows, cols := 64, 36 // 2304 elements = 9 Q4_K blocks; row 32 starts mid-block
	w, deq := quantWeight(t, randNorm(r, rows*cols, 1), rows, cols, quant.Q4_K, tensor.Invalid, nil)
	s := w.Shard(32, 64)
	if s.Quantized() || s.DType != tensor.F32 {
		t.Fatalf("shard is %s", s.Format())
	}
	if sameBits(s.F32, deq[32*cols:]) >= 0 {
		t.Fatal("dense shard differs from the dequantization")
	}
	if s := w.Shard(0, 64); !s.Quantized() {
		t.Fatal("the whole range was dequantized")
	}
}

// TestNewStoredWeightBadInput: sizes that do not match, types the kernels
// cannot dequantize and scale counts are refused with a clear error.
func TestNewStoredWeightBadInput(t *testing.T) {
	for _, c := range []struct {
		s    quant.Stored
		want string
	}{
		{quant.Stored{Shape: []int{2, 32}, Type: quant.Q8_0, Data: make([]byte, 67)}, "67 bytes of Q8_0"},
		{quant.Stored{Shape: []int{2, 20}, Type: quant.Q8_0, Data: make([]byte, 34)}, "not a whole number"},
		{quant.Stored{Shape: []int{1, 256}, Type: quant.IQ2_XXS, Data: make([]byte, 66)}, "not a block type"},
		{quant.Stored{Shape: []int{4}, Type: quant.F16, Data: make([]byte, 8)}, "not a block type"},
		{quant.Stored{Shape: []int{3, 4}, FP8: tensor.F8_E4M3, Data: make([]byte, 11)}, "11 fp8 bytes"},
		{quant.Stored{Shape: []int{3, 4}, FP8: tensor.F8_E4M3, Data: make([]byte, 12), Scale: []float32{1, 2}}, "2 scales"},
		{quant.Stored{Shape: []int{3, 4}, FP8: tensor.BF16, Data: make([]byte, 12)}, "not an fp8 type"},
		{quant.Stored{Shape: []int{}, FP8: tensor.F8_E4M3, Data: make([]byte, 1)}, "scalar"},
	} {
		_, err := NewStoredWeight(&c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.s.Shape, err, c.want)
		}
	}
}

// BenchmarkLinearQuantized: the cost of dequantizing per panel, against
// F32 and BF16 weights, on a DiT-XL/2 fc1-sized product (256 tokens).
func BenchmarkLinearQuantized(b *testing.B) {
	r := rand.New(rand.NewPCG(19, 20))
	m, n, k := 256, 4608, 1152
	x := randNorm(r, m*k, 1)
	v := randNorm(r, n*k, 0.03)
	y := make([]float32, m*n)
	q8, _ := quantWeight(b, v, n, k, quant.Q8_0, tensor.Invalid, nil)
	q4, _ := quantWeight(b, v, n, k, quant.Q4_K, tensor.Invalid, nil)
	f8, _ := quantWeight(b, v, n, k, 0, tensor.F8_E4M3, []float32{0.001})
	f32 := WeightFromFloat32(v, n, k)
	for _, c := range []struct {
		name string
		w    *Weight
	}{{"F32", f32}, {"BF16", f32.ToDType(tensor.BF16)}, {"Q8_0", q8}, {"Q4_K", q4}, {"F8_E4M3", f8}} {
		for _, rows := range []int{m, 2} {
			b.Run(fmt.Sprintf("%s/m=%d", c.name, rows), func(b *testing.B) {
				cpu := &CPU{Threads: 1}
				for i := 0; i < b.N; i++ {
					cpu.Linear(y, x, rows, c.w, nil)
				}
				b.ReportMetric(2*float64(rows*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
