//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"io"
	"syscall/js"
)

// blobReaderAt reads byte ranges of a JS Blob (a dropped File) with
// blob.slice(a, b).arrayBuffer(). It must be called from a goroutine that
// is not a js.FuncOf callback (awaiting there deadlocks the runtime).
type blobReaderAt struct {
	blob js.Value
	size int64
}

func newBlobReaderAt(blob js.Value) *blobReaderAt {
	return &blobReaderAt{blob: blob, size: int64(blob.Get("size").Float())}
}

func (b *blobReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= b.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), b.size)
	buf, err := await(b.blob.Call("slice", float64(off), float64(end)).Call("arrayBuffer"))
	if err != nil {
		return 0, fmt.Errorf("read %d bytes at offset %d: %w", end-off, off, err)
	}
	n := js.CopyBytesToGo(p, js.Global().Get("Uint8Array").New(buf))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// await blocks the calling goroutine until the promise settles.
func await(promise js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	var then, catch js.Func
	then = js.FuncOf(func(this js.Value, args []js.Value) any {
		ch <- result{v: args[0]}
		return nil
	})
	catch = js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "promise rejected"
		if len(args) > 0 {
			msg = args[0].Call("toString").String()
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	promise.Call("then", then, catch)
	r := <-ch
	then.Release()
	catch.Release()
	return r.v, r.err
}
