package quant_test

import (
	"bytes"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// writeCut streams src into a Writer in random pieces.
func writeCut(t *testing.T, qw *quant.Writer, src []byte, rng *rand.Rand) {
	t.Helper()
	for len(src) > 0 {
		k := min(len(src), 1+rng.Intn(3000))
		if n, err := qw.Write(src[:k]); err != nil || n != k {
			t.Fatalf("write: %d, %v", n, err)
		}
		src = src[k:]
	}
	if err := qw.Close(); err != nil {
		t.Fatal(err)
	}
}

// The streaming, parallel quantizer writes exactly ggml's
// quantize_row_*_ref bytes of the whole tensor however the input is cut
// and however many workers share it (gguf_quant_truth's hard inputs,
// every type with a fixture), from f32 and from bf16/f16 sources (which
// quantize their exact f32 values).
func TestWriterEqualsReference(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf_quant_truth")
	var m quantTruth
	readJSON(t, filepath.Join(dir, "manifest.json"), &m)
	in := fixtures.ReadAll(t, filepath.Join(dir, "inputs_f32.safetensors"))
	rng := rand.New(rand.NewSource(3))
	for typ, tt := range m.Types {
		if tt.File == "" {
			continue
		}
		qt, _ := quant.ParseType(typ)
		qf := fixtures.ReadAll(t, filepath.Join(dir, tt.File))
		for name := range tt.Tensors {
			for _, workers := range []int{1, 3} {
				var out bytes.Buffer
				qw, err := quant.NewWriter(qt, tensor.F32, &out, quant.WriterOptions{Workers: workers, Piece: 1 + rng.Intn(1000), Stats: true})
				if err != nil {
					t.Fatal(err)
				}
				writeCut(t, qw, in[name].Data, rng)
				if !bytes.Equal(out.Bytes(), qf[name].Data) {
					t.Errorf("%s %s (%d workers): bytes differ from quantize_row_%s_ref", typ, name, workers, strings.ToLower(typ))
				}
				if qw.Elements() != int64(in[name].Numel()) {
					t.Errorf("%s: %d elements", name, qw.Elements())
				}
				// The statistics are those of the reference dequantization.
				x, _ := in[name].Float32s()
				back := make([]float32, len(x))
				quant.Dequantize(qt, qf[name].Data, back)
				var want quant.ErrorStats
				for i, v := range x {
					d := math.Abs(float64(back[i] - v))
					want.Max = max(want.Max, d)
					want.Sum += d
					want.N++
				}
				if s := qw.Stats(); s.Max != want.Max || math.Abs(s.Sum-want.Sum) > 1e-9*want.Sum || s.N != want.N {
					t.Errorf("%s %s: stats %+v, want %+v", typ, name, s, want)
				}
			}
		}
	}
	// bf16 and f16 sources quantize their f32 values.
	x, _ := in["normal"].Float32s()
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
		b := make([]byte, len(x)*2)
		tensor.EncodeFloat32(dt, x, b)
		xs := make([]float32, len(x))
		tensor.DecodeFloat32(dt, b, xs)
		for _, qt := range []quant.Type{quant.Q8_0, quant.Q4_K, quant.F16, quant.BF16} {
			nb, _ := qt.Bytes(int64(len(xs)))
			want := make([]byte, nb)
			quant.Quantize(qt, xs, want)
			var out bytes.Buffer
			qw, _ := quant.NewWriter(qt, dt, &out, quant.WriterOptions{Workers: 2, Piece: 512})
			writeCut(t, qw, b, rng)
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%v from %v: bytes differ", qt, dt)
			}
		}
	}
}

// A stream that does not end on a block (or element) boundary, a
// non-float source and an unsupported type are errors, never padding.
func TestWriterBadInput(t *testing.T) {
	var out bytes.Buffer
	qw, _ := quant.NewWriter(quant.Q8_0, tensor.F32, &out, quant.WriterOptions{})
	qw.Write(make([]byte, 4*40))
	if err := qw.Close(); err == nil || !strings.Contains(err.Error(), "40 elements are not a whole number of 32-element blocks") {
		t.Errorf("partial block: %v", err)
	}
	qw, _ = quant.NewWriter(quant.F16, tensor.F32, &out, quant.WriterOptions{})
	qw.Write(make([]byte, 6))
	if err := qw.Close(); err == nil || !strings.Contains(err.Error(), "inside an element") {
		t.Errorf("partial element: %v", err)
	}
	if _, err := quant.NewWriter(quant.Q8_0, tensor.I64, &out, quant.WriterOptions{}); err == nil || !strings.Contains(err.Error(), "not a float type") {
		t.Errorf("int source: %v", err)
	}
	if _, err := quant.NewWriter(quant.IQ2_XXS, tensor.F32, &out, quant.WriterOptions{}); err == nil {
		t.Error("IQ2_XXS accepted")
	}
	// F16 overflow is counted, not folded into the error.
	qw, _ = quant.NewWriter(quant.F16, tensor.F32, &out, quant.WriterOptions{Stats: true})
	b := make([]byte, 8)
	tensor.EncodeFloat32(tensor.F32, []float32{1e6, float32(math.NaN())}, b)
	qw.Write(b)
	qw.Close()
	if s := qw.Stats(); s.Overflow != 1 || s.NonFinite != 1 || s.N != 0 {
		t.Errorf("stats %+v", s)
	}
}
