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
	// Caption is a caption model's text conditioning (as its own text
	// encoder computed it elsewhere); nil: the model's own null caption.
	// The rectified flow reads it.
	Caption *Caption
	// Latent is one sample's latent shape [C, …] when the noise does not
	// fix it (nil: net.Latent()). The rectified flow reads it.
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
	// Shape is X's shape when the file gives it ([N, C, …]): the
	// rectified flow samples a latent of that size.
	Shape []int
}

// Caption is a caption model's text conditioning for N captions: Y
// [N, 1, L, Ct] and Mask [N, L] (nil: every token).
type Caption struct {
	Y    []float32
	Mask []int
	N    int
}

// Result is a finished run.
type Result struct {
	Out   []float32 // the final state [B, C, …]
	Shape []int     // [B, C, …]
	N     int       // conditional samples: the first N of the state (B = N, or 2N with guidance)
	Steps int
	// Guided reports whether guidance ran (the model may have none).
	Guided bool
	// Timesteps are the model timesteps of every step (the rectified
	// flow's after its transform; nil for the Gaussian diffusion).
	Timesteps []float64
	// ModelBatch is the batch every step ran the model on (the rectified
	// flow doubles its N samples inside each guided step).
	ModelBatch int
}

// Image renders the conditional samples: images side by side, or the
// first video's frames as a strip.
func (r *Result) Image() (*image.RGBA, error) {
	s := r.Shape
	if len(s) == 5 {
		return preview.FrameStrip(r.Out, s[1], s[2], s[3], s[4])
	}
	return preview.Grid(r.Out, r.N, s[1], s[2], s[3])
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
// initial latent), step_noise (what randn_like returned at each step), and
// optionally y (the labels) and their step count. name is the file's name
// for errors.
func NoiseFile(ts map[string]*tensor.Dense, name string) (n Noise, y []int, steps int, err error) {
	if ts["x"] == nil || ts["step_noise"] == nil {
		return n, nil, 0, fmt.Errorf("%s: need tensors x and step_noise", name)
	}
	n.Name = name
	if n.X, err = ts["x"].Float32s(); err != nil {
		return n, nil, 0, fmt.Errorf("%s: x: %w", name, err)
	}
	if n.Steps, err = ts["step_noise"].Float32s(); err != nil {
		return n, nil, 0, fmt.Errorf("%s: step_noise: %w", name, err)
	}
	if s := ts["step_noise"].Shape; len(s) > 0 {
		steps = s[0]
	}
	if ts["y"] != nil {
		if y, err = ts["y"].Ints(); err != nil {
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
	guided := req.CFGScale > 1 && net.Guided() > 0
	lat := net.Latent()
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
	cond, n, err := conditioning(net, req, guided, fileN)
	if err != nil {
		return nil, err
	}
	if guided {
		null, err := net.Null(n)
		if err != nil {
			return nil, err
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
	rng := rand.New(rand.NewPCG(req.Noise.Seed, 0x6469746b6974))
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
	out, err := d.Sample(ctx, model, x, b, diffusion.Options{
		Sampler: req.Sampler, Eta: req.Eta, ClipDenoised: req.ClipDenoised, Noise: noise,
		Step: func(i, t int, xs, _ []float32) {
			if req.Step != nil {
				req.Step(i, d.Steps(), t, xs)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	return &Result{Out: out, Shape: shape, N: n, Steps: d.Steps(), Guided: guided, ModelBatch: b}, nil
}

// conditioning returns the conditional samples' conditioning and their
// count n.
func conditioning(net dit.Net, req Request, guided bool, fileN int) (*dit.Cond, int, error) {
	k := net.Classes()
	if k == 0 { // a caption model: the null caption (no text encoder here)
		if len(req.Labels) > 0 {
			return nil, 0, fmt.Errorf("%s takes captions, not class labels", net.Spec().Family)
		}
		return &dit.Cond{}, max(fileN, 1), nil
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
