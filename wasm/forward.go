//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"github.com/ditkit/ditkit/core/diffusion"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
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

// loadDiTBlob reads a DiT from a dropped File; target is {arch}, {spec} or
// null (hyperparameters from the shapes; heads from opts.heads when the
// size is not a registered one).
func loadDiTBlob(file, target js.Value, heads int) (*dit.Model, error) {
	req, err := targetRequest(target)
	if err != nil {
		return nil, err
	}
	ck, err := openBlob(file)
	if err != nil {
		return nil, err
	}
	byName := map[string]*loader.Tensor{}
	var infos []tensor.Info
	for _, w := range ck.Weights() {
		name := strings.TrimPrefix(w.Name, "module.")
		byName[name] = w
		infos = append(infos, tensor.Info{Name: name, DType: w.DType, Shape: w.Shape})
	}
	var sp *spec.Spec
	switch {
	case req.Arch != "":
		sp, err = spec.Preset(req.Arch)
	case len(req.Spec) > 0:
		sp, err = spec.Parse(req.Spec)
	case req.ErrorText != "":
		err = fmt.Errorf("target: forward takes {arch} or {spec}, not an error text")
	}
	if err != nil {
		return nil, err
	}
	var cfg dit.Config
	if sp != nil {
		if sp.Family != "dit" {
			return nil, fmt.Errorf("family %q: forward in the page runs class-conditional DiT", sp.Family)
		}
		cfg = dit.Config{
			InputSize: sp.Int("input_size"), PatchSize: sp.Int("patch_size"), InChannels: sp.Int("in_channels"),
			HiddenSize: sp.Int("hidden_size"), Depth: sp.Int("depth"), NumHeads: sp.Int("num_heads"),
			NumClasses: sp.Int("num_classes"), LearnSigma: sp.Bool("learn_sigma"), MLPRatio: sp.Float("mlp_ratio"),
			NullClass: sp.Float("class_dropout_prob") > 0,
		}
	} else if cfg, err = dit.ConfigFromShapes(infos, heads); err != nil {
		return nil, err
	}
	if cfg.InputSize == 0 {
		return nil, fmt.Errorf("%s has no pos_embed: give a target ({arch} or {spec}) for the input size", ck.Name)
	}
	return dit.Load(cfg, func(name string) (*tensor.Dense, error) {
		w := byName[name]
		if w == nil {
			return nil, nil
		}
		return ck.ReadDense(w)
	})
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
}

// withBackend runs fn with the options for the backend opts.backend asks
// for: "cpu", or "webgpu" (the default) which runs whole programs on
// WebGPU when an adapter exists and falls back to the CPU (no adapter,
// device lost, out of memory, a kernel error), saying why in the note.
// opts.perOp runs every kernel on the GPU with its own readback instead.
func withBackend(ctx context.Context, opts js.Value, fn func(*dit.Options) error) (*runInfo, error) {
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
	err := fn(&dit.Options{Runner: be, Yield: yieldToJS})
	info := &runInfo{Memory: be.Memory()}
	be.Close()
	info.Backend, info.Adapter, info.Note = be.Status()
	if info.Note == "CPU forced" {
		info.Note = ""
	} else if info.Note != "" {
		info.Note += "; ran on the CPU instead"
	}
	return info, err
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
// cfgScale, heads, gpuMemoryBytes, splitBytes}): model(x, t, y) (or forward_with_cfg) as `ditkit
// forward`, returning a safetensors Blob holding out; blob.ditkit says
// which backend ran, the adapter, the time and any fallback.
func forwardAPI(file, target, inputs, opts js.Value) (any, error) {
	m, err := loadDiTBlob(file, target, int(optFloat(opts, "heads", 0)))
	if err != nil {
		return nil, err
	}
	in, err := readInputs(inputs)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"x", "t", "y"} {
		if in[k] == nil {
			return nil, fmt.Errorf("inputs: no tensor %q", k)
		}
	}
	x, err := in["x"].Float32s()
	if err != nil {
		return nil, err
	}
	t, err := in["t"].Float64s()
	if err != nil {
		return nil, err
	}
	y, err := in["y"].Ints()
	if err != nil {
		return nil, err
	}
	cfgScale := float32(optFloat(opts, "cfgScale", 0))
	ctx := context.Background()
	var out []float32
	var dur time.Duration
	info, err := withBackend(ctx, opts, func(o *dit.Options) error {
		start := time.Now()
		var err error
		if cfgScale != 0 {
			out, err = m.ForwardWithCFG(ctx, x, t, y, cfgScale, o)
		} else {
			out, err = m.Forward(ctx, x, t, y, o)
		}
		dur = time.Since(start)
		return err
	})
	if err != nil {
		return nil, err
	}
	info.MS = float64(dur.Microseconds()) / 1000
	info.StepMS, info.FirstMS = info.MS, info.MS
	info.GFLOPs = m.FLOPs(len(t)) / dur.Seconds() / 1e9
	S := m.Cfg.InputSize
	return resultBlob("forward.safetensors", []namedF32{{"out", []int{len(t), m.Cfg.OutChannels(), S, S}, out}},
		map[string]string{"producer": "ditkit forward (page)", "backend": info.Backend}, info)
}

// sampleAPI is window.ditkit.sample(file, target, noiseFile, {backend,
// steps, sampler, eta, cfgScale, class, heads}): `ditkit sample --noise`
// in the page. noiseFile holds x and step_noise (as the sampler
// references). The Blob holds out and x_steps.
func sampleAPI(file, target, noiseFile, opts js.Value) (any, error) {
	m, err := loadDiTBlob(file, target, int(optFloat(opts, "heads", 0)))
	if err != nil {
		return nil, err
	}
	cfg := m.Cfg
	in, err := readInputs(noiseFile)
	if err != nil {
		return nil, err
	}
	if in["x"] == nil || in["step_noise"] == nil {
		return nil, fmt.Errorf("noise file: need tensors x and step_noise")
	}
	steps := int(optFloat(opts, "steps", 4))
	sampler := optString(opts, "sampler", "ddpm")
	cfgScale := optFloat(opts, "cfgScale", 4)
	label := int(optFloat(opts, "class", 0))
	if label < 0 || label >= cfg.NumClasses {
		return nil, fmt.Errorf("class %d outside [0, %d)", label, cfg.NumClasses)
	}
	useCFG := cfgScale > 1
	if useCFG && !cfg.NullClass {
		return nil, fmt.Errorf("the label table has no null class: CFG is impossible (use a scale of 1)")
	}
	d, err := diffusion.Create(strconv.Itoa(steps), cfg.LearnSigma)
	if err != nil {
		return nil, err
	}
	C, S := cfg.InChannels, cfg.InputSize
	per := C * S * S
	batch, y := 1, []int{label}
	if useCFG {
		batch, y = 2, []int{label, cfg.NullLabel()}
	}
	xv, err := in["x"].Float32s()
	if err != nil {
		return nil, err
	}
	sn, err := in["step_noise"].Float32s()
	if err != nil {
		return nil, err
	}
	x := make([]float32, batch*per)
	switch len(xv) {
	case batch * per:
		copy(x, xv)
	case per:
		copy(x, xv)
		copy(x[per:], xv)
	default:
		return nil, fmt.Errorf("noise file: x has shape %v, want [%d, %d, %d, %d]", in["x"].Shape, batch, C, S, S)
	}
	if len(sn) < d.Steps()*len(x) {
		return nil, fmt.Errorf("noise file: step_noise has %d values, need %d steps × %d", len(sn), d.Steps(), len(x))
	}
	ctx := context.Background()
	var out, xSteps []float32
	var first, total time.Duration
	info, err := withBackend(ctx, opts, func(o *dit.Options) error {
		model := func(ctx context.Context, x []float32, t []float64) ([]float32, error) {
			if useCFG {
				return m.ForwardWithCFG(ctx, x, t, y, float32(cfgScale), o)
			}
			return m.Forward(ctx, x, t, y, o)
		}
		xSteps = xSteps[:0]
		start := time.Now()
		first = 0
		var err error
		out, err = d.Sample(ctx, model, x, batch, diffusion.Options{
			Sampler: sampler, Eta: optFloat(opts, "eta", 0),
			Noise: func(i int, dst []float32) { copy(dst, sn[i*len(dst):(i+1)*len(dst)]) },
			Step: func(i, _ int, xs, _ []float32) {
				if i == 0 {
					first = time.Since(start)
				}
				xSteps = append(xSteps, xs...)
			},
		})
		total = time.Since(start)
		return err
	})
	if err != nil {
		return nil, err
	}
	info.MS = float64(total.Microseconds()) / 1000
	info.FirstMS = float64(first.Microseconds()) / 1000
	info.StepMS = info.MS / float64(d.Steps())
	info.GFLOPs = m.FLOPs(batch) * float64(d.Steps()) / total.Seconds() / 1e9
	return resultBlob("sample.safetensors", []namedF32{
		{"out", []int{batch, C, S, S}, out},
		{"x_steps", []int{d.Steps(), batch, C, S, S}, xSteps},
	}, map[string]string{"producer": "ditkit sample (page)", "sampler": sampler, "backend": info.Backend}, info)
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
// batch}): forward passes of a randomly initialised model with a preset's
// shapes (default DiT-XL_2_256, batch 2 as with CFG); the first pass
// (weight upload, pipeline compiles) is timed apart from the others.
func benchAPI(opts js.Value) (any, error) {
	preset := optString(opts, "preset", "DiT-XL_2_256")
	sp, err := spec.Preset(preset)
	if err != nil {
		return nil, err
	}
	cfg := dit.Config{
		InputSize: sp.Int("input_size"), PatchSize: sp.Int("patch_size"), InChannels: sp.Int("in_channels"),
		HiddenSize: sp.Int("hidden_size"), Depth: sp.Int("depth"), NumHeads: sp.Int("num_heads"),
		NumClasses: sp.Int("num_classes"), LearnSigma: sp.Bool("learn_sigma"), MLPRatio: sp.Float("mlp_ratio"),
		NullClass: sp.Float("class_dropout_prob") > 0,
	}
	if d := int(optFloat(opts, "depth", 0)); d > 0 {
		cfg.Depth = d
	}
	dt := tensor.BF16
	switch optString(opts, "dtype", "bf16") {
	case "fp32", "f32":
		dt = tensor.F32
	case "fp16", "f16":
		dt = tensor.F16
	}
	m, err := randomDiT(cfg, dt)
	if err != nil {
		return nil, err
	}
	batch := int(optFloat(opts, "batch", 2))
	steps := max(2, int(optFloat(opts, "steps", 2)))
	C, S := cfg.InChannels, cfg.InputSize
	x := make([]float32, batch*C*S*S)
	rng := uint64(7)
	for i := range x {
		x[i] = randn(&rng)
	}
	t := make([]float64, batch)
	y := make([]int, batch)
	for i := range t {
		t[i], y[i] = 500, i%cfg.NumClasses
	}
	ctx := context.Background()
	var first, rest time.Duration
	info, err := withBackend(ctx, opts, func(o *dit.Options) error {
		first, rest = 0, 0
		for i := 0; i < steps; i++ {
			start := time.Now()
			if _, err := m.Forward(ctx, x, t, y, o); err != nil {
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
	per := rest / time.Duration(steps-1)
	info.FirstMS = float64(first.Microseconds()) / 1000
	info.StepMS = float64(per.Microseconds()) / 1000
	info.MS = float64((first + rest).Microseconds()) / 1000
	info.GFLOPs = m.FLOPs(batch) / per.Seconds() / 1e9
	res := map[string]any{"info": info, "preset": preset, "depth": cfg.Depth, "fullDepth": sp.Int("depth"), "batch": batch,
		"dtype": dt.String(), "gflopPerStep": m.FLOPs(batch) / 1e9}
	return toJS(res)
}

// randomDiT builds a DiT with small random weights in dtype dt.
func randomDiT(cfg dit.Config, dt tensor.DType) (*dit.Model, error) {
	rng := uint64(1)
	H, p := cfg.HiddenSize, cfg.PatchSize
	shapes := map[string][]int{
		"x_embedder.proj.weight": {H, cfg.InChannels, p, p}, "x_embedder.proj.bias": {H},
		"t_embedder.mlp.0.weight": {H, dit.TimestepFreqs}, "t_embedder.mlp.0.bias": {H},
		"t_embedder.mlp.2.weight": {H, H}, "t_embedder.mlp.2.bias": {H},
		"y_embedder.embedding_table.weight":     {cfg.NumClasses + 1, H},
		"final_layer.adaLN_modulation.1.weight": {2 * H, H}, "final_layer.adaLN_modulation.1.bias": {2 * H},
		"final_layer.linear.weight": {p * p * cfg.OutChannels(), H}, "final_layer.linear.bias": {p * p * cfg.OutChannels()},
	}
	mh := cfg.MLPHidden()
	for i := 0; i < cfg.Depth; i++ {
		pre := fmt.Sprintf("blocks.%d.", i)
		for name, s := range map[string][2]int{"adaLN_modulation.1": {6 * H, H}, "attn.qkv": {3 * H, H}, "attn.proj": {H, H}, "mlp.fc1": {mh, H}, "mlp.fc2": {H, mh}} {
			shapes[pre+name+".weight"] = []int{s[0], s[1]}
			shapes[pre+name+".bias"] = []int{s[0]}
		}
	}
	return dit.Load(cfg, func(name string) (*tensor.Dense, error) {
		shape, ok := shapes[name]
		if !ok {
			return nil, nil
		}
		d, err := tensor.NewDense(dt, shape...)
		if err != nil {
			return nil, err
		}
		n := d.Numel()
		v := make([]float32, n)
		for i := range v {
			v[i] = 0.02 * randn(&rng)
		}
		return d, tensor.EncodeFloat32(dt, v, d.Data)
	})
}

// randn is a fast approximate standard normal (sum of uniforms).
func randn(s *uint64) float32 {
	var sum float32
	for k := 0; k < 4; k++ {
		*s ^= *s << 13
		*s ^= *s >> 7
		*s ^= *s << 17
		sum += float32(*s>>40) / (1 << 24)
	}
	return (sum - 2) * 1.7320508
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
