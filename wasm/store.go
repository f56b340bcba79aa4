//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"syscall/js"

	"github.com/ditkit/ditkit/ui"
	"github.com/ditkit/ditkit/wasm/jsutil"
)

// The decoder the user chose to keep lives in Cache Storage (this origin
// only, never sent anywhere): one entry, its file name in a header.
const (
	decoderCache = "ditkit-decoder-v1"
	decoderKey   = "kept/decoder"
	nameHeader   = "X-Ditkit-Name"
)

func cacheStorage() (js.Value, error) {
	c := js.Global().Get("caches")
	if c.Type() != js.TypeObject {
		return js.Undefined(), errors.New("this browser offers no Cache Storage here (it needs https or localhost)")
	}
	return c, nil
}

// Keep stores a dropped decoder file (replacing any kept before).
func (host) Keep(src *ui.Source) error {
	r, ok := src.R.(*blobReaderAt)
	if !ok {
		return fmt.Errorf("%s is not a file dropped on this page", src.Name)
	}
	caches, err := cacheStorage()
	if err != nil {
		return err
	}
	if _, err := jsutil.Await(caches.Call("delete", decoderCache)); err != nil {
		return err
	}
	cache, err := jsutil.Await(caches.Call("open", decoderCache))
	if err != nil {
		return err
	}
	headers := js.Global().Get("Headers").New()
	headers.Call("set", "Content-Type", "application/octet-stream")
	headers.Call("set", nameHeader, js.Global().Call("encodeURIComponent", src.Name))
	init := js.Global().Get("Object").New()
	init.Set("headers", headers)
	resp := js.Global().Get("Response").New(r.blob, init)
	_, err = jsutil.Await(cache.Call("put", decoderKey, resp))
	return err
}

// Kept returns the kept decoder as a page source, or nil.
func (host) Kept() (*ui.Source, error) {
	caches, err := cacheStorage()
	if err != nil {
		return nil, nil // nothing can have been kept
	}
	has, err := jsutil.Await(caches.Call("has", decoderCache))
	if err != nil || !has.Truthy() {
		return nil, err
	}
	cache, err := jsutil.Await(caches.Call("open", decoderCache))
	if err != nil {
		return nil, err
	}
	resp, err := jsutil.Await(cache.Call("match", decoderKey))
	if err != nil || resp.Type() != js.TypeObject {
		return nil, err
	}
	name := "taesd_decoder"
	if h := resp.Get("headers").Call("get", nameHeader); h.Type() == js.TypeString {
		name = js.Global().Call("decodeURIComponent", h).String()
	}
	blob, err := jsutil.Await(resp.Call("blob"))
	if err != nil {
		return nil, err
	}
	return blobSource(js.Global().Get("File").New([]any{blob}, name)), nil
}

// Forget deletes the kept decoder.
func (host) Forget() error {
	caches, err := cacheStorage()
	if err != nil {
		return nil
	}
	_, err = jsutil.Await(caches.Call("delete", decoderCache))
	return err
}
