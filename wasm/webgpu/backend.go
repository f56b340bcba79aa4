//go:build js && wasm

package webgpu

import (
	"syscall/js"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
)

// The dit.Backend methods run one kernel each: upload the operands, run,
// read the result back (dit.Options.Backend: op by op, for kernel tests);
// a forward normally runs as a whole program (Run, dit.Options.Runner).
// Weights are uploaded once per *kernels.Weight (FreeWeights releases them).
// They panic on GPU errors (the Backend interface has no error results);
// callers recover and fall back to the CPU.

var _ dit.Backend = (*GPU)(nil)

func (g *GPU) weight(w *kernels.Weight, b []float32) *gpuWeight {
	g.mu.Lock()
	gw, ok := g.weights[w]
	g.mu.Unlock()
	if ok {
		return gw
	}
	gw, err := g.upload(w, b)
	if err != nil {
		panic(err)
	}
	g.mu.Lock()
	g.weights[w] = gw
	g.mu.Unlock()
	return gw
}

// FreeWeights releases the weights uploaded by Backend calls.
func (g *GPU) FreeWeights() {
	g.mu.Lock()
	ws := g.weights
	g.weights = map[*kernels.Weight]*gpuWeight{}
	g.mu.Unlock()
	for _, w := range ws {
		w.destroy()
	}
}

func (g *GPU) input(v []float32) js.Value {
	b, err := g.storage(len(v))
	if err != nil {
		panic(err)
	}
	g.write(b, 0, f32bytes(v))
	return b
}

// ints uploads integers as an i32 storage buffer.
func (g *GPU) ints(v []int) js.Value {
	b, err := g.storage(len(v))
	if err != nil {
		panic(err)
	}
	g.write(b, 0, i32bytes(v))
	return b
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// Linear implements dit.Backend.
func (g *GPU) Linear(y, x []float32, m int, w *kernels.Weight, b []float32) {
	g.lin(y, x, m, w, b, false)
}

// LinearGELU implements dit.Backend.
func (g *GPU) LinearGELU(y, x []float32, m int, w *kernels.Weight, b []float32) {
	g.lin(y, x, m, w, b, true)
}

func (g *GPU) lin(y, x []float32, m int, w *kernels.Weight, b []float32, gelu bool) {
	if m == 0 {
		return
	}
	gw := g.weight(w, b)
	xb := g.input(x[:m*w.Cols])
	defer xb.Call("destroy")
	yb, err := g.storage(m * w.Rows)
	must(err)
	defer yb.Call("destroy")
	ds, err := g.linear(xb, 0, w.Cols, gw, yb, 0, w.Rows, m, gelu)
	must(err)
	defer destroy(ds)
	must(g.run(ds, yb, 0, y[:m*w.Rows]))
}

// Attention implements dit.Backend.
func (g *GPU) Attention(a *kernels.AttnArgs) {
	lens := js.Undefined()
	if a.KVLen != nil {
		lens = g.ints(a.KVLen[:a.Seqs])
		defer lens.Call("destroy")
	}
	qn := (a.Seqs*a.NQ-1)*a.QStride + a.Heads*a.HeadDim
	kn := (a.Seqs*a.NK-1)*a.KVStride + a.Heads*a.HeadDim
	qb := g.input(a.Q[:qn])
	defer qb.Call("destroy")
	kb := g.input(a.K[:kn])
	defer kb.Call("destroy")
	vb := g.input(a.V[:kn])
	defer vb.Call("destroy")
	on := (a.Seqs*a.NQ-1)*a.OutStride + a.Heads*a.HeadDim
	ob, err := g.storage(on)
	must(err)
	defer ob.Call("destroy")
	// K and V come from separate buffers here: bind K as kv with vOff
	// pointing past it would need one buffer, so run with kv = K, then V.
	kv := make([]float32, 2*kn)
	copy(kv, a.K[:kn])
	copy(kv[kn:], a.V[:kn])
	kvb := g.input(kv)
	defer kvb.Call("destroy")
	d, err := g.attention(attnArgs{q: qb, kv: kvb, out: ob, lens: lens, qStride: a.QStride, kOff: 0, vOff: kn, kvStride: a.KVStride,
		oStride: a.OutStride, seqs: a.Seqs, nq: a.NQ, nk: a.NK, heads: a.Heads, hd: a.HeadDim, scale: a.Scale})
	must(err)
	defer destroy([]dispatch{d})
	out := make([]float32, on)
	copy(out, a.Out[:on]) // rows not covered by heads keep their values
	must(g.run([]dispatch{d}, ob, 0, out))
	for r := 0; r < a.Seqs*a.NQ; r++ {
		copy(a.Out[r*a.OutStride:r*a.OutStride+a.Heads*a.HeadDim], out[r*a.OutStride:])
	}
}

// LayerNormModulate implements dit.Backend.
func (g *GPU) LayerNormModulate(out, x []float32, rows, h int, eps float32, groupRows int, shift, scale []float32, stride int) {
	xb := g.input(x[:rows*h])
	defer xb.Call("destroy")
	ob, err := g.storage(rows * h)
	must(err)
	defer ob.Call("destroy")
	mods := js.Undefined()
	scOff := 0
	if shift != nil {
		groups := (rows + groupRows - 1) / groupRows
		n := (groups-1)*stride + h
		mv := make([]float32, 2*n)
		copy(mv, shift[:n])
		copy(mv[n:], scale[:n])
		mods = g.input(mv)
		defer mods.Call("destroy")
		scOff = n
	}
	d, err := g.layerNorm(xb, ob, rows, h, eps, groupRows, mods, 0, scOff, stride)
	must(err)
	defer destroy([]dispatch{d})
	must(g.run([]dispatch{d}, ob, 0, out[:rows*h]))
}
