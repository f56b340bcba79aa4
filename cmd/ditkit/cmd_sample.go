package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/preview"
	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/core/tensor"
)

func init() {
	register(&command{
		name: "sample",
		usage: "FILE [--arch PRESET | --spec SPEC.json] [--steps N] [--sampler ddpm|ddim|rflow] [--eta E] [--class C[,C…] | --caption EMB.safetensors] [--cfg-scale S] [--seed S | --noise REF.safetensors] [--latent-size C,…] [--decoder TAESD] -o PREVIEW.png [--latent-out L.safetensors]\n" +
			"       Open-Sora STDiT3 (rectified flow): [--height PX --width PX --num-frames N --fps F] [--rflow-release 1.2|1.3]",
		summary: "Sample a checkpoint as its upstream sampler does — DiT's sample.py and PixArt's IDDPM (respaced DDPM/DDIM, CFG; Latte), Open-Sora 1.2/1.3's rectified flow for STDiT3 — and write a preview PNG (TAESD decode or latent→RGB factors).",
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
	steps := fs.Int("steps", 250, "sampling steps (create_diffusion(str(steps)) respacing; default: the family's — DiT 250 (preview 25), STDiT3 30)")
	sampler := fs.String("sampler", "ddpm", "ddpm (p_sample_loop), ddim (ddim_sample_loop) or rflow (Open-Sora's rectified flow); default: the family's — DiT ddpm (preview ddim), STDiT3 rflow")
	eta := fs.Float64("eta", 0, "DDIM η")
	class := fs.String("class", "", "class label, or one per sample: 1,11 (default: the --noise file's y, else 207 when the model has 1000 classes, else 0)")
	cfgScale := fs.Float64("cfg-scale", 4, "classifier-free guidance scale (≤ 1: no guidance: p_sample_loop(model.forward), one sample per class); default: the family's — DiT 4, STDiT3 7 (v1.3 7.5)")
	seed := fs.Uint64("seed", 0, "noise seed (ditkit's own PCG generator; does not reproduce torch.randn)")
	noisePath := fs.String("noise", "", "take the noise from this file, shaped like the sampler references: x and per-step step_noise (DDPM/DDIM); z0, the only noise, for rflow (with, when present, its caption y_cond+mask, height, width, num_frames, fps and step count)")
	var rf rflowFlags
	rf.add(fs)
	clip := fs.Bool("clip-denoised", false, "clamp predicted x0 to [-1, 1]")
	decPath := fs.String("decoder", "", "TAESD-family decoder (madebyollin/taesd taesd_decoder for SD-VAE latents: DiT, PixArt, Latte; taef1 for 16 channels) to draw the preview; default: the linear latent→RGB factors, an approximation")
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
	mf.captions = rf.caption != ""
	n, err := loadNet(pos[0], &mf)
	if err != nil {
		return fail(stderr, err)
	}
	mf.precisionNote(stderr)
	var dec *decode.Decoder
	if *decPath != "" {
		if dec, err = loadDecoder(*decPath); err != nil {
			return fail(stderr, err)
		}
	}
	def := sample.DefaultsFor(n.Spec().Family)
	if !set["sampler"] {
		*sampler = def.Sampler
		if name == "preview" {
			*sampler = def.PreviewSampler
		}
	}
	if !set["steps"] {
		*steps = def.Steps
		if name == "preview" {
			*steps = def.PreviewSteps
		}
	}
	if !set["cfg-scale"] {
		*cfgScale = def.CFGScale
	}
	if *sampler == "rflow" {
		return runFlowSample(name, n, &mf, &rf, set, flowArgs{steps: *steps, cfgScale: *cfgScale, seed: *seed, noise: *noisePath,
			class: *class, out: *outPath, latentOut: *latentOut, dec: dec, decPath: *decPath, stdout: stdout}, stderr)
	}
	if def.Sampler == "rflow" { // as sample.Run says, before reading a caption file
		return fail(stderr, fmt.Errorf("%s samples with the rectified flow (--sampler rflow), not %s", n.Spec().Family, *sampler))
	}
	if rf.videoGiven(set) {
		return fail(stderr, fmt.Errorf("--height, --width, --num-frames, --fps and --rflow-release are for the rectified flow (--sampler rflow)"))
	}
	if n.Guided() == 0 && set["cfg-scale"] && *cfgScale > 1 {
		fmt.Fprintf(stderr, "ditkit %s: %s has no forward_with_cfg here: --cfg-scale is ignored\n", name, n.Spec().Family)
	}
	req := sample.Request{Steps: *steps, Sampler: *sampler, Eta: *eta, ClipDenoised: *clip, CFGScale: *cfgScale,
		Noise: sample.Noise{Seed: *seed}, Options: &dit.Options{Backend: mf.cpu()}}
	if rf.caption != "" {
		if n.Classes() > 0 {
			return fail(stderr, fmt.Errorf("--caption: %s is class-conditional: use --class", n.Spec().Family))
		}
		if req.Caption, err = readCaption(rf.caption); err != nil {
			return fail(stderr, err)
		}
	}
	if rf.latent != "" {
		if req.Latent, err = sample.ParseLabels(rf.latent); err != nil || len(req.Latent) == 0 {
			return fail(stderr, fmt.Errorf("--latent-size %q: want one sample's latent shape C,H,W (PixArtMS takes any multiple of the patch)", rf.latent))
		}
	}
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
	res, xSteps, err := runSampler(n, req, *latentOut != "", stderr)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stderr, "ditkit %s: conditioned on %s\n", name, res.Conditioning)
	if err := writePreview(name, res, dec, *decPath, mf.threads, *outPath, stdout, stderr); err != nil {
		return fail(stderr, err)
	}
	if *latentOut != "" {
		meta := map[string]string{"producer": "ditkit sample", "sampler": *sampler, "steps": strconv.Itoa(res.Steps)}
		meta["conditioning"] = res.Conditioning
		if res.Guided {
			meta["cfg_scale"] = strconv.FormatFloat(*cfgScale, 'g', -1, 64)
		}
		if n.Classes() == 0 && req.Caption == nil && req.Noise.Caption == nil {
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

// runSampler runs req on n, printing each step on stderr; with keepSteps
// it also returns the latent after every step (x_steps).
func runSampler(n *runNet, req sample.Request, keepSteps bool, stderr io.Writer) (*sample.Result, []float32, error) {
	var xSteps []float32
	start := time.Now()
	req.Step = func(i, total, t int, xs []float32) {
		if keepSteps {
			xSteps = append(xSteps, xs...)
		}
		fmt.Fprintf(stderr, "step %d/%d t=%d %.1fs\n", i+1, total, t, time.Since(start).Seconds())
	}
	res, err := sample.Run(context.Background(), n.Net, req) // the built Net: its optional methods (dit.ChannelAxis, CFGCond) count
	return res, xSteps, err
}

// writePreview draws a sampling result (resultImage), writes the PNG to
// out and says how on stderr and where on stdout.
func writePreview(name string, res *sample.Result, dec *decode.Decoder, decPath string, threads int, out string, stdout, stderr io.Writer) error {
	img, how, err := resultImage(context.Background(), res, dec, decPath, threads)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "ditkit %s: preview drawn with %s\n", name, how)
	if err := writeFileAtomic(out, func(w io.Writer) error { return preview.WritePNG(w, img) }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d×%d px)\n", out, img.Bounds().Dx(), img.Bounds().Dy())
	return nil
}

// readCaption reads a --caption file (sample.CaptionFile).
func readCaption(path string) (*sample.Caption, error) {
	ts, err := readTensors(path)
	if err != nil {
		return nil, err
	}
	return sample.CaptionFile(ts, path)
}

// resultImage draws a sampling result's conditional samples: decoded by
// dec (TAESD) when given, else through the linear latent→RGB factors of
// the latent's format; how says which.
func resultImage(ctx context.Context, res *sample.Result, dec *decode.Decoder, decName string, threads int) (*image.RGBA, string, error) {
	if dec == nil {
		img, err := res.Image()
		return img, preview.SD15.Approximation(), err
	}
	out, shape := res.Conditional()
	img, err := decodeImage(ctx, dec, out, shape, threads)
	if err != nil {
		return nil, "", fmt.Errorf("--decoder %s: %w", decName, err)
	}
	return img, fmt.Sprintf("the %d-channel TAESD decoder %s", dec.LatentChannels, filepath.Base(decName)), nil
}
