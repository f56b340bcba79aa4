package main

import (
	"flag"
	"fmt"
	"image"
	"io"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/preview"
	"github.com/ditkit/ditkit/core/tensor"
)

func init() {
	register(&command{
		name: "preview",
		usage: "FILE [--arch PRESET | --spec SPEC.json] [--error-text ERR.txt | --layout original] [sample's flags] -o PREVIEW.png\n" +
			"       ditkit preview --latent L.safetensors [--tensor NAME] -o PREVIEW.png",
		summary: "Prove a checkpoint works: sample a few steps (as the page does: the family's quick preview, e.g. DiT's 25 DDIM steps) and write the preview PNG " +
			"(with --error-text or --layout: of the weights as convert fixes them); or render a saved latent.",
		run: runPreview,
		more: func() (string, *flag.FlagSet) {
			fs := flag.NewFlagSet("ditkit preview --latent", flag.ContinueOnError)
			addLatentFlags(fs)
			return "With --latent (render a saved latent; no model, no other flag)", fs
		},
	})
}

// addLatentFlags defines preview --latent's flags.
func addLatentFlags(fs *flag.FlagSet) (latent, name, outPath *string) {
	return fs.String("latent", "", "safetensors file holding a latent [N, C, H, W] (images) or [N, C, T, H, W] (video)"),
		fs.String("tensor", "", "the tensor to render (default: out, else x, else the only tensor)"),
		fs.String("o", "", "preview PNG")
}

// runPreview is sample with the page's quick defaults, or, with --latent,
// renders a latent file (what --latent-out or a reference file holds).
func runPreview(args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" { // both modes' flags
			return runSampleAs("preview", []string{"--help"}, stdout, stderr)
		}
	}
	for _, a := range args {
		if a == "--latent" || a == "-latent" || strings.HasPrefix(a, "--latent=") || strings.HasPrefix(a, "-latent=") {
			return previewLatent(args, stdout, stderr)
		}
	}
	// sample under the name "preview" takes the family's quick preview
	// defaults (sample.Defaults: DiT 25 DDIM steps; --noise says its own
	// step count) and the target flags (preview_target.go).
	return runSampleAs("preview", args, stdout, stderr)
}

func previewLatent(args []string, stdout, stderr io.Writer) int {
	c := commands["preview"]
	fs := newFlags(c, stdout, stderr)
	latent, name, outPath := addLatentFlags(fs)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 || *latent == "" || *outPath == "" {
		return usageError(stderr, c, "need --latent L.safetensors and -o PREVIEW.png")
	}
	if err := checkOutputs(*outPath); err != nil {
		return fail(stderr, err)
	}
	ts, err := readTensors(*latent)
	if err != nil {
		return fail(stderr, err)
	}
	key := *name
	if key == "" {
		switch {
		case ts["out"] != nil:
			key = "out"
		case ts["x"] != nil:
			key = "x"
		case len(ts) == 1:
			for k := range ts {
				key = k
			}
		default:
			names := make([]string, 0, len(ts))
			for k := range ts {
				names = append(names, k)
			}
			sort.Strings(names)
			return fail(stderr, fmt.Errorf("%s: no tensor out or x; choose one with --tensor (%s)", *latent, strings.Join(names, ", ")))
		}
	}
	d := ts[key]
	if d == nil {
		return fail(stderr, fmt.Errorf("%s: no tensor %q", *latent, key))
	}
	v, err := d.Float32s()
	if err != nil {
		return fail(stderr, fmt.Errorf("%s: tensor %q: %w", *latent, key, err))
	}
	var img *image.RGBA
	switch s := d.Shape; {
	case len(s) == 4 && s[1] >= 4:
		img, err = preview.Grid(v, s[0], s[1], s[2], s[3])
	case len(s) == 5 && s[1] >= 4: // the first video of the batch
		img, err = preview.FrameStrip(v, s[1], s[2], s[3], s[4])
	default:
		err = fmt.Errorf("%s: tensor %q has shape %s; want a latent [N, C≥4, H, W] or [N, C≥4, T, H, W]", *latent, key, tensor.FormatShape(s))
	}
	if err != nil {
		return fail(stderr, err)
	}
	if err := writeFileAtomic(*outPath, func(w io.Writer) error { return preview.WritePNG(w, img) }); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%s %s, %d×%d px)\n", *outPath, key, tensor.FormatShape(d.Shape), img.Bounds().Dx(), img.Bounds().Dy())
	return exitOK
}
