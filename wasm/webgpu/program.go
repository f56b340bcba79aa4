//go:build js && wasm

package webgpu

import (
	"context"
	"fmt"
	"sync"
	"syscall/js"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/wasm/jsutil"
)

// The GPU runs whole dit.Programs (dit.Runner): the op list every backend
// runs, compiled once per program into buffers, uniforms and bind groups
// with the activations resident; each run uploads the inputs (and the
// integer inputs: gather indices, keys per sequence), encodes the
// dispatches into one pass and reads Out back. An op without a GPU kernel
// makes the compile fail with ErrUnavailable, so Auto runs that model on
// the CPU and says why.

var _ dit.Runner = (*GPU)(nil)

// plan is a Program compiled for this device.
type plan struct {
	inputs   []js.Value
	out      js.Value
	staging  js.Value // MAP_READ copy of out
	bufs     []js.Value
	ds       []dispatch
	outLen   int
	checked  bool // the first run passed the error scopes
	mu       sync.Mutex
	weights  []*kernels.Weight
	describe string
	ints     map[string]*intBuf // Feed.Ints by name, uploaded as i32 each run
}

// intBuf is an integer input on the GPU: the first n values of its entry.
type intBuf struct {
	buf js.Value
	n   int
}

func (p *plan) destroy() {
	destroy(p.ds)
	for _, b := range p.bufs {
		b.Call("destroy")
	}
}

// supported reports why the GPU cannot run op (nil when it can).
func supported(op dit.Op) error {
	switch o := op.(type) {
	case *dit.LinearOp, *dit.SiLUOp, *dit.NormOp, *dit.GateOp, *dit.TapOp, *dit.BlockOp, *dit.AddOp,
		*dit.SwapOp, *dit.GatherOp, *dit.RMSNormOp, *dit.RoPEOp:
		return nil
	case *dit.LayerNormOp, *dit.CopyOp: // ops_pixart.go
		return nil
	case *dit.AttnOp:
		if o.HeadDim > maxHeadDim {
			return fmt.Errorf("%w: head dimension %d > %d", ErrUnavailable, o.HeadDim, maxHeadDim)
		}
		return nil
	}
	return fmt.Errorf("%w: no WebGPU kernel for %T yet", ErrUnavailable, op)
}

// Memory describes what p needs on this device, for the page.
func (g *GPU) Memory(p *dit.Program) string {
	w, a := p.Bytes()
	return fmt.Sprintf("needs %s of GPU memory (weights %s, activations %s); the device allows %s per buffer and does not report free memory: an allocation failure falls back to the CPU",
		mib(w+a), mib(w), mib(a), mib(min(g.MaxBinding, g.MaxBuffer)))
}

// compileProgram records p once (later calls return the cached plan). Weights are
// uploaded block by block, waiting for the queue between blocks so the
// staging copies do not pile up; an out-of-memory error is returned
// wrapped in ErrUnavailable and whatever was put on the GPU is freed.
func (g *GPU) compileProgram(p *dit.Program) (*plan, error) {
	g.mu.Lock()
	pl, ok := g.plans[p]
	g.mu.Unlock()
	if ok {
		return pl, nil
	}
	for _, op := range p.Ops {
		if err := supported(op); err != nil {
			return nil, err
		}
	}
	if err := g.alive(); err != nil {
		return nil, err
	}
	pl = &plan{outLen: p.Sizes[p.Out], describe: g.Memory(p)}
	fail := func(err error) (*plan, error) {
		pl.destroy()
		g.releaseWeights(pl.weights)
		return nil, err
	}
	oom := func(err error) error {
		return fmt.Errorf("%w: out of GPU memory while uploading the weights (%s): %v", ErrUnavailable, pl.describe, err)
	}
	g.device.Call("pushErrorScope", "out-of-memory")
	gw := map[*kernels.Weight]*gpuWeight{}
	for _, op := range p.Ops {
		switch o := op.(type) {
		case *dit.LinearOp:
			if gw[o.L.W] != nil {
				continue
			}
			w, err := g.planWeight(o.L)
			if err != nil {
				g.popError()
				return fail(err)
			}
			gw[o.L.W] = w
			pl.weights = append(pl.weights, o.L.W)
		case *dit.BlockOp:
			if err := g.popError(); err != nil {
				return fail(oom(err))
			}
			if _, err := jsutil.Await(g.queue.Call("onSubmittedWorkDone")); err != nil {
				return fail(fmt.Errorf("webgpu: upload: %v", err))
			}
			if err := g.alive(); err != nil {
				return fail(err)
			}
			g.device.Call("pushErrorScope", "out-of-memory")
		}
	}
	bufs := make([]js.Value, len(p.Sizes))
	for b, n := range p.Sizes {
		v, err := g.storage(n)
		if err != nil {
			g.popError()
			return fail(err)
		}
		bufs[b] = v
		pl.bufs = append(pl.bufs, v)
		if c, ok := p.Consts[dit.Buf(b)]; ok {
			g.write(v, 0, f32bytes(c))
		}
	}
	for _, b := range p.Inputs {
		pl.inputs = append(pl.inputs, bufs[b])
	}
	// Integer inputs: as many values as the ops using them read.
	pl.ints = map[string]*intBuf{}
	need := func(name string, n int) {
		if name == "" {
			return
		}
		if ib := pl.ints[name]; ib == nil {
			pl.ints[name] = &intBuf{n: n}
		} else {
			ib.n = max(ib.n, n)
		}
	}
	for _, op := range p.Ops {
		switch o := op.(type) {
		case *dit.GatherOp:
			need(o.Index, p.Sizes[o.Dst]/o.Cols)
		case *dit.AttnOp:
			need(o.KVLen, o.Seqs)
		}
	}
	for _, ib := range pl.ints {
		v, err := g.storage(ib.n)
		if err != nil {
			g.popError()
			return fail(err)
		}
		ib.buf = v
		pl.bufs = append(pl.bufs, v)
	}
	pl.out = bufs[p.Out]
	pl.staging = g.buffer(int64(pl.outLen)*4, usageMapRead|usageCopyDst)
	pl.bufs = append(pl.bufs, pl.staging)
	if err := g.popError(); err != nil {
		return fail(oom(err))
	}
	var err error
	add := func(d []dispatch, e error) {
		if err == nil {
			err = e
		}
		pl.ds = append(pl.ds, d...)
	}
	one := func(d dispatch, e error) { add([]dispatch{d}, e) }
	for _, op := range p.Ops {
		switch o := op.(type) {
		case *dit.LinearOp:
			w := gw[o.L.W]
			add(g.linear(bufs[o.Src], 0, w.cols, w, bufs[o.Dst], 0, w.rows, o.Rows, o.GELU))
		case *dit.AddOp:
			if o.Div > 1 || o.Set {
				set := 0
				if o.Set {
					set = 1
				}
				one(g.elem(opAddRows, bufs[o.Dst], bufs[o.Src], js.Undefined(), o.Rows*o.Cols, 0, o.Cols, max(o.Div, 1), o.Mod, set))
				break
			}
			period := o.Rows * o.Cols
			if o.Mod > 0 {
				period = o.Mod * o.Cols
			}
			one(g.elem(opAdd, bufs[o.Dst], bufs[o.Src], js.Undefined(), o.Rows*o.Cols, period, 0, 0, 0, 0))
		case *dit.SwapOp:
			one(g.swap(bufs[o.Dst], bufs[o.Src], o.Outer, o.A, o.B, o.Cols))
		case *dit.GatherOp:
			one(g.gather(bufs[o.Dst], bufs[o.Src], pl.ints[o.Index].buf, p.Sizes[o.Dst]/o.Cols, o.Cols, o.Keep))
		case *dit.RMSNormOp:
			one(g.rmsNorm(bufs[o.X], bufs[o.Weight], o.Rows, o.Stride, o.Off, o.Groups, o.Dim, o.Eps))
		case *dit.RoPEOp:
			one(g.rope(bufs[o.X], bufs[o.Table], o.Rows, o.Stride, o.Off, o.Heads, o.HeadDim, o.Div, o.Mod))
		case *dit.SiLUOp:
			one(g.elem(opSiLU, bufs[o.Dst], bufs[o.Src], js.Undefined(), o.N, 0, 0, 0, 0, 0))
		case *dit.GateOp:
			one(g.elem(opGated, bufs[o.Dst], bufs[o.Src], bufs[o.Gate], o.Rows*o.Cols, 0, o.Cols, o.Group, o.Stride, o.Off))
		case *dit.NormOp:
			mod := js.Undefined()
			if o.Mod != dit.NoBuf {
				mod = bufs[o.Mod]
			}
			one(g.layerNorm(bufs[o.Src], bufs[o.Dst], o.Rows, o.Cols, o.Eps, o.Group, mod, o.Shift, o.Scale, o.Stride))
		case *dit.AttnOp:
			lens := js.Undefined()
			if o.KVLen != "" {
				lens = pl.ints[o.KVLen].buf
			}
			one(g.attention(attnArgs{q: bufs[o.Q], kv: bufs[o.KV], out: bufs[o.Dst], lens: lens, qOff: o.QOff, qStride: o.QStride,
				kOff: o.KOff, vOff: o.VOff, kvStride: o.KVStride, oStride: o.OutStride,
				seqs: o.Seqs, nq: o.NQ, nk: o.NK, heads: o.Heads, hd: o.HeadDim, scale: o.Scale}))
		case *dit.LayerNormOp:
			one(g.layerNormAffine(bufs, o))
		case *dit.CopyOp:
			one(g.copyRows(bufs, o))
		}
		if err != nil {
			return fail(err)
		}
	}
	g.mu.Lock()
	g.plans[p] = pl
	g.mu.Unlock()
	return pl, nil
}

// planWeight uploads a Linear for plans (cached by weight: the programs of
// one model at several batch sizes share it).
func (g *GPU) planWeight(l *dit.Linear) (*gpuWeight, error) {
	g.mu.Lock()
	w, ok := g.weights[l.W]
	g.mu.Unlock()
	if ok {
		return w, nil
	}
	w, err := g.upload(l.W, l.B)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.weights[l.W] = w
	g.mu.Unlock()
	return w, nil
}

func (g *GPU) releaseWeights(ws []*kernels.Weight) {
	g.mu.Lock()
	var gone []*gpuWeight
	for _, w := range ws {
		if gw, ok := g.weights[w]; ok {
			gone = append(gone, gw)
			delete(g.weights, w)
		}
	}
	g.mu.Unlock()
	for _, w := range gone {
		w.destroy()
	}
}

// Release frees everything held on the GPU for p: its plan and the weights
// it uploaded (other plans over the same weights must be released too).
func (g *GPU) Release(p *dit.Program) {
	g.mu.Lock()
	pl := g.plans[p]
	delete(g.plans, p)
	g.mu.Unlock()
	if pl != nil {
		pl.destroy()
		g.releaseWeights(pl.weights)
	}
}

// Run implements dit.Runner: the whole program on the GPU, one readback.
func (g *GPU) Run(ctx context.Context, p *dit.Program, f *dit.Feed) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(f.F32) != len(p.Inputs) {
		return nil, fmt.Errorf("webgpu: program wants %d inputs, got %d", len(p.Inputs), len(f.F32))
	}
	pl, err := g.compileProgram(p)
	if err != nil {
		return nil, err
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for i, b := range pl.inputs {
		g.write(b, 0, f32bytes(f.F32[i]))
	}
	for name, ib := range pl.ints {
		v := f.Ints[name]
		if len(v) < ib.n {
			return nil, fmt.Errorf("webgpu: integer input %s has %d values, want %d", name, len(v), ib.n)
		}
		g.write(ib.buf, 0, i32bytes(v[:ib.n]))
	}
	out := make([]float32, pl.outLen)
	if err := g.submit(pl.ds, pl.out, 0, out, pl.staging, !pl.checked); err != nil {
		return nil, err
	}
	pl.checked = true
	return out, nil
}
