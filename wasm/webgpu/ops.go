//go:build js && wasm

package webgpu

import (
	"math"
	"syscall/js"
)

// Kernels for the ops beyond the DiT core: row gathers and reorders
// (caption packing, x_mask frame rows, attention windows, video token
// order), broadcast adds with Div/Set, and STDiT3's per-head RMS qk-norm
// and rotary embedding (both in place).

// flat sizes a 1-D dispatch of n threads in workgroups of wg, spilling
// into y beyond the per-dimension limit.
func flat(n, wg int) [3]int {
	w := (n + wg - 1) / wg
	return [3]int{min(max(w, 1), maxWorkgroups), (w + maxWorkgroups - 1) / maxWorkgroups, 1}
}

// gather records dst[r] = src[idx[r]] for r < rows (zeros, or dst kept
// with keep, where idx[r] < 0); idx is an i32 buffer.
func (g *GPU) gather(dst, src, idx js.Value, rows, cols int, keep bool) (dispatch, error) {
	pipe, err := g.pipeline("gather", 0)
	if err != nil {
		return dispatch{}, err
	}
	k := uint32(0)
	if keep {
		k = 1
	}
	u := g.uniform([]uint32{uint32(rows), uint32(cols), k, 0})
	return dispatch{pipe: pipe, owned: []js.Value{u}, group: g.bind(pipe, u, dst, src, idx), wg: flat(rows*cols, 256)}, nil
}

// swap records dst [outer, b, a, cols] = src [outer, a, b, cols].
func (g *GPU) swap(dst, src js.Value, outer, a, b, cols int) (dispatch, error) {
	pipe, err := g.pipeline("swap", 0)
	if err != nil {
		return dispatch{}, err
	}
	n := outer * a * b * cols
	u := g.uniform([]uint32{uint32(n), uint32(a), uint32(b), uint32(cols)})
	return dispatch{pipe: pipe, owned: []js.Value{u}, group: g.bind(pipe, u, dst, src), wg: flat(n, 256)}, nil
}

// rmsNorm records the in-place per-head RMS norm of x with weight w.
func (g *GPU) rmsNorm(x, w js.Value, rows, stride, off, groups, dim int, eps float32) (dispatch, error) {
	pipe, err := g.pipeline("rmsnorm", 0)
	if err != nil {
		return dispatch{}, err
	}
	u := g.uniform([]uint32{uint32(rows), uint32(stride), uint32(off), uint32(groups), uint32(dim), math.Float32bits(eps), 0, 0})
	return dispatch{pipe: pipe, owned: []js.Value{u}, group: g.bind(pipe, u, x, w), wg: flat(rows*groups, 64)}, nil
}

// rope records the in-place rotary embedding of x by table.
func (g *GPU) rope(x, table js.Value, rows, stride, off, heads, hd, div, mod int) (dispatch, error) {
	pipe, err := g.pipeline("rope", 0)
	if err != nil {
		return dispatch{}, err
	}
	u := g.uniform([]uint32{uint32(rows), uint32(stride), uint32(off), uint32(heads), uint32(hd), uint32(max(div, 1)), uint32(mod), 0})
	return dispatch{pipe: pipe, owned: []js.Value{u}, group: g.bind(pipe, u, x, table), wg: flat(rows*heads*(hd/2), 256)}, nil
}
