package kernels

import (
	"fmt"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
)

// fastRand fills v with cheap pseudo-random values in [-a, a).
func fastRand(v []float32, seed uint64, a float32) {
	s := seed*0x9E3779B97F4A7C15 + 1
	for i := range v {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		v[i] = (float32(s>>40)/float32(1<<24)*2 - 1) * a
	}
}

// BenchmarkLinear times one fc1-sized matmul [256×1152]·[4608×1152]ᵀ;
// "bf16act" runs bf16 weights at Precision BF16.
func BenchmarkLinear(b *testing.B) {
	for _, th := range []int{1, 0} {
		b.Run(fmt.Sprintf("BF16/bf16act/threads%d", th), func(b *testing.B) {
			M, N, K := 256, 4608, 1152
			v := make([]float32, N*K)
			fastRand(v, 3, 0.05)
			w := WeightFromFloat32(v, N, K).ToDType(tensor.BF16)
			x := make([]float32, M*K)
			fastRand(x, 4, 1)
			y := make([]float32, M*N)
			cpu := &CPU{Threads: th, Precision: BF16}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cpu.Linear(y, x, M, w, nil)
			}
			b.ReportMetric(2*float64(M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16} {
		for _, th := range []int{1, 0, -1} {
			name := fmt.Sprintf("%v/threads%d", dt, th)
			portable := th < 0
			if portable {
				name, th = fmt.Sprintf("%v/portable1", dt), 1
			}
			b.Run(name, func(b *testing.B) {
				if portable {
					SetPortableKernels(true)
					defer SetPortableKernels(false)
				}
				M, N, K := 256, 4608, 1152
				v := make([]float32, N*K)
				fastRand(v, 3, 0.05)
				w := WeightFromFloat32(v, N, K).ToDType(dt)
				x := make([]float32, M*K)
				fastRand(x, 4, 1)
				y := make([]float32, M*N)
				cpu := &CPU{Threads: th}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					cpu.Linear(y, x, M, w, nil)
				}
				b.ReportMetric(2*float64(M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
