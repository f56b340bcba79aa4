//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall/js"
	"time"
	"unsafe"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/ui"
)

// The CPU backend on every core: N Web Workers (ditkit-worker.js), each
// its own Go wasm instance holding one shard of the weights
// (dit.BuildOptions.Shard), run the same forward pass; every Linear and
// attention op computes its worker's columns and heads, and the workers
// all-gather them through a SharedArrayBuffer (dit.Sharded). The page's
// own instance keeps a skeleton of the model (shapes, tables, biases: no
// Linear weights) whose Forward posts the inputs to the workers and takes
// worker 0's output (workerNet). Results are identical to one worker's.

// The SharedArrayBuffer: an Int32 header (arrivals, generation, abort),
// then two halves that the all-gathers alternate between, so one barrier
// per exchange suffices.
const (
	sabHeader = 64
	sabHalf   = 16 << 20
)

// workerOverhead is what a worker needs beside its weights: the Go
// runtime, the module, a forward's activations and the exchange copies.
const workerOverhead = 192 << 20

// sabExchange is a dit.Exchange over the SharedArrayBuffer.
type sabExchange struct {
	rank, size int
	atomics    js.Value
	hdr        js.Value // Int32Array header
	u8         js.Value // Uint8Array over the whole buffer
	half       int
	scratch    []float32
}

func newSABExchange(sab js.Value, rank, size int) *sabExchange {
	return &sabExchange{rank: rank, size: size, atomics: js.Global().Get("Atomics"),
		hdr: js.Global().Get("Int32Array").New(sab, 0, sabHeader/4), u8: js.Global().Get("Uint8Array").New(sab)}
}

var errAborted = fmt.Errorf("another worker failed or the run was cancelled: %w", dit.ErrShardAborted)

// barrier waits until every worker arrived (or the run is aborted).
func (x *sabExchange) barrier() error {
	a := x.atomics
	gen := a.Call("load", x.hdr, 1).Int()
	if a.Call("load", x.hdr, 2).Int() != 0 {
		return errAborted
	}
	if a.Call("add", x.hdr, 0, 1).Int() == x.size-1 {
		a.Call("store", x.hdr, 0, 0)
		a.Call("add", x.hdr, 1, 1)
		a.Call("notify", x.hdr, 1)
		return nil
	}
	for {
		a.Call("wait", x.hdr, 1, gen, 500)
		if a.Call("load", x.hdr, 1).Int() != gen {
			return nil
		}
		if a.Call("load", x.hdr, 2).Int() != 0 {
			return errAborted
		}
	}
}

func abortRun(atomics, hdr js.Value) {
	atomics.Call("store", hdr, 2, 1)
	atomics.Call("notify", hdr, 1)
}

func f32bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// AllGather implements dit.Exchange, in chunks of rows that fit a half.
func (x *sabExchange) AllGather(buf []float32, rows, stride int, bounds []int) error {
	total := bounds[x.size] - bounds[0]
	if total <= 0 || rows <= 0 {
		return nil
	}
	chunk := sabHalf / 4 / total
	if chunk == 0 {
		return fmt.Errorf("dit workers: a row of %d values does not fit the exchange buffer", total)
	}
	for r0 := 0; r0 < rows; r0 += chunk {
		nr := min(chunk, rows-r0)
		base := sabHeader + x.half*sabHalf
		x.half ^= 1
		if w := bounds[x.rank+1] - bounds[x.rank]; w > 0 {
			s := grow(&x.scratch, nr*w)
			for r := 0; r < nr; r++ {
				o := (r0+r)*stride + bounds[x.rank]
				copy(s[r*w:(r+1)*w], buf[o:o+w])
			}
			off := base + 4*nr*(bounds[x.rank]-bounds[0])
			js.CopyBytesToJS(x.u8.Call("subarray", off, off+4*len(s)), f32bytes(s))
		}
		if err := x.barrier(); err != nil {
			return err
		}
		for q := 0; q < x.size; q++ {
			w := bounds[q+1] - bounds[q]
			if q == x.rank || w == 0 {
				continue
			}
			s := grow(&x.scratch, nr*w)
			off := base + 4*nr*(bounds[q]-bounds[0])
			js.CopyBytesToGo(f32bytes(s), x.u8.Call("subarray", off, off+4*len(s)))
			for r := 0; r < nr; r++ {
				o := (r0+r)*stride + bounds[q]
				copy(buf[o:o+w], s[r*w:(r+1)*w])
			}
		}
	}
	return nil
}

func grow(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	return (*b)[:n]
}

// --- the coordinator (the page's instance) ------------------------------

// workerPool is N started workers holding one model.
type workerPool struct {
	n       int
	ws      []js.Value
	fns     []js.Func
	msgs    chan workerMsg
	sab     js.Value
	hdr     js.Value
	atomics js.Value

	mu     sync.Mutex // one run at a time
	nextID int
	stats  []workerStats
	Kernel string
}

type workerMsg struct {
	rank int
	v    js.Value
}

type workerStats struct {
	WeightBytes int64 `json:"weightBytes"`
	HeapBytes   int64 `json:"heapBytes"`
}

// workerSupport says why the page cannot run workers here ("" when it can).
func workerSupport() string {
	g := js.Global()
	switch {
	case g.Get("Worker").Type() != js.TypeFunction:
		return "this browser has no Web Workers"
	case g.Get("SharedArrayBuffer").Type() != js.TypeFunction || !g.Get("crossOriginIsolated").Truthy():
		return "the page is not cross-origin isolated (no SharedArrayBuffer)"
	case g.Get("__ditkitModule").Type() != js.TypeObject:
		return "the page was started without its module handle"
	}
	return ""
}

// workerCount is the number of workers to start for a model of
// weightBytes: want (> 0), or navigator.hardwareConcurrency, capped by the
// memory (navigator.deviceMemory where the browser tells it: half of it
// for the weights and every worker's overhead), and at least enough
// workers that each shard fits one instance.
func workerCount(want int, weightBytes int64) (n int, why string) {
	nav := js.Global().Get("navigator")
	cores := 1
	if v := nav.Get("hardwareConcurrency"); v.Type() == js.TypeNumber {
		cores = max(1, v.Int())
	}
	n = want
	if n <= 0 {
		n, why = cores, fmt.Sprintf("%d cores", cores)
	}
	n = min(n, 16)
	if v := nav.Get("deviceMemory"); want <= 0 && v.Type() == js.TypeNumber && v.Float() > 0 {
		budget := int64(v.Float()*(1<<30)) / 2
		for n > 1 && weightBytes+int64(n)*workerOverhead > budget {
			n--
			why = fmt.Sprintf("capped by memory: %s of %.0f GB device memory", ui.HumanBytes(budget), v.Float())
		}
	}
	for n < 16 && weightBytes/int64(n)+workerOverhead > int64(ui.MemoryLimit) {
		n++
		why = "a shard must fit one wasm instance"
	}
	return n, why
}

// startPool starts n workers and loads model (a descriptor the workers
// understand: {kind: "random", …} or {kind: "file", …}) into them.
func startPool(n int, model js.Value, kernel string) (*workerPool, error) {
	g := js.Global()
	p := &workerPool{n: n, msgs: make(chan workerMsg, 4*n), atomics: g.Get("Atomics")}
	p.sab = g.Get("SharedArrayBuffer").New(sabHeader + 2*sabHalf)
	p.hdr = g.Get("Int32Array").New(p.sab, 0, sabHeader/4)
	module := g.Get("__ditkitModule")
	for r := 0; r < n; r++ {
		w := g.Get("Worker").New("ditkit-worker.js")
		rank := r
		fn := js.FuncOf(func(this js.Value, args []js.Value) any {
			p.msgs <- workerMsg{rank, args[0].Get("data")}
			return nil
		})
		efn := js.FuncOf(func(this js.Value, args []js.Value) any {
			msg := "the worker script failed"
			if m := args[0].Get("message"); m.Type() == js.TypeString {
				msg = m.String()
			}
			o := g.Get("Object").New()
			o.Set("type", "error")
			o.Set("message", msg)
			p.msgs <- workerMsg{rank, o}
			return nil
		})
		w.Set("onmessage", fn)
		w.Set("onerror", efn)
		p.ws = append(p.ws, w)
		p.fns = append(p.fns, fn, efn)
		boot := g.Get("Object").New()
		boot.Set("type", "boot")
		boot.Set("module", module)
		w.Call("postMessage", boot)
		init := g.Get("Object").New()
		init.Set("type", "init")
		init.Set("rank", rank)
		init.Set("count", n)
		init.Set("sab", p.sab)
		init.Set("model", model)
		init.Set("kernel", kernel)
		w.Call("postMessage", init)
	}
	p.stats = make([]workerStats, n)
	for ready := 0; ready < n; {
		m := <-p.msgs
		switch m.v.Get("type").String() {
		case "ready":
			p.stats[m.rank] = readStats(m.v)
			p.Kernel = m.v.Get("kernel").String()
			ready++
		case "error":
			p.Close()
			return nil, fmt.Errorf("worker %d of %d: %s", m.rank, n, m.v.Get("message").String())
		}
	}
	return p, nil
}

func readStats(v js.Value) workerStats {
	return workerStats{WeightBytes: int64(v.Get("weightBytes").Float()), HeapBytes: int64(v.Get("heapBytes").Float())}
}

// Close terminates the workers.
func (p *workerPool) Close() {
	for _, w := range p.ws {
		w.Call("terminate")
	}
	for _, f := range p.fns {
		f.Release()
	}
	p.ws, p.fns = nil, nil
}

// Memory totals the workers' weights and heaps.
func (p *workerPool) Memory() (weights, heaps int64) {
	for _, s := range p.stats {
		weights += s.WeightBytes
		heaps += s.HeapBytes
	}
	return weights, heaps
}

func f32Array(v []float32) js.Value {
	a := js.Global().Get("Float32Array").New(len(v))
	js.CopyBytesToJS(js.Global().Get("Uint8Array").New(a.Get("buffer")), f32bytes(v))
	return a
}

func intsArray(v []int) js.Value {
	a := js.Global().Get("Array").New(len(v))
	for i, x := range v {
		a.SetIndex(i, x)
	}
	return a
}

// forward runs one forward pass on the workers.
func (p *workerPool) forward(ctx context.Context, x []float32, shape []int, t []float64, c *dit.Cond) ([]float32, []int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ws == nil {
		return nil, nil, errors.New("dit workers: closed")
	}
	for i := 0; i < 3; i++ {
		p.atomics.Call("store", p.hdr, i, 0)
	}
	p.nextID++
	id := p.nextID
	g := js.Global()
	msg := g.Get("Object").New()
	msg.Set("type", "run")
	msg.Set("id", id)
	msg.Set("x", f32Array(x))
	msg.Set("shape", intsArray(shape))
	ts := g.Get("Array").New(len(t))
	for i, v := range t {
		ts.SetIndex(i, v)
	}
	msg.Set("t", ts)
	if c != nil {
		// The caption (large) as a Float32Array, the rest of the
		// conditioning (labels, masks, micro-conditions: whatever Cond
		// holds) as JSON.
		if c.Caption != nil {
			msg.Set("caption", f32Array(c.Caption))
		}
		rest := *c
		rest.Caption = nil
		b, err := json.Marshal(&rest)
		if err != nil {
			return nil, nil, err
		}
		msg.Set("cond", string(b))
	}
	for _, w := range p.ws {
		w.Call("postMessage", msg)
	}
	stop := context.AfterFunc(ctx, func() { abortRun(p.atomics, p.hdr) })
	defer stop()
	var out []float32
	var oshape []int
	var firstErr error
	for done := 0; done < p.n; {
		m := <-p.msgs
		mid := -1
		if v := m.v.Get("id"); v.Type() == js.TypeNumber {
			mid = v.Int()
		}
		if mid != id && m.v.Get("type").String() != "error" {
			continue
		}
		switch m.v.Get("type").String() {
		case "result":
			o := m.v.Get("out")
			out = make([]float32, o.Length())
			js.CopyBytesToGo(f32bytes(out), g.Get("Uint8Array").New(o.Get("buffer")))
			sh := m.v.Get("shape")
			oshape = make([]int, sh.Length())
			for i := range oshape {
				oshape[i] = sh.Index(i).Int()
			}
			p.stats[m.rank] = readStats(m.v)
			done++
		case "done":
			p.stats[m.rank] = readStats(m.v)
			done++
		case "error":
			if firstErr == nil {
				firstErr = fmt.Errorf("worker %d of %d: %s", m.rank, p.n, m.v.Get("message").String())
				abortRun(p.atomics, p.hdr)
			}
			if mid == id {
				done++
			} else { // the worker died: no more replies from it
				done = p.n
			}
		}
	}
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return out, oshape, nil
}

// workerNet is a model whose forward passes run on a pool: the page's
// skeleton answers everything else.
type workerNet struct {
	dit.Net
	p *workerPool
}

// Forward implements dit.Net on the workers (opt is theirs: ignored).
func (w *workerNet) Forward(ctx context.Context, x []float32, shape []int, t []float64, c *dit.Cond, opt *dit.Options) ([]float32, []int, error) {
	return w.p.forward(ctx, x, shape, t, c)
}

// The optional methods of a built Net (dit.FLOPsAt, ForwardWithCFG's
// CFGCond, dit.ChannelAxis), answered by the skeleton as the net itself
// would.

// FLOPsAt is dit.FLOPsAt of the skeleton.
func (w *workerNet) FLOPsAt(shape []int) float64 { return dit.FLOPsAt(w.Net, shape) }

// ChannelAxis is dit.ChannelAxis of the skeleton.
func (w *workerNet) ChannelAxis() int { return dit.ChannelAxis(w.Net) }

// CFGCond is the skeleton's CFGCond, or c when it has none.
func (w *workerNet) CFGCond(c *dit.Cond) *dit.Cond {
	if q, ok := w.Net.(interface{ CFGCond(*dit.Cond) *dit.Cond }); ok {
		return q.CFGCond(c)
	}
	return c
}

// --- a worker ------------------------------------------------------------

// inWorker reports whether this instance runs in a Web Worker.
func inWorker() bool {
	return js.Global().Get("document").IsUndefined() && js.Global().Get("__ditkitWorkerReady").Type() == js.TypeFunction
}

type worker struct {
	rank, count int
	net         dit.Net
	x           *sabExchange
	cpu         *kernels.CPU
}

// workerMain serves the page's messages (never returns).
func workerMain() {
	wk := &worker{}
	queue := make(chan js.Value, 1024) // messages run one at a time, in order
	handle := js.FuncOf(func(this js.Value, args []js.Value) any {
		queue <- args[0]
		return nil
	})
	js.Global().Call("__ditkitWorkerReady", handle)
	for msg := range queue {
		wk.serve(msg)
	}
}

func (wk *worker) reply(fields map[string]any, transfer ...any) {
	o := js.Global().Get("Object").New()
	for k, v := range fields {
		o.Set(k, v)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	o.Set("heapBytes", float64(ms.HeapSys))
	if wk.net != nil {
		o.Set("weightBytes", float64(wk.net.WeightBytes()))
	}
	if len(transfer) > 0 {
		js.Global().Call("postMessage", o, js.ValueOf(transfer))
		return
	}
	js.Global().Call("postMessage", o)
}

func (wk *worker) serve(msg js.Value) {
	typ := msg.Get("type").String()
	var id any = 0
	if v := msg.Get("id"); v.Type() == js.TypeNumber {
		id = v.Int()
	}
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error: %v", p)
			}
		}()
		switch typ {
		case "init":
			return wk.init(msg)
		case "run":
			return wk.run(msg, id)
		}
		return fmt.Errorf("unknown message %q", typ)
	}()
	if err != nil {
		if wk.x != nil {
			abortRun(wk.x.atomics, wk.x.hdr)
		}
		wk.reply(map[string]any{"type": "error", "id": id, "message": ui.CLIError(err)})
	}
}

func (wk *worker) init(msg js.Value) error {
	wk.rank, wk.count = msg.Get("rank").Int(), msg.Get("count").Int()
	kernel := installKernel(msg.Get("kernel").String())
	shard := &dit.Shard{Index: wk.rank, Count: wk.count}
	net, err := loadModel(msg.Get("model"), dit.BuildOptions{Shard: shard})
	if err != nil {
		return err
	}
	wk.net = net
	wk.x = newSABExchange(msg.Get("sab"), wk.rank, wk.count)
	wk.cpu = &kernels.CPU{Threads: 1}
	runtime.GC()
	wk.reply(map[string]any{"type": "ready", "kernel": kernel})
	return nil
}

func (wk *worker) run(msg js.Value, id any) error {
	if wk.net == nil {
		return errors.New("run before init")
	}
	readF32 := func(v js.Value) []float32 {
		if v.Type() != js.TypeObject {
			return nil
		}
		out := make([]float32, v.Length())
		js.CopyBytesToGo(f32bytes(out), js.Global().Get("Uint8Array").New(v.Get("buffer"), v.Get("byteOffset"), v.Get("byteLength")))
		return out
	}
	readInts := func(v js.Value) []int {
		if v.Type() != js.TypeObject {
			return nil
		}
		out := make([]int, v.Length())
		for i := range out {
			out[i] = v.Index(i).Int()
		}
		return out
	}
	x, shape := readF32(msg.Get("x")), readInts(msg.Get("shape"))
	tv := msg.Get("t")
	t := make([]float64, tv.Length())
	for i := range t {
		t[i] = tv.Index(i).Float()
	}
	var c *dit.Cond
	if v := msg.Get("cond"); v.Type() == js.TypeString {
		c = &dit.Cond{}
		if err := json.Unmarshal([]byte(v.String()), c); err != nil {
			return err
		}
		c.Caption = readF32(msg.Get("caption"))
	}
	be := &dit.Sharded{CPU: wk.cpu, Shard: dit.Shard{Index: wk.rank, Count: wk.count}, X: wk.x}
	start := time.Now()
	var out []float32
	var oshape []int
	err := dit.RunSharded(func() error {
		var err error
		out, oshape, err = wk.net.Forward(context.Background(), x, shape, t, c, &dit.Options{Backend: be})
		return err
	})
	if err != nil {
		return err
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	if wk.rank != 0 {
		wk.reply(map[string]any{"type": "done", "id": id, "ms": ms})
		return nil
	}
	o := f32Array(out)
	wk.reply(map[string]any{"type": "result", "id": id, "ms": ms, "out": o, "shape": intsArray(oshape)}, o.Get("buffer"))
	return nil
}

// installKernel sets the matmul tiles ("go": the portable Go tiles, else
// the wasm SIMD kernel where the engine has it) and describes them.
func installKernel(kernel string) string {
	if kernel == "go" {
		kernels.SetAccel(nil)
		return "Go"
	}
	if d := simdKernel(); d != "" {
		return d
	}
	return "Go"
}

// loadModel builds a model from a descriptor: {kind: "random", preset,
// depth, dtype, seed} (benchmarks) or {kind: "file", file, target, heads}.
func loadModel(d js.Value, opt dit.BuildOptions) (dit.Net, error) {
	switch d.Get("kind").String() {
	case "random":
		sp, dt, err := benchSpec(d)
		if err != nil {
			return nil, err
		}
		seed := uint64(1)
		if v := d.Get("seed"); v.Type() == js.TypeNumber {
			seed = uint64(v.Int())
		}
		src, err := dit.RandomWeights(sp, dt, seed)
		if err != nil {
			return nil, err
		}
		return dit.Build(src, &spec.Resolution{Spec: sp}, opt)
	case "file":
		return loadNetBlob(d.Get("file"), d.Get("target"), d, opt)
	}
	return nil, fmt.Errorf("unknown model descriptor %q", d.Get("kind").String())
}

// benchSpec reads a benchmark model descriptor's preset, depth and dtype.
func benchSpec(d js.Value) (*spec.Spec, tensor.DType, error) {
	sp, err := spec.Preset(optString(d, "preset", "DiT-XL_2_256"))
	if err != nil {
		return nil, 0, err
	}
	if depth := int(optFloat(d, "depth", 0)); depth > 0 {
		if sp, err = sp.With("depth", depth); err != nil {
			return nil, 0, err
		}
	}
	dt := tensor.BF16
	switch optString(d, "dtype", "bf16") {
	case "fp32", "f32":
		dt = tensor.F32
	case "fp16", "f16":
		dt = tensor.F16
	}
	return sp, dt, nil
}

// workersNet starts a pool for model (a descriptor) and returns the net
// whose forward passes run there, with the page's skeleton of it; with
// want 0 (as many as the machine allows) and one worker allowed, it
// returns no net and why.
func workersNet(model js.Value, want int, kernel string) (*workerNet, int, string, error) {
	n, why := workerCount(want, modelBytes(model))
	if n == 1 && want != 1 {
		return nil, 1, why, nil
	}
	skel, err := loadModel(model, dit.BuildOptions{Skeleton: true})
	if err != nil {
		return nil, 0, "", err
	}
	p, err := startPool(n, model, kernel)
	if err != nil {
		return nil, 0, "", err
	}
	return &workerNet{Net: skel, p: p}, n, why, nil
}

// modelBytes is what a descriptor's weights take as stored (0 unknown).
func modelBytes(d js.Value) int64 {
	var infos []tensor.Info
	switch d.Get("kind").String() {
	case "random":
		sp, dt, err := benchSpec(d)
		if err != nil {
			return 0
		}
		src, err := dit.RandomWeights(sp, dt, 1)
		if err != nil {
			return 0
		}
		infos = src.Infos()
	case "file":
		ck, err := openBlob(d.Get("file"))
		if err != nil {
			return 0
		}
		infos = ck.Infos()
	}
	var n int64
	for _, in := range infos {
		b, _ := tensor.NBytes(in.DType, in.Shape)
		n += b
	}
	return n
}
