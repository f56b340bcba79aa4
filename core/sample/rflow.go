package sample

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/tensor"
)

// RFlow is Open-Sora's rectified-flow sampler (opensora/schedulers/rf
// RFLOW.sample, text-to-video: no mask, no image conditioning), in float32
// as upstream computes it:
//
//	t_i = (1 − i/steps)·1000, i < steps, then (UseTransform)
//	      timestep_transform: t ← r·t/(1 + (r − 1)·t) on t/1000, with
//	      r = √(height·width/512²) · √(latent frames) · TransformScale
//	v   = pred_uncond + g·(pred_cond − pred_uncond) on the first C output
//	      channels of model([z; z], [t; t], y = [caption; null caption])
//	z  ← z + v·(t_i − t_{i+1})/1000 (the last step: t_i/1000)
//
// The only randomness is the initial z. Release "1.2" (Open-Sora 1.2,
// STDiT3) counts latent frames as num_frames//17·5; "1.3" (STDiT-v4) as
// (num_frames − 1)//4 and adds oscillation guidance (g = 1 on odd steps
// from step 10) and the guidance "flaw fix" (v scaled per sample by
// 0.7·std(pred_cond)/std(v) + 0.3), as its t2v config sets them.
type RFlow struct {
	Steps          int
	CFGScale       float64
	UseTransform   bool
	TransformScale float64 // 0 means 1
	Release        string  // "1.2" or "1.3"
	Oscillation    bool    // 1.3: guidance only on even steps after the first 10
	FlawFix        bool    // 1.3: fix_guidance_flaw
}

// RFlowRelease is the release whose RFLOW settings a family samples with:
// "1.3" for stdit3-v4, "1.2" for every other family.
func RFlowRelease(family string) string {
	if family == "stdit3-v4" {
		return "1.3"
	}
	return "1.2"
}

// RFlowFor is the release's inference config (configs/opensora-v1-2 and
// -v1-3 t2v): 30 steps with the timestep transform, guidance 7.0 (1.2) or
// 7.5 with oscillation guidance and the flaw fix (1.3).
func RFlowFor(release string) (RFlow, error) {
	switch release {
	case "1.2", "":
		return RFlow{Steps: 30, CFGScale: 7, UseTransform: true, Release: "1.2"}, nil
	case "1.3":
		return RFlow{Steps: 30, CFGScale: 7.5, UseTransform: true, Release: "1.3", Oscillation: true, FlawFix: true}, nil
	}
	return RFlow{}, fmt.Errorf("rectified flow release %q: want 1.2 or 1.3", release)
}

// Video is what a video latent decodes to: the micro-conditions Open-Sora
// feeds the model (fps, height, width) and the timestep transform (height,
// width, num_frames).
type Video struct {
	Height, Width, NumFrames, FPS float64
}

// VideoFor fills what v leaves 0 from a latent [C, T, H, W] as Open-Sora's
// VAEs map it (8 px per latent pixel; release 1.2: 17 frames per 5 latent
// frames, 1.3: 4 per latent frame after the first; fps 24, 120 for a
// single image as prepare_multi_resolution_info sets IMG_FPS).
func (v Video) VideoFor(release string, lat []int) Video {
	if len(lat) != 4 {
		return v
	}
	T := lat[1]
	if v.Height == 0 {
		v.Height = float64(8 * lat[2])
	}
	if v.Width == 0 {
		v.Width = float64(8 * lat[3])
	}
	if v.NumFrames == 0 {
		switch {
		case T == 1:
			v.NumFrames = 1
		case release == "1.3":
			v.NumFrames = float64(4*(T-1) + 1)
		default:
			v.NumFrames = float64(17 * ((T + 4) / 5))
		}
	}
	if v.FPS == 0 {
		v.FPS = 24
		if v.NumFrames == 1 {
			v.FPS = 120
		}
	}
	return v
}

// Timesteps are the model timesteps of every step (float32 values).
func (r RFlow) Timesteps(v Video) []float32 {
	ts := make([]float32, r.Steps)
	for i := range ts {
		ts[i] = float32((1 - float64(i)/float64(r.Steps)) * 1000)
		if r.UseTransform {
			ts[i] = r.transform(ts[i], v)
		}
	}
	return ts
}

// transform is timestep_transform in float32 (num_timesteps 1000, base
// resolution 512², base frames 1).
func (r RFlow) transform(t float32, v Video) float32 {
	t /= 1000
	res := float32(v.Height) * float32(v.Width)
	space := float32(math.Sqrt(float64(res / (512 * 512))))
	nf := float32(v.NumFrames)
	frames := float32(1)
	if nf != 1 {
		if r.Release == "1.3" {
			frames = float32(math.Floor(float64(nf-1) / 4))
		} else {
			frames = float32(math.Floor(float64(nf)/17)) * 5
		}
	}
	ratio := space * float32(math.Sqrt(float64(frames)))
	if sc := r.TransformScale; sc != 0 && (r.Release != "1.3" || nf != 1) {
		ratio *= float32(sc)
	}
	return ratio * t / (1 + (ratio-1)*t) * 1000
}

// guidance is the scale of step i (oscillation guidance: 1 on odd steps
// from step 10).
func (r RFlow) guidance(i int) float32 {
	if r.Oscillation && i >= 10 && i%2 == 1 {
		return 1
	}
	return float32(r.CFGScale)
}

// runRFlow is Run for Request.Sampler "rflow".
func runRFlow(ctx context.Context, net dit.Net, req Request) (*Result, error) {
	fam := net.Spec().Family
	if net.Classes() > 0 {
		return nil, fmt.Errorf("%s: the rectified flow samples caption models (Open-Sora STDiT3); this one takes class labels", fam)
	}
	release := req.RFlowRelease
	if release == "" {
		release = RFlowRelease(fam)
	}
	rf, err := RFlowFor(release)
	if err != nil {
		return nil, err
	}
	rf.Steps, rf.CFGScale = req.Steps, req.CFGScale
	if rf.Steps < 1 || rf.Steps > 1000 {
		return nil, fmt.Errorf("steps %d: want 1 to 1000", rf.Steps)
	}
	noiseName := req.Noise.Name
	if noiseName == "" {
		noiseName = "noise"
	}
	// One sample's latent: the noise file's, else the request's, else the model's.
	lat := net.Latent()
	switch {
	case len(req.Noise.Shape) > 1:
		lat = req.Noise.Shape[1:]
	case req.Latent != nil:
		lat = req.Latent
	}
	if len(lat) != len(net.Latent()) || lat[0] != net.Latent()[0] {
		return nil, fmt.Errorf("%s: latent %s does not fit the model's %s", noiseName, tensor.FormatShape(lat), tensor.FormatShape(net.Latent()))
	}
	per := 1
	for _, d := range lat {
		if d < 1 {
			return nil, fmt.Errorf("%s: latent %s has an empty axis", noiseName, tensor.FormatShape(lat))
		}
		per *= d
	}
	// The batch: the noise's samples, else the caption's, else one.
	n := 1
	if req.Noise.X != nil {
		if len(req.Noise.X) == 0 || len(req.Noise.X)%per != 0 {
			return nil, fmt.Errorf("%s: z0 has %d values, not a whole number of latents %s", noiseName, len(req.Noise.X), tensor.FormatShape(lat))
		}
		n = len(req.Noise.X) / per
	}
	cond, err := flowCaption(net, req, &n)
	if err != nil {
		return nil, err
	}
	video := Video{Height: req.Height, Width: req.Width, NumFrames: req.NumFrames, FPS: req.FPS}.VideoFor(release, lat)
	if !(video.Height > 0 && video.Width > 0 && video.NumFrames >= 1 && video.FPS > 0) {
		return nil, fmt.Errorf("height %g, width %g, num_frames %g, fps %g: want positive values", video.Height, video.Width, video.NumFrames, video.FPS)
	}
	cond.FPS, cond.Height, cond.Width = []float64{video.FPS}, []float64{video.Height}, []float64{video.Width}
	guided := rf.CFGScale > 1 && req.Caption != nil // the null caption against itself guides nothing
	if guided {
		null, err := net.Null(n)
		if err != nil {
			return nil, err
		}
		if cond, err = cond.Concat(null); err != nil { // the caption mask repeats to the null half (encode_text)
			return nil, err
		}
	}
	z := make([]float32, n*per)
	if req.Noise.X != nil {
		copy(z, req.Noise.X)
	} else {
		z = FlowNoise(req.Noise.Seed, n*per)
	}
	b := n
	if guided {
		b = 2 * n
	}
	shape := append([]int{b}, lat...)
	ts := rf.Timesteps(video)
	C := lat[0]
	plane := per / C
	zin := make([]float32, b*per)
	tt := make([]float64, b)
	v := make([]float32, n*per)
	times := make([]float64, len(ts))
	for i, t := range ts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		times[i] = float64(t)
		copy(zin, z)
		if guided {
			copy(zin[n*per:], z)
		}
		for k := range tt {
			tt[k] = float64(t)
		}
		out, oshape, err := net.Forward(ctx, zin, shape, tt, cond, req.Options)
		if err != nil {
			return nil, err
		}
		Co := oshape[1]
		if Co < C {
			return nil, fmt.Errorf("%s: the model gives %d channels for a %d-channel latent", fam, Co, C)
		}
		gs := rf.guidance(i)
		for s := 0; s < n; s++ {
			cv := out[s*Co*plane:][:C*plane]
			vs := v[s*per:][:per]
			if !guided {
				copy(vs, cv)
				continue
			}
			uv := out[(s+n)*Co*plane:][:C*plane]
			for k := range vs {
				vs[k] = uv[k] + gs*(cv[k]-uv[k])
			}
			if rf.FlawFix {
				f := float32(0.7*(std(cv)/std(vs)) + 0.3)
				for k := range vs {
					vs[k] *= f
				}
			}
		}
		dt := t
		if i+1 < len(ts) {
			dt = t - ts[i+1]
		}
		dt /= 1000
		for k := range z {
			z[k] += v[k] * dt
		}
		if req.Step != nil {
			req.Step(i, len(ts), int(math.Round(float64(t))), z)
		}
	}
	return &Result{Out: z, Shape: append([]int{n}, lat...), N: n, Steps: len(ts), Guided: guided, Timesteps: times, ModelBatch: b,
		Conditioning: conditioningText(net, cond, req.Caption, n)}, nil
}

// FlowNoise is the initial latent the rectified flow draws for a seed
// (ditkit's own PCG generator, as the Gaussian diffusion's): n values.
func FlowNoise(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, noiseStream))
	z := make([]float32, n)
	for i := range z {
		z[i] = float32(rng.NormFloat64())
	}
	return z
}

// flowCaption is the conditional half's conditioning: the request's
// caption (one for every sample, or one per sample: it fixes n when no
// noise does) and mask, else the model's own null caption.
func flowCaption(net dit.Net, req Request, n *int) (*dit.Cond, error) {
	c := req.Caption
	if c == nil {
		return net.Null(*n)
	}
	if c.N < 1 || len(c.Y) == 0 || len(c.Y)%c.N != 0 {
		return nil, fmt.Errorf("caption: %d values for %d captions", len(c.Y), c.N)
	}
	switch {
	case c.N == *n, c.N == 1:
	case req.Noise.X == nil && *n == 1:
		*n = c.N
	default:
		return nil, fmt.Errorf("caption: %d captions for %d samples (want 1 or %d)", c.N, *n, *n)
	}
	y := c.Y
	for c.N == 1 && len(y) < *n*len(c.Y) {
		y = append(y[:len(y):len(y)], c.Y...)
	}
	return &dit.Cond{Caption: y, Mask: c.Mask}, nil
}

// std is torch's unbiased standard deviation.
func std(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	m := s / float64(len(v))
	var q float64
	for _, x := range v {
		d := float64(x) - m
		q += d * d
	}
	return math.Sqrt(q / float64(len(v)-1))
}

// CaptionFile reads a caption embedding file: y [N, 1, L, Ct] (or
// [N, L, Ct]) as the model's own text encoder computed it, and optionally
// mask [N', L] (N divisible by N') and PixArtMS's img_hw [N', 2] and
// aspect_ratio [N', 1]. name names the file in errors.
func CaptionFile(ts map[string]*tensor.Dense, name string) (*Caption, error) {
	return readCaption(ts, name, "y")
}

func readCaption(ts map[string]*tensor.Dense, name, key string) (*Caption, error) {
	y := ts[key]
	if y == nil {
		return nil, fmt.Errorf("%s: no tensor %q (caption embeddings [N, 1, L, Ct])", name, key)
	}
	s := y.Shape
	if !(len(s) == 4 && s[1] == 1 || len(s) == 3) || s[0] < 1 || s[len(s)-1] < 1 || s[len(s)-2] < 1 {
		return nil, fmt.Errorf("%s: %s has shape %s, want [N, 1, L, Ct]", name, key, tensor.FormatShape(s))
	}
	c := &Caption{N: s[0], Name: name}
	var err error
	if c.Y, err = y.Float32s(); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", name, key, err)
	}
	if m := ts["mask"]; m != nil {
		L := s[len(s)-2]
		if len(m.Shape) != 2 || m.Shape[1] != L || m.Shape[0] < 1 || c.N%m.Shape[0] != 0 {
			return nil, fmt.Errorf("%s: mask has shape %s, want [%d, %d] for %s %s", name, tensor.FormatShape(m.Shape), c.N, L, key, tensor.FormatShape(s))
		}
		if c.Mask, err = m.Ints(); err != nil {
			return nil, fmt.Errorf("%s: mask: %w", name, err)
		}
	}
	// PixArtMS's micro-conditions, when the file has them.
	for _, f := range []struct {
		key string
		dst *[]float64
	}{{"img_hw", &c.ImgHW}, {"aspect_ratio", &c.AspectRatio}} {
		if d := ts[f.key]; d != nil {
			if *f.dst, err = d.Float64s(); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", name, f.key, err)
			}
		}
	}
	return c, nil
}

// FlowFile is what a rectified-flow noise file holds, shaped like
// Open-Sora's sampler references (forward2/stdit3_v12/ref_sampler_rflow4):
// z0 (or x), the run's only noise, and, when present, the caption it was
// sampled with (y_cond, or y, and mask), the video (height, width,
// num_frames, fps) and its step count (the length of timesteps).
type FlowFile struct {
	Noise   Noise
	Caption *Caption // nil: the file has none
	Video   Video    // zero where the file says nothing
	Steps   int      // 0: the file does not say
}

// FlowNoiseFile reads a rectified-flow noise file (name for errors).
func FlowNoiseFile(ts map[string]*tensor.Dense, name string) (*FlowFile, error) {
	key := "z0"
	if ts[key] == nil {
		key = "x"
	}
	z := ts[key]
	if z == nil {
		return nil, fmt.Errorf("%s: need tensor z0 (the initial latent [N, C, T, H, W])", name)
	}
	if len(z.Shape) < 2 || z.Numel() == 0 {
		return nil, fmt.Errorf("%s: %s has shape %s, want [N, C, …]", name, key, tensor.FormatShape(z.Shape))
	}
	f := &FlowFile{Noise: Noise{Name: name, Shape: append([]int(nil), z.Shape...)}}
	var err error
	if f.Noise.X, err = z.Float32s(); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", name, key, err)
	}
	for _, k := range []string{"y_cond", "y"} {
		if ts[k] != nil {
			if f.Caption, err = readCaption(ts, name, k); err != nil {
				return nil, err
			}
			break
		}
	}
	for _, v := range []struct {
		key string
		dst *float64
	}{{"height", &f.Video.Height}, {"width", &f.Video.Width}, {"num_frames", &f.Video.NumFrames}, {"fps", &f.Video.FPS}} {
		if d := ts[v.key]; d != nil {
			x, err := d.Float64s()
			if err != nil || len(x) == 0 || !(x[0] > 0) || math.IsInf(x[0], 0) {
				return nil, fmt.Errorf("%s: %s: want a positive number (%v)", name, v.key, err)
			}
			*v.dst = x[0]
		}
	}
	if d := ts["timesteps"]; d != nil && len(d.Shape) == 1 {
		f.Steps = d.Shape[0]
	}
	return f, nil
}

// StepInputs is what every step fed the model (the references'
// z_in_steps): z0, then the state after each step but the last (xSteps
// holds steps × len(z0) values).
func StepInputs(z0, xSteps []float32) []float32 {
	out := append(make([]float32, 0, len(xSteps)), z0...)
	return append(out, xSteps[:max(0, len(xSteps)-len(z0))]...)
}
