//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall/js"

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
// name}): the same bytes as `ditkit convert FILE -o NAME ...`, as a Blob.
func convertAPI(file, target, opts js.Value) (any, error) {
	req, err := targetRequest(target)
	if err != nil {
		return nil, err
	}
	format := optString(opts, "format", "safetensors")
	if format != "safetensors" && format != "pt" {
		return nil, fmt.Errorf("format %q: want safetensors or pt", format)
	}
	dt, err := report.ParseDType(optString(opts, "dtype", "keep"))
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
	sink := newBlobSink(name, false)
	o := ui.BrowserConvertOptions(format, report.ParseFixes(optString(opts, "fix", "auto")), dt, name)
	if _, err := convert.Run(ck, req, o, sink); err != nil {
		return nil, err
	}
	if _, err := sink.Close(); err != nil {
		return nil, err
	}
	return sink.blob, nil
}
