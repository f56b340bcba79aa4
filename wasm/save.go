//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"github.com/ditkit/ditkit/wasm/jsutil"
	"strings"
	"syscall/js"

	"github.com/ditkit/ditkit/ui"
)

// chunk is how much a sink buffers before handing bytes to JS; the page
// yields to the event loop after each chunk so it stays responsive.
const chunk = 8 << 20

// SaveAs streams to disk with the File System Access API where the browser
// has it (the picker must be opened inside the click, so it is called
// here), else collects the bytes in a Blob and downloads it.
func (host) SaveAs(name string) func() (ui.Sink, error) {
	picker := js.Global().Get("showSaveFilePicker")
	if picker.Type() != js.TypeFunction {
		return func() (ui.Sink, error) { return newBlobSink(name, true), nil }
	}
	opts := js.Global().Get("Object").New()
	opts.Set("suggestedName", name)
	handle := picker.Invoke(opts) // a promise, awaited on the goroutine
	return func() (ui.Sink, error) {
		h, err := jsutil.Await(handle)
		if err != nil {
			if strings.Contains(err.Error(), "AbortError") {
				return nil, ui.ErrCancelled
			}
			return nil, fmt.Errorf("save dialog: %w", err)
		}
		w, err := jsutil.Await(h.Call("createWritable"))
		if err != nil {
			return nil, fmt.Errorf("open for writing: %w", err)
		}
		return &fileSink{w: w, buf: make([]byte, 0, chunk)}, nil
	}
}

// fileSink writes through a FileSystemWritableFileStream.
type fileSink struct {
	w   js.Value
	buf []byte
}

func (s *fileSink) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		m := min(len(p), chunk-len(s.buf))
		s.buf = append(s.buf, p[:m]...)
		p = p[m:]
		if len(s.buf) == chunk {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (s *fileSink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	u8 := js.Global().Get("Uint8Array").New(len(s.buf))
	js.CopyBytesToJS(u8, s.buf)
	s.buf = s.buf[:0]
	if _, err := jsutil.Await(s.w.Call("write", u8)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (s *fileSink) Close() (string, error) {
	if err := s.flush(); err != nil {
		return "", err
	}
	if _, err := jsutil.Await(s.w.Call("close")); err != nil {
		return "", fmt.Errorf("close: %w", err)
	}
	return "saved to disk", nil
}

func (s *fileSink) Abort() { s.w.Call("abort") }

// blobSink collects the file in JS memory (not the Go heap) as Blob parts.
type blobSink struct {
	name     string
	download bool
	parts    js.Value
	buf      []byte
	blob     js.Value
}

func newBlobSink(name string, download bool) *blobSink {
	return &blobSink{name: name, download: download, parts: js.Global().Get("Array").New(), buf: make([]byte, 0, chunk)}
}

func (s *blobSink) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		m := min(len(p), chunk-len(s.buf))
		s.buf = append(s.buf, p[:m]...)
		p = p[m:]
		if len(s.buf) == chunk {
			s.flush()
			yieldToJS()
		}
	}
	return n, nil
}

func (s *blobSink) flush() {
	if len(s.buf) == 0 {
		return
	}
	u8 := js.Global().Get("Uint8Array").New(len(s.buf))
	js.CopyBytesToJS(u8, s.buf)
	s.parts.Call("push", u8)
	s.buf = s.buf[:0]
}

func (s *blobSink) Close() (string, error) {
	s.flush()
	opts := js.Global().Get("Object").New()
	opts.Set("type", "application/octet-stream")
	s.blob = js.Global().Get("Blob").New(s.parts, opts)
	s.parts = js.Undefined()
	if !s.download {
		return "ready", nil
	}
	url := js.Global().Get("URL").Call("createObjectURL", s.blob)
	doc := js.Global().Get("document")
	a := doc.Call("createElement", "a")
	a.Set("href", url)
	a.Set("download", s.name)
	a.Set("hidden", true)
	doc.Get("body").Call("append", a)
	a.Call("click")
	a.Call("remove")
	var revoke js.Func
	revoke = js.FuncOf(func(js.Value, []js.Value) any {
		js.Global().Get("URL").Call("revokeObjectURL", url)
		revoke.Release()
		return nil
	})
	js.Global().Call("setTimeout", revoke, 60_000)
	return "downloaded", nil
}

func (s *blobSink) Abort() { s.parts, s.buf = js.Undefined(), nil }

// yieldToJS lets the browser run its event loop (paint, input, the cancel
// button) before the calling goroutine continues.
func yieldToJS() {
	ch := make(chan struct{})
	var f js.Func
	f = js.FuncOf(func(js.Value, []js.Value) any {
		close(ch)
		return nil
	})
	js.Global().Call("setTimeout", f, 0)
	<-ch
	f.Release()
}

var errNoFile = errors.New("expected a File or Blob")
