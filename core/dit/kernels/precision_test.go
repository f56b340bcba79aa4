package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
)

func randNorm(r *rand.Rand, n int, std float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * std)
	}
	return v
}

// TestBF16TileExact checks the VDPBF16PS tile bit for bit against its Go
// model (odd pair counts, both store modes).
func TestBF16TileExact(t *testing.T) {
	if !bf16KernelOn() {
		t.Skip("no AVX512_BF16 on this CPU/build: the VDPBF16PS tile does not run here")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, kp := range []int{1, 3, 37, 128} {
		lda := 2*kp + 6
		a := make([]uint16, 8*lda)
		for i := range a {
			a[i] = roundBF16(float32(r.NormFloat64()))
		}
		b := make([]uint32, kp*nr)
		for i := range b {
			b[i] = uint32(roundBF16(float32(r.NormFloat64()))) | uint32(roundBF16(float32(r.NormFloat64())))<<16
		}
		for _, ldc := range []int{0, nr + 5} {
			rows := 8
			c0 := randNorm(r, rows*max(ldc, nr)+nr, 1)
			c1 := append([]float32(nil), c0...)
			bf16Tile(a, lda, b, kp, c0, ldc)
			bf16TileGeneric(a, lda, b, kp, c1, ldc)
			for i := range c0 {
				if math.Float32bits(c0[i]) != math.Float32bits(c1[i]) {
					t.Fatalf("kp %d ldc %d: c[%d] = %v (asm), %v (Go model)", kp, ldc, i, c0[i], c1[i])
				}
			}
		}
	}
}

// TestLinearBF16 compares Linear at Precision BF16 with float64 products of
// the bf16-rounded operands, on odd sizes (rows not a multiple of 8,
// columns not of 32, odd K, K across the kc block), for every weight dtype,
// on the native kernel and on the emulation.
func TestLinearBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	sizes := [][3]int{{1, 5, 3}, {7, 33, 65}, {9, 31, 17}, {13, 45, 77}, {40, 64, 257}, {67, 97, 515}, {96, 64, 40}, {64, 70, 1024}, {45, 96, 160}, {256, 64, 96}}
	defer setAMX(true)
	defer SetBF16Kernel("")
	for _, mode := range []string{"amx", "vdpbf16ps", "fp32-fma", "emulated"} {
		portable := mode == "emulated"
		SetPortableKernels(portable)
		setAMX(mode == "amx")
		SetBF16Kernel(map[string]string{"vdpbf16ps": "vdpbf16ps", "fp32-fma": "fp32-fma"}[mode])
		if got := BF16Kernel(); !portable && mode != "amx" && bf16KernelOn() && got != mode {
			t.Fatalf("SetBF16Kernel(%q): BF16Kernel() = %q", mode, got)
		}
		if (mode == "amx" && !amxOn()) || (mode == "vdpbf16ps" && !bf16KernelOn()) {
			t.Logf("%s: not on this CPU/OS/build", mode)
			continue
		}
		for _, sz := range sizes {
			m, n, k := sz[0], sz[1], sz[2]
			x := randNorm(r, m*k, 1)
			wv := randNorm(r, n*k, 1/math.Sqrt(float64(k)))
			bias := randNorm(r, n, 0.1)
			for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
				w := WeightFromFloat32(wv, n, k).ToDType(dt)
				wr := w.Float32s()
				for _, gelu := range []bool{false, true} {
					y := make([]float32, m*n)
					cpu := &CPU{Threads: 2, Precision: BF16}
					if gelu {
						cpu.LinearGELU(y, x, m, w, bias)
					} else {
						cpu.Linear(y, x, m, w, bias)
					}
					var worst, worstExact float64
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var ref, exact, mag float64
							for kk := 0; kk < k; kk++ {
								xa := float64(bf16f(roundBF16(x[i*k+kk])))
								wb := float64(bf16f(roundBF16(wr[j*k+kk])))
								ref += xa * wb
								exact += float64(x[i*k+kk]) * float64(wr[j*k+kk])
								mag += math.Abs(xa * wb)
							}
							ref += float64(bias[j])
							exact += float64(bias[j])
							if gelu {
								ref, exact = gelu64(ref), gelu64(exact)
							}
							got := float64(y[i*n+j])
							// fp32 accumulation over k terms.
							tol := 1e-6*(mag+1) + 2e-7*float64(k)*(mag+1)
							if d := math.Abs(got - ref); d > tol {
								t.Fatalf("%s %dx%dx%d %v gelu=%v: y[%d,%d] = %v, float64 of bf16 operands %v (|d| %.3g > %.3g)", mode, m, n, k, dt, gelu, i, j, got, ref, d, tol)
							}
							worst = max(worst, math.Abs(got-ref)/(mag+1))
							worstExact = max(worstExact, math.Abs(got-exact))
						}
					}
					if worstExact > 0.1 {
						t.Errorf("%s %dx%dx%d %v: max |bf16 − exact fp64| = %.3g, too large", mode, m, n, k, dt, worstExact)
					}
					if !gelu && dt == tensor.F32 {
						t.Logf("%s %dx%dx%d: max |d|/(Σ|xw|+1) vs fp64 of bf16 operands %.2g, max |d| vs unrounded fp64 %.2g", mode, m, n, k, worst, worstExact)
					}
				}
			}
		}
	}
	SetPortableKernels(false)
}

func gelu64(u float64) float64 {
	return 0.5 * u * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u)))
}

// TestParsePrecision covers the names the CLI accepts.
func TestParsePrecision(t *testing.T) {
	for s, want := range map[string]Precision{"": FP32, "fp32": FP32, "BF16": BF16, "bfloat16": BF16} {
		if p, err := ParsePrecision(s); err != nil || p != want {
			t.Errorf("ParsePrecision(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParsePrecision("fp16"); err == nil {
		t.Error("fp16 accepted")
	}
}
