package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/ditkit/ditkit/core/diffusion"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/preview"
	"github.com/ditkit/ditkit/core/tensor"
)

func init() {
	register(&command{
		name:    "sample",
		usage:   "FILE [--arch PRESET | --spec SPEC.json] [--steps N] [--sampler ddpm|ddim] [--eta E] [--class C] [--cfg-scale S] [--seed S | --noise REF.safetensors] -o PREVIEW.png [--latent-out L.safetensors]",
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
	class := fs.Int("class", -1, "class label (default 207 when the model has 1000 classes, else 0)")
	cfgScale := fs.Float64("cfg-scale", 4, "classifier-free guidance scale (≤ 1: no guidance, batch of one)")
	seed := fs.Uint64("seed", 0, "noise seed (ditkit's own PCG generator; does not reproduce torch.randn)")
	noisePath := fs.String("noise", "", "take the initial noise x and per-step step_noise from this file (shaped like the sampler references)")
	clip := fs.Bool("clip-denoised", false, "clamp predicted x0 to [-1, 1]")
	outPath := fs.String("o", "", "preview PNG")
	latentOut := fs.String("latent-out", "", "write out (final latent) and x_steps (latent after each step) to this safetensors file")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *outPath == "" {
		fmt.Fprintf(stderr, "ditkit %s: need FILE and -o PREVIEW.png (see ditkit %s --help)\n", name, name)
		return exitError
	}
	n, err := loadNet(pos[0], &mf)
	if err != nil {
		return fail(stderr, err)
	}
	mf.precisionNote(stderr)
	if n.stdit != nil {
		cfgSet := false
		fs.Visit(func(f *flag.Flag) { cfgSet = cfgSet || f.Name == "cfg-scale" })
		if cfgSet && *cfgScale > 1 {
			fmt.Fprintf(stderr, "ditkit %s: STDiT samples with the null caption only (no text encoder): --cfg-scale is ignored\n", name)
		}
		return sampleSTDiT(n.stdit, *steps, *sampler, *eta, *clip, *seed, *outPath, *latentOut, mf.cpu(), stderr)
	}
	if n.dit == nil {
		return fail(stderr, fmt.Errorf("sample supports DiT and Open-Sora 1.0 STDiT checkpoints"))
	}
	m := n.dit
	cfg := m.Cfg
	label := *class
	if *noisePath != "" {
		// A reference file also says which class and how many steps it
		// was sampled with; flags given explicitly win.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if in, err := readTensors(*noisePath); err == nil {
			if y := in["y"]; y != nil && label < 0 {
				if ys, err := y.Int64s(); err == nil && len(ys) > 0 {
					label = int(ys[0])
				}
			}
			if sn := in["step_noise"]; sn != nil && !set["steps"] && len(sn.Shape) > 0 {
				*steps = sn.Shape[0]
			}
		}
	}
	if label < 0 {
		label = 0
		if cfg.NumClasses == 1000 {
			label = 207
		}
	}
	if label >= cfg.NumClasses {
		return fail(stderr, fmt.Errorf("--class %d outside [0, %d)", label, cfg.NumClasses))
	}
	useCFG := *cfgScale > 1
	if useCFG && !cfg.NullClass {
		return fail(stderr, fmt.Errorf("the label table has no null class: CFG is impossible (use --cfg-scale 1)"))
	}
	d, err := diffusion.Create(strconv.Itoa(*steps), cfg.LearnSigma)
	if err != nil {
		return fail(stderr, err)
	}
	C, S := cfg.InChannels, cfg.InputSize
	per := C * S * S
	batch := 1
	if useCFG {
		batch = 2
	}
	x := make([]float32, batch*per)
	var noise func(i int, dst []float32)
	if *noisePath != "" {
		in, err := readTensors(*noisePath)
		if err != nil {
			return fail(stderr, err)
		}
		if in["x"] == nil || in["step_noise"] == nil {
			return fail(stderr, fmt.Errorf("%s: need tensors x and step_noise", *noisePath))
		}
		xv, err := in["x"].Float32s()
		if err != nil {
			return fail(stderr, err)
		}
		sn, err := in["step_noise"].Float32s()
		if err != nil {
			return fail(stderr, err)
		}
		switch len(xv) {
		case batch * per:
			copy(x, xv)
		case per: // one latent: duplicate for CFG as sample.py does
			copy(x, xv)
			copy(x[per:], xv)
		default:
			return fail(stderr, fmt.Errorf("%s: x has shape %v, want [%d, %d, %d, %d]", *noisePath, in["x"].Shape, batch, C, S, S))
		}
		if len(sn) < d.Steps()*len(x) {
			return fail(stderr, fmt.Errorf("%s: step_noise has %d values, need %d steps × %d", *noisePath, len(sn), d.Steps(), len(x)))
		}
		noise = func(i int, dst []float32) { copy(dst, sn[i*len(dst):(i+1)*len(dst)]) }
	} else {
		rng := rand.New(rand.NewPCG(*seed, 0x6469746b6974))
		for i := 0; i < per; i++ {
			x[i] = float32(rng.NormFloat64())
		}
		if useCFG {
			copy(x[per:], x[:per])
		}
		noise = func(_ int, dst []float32) {
			for i := range dst {
				dst[i] = float32(rng.NormFloat64())
			}
		}
	}
	y := []int{label}
	if useCFG {
		y = []int{label, cfg.NullLabel()}
	}
	opt := &dit.Options{Backend: mf.cpu()}
	model := func(ctx context.Context, x []float32, t []float64) ([]float32, error) {
		if useCFG {
			return m.ForwardWithCFG(ctx, x, t, y, float32(*cfgScale), opt)
		}
		return m.Forward(ctx, x, t, y, opt)
	}
	var xSteps []float32
	if *latentOut != "" {
		xSteps = make([]float32, 0, d.Steps()*len(x))
	}
	start := time.Now()
	out, err := d.Sample(context.Background(), model, x, batch, diffusion.Options{
		Sampler: *sampler, Eta: *eta, ClipDenoised: *clip, Noise: noise,
		Step: func(i, t int, xs, _ []float32) {
			if xSteps != nil {
				xSteps = append(xSteps, xs...)
			}
			fmt.Fprintf(stderr, "step %d/%d t=%d %.1fs\n", i+1, d.Steps(), t, time.Since(start).Seconds())
		},
	})
	if err != nil {
		return fail(stderr, err)
	}
	img, err := preview.Image(out[:per], C, S, S) // the conditional half, as sample.py keeps
	if err != nil {
		return fail(stderr, err)
	}
	if err := writeFileAtomic(*outPath, func(w io.Writer) error { return preview.WritePNG(w, img) }); err != nil {
		return fail(stderr, err)
	}
	if *latentOut != "" {
		err := writeSafetensors(*latentOut, []namedTensor{
			{"out", tensor.F32, []int{batch, C, S, S}, out},
			{"x_steps", tensor.F32, []int{d.Steps(), batch, C, S, S}, xSteps},
		}, map[string]string{"producer": "ditkit sample", "sampler": *sampler, "steps": strconv.Itoa(*steps), "cfg_scale": strconv.FormatFloat(*cfgScale, 'g', -1, 64)})
		if err != nil {
			return fail(stderr, err)
		}
	}
	return exitOK
}

// sampleSTDiT samples an Open-Sora 1.0 STDiT video latent conditioned on
// the model's own null caption (no text encoder here, so guidance has
// nothing to contrast and is not used), and writes a frame strip.
func sampleSTDiT(m *dit.STDiT, steps int, sampler string, eta float64, clip bool, seed uint64,
	outPath, latentOut string, cpu *kernels.CPU, stderr io.Writer) int {
	cfg := m.Cfg
	d, err := diffusion.Create(strconv.Itoa(steps), cfg.PredSigma)
	if err != nil {
		return fail(stderr, err)
	}
	C, T, H, W := cfg.InChannels, cfg.InputSize[0], cfg.InputSize[1], cfg.InputSize[2]
	shape := []int{1, C, T, H, W}
	x := make([]float32, C*T*H*W)
	rng := rand.New(rand.NewPCG(seed, 0x6469746b6974))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	opt := &dit.Options{Backend: cpu}
	model := func(ctx context.Context, x []float32, t []float64) ([]float32, error) {
		out, _, err := m.Forward(ctx, x, shape, t, nil, nil, opt)
		return out, err
	}
	var xSteps []float32
	start := time.Now()
	out, err := d.Sample(context.Background(), model, x, 1, diffusion.Options{
		Sampler: sampler, Eta: eta, ClipDenoised: clip,
		Noise: func(_ int, dst []float32) {
			for i := range dst {
				dst[i] = float32(rng.NormFloat64())
			}
		},
		Step: func(i, t int, xs, _ []float32) {
			if latentOut != "" {
				xSteps = append(xSteps, xs...)
			}
			fmt.Fprintf(stderr, "step %d/%d t=%d %.1fs\n", i+1, d.Steps(), t, time.Since(start).Seconds())
		},
	})
	if err != nil {
		return fail(stderr, err)
	}
	img, err := preview.FrameStrip(out, C, T, H, W)
	if err != nil {
		return fail(stderr, err)
	}
	if err := writeFileAtomic(outPath, func(w io.Writer) error { return preview.WritePNG(w, img) }); err != nil {
		return fail(stderr, err)
	}
	if latentOut != "" {
		err := writeSafetensors(latentOut, []namedTensor{
			{"out", tensor.F32, shape, out},
			{"x_steps", tensor.F32, append([]int{d.Steps()}, shape...), xSteps},
		}, map[string]string{"producer": "ditkit sample", "sampler": sampler, "steps": strconv.Itoa(steps), "caption": "null (y_embedder.y_embedding)"})
		if err != nil {
			return fail(stderr, err)
		}
	}
	return exitOK
}
