package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/core/tensor"
)

// rflowFlags are sample's flags for caption models and Open-Sora's
// rectified flow.
type rflowFlags struct {
	caption, latent, release      string
	height, width, numFrames, fps float64
}

var rflowFlagNames = []string{"caption", "latent-size", "height", "width", "num-frames", "fps", "rflow-release"}

func (r *rflowFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&r.caption, "caption", "", "caption embeddings (STDiT3, PixArt): a safetensors file holding y [N, 1, L, Ct] and optionally mask [N, L] (and PixArtMS's img_hw, aspect_ratio), as the model's own text encoder computed them (default: the --noise file's caption, else the model's own null caption y_embedder.y_embedding, unguided)")
	fs.StringVar(&r.latent, "latent-size", "", "latent size of one sample when no --noise file fixes it: C,T,H,W for STDiT3, C,H,W for PixArtMS (default: the spec's input_size; STDiT3 without one C,5,16,16: 17 frames of 128×128 px)")
	fs.Float64Var(&r.height, "height", 0, "video height in pixels (fps/size micro-conditions and the timestep transform; default: the --noise file's, else 8 × the latent's)")
	fs.Float64Var(&r.width, "width", 0, "video width in pixels (default: the --noise file's, else 8 × the latent's)")
	fs.Float64Var(&r.numFrames, "num-frames", 0, "video frames for the timestep transform (default: the --noise file's, else what the release's VAE decodes the latent frames to: 1.2 17 per 5, 1.3 4 per frame + 1)")
	fs.Float64Var(&r.fps, "fps", 0, "video fps (default: the --noise file's, else 24; 120 for one frame)")
	fs.StringVar(&r.release, "rflow-release", "", "rectified flow settings: 1.2 (Open-Sora 1.2) or 1.3 (oscillation guidance, flaw fix, 1.3 frame count); default: the family's (stdit3 1.2, stdit3-v4 1.3)")
}

// videoGiven reports whether any of the rectified flow's own flags (the
// video's size, frames, fps, release) was set: --caption and
// --latent-size serve the Gaussian samplers too (PixArt).
func (r *rflowFlags) videoGiven(set map[string]bool) bool {
	for _, n := range rflowFlagNames {
		if set[n] && n != "caption" && n != "latent-size" {
			return true
		}
	}
	return false
}

// flowArgs are sample's general flags the rectified flow reads.
type flowArgs struct {
	steps          int
	cfgScale       float64
	seed           uint64
	noise, class   string
	out, latentOut string
	dec            *decode.Decoder // --decoder, or nil: the latent→RGB factors
	decPath        string
	stdout         io.Writer // where the "wrote PATH" lines go
}

// runFlowSample is `ditkit sample --sampler rflow` (the STDiT3 default):
// Open-Sora's RFLOW with the caption from --caption, the noise file or the
// model's null caption (saying which on stderr).
func runFlowSample(name string, n *runNet, mf *modelFlags, rf *rflowFlags, set map[string]bool, a flowArgs, stderr io.Writer) int {
	if a.class != "" {
		return fail(stderr, fmt.Errorf("--class: %s takes a caption (--caption), not class labels", n.Spec().Family))
	}
	req := sample.Request{Sampler: "rflow", Steps: a.steps, CFGScale: a.cfgScale, Noise: sample.Noise{Seed: a.seed},
		RFlowRelease: rf.release, Options: &dit.Options{Backend: mf.cpu()}}
	captionFrom := "the model's own null caption (y_embedder.y_embedding; no text encoder here): unguided"
	if a.noise != "" {
		ts, err := readTensors(a.noise)
		if err != nil {
			return fail(stderr, err)
		}
		ff, err := sample.FlowNoiseFile(ts, a.noise)
		if err != nil {
			return fail(stderr, err)
		}
		req.Noise = ff.Noise
		req.Height, req.Width, req.NumFrames, req.FPS = ff.Video.Height, ff.Video.Width, ff.Video.NumFrames, ff.Video.FPS
		if ff.Steps > 0 && !set["steps"] {
			req.Steps = ff.Steps
		}
		if ff.Caption != nil {
			req.Caption, captionFrom = ff.Caption, "the --noise file's y_cond/mask"
		}
	}
	if rf.caption != "" {
		var err error
		if req.Caption, err = readCaption(rf.caption); err != nil {
			return fail(stderr, err)
		}
		captionFrom = rf.caption
	}
	if rf.latent != "" {
		if req.Noise.Shape != nil {
			return fail(stderr, fmt.Errorf("--latent-size: the --noise file fixes the latent (%s)", tensor.FormatShape(req.Noise.Shape[1:])))
		}
		lat, err := sample.ParseLabels(rf.latent)
		if err != nil || len(lat) == 0 {
			return fail(stderr, fmt.Errorf("--latent-size %q: want C,T,H,W", rf.latent))
		}
		req.Latent = lat
	}
	for _, f := range []struct {
		flag string
		v    float64
		dst  *float64
	}{{"height", rf.height, &req.Height}, {"width", rf.width, &req.Width}, {"num-frames", rf.numFrames, &req.NumFrames}, {"fps", rf.fps, &req.FPS}} {
		if set[f.flag] {
			if !(f.v > 0) {
				return fail(stderr, fmt.Errorf("--%s %g: want a positive number", f.flag, f.v))
			}
			*f.dst = f.v
		}
	}
	if req.Caption != nil && a.cfgScale > 1 {
		captionFrom += fmt.Sprintf(", guided (scale %g) against the model's null caption", a.cfgScale)
	}
	fmt.Fprintf(stderr, "ditkit %s: rectified flow, caption: %s\n", name, captionFrom)
	res, xSteps, err := runSampler(n, req, a.latentOut != "", stderr)
	if err != nil {
		return fail(stderr, err)
	}
	if err := writePreview(name, res, a.dec, a.decPath, mf.threads, a.out, a.stdout, stderr); err != nil {
		return fail(stderr, err)
	}
	if a.latentOut == "" {
		return exitOK
	}
	// z_in_steps (what each step fed the model) and timesteps as the
	// rectified-flow references name them, beside out and x_steps.
	zin := sample.StepInputs(z0(req, res), xSteps)
	ts := make([]float32, len(res.Timesteps))
	for i, t := range res.Timesteps {
		ts[i] = float32(t)
	}
	meta := map[string]string{"producer": "ditkit " + name, "sampler": "rflow", "steps": strconv.Itoa(res.Steps),
		"cfg_scale": strconv.FormatFloat(a.cfgScale, 'g', -1, 64), "caption": strings.SplitN(captionFrom, ",", 2)[0]}
	stepShape := append([]int{res.Steps}, res.Shape...)
	err = writeSafetensors(a.latentOut, []namedTensor{
		{"out", tensor.F32, res.Shape, res.Out},
		{"x_steps", tensor.F32, stepShape, xSteps},
		{"z_in_steps", tensor.F32, stepShape, zin},
		{"timesteps", tensor.F32, []int{res.Steps}, ts},
	}, meta)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(a.stdout, "wrote %s (out, x_steps, z_in_steps, timesteps)\n", a.latentOut)
	return exitOK
}

// z0 is the run's initial latent: the noise file's, or the seeded draw
// (redrawn exactly as the sampler drew it).
func z0(req sample.Request, res *sample.Result) []float32 {
	if req.Noise.X != nil {
		return req.Noise.X
	}
	return sample.FlowNoise(req.Noise.Seed, len(res.Out))
}
