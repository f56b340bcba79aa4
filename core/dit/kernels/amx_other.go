//go:build !amd64 || purego

package kernels

// amxOn: AMX tiles are used on linux/amd64 only.
func amxOn() bool { return false }

func setAMX(on bool) {}

func amxTiles(a []uint16, lda, nblk int, b []uint32, ksteps int, c []float32, ldc int) {
	panic("kernels: no AMX in this build")
}

func amxRows(wt []uint16, ldw int, xt []uint32, ldx, ksteps int, out *[32 * 32]float32) {
	panic("kernels: no AMX in this build")
}
