package quant_test

import (
	"io"
	"math/rand"
	"runtime"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// benchInput is 1 Mi normal values (4 MiB of f32), a whole number of
// blocks for every type.
func benchInput() []float32 {
	rng := rand.New(rand.NewSource(1))
	x := make([]float32, 1<<20)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// BenchmarkDequantize reports GB/s of f32 output (4 bytes per element)
// per ggml type, single-threaded.
func BenchmarkDequantize(b *testing.B) {
	x := benchInput()
	y := make([]float32, len(x))
	for _, qt := range []quant.Type{quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K} {
		nb, _ := qt.Bytes(int64(len(x)))
		q := make([]byte, nb)
		quant.Quantize(qt, x, q)
		b.Run(qt.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				quant.Dequantize(qt, q, y)
			}
		})
	}
}

// BenchmarkQuantize reports GB/s of f32 input for the GGUF writer's
// types (quantize_row_*_ref equivalents, single-threaded).
func BenchmarkQuantize(b *testing.B) {
	x := benchInput()
	for _, qt := range []quant.Type{quant.Q8_0, quant.Q4_0, quant.Q5_0, quant.Q4_K, quant.Q5_K, quant.Q6_K} {
		nb, _ := qt.Bytes(int64(len(x)))
		q := make([]byte, nb)
		b.Run(qt.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				quant.Quantize(qt, x, q)
			}
		})
	}
}

// BenchmarkQuantizeWriter reports GB/s of f32 input through the streaming
// quantizer the GGUF writer uses, on every core (GOMAXPROCS workers).
func BenchmarkQuantizeWriter(b *testing.B) {
	x := benchInput()
	src := make([]byte, 4*len(x))
	tensor.EncodeFloat32(tensor.F32, x, src)
	for _, qt := range []quant.Type{quant.Q8_0, quant.Q4_K} {
		b.Run(qt.String(), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				qw, _ := quant.NewWriter(qt, tensor.F32, io.Discard, quant.WriterOptions{Workers: runtime.GOMAXPROCS(0)})
				qw.Write(src)
				if err := qw.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
