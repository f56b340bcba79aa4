//go:build amd64 && !purego

package kernels

import "github.com/ditkit/ditkit/core/internal/cpu"

//go:noescape
func amxPanel(cfg *byte, a *uint16, lda int, nblk int, b *uint32, ksteps int, c *float32, ldc int)

// hasAMXBF16 reports AMX-TILE and AMX-BF16 (CPUID leaf 7 EDX bits 24, 22)
// with the tile state enabled in XCR0 (bits 17, 18).
func hasAMXBF16() bool {
	if !hasAVX512() {
		return false
	}
	_, _, _, d7 := cpu.CPUID(7, 0)
	if d7&(1<<24) == 0 || d7&(1<<22) == 0 {
		return false
	}
	xcr0, _ := cpu.XGETBV()
	return xcr0&(3<<17) == 3<<17
}

// useAMX switches the AMX tiles on or off for Precision BF16 (tests and
// benchmarks compare them with the VDPBF16PS kernel).
var useAMX = true

func setAMX(on bool) { useAMX = on }

// amxOn reports whether Precision BF16 runs its full 32×32 tiles on AMX:
// the CPU has AMX-BF16, the OS granted tile data, portable kernels are off.
func amxOn() bool { return useAMX && bf16KernelOn() && amxPerm() }

// amxCfg is the tile configuration: palette 1, tiles 0–7 of 16 rows × 64 bytes.
var amxCfg = func() *[64]byte {
	var c [64]byte
	c[0] = 1
	for t := 0; t < 8; t++ {
		c[16+2*t] = 64
		c[48+t] = 16
	}
	return &c
}()

// amxTiles runs nblk blocks of 32 rows of a (bf16, row stride lda, k =
// 32·ksteps) against a packed panel, accumulating into c (row stride ldc,
// 32 columns).
func amxTiles(a []uint16, lda, nblk int, b []uint32, ksteps int, c []float32, ldc int) {
	_ = a[(32*nblk-1)*lda+32*ksteps-1]
	_ = b[16*ksteps*nr-1]
	_ = c[(32*nblk-1)*ldc+nr-1]
	amxPanel(&amxCfg[0], &a[0], lda, nblk, &b[0], ksteps, &c[0], ldc)
}

//go:noescape
func amxWeightRows(cfg *byte, wt *uint16, ldw int, xt *uint32, ldx int, ksteps int, out *float32)

// amxRows computes out[r*32+t] = Σ_k W[r,k]·x[t,k] for 32 weight rows of
// wt (row stride ldw) and 32 tokens of xt (pair rows of stride ldx).
func amxRows(wt []uint16, ldw int, xt []uint32, ldx, ksteps int, out *[32 * 32]float32) {
	_ = wt[31*ldw+32*ksteps-1]
	_ = xt[(16*ksteps-1)*ldx+31]
	amxWeightRows(&amxCfg[0], &wt[0], ldw, &xt[0], ldx, ksteps, &out[0])
}
