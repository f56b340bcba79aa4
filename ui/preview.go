package ui

import (
	"context"
	_ "embed"
	"fmt"
	"image"
	"image/png"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/preview"
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
// fails, and describes what ran; started, when set, is told which backend
// starts before fn runs.
type Backends interface {
	Run(ctx context.Context, want string, started func(line string), fn func(*dit.Options) error) (string, error)
}

// Decoders is the optional part of Host that runs a TAESD decoder on
// another backend (WebGPU, falling back to the CPU), saying which ran.
type Decoders interface {
	Decode(ctx context.Context, want string, dec *decode.Decoder, lat []float32, shape []int) (raw []float32, out []int, line string, err error)
}

// Workers is the optional part of Host that runs a preview's forward
// passes on Web Workers, each holding a shard of the weights (the backend
// "workers": the CPU on every core). WorkerNet loads the model of src
// (resolution r) into as many workers as the machine allows and returns
// the net whose Forward runs there, a line saying where it runs, and the
// release of the workers; a nil net (and a line saying why) means this
// instance runs it after all.
type Workers interface {
	WorkerNet(ctx context.Context, src *Source, r *spec.Resolution) (net dit.Net, line string, release func(), err error)
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

// PreviewResolution is the architecture a preview runs: detection plus
// the values the user gave (set: parameter → value, e.g. num_heads);
// captions says caption embeddings were given beside the file. The
// page's policy is lenient: what the shapes do not decide runs on its
// published value or its guess, and the guesses are shown
// (spec.Resolution.Guesses) so the user can correct them.
func PreviewResolution(ck *loader.Checkpoint, set map[string]any, captions bool) (*spec.Resolution, error) {
	r, err := spec.Resolve(ck.Infos(), spec.Request{Set: set})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Name, err)
	}
	if why := dit.WhyNotRunnable(ck.Infos(), r.Spec.Family, captions); why != "" {
		return nil, fmt.Errorf("%s: %s", ck.Name, why)
	}
	return r, nil
}

// samplerOptions are the samplers the detected family's quick preview
// takes (sample.DefaultsFor): the rectified flow alone for Open-Sora
// 1.2/1.3, DDIM or DDPM for the Gaussian diffusion of the others.
func (c *Root) samplerOptions() []string {
	if s := sample.DefaultsFor(c.Det.Family).PreviewSampler; s == "rflow" {
		return []string{s}
	}
	return []string{"ddim", "ddpm"}
}

func samplerLabel(s string) string {
	switch s {
	case "rflow":
		return "rectified flow"
	}
	return strings.ToUpper(s)
}

// modelLine describes the previewed model, marking guessed values.
func modelLine(r *spec.Resolution) string {
	s := r.Spec
	heads := diff.Plural(s.Int("num_heads"), "head")
	for _, a := range r.Guesses() {
		if a.Param == "num_heads" {
			heads += " — a guess: " + a.Reason + "; set the heads field if it is wrong"
		}
	}
	h, d := spec.Size(s)
	line := fmt.Sprintf("model: %s, %s (H %d, depth %d, %s", spec.ArchName(s.Family), r.From, h, d, heads)
	if k := s.Int("num_classes"); k > 0 {
		line += ", " + diff.Plural(k, "class")
	}
	return line + ")"
}

func weightBytes(ck *loader.Checkpoint) int64 {
	n := int64(0)
	for _, w := range ck.Weights() {
		n += w.NBytes()
	}
	return n
}

// --- Root: preview panel -------------------------------------------------------

// resetPreview reads what the preview of a new report runs with: the
// ambiguities detection settled (the guessed ones highlighted), a class
// the model has, the family's sampler.
func (c *Root) resetPreview(familyChanged bool) {
	c.Given, c.guesses, c.PreviewInfo = map[string]any{}, nil, ""
	if c.Det == nil || c.Det.Family == "" {
		return
	}
	if familyChanged { // the family's quick-preview defaults, as ditkit preview's
		def := sample.DefaultsFor(c.Det.Family)
		c.Sampler, c.Steps, c.CFG = def.PreviewSampler, def.PreviewSteps, def.CFGScale
	}
	c.guesses = c.Det.Ambiguities
	if k := c.previewClasses(); k > 0 {
		if ls, err := sample.ParseLabels(c.Class); err != nil || len(ls) == 0 || slices.Max(ls) >= k {
			c.Class = "0"
		}
	}
	if opts := c.samplerOptions(); !slices.Contains(opts, c.Sampler) {
		c.Sampler = opts[0]
	}
}

// previewWhy is the one line that says why this file cannot be
// previewed ("" when it can).
func (c *Root) previewWhy() string {
	if c.Det == nil || c.Det.Family == "" {
		return "No supported architecture was recognised, so there is no model to run."
	}
	if why := dit.WhyNotRunnable(c.ck.Infos(), c.Det.Family, c.CaptionFile != nil); why != "" {
		return strings.ToUpper(why[:1]) + why[1:] + "."
	}
	return ""
}

// Guess is one hyperparameter the shapes do not decide, as the preview
// panel shows it: the value used (editable when a number), whether it is
// a guess, and why.
type Guess struct {
	Param, ID, Label string
	Value            string
	Number           bool // int or float: an input field; else shown only
	Guess, Given     bool
	Why              string
}

// guessFields are the hyperparameters the shapes do not decide.
func (c *Root) guessFields() []Guess {
	var out []Guess
	for _, a := range c.guesses {
		g := Guess{Param: a.Param, ID: "pv-set-" + a.Param, Label: strings.ReplaceAll(a.Param, "_", " "), Value: formatValue(a.Value), Guess: a.Guess}
		switch a.Value.(type) {
		case int, float64:
			g.Number = true
		}
		if a.Param == "num_heads" {
			g.ID, g.Label = "pv-heads", "heads"
		}
		if u, ok := c.Given[a.Param]; ok && formatValue(u) != g.Value {
			g.Value, g.Given = formatValue(u), true
		}
		switch {
		case g.Given:
			g.Why = "your value (the guess was " + formatValue(a.Value) + ")"
		case a.Guess:
			g.Why = "a guess — " + a.Reason + "; set it if you know the value"
		default:
			g.Why = a.Source + " — " + a.Reason
		}
		out = append(out, g)
	}
	return out
}

func (c *Root) guessClass(g Guess) string {
	switch {
	case g.Given:
		return "param given"
	case g.Guess:
		return "param guess"
	}
	return "param"
}

// SetGuess takes the user's value for a hyperparameter (a number of the
// detected value's kind).
func (c *Root) SetGuess(param string, e vugu.DOMEvent) {
	text := strings.TrimSpace(e.PropString("target", "value"))
	for _, a := range c.guesses {
		if a.Param != param {
			continue
		}
		switch a.Value.(type) {
		case int:
			if v, err := strconv.Atoi(text); err == nil && v >= 1 {
				c.Given[param] = v
			}
		case float64:
			if v, err := strconv.ParseFloat(text, 64); err == nil && v > 0 {
				c.Given[param] = v
			}
		}
	}
}

// setValues are the user's values that differ from detection.
func (c *Root) setValues() map[string]any {
	set := map[string]any{}
	for _, g := range c.guessFields() {
		if g.Given {
			set[g.Param] = c.Given[g.Param]
		}
	}
	return set
}

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
func (c *Root) SetSeed(e vugu.DOMEvent) { c.Seed = atoi(e.PropString("target", "value"), c.Seed) }
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

// conditioningText says what a caption model's samples are conditioned
// on: a caption embedding file dropped beside it, else its own null
// caption.
func (c *Root) conditioningText() string {
	switch {
	case c.previewClasses() > 0:
		return ""
	case c.CaptionFile != nil:
		return fmt.Sprintf("conditioning: caption embeddings from %s (%s); guided against the model's null caption", c.CaptionFile.Name, diff.Plural(c.CaptionFile.Caption.N, "caption"))
	}
	return "conditioning: the model's own null caption (y_embedder.y_embedding; no text encoder runs here), so no guidance — drop a caption embedding file (y [N, 1, L, C], mask [N, L], from the model's own text encoder) beside the checkpoint to condition on a caption"
}

// guidable: the guidance field applies (class labels, or a caption).
func (c *Root) guidable() bool { return c.previewClasses() > 0 || c.CaptionFile != nil }

// PreviewRun is one preview's settings and what it produced.
type PreviewRun struct {
	Req     sample.Request
	Res     *spec.Resolution
	Decoder *DecoderFile
	Backend string  // what ran
	Decoded string  // how the image was drawn
	Video   bool    // the latent is a video: the image is a strip of frames
	Cond    string  // what the samples were conditioned on (sample.Result.Conditioning)
	Guided  bool    // guidance ran
	Source  *Source // the file, for the Web Workers (backend "workers")
}

// Sample runs the sampler and draws the preview.
func (c *Root) Sample(e vugu.DOMEvent) {
	painter, ok := c.Host.(Painter)
	if !ok || c.ck == nil || c.Sampling {
		return
	}
	if !c.previewFits() {
		c.Err = CLIError(fmt.Errorf("%s: too large to preview here: %s", c.ck.Name, c.previewMemoryText()))
		return
	}
	res, err := PreviewResolution(c.ck, c.setValues(), c.CaptionFile != nil)
	if err != nil {
		c.Err = CLIError(err)
		return
	}
	req := sample.Request{Steps: c.Steps, Sampler: c.Sampler, Noise: sample.Noise{Seed: uint64(c.Seed)}}
	if c.previewClasses() > 0 {
		if req.Labels, err = sample.ParseLabels(c.Class); err != nil {
			c.Err = CLIError(err)
			return
		}
	} else if c.CaptionFile != nil {
		req.Caption = c.CaptionFile.Caption
	}
	if c.guidable() {
		req.CFGScale = c.CFG
	}
	ck, want, host := c.ck, c.Backend, c.Host
	run := func(ctx context.Context, started func(string), fn func(*dit.Options) error) (string, error) {
		if b, ok := host.(Backends); ok && want != "cpu" && want != "workers" {
			return b.Run(ctx, want, started, fn)
		}
		line := "CPU (Go wasm, one thread)"
		started(line)
		return line, fn(&dit.Options{Backend: &kernels.CPU{Threads: 1, Yield: painter.Yield}, Yield: painter.Yield})
	}
	pr := &PreviewRun{Req: req, Res: res, Decoder: c.usableDecoder()}
	if c.Cur < len(c.Sources) {
		pr.Source = c.Sources[c.Cur]
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopSample = cancel
	c.Err, c.Sampling, c.StepText, c.StepsDone, c.StepsTotal = "", true, "loading the weights…", 0, c.Steps
	model := modelLine(res)
	c.PreviewInfo = "backend: choosing (" + want + "); " + model
	ee := e.EventEnv()
	update := func(fn func()) { ee.Lock(); fn(); ee.UnlockRender() }
	go func() {
		img, err := runPreview(ctx, ck, pr, host, want, painter.Yield, run, func(line string) {
			update(func() { c.PreviewInfo = "backend: " + line + "; " + model })
		}, func(i, n int, per time.Duration) {
			update(func() {
				c.StepsDone = i
				c.StepText = fmt.Sprintf("step %d of %d, %.0f ms per step", i, n, float64(per.Microseconds())/1000)
			})
		})
		ee.Lock()
		defer ee.UnlockRender()
		c.Sampling, c.stopSample = false, nil
		if pr.Backend != "" {
			c.PreviewInfo = "backend: " + pr.Backend + "; " + model
		}
		if err != nil {
			c.Err = CLIError(err)
			c.StepText = ""
			return
		}
		c.HasImage, c.img = true, img
		c.Caption = previewCaption(ck.Name, pr, c.previewClasses())
		c.imgLabel = imageLabel(pr, img)
	}()
}

// StopSample cancels a running preview.
func (c *Root) StopSample(e vugu.DOMEvent) {
	if c.stopSample != nil {
		c.stopSample()
	}
}

// runPreview is `ditkit preview` without the files: the one loader, the
// one sampling loop on the backend run picks, then the decoder (when one
// was given and fits the latent) or the linear latent→RGB approximation.
func runPreview(ctx context.Context, src tensor.Source, pr *PreviewRun, host Host, want string, yield func(),
	run func(context.Context, func(string), func(*dit.Options) error) (string, error), started func(string),
	progress func(i, n int, per time.Duration)) (img *image.RGBA, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("internal error while sampling: %v", p)
		}
	}()
	var net dit.Net
	if w, ok := host.(Workers); ok && want == "workers" && pr.Source != nil {
		wnet, line, release, err := w.WorkerNet(ctx, pr.Source, pr.Res)
		if err != nil {
			return nil, err
		}
		if wnet != nil {
			defer release()
			net = wnet
			run = func(ctx context.Context, started func(string), fn func(*dit.Options) error) (string, error) {
				started(line)
				return line, fn(&dit.Options{})
			}
		} else {
			inner := run
			run = func(ctx context.Context, started func(string), fn func(*dit.Options) error) (string, error) {
				b, err := inner(ctx, started, fn)
				return b + " — " + line, err
			}
		}
	}
	if net == nil {
		if net, err = dit.Build(src, pr.Res, dit.BuildOptions{}); err != nil {
			return nil, err
		}
	}
	last := time.Now()
	req := pr.Req
	req.Step = func(i, n, _ int, _ []float32) {
		progress(i+1, n, time.Since(last))
		last = time.Now()
		yield()
	}
	var res *sample.Result
	pr.Backend, err = run(ctx, started, func(opt *dit.Options) error {
		req.Options = opt
		var err error
		res, err = sample.Run(ctx, net, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	pr.Video, pr.Cond, pr.Guided = len(res.Shape) == 5, res.Conditioning, res.Guided
	if _, shape := res.Conditional(); pr.Decoder != nil && shape[1] == pr.Decoder.Channels {
		return decodePreview(ctx, res, pr, host, want)
	}
	pr.Decoded = preview.SD15.Approximation()
	return res.Image()
}

// decodePreview decodes the conditional samples with the user's TAESD
// decoder (as ditkit sample --decoder does).
func decodePreview(ctx context.Context, res *sample.Result, pr *PreviewRun, host Host, want string) (*image.RGBA, error) {
	dec, err := pr.Decoder.Load()
	if err != nil {
		return nil, err
	}
	lat, shape := res.Conditional()
	var raw []float32
	var out []int
	line := "CPU"
	if d, ok := host.(Decoders); ok && want != "cpu" && want != "workers" {
		raw, out, line, err = d.Decode(ctx, want, dec, lat, shape)
	} else {
		raw, out, err = dec.Decode(ctx, lat, shape, &decode.Options{Threads: 1})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pr.Decoder.Name, err)
	}
	pr.Decoded = fmt.Sprintf("decoded by TAESD (%s, %d latent channels) on %s", pr.Decoder.Name, pr.Decoder.Channels, line)
	return preview.RGB(decode.Clamp01(raw), out)
}

// previewCaption says what the image is and how it was made.
func previewCaption(file string, pr *PreviewRun, classes int) string {
	r := pr.Res
	cond := pr.Cond
	if classes == len(ImageNetClasses) {
		cond = "class " + classesText(pr.Req.Labels, classes)
	}
	if pr.Guided {
		cond += fmt.Sprintf(", guidance scale %g", pr.Req.CFGScale)
	}
	return fmt.Sprintf("%s from %s (%s, %s): %s, %s, %s, seed %d; %s. A random or barely trained model draws noise: this proves the weights load and run, not what they learned.",
		spec.ArchName(r.Spec.Family), file, r.From, modelSize(r), samplerLabel(pr.Req.Sampler), diff.Plural(pr.Req.Steps, "step"), cond, pr.Req.Noise.Seed, pr.Decoded)
}

func modelSize(r *spec.Resolution) string {
	h, d := spec.Size(r.Spec)
	return fmt.Sprintf("hidden size %d, %s, %s", h, diff.Plural(d, "block"), diff.Plural(r.Spec.Int("num_heads"), "head"))
}

// classesText writes labels, with their ImageNet names for a
// 1000-class model.
func classesText(ls []int, classes int) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = strconv.Itoa(l)
		if classes == len(ImageNetClasses) && l >= 0 && l < classes {
			parts[i] += " (" + ImageNetClasses[l] + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// imageLabel is the canvas's accessible name: what is drawn.
func imageLabel(pr *PreviewRun, img *image.RGBA) string {
	what := "preview image"
	if pr.Video {
		what = "preview: the first video's frames in a row"
	}
	how := "linear latent→RGB approximation"
	if strings.HasPrefix(pr.Decoded, "decoded") {
		how = "decoded by TAESD"
	}
	return fmt.Sprintf("%s, %d×%d px, %s", what, img.Rect.Dx(), img.Rect.Dy(), how)
}

func (c *Root) canvasLabel() string {
	if c.img == nil {
		return "preview image (none yet)"
	}
	return c.imgLabel
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

// previewName is the PNG's name: the checkpoint's stem and "-preview".
func (c *Root) previewName() string {
	return stem(c.Sources[c.Cur].Name) + "-preview.png"
}

// SavePNG saves the preview image as a PNG.
func (c *Root) SavePNG(e vugu.DOMEvent) {
	saver, ok := c.Host.(Saver)
	if !ok || c.img == nil {
		return
	}
	name := c.previewName()
	open := saver.SaveAs(name)
	img := c.img
	ee := e.EventEnv()
	go func() {
		where, err := savePNG(open, img)
		ee.Lock()
		defer ee.UnlockRender()
		if err != nil {
			c.Err = CLIError(fmt.Errorf("%s: %w", name, err))
			return
		}
		c.StepText = fmt.Sprintf("%s (%d×%d px) %s", name, img.Rect.Dx(), img.Rect.Dy(), where)
	}()
}

func savePNG(open func() (Sink, error), img image.Image) (string, error) {
	sink, err := open()
	if err != nil {
		return "", err
	}
	if err := png.Encode(sink, img); err != nil {
		sink.Abort()
		return "", err
	}
	return sink.Close()
}

// guessedNames lists the guessed parameters (for the status line).
func (c *Root) guessedNames() string {
	var out []string
	for _, g := range c.guessFields() {
		if g.Guess && !g.Given {
			out = append(out, g.Label)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
