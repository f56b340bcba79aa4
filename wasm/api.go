//go:build js && wasm

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"syscall/js"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/convert"
	"github.com/ditkit/ditkit/loader/report"
	"github.com/ditkit/ditkit/ui"
)

// targetRequest reads a JS target: {arch: PRESET}, {spec: {...}},
// {errorText: "..."}, {layout: "diffusers"} or null.
func targetRequest(v js.Value) (report.TargetRequest, error) {
	var req report.TargetRequest
	if v.Type() != js.TypeObject {
		if v.IsUndefined() || v.IsNull() {
			return req, nil
		}
		return req, fmt.Errorf("target: want {arch}, {spec}, {errorText}, {layout} or null")
	}
	s := js.Global().Get("JSON").Call("stringify", v).String()
	if err := json.Unmarshal([]byte(s), &req); err != nil {
		return req, fmt.Errorf("target: %w", err)
	}
	return req, nil
}

func optString(opts js.Value, key, def string) string {
	if opts.Type() != js.TypeObject {
		return def
	}
	v := opts.Get(key)
	switch v.Type() {
	case js.TypeString:
		return v.String()
	case js.TypeObject: // an array of fix ids
		if js.Global().Get("Array").Call("isArray", v).Bool() {
			parts := make([]string, v.Length())
			for i := range parts {
				parts[i] = v.Index(i).String()
			}
			return strings.Join(parts, ",")
		}
	}
	return def
}

// convertAPI is window.ditkit.convert(file, target, {fix, dtype, format,
// name, root, quant, quantThreshold, ggufArch, fp8Scaled, fp8Semantics,
// progress, signal}): the same bytes as `ditkit convert FILE -o NAME ...`
// with the same options (format "gguf" takes quant/quantThreshold/
// ggufArch; dtype fp8_e4m3/fp8_e5m2 with fp8Scaled; a GGUF input without
// a dtype converts to bf16), as a Blob. progress(done, total) is called
// as bytes are written; an AbortSignal in signal cancels.
func convertAPI(file, target, opts js.Value) (any, error) {
	req, err := targetRequest(target)
	if err != nil {
		return nil, err
	}
	format := optString(opts, "format", "safetensors")
	if format != "safetensors" && format != "pt" && format != "gguf" {
		return nil, fmt.Errorf("format %q: want safetensors, pt or gguf", format)
	}
	dtArg := optString(opts, "dtype", "")
	dt, err := report.ParseConvertDType(dtArg)
	if err != nil {
		return nil, err
	}
	ck, err := openBlob(file)
	if err != nil {
		return nil, err
	}
	name := optString(opts, "name", ui.OutputName(ck.Name, format))
	if root := optString(opts, "root", ""); root != "" {
		if err := ck.SetWeightsRoot(root); err != nil {
			return nil, err
		}
	}
	o := ui.BrowserConvertOptions(format, report.ParseFixes(optString(opts, "fix", "auto")), dt, name)
	q := convert.QuantChoices{Quant: optString(opts, "quant", ""), Arch: optString(opts, "ggufArch", ""),
		Threshold: int64(optFloat(opts, "quantThreshold", loader.DefaultQuantThreshold)), FP8Scaled: optBool(opts, "fp8Scaled"),
		FP8Semantics: optString(opts, "fp8Semantics", ""), DTypeGiven: dtArg != ""}
	if _, err := q.Apply(&o, ck); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if sig := opts.Get("signal"); opts.Type() == js.TypeObject && sig.Type() == js.TypeObject {
		if sig.Get("aborted").Truthy() {
			return nil, ui.ErrCancelled
		}
		onAbort := js.FuncOf(func(js.Value, []js.Value) any { cancel(); return nil })
		defer onAbort.Release()
		sig.Call("addEventListener", "abort", onAbort)
		defer sig.Call("removeEventListener", "abort", onAbort)
	}
	o.Context = ctx
	if fn := opts.Get("progress"); opts.Type() == js.TypeObject && fn.Type() == js.TypeFunction {
		o.Progress = func(done, total int64) { fn.Invoke(float64(done), float64(total)) }
	}
	sink := newBlobSink(name, false)
	w := &ctxWriter{w: sink, ctx: ctx}
	if _, err := convert.Run(ck, req, o, w); err != nil {
		sink.Abort()
		if ctx.Err() != nil {
			return nil, ui.ErrCancelled
		}
		return nil, err
	}
	if _, err := sink.Close(); err != nil {
		return nil, err
	}
	return sink.blob, nil
}

// ctxWriter stops writing once its context is cancelled.
type ctxWriter struct {
	w   io.Writer
	ctx context.Context
}

func (w *ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, ui.ErrCancelled
	}
	return w.w.Write(p)
}
