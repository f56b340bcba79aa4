//go:build js && wasm

package webgpu

import (
	"context"
	"fmt"
	"github.com/ditkit/ditkit/wasm/jsutil"
	"math"
	"sync"
	"syscall/js"

	"github.com/ditkit/ditkit/core/dit"
)

// gpuModel is a DiT's weights on the GPU, uploaded once.
type gpuModel struct {
	xembed, tmlp1, tmlp2, finalAda, final *gpuWeight
	blocks                                []gpuBlock
	pos                                   js.Value
	bytes                                 int64
}

type gpuBlock struct{ ada, qkv, proj, fc1, fc2 *gpuWeight }

func (m *gpuModel) all() []*gpuWeight {
	ws := []*gpuWeight{m.xembed, m.tmlp1, m.tmlp2, m.finalAda, m.final}
	for _, b := range m.blocks {
		ws = append(ws, b.ada, b.qkv, b.proj, b.fc1, b.fc2)
	}
	return ws
}

func (m *gpuModel) destroy() {
	for _, w := range m.all() {
		if w != nil {
			w.destroy()
		}
	}
	if m.pos.Type() == js.TypeObject {
		m.pos.Call("destroy")
	}
}

// WeightBytes is the GPU memory a model's weights take (packed as stored,
// 16-bit weights stay 16-bit).
func WeightBytes(m *dit.Model) int64 { return m.WeightBytes() }

// ActivationBytes is the GPU memory of the activations and the readback
// buffer for a forward of batch n.
func ActivationBytes(cfg dit.Config, n int) int64 {
	T, H, mh := cfg.Tokens(), cfg.HiddenSize, cfg.MLPHidden()
	rows := int64(n * T)
	pp := int64(cfg.InChannels * cfg.PatchSize * cfg.PatchSize)
	po := int64(cfg.PatchSize * cfg.PatchSize * cfg.OutChannels())
	f := rows*(pp+2*po+6*int64(H)+int64(mh)) + int64(n)*(dit.TimestepFreqs+14*int64(H))
	return 4 * f
}

// Memory describes what a model needs on this device, for the page.
func (g *GPU) Memory(m *dit.Model, n int) string {
	return fmt.Sprintf("needs %s of GPU memory (weights %s, activations %s); the device allows %s per buffer and does not report free memory: an allocation failure falls back to the CPU",
		mib(WeightBytes(m)+ActivationBytes(m.Cfg, n)), mib(WeightBytes(m)), mib(ActivationBytes(m.Cfg, n)), mib(min(g.MaxBinding, g.MaxBuffer)))
}

// Upload puts a model's weights on the GPU (once; later calls return the
// cached copy), block by block, waiting for the queue between blocks so
// the staging copies do not pile up. An out-of-memory error is returned
// wrapped in ErrUnavailable, and whatever was uploaded is freed.
func (g *GPU) Upload(m *dit.Model) (*gpuModel, error) {
	g.mu.Lock()
	if gm, ok := g.models[m]; ok {
		g.mu.Unlock()
		return gm, nil
	}
	g.mu.Unlock()
	if err := g.alive(); err != nil {
		return nil, err
	}
	gm := &gpuModel{}
	fail := func(err error) (*gpuModel, error) {
		gm.destroy()
		return nil, err
	}
	g.device.Call("pushErrorScope", "out-of-memory")
	step := func(dst **gpuWeight, l dit.Linear) error {
		w, err := g.upload(l.W, l.B)
		if err != nil {
			return err
		}
		*dst = w
		gm.bytes += w.bytes
		return nil
	}
	flush := func() error {
		if err := g.popError(); err != nil {
			return fmt.Errorf("%w: out of GPU memory while uploading the weights (%s): %v", ErrUnavailable, g.Memory(m, 2), err)
		}
		if _, err := jsutil.Await(g.queue.Call("onSubmittedWorkDone")); err != nil {
			return fmt.Errorf("webgpu: upload: %v", err)
		}
		if err := g.alive(); err != nil {
			return err
		}
		g.device.Call("pushErrorScope", "out-of-memory")
		return nil
	}
	for _, s := range []struct {
		dst **gpuWeight
		l   dit.Linear
	}{{&gm.xembed, m.XEmbed}, {&gm.tmlp1, m.TMLP1}, {&gm.tmlp2, m.TMLP2}, {&gm.finalAda, m.FinalAda}, {&gm.final, m.Final}} {
		if err := step(s.dst, s.l); err != nil {
			g.popError()
			return fail(err)
		}
	}
	gm.pos = g.buffer(int64(len(m.PosEmbed))*4, usageStorage|usageCopyDst)
	g.write(gm.pos, 0, f32bytes(m.PosEmbed))
	gm.bytes += int64(len(m.PosEmbed)) * 4
	gm.blocks = make([]gpuBlock, len(m.Blocks))
	for i, b := range m.Blocks {
		gb := &gm.blocks[i]
		for _, s := range []struct {
			dst **gpuWeight
			l   dit.Linear
		}{{&gb.ada, b.AdaLN}, {&gb.qkv, b.QKV}, {&gb.proj, b.Proj}, {&gb.fc1, b.FC1}, {&gb.fc2, b.FC2}} {
			if err := step(s.dst, s.l); err != nil {
				g.popError()
				return fail(err)
			}
		}
		if err := flush(); err != nil {
			return fail(err)
		}
	}
	if err := g.popError(); err != nil {
		return fail(fmt.Errorf("%w: out of GPU memory while uploading the weights (%s): %v", ErrUnavailable, g.Memory(m, 2), err))
	}
	g.mu.Lock()
	g.models[m] = gm
	g.mu.Unlock()
	return gm, nil
}

// Release frees everything held on the GPU for m (weights and plans).
func (g *GPU) Release(m *dit.Model) {
	g.mu.Lock()
	gm := g.models[m]
	delete(g.models, m)
	var plans []*plan
	for k, p := range g.plans {
		if k.m == m {
			plans = append(plans, p)
			delete(g.plans, k)
		}
	}
	g.mu.Unlock()
	for _, p := range plans {
		p.destroy()
	}
	if gm != nil {
		gm.destroy()
	}
}

type planKey struct {
	m *dit.Model
	n int
}

// plan is a forward pass of batch n recorded once: activation buffers,
// uniforms and bind groups; each run uploads the inputs, encodes the
// dispatches into one pass and reads final_out back.
type plan struct {
	patches, tfreq, yemb, fo js.Value
	staging                  js.Value // MAP_READ copy of fo
	bufs                     []js.Value
	ds                       []dispatch
	foLen                    int
	checked                  bool // the first run passed the error scopes
	mu                       sync.Mutex
}

func (p *plan) destroy() {
	destroy(p.ds)
	for _, b := range p.bufs {
		b.Call("destroy")
	}
}

func (g *GPU) plan(m *dit.Model, gm *gpuModel, n int) (*plan, error) {
	key := planKey{m, n}
	g.mu.Lock()
	p, ok := g.plans[key]
	g.mu.Unlock()
	if ok {
		return p, nil
	}
	cfg := m.Cfg
	H, T, mh := cfg.HiddenSize, cfg.Tokens(), cfg.MLPHidden()
	rows := n * T
	pp := cfg.InChannels * cfg.PatchSize * cfg.PatchSize
	po := cfg.PatchSize * cfg.PatchSize * cfg.OutChannels()
	p = &plan{foLen: rows * po}
	var err error
	alloc := func(k int) js.Value {
		if err != nil {
			return js.Undefined()
		}
		var b js.Value
		b, err = g.storage(k)
		if err == nil {
			p.bufs = append(p.bufs, b)
		}
		return b
	}
	p.patches, p.tfreq, p.yemb = alloc(rows*pp), alloc(n*dit.TimestepFreqs), alloc(n*H)
	h, t0, t1, c, sc := alloc(rows*H), alloc(n*H), alloc(n*H), alloc(n*H), alloc(n*H)
	mod, norm, qkv, att := alloc(n*6*H), alloc(rows*H), alloc(rows*3*H), alloc(rows*H)
	proj, fc1, fc2, fm := alloc(rows*H), alloc(rows*mh), alloc(rows*H), alloc(n*2*H)
	p.fo = alloc(rows * po)
	if err == nil {
		p.staging = g.buffer(int64(rows*po)*4, usageMapRead|usageCopyDst)
		p.bufs = append(p.bufs, p.staging)
	}
	if err != nil {
		p.destroy()
		return nil, err
	}
	var ds []dispatch
	add := func(d ...dispatch) { ds = append(ds, d...) }
	one := func(d dispatch, e error) {
		if err == nil && e != nil {
			err = e
		}
		if e == nil {
			add(d)
		}
	}
	lin := func(x js.Value, w *gpuWeight, y js.Value, m int, gelu bool) {
		if err != nil {
			return
		}
		var d []dispatch
		d, err = g.linear(x, 0, w.cols, w, y, 0, w.rows, m, gelu)
		add(d...)
	}
	// x_embed + pos_embed; c = t_emb + y_emb; SiLU(c).
	lin(p.patches, gm.xembed, h, rows, false)
	one(g.elem(opAdd, h, gm.pos, js.Undefined(), rows*H, T*H, 0, 0, 0, 0))
	lin(p.tfreq, gm.tmlp1, t0, n, false)
	one(g.elem(opSiLU, t1, t0, js.Undefined(), n*H, 0, 0, 0, 0, 0))
	lin(t1, gm.tmlp2, c, n, false)
	one(g.elem(opAdd, c, p.yemb, js.Undefined(), n*H, n*H, 0, 0, 0, 0))
	one(g.elem(opSiLU, sc, c, js.Undefined(), n*H, 0, 0, 0, 0, 0))
	hd := H / cfg.NumHeads
	for _, b := range gm.blocks {
		lin(sc, b.ada, mod, n, false)
		one(g.layerNorm(h, norm, rows, H, 1e-6, T, mod, 0, H, 6*H))
		lin(norm, b.qkv, qkv, rows, false)
		one(g.attention(attnArgs{q: qkv, kv: qkv, out: att, qStride: 3 * H, kOff: H, vOff: 2 * H, kvStride: 3 * H,
			oStride: H, seqs: n, nq: T, nk: T, heads: cfg.NumHeads, hd: hd, scale: float32(1 / math.Sqrt(float64(hd)))}))
		lin(att, b.proj, proj, rows, false)
		one(g.elem(opGated, h, proj, mod, rows*H, 0, H, T, 6*H, 2*H))
		one(g.layerNorm(h, norm, rows, H, 1e-6, T, mod, 3*H, 4*H, 6*H))
		lin(norm, b.fc1, fc1, rows, true)
		lin(fc1, b.fc2, fc2, rows, false)
		one(g.elem(opGated, h, fc2, mod, rows*H, 0, H, T, 6*H, 5*H))
	}
	lin(sc, gm.finalAda, fm, n, false)
	one(g.layerNorm(h, norm, rows, H, 1e-6, T, fm, 0, H, 2*H))
	lin(norm, gm.final, p.fo, rows, false)
	p.ds = ds
	if err != nil {
		p.destroy()
		return nil, err
	}
	g.mu.Lock()
	g.plans[key] = p
	g.mu.Unlock()
	return p, nil
}

// RunDiT implements dit.Runner: the whole forward on the GPU, one readback.
func (g *GPU) RunDiT(ctx context.Context, m *dit.Model, patches, tfreq, yemb []float32, n int) ([]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	gm, err := g.Upload(m)
	if err != nil {
		return nil, err
	}
	p, err := g.plan(m, gm, n)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g.write(p.patches, 0, f32bytes(patches))
	g.write(p.tfreq, 0, f32bytes(tfreq))
	g.write(p.yemb, 0, f32bytes(yemb))
	out := make([]float32, p.foLen)
	if err := g.submit(p.ds, p.fo, 0, out, p.staging, !p.checked); err != nil {
		return nil, err
	}
	p.checked = true
	return out, nil
}
