//go:build amd64 && !purego

package cpu

// CPUID executes the CPUID instruction for leaf eax, subleaf ecx.
//
//go:noescape
func CPUID(eax, ecx uint32) (a, b, c, d uint32)

// XGETBV reads XCR0: which register states the OS saves (and so enables).
//
//go:noescape
func XGETBV() (eax, edx uint32)

func init() {
	maxID, _, _, _ := CPUID(0, 0)
	if maxID < 7 {
		return
	}
	_, _, c1, _ := CPUID(1, 0)
	if c1&(1<<27) == 0 || c1&(1<<28) == 0 { // OSXSAVE, AVX
		return
	}
	xcr0, _ := XGETBV()
	if xcr0&0x6 != 0x6 { // SSE and AVX state
		return
	}
	fma := c1&(1<<12) != 0
	F16C = c1&(1<<29) != 0
	_, b7, _, _ := CPUID(7, 0)
	SHA = b7&(1<<29) != 0 && c1&(1<<9) != 0 && c1&(1<<19) != 0
	AVX2 = fma && b7&(1<<5) != 0
	AVX512 = fma && xcr0&0xe6 == 0xe6 && b7&(1<<16) != 0
}
