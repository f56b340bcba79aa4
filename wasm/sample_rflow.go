//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/core/tensor"
)

// flowRequest is window.ditkit.sample's rectified flow (Open-Sora STDiT3):
// the noise file gives z0 (the only noise) and, when it has them, the
// caption (y_cond + mask), the video (height, width, num_frames, fps) and
// the step count; opts.caption (a File holding y [N, 1, L, Ct] and
// optionally mask) overrides its caption; without either the model's own
// null caption runs, unguided. opts.steps, cfgScale, height, width,
// numFrames, fps and rflowRelease override the file and the family's
// defaults.
func flowRequest(in map[string]*tensor.Dense, opts js.Value, def sample.Defaults) (sample.Request, error) {
	ff, err := sample.FlowNoiseFile(in, "noise file")
	if err != nil {
		return sample.Request{}, err
	}
	steps := def.Steps
	if ff.Steps > 0 {
		steps = ff.Steps
	}
	req := sample.Request{Sampler: "rflow", Steps: int(optFloat(opts, "steps", float64(steps))), CFGScale: optFloat(opts, "cfgScale", def.CFGScale),
		Noise: ff.Noise, Caption: ff.Caption, RFlowRelease: optString(opts, "rflowRelease", ""),
		Height: optFloat(opts, "height", ff.Video.Height), Width: optFloat(opts, "width", ff.Video.Width),
		NumFrames: optFloat(opts, "numFrames", ff.Video.NumFrames), FPS: optFloat(opts, "fps", ff.Video.FPS)}
	c, err := optCaption(opts)
	if c != nil {
		req.Caption = c
	}
	return req, err
}

// optCaption reads opts.caption, a File holding y [N, 1, L, Ct] and
// optionally mask (and PixArtMS's img_hw, aspect_ratio); nil without one.
func optCaption(opts js.Value) (*sample.Caption, error) {
	if opts.Type() != js.TypeObject {
		return nil, nil
	}
	c := opts.Get("caption")
	if c.Type() != js.TypeObject {
		return nil, nil
	}
	ts, err := readInputs(c)
	if err != nil {
		return nil, fmt.Errorf("caption: %w", err)
	}
	return sample.CaptionFile(ts, "caption file")
}

// flowTensors are the rectified flow's extra outputs, named as its
// references name them: z_in_steps (what each step fed the model) and the
// timesteps.
func flowTensors(req sample.Request, res *sample.Result, xSteps []float32) []namedF32 {
	zin := sample.StepInputs(req.Noise.X, xSteps)
	ts := make([]float32, len(res.Timesteps))
	for i, t := range res.Timesteps {
		ts[i] = float32(t)
	}
	return []namedF32{
		{"z_in_steps", append([]int{res.Steps}, res.Shape...), zin},
		{"timesteps", []int{res.Steps}, ts},
	}
}
