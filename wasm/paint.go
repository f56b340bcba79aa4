//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"strings"
	"syscall/js"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/ui"

	vjs "github.com/vugu/vugu/js"
)

// Paint draws img on the canvas element.
func (host) Paint(canvas vjs.Value, img *image.RGBA) {
	cv := js.Value(canvas)
	if cv.Type() != js.TypeObject {
		return
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	cv.Set("width", w)
	cv.Set("height", h)
	px := js.Global().Get("Uint8ClampedArray").New(len(img.Pix))
	js.CopyBytesToJS(px, img.Pix)
	data := js.Global().Get("ImageData").New(px, w, h)
	cv.Call("getContext", "2d").Call("putImageData", data, 0, 0)
}

// Yield lets the browser paint and handle input between sampler steps and
// kernel chunks.
func (host) Yield() { yieldToJS() }

// Run runs the preview's sampler on WebGPU when asked and available (the
// compute API's withBackend), else on the CPU, and says which ran;
// started hears which backend starts.
func (host) Run(ctx context.Context, want string, started func(string), fn func(*dit.Options) error) (string, error) {
	opts := js.Global().Get("Object").New()
	opts.Set("backend", want)
	var notify func(*runInfo)
	if started != nil {
		notify = func(info *runInfo) { started(describeRun(info)) }
	}
	info, err := withBackendStarted(ctx, opts, notify, fn)
	if info == nil {
		return "", err
	}
	return strings.Replace(describeRun(info), "CPU (Go wasm, one thread)", "CPU (Go wasm, one thread; "+kernelName()+" matmul)", 1), err
}

// describeRun is a run's backend as the preview line says it.
func describeRun(info *runInfo) string {
	line := "CPU (Go wasm, one thread)"
	if info.Backend == "webgpu" {
		line = "WebGPU (" + info.Adapter + ")"
	}
	switch {
	case info.Note == "CPU forced":
	case info.Note != "" && strings.HasSuffix(info.Note, "; ran on the CPU instead"):
		line += " — " + info.Note
	case info.Note != "":
		line += " — " + info.Note + "; ran on the CPU instead"
	}
	return line
}

// Decode runs the preview's TAESD decoder on WebGPU when asked and
// available, else on the CPU (window.ditkit.decode's decodeOn).
func (host) Decode(ctx context.Context, want string, dec *decode.Decoder, lat []float32, shape []int) ([]float32, []int, string, error) {
	opts := js.Global().Get("Object").New()
	if want == "auto" {
		want = "webgpu"
	}
	opts.Set("backend", want)
	raw, out, info, err := decodeOn(ctx, dec, lat, shape, opts)
	if err != nil {
		return nil, nil, "", err
	}
	return raw, out, describeRun(info), nil
}

// WorkerNet implements ui.Workers: the preview's model on as many Web
// Workers as the machine allows (each a shard of the weights), or, when
// the page cannot run them or the source is not one dropped file, nil and
// why (this instance runs it).
func (host) WorkerNet(ctx context.Context, src *ui.Source, r *spec.Resolution) (dit.Net, string, func(), error) {
	if why := workerSupport(); why != "" {
		return nil, "one worker: " + why, nil, nil
	}
	b, ok := src.R.(*blobReaderAt)
	if !ok || src.Open != nil {
		return nil, "one worker: the Web Workers read single-file checkpoints", nil, nil
	}
	sj, err := json.Marshal(r.Spec)
	if err != nil {
		return nil, "", nil, err
	}
	target := js.Global().Get("Object").New()
	target.Set("spec", js.Global().Get("JSON").Call("parse", string(sj)))
	model := fileModel(b.blob, target, js.Undefined())
	net, n, why, err := workersNet(model, 0, "simd")
	if err != nil {
		return nil, "", nil, err
	}
	if net == nil {
		return nil, fmt.Sprintf("one worker: %s", why), nil, nil
	}
	line := fmt.Sprintf("CPU on %d Web Workers (%s", n, net.p.Kernel)
	if why != "" {
		line += "; " + why
	}
	w, h := net.p.Memory()
	line += fmt.Sprintf("; weights %s, Go heaps %s)", ui.HumanBytes(w), ui.HumanBytes(h))
	return net, line, net.p.Close, nil
}
