package ui

import (
	"context"
	_ "embed"
	"fmt"
	"image"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/ditkit/ditkit/core/diffusion"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/preview"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/vugu/vugu"
	js "github.com/vugu/vugu/js"
)

// Painter is the optional part of Host that draws the preview and lets
// long computations yield to the browser.
type Painter interface {
	// Paint draws img on the canvas element (called after every render:
	// the renderer resets the canvas's attributes).
	Paint(canvas js.Value, img *image.RGBA)
	// Yield lets the browser run its event loop.
	Yield()
}

// Backends is the optional part of Host that runs a model on another
// backend (WebGPU). Run calls fn with the backend asked for ("auto",
// "webgpu" or "cpu"), falls back to the CPU when WebGPU is missing or
// fails, and describes what ran.
type Backends interface {
	Run(ctx context.Context, want string, fn func(*dit.Options) error) (string, error)
}

// MemoryLimit is what one Go wasm instance can allocate (platform facts:
// ~3.99 GiB, past which the runtime dies unrecoverably); the preview keeps
// a margin under it.
const MemoryLimit = 3.5 * (1 << 30)

// PreviewMemory estimates what a preview needs: the weights as stored, half
// as much again for read buffers and the garbage collector's headroom, and
// room for activations.
func PreviewMemory(weightBytes int64) int64 { return weightBytes + weightBytes/2 + 256<<20 }

// NamedClass is a class index with its name.
type NamedClass struct {
	ID   int
	Name string
}

// imagenetClasses holds the 1000 ImageNet-1k class names in index order
// (from torchvision's _IMAGENET_CATEGORIES, BSD-3-Clause), one per line.
//
//go:embed imagenet_classes.txt
var imagenetClasses string

// ImageNetClasses are the names of DiT's 1000 ImageNet classes.
var ImageNetClasses = strings.Split(strings.TrimSuffix(imagenetClasses, "\n"), "\n")

// classOptions suggests class names for 1000-class (ImageNet) models; any
// index can be typed for other models.
func (c *Root) classOptions() []NamedClass {
	if c.previewClasses() != len(ImageNetClasses) {
		return nil
	}
	out := make([]NamedClass, len(ImageNetClasses))
	for i, n := range ImageNetClasses {
		out[i] = NamedClass{i, n}
	}
	return out
}

// PreviewConfig is the DiT configuration a preview runs: from the chosen
// preset target when it is a DiT, else from the detected hyperparameters.
func PreviewConfig(ck *loader.Checkpoint, presetName string, heads int) (dit.Config, string, error) {
	if presetName != "" {
		if sp, err := spec.Preset(presetName); err == nil && sp.Family == "dit" {
			return ditConfig(sp), "preset " + presetName, nil
		}
	}
	var infos []tensor.Info
	for _, w := range ck.Weights() {
		infos = append(infos, w.Info())
	}
	d := spec.Detect(infos)
	if d.Family != "dit" || d.Params == nil {
		fam := d.Family
		if fam == "" {
			fam = "unrecognised"
		}
		return dit.Config{}, "", fmt.Errorf("%s: the preview runs class-conditional DiT checkpoints; this one is %s (STDiT needs caption embeddings: use ditkit forward)", ck.Name, fam)
	}
	cfg := ditConfig(d.Params)
	if heads > 0 {
		cfg.NumHeads = heads
	}
	return cfg, "detected hyperparameters", nil
}

func ditConfig(s *spec.Spec) dit.Config {
	return dit.Config{
		InputSize: s.Int("input_size"), PatchSize: s.Int("patch_size"), InChannels: s.Int("in_channels"),
		HiddenSize: s.Int("hidden_size"), Depth: s.Int("depth"), NumHeads: s.Int("num_heads"),
		NumClasses: s.Int("num_classes"), LearnSigma: s.Bool("learn_sigma"), MLPRatio: s.Float("mlp_ratio"),
		NullClass: s.Float("class_dropout_prob") > 0,
	}
}

// LoadDiT reads the weights root into a DiT model. Prefixes such as
// "module." are stripped as ditkit forward does.
func LoadDiT(ck *loader.Checkpoint, cfg dit.Config) (*dit.Model, error) {
	byName := map[string]*loader.Tensor{}
	for _, w := range ck.Weights() {
		byName[strings.TrimPrefix(w.Name, "module.")] = w
	}
	return dit.Load(cfg, func(name string) (*tensor.Dense, error) {
		w := byName[name]
		if w == nil {
			return nil, nil
		}
		return ck.ReadDense(w)
	})
}

func weightBytes(ck *loader.Checkpoint) int64 {
	n := int64(0)
	for _, w := range ck.Weights() {
		n += w.NBytes()
	}
	return n
}

// --- Root: preview panel -------------------------------------------------------

func (c *Root) previewable() bool { return c.Det != nil && c.Det.Family == "dit" }

func (c *Root) previewMemoryText() string {
	need := PreviewMemory(weightBytes(c.ck))
	return fmt.Sprintf("needs about %s of memory (weights %s); a browser tab's Go wasm can use at most %s",
		HumanBytes(need), HumanBytes(weightBytes(c.ck)), HumanBytes(int64(MemoryLimit)))
}

func (c *Root) previewFits() bool { return PreviewMemory(weightBytes(c.ck)) <= int64(MemoryLimit) }

func (c *Root) SetSteps(e vugu.DOMEvent)   { c.Steps = atoi(e.PropString("target", "value"), c.Steps) }
func (c *Root) SetSampler(e vugu.DOMEvent) { c.Sampler = e.PropString("target", "value") }
func (c *Root) SetClass(e vugu.DOMEvent)   { c.Class = atoi(e.PropString("target", "value"), c.Class) }
func (c *Root) SetSeed(e vugu.DOMEvent)    { c.Seed = atoi(e.PropString("target", "value"), c.Seed) }
func (c *Root) SetHeads(e vugu.DOMEvent)   { c.Heads = atoi(e.PropString("target", "value"), c.Heads) }
func (c *Root) SetCFG(e vugu.DOMEvent) {
	if v, err := strconv.ParseFloat(e.PropString("target", "value"), 64); err == nil {
		c.CFG = v
	}
}

func atoi(s string, def int) int {
	if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return v
	}
	return def
}

func (c *Root) classLabel(id int, name string) string { return strconv.Itoa(id) + " — " + name }

// Sample runs the sampler and draws the latent preview.
func (c *Root) Sample(e vugu.DOMEvent) {
	painter, ok := c.Host.(Painter)
	if !ok || c.ck == nil || c.Sampling {
		return
	}
	if !c.previewFits() {
		c.Err = CLIError(fmt.Errorf("%s: too large to preview here: %s", c.ck.Name, c.previewMemoryText()))
		return
	}
	// an exactly matching preset knows the heads; else the shapes and the heads field
	cfg, from, err := PreviewConfig(c.ck, c.Det.Preset, c.Heads)
	if err != nil {
		c.Err = CLIError(err)
		return
	}
	ck, steps, sampler, class, cfgScale, seed, want := c.ck, c.Steps, c.Sampler, c.Class, c.CFG, c.Seed, c.Backend
	run := func(ctx context.Context, fn func(*dit.Options) error) (string, error) {
		if b, ok := c.Host.(Backends); ok && want != "cpu" {
			return b.Run(ctx, want, fn)
		}
		return "CPU (Go wasm, one thread)", fn(&dit.Options{Backend: &kernels.CPU{Threads: 1, Yield: painter.Yield}, Yield: painter.Yield})
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopSample = cancel
	c.Err, c.Sampling, c.StepText, c.StepsDone, c.StepsTotal = "", true, "loading the weights…", 0, steps
	model := fmt.Sprintf("model: %s (H %d, depth %d, %d heads, %d classes)", from, cfg.HiddenSize, cfg.Depth, cfg.NumHeads, cfg.NumClasses)
	c.PreviewInfo = "backend: starting…; " + model
	ee := e.EventEnv()
	update := func(fn func()) { ee.Lock(); fn(); ee.UnlockRender() }
	go func() {
		img, backend, err := runSample(ctx, ck, cfg, steps, sampler, class, cfgScale, uint64(seed), painter.Yield, run, func(i, n int, per time.Duration) {
			update(func() {
				c.StepsDone = i
				c.StepText = fmt.Sprintf("step %d of %d, %.0f ms per step", i, n, float64(per.Microseconds())/1000)
			})
		})
		ee.Lock()
		defer ee.UnlockRender()
		c.Sampling, c.stopSample = false, nil
		if backend != "" {
			c.PreviewInfo = "backend: " + backend + "; " + model
		}
		if err != nil {
			c.Err = CLIError(err)
			c.StepText = ""
			return
		}
		c.HasImage, c.img = true, img
	}()
}

// StopSample cancels a running preview.
func (c *Root) StopSample(e vugu.DOMEvent) {
	if c.stopSample != nil {
		c.stopSample()
	}
}

// runSample is `ditkit sample` without the files: the same diffusion, noise
// generator and preview.
func runSample(ctx context.Context, ck *loader.Checkpoint, cfg dit.Config, steps int, sampler string, class int, cfgScale float64,
	seed uint64, yield func(), run func(context.Context, func(*dit.Options) error) (string, error),
	progress func(i, n int, per time.Duration)) (img *image.RGBA, backend string, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%s: internal error while sampling: %v", ck.Name, p)
		}
	}()
	if steps < 1 || steps > 1000 {
		return nil, "", fmt.Errorf("steps %d: want 1 to 1000", steps)
	}
	if class < 0 || class >= cfg.NumClasses {
		return nil, "", fmt.Errorf("class %d outside [0, %d)", class, cfg.NumClasses)
	}
	m, err := LoadDiT(ck, cfg)
	if err != nil {
		return nil, "", err
	}
	useCFG := cfgScale > 1
	if useCFG && !cfg.NullClass {
		return nil, "", fmt.Errorf("the label table has no null class: CFG is impossible (use a scale of 1)")
	}
	d, err := diffusion.Create(strconv.Itoa(steps), cfg.LearnSigma)
	if err != nil {
		return nil, "", err
	}
	C, S := cfg.InChannels, cfg.InputSize
	per := C * S * S
	batch := 1
	y := []int{class}
	if useCFG {
		batch, y = 2, []int{class, cfg.NullLabel()}
	}
	x := make([]float32, batch*per)
	rng := rand.New(rand.NewPCG(seed, 0x6469746b6974))
	for i := 0; i < per; i++ {
		x[i] = float32(rng.NormFloat64())
	}
	if useCFG {
		copy(x[per:], x[:per])
	}
	var out []float32
	backend, err = run(ctx, func(opt *dit.Options) error {
		model := func(ctx context.Context, x []float32, t []float64) ([]float32, error) {
			if useCFG {
				return m.ForwardWithCFG(ctx, x, t, y, float32(cfgScale), opt)
			}
			return m.Forward(ctx, x, t, y, opt)
		}
		last := time.Now()
		var err error
		out, err = d.Sample(ctx, model, x, batch, diffusion.Options{
			Sampler: sampler,
			Noise: func(_ int, dst []float32) {
				for i := range dst {
					dst[i] = float32(rng.NormFloat64())
				}
			},
			Step: func(i, t int, _, _ []float32) {
				progress(i+1, d.Steps(), time.Since(last))
				last = time.Now()
				yield()
			},
		})
		return err
	})
	if err != nil {
		return nil, backend, err
	}
	img, err = preview.Image(out[:per], C, S, S)
	return img, backend, err
}

func (c *Root) SetBackend(e vugu.DOMEvent) { c.Backend = e.PropString("target", "value") }

func (c *Root) paintCanvas(v js.Value) {
	if p, ok := c.Host.(Painter); ok && c.img != nil {
		p.Paint(v, c.img)
	}
}

func (c *Root) canvasClass() string {
	if c.HasImage {
		return "shown"
	}
	return "empty"
}

func (c *Root) cfgText() string { return strconv.FormatFloat(c.CFG, 'g', -1, 64) }

// previewClasses is the detected class count (0 when unknown).
func (c *Root) previewClasses() int {
	if c.Det == nil {
		return 0
	}
	for _, p := range c.Det.Params {
		if p.Name == "num_classes" {
			n, _ := strconv.Atoi(p.Value)
			return n
		}
	}
	return 0
}
