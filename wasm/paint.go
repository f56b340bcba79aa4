//go:build js && wasm

package main

import (
	"image"
	"syscall/js"

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
