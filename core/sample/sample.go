// Package sample is the one sampling loop: it takes a runnable model
// (dit.Net, any family), a sampler, per-sample conditioning and the noise,
// and returns the final latent, as facebookresearch/DiT's sample.py does:
// create_diffusion(str(steps)) respacing, DDPM (p_sample_loop) or DDIM
// (ddim_sample_loop), and, with a guidance scale > 1, classifier-free
// guidance on the doubled batch [z; z] with conditioning [cond; null] and
// model.forward_with_cfg; with a scale ≤ 1, p_sample_loop(model.forward)
// on the batch as is (per-sample classes). The CLI (sample, preview), the
// page and window.ditkit.sample all call Run.
//
// Request.Sampler "rflow" is the second scheduler: Open-Sora 1.2/1.3's
// rectified flow (RFlow, rflow.go), which keeps the state at N samples and
// doubles inside each step, guiding every channel of the first half of the
// output against the model's null caption; its only noise is the initial
// latent (FlowNoiseFile). DefaultsFor says which sampler a family uses.
//
// Adding a sampler: PixArt's IDDPM is this Gaussian diffusion with the
// null caption as Net.Null.
package sample

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/ditkit/ditkit/core/diffusion"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/preview"
	"github.com/ditkit/ditkit/core/tensor"
)

// Request describes one sampling run.
type Request struct {
	Steps        int    // respaced steps, 1 to 1000
	Sampler      string // "ddpm", "ddim" or "rflow"; "": the family's (DefaultsFor)
	Eta          float64
	ClipDenoised bool
	// CFGScale > 1 guides (when the model has forward_with_cfg): the state
	// is the doubled batch [z; z] with conditioning [cond; null].
	CFGScale float64
	// Labels are the class labels of a class-conditional model, one per
	// sample: their count is the batch. Empty: FileLabels, else the
	// default class (207 for ImageNet's 1000 classes, else 0). One label
	// with a noise file of several samples applies to each of them. The
	// null label (the class count) samples unconditionally.
	Labels []int
	// FileLabels are the labels of a noise file (its y). With guidance a
	// y of the form [c…; null…] (how the sampler references store it)
	// gives its first half.
	FileLabels []int
	Noise      Noise
	// Caption is a caption model's text conditioning for the conditional
	// samples (as its own text encoder computed it elsewhere); nil: the
	// noise file's (Noise.Caption), else the model's own null caption,
	// unguided (guidance against the null caption would change nothing).
	Caption *Caption
	// Latent is one sample's latent shape [C, …] when the noise does not
	// fix it (nil: net.Latent(); PixArtMS samples any size).
	Latent []int
	// Height, Width (pixels), NumFrames and FPS describe the video the
	// latent decodes to (Open-Sora's micro-conditions and timestep
	// transform); 0: derived from the latent (Video.VideoFor).
	Height, Width, NumFrames, FPS float64
	// RFlowRelease picks the rectified flow's settings ("1.2", "1.3"; "":
	// the family's, RFlowRelease).
	RFlowRelease string
	// Step, when set, is called after step i (0-based) of n, at original
	// timestep t, with the new state (not to be retained).
	Step    func(i, n, t int, x []float32)
	Options *dit.Options
}

// Noise is the randomness of a run: the initial latent X and the noise
// drawn at every step, from a file (sample.py's own draws, so results
// match PyTorch) or from ditkit's own generator seeded with Seed.
type Noise struct {
	Seed uint64
	// X is the initial state: N samples (duplicated for guidance as
	// sample.py does) or the whole state; nil: drawn.
	X []float32
	// Steps holds the noise of every step (steps × the state's size); nil:
	// drawn.
	Steps []float32
	// Name names the file X and Steps came from (error messages).
	Name string
	// Shape is X's shape when the file gives it ([N, C, …]): the samplers
	// sample a latent of that size.
	Shape []int
	// Caption is the file's caption conditioning (a float y, as the
	// PixArt sampler references store cat([caption, null])), or nil.
	Caption *Caption
}

// Caption is a caption model's text conditioning for N captions: Y
// [N, 1, L, Ct], Mask [N', L] (nil: every token; N divisible by N') and
// PixArtMS's micro-conditions ImgHW [N', 2], AspectRatio [N', 1] (nil:
// from the latent's size), as a caption file holds them (CaptionFile).
type Caption struct {
	Y                  []float32
	Mask               []int
	N                  int
	ImgHW, AspectRatio []float64
	Name               string // the file it came from ("" when built in code)
}

// noiseStream is the PCG stream every sampler (and the benchmarks'
// inputs) draws its Gaussian noise from, after the seed: "ditkit".
const noiseStream = 0x6469746b6974

// cond is the caption's conditioning for its N samples.
func (c *Caption) cond() *dit.Cond {
	return &dit.Cond{Caption: c.Y, Mask: c.Mask, ImgHW: c.ImgHW, AspectRatio: c.AspectRatio}
}

// first returns the caption of the first n samples (a reference's
// cat([caption, null]) halved), keeping the mask and micro-conditions.
func (c *Caption) first(n int) *Caption {
	d := *c
	d.Y, d.N = c.Y[:n*(len(c.Y)/c.N)], n
	return &d
}

// Result is a finished run.
type Result struct {
	Out   []float32 // the final state [B, C, …]
	Shape []int     // [B, C, …]
	N     int       // conditional samples: the first N of the state (B = N, or 2N with guidance)
	Steps int
	// Guided reports whether guidance ran (the model may have none).
	Guided bool
	// ChannelAxis is the state's channel axis (dit.ChannelAxis: 2 for
	// Latte's [B, F, C, H, W], else 1).
	ChannelAxis int
	// Conditioning says what the samples were conditioned on (the
	// classes, the caption file, or the model's null caption).
	Conditioning string
	// Timesteps are the model timesteps of every step (the rectified
	// flow's after its transform; nil for the Gaussian diffusion).
	Timesteps []float64
	// ModelBatch is the batch every step ran the model on (the rectified
	// flow doubles its N samples inside each guided step).
	ModelBatch int
}

// ChannelsFirst returns the state as [B, C, …] (Latte's frames-first
// state transposed to [B, C, F, H, W]): what previews and decoders take.
func (r *Result) ChannelsFirst() ([]float32, []int) {
	s := r.Shape
	if r.ChannelAxis != 2 || len(s) != 5 {
		return r.Out, s
	}
	B, F, C, plane := s[0], s[1], s[2], s[3]*s[4]
	out := make([]float32, len(r.Out))
	for b := 0; b < B; b++ {
		for f := 0; f < F; f++ {
			for c := 0; c < C; c++ {
				copy(out[((b*C+c)*F+f)*plane:][:plane], r.Out[((b*F+f)*C+c)*plane:][:plane])
			}
		}
	}
	return out, []int{B, C, F, s[3], s[4]}
}

// Image renders the conditional samples: images side by side, or the
// first video's frames as a strip.
func (r *Result) Image() (*image.RGBA, error) {
	out, s := r.ChannelsFirst()
	if len(s) == 5 {
		return preview.FrameStrip(out, s[1], s[2], s[3], s[4])
	}
	return preview.Grid(out, r.N, s[1], s[2], s[3])
}

// ParseLabels reads class labels "5" or "1,11".
func ParseLabels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("class %q: want an integer or a comma-separated list", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// NoiseFile reads a noise file shaped like the sampler references: x (the
// initial latent; PixArt's reference calls it z), step_noise (what
// randn_like returned at each step), and optionally y — class labels, or
// caption embeddings with their mask and micro-conditions (Noise.Caption)
// — and their step count. name is the file's name for errors.
func NoiseFile(ts map[string]*tensor.Dense, name string) (n Noise, y []int, steps int, err error) {
	xk := "x"
	if ts[xk] == nil && ts["z"] != nil {
		xk = "z" // PixArt's sampler reference names the initial latent z
	}
	if ts[xk] == nil || ts["step_noise"] == nil {
		return n, nil, 0, fmt.Errorf("%s: need tensors x (or z) and step_noise", name)
	}
	n.Name = name
	if n.X, err = ts[xk].Float32s(); err != nil {
		return n, nil, 0, fmt.Errorf("%s: %s: %w", name, xk, err)
	}
	n.Shape = ts[xk].Shape
	if n.Steps, err = ts["step_noise"].Float32s(); err != nil {
		return n, nil, 0, fmt.Errorf("%s: step_noise: %w", name, err)
	}
	if s := ts["step_noise"].Shape; len(s) > 0 {
		steps = s[0]
	}
	if d := ts["y"]; d != nil && d.DType.IsFloat() && len(d.Shape) >= 2 {
		if n.Caption, err = readCaption(ts, name, "y"); err != nil {
			return n, nil, 0, err
		}
	} else if d != nil {
		if y, err = d.Ints(); err != nil {
			return n, nil, 0, fmt.Errorf("%s: y: %w", name, err)
		}
	}
	return n, y, steps, nil
}

// Samplers are the samplers Run knows: "ddpm" and "ddim" (the Gaussian
// diffusion, core/diffusion) and "rflow" (Open-Sora's rectified flow).
var Samplers = []string{"ddpm", "ddim", "rflow"}

// Defaults are how a family samples unless told otherwise (the upstream
// inference configs): its sampler, steps, guidance scale, and the fewer
// steps of a quick preview.
type Defaults struct {
	Sampler        string
	Steps          int
	PreviewSampler string
	PreviewSteps   int
	CFGScale       float64
}

// DefaultsFor returns a family's sampling defaults: Open-Sora 1.2/1.3
// STDiT3 the rectified flow (30 steps, guidance 7.0 / 7.5), every other
// family DiT's sample.py (DDPM 250 steps, guidance 4; preview DDIM 25).
func DefaultsFor(family string) Defaults {
	switch family {
	case "stdit3", "stdit3-v4":
		rf, _ := RFlowFor(RFlowRelease(family))
		return Defaults{Sampler: "rflow", Steps: rf.Steps, PreviewSampler: "rflow", PreviewSteps: rf.Steps, CFGScale: rf.CFGScale}
	}
	return Defaults{Sampler: "ddpm", Steps: 250, PreviewSampler: "ddim", PreviewSteps: 25, CFGScale: 4}
}

// Run samples net as req says.
func Run(ctx context.Context, net dit.Net, req Request) (*Result, error) {
	def := DefaultsFor(net.Spec().Family)
	if req.Sampler == "" {
		req.Sampler = def.Sampler
	}
	if req.Sampler == "rflow" {
		return runRFlow(ctx, net, req)
	}
	if def.Sampler == "rflow" {
		return nil, fmt.Errorf("%s samples with the rectified flow (sampler rflow), not %s", net.Spec().Family, req.Sampler)
	}
	if req.Steps < 1 || req.Steps > 1000 {
		return nil, fmt.Errorf("steps %d: want 1 to 1000", req.Steps)
	}
	d, err := diffusion.Create(strconv.Itoa(req.Steps), net.LearnSigma())
	if err != nil {
		return nil, err
	}
	caption := req.Caption
	if caption == nil {
		caption = req.Noise.Caption
	}
	nullCaption := net.Classes() == 0 && caption == nil
	guided := req.CFGScale > 1 && net.Guided() > 0 && !nullCaption
	lat := net.Latent()
	switch s := req.Noise.Shape; {
	case len(s) == len(lat)+1 && s[dit.ChannelAxis(net)] == lat[dit.ChannelAxis(net)-1]:
		lat = s[1:] // the file's latent size (PixArtMS takes any)
	case req.Latent != nil:
		lat = req.Latent
	}
	per := 1
	for _, v := range lat {
		per *= v
	}
	noiseName := req.Noise.Name
	if noiseName == "" {
		noiseName = "noise"
	}
	// The batch: one sample per label, or as many as the noise file has.
	fileN := 0
	if req.Noise.X != nil {
		if len(req.Noise.X)%per != 0 {
			return nil, fmt.Errorf("%s: x has %d values, not a whole number of latents %s", noiseName, len(req.Noise.X), tensor.FormatShape(lat))
		}
		fileN = len(req.Noise.X) / per
		if guided && fileN%2 == 0 {
			fileN /= 2 // [z; z]
		}
	}
	cond, n, err := conditioning(net, req, caption, guided, fileN)
	if err != nil {
		return nil, err
	}
	what := conditioningText(net, cond, caption, n)
	if guided {
		null, err := net.Null(n)
		if err != nil {
			return nil, err
		}
		if cond.Caption != nil && len(cond.Caption) != len(null.Caption) {
			return nil, fmt.Errorf("%s: the caption has %d values per sample, the model's null caption %d: they must have the same token count to be batched for guidance", caption.Name, len(cond.Caption)/n, len(null.Caption)/n)
		}
		if cond, err = cond.Concat(null); err != nil {
			return nil, err
		}
	}
	b := n
	if guided {
		b = 2 * n
	}
	shape := append([]int{b}, lat...)
	x := make([]float32, b*per)
	rng := rand.New(rand.NewPCG(req.Noise.Seed, noiseStream))
	switch {
	case req.Noise.X == nil:
		for i := 0; i < n*per; i++ {
			x[i] = float32(rng.NormFloat64())
		}
		copy(x[n*per:], x[:n*per])
	case len(req.Noise.X) == b*per:
		copy(x, req.Noise.X)
	case guided && len(req.Noise.X) == n*per: // one latent per sample: duplicate as sample.py does
		copy(x, req.Noise.X)
		copy(x[n*per:], req.Noise.X)
	default:
		return nil, fmt.Errorf("%s: x has %d latents %s, want %d", noiseName, len(req.Noise.X)/per, tensor.FormatShape(lat), b)
	}
	noise := func(_ int, dst []float32) {
		for i := range dst {
			dst[i] = float32(rng.NormFloat64())
		}
	}
	if sn := req.Noise.Steps; sn != nil {
		if len(sn) < d.Steps()*len(x) {
			return nil, fmt.Errorf("%s: step_noise has %d values, need %d steps × %d", noiseName, len(sn), d.Steps(), len(x))
		}
		noise = func(i int, dst []float32) { copy(dst, sn[i*len(dst):(i+1)*len(dst)]) }
	}
	scale := float32(req.CFGScale)
	model := func(ctx context.Context, x []float32, t []float64) ([]float32, error) {
		var out []float32
		var err error
		if guided {
			out, _, err = dit.ForwardWithCFG(ctx, net, x, shape, t, cond, scale, req.Options)
		} else {
			out, _, err = net.Forward(ctx, x, shape, t, cond, req.Options)
		}
		return out, err
	}
	groups := 1
	for _, v := range lat[:dit.ChannelAxis(net)-1] {
		groups *= v
	}
	out, err := d.Sample(ctx, model, x, b, diffusion.Options{
		Sampler: req.Sampler, Eta: req.Eta, ClipDenoised: req.ClipDenoised, Noise: noise, Groups: groups,
		Step: func(i, t int, xs, _ []float32) {
			if req.Step != nil {
				req.Step(i, d.Steps(), t, xs)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return &Result{Out: out, Shape: shape, N: n, Steps: d.Steps(), Guided: guided, ModelBatch: b,
		ChannelAxis: dit.ChannelAxis(net), Conditioning: what}, nil
}

// conditioningText says what n conditional samples are conditioned on.
func conditioningText(net dit.Net, c *dit.Cond, caption *Caption, n int) string {
	switch {
	case net.Classes() > 0:
		ls := make([]string, len(c.Labels))
		for i, l := range c.Labels {
			ls[i] = strconv.Itoa(l)
		}
		if len(ls) == 1 {
			return "class " + ls[0]
		}
		return "classes " + strings.Join(ls, ", ")
	case caption != nil && caption.Name != "":
		return fmt.Sprintf("caption embeddings from %s", caption.Name)
	case caption != nil:
		return "the caption embeddings given"
	case net.Guided() > 0:
		return "the model's own null caption (y_embedder.y_embedding; no caption given, so no guidance: against the null caption it changes nothing)"
	}
	return "the model's own null caption (y_embedder.y_embedding; no caption given)"
}

// conditioning returns the conditional samples' conditioning and their
// count n.
func conditioning(net dit.Net, req Request, caption *Caption, guided bool, fileN int) (*dit.Cond, int, error) {
	k := net.Classes()
	if k == 0 { // a caption model: the caption given, else the null caption
		if len(req.Labels) > 0 {
			return nil, 0, fmt.Errorf("%s takes captions, not class labels", net.Spec().Family)
		}
		if caption == nil {
			return &dit.Cond{}, max(fileN, 1), nil
		}
		if caption == req.Noise.Caption && guided && fileN > 0 && caption.N == 2*fileN {
			caption = caption.first(fileN) // cat([caption, null]) as the reference stores it
		}
		switch c := caption.cond(); {
		case fileN == 0 || caption.N == fileN:
			return c, caption.N, nil
		case caption.N == 1: // one caption for every latent of the noise file
			c.Caption = nil
			for range fileN {
				c.Caption = append(c.Caption, caption.Y...)
			}
			return c, fileN, nil
		}
		return nil, 0, fmt.Errorf("caption %s: %d captions for %d latents of %s", caption.Name, caption.N, fileN, req.Noise.Name)
	}
	labels := req.Labels
	if len(labels) == 0 {
		labels = req.FileLabels
		if guided && len(labels) > 0 && len(labels)%2 == 0 {
			h := len(labels) / 2
			null := true
			for _, l := range labels[h:] {
				null = null && l == k
			}
			if null {
				labels = labels[:h]
			}
		}
	}
	if len(labels) == 0 {
		labels = []int{0}
		if k == 1000 {
			labels[0] = 207
		}
	}
	if len(labels) == 1 && fileN > 1 {
		for len(labels) < fileN {
			labels = append(labels, labels[0])
		}
	}
	_, nullErr := net.Null(1)
	for _, l := range labels {
		switch {
		case l >= 0 && l < k, l == k && nullErr == nil:
		case nullErr == nil:
			return nil, 0, fmt.Errorf("class %d outside [0, %d) (%d, the null class, samples unconditionally)", l, k, k)
		default:
			return nil, 0, fmt.Errorf("class %d outside [0, %d)", l, k)
		}
	}
	return &dit.Cond{Labels: labels}, len(labels), nil
}
