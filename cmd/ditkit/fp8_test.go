package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Plain fp8 safetensors convert to fp32 and bf16 exactly (the c10 decode).
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
			equalTensors(t, name+" → "+dt, dst, filepath.Join(dir, name+".dequant_"+map[string]string{"fp32": "f32", "bf16": "bf16"}[dt]+".safetensors"))
		}
	}
}

// equalTensors says whether two safetensors files hold the same tensors
// (names, dtypes, shapes, bytes).
func equalTensors(t *testing.T, what, gotPath, refPath string) {
	t.Helper()
	ref := fixtures.ReadAll(t, refPath)
	got := fixtures.ReadAll(t, gotPath)
	if len(got) != len(ref) {
		t.Errorf("%s: %d tensors, reference %d", what, len(got), len(ref))
	}
	for n, r := range ref {
		if g := got[n]; g == nil || g.DType != r.DType || !tensor.EqualShape(g.Shape, r.Shape) || !bytes.Equal(g.Data, r.Data) {
			t.Errorf("%s: %s differs from the reference", what, n)
		}
	}
}

// Scaled fp8 converts with its scales multiplied in, bit for bit as
// ComfyUI dequantizes it (fp8 value × scale): fp32 is one f32 multiply
// for both layouts; bf16 is RNE(f32(w)·scale) by default (new ComfyUI on
// current PyTorch) and, with --fp8-semantics old, the scale rounded to
// bf16 first (old ComfyUI's convert_weight). The scale and marker
// tensors are gone from the output; --json says how they were applied.
func TestConvertScaledFP8AppliesScales(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/fp8/checkpoints")
	out := t.TempDir()
	for _, c := range []struct {
		src, dtype, sem, ref string
	}{
		{"scaled_fp8_comfy", "fp32", "", "scaled_fp8_comfy.dequant_f32"},
		{"scaled_fp8_comfy", "bf16", "", "scaled_fp8_comfy.dequant_bf16_newpath"},
		{"scaled_fp8_comfy", "bf16", "old", "scaled_fp8_comfy.dequant_bf16"},
		{"weight_scale_comfy", "fp32", "", "weight_scale_comfy.dequant_f32"},
		{"weight_scale_comfy", "bf16", "new", "weight_scale_comfy.dequant_bf16"},
	} {
		dst := filepath.Join(out, c.ref+c.sem+".safetensors")
		args := []string{filepath.Join(dir, c.src+".safetensors"), "-o", dst, "--dtype", c.dtype}
		if c.sem != "" {
			args = append(args, "--fp8-semantics", c.sem)
		}
		r := convertJSON(t, args...)
		if r.FP8Scales == "" || (c.dtype == "bf16" && !strings.Contains(r.FP8Scales, map[string]string{"": "f32 opmath", "new": "f32 opmath", "old": "rounded"}[c.sem])) {
			t.Errorf("%v: fp8_scales %q", args, r.FP8Scales)
		}
		if r.Applied[0].Op != "dequantize-fp8" {
			t.Errorf("%v: applied %+v", args, r.Applied)
		}
		equalTensors(t, strings.Join(args[2:], " "), dst, filepath.Join(dir, c.ref+".safetensors"))
	}
}

// convert --dtype fp8_e4m3 --fp8-scaled writes ComfyUI's old scaled-fp8
// layout from f32 weights: the Linear weights and their scales equal the
// fixture's (scale = max|w|/448 in f32, weight = c10_encode(w/scale)), the
// marker is F8_E4M3 [0], biases and norms keep their dtype. inspect
// recognises the layout, and converting it back to fp32 gives the
// fixture's dequantization. Plain fp8 is torch's .to(float8_e4m3fn).
func TestConvertWritesFP8(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/fp8/checkpoints")
	out := t.TempDir()
	src := filepath.Join(dir, "source_f32.safetensors")
	scaled := filepath.Join(out, "scaled.safetensors")
	r := convertJSON(t, src, "-o", scaled, "--dtype", "fp8_e4m3", "--fp8-scaled")
	if r.Applied[len(r.Applied)-1].Op != "quantize-fp8" {
		t.Errorf("applied %+v", r.Applied)
	}
	ref := fixtures.ReadAll(t, filepath.Join(dir, "scaled_fp8_comfy.safetensors"))
	got := fixtures.ReadAll(t, scaled)
	source := fixtures.ReadAll(t, src)
	for n, g := range got {
		rt := ref[n]
		switch {
		case strings.HasSuffix(n, ".weight") && rt != nil && rt.DType == tensor.F8_E4M3, strings.HasSuffix(n, ".scale_weight"):
			if !bytes.Equal(g.Data, rt.Data) || g.DType != rt.DType || !tensor.EqualShape(g.Shape, rt.Shape) {
				t.Errorf("%s: %v %v differs from the fixture's %v %v", n, g.DType, g.Shape, rt.DType, rt.Shape)
			}
		case n == "scaled_fp8":
			if g.DType != tensor.F8_E4M3 || !tensor.EqualShape(g.Shape, []int{0}) {
				t.Errorf("marker: %v %v", g.DType, g.Shape)
			}
		default:
			if s := source[n]; s == nil || g.DType != tensor.F32 || !bytes.Equal(g.Data, s.Data) {
				t.Errorf("%s: not kept as the source's %v", n, g.DType)
			}
		}
	}
	if len(got) != len(source)+8 { // 7 scales and the marker
		t.Errorf("%d tensors", len(got))
	}
	code, out2, _ := runCLI(t, "inspect", "--json", scaled)
	if code != 0 || !strings.Contains(out2, `"layout": "scaled_fp8"`) {
		t.Errorf("inspect: %d %s", code, out2)
	}
	back := filepath.Join(out, "back.safetensors")
	convertJSON(t, scaled, "-o", back, "--dtype", "fp32")
	refF32 := fixtures.ReadAll(t, filepath.Join(dir, "scaled_fp8_comfy.dequant_f32.safetensors"))
	for n, g := range fixtures.ReadAll(t, back) {
		if rt := refF32[n]; strings.HasSuffix(n, ".weight") && ref[n] != nil && ref[n].DType == tensor.F8_E4M3 && !bytes.Equal(g.Data, rt.Data) {
			t.Errorf("round trip: %s differs from the fixture's dequantization", n)
		}
	}
	plain := filepath.Join(out, "plain.safetensors")
	convertJSON(t, src, "-o", plain, "--dtype", "fp8_e5m2")
	pref := fixtures.ReadAll(t, filepath.Join(dir, "plain_e5m2.safetensors"))
	for n, g := range fixtures.ReadAll(t, plain) {
		if p := pref[n]; p != nil && p.DType == tensor.F8_E5M2 && (g.DType != tensor.F8_E5M2 || !bytes.Equal(g.Data, p.Data)) {
			t.Errorf("plain e5m2: %s differs from torch's .to(float8_e5m2)", n)
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
