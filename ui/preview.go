package ui

import (
	"context"
	_ "embed"
	"fmt"
	"image"
	"strconv"
	"strings"
	"time"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/sample"
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

// PreviewResolution is the architecture a preview runs: detection plus the
// heads field (heads > 0). The page's policy is lenient: what the shapes
// do not decide runs on its published value or its guess, and the guesses
// are shown (spec.Resolution.Guesses) so the user can correct them.
func PreviewResolution(ck *loader.Checkpoint, heads int) (*spec.Resolution, error) {
	var req spec.Request
	if heads > 0 {
		req.Set = map[string]any{"num_heads": heads}
	}
	r, err := spec.Resolve(ck.Infos(), req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Name, err)
	}
	if r.Spec.Family != "dit" {
		return nil, fmt.Errorf("%s: the preview runs class-conditional DiT checkpoints; this one is %s (STDiT needs caption embeddings: use ditkit forward)", ck.Name, r.Spec.Family)
	}
	return r, nil
}

// modelLine describes the previewed model, marking guessed values.
func modelLine(r *spec.Resolution) string {
	s := r.Spec
	heads := fmt.Sprintf("%d heads", s.Int("num_heads"))
	for _, a := range r.Guesses() {
		if a.Param == "num_heads" {
			heads += " — a guess: " + a.Reason + "; set the heads field if it is wrong"
		}
	}
	return fmt.Sprintf("model: %s (H %d, depth %d, %s, %d classes)", r.From, s.Int("hidden_size"), s.Int("depth"), heads, s.Int("num_classes"))
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
func (c *Root) SetClass(e vugu.DOMEvent) {
	c.Class = strings.TrimSpace(e.PropString("target", "value"))
}
func (c *Root) SetSeed(e vugu.DOMEvent)  { c.Seed = atoi(e.PropString("target", "value"), c.Seed) }
func (c *Root) SetHeads(e vugu.DOMEvent) { c.Heads = atoi(e.PropString("target", "value"), c.Heads) }
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
	labels, err := sample.ParseLabels(c.Class)
	if err != nil {
		c.Err = CLIError(err)
		return
	}
	heads := 0 // the detected value (a published one, or a guess shown as such)
	if c.Heads != c.detHeads {
		heads = c.Heads // the user's
	}
	res, err := PreviewResolution(c.ck, heads)
	if err != nil {
		c.Err = CLIError(err)
		return
	}
	ck, want := c.ck, c.Backend
	req := sample.Request{Steps: c.Steps, Sampler: c.Sampler, CFGScale: c.CFG, Labels: labels, Noise: sample.Noise{Seed: uint64(c.Seed)}}
	run := func(ctx context.Context, fn func(*dit.Options) error) (string, error) {
		if b, ok := c.Host.(Backends); ok && want != "cpu" {
			return b.Run(ctx, want, fn)
		}
		return "CPU (Go wasm, one thread)", fn(&dit.Options{Backend: &kernels.CPU{Threads: 1, Yield: painter.Yield}, Yield: painter.Yield})
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopSample = cancel
	c.Err, c.Sampling, c.StepText, c.StepsDone, c.StepsTotal = "", true, "loading the weights…", 0, c.Steps
	model := modelLine(res)
	c.PreviewInfo = "backend: starting…; " + model
	ee := e.EventEnv()
	update := func(fn func()) { ee.Lock(); fn(); ee.UnlockRender() }
	go func() {
		img, backend, err := runSample(ctx, ck, res, req, painter.Yield, run, func(i, n int, per time.Duration) {
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

// runSample is `ditkit sample` without the files: the one loader and the
// one sampling loop, on the backend run picks.
func runSample(ctx context.Context, src tensor.Source, r *spec.Resolution, req sample.Request, yield func(),
	run func(context.Context, func(*dit.Options) error) (string, error),
	progress func(i, n int, per time.Duration)) (img *image.RGBA, backend string, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("internal error while sampling: %v", p)
		}
	}()
	net, err := dit.Build(src, r, dit.BuildOptions{})
	if err != nil {
		return nil, "", err
	}
	last := time.Now()
	req.Step = func(i, n, _ int, _ []float32) {
		progress(i+1, n, time.Since(last))
		last = time.Now()
		yield()
	}
	var res *sample.Result
	backend, err = run(ctx, func(opt *dit.Options) error {
		req.Options = opt
		var err error
		res, err = sample.Run(ctx, net, req)
		return err
	})
	if err != nil {
		return nil, backend, err
	}
	img, err = res.Image()
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
