//go:build amd64 && !purego

package kernels

import "github.com/ditkit/ditkit/core/internal/cpu"

// The amd64 build uses an AVX-512 8×32 FMA kernel when the CPU and OS
// support it, the portable kernel otherwise.
var (
	microKernel = microKernelGeneric
	microMR     = 4
)

func init() {
	if hasAVX512() {
		microKernel = microKernelAVX512
		microMR = 8
	}
}

//go:noescape
func kern8x32(a *float32, lda int, b *float32, kw int, c *float32, ldc int)

func hasAVX512() bool { return cpu.AVX512 }

// SetPortableKernels switches to (or back from) the portable kernel, for
// measuring the path the wasm build takes.
func SetPortableKernels(portable bool) {
	if portable || !hasAVX512() {
		microKernel, microMR = microKernelGeneric, 4
		return
	}
	microKernel, microMR = microKernelAVX512, 8
}

func microKernelAVX512(y []float32, ldy int, x []float32, ldx, i, k0, kw int, panel []float32, n0, nw int) {
	_ = x[(i+7)*ldx+k0+kw-1]
	_ = panel[kw*nr-1]
	if nw == nr {
		_ = y[(i+7)*ldy+n0+nr-1]
		kern8x32(&x[i*ldx+k0], ldx, &panel[0], kw, &y[i*ldy+n0], ldy)
		return
	}
	var tile [8 * nr]float32
	kern8x32(&x[i*ldx+k0], ldx, &panel[0], kw, &tile[0], 0)
	for r := 0; r < 8; r++ {
		row := y[(i+r)*ldy+n0:][:nw]
		t := tile[r*nr:][:nw]
		for j, v := range t {
			row[j] += v
		}
	}
}
