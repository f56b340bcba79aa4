//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"syscall/js"
	"time"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
	"github.com/ditkit/ditkit/ui"
	"github.com/ditkit/ditkit/wasm/webgpu"
)

// window.ditkit.forward / sample / gpu / bench: DiT forward passes and
// sampling from scripts, on WebGPU when an adapter exists, else (or when
// the device is lost or out of memory) on the CPU, saying so.

func optFloat(opts js.Value, key string, def float64) float64 {
	if opts.Type() == js.TypeObject {
		if v := opts.Get(key); v.Type() == js.TypeNumber {
			return v.Float()
		}
	}
	return def
}

func optBool(opts js.Value, key string) bool {
	return opts.Type() == js.TypeObject && opts.Get(key).Truthy()
}

// wasmPolicy is window.ditkit's policy for what shapes do not decide (as
// the CLI's: published values are used, guesses refused, naming the
// option that settles them). Captions: forward's inputs and sample's
// opts.caption bring the conditioning, so only a family ditkit does not
// run is refused, saying so.
var wasmPolicy = dit.Policy{Strict: true, Flags: map[string]string{"num_heads": "opts.heads"}, Fallback: "a target ({arch} or {spec})", Captions: true}

// loadNetBlob builds the model of a dropped File (dit.Load, the one loader
// the CLI and the page use); target is {arch}, {spec} or null
// (hyperparameters from the shapes; heads from opts.heads when the size is
// not a published one).
func loadNetBlob(file, target, opts js.Value, opt dit.BuildOptions) (dit.Net, error) {
	tr, err := targetRequest(target)
	if err != nil {
		return nil, err
	}
	var req spec.Request
	switch {
	case tr.Arch != "":
		req.Target, err = spec.Preset(tr.Arch)
	case len(tr.Spec) > 0:
		req.Target, err = spec.Parse(tr.Spec)
	case tr.ErrorText != "":
		err = fmt.Errorf("target: forward takes {arch} or {spec}, not an error text")
	}
	if err != nil {
		return nil, err
	}
	if h := int(optFloat(opts, "heads", 0)); h > 0 {
		req.Set = map[string]any{"num_heads": h}
	}
	ck, err := openBlob(file)
	if err != nil {
		return nil, err
	}
	// GGUF shapes writers mangle, restored where the target or detected
	// spec confirms them (as the CLI's forward does); quantized weights
	// stay quantized (the WebGPU backend dequantizes them at upload).
	report.RestoreGGUF(ck, tr)
	n, _, err := dit.Load(ck, req, wasmPolicy, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Name, err)
	}
	return n, nil
}

// optLabels reads opts.class: a number, an array of numbers or a string
// "1,11" (nil when absent).
func optLabels(opts js.Value) ([]int, error) {
	if opts.Type() != js.TypeObject {
		return nil, nil
	}
	v := opts.Get("class")
	switch v.Type() {
	case js.TypeNumber:
		return []int{v.Int()}, nil
	case js.TypeString:
		return sample.ParseLabels(v.String())
	case js.TypeObject:
		if js.Global().Get("Array").Call("isArray", v).Bool() {
			out := make([]int, v.Length())
			for i := range out {
				if v.Index(i).Type() != js.TypeNumber {
					return nil, fmt.Errorf("class: want numbers")
				}
				out[i] = v.Index(i).Int()
			}
			return out, nil
		}
	}
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	return nil, fmt.Errorf("class: want a number, an array of numbers or \"1,11\"")
}

// readInputs reads every tensor of a small safetensors/.pt File.
func readInputs(file js.Value) (map[string]*tensor.Dense, error) {
	ck, err := openBlob(file)
	if err != nil {
		return nil, err
	}
	return ck.ReadAll()
}

// runInfo says where a computation ran (attached to the result).
type runInfo struct {
	Backend string  `json:"backend"` // "webgpu" or "cpu"
	Adapter string  `json:"adapter,omitempty"`
	Note    string  `json:"note,omitempty"` // why the CPU ran when WebGPU was asked for
	Memory  string  `json:"memory,omitempty"`
	MS      float64 `json:"ms"`        // compute time (forward, or all steps)
	StepMS  float64 `json:"msPerStep"` // per forward / sampler step
	GFLOPs  float64 `json:"gflops"`    // achieved GFLOP/s
	FirstMS float64 `json:"firstMs"`   // first step incl. upload and pipeline compiles
	// The CPU backend: how many Web Workers ran it (1: this instance), on
	// which matmul kernel, holding how much (weights, Go heaps).
	Workers     int    `json:"workers"`
	Kernel      string `json:"kernel,omitempty"`
	WeightBytes int64  `json:"weightBytes,omitempty"`
	HeapBytes   int64  `json:"heapBytes,omitempty"`
}

// withBackend runs fn with the options for the backend opts.backend asks
// for: "cpu", or "webgpu" (the default) which runs whole programs on
// WebGPU when an adapter exists and falls back to the CPU (no adapter,
// device lost, out of memory, a kernel error), saying why in the note.
// opts.perOp runs every kernel on the GPU with its own readback instead.
func withBackend(ctx context.Context, opts js.Value, fn func(*dit.Options) error) (*runInfo, error) {
	return withBackendStarted(ctx, opts, nil, fn)
}

// withBackendStarted is withBackend telling started (when set) which
// backend starts, before fn runs (the page's preview says so while it
// samples).
func withBackendStarted(ctx context.Context, opts js.Value, started func(*runInfo), fn func(*dit.Options) error) (*runInfo, error) {
	_ = ctx // cancellation reaches the backend through fn's own context
	want := optString(opts, "backend", "webgpu")
	switch want {
	case "cpu", "webgpu", "gpu", "auto":
	default:
		return nil, fmt.Errorf("backend %q: want webgpu or cpu", want)
	}
	if optBool(opts, "perOp") { // every kernel on the GPU with its own readback (kernel tests)
		g, err := webgpu.Open()
		if err != nil {
			return nil, err
		}
		defer g.FreeWeights()
		return &runInfo{Backend: "webgpu", Adapter: g.Adapter, Note: "op by op"},
			webgpu.Guard(func() error { return fn(&dit.Options{Backend: g, Yield: yieldToJS}) })
	}
	be := webgpu.NewAuto(&kernels.CPU{Threads: 1, Yield: yieldToJS}, want == "cpu")
	be.SplitBytes = int64(optFloat(opts, "splitBytes", 0))
	be.MemoryBudget = int64(optFloat(opts, "gpuMemoryBytes", 0))
	be.Matmul = optString(opts, "matmul", "")
	be.Start()
	if started != nil {
		info := &runInfo{}
		info.Backend, info.Adapter, info.Note = be.Status()
		started(info)
	}
	err := fn(&dit.Options{Runner: be, Yield: yieldToJS})
	info := &runInfo{Memory: be.Memory()}
	be.Close()
	info.Backend, info.Adapter, info.Note = be.Status()
	if info.Note == "CPU forced" {
		info.Note = ""
	} else if info.Note != "" {
		info.Note += "; ran on the CPU instead"
	}
	if info.Backend == "cpu" {
		info.Workers, info.Kernel = 1, kernelName()
	}
	return info, err
}

// optWorkers reads opts.workers: absent or 1: this instance; N > 1: N Web
// Workers; "auto" (or 0, or -1): as many as the machine allows
// (navigator.hardwareConcurrency, capped by memory), returned as -1.
func optWorkers(opts js.Value) int {
	if opts.Type() != js.TypeObject {
		return 1
	}
	v := opts.Get("workers")
	switch v.Type() {
	case js.TypeNumber:
		if n := v.Int(); n >= 1 {
			return n
		}
		return -1
	case js.TypeString:
		if v.String() == "auto" {
			return -1
		}
	}
	return 1
}

// model is a model opened for the backend opts ask for: on Web Workers
// holding its shards (pool, with net the page's skeleton whose Forward
// runs there), or loaded in this instance.
type model struct {
	net     dit.Net
	pool    *workerPool
	workers int
	why     string // how the worker count was chosen, or why one instance runs
	restore string // the kernel to reinstall on close
}

// openModel opens the model of a descriptor (see loadModel): with
// opts.workers and backend "cpu" on Web Workers (falling back to this
// instance, saying why, where the page cannot run them), else here.
// opts.kernel "go" runs the portable Go tiles instead of wasm SIMD until
// close.
func openModel(desc, opts js.Value) (*model, error) {
	kernel := optString(opts, "kernel", "simd")
	m := &model{restore: "simd"}
	if kernelName() == "Go" {
		m.restore = "go"
	}
	installKernel(kernel)
	fail := func(err error) (*model, error) {
		installKernel(m.restore)
		return nil, err
	}
	if workers := optWorkers(opts); workers != 1 {
		if optString(opts, "backend", "webgpu") != "cpu" {
			return fail(fmt.Errorf("workers: the Web Workers run the CPU backend: ask for backend \"cpu\""))
		}
		if why := workerSupport(); why != "" {
			m.why = "one worker: " + why
		} else {
			net, n, why, err := workersNet(desc, max(workers, 0), kernel)
			if err != nil {
				return fail(err)
			}
			if net != nil {
				m.net, m.pool, m.workers, m.why = net, net.p, n, why
				return m, nil
			}
			m.why = "one worker: " + why
		}
	}
	net, err := loadModel(desc, dit.BuildOptions{})
	if err != nil {
		return fail(err)
	}
	m.net = net
	return m, nil
}

// run runs fn on the model's backend: on its workers (the options are
// theirs), else withBackendStarted's.
func (m *model) run(ctx context.Context, opts js.Value, started func(*runInfo), fn func(*dit.Options) error) (*runInfo, error) {
	if m.pool != nil {
		info := &runInfo{Backend: "cpu", Workers: m.workers, Kernel: m.pool.Kernel, Note: m.why}
		if started != nil {
			started(info)
		}
		err := fn(&dit.Options{})
		info.WeightBytes, info.HeapBytes = m.pool.Memory()
		info.Memory = fmt.Sprintf("%d workers: weights %s, Go heaps %s", m.workers, ui.HumanBytes(info.WeightBytes), ui.HumanBytes(info.HeapBytes))
		return info, err
	}
	info, err := withBackendStarted(ctx, opts, started, fn)
	if info != nil && info.Backend == "cpu" {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		info.WeightBytes, info.HeapBytes = m.net.WeightBytes(), int64(ms.HeapSys)
		if m.why != "" {
			info.Note = strings.TrimPrefix(info.Note+"; "+m.why, "; ")
		}
	}
	return info, err
}

// close stops the workers and reinstalls the kernel.
func (m *model) close() {
	if m.pool != nil {
		m.pool.Close()
	}
	installKernel(m.restore)
}

// fileModel is the model descriptor of a dropped file.
func fileModel(file, target, opts js.Value) js.Value {
	d := js.Global().Get("Object").New()
	d.Set("kind", "file")
	d.Set("file", file)
	d.Set("target", target)
	d.Set("heads", optFloat(opts, "heads", 0))
	return d
}

// resultBlob writes float tensors as a safetensors Blob with the run info
// attached as blob.ditkit.
func resultBlob(name string, ts []namedF32, meta map[string]string, info *runInfo) (any, error) {
	srcs := make([]loader.Source, len(ts))
	for i, t := range ts {
		b := make([]byte, len(t.data)*4)
		if err := tensor.EncodeFloat32(tensor.F32, t.data, b); err != nil {
			return nil, err
		}
		srcs[i] = loader.BytesSource(t.name, tensor.F32, t.shape, b)
	}
	sink := newBlobSink(name, false)
	if err := loader.WriteSafetensors(sink, srcs, meta); err != nil {
		return nil, err
	}
	if _, err := sink.Close(); err != nil {
		return nil, err
	}
	v, err := toJS(info)
	if err != nil {
		return nil, err
	}
	sink.blob.Set("ditkit", v)
	return sink.blob, nil
}

type namedF32 struct {
	name  string
	shape []int
	data  []float32
}

// forwardAPI is window.ditkit.forward(file, target, inputsFile, {backend,
// cfgScale, heads, gpuMemoryBytes, splitBytes}): model(x, t, y) (or
// forward_with_cfg) as `ditkit forward`, returning a safetensors Blob
// holding out; blob.ditkit says which backend ran, the adapter, the time
// and any fallback.
func forwardAPI(file, target, inputs, opts js.Value) (any, error) {
	m, err := openModel(fileModel(file, target, opts), opts)
	if err != nil {
		return nil, err
	}
	defer m.close()
	n := m.net
	in, err := readInputs(inputs)
	if err != nil {
		return nil, err
	}
	fin, err := dit.ReadInputs(n, in, "inputs")
	if err != nil {
		return nil, err
	}
	cfgScale := float32(optFloat(opts, "cfgScale", 0))
	ctx := context.Background()
	var out []float32
	var shape []int
	var dur time.Duration
	info, err := m.run(ctx, opts, nil, func(o *dit.Options) error {
		start := time.Now()
		var err error
		if cfgScale != 0 {
			out, shape, err = dit.ForwardWithCFG(ctx, n, fin.X, fin.Shape, fin.T, fin.Cond, cfgScale, o)
		} else {
			out, shape, err = n.Forward(ctx, fin.X, fin.Shape, fin.T, fin.Cond, o)
		}
		dur = time.Since(start)
		return err
	})
	if err != nil {
		return nil, err
	}
	info.MS = float64(dur.Microseconds()) / 1000
	info.StepMS, info.FirstMS = info.MS, info.MS
	info.GFLOPs = dit.FLOPsAt(n, fin.Shape) / dur.Seconds() / 1e9
	return resultBlob("forward.safetensors", []namedF32{{"out", shape, out}},
		map[string]string{"producer": "ditkit forward (page)", "backend": info.Backend}, info)
}

// sampleAPI is window.ditkit.sample(file, target, noiseFile, {backend,
// steps, sampler, eta, cfgScale, class, caption, heads}): `ditkit sample
// --noise` in the page (the one sampling loop). noiseFile holds x (or z)
// and step_noise (as the sampler references) and optionally y: class
// labels, or caption embeddings with mask, img_hw, aspect_ratio (PixArt);
// class is a number, an array or "1,11" (default: the file's y); caption
// a File of caption embeddings (default: the file's, else the model's
// null caption). The Blob holds out and x_steps.
// The sampler defaults to the family's (sample.DefaultsFor): for STDiT3
// the rectified flow, whose options are flowRequest's.
func sampleAPI(file, target, noiseFile, opts js.Value) (any, error) {
	m, err := openModel(fileModel(file, target, opts), opts)
	if err != nil {
		return nil, err
	}
	defer m.close()
	n := m.net
	in, err := readInputs(noiseFile)
	if err != nil {
		return nil, err
	}
	def := sample.DefaultsFor(n.Spec().Family)
	sampler := optString(opts, "sampler", def.Sampler)
	var req sample.Request
	if sampler == "rflow" {
		if req, err = flowRequest(in, opts, def); err != nil {
			return nil, err
		}
	} else {
		noise, fileY, fileSteps, err := sample.NoiseFile(in, "noise file")
		if err != nil {
			return nil, err
		}
		labels, err := optLabels(opts)
		if err != nil {
			return nil, err
		}
		req = sample.Request{Steps: int(optFloat(opts, "steps", float64(max(fileSteps, 1)))), Sampler: sampler,
			Eta: optFloat(opts, "eta", 0), CFGScale: optFloat(opts, "cfgScale", def.CFGScale), Labels: labels, FileLabels: fileY, Noise: noise}
		if req.Caption, err = optCaption(opts); err != nil { // else the noise file's caption (PixArt's references hold one)
			return nil, err
		}
	}
	ctx := context.Background()
	var res *sample.Result
	var xSteps []float32
	var first, total time.Duration
	info, err := m.run(ctx, opts, nil, func(o *dit.Options) error {
		xSteps = xSteps[:0]
		start := time.Now()
		first = 0
		req.Options = o
		req.Step = func(i, _, _ int, xs []float32) {
			if i == 0 {
				first = time.Since(start)
			}
			xSteps = append(xSteps, xs...)
		}
		var err error
		res, err = sample.Run(ctx, n, req)
		total = time.Since(start)
		return err
	})
	if err != nil {
		return nil, err
	}
	info.MS = float64(total.Microseconds()) / 1000
	info.FirstMS = float64(first.Microseconds()) / 1000
	info.StepMS = info.MS / float64(res.Steps)
	info.GFLOPs = dit.FLOPsAt(n, append([]int{res.ModelBatch}, res.Shape[1:]...)) * float64(res.Steps) / total.Seconds() / 1e9
	ts := []namedF32{
		{"out", res.Shape, res.Out},
		{"x_steps", append([]int{res.Steps}, res.Shape...), xSteps},
	}
	if res.Timesteps != nil {
		ts = append(ts, flowTensors(req, res, xSteps)...)
	}
	return resultBlob("sample.safetensors", ts, map[string]string{"producer": "ditkit sample (page)", "sampler": sampler, "backend": info.Backend}, info)
}

// gpuAPI is window.ditkit.gpu(): whether WebGPU is usable here, the
// adapter and limits, or why not.
func gpuAPI() (any, error) {
	g, err := webgpu.Open()
	if err != nil {
		return toJS(map[string]any{"available": false, "backend": "cpu", "reason": err.Error() + "; the CPU runs instead"})
	}
	return toJS(map[string]any{"available": true, "backend": "webgpu", "adapter": g.Adapter, "fallbackAdapter": g.Fallback, "limits": g.Limits()})
}

// benchAPI is window.ditkit.bench({preset, depth, dtype, backend, steps,
// batch, latent, workers, kernel, matmul}): forward passes of a randomly
// initialised model with a preset's shapes — any family that runs (DiT,
// PixArt, STDiT, STDiT3, Latte; default DiT-XL_2_256), batch 2 as with
// CFG, the caption models on their own null caption (its full token
// count), Open-Sora's fps/size micro-conditions from the latent. latent
// (one sample's shape, e.g. [4, 16, 30, 53]: 240p × 16 frames through
// Open-Sora's VAE) replaces the preset's size where the family takes any.
// The first pass (weight upload, pipeline compiles) is timed apart from
// the others; with steps 1 the one pass is the step. The result holds the
// memory too: weightBytes (the weights held, summed over the workers),
// fullWeightBytes (the same at the preset's own depth), heapBytes (the Go
// heap, or the workers' heaps), gpuWeightBytes and gpuActivationBytes
// (what the program put on the GPU, when WebGPU ran it).
func benchAPI(opts js.Value) (any, error) {
	preset := optString(opts, "preset", "DiT-XL_2_256")
	sp, err := spec.Preset(preset)
	if err != nil {
		return nil, err
	}
	full := sp.Int("depth")
	if d := int(optFloat(opts, "depth", 0)); d > 0 {
		if sp, err = sp.With("depth", d); err != nil {
			return nil, err
		}
	}
	desc := js.Global().Get("Object").New()
	desc.Set("kind", "random")
	desc.Set("preset", preset)
	desc.Set("depth", optFloat(opts, "depth", 0))
	desc.Set("dtype", optString(opts, "dtype", "bf16"))
	_, dt, err := benchSpec(desc)
	if err != nil {
		return nil, err
	}
	lat, err := optShape(opts, "latent")
	if err != nil {
		return nil, err
	}
	m, err := openModel(desc, opts)
	if err != nil {
		return nil, err
	}
	defer m.close()
	n := m.net
	batch := int(optFloat(opts, "batch", 2))
	steps := max(1, int(optFloat(opts, "steps", 2)))
	x, shape, t, c := sample.BenchInput(n, batch, lat)
	ctx := context.Background()
	var first, rest time.Duration
	var gpu programBytes
	info, err := m.run(ctx, opts, nil, func(o *dit.Options) error {
		first, rest = 0, 0
		if o.Runner != nil {
			gpu.Runner = o.Runner
			o.Runner = &gpu
		}
		for i := 0; i < steps; i++ {
			start := time.Now()
			if _, _, err := n.Forward(ctx, x, shape, t, c, o); err != nil {
				return err
			}
			if i == 0 {
				first = time.Since(start)
			} else {
				rest += time.Since(start)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	per := first
	if steps > 1 {
		per = rest / time.Duration(steps-1)
	}
	flops := dit.FLOPsAt(n, shape)
	info.FirstMS = float64(first.Microseconds()) / 1000
	info.StepMS = float64(per.Microseconds()) / 1000
	info.MS = float64((first + rest).Microseconds()) / 1000
	info.GFLOPs = flops / per.Seconds() / 1e9
	// The weights of the blocks not built: stored bytes at the preset's
	// depth less those at this depth (the net holds them as stored).
	fullDesc := js.Global().Get("Object").Call("assign", js.Global().Get("Object").New(), desc)
	fullDesc.Set("depth", 0)
	weights := info.WeightBytes
	if weights == 0 {
		weights = n.WeightBytes()
	}
	res := map[string]any{"info": info, "preset": preset, "family": sp.Family, "depth": sp.Int("depth"), "fullDepth": full,
		"batch": batch, "latent": shape[1:], "steps": steps, "dtype": dt.String(), "gflopPerStep": flops / 1e9, "gflops": info.GFLOPs,
		"workers": info.Workers, "weightBytes": weights, "fullWeightBytes": weights + modelBytes(fullDesc) - modelBytes(desc),
		"heapBytes": info.HeapBytes}
	if info.Backend == "webgpu" {
		res["gpuWeightBytes"], res["gpuActivationBytes"] = gpu.weights, gpu.activations
	}
	return toJS(res)
}

// programBytes runs programs on Runner, noting what the last one puts on
// the device (dit.Program.Bytes).
type programBytes struct {
	dit.Runner
	weights, activations int64
}

func (r *programBytes) Run(ctx context.Context, p *dit.Program, f *dit.Feed) ([]float32, error) {
	r.weights, r.activations = p.Bytes()
	return r.Runner.Run(ctx, p, f)
}

// optShape reads opts[key], an array of positive integers (nil when
// absent).
func optShape(opts js.Value, key string) ([]int, error) {
	if opts.Type() != js.TypeObject {
		return nil, nil
	}
	v := opts.Get(key)
	if v.IsUndefined() || v.IsNull() {
		return nil, nil
	}
	if !js.Global().Get("Array").Call("isArray", v).Bool() || v.Length() == 0 {
		return nil, fmt.Errorf("%s: want an array of positive integers", key)
	}
	out := make([]int, v.Length())
	for i := range out {
		e := v.Index(i)
		if e.Type() != js.TypeNumber || e.Float() < 1 || e.Float() != float64(e.Int()) {
			return nil, fmt.Errorf("%s[%d]: want a positive integer", key, i)
		}
		out[i] = e.Int()
	}
	return out, nil
}

// installComputeAPI adds forward, sample, gpu and bench to window.ditkit.
func installComputeAPI(api js.Value) {
	api.Set("forward", js.FuncOf(func(this js.Value, args []js.Value) any {
		file, target, inputs, opts := arg(args, 0), arg(args, 1), arg(args, 2), arg(args, 3)
		return promise(func() (any, error) { return forwardAPI(file, target, inputs, opts) })
	}))
	api.Set("sample", js.FuncOf(func(this js.Value, args []js.Value) any {
		file, target, noise, opts := arg(args, 0), arg(args, 1), arg(args, 2), arg(args, 3)
		return promise(func() (any, error) { return sampleAPI(file, target, noise, opts) })
	}))
	api.Set("gpu", js.FuncOf(func(this js.Value, args []js.Value) any {
		return promise(gpuAPI)
	}))
	api.Set("bench", js.FuncOf(func(this js.Value, args []js.Value) any {
		opts := arg(args, 0)
		return promise(func() (any, error) { return benchAPI(opts) })
	}))
}
