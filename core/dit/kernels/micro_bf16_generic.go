//go:build !amd64 || purego

package kernels

// This build has no VDPBF16PS kernel: the bf16 precision runs as an
// emulation on the fp32 kernels (see linearBF16).
func bf16KernelOn() bool { return false }

func bf16Tile(a []uint16, lda int, b []uint32, kp int, c []float32, ldc int) {
	bf16TileGeneric(a, lda, b, kp, c, ldc)
}

func bf16DotRate() float64 { return 0 }
