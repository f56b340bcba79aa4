// Package diffusion is DiT's Gaussian diffusion (facebookresearch/DiT
// diffusion/ at ed81ce2): the linear β schedule of 1000 steps, respacing
// as create_diffusion(timestep_respacing) does it, and the DDPM
// (p_sample_loop) and DDIM (ddim_sample_loop, eta) samplers for
// ε-predicting models with learned-range or fixed variance.
//
// Like upstream, the schedule is computed in float64 and each coefficient
// is cast to float32 before it touches the latent; the latent math runs in
// float32 in the same operation order as the PyTorch code.
package diffusion

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// VarType is the model's variance parameterisation.
type VarType int

const (
	LearnedRange VarType = iota // model outputs [ε, v], v ∈ [−1, 1] interpolates log β and log β̃
	FixedLarge                  // σ² = β (with β̃₁ at t=0), learn_sigma=False, sigma_small=False
	FixedSmall                  // σ² = β̃
)

// Diffusion is a (respaced) GaussianDiffusion.
type Diffusion struct {
	VarType VarType
	// TimestepMap maps respaced index i to the original timestep given to
	// the model (SpacedDiffusion.timestep_map).
	TimestepMap []int
	Betas       []float64

	AlphasCumprod, AlphasCumprodPrev []float64
	sqrtRecipAC, sqrtRecipM1AC       []float64
	postLogVarClipped, logBetas      []float64
	postCoef1, postCoef2             []float64
	fixedVar, fixedLogVar            []float64
}

// LinearBetas is get_named_beta_schedule("linear", n).
func LinearBetas(n int) []float64 {
	scale := 1000 / float64(n)
	start, end := scale*0.0001, scale*0.02
	b := make([]float64, n)
	for i := range b {
		if n == 1 {
			b[i] = start
			continue
		}
		// np.linspace: start + i*step, last element exactly end
		step := (end - start) / float64(n-1)
		b[i] = start + float64(i)*step
	}
	b[n-1] = end
	return b
}

// SpaceTimesteps is respace.space_timesteps(num, sections): "N", "a,b,c"
// or "ddimN". It returns the kept timesteps in increasing order.
func SpaceTimesteps(num int, sections string) ([]int, error) {
	if rest, ok := strings.CutPrefix(sections, "ddim"); ok {
		want, err := strconv.Atoi(rest)
		if err != nil {
			return nil, fmt.Errorf("diffusion: bad respacing %q", sections)
		}
		for i := 1; i < num; i++ {
			if (num+i-1)/i == want {
				var out []int
				for s := 0; s < num; s += i {
					out = append(out, s)
				}
				return out, nil
			}
		}
		return nil, fmt.Errorf("diffusion: cannot create exactly %d steps with an integer stride", want)
	}
	var counts []int
	for _, f := range strings.Split(sections, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 0 {
			return nil, fmt.Errorf("diffusion: bad respacing %q", sections)
		}
		counts = append(counts, c)
	}
	sizePer := num / len(counts)
	extra := num % len(counts)
	start := 0
	set := map[int]bool{}
	for i, sc := range counts {
		size := sizePer
		if i < extra {
			size++
		}
		if size < sc {
			return nil, fmt.Errorf("diffusion: cannot divide section of %d steps into %d", size, sc)
		}
		frac := 1.0
		if sc > 1 {
			frac = float64(size-1) / float64(sc-1)
		}
		cur := 0.0
		for j := 0; j < sc; j++ {
			set[start+int(math.RoundToEven(cur))] = true
			cur += frac
		}
		start += size
	}
	out := make([]int, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Ints(out)
	return out, nil
}

// Create is DiT's create_diffusion(timestep_respacing, learn_sigma=…,
// sigma_small=False, noise_schedule="linear", diffusion_steps=1000).
// An empty respacing keeps all 1000 steps.
func Create(respacing string, learnSigma bool) (*Diffusion, error) {
	const steps = 1000
	if respacing == "" {
		respacing = strconv.Itoa(steps)
	}
	base := LinearBetas(steps)
	use, err := SpaceTimesteps(steps, respacing)
	if err != nil {
		return nil, err
	}
	keep := map[int]bool{}
	for _, u := range use {
		keep[u] = true
	}
	ac := cumprod(base)
	last := 1.0
	var betas []float64
	var tmap []int
	for i, a := range ac {
		if keep[i] {
			betas = append(betas, 1-a/last)
			last = a
			tmap = append(tmap, i)
		}
	}
	vt := FixedLarge
	if learnSigma {
		vt = LearnedRange
	}
	d := New(betas, vt)
	d.TimestepMap = tmap
	return d, nil
}

func cumprod(b []float64) []float64 {
	out := make([]float64, len(b))
	p := 1.0
	for i, v := range b {
		p *= 1 - v
		out[i] = p
	}
	return out
}

// New builds a GaussianDiffusion over betas (TimestepMap = identity).
func New(betas []float64, vt VarType) *Diffusion {
	n := len(betas)
	d := &Diffusion{VarType: vt, Betas: betas}
	d.TimestepMap = make([]int, n)
	for i := range d.TimestepMap {
		d.TimestepMap[i] = i
	}
	d.AlphasCumprod = cumprod(betas)
	d.AlphasCumprodPrev = append([]float64{1}, d.AlphasCumprod[:n-1]...)
	mk := func(f func(i int) float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	ac, acp := d.AlphasCumprod, d.AlphasCumprodPrev
	d.sqrtRecipAC = mk(func(i int) float64 { return math.Sqrt(1 / ac[i]) })
	d.sqrtRecipM1AC = mk(func(i int) float64 { return math.Sqrt(1/ac[i] - 1) })
	postVar := mk(func(i int) float64 { return betas[i] * (1 - acp[i]) / (1 - ac[i]) })
	if n > 1 {
		d.postLogVarClipped = mk(func(i int) float64 {
			if i == 0 {
				return math.Log(postVar[1])
			}
			return math.Log(postVar[i])
		})
	} else {
		d.postLogVarClipped = []float64{math.Log(postVar[0])}
	}
	d.logBetas = mk(func(i int) float64 { return math.Log(betas[i]) })
	d.postCoef1 = mk(func(i int) float64 { return betas[i] * math.Sqrt(acp[i]) / (1 - ac[i]) })
	d.postCoef2 = mk(func(i int) float64 { return (1 - acp[i]) * math.Sqrt(1-betas[i]) / (1 - ac[i]) })
	switch vt {
	case FixedLarge:
		d.fixedVar = mk(func(i int) float64 {
			if i == 0 && n > 1 {
				return postVar[1]
			}
			return betas[i]
		})
	case FixedSmall:
		d.fixedVar = postVar
	}
	if d.fixedVar != nil {
		d.fixedLogVar = mk(func(i int) float64 { return math.Log(d.fixedVar[i]) })
		if vt == FixedSmall {
			d.fixedLogVar = d.postLogVarClipped
		}
	}
	return d
}

// Steps is the number of sampling steps.
func (d *Diffusion) Steps() int { return len(d.Betas) }

// Model evaluates the network on x [N, C, …] at the original timesteps t
// (one per sample) and returns its output [N, Cout, …] with Cout = 2C for
// learned-range variance, C (or more; extra channels ignored) otherwise.
type Model func(ctx context.Context, x []float32, t []float64) ([]float32, error)

// Sampler names.
const (
	DDPM = "ddpm"
	DDIM = "ddim"
)

// Options configure a sampling loop.
type Options struct {
	Sampler      string  // "ddpm" (default) or "ddim"
	Eta          float64 // DDIM η (0 = deterministic)
	ClipDenoised bool    // clamp pred_xstart to [−1, 1] (off, as DiT's sample.py)
	// Noise fills dst with the standard normal noise drawn at loop
	// iteration i (th.randn_like(x) upstream). Required unless the
	// sampler never uses noise (DDIM with η=0 still draws it upstream, so
	// it is called anyway).
	Noise func(i int, dst []float32)
	// Step is called after each iteration i with the new latent and the
	// predicted x₀ (not to be retained).
	Step func(i, t int, x, predXStart []float32)
	// Groups is how many channel blocks one sample holds before its
	// channel axis: a sample's output is Groups blocks of [ε; variance]
	// (Latte's [F, 2C, H, W] splits along dim 2: Groups = F). 0 or 1: one
	// block [2C, …], split along dim 1.
	Groups int
}

// Sample runs the loop from x_T = x (not modified) over N samples and
// returns the final latent.
func (d *Diffusion) Sample(ctx context.Context, model Model, x []float32, n int, opt Options) ([]float32, error) {
	if n <= 0 || len(x)%(n*max(opt.Groups, 1)) != 0 {
		return nil, fmt.Errorf("diffusion: %d values do not split into %d samples of %d channel blocks", len(x), n, max(opt.Groups, 1))
	}
	img := append([]float32(nil), x...)
	noise := make([]float32, len(x))
	next := make([]float32, len(x))
	pred := make([]float32, len(x))
	tt := make([]float64, n)
	for i := d.Steps() - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for k := range tt {
			tt[k] = float64(d.TimestepMap[i])
		}
		out, err := model(ctx, img, tt)
		if err != nil {
			return nil, err
		}
		if opt.Noise != nil {
			opt.Noise(d.Steps()-1-i, noise)
		} else {
			clear(noise)
		}
		switch g := max(opt.Groups, 1); opt.Sampler {
		case "", DDPM:
			err = d.pSample(next, pred, img, out, n*g, i, noise, opt.ClipDenoised)
		case DDIM:
			err = d.ddimSample(next, pred, img, out, n*g, i, noise, opt.ClipDenoised, opt.Eta)
		default:
			err = fmt.Errorf("diffusion: unknown sampler %q (ddpm, ddim)", opt.Sampler)
		}
		if err != nil {
			return nil, err
		}
		img, next = next, img
		if opt.Step != nil {
			opt.Step(d.Steps()-1-i, d.TimestepMap[i], img, pred)
		}
	}
	return img, nil
}

func f32(v float64) float32 { return float32(v) }

func exp32(v float32) float32  { return float32(math.Exp(float64(v))) }
func sqrt32(v float32) float32 { return float32(math.Sqrt(float64(v))) }

// meanVar is p_mean_variance: it fills pred (pred_xstart) and mean, logVar
// per element.
func (d *Diffusion) meanVar(mean, logVar, pred, x, out []float32, n, i int, clip bool) error {
	per := len(x) / n
	if len(out)%n != 0 || len(out)/n < per {
		return fmt.Errorf("diffusion: model output has %d values for %d samples of %d", len(out), n, per)
	}
	operN := len(out) / n
	if d.VarType == LearnedRange && operN != 2*per {
		return fmt.Errorf("diffusion: learned-sigma model must output 2× the input channels (%d values per sample, want %d)", operN, 2*per)
	}
	sra, srm1 := f32(d.sqrtRecipAC[i]), f32(d.sqrtRecipM1AC[i])
	c1, c2 := f32(d.postCoef1[i]), f32(d.postCoef2[i])
	minLog, maxLog := f32(d.postLogVarClipped[i]), f32(d.logBetas[i])
	var fixedLog float32
	if d.VarType != LearnedRange {
		fixedLog = f32(d.fixedLogVar[i])
	}
	for s := 0; s < n; s++ {
		o := out[s*operN:]
		for k := 0; k < per; k++ {
			j := s*per + k
			eps := o[k]
			if d.VarType == LearnedRange {
				frac := (o[per+k] + 1) / 2
				logVar[j] = frac*maxLog + (1-frac)*minLog
			} else {
				logVar[j] = fixedLog
			}
			px := sra*x[j] - srm1*eps
			if clip {
				px = min(max(px, -1), 1)
			}
			pred[j] = px
			mean[j] = c1*px + c2*x[j]
		}
	}
	return nil
}

func (d *Diffusion) pSample(dst, pred, x, out []float32, n, i int, noise []float32, clip bool) error {
	logVar := make([]float32, len(x))
	if err := d.meanVar(dst, logVar, pred, x, out, n, i, clip); err != nil {
		return err
	}
	if i == 0 { // nonzero_mask = 0
		return nil
	}
	for j := range dst {
		dst[j] = dst[j] + exp32(0.5*logVar[j])*noise[j]
	}
	return nil
}

func (d *Diffusion) ddimSample(dst, pred, x, out []float32, n, i int, noise []float32, clip bool, eta float64) error {
	mean := make([]float32, len(x))
	logVar := make([]float32, len(x))
	if err := d.meanVar(mean, logVar, pred, x, out, n, i, clip); err != nil {
		return err
	}
	sra, srm1 := f32(d.sqrtRecipAC[i]), f32(d.sqrtRecipM1AC[i])
	ab, abp := f32(d.AlphasCumprod[i]), f32(d.AlphasCumprodPrev[i])
	sigma := f32(eta) * sqrt32((1-abp)/(1-ab)) * sqrt32(1-ab/abp)
	sabp := sqrt32(abp)
	c := sqrt32(1 - abp - sigma*sigma)
	for j := range dst {
		eps := (sra*x[j] - pred[j]) / srm1
		v := pred[j]*sabp + c*eps
		if i != 0 {
			v += sigma * noise[j]
		}
		dst[j] = v
	}
	return nil
}
