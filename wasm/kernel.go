//go:build js && wasm

package main

import (
	"sync"
	"syscall/js"

	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/wasm/simd"
)

// The matmul tiles of this instance: the wasm SIMD kernel (relaxed madd
// where the engine validates it) when the boot script handed Go's memory
// over, else the portable Go tiles.

var (
	simdOnce sync.Once
	simdK    *simd.Kernel
	simdErr  error
)

// simdKernel installs the SIMD kernel and describes it ("" when it cannot
// run here, saying why on the console once).
func simdKernel() string {
	simdOnce.Do(func() {
		simdK, simdErr = simd.New(true)
		if simdErr != nil {
			js.Global().Get("console").Call("info", "ditkit: "+simdErr.Error()+"; the Go matmul tiles run")
		}
	})
	if simdK == nil {
		return ""
	}
	kernels.SetAccel(simdK.Accel())
	return simdK.Desc
}

// kernelName describes the tiles in use.
func kernelName() string {
	if kernels.AccelOn() && simdK != nil {
		return simdK.Desc
	}
	return "Go"
}
