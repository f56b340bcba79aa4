package main

import (
	"context"
	"fmt"
	"image"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/core/preview"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

func init() {
	register(&command{
		name:    "decode",
		usage:   "--decoder DECODER(.safetensors|.pth) --latent L.safetensors [--tensor NAME] -o OUT(.safetensors|.png) [--threads N]",
		summary: "Decode a latent into an image with a TAESD-family decoder (taesd_decoder: 4 latent channels; taef1/taesd3_decoder: 16).",
		run:     runDecode,
	})
}

// loadDecoder reads a TAESD-family decoder file (madebyollin/taesd's
// taesd_decoder / taef1_decoder .safetensors or .pth). sample and preview
// call it for --decoder.
func loadDecoder(path string) (*decode.Decoder, error) {
	ck, f, err := loader.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return loader.LoadDecoder(ck)
}

// decodeImage runs dec on a latent [N, C, H, W] or [N, C, T, H, W] and
// draws the image (batch side by side, a video's frames in a row): what
// sample and preview write for --decoder.
func decodeImage(ctx context.Context, dec *decode.Decoder, latent []float32, shape []int, threads int) (*image.RGBA, error) {
	raw, outShape, err := dec.Decode(ctx, latent, shape, &decode.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	return preview.RGB(raw, outShape) // RGB clamps to [0, 1] as taesd.py does
}

func runDecode(args []string, stdout, stderr io.Writer) int {
	c := commands["decode"]
	fs := newFlags(c, stdout, stderr)
	decPath := fs.String("decoder", "", "TAESD-family decoder weights: madebyollin/taesd's taesd_decoder / taesdxl_decoder (4 latent channels) or taef1 / taesd3_decoder (16), .safetensors or .pth")
	latPath := fs.String("latent", "", "safetensors (or .pt) file holding the latent [N, C, H, W], or a video latent [N, C, T, H, W] (decoded frame by frame)")
	name := fs.String("tensor", "", "the latent tensor (default: latent, else out, else the only tensor)")
	outPath := fs.String("o", "", "output: .safetensors (tensors raw = the decoder's output and image = raw clamped to [0, 1], float32) or .png (the image; a batch side by side, a video's frames in a row)")
	threads := fs.Int("threads", 0, "worker goroutines (0 = all CPUs)")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 0 || *decPath == "" || *latPath == "" || *outPath == "" {
		return usageError(stderr, c, "need --decoder DECODER, --latent L.safetensors and -o OUT.safetensors|OUT.png")
	}
	ext := strings.ToLower(filepath.Ext(*outPath))
	if ext != ".png" && ext != ".safetensors" {
		return fail(stderr, fmt.Errorf("-o %s: want a .safetensors or .png file", *outPath))
	}
	if err := checkOutputs(*outPath); err != nil {
		return fail(stderr, err)
	}
	dec, err := loadDecoder(*decPath)
	if err != nil {
		return fail(stderr, err)
	}
	ts, err := readTensors(*latPath)
	if err != nil {
		return fail(stderr, err)
	}
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	key, err := decode.LatentName(names, *name)
	if err != nil {
		return fail(stderr, fmt.Errorf("%s: %w", *latPath, err))
	}
	d := ts[key]
	if !d.DType.IsFloat() {
		return fail(stderr, fmt.Errorf("%s: tensor %q has dtype %v; want a float latent", *latPath, key, d.DType))
	}
	if _, err := dec.OutShape(d.Shape); err != nil {
		return fail(stderr, fmt.Errorf("%s: tensor %q: %w", *latPath, key, err))
	}
	lat, err := d.Float32s()
	if err != nil {
		return fail(stderr, fmt.Errorf("%s: tensor %q: %w", *latPath, key, err))
	}
	start := time.Now()
	raw, shape, err := dec.Decode(context.Background(), lat, d.Shape, &decode.Options{Threads: *threads})
	if err != nil {
		return fail(stderr, fmt.Errorf("%s: tensor %q: %w", *latPath, key, err))
	}
	took := time.Since(start)
	what := "raw, image " + tensor.FormatShape(shape)
	if ext == ".png" {
		img, err := preview.RGB(raw, shape)
		if err != nil {
			return fail(stderr, err)
		}
		if err := writeFileAtomic(*outPath, func(w io.Writer) error { return preview.WritePNG(w, img) }); err != nil {
			return fail(stderr, err)
		}
		what = fmt.Sprintf("%d×%d px", img.Bounds().Dx(), img.Bounds().Dy())
	} else {
		meta := map[string]string{"producer": "ditkit decode", "decoder": filepath.Base(*decPath), "latent": key,
			"image": "raw clamped to [0, 1] (taesd.py)"}
		if err := writeSafetensors(*outPath, []namedTensor{{"raw", tensor.F32, shape, raw}, {"image", tensor.F32, shape, decode.Clamp01(raw)}}, meta); err != nil {
			return fail(stderr, err)
		}
	}
	fmt.Fprintf(stdout, "wrote %s (%s) from %s %s with a %d-channel TAESD decoder in %.2f s\n", *outPath, what, key, tensor.FormatShape(d.Shape), dec.LatentChannels, took.Seconds())
	return exitOK
}
