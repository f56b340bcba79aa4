//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"github.com/ditkit/ditkit/wasm/jsutil"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"

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
		return newFileSink(w), nil
	}
}

// jsChunks buffers what is written and hands it to emit as Uint8Arrays of
// chunk bytes (the last one shorter, at flush).
type jsChunks struct {
	buf  []byte
	emit func(u8 js.Value) error
}

func (c *jsChunks) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		m := min(len(p), chunk-len(c.buf))
		c.buf = append(c.buf, p[:m]...)
		p = p[m:]
		if len(c.buf) == chunk {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *jsChunks) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	u8 := js.Global().Get("Uint8Array").New(len(c.buf))
	js.CopyBytesToJS(u8, c.buf)
	c.buf = c.buf[:0]
	return c.emit(u8)
}

// fileSink writes through a FileSystemWritableFileStream.
type fileSink struct {
	jsChunks
	w js.Value
}

func newFileSink(w js.Value) *fileSink {
	s := &fileSink{w: w}
	s.jsChunks = jsChunks{buf: make([]byte, 0, chunk), emit: func(u8 js.Value) error {
		if _, err := jsutil.Await(w.Call("write", u8)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}}
	return s
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
	jsChunks
	name     string
	download bool
	parts    js.Value
	blob     js.Value
}

func newBlobSink(name string, download bool) *blobSink {
	s := &blobSink{name: name, download: download, parts: js.Global().Get("Array").New()}
	s.jsChunks = jsChunks{buf: make([]byte, 0, chunk), emit: func(u8 js.Value) error {
		s.parts.Call("push", u8)
		yieldToJS() // keep the page responsive while the parts pile up
		return nil
	}}
	return s
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
// button) before the calling goroutine continues: at most once per
// yieldEvery (kernels call it between chunks of work, far more often), and
// through a MessageChannel task rather than setTimeout, whose nested calls
// the browser clamps to 4 ms each.
func yieldToJS() {
	now := time.Now().UnixNano()
	if now-lastYield.Load() < int64(yieldEvery) {
		return
	}
	yieldMu.Lock()
	defer yieldMu.Unlock()
	if yieldPort.IsUndefined() {
		mc := js.Global().Get("MessageChannel").New()
		yieldFn = js.FuncOf(func(js.Value, []js.Value) any {
			yieldCh <- struct{}{}
			return nil
		})
		mc.Get("port1").Set("onmessage", yieldFn)
		yieldPort = mc.Get("port2")
	}
	yieldPort.Call("postMessage", 0)
	<-yieldCh
	lastYield.Store(time.Now().UnixNano())
}

// yieldEvery is about one frame.
const yieldEvery = 12 * time.Millisecond

var (
	yieldMu   sync.Mutex
	yieldPort = js.Undefined()
	yieldFn   js.Func
	yieldCh   = make(chan struct{}, 1)
	lastYield atomic.Int64
)

var errNoFile = errors.New("expected a File or Blob")
