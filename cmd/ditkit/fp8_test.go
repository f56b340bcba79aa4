package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// Plain fp8 safetensors convert to fp32 and bf16 exactly (the c10 decode);
// scaled fp8 is refused rather than written without its scales.
func TestConvertFP8(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/fp8/checkpoints")
	out := t.TempDir()
	for _, name := range []string{"plain_e4m3fn", "plain_e5m2"} {
		for _, dt := range []string{"fp32", "bf16"} {
			dst := filepath.Join(out, name+"."+dt+".safetensors")
			code, _, errs := runCLI(t, "convert", filepath.Join(dir, name+".safetensors"), "-o", dst, "--dtype", dt)
			if code != 0 {
				t.Fatalf("%s → %s: exit %d: %s", name, dt, code, errs)
			}
			ref := fixtures.ReadAll(t, filepath.Join(dir, name+".dequant_"+map[string]string{"fp32": "f32", "bf16": "bf16"}[dt]+".safetensors"))
			got := fixtures.ReadAll(t, dst)
			if len(got) != len(ref) {
				t.Fatalf("%s → %s: %d tensors, reference %d", name, dt, len(got), len(ref))
			}
			for n, r := range ref {
				if g := got[n]; g == nil || g.DType != r.DType || !bytes.Equal(g.Data, r.Data) {
					t.Errorf("%s → %s: %s differs from the c10 decode", name, dt, n)
				}
			}
		}
	}
	for _, name := range []string{"scaled_fp8_comfy", "weight_scale_comfy"} {
		code, _, errs := runCLI(t, "convert", filepath.Join(dir, name+".safetensors"), "-o", filepath.Join(out, name+".safetensors"), "--dtype", "bf16")
		if code != 2 || !strings.Contains(errs, "scaled fp8") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%s: exit %d, %q", name, code, errs)
		}
	}
}

// inspect names the fp8 layout and counts the scaled weights.
func TestInspectFP8Layout(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/fp8/checkpoints")
	for name, want := range map[string]struct {
		layout string
		scaled int
	}{"plain_e4m3fn": {"fp8", 0}, "plain_e5m2": {"fp8", 0}, "scaled_fp8_comfy": {"scaled_fp8", 7}, "weight_scale_comfy": {"weight_scale", 7}, "source_f32": {"", 0}} {
		code, out, errs := runCLI(t, "inspect", "--json", filepath.Join(dir, name+".safetensors"))
		if code != 0 {
			t.Fatalf("%s: %s", name, errs)
		}
		var r struct {
			FP8 *struct {
				Layout       string   `json:"layout"`
				ScaledLayers int      `json:"scaled_layers"`
				FP8Tensors   int      `json:"fp8_tensors"`
				Evidence     []string `json:"evidence"`
			} `json:"fp8"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if want.layout == "" {
			if r.FP8 != nil {
				t.Errorf("%s: fp8 %+v", name, r.FP8)
			}
			continue
		}
		if r.FP8 == nil || r.FP8.Layout != want.layout || r.FP8.ScaledLayers != want.scaled || r.FP8.FP8Tensors != 7 || len(r.FP8.Evidence) == 0 {
			t.Errorf("%s: fp8 %+v", name, r.FP8)
		}
	}
}
