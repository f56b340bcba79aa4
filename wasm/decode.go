//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"syscall/js"
	"time"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/wasm/webgpu"
)

// window.ditkit.decode: a TAESD-family decoder (a dropped
// taesd_decoder / taef1_decoder file) on a latent, on WebGPU when an
// adapter exists, else (or when the GPU fails) on the CPU, saying so.

// loadDecoderBlob reads a TAESD-family decoder from a dropped File.
func loadDecoderBlob(file js.Value) (*decode.Decoder, error) {
	ck, err := openBlob(file)
	if err != nil {
		return nil, err
	}
	return loader.LoadDecoder(ck)
}

// decodeOn runs dec on the backend opts.backend asks for: "cpu", or
// "webgpu" (the default) which falls back to the CPU when there is no
// adapter or the GPU fails (device lost, out of memory, a kernel error),
// saying why in the run info's note.
func decodeOn(ctx context.Context, dec *decode.Decoder, lat []float32, shape []int, opts js.Value) ([]float32, []int, *runInfo, error) {
	want := optString(opts, "backend", "webgpu")
	switch want {
	case "cpu", "webgpu", "gpu", "auto":
	default:
		return nil, nil, nil, fmt.Errorf("backend %q: want webgpu or cpu", want)
	}
	if _, err := dec.OutShape(shape); err != nil {
		return nil, nil, nil, err
	}
	info := &runInfo{Backend: "cpu"}
	start := time.Now()
	if want != "cpu" {
		g, err := webgpu.Open()
		if err == nil {
			be := webgpu.NewDecoder(g)
			var raw []float32
			var out []int
			err = webgpu.Guard(func() error {
				var err error
				raw, out, err = dec.Decode(ctx, lat, shape, &decode.Options{Backend: be})
				return err
			})
			be.Close()
			if err == nil {
				info.Backend, info.Adapter = "webgpu", g.Adapter
				info.MS = float64(time.Since(start).Microseconds()) / 1000
				return raw, out, info, nil
			}
			if ctx.Err() != nil {
				return nil, nil, nil, err
			}
			info.Adapter = g.Adapter
		}
		info.Note = err.Error() + "; ran on the CPU instead"
		start = time.Now()
	}
	raw, out, err := dec.Decode(ctx, lat, shape, &decode.Options{Backend: &decode.CPU{Threads: 1, Yield: yieldToJS}})
	if err != nil {
		return nil, nil, nil, err
	}
	info.MS = float64(time.Since(start).Microseconds()) / 1000
	return raw, out, info, nil
}

// decodeAPI is window.ditkit.decode(decoderFile, latentFile, {backend,
// tensor}): `ditkit decode` in the page. The Blob (decode.safetensors)
// holds raw (the decoder's output) and image (raw clamped to [0, 1]);
// blob.ditkit says which backend ran, the adapter, the time and any
// fallback.
func decodeAPI(decFile, latFile, opts js.Value) (any, error) {
	dec, err := loadDecoderBlob(decFile)
	if err != nil {
		return nil, err
	}
	in, err := readInputs(latFile)
	if err != nil {
		return nil, err
	}
	latName := "latent file"
	if n := latFile.Get("name"); n.Type() == js.TypeString {
		latName = n.String()
	}
	names := make([]string, 0, len(in))
	for k := range in {
		names = append(names, k)
	}
	key, err := decode.LatentName(names, optString(opts, "tensor", ""))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", latName, err)
	}
	d := in[key]
	if !d.DType.IsFloat() {
		return nil, fmt.Errorf("%s: tensor %q has dtype %v; want a float latent", latName, key, d.DType)
	}
	lat, err := d.Float32s()
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", latName, key, err)
	}
	raw, shape, info, err := decodeOn(context.Background(), dec, lat, d.Shape, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", latName, key, err)
	}
	frames := len(raw) / (3 * shape[len(shape)-1] * shape[len(shape)-2])
	info.StepMS, info.FirstMS = info.MS, info.MS
	if info.MS > 0 {
		info.GFLOPs = float64(dec.FLOPs(d.Shape[len(d.Shape)-2], d.Shape[len(d.Shape)-1])) * float64(frames) / (info.MS / 1000) / 1e9
	}
	return resultBlob("decode.safetensors", []namedF32{{"raw", shape, raw}, {"image", shape, decode.Clamp01(raw)}},
		map[string]string{"producer": "ditkit decode (page)", "latent": key, "backend": info.Backend}, info)
}

func installDecodeAPI(api js.Value) {
	api.Set("decode", js.FuncOf(func(this js.Value, args []js.Value) any {
		dec, lat, opts := arg(args, 0), arg(args, 1), arg(args, 2)
		return promise(func() (any, error) { return decodeAPI(dec, lat, opts) })
	}))
}
