package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/preview"
	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/core/tensor"
)

func init() {
	register(&command{
		name:    "sample",
		usage:   "FILE [--arch PRESET | --spec SPEC.json] [--steps N] [--sampler ddpm|ddim] [--eta E] [--class C[,C…]] [--cfg-scale S] [--seed S | --noise REF.safetensors] -o PREVIEW.png [--latent-out L.safetensors]",
		summary: "Sample a class-conditional DiT as DiT's sample.py does (respaced DDPM/DDIM, CFG) and write a latent preview PNG.",
		run:     runSample,
	})
}

func runSample(args []string, stdout, stderr io.Writer) int {
	return runSampleAs("sample", args, stdout, stderr)
}

// runSampleAs runs sample under a command's name (preview reuses it).
func runSampleAs(name string, args []string, stdout, stderr io.Writer) int {
	c := commands[name]
	fs := newFlags(c, stdout, stderr)
	var mf modelFlags
	addModelFlags(fs, &mf)
	steps := fs.Int("steps", 250, "sampling steps (create_diffusion(str(steps)) respacing)")
	sampler := fs.String("sampler", "ddpm", "ddpm (p_sample_loop) or ddim (ddim_sample_loop)")
	eta := fs.Float64("eta", 0, "DDIM η")
	class := fs.String("class", "", "class label, or one per sample: 1,11 (default: the --noise file's y, else 207 when the model has 1000 classes, else 0)")
	cfgScale := fs.Float64("cfg-scale", 4, "classifier-free guidance scale (≤ 1: no guidance: p_sample_loop(model.forward), one sample per class)")
	seed := fs.Uint64("seed", 0, "noise seed (ditkit's own PCG generator; does not reproduce torch.randn)")
	noisePath := fs.String("noise", "", "take the initial noise x and per-step step_noise from this file (shaped like the sampler references)")
	clip := fs.Bool("clip-denoised", false, "clamp predicted x0 to [-1, 1]")
	outPath := fs.String("o", "", "preview PNG")
	latentOut := fs.String("latent-out", "", "write out (final latent) and x_steps (latent after each step) to this safetensors file")
	var pf *previewFlags
	if name == "preview" {
		pf = addPreviewFlags(fs)
	}
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *outPath == "" {
		return usageError(stderr, c, "need FILE and -o PREVIEW.png")
	}
	if err := checkOutputs(*outPath, *latentOut); err != nil {
		return fail(stderr, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := pf.convert(pos[0], &mf, *outPath, stderr); err != nil {
		return fail(stderr, err)
	}
	n, err := loadNet(pos[0], &mf)
	if err != nil {
		return fail(stderr, err)
	}
	mf.precisionNote(stderr)
	if n.Guided() == 0 && set["cfg-scale"] && *cfgScale > 1 {
		fmt.Fprintf(stderr, "ditkit %s: %s samples with the null caption only (no text encoder): --cfg-scale is ignored\n", name, n.Spec().Family)
	}
	req := sample.Request{Steps: *steps, Sampler: *sampler, Eta: *eta, ClipDenoised: *clip, CFGScale: *cfgScale,
		Noise: sample.Noise{Seed: *seed}, Options: &dit.Options{Backend: mf.cpu()}}
	if *class != "" {
		if req.Labels, err = sample.ParseLabels(*class); err != nil {
			return fail(stderr, fmt.Errorf("--class: %w", err))
		}
	}
	if *noisePath != "" {
		// A reference file also says which classes and how many steps it
		// was sampled with; flags given explicitly win.
		ts, err := readTensors(*noisePath)
		if err != nil {
			return fail(stderr, err)
		}
		var fileSteps int
		if req.Noise, req.FileLabels, fileSteps, err = sample.NoiseFile(ts, *noisePath); err != nil {
			return fail(stderr, err)
		}
		if fileSteps > 0 && !set["steps"] {
			req.Steps = fileSteps
		}
	}
	var xSteps []float32
	start := time.Now()
	req.Step = func(i, total, t int, xs []float32) {
		if *latentOut != "" {
			xSteps = append(xSteps, xs...)
		}
		fmt.Fprintf(stderr, "step %d/%d t=%d %.1fs\n", i+1, total, t, time.Since(start).Seconds())
	}
	res, err := sample.Run(context.Background(), n, req)
	if err != nil {
		return fail(stderr, err)
	}
	img, err := res.Image() // the conditional samples, as sample.py keeps
	if err != nil {
		return fail(stderr, err)
	}
	if err := writeFileAtomic(*outPath, func(w io.Writer) error { return preview.WritePNG(w, img) }); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d×%d px)\n", *outPath, img.Bounds().Dx(), img.Bounds().Dy())
	if *latentOut != "" {
		meta := map[string]string{"producer": "ditkit sample", "sampler": *sampler, "steps": strconv.Itoa(res.Steps)}
		if n.Classes() > 0 {
			meta["cfg_scale"] = strconv.FormatFloat(*cfgScale, 'g', -1, 64)
		} else {
			meta["caption"] = "null (y_embedder.y_embedding)"
		}
		err := writeSafetensors(*latentOut, []namedTensor{
			{"out", tensor.F32, res.Shape, res.Out},
			{"x_steps", tensor.F32, append([]int{res.Steps}, res.Shape...), xSteps},
		}, meta)
		if err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintf(stdout, "wrote %s (out, x_steps)\n", *latentOut)
	}
	return exitOK
}
