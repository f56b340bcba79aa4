package dit_test

import (
	"context"
	"fmt"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"math"
	"runtime"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/internal/cputime"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// randomXL2 builds DiT-XL/2 (256 px) with random weights of the real
// shapes, stored as dt (F32 or BF16), without holding an F32 copy of BF16.
func randomXL2(b *testing.B, dt tensor.DType) dit.Net {
	s, err := spec.Preset("DiT-XL_2_256")
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
	return m
}

func benchForward(b *testing.B, dt tensor.DType, batch, threads int) {
	benchForwardPrec(b, dt, batch, threads, kernels.FP32)
}

func benchForwardPrec(b *testing.B, dt tensor.DType, batch, threads int, prec kernels.Precision) {
	m := randomXL2(b, dt)
	var ms runtime.MemStats
	x := make([]float32, batch*4*32*32)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	ts := make([]float64, batch)
	ys := make([]int, batch)
	for i := range ts {
		ts[i], ys[i] = float64(100*i+10), i
	}
	opt := &dit.Options{Backend: &kernels.CPU{Threads: threads, Precision: prec}}
	shape, c := []int{batch, 4, 32, 32}, &dit.Cond{Labels: ys}
	b.ResetTimer()
	cpu0 := cputime.Now()
	for i := 0; i < b.N; i++ {
		if _, _, err := m.Forward(context.Background(), x, shape, ts, c, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cputime.Now() - cpu0
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(m.WeightBytes())/1e9, "weightGB")
	b.ReportMetric(float64(ms.HeapAlloc)/1e9, "liveGB")
	gflops := m.FLOPs(batch) * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(gflops, "GFLOP/s")
	if pk := kernels.Peak(); pk.GFLOPs > 0 {
		if threads <= 0 {
			threads = runtime.GOMAXPROCS(0)
		}
		b.ReportMetric(100*gflops/(pk.GFLOPs*float64(min(threads, pk.Cores))/float64(pk.Cores)), "%peak")
	}
	// CPU time (all threads): what the forward cost this process, which
	// other processes on a busy machine do not inflate as they do wall time.
	if cpu > 0 {
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	}
}

// BenchmarkDiTXL2 times a full DiT-XL/2 256 px forward with random weights
// of the real shapes: fp32 and bf16 weights, batch 1 and 2, all threads;
// then bf16 weights at Precision BF16 (bf16 activations into the matmuls,
// on the kernel kernels.BF16Kernel picks), and on VDPBF16PS forced (where
// the CPU has it), to compare with BF16/batchN.
func BenchmarkDiTXL2(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16} {
		for _, batch := range []int{1, 2} {
			b.Run(fmt.Sprintf("%v/batch%d", dt, batch), func(b *testing.B) { benchForward(b, dt, batch, 0) })
		}
	}
	for _, batch := range []int{1, 2} {
		b.Run(fmt.Sprintf("BF16/batch%d/precision=bf16", batch), func(b *testing.B) {
			b.Logf("bf16 kernel: %s (VDPBF16PS retires %.2f× the FMA's fp32 flops here)", kernels.BF16Kernel(), kernels.BF16DotRate())
			benchForwardPrec(b, tensor.BF16, batch, 0, kernels.BF16)
		})
	}
	b.Run("BF16/batch1/precision=bf16/vdpbf16ps", func(b *testing.B) {
		if !kernels.BF16Native() {
			b.Skip("no AVX512_BF16 here")
		}
		kernels.SetAMX(false)
		kernels.SetBF16Kernel("vdpbf16ps")
		defer kernels.SetAMX(true)
		defer kernels.SetBF16Kernel("")
		benchForwardPrec(b, tensor.BF16, 1, 0, kernels.BF16)
	})
}

// BenchmarkDiTXL2SingleThread is the single-threaded path the wasm build
// uses (GFLOP/s is the figure to quote for the browser, before wasm's own
// slowdown).
func BenchmarkDiTXL2SingleThread(b *testing.B) {
	b.Run("BF16/batch1", func(b *testing.B) { benchForward(b, tensor.BF16, 1, 1) })
	b.Run("BF16/batch1/portable", func(b *testing.B) {
		kernels.SetPortableKernels(true)
		defer kernels.SetPortableKernels(false)
		benchForward(b, tensor.BF16, 1, 1)
	})
}
