//go:build js && wasm

package main

import (
	"context"
	"image"
	"syscall/js"

	"github.com/ditkit/ditkit/core/dit"

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
// compute API's withBackend), else on the CPU, and says which ran.
func (host) Run(ctx context.Context, want string, fn func(*dit.Options) error) (string, error) {
	opts := js.Global().Get("Object").New()
	opts.Set("backend", want)
	info, err := withBackend(ctx, opts, fn)
	if info == nil {
		return "", err
	}
	line := "CPU (Go wasm, one thread)"
	if info.Backend == "webgpu" {
		line = "WebGPU (" + info.Adapter + ")"
	}
	if info.Note != "" {
		line += " — " + info.Note
	}
	return line, err
}
