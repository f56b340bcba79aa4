//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"syscall/js"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
)

// promise runs fn on a new goroutine and returns a JS Promise of its result.
func promise(fn func() (any, error)) js.Value {
	var executor js.Func
	executor = js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			defer executor.Release()
			defer func() {
				if p := recover(); p != nil {
					reject.Invoke(js.Global().Get("Error").New(fmt.Sprint("ditkit: internal error: ", p)))
				}
			}()
			v, err := fn()
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(executor)
}

// toJS turns a Go value into a plain JS object through JSON.
func toJS(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return js.Global().Get("JSON").Call("parse", string(b)), nil
}

func openBlob(file js.Value) (*loader.Checkpoint, error) {
	if file.IsUndefined() || file.IsNull() || file.Get("size").IsUndefined() {
		return nil, fmt.Errorf("expected a File or Blob")
	}
	name := "file"
	if n := file.Get("name"); n.Type() == js.TypeString {
		name = n.String()
	}
	r := newBlobReaderAt(file)
	return loader.Open(r, r.size, name)
}

func main() {
	api := js.Global().Get("Object").New()
	api.Set("version", "0.1.0-dev")
	api.Set("inspect", js.FuncOf(func(this js.Value, args []js.Value) any {
		var file js.Value
		if len(args) > 0 {
			file = args[0]
		}
		return promise(func() (any, error) {
			ck, err := openBlob(file)
			if err != nil {
				return nil, err
			}
			return toJS(report.BuildInspect(ck))
		})
	}))
	api.Set("ready", js.Global().Get("Promise").Call("resolve", true))
	js.Global().Set("ditkit", api)
	if cb := js.Global().Get("__ditkitReady"); cb.Type() == js.TypeFunction {
		cb.Invoke()
	}
	select {}
}
