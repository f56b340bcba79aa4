//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"syscall/js"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/convert"
	"github.com/ditkit/ditkit/loader/report"
	"github.com/ditkit/ditkit/loader/scan"
	"github.com/ditkit/ditkit/ui"
	"github.com/vugu/vugu"
	"github.com/vugu/vugu/domrender"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

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
				reject.Invoke(js.Global().Get("Error").New(ui.CLIError(err)))
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
	if file.Type() != js.TypeObject || file.Get("size").Type() != js.TypeNumber {
		return nil, errNoFile
	}
	src := blobSource(file)
	return loader.Open(src.R, src.Size, src.Name)
}

func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return js.Undefined()
}

// installAPI fills window.ditkit (created by app.js with its ready promise).
func installAPI() js.Value {
	api := js.Global().Get("ditkit")
	if api.Type() != js.TypeObject {
		api = js.Global().Get("Object").New()
		js.Global().Set("ditkit", api)
	}
	api.Set("version", version)
	api.Set("inspect", js.FuncOf(func(this js.Value, args []js.Value) any {
		file := arg(args, 0)
		return promise(func() (any, error) {
			ck, err := openBlob(file)
			if err != nil {
				return nil, err
			}
			return toJS(report.BuildInspect(ck))
		})
	}))
	api.Set("scan", js.FuncOf(func(this js.Value, args []js.Value) any {
		file := arg(args, 0)
		return promise(func() (any, error) {
			if file.Type() != js.TypeObject || file.Get("size").Type() != js.TypeNumber {
				return nil, errNoFile
			}
			src := blobSource(file)
			rep, err := scan.Scan(src.R, src.Size, src.Name)
			if err != nil {
				return nil, err
			}
			return toJS(rep)
		})
	}))
	api.Set("diff", js.FuncOf(func(this js.Value, args []js.Value) any {
		file, target := arg(args, 0), arg(args, 1)
		return promise(func() (any, error) {
			req, err := targetRequest(target)
			if err != nil {
				return nil, err
			}
			ck, err := openBlob(file)
			if err != nil {
				return nil, err
			}
			d, _, err := report.BuildDiff(ck, req, report.DiffOptions{})
			if err != nil {
				return nil, err
			}
			return toJS(d)
		})
	}))
	api.Set("convert", js.FuncOf(func(this js.Value, args []js.Value) any {
		file, target, opts := arg(args, 0), arg(args, 1), arg(args, 2)
		return promise(func() (any, error) { return convertAPI(file, target, opts) })
	}))
	installComputeAPI(api)
	installDecodeAPI(api)
	api.Set("stats", js.FuncOf(func(this js.Value, args []js.Value) any {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return map[string]any{"bytesRead": float64(bytesRead.Load()), "reads": float64(readCalls.Load()),
			"heapSys": float64(ms.HeapSys), "heapInuse": float64(ms.HeapInuse)}
	}))
	if api.Get("ready").IsUndefined() {
		api.Set("ready", js.Global().Get("Promise").Call("resolve", true))
	}
	return api
}

// newRenderer creates vugu's DOM renderer. domrender.New evals its helper
// script, which the page's CSP forbids; the same script is served as
// vugu-render.js (loaded before us), so eval is stubbed for the call.
func newRenderer(mount string) (*domrender.JSRenderer, error) {
	w := js.Global()
	if w.Get("vuguRender").Type() != js.TypeFunction {
		return nil, errors.New("vugu-render.js is not loaded")
	}
	orig := w.Get("eval")
	noop := js.FuncOf(func(js.Value, []js.Value) any { return nil })
	w.Set("eval", noop)
	defer func() {
		w.Set("eval", orig)
		noop.Release()
	}()
	return domrender.New(mount)
}

func main() {
	convert.Version = version
	simdKernel()
	if inWorker() {
		workerMain()
	}
	installAPI()
	signal := func(name string, args ...any) {
		if cb := js.Global().Get(name); cb.Type() == js.TypeFunction {
			cb.Invoke(args...)
		}
	}
	renderer, err := newRenderer("#app")
	if err != nil {
		signal("__ditkitFailed", err.Error())
		select {}
	}
	env, err := vugu.NewBuildEnv(renderer.EventEnv())
	if err != nil {
		signal("__ditkitFailed", err.Error())
		select {}
	}
	root := &ui.Root{Host: host{}}
	first := true
	for ok := true; ok; ok = renderer.EventWait() {
		if err := renderer.Render(env.RunBuild(root)); err != nil {
			js.Global().Get("console").Call("error", "ditkit: render: "+err.Error())
		}
		if first {
			first = false
			signal("__ditkitReady")
		}
	}
}
