//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"github.com/ditkit/ditkit/wasm/jsutil"
	"io"
	"sync"
	"sync/atomic"
	"syscall/js"
)

// Every byte the page reads from a user's file is counted (window.ditkit.stats
// exposes it; the multi-GB test checks that inspecting reads only metadata).
var bytesRead, readCalls atomic.Int64

// streamMin is the read size from which blobReaderAt uses a BYOB stream
// instead of blob.slice(a, b).arrayBuffer(): ~650 MB/s sequential against
// 120–140 MB/s (see the platform facts). Metadata reads are small and
// scattered and stay on range reads.
const streamMin = 1 << 20

// streamBuf is the size of the reused BYOB buffer.
const streamBuf = 8 << 20

// blobReaderAt reads byte ranges of a JS Blob (a dropped File). Small reads
// use blob.slice(a, b).arrayBuffer(); large ones read a BYOB stream started
// at the offset, which keeps going while the reads stay sequential (as
// when a checkpoint is converted tensor by tensor). It must be called from
// a goroutine that is not a js.FuncOf callback (awaiting there deadlocks).
type blobReaderAt struct {
	blob js.Value
	size int64

	mu     sync.Mutex
	reader js.Value // BYOB reader, or undefined
	pos    int64    // file offset of the next byte the stream yields
	buf    js.Value // ArrayBuffer handed back and forth with the stream
	u8     js.Value // Uint8Array constructor
}

func newBlobReaderAt(blob js.Value) *blobReaderAt {
	return &blobReaderAt{blob: blob, size: int64(blob.Get("size").Float()), u8: js.Global().Get("Uint8Array")}
}

func (b *blobReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= b.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), b.size)
	readCalls.Add(1)
	var n int
	var err error
	if end-off >= streamMin && b.streamable() {
		n, err = b.readStream(p[:end-off], off)
	} else {
		n, err = b.readRange(p[:end-off], off)
	}
	bytesRead.Add(int64(n))
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (b *blobReaderAt) readRange(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	buf, err := jsutil.Await(b.blob.Call("slice", float64(off), float64(end)).Call("arrayBuffer"))
	if err != nil {
		return 0, fmt.Errorf("read %d bytes at offset %d: %w", end-off, off, err)
	}
	return js.CopyBytesToGo(p, b.u8.New(buf)), nil
}

func (b *blobReaderAt) streamable() bool {
	return b.blob.Get("stream").Type() == js.TypeFunction && js.Global().Get("ReadableStreamBYOBReader").Type() == js.TypeFunction
}

// readStream fills p from a BYOB stream positioned at off, starting a new
// stream when the previous one is elsewhere.
func (b *blobReaderAt) readStream(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reader.Type() != js.TypeObject || b.pos != off {
		b.closeStream()
		stream := b.blob.Call("slice", float64(off)).Call("stream")
		opts := js.Global().Get("Object").New()
		opts.Set("mode", "byob")
		b.reader = stream.Call("getReader", opts)
		b.pos = off
	}
	if b.buf.Type() != js.TypeObject {
		b.buf = js.Global().Get("ArrayBuffer").New(streamBuf)
	}
	n := 0
	for n < len(p) {
		want := min(len(p)-n, streamBuf)
		view := b.u8.New(b.buf, 0, want)
		res, err := jsutil.Await(b.reader.Call("read", view))
		if err != nil {
			b.closeStream()
			return n, fmt.Errorf("read %d bytes at offset %d: %w", len(p), off, err)
		}
		v := res.Get("value")
		if res.Get("done").Bool() || v.IsUndefined() {
			b.closeStream()
			if !v.IsUndefined() {
				b.buf = v.Get("buffer")
			}
			break
		}
		b.buf = v.Get("buffer") // the old buffer was transferred
		got := js.CopyBytesToGo(p[n:], v)
		n += got
		b.pos += int64(got)
	}
	return n, nil
}

func (b *blobReaderAt) closeStream() {
	if b.reader.Type() == js.TypeObject {
		b.reader.Call("cancel")
		b.reader = js.Undefined()
	}
}
