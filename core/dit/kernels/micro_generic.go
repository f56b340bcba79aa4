//go:build !amd64 || purego

package kernels

// microKernel is the register tile of microMR rows × nr columns; the amd64
// build swaps in an AVX-512 kernel when the CPU has one.
var (
	microKernel = microKernelGeneric
	microMR     = 4
)

// SetPortableKernels is a no-op: this build only has the portable kernel.
func SetPortableKernels(portable bool) {}

func hasAVX512() bool { return false }
