//go:build amd64 && linux && !purego

package kernels

import (
	"sync"
	"syscall"
	"unsafe"
)

// Linux hands out AMX tile data only to processes that ask for it:
// arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
const (
	archGetXcompPerm = 0x1022
	archReqXcompPerm = 0x1023
	xfeatureTileData = 18
)

var amxPerm = sync.OnceValue(func() bool {
	if !hasAMXBF16() {
		return false
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureTileData, 0); e != 0 {
		return false
	}
	var mask uint64
	if _, _, e := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archGetXcompPerm, uintptr(unsafe.Pointer(&mask)), 0); e != 0 {
		return false
	}
	return mask&(1<<xfeatureTileData) != 0
})
