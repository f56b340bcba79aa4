//go:build js && wasm

package simd

import (
	"fmt"
	"syscall/js"
	"unsafe"

	"github.com/ditkit/ditkit/core/dit/kernels"
)

// Kernel is an instantiated module.
type Kernel struct {
	fn, gelu, softmax, gemvBF16, gemvF32 js.Value
	packBF16, packF32                    js.Value
	rows                                 int
	Desc                                 string // "wasm SIMD (relaxed madd)" or "wasm SIMD"
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
	ex := inst.Get("exports")
	return &Kernel{fn: ex.Get("tiles"), gelu: ex.Get("gelu2d"), softmax: ex.Get("softmaxRows"), gemvBF16: ex.Get("gemvBF16"), gemvF32: ex.Get("gemvF32"),
		packBF16: ex.Get("packBF16"), packF32: ex.Get("packF32"),
		rows: o.Rows, Desc: desc}, nil
}

func addr[T float32 | uint16](p *T) int { return int(uintptr(unsafe.Pointer(p))) }

// Tiles is kernels.Accel.Tiles: rows (a multiple of Rows()) × 32 columns.
func (k *Kernel) Tiles(y []float32, ldy int, x []float32, ldx, rows, kw int, panel []float32) {
	_ = y[(rows-1)*ldy+31]
	_ = x[(rows-1)*ldx+kw-1]
	_ = panel[kw*32-1]
	k.fn.Invoke(addr(&y[0]), 4*ldy, addr(&x[0]), 4*ldx, rows, kw, addr(&panel[0]))
}

// GELU is kernels.Accel.GELU.
func (k *Kernel) GELU(v []float32, rows, cols, stride int) {
	_ = v[(rows-1)*stride+cols-1]
	k.gelu.Invoke(addr(&v[0]), rows, cols, 4*stride)
}

// Softmax is kernels.Accel.Softmax.
func (k *Kernel) Softmax(v []float32, rows, n, stride int, scale float32) {
	_ = v[(rows-1)*stride+n-1]
	k.softmax.Invoke(addr(&v[0]), rows, n, 4*stride, scale)
}

// GemvBF16 is kernels.Accel.GemvBF16.
func (k *Kernel) GemvBF16(w []uint16, ldw, rows, kk int, x []float32, ldx, m int, out []float32) {
	_ = w[(rows-1)*ldw+kk-1]
	_ = x[(m-1)*ldx+kk-1]
	_ = out[(rows-1)*8+m-1]
	k.gemvBF16.Invoke(addr(&w[0]), 2*ldw, rows, kk, addr(&x[0]), 4*ldx, m, addr(&out[0]))
}

// GemvF32 is kernels.Accel.GemvF32.
func (k *Kernel) GemvF32(w []float32, ldw, rows, kk int, x []float32, ldx, m int, out []float32) {
	_ = w[(rows-1)*ldw+kk-1]
	_ = x[(m-1)*ldx+kk-1]
	_ = out[(rows-1)*8+m-1]
	k.gemvF32.Invoke(addr(&w[0]), 4*ldw, rows, kk, addr(&x[0]), 4*ldx, m, addr(&out[0]))
}

// PackBF16 is kernels.Accel.PackBF16.
func (k *Kernel) PackBF16(panel []float32, w []uint16, ld, rows, kw int) {
	_ = panel[(kw-1)*32+rows-1]
	_ = w[(rows-1)*ld+kw-1]
	k.packBF16.Invoke(addr(&panel[0]), addr(&w[0]), 2*ld, rows, kw)
}

// PackF32 is kernels.Accel.PackF32.
func (k *Kernel) PackF32(panel []float32, w []float32, ld, rows, kw int) {
	_ = panel[(kw-1)*32+rows-1]
	_ = w[(rows-1)*ld+kw-1]
	k.packF32.Invoke(addr(&panel[0]), addr(&w[0]), 4*ld, rows, kw)
}

// Rows is the tile height: Tiles takes multiples of it.
func (k *Kernel) Rows() int { return k.rows }

// Accel is the kernels.Accel of this module.
func (k *Kernel) Accel() *kernels.Accel {
	return &kernels.Accel{Rows: k.rows, Tiles: k.Tiles, GELU: k.GELU, Softmax: k.Softmax, GemvBF16: k.GemvBF16, GemvF32: k.GemvF32,
		PackBF16: k.PackBF16, PackF32: k.PackF32}
}

// Install plugs the module into kernels and returns its description.
func Install(relaxed bool) (string, error) {
	k, err := New(relaxed)
	if err != nil {
		kernels.SetAccel(nil)
		return "", err
	}
	kernels.SetAccel(k.Accel())
	return k.Desc, nil
}
