//go:build js && wasm

package simd

import (
	"fmt"
	"syscall/js"
	"unsafe"

	"github.com/ditkit/ditkit/core/dit/kernels"
)

// Kernel is an instantiated tiles function.
type Kernel struct {
	fn   js.Value
	rows int
	Desc string // "wasm SIMD (relaxed madd)" or "wasm SIMD"
}

// New instantiates the kernel on Go's memory, which the boot script leaves
// in globalThis.__ditkitMemory (the instance's exported mem): relaxed SIMD
// where the engine validates it, else plain SIMD; an error (no memory
// handle, no SIMD) leaves the Go tiles in use.
func New(relaxed bool) (*Kernel, error) { return NewRows(relaxed, 4) }

// NewRows is New with a tile height (4 or 6 rows).
func NewRows(relaxed bool, rows int) (*Kernel, error) {
	mem := js.Global().Get("__ditkitMemory")
	if mem.Type() != js.TypeObject {
		return nil, fmt.Errorf("wasm SIMD: the boot script left no handle on Go's memory (__ditkitMemory)")
	}
	wa := js.Global().Get("WebAssembly")
	var lastErr error
	for _, o := range []Options{{Relaxed: relaxed, Rows: rows}, {Rows: rows}} {
		k, err := instantiate(wa, mem, o)
		if err == nil {
			return k, nil
		}
		lastErr = err
		if !o.Relaxed {
			break
		}
	}
	return nil, lastErr
}

func instantiate(wa, mem js.Value, o Options) (k *Kernel, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("wasm SIMD: %v", p)
		}
	}()
	bin := Module(o)
	u8 := js.Global().Get("Uint8Array").New(len(bin))
	js.CopyBytesToJS(u8, bin)
	if !wa.Call("validate", u8).Bool() {
		return nil, fmt.Errorf("wasm SIMD: this engine does not validate the kernel (relaxed=%v)", o.Relaxed)
	}
	mod := wa.Get("Module").New(u8)
	env := js.Global().Get("Object").New()
	env.Set("mem", mem)
	imports := js.Global().Get("Object").New()
	imports.Set("env", env)
	inst := wa.Get("Instance").New(mod, imports)
	desc := "wasm SIMD"
	if o.Relaxed {
		desc += " (relaxed madd)"
	}
	return &Kernel{fn: inst.Get("exports").Get("tiles"), rows: o.Rows, Desc: desc}, nil
}

func addr(p *float32) int { return int(uintptr(unsafe.Pointer(p))) }

// Tiles is kernels.TileKernel: rows (a multiple of Rows()) × 32 columns.
func (k *Kernel) Tiles(y []float32, ldy int, x []float32, ldx, rows, kw int, panel []float32) {
	_ = y[(rows-1)*ldy+31]
	_ = x[(rows-1)*ldx+kw-1]
	_ = panel[kw*32-1]
	k.fn.Invoke(addr(&y[0]), 4*ldy, addr(&x[0]), 4*ldx, rows, kw, addr(&panel[0]))
}

// Rows is the tile height: Tiles takes multiples of it.
func (k *Kernel) Rows() int { return k.rows }

// Install plugs the kernel into kernels (the portable tiles' replacement
// for full panels) and returns its description.
func Install(relaxed bool) (string, error) {
	k, err := New(relaxed)
	if err != nil {
		kernels.SetTileKernel(0, nil)
		return "", err
	}
	kernels.SetTileKernel(k.rows, k.Tiles)
	return k.Desc, nil
}
