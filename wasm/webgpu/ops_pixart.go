//go:build js && wasm

package webgpu

import (
	"math"
	"syscall/js"

	"github.com/ditkit/ditkit/core/dit"
)

// Kernels for PixArt's ops: the affine LayerNorm on strided rows
// (dit.LayerNormOp, Σ's q_norm/k_norm) and the strided row copy
// (dit.CopyOp: the micro-condition concat, v beside the normed q, k).

// layerNormAffine records o.
func (g *GPU) layerNormAffine(bufs []js.Value, o *dit.LayerNormOp) (dispatch, error) {
	pipe, err := g.pipeline("layernorm_affine", 0)
	if err != nil {
		return dispatch{}, err
	}
	u := g.uniform([]uint32{uint32(o.Rows), uint32(o.Cols), uint32(o.SrcOff), uint32(o.SrcStride),
		uint32(o.DstOff), uint32(o.DstStride), math.Float32bits(o.Eps), 0})
	return dispatch{pipe: pipe, owned: []js.Value{u}, group: g.bind(pipe, u, bufs[o.Src], bufs[o.W], bufs[o.B], bufs[o.Dst]),
		wg: [3]int{min(o.Rows, maxWorkgroups), (o.Rows + maxWorkgroups - 1) / maxWorkgroups, 1}}, nil
}

// copyRows records o.
func (g *GPU) copyRows(bufs []js.Value, o *dit.CopyOp) (dispatch, error) {
	pipe, err := g.pipeline("copy", 0)
	if err != nil {
		return dispatch{}, err
	}
	n := o.Rows * o.Cols
	u := g.uniform([]uint32{uint32(n), uint32(o.Cols), uint32(o.SrcOff), uint32(o.SrcStride),
		uint32(o.DstOff), uint32(o.DstStride), 0, 0})
	wgs := (n + 255) / 256
	return dispatch{pipe: pipe, owned: []js.Value{u}, group: g.bind(pipe, u, bufs[o.Dst], bufs[o.Src]),
		wg: [3]int{min(max(wgs, 1), maxWorkgroups), (wgs + maxWorkgroups - 1) / maxWorkgroups, 1}}, nil
}
