package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Bad GGUF/fp8 conversion requests exit 2 with one line naming the
// problem, and leave no output behind.
func TestConvertQuantBadInput(t *testing.T) {
	dir := t.TempDir()
	src := fixtures.Path(t, "gguf_fp8/gguf/source_f32.safetensors")
	ints := filepath.Join(dir, "ints.safetensors")
	var b bytes.Buffer
	loader.WriteSafetensors(&b, []loader.Source{
		loader.BytesSource("w.weight", tensor.F32, []int{32, 64}, make([]byte, 32*64*4)),
		loader.BytesSource("mask", tensor.BOOL, []int{64}, make([]byte, 64)),
	}, nil)
	os.WriteFile(ints, b.Bytes(), 0o644)
	six := filepath.Join(dir, "six.safetensors")
	b.Reset()
	loader.WriteSafetensors(&b, []loader.Source{loader.BytesSource("w.weight", tensor.F32, []int{1, 1, 1, 1, 2, 32}, make([]byte, 64*4))}, nil)
	os.WriteFile(six, b.Bytes(), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{src, "-o", "x.gguf", "--quant", "Q7_0"}, `--quant "Q7_0": want one of F32, F16, BF16, Q8_0`},
		{[]string{src, "-o", "x.gguf", "--quant", "IQ2_XXS"}, "want one of"},
		{[]string{src, "-o", "x.gguf", "--quant-threshold", "-5"}, "--quant-threshold -5"},
		{[]string{src, "-o", "x.safetensors", "--quant", "Q8_0"}, "apply to a .gguf output only"},
		{[]string{src, "-o", "x.gguf", "--dtype", "bf16"}, "--dtype does not apply to a .gguf output"},
		{[]string{src, "-o", "x.safetensors", "--fp8-scaled"}, "--fp8-scaled needs --dtype fp8_e4m3"},
		{[]string{src, "-o", "x.safetensors", "--dtype", "fp8_e3m4"}, `--dtype "fp8_e3m4"`},
		{[]string{src, "-o", "x.safetensors", "--dtype", "bf16", "--fp8-semantics", "newest"}, `--fp8-semantics "newest"`},
		{[]string{src, "-o", "x.gguf", "--gguf-arch", "wan video"}, `--gguf-arch "wan video"`},
		{[]string{src, "-o", filepath.Join(dir, "no", "such", "dir", "x.gguf"), "--quant", "Q8_0"}, "no such file or directory"},
		{[]string{ints, "-o", "x.gguf", "--quant", "Q8_0"}, `tensor "mask" is BOOL: GGUF has no such type`},
		{[]string{six, "-o", "x.gguf", "--quant", "Q8_0"}, `tensor "w.weight" has 6 dims`},
		{[]string{six, "-o", "x.safetensors", "--dtype", "fp8_e4m3"}, "no 2-D Linear weight"},
	} {
		code, _, errs := runCLI(t, append([]string{"convert"}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("convert %v: exit %d, %q (want %q)", c.args, code, errs, c.want)
		}
	}
	for _, f := range []string{"x.gguf", "x.safetensors"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was left behind", f)
			os.Remove(f)
		}
	}
}

// dit_A through scaled fp8 and back with real weights: --dtype fp8_e4m3
// --fp8-scaled scales every Linear weight; diff against dit_A's own spec
// warns that the target ignores the scales (and plans their
// multiplication with --dtype bf16); convert to that target without
// --dtype is refused rather than dropping the scales; with --dtype bf16
// the output is clean and each weight is within e4m3's rounding of the
// original.
func TestScaledFP8RoundTripDiT(t *testing.T) {
	dir := t.TempDir()
	src := fixtures.Path(t, "dit_A/ckpt.safetensors")
	spec := specFile(t, "dit_A")
	fp8 := filepath.Join(dir, "dit.fp8.safetensors")
	convertJSON(t, src, "-o", fp8, "--dtype", "fp8_e4m3", "--fp8-scaled")
	code, out, errs := runCLI(t, "diff", fp8, "--spec", spec, "--json")
	var d struct {
		Warnings []string `json:"warnings"`
		Plan     []struct {
			Op string `json:"op"`
		} `json:"plan"`
	}
	json.Unmarshal([]byte(out), &d)
	if code != 1 || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "ignores the scales") {
		t.Errorf("diff: exit %d, warnings %q %s", code, d.Warnings, errs)
	}
	code, out, _ = runCLI(t, "diff", fp8, "--spec", spec, "--json", "--dtype", "bf16")
	d.Warnings, d.Plan = nil, nil
	json.Unmarshal([]byte(out), &d)
	if len(d.Warnings) != 0 || len(d.Plan) == 0 || d.Plan[0].Op != "dequantize-fp8" {
		t.Errorf("diff --dtype bf16: exit %d, %+v", code, d)
	}
	code, _, errs = runCLI(t, "convert", fp8, "-o", filepath.Join(dir, "bad.safetensors"), "--spec", spec)
	if code != 2 || !strings.Contains(errs, "drops its scale") {
		t.Errorf("convert without --dtype: exit %d, %q", code, errs)
	}
	back := filepath.Join(dir, "back.safetensors")
	code, out, errs = runCLI(t, "convert", fp8, "-o", back, "--spec", spec, "--dtype", "bf16")
	if code != 0 || !strings.Contains(out, "clean diff") {
		t.Fatalf("convert --dtype bf16: exit %d: %s %s", code, out, errs)
	}
	orig, got := fixtures.ReadAll(t, src), fixtures.ReadAll(t, back)
	for name, o := range orig {
		g := got[name]
		if g == nil || g.DType != tensor.BF16 || !tensor.EqualShape(g.Shape, o.Shape) {
			t.Fatalf("%s: %+v", name, g)
		}
		amax, emax := absMaxAndError(o, g)
		// e4m3 keeps 3 mantissa bits: half an ulp is 1/16 relative, then bf16.
		if emax > amax/16*1.05+1e-30 {
			t.Errorf("%s: error %g for absmax %g", name, emax, amax)
		}
	}
}

// A GGUF written the stable-diffusion.cpp way (Conv3d patch embedding
// folded to [O·I, T, H, W], the leading size-1 dim of pos_embed dropped,
// the model.diffusion_model. prefix, no KV) is restored only where the
// spec confirms it: diff against the STDiT spec lists "stored as … in
// GGUF, restored to …" and is clean; convert --spec writes the restored
// shapes with the bytes unchanged.
func TestGGUFRestoredBySpec(t *testing.T) {
	dir := t.TempDir()
	src := fixtures.Path(t, "stdit_tiny/ckpt_plain.pt")
	ck, f, err := loader.OpenFile(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []loader.GGUFWriteTensor
	folded := map[string][]int{}
	for _, tt := range ck.Weights() {
		data, err := ck.ReadTensor(tt)
		if err != nil {
			t.Fatal(err)
		}
		shape := tt.Shape
		switch {
		case len(shape) == 5:
			shape = append([]int{shape[0] * shape[1]}, shape[2:]...)
		case len(shape) > 2 && shape[0] == 1:
			shape = shape[1:]
		default:
			shape = nil
		}
		if shape != nil {
			folded[tt.Name] = tt.Shape
		} else {
			shape = tt.Shape
		}
		qt := map[tensor.DType]quant.Type{tensor.F32: quant.F32, tensor.F16: quant.F16, tensor.BF16: quant.BF16}[tt.DType]
		ts = append(ts, loader.GGUFWriteTensor{Name: "model.diffusion_model." + tt.Name, Type: qt, Shape: shape, WriteTo: constWriter(data)})
	}
	if len(folded) < 2 {
		t.Fatalf("fixture has %d tensors to fold", len(folded))
	}
	path := filepath.Join(dir, "sdcpp.gguf")
	var b bytes.Buffer
	if err := loader.WriteGGUF(&b, nil, ts, loader.GGUFWriteOptions{}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b.Bytes(), 0o644)
	spec := specFile(t, "stdit_tiny")
	code, out, errs := runCLI(t, "diff", path, "--spec", spec, "--json")
	var d struct {
		GGUFRestored []loader.GGUFRestoration `json:"gguf_restored"`
		Plan         []struct {
			Op string `json:"op"`
		} `json:"plan"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("exit %d: %v %s", code, err, errs)
	}
	if len(d.GGUFRestored) != len(folded) {
		t.Fatalf("restored %+v, folded %v", d.GGUFRestored, folded)
	}
	for _, r := range d.GGUFRestored {
		want := folded[strings.TrimPrefix(r.Name, "model.diffusion_model.")]
		if !tensor.EqualShape(r.Restored, want) || !strings.Contains(r.Evidence, "stored as "+tensor.FormatShape(r.Stored)+" in GGUF, restored to "+tensor.FormatShape(want)) {
			t.Errorf("%+v, want %v", r, want)
		}
	}
	for _, s := range d.Plan {
		if s.Op != "strip-prefix" {
			t.Errorf("plan step %s: the restored shapes should leave only the prefix", s.Op)
		}
	}
	code, out, errs = runCLI(t, "diff", path, "--spec", spec)
	if !strings.Contains(out, "restored: ") || !strings.Contains(out, "in GGUF, restored to") {
		t.Errorf("human diff (exit %d): %s %s", code, out, errs)
	}
	dst := filepath.Join(dir, "out.safetensors")
	r := convertJSON(t, path, "-o", dst, "--spec", spec, "--dtype", "keep")
	if len(r.GGUFRestored) != len(folded) {
		t.Errorf("convert restored %+v", r.GGUFRestored)
	}
	got := fixtures.ReadAll(t, dst)
	for _, tt := range ck.Weights() {
		g := got[tt.Name]
		want, _ := ck.ReadTensor(tt)
		if g == nil || !tensor.EqualShape(g.Shape, tt.Shape) || !bytes.Equal(g.Data, want) {
			t.Errorf("%s: %v", tt.Name, g)
		}
	}
	// Without a target the detected family's spec confirms the same
	// shapes: detection sees the fold undone by the bias length and the
	// tables with their leading 1, and the spec then accounts for every
	// tensor.
	dst = filepath.Join(dir, "detected.safetensors")
	r = convertJSON(t, path, "-o", dst, "--dtype", "keep")
	if len(r.GGUFRestored) != len(folded) {
		t.Fatalf("detection restored %+v", r.GGUFRestored)
	}
	for _, x := range r.GGUFRestored {
		if !tensor.EqualShape(x.Restored, folded[strings.TrimPrefix(x.Name, "model.diffusion_model.")]) || !strings.Contains(x.Evidence, "the detected stdit spec") {
			t.Errorf("%+v", x)
		}
	}
	got = fixtures.ReadAll(t, dst)
	for _, tt := range ck.Weights() {
		if g := got["model.diffusion_model."+tt.Name]; g == nil || !tensor.EqualShape(g.Shape, tt.Shape) {
			t.Errorf("%s: %v", tt.Name, g)
		}
	}
	// inspect shows the restored shapes with their evidence.
	ins := inspectGGUF(t, path)
	n := 0
	for _, tt := range ins.Tensors {
		if want, ok := folded[strings.TrimPrefix(tt.Name, "model.diffusion_model.")]; ok {
			n++
			if !tensor.EqualShape(tt.Shape, want) || !strings.Contains(tt.ShapeEvidence, "restored to") {
				t.Errorf("inspect %s: %v %q", tt.Name, tt.Shape, tt.ShapeEvidence)
			}
		}
	}
	if n != len(folded) {
		t.Errorf("inspect: %d restored tensors", n)
	}
}

func constWriter(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

// The stable-diffusion.cpp fixture (written by ggml's own writer: Wan's
// Conv3d folded to [O·I, T, H, W], the modulation tables' leading 1
// dropped) restores to the reference torch shapes under a Wan spec of
// its sizes, and converts to exactly the reference dequantization in
// those shapes. Its 14 tensors are too few for detection to derive a
// spec (no time embedding), so without a target nothing is reshaped.
func TestGGUFSDCppFixtureRestored(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf_conventions")
	src := filepath.Join(dir, "conv_c_sdcpp_fold5d.gguf")
	m := fixtures.ReadGGUFManifest(t, src)
	spec := filepath.Join(t.TempDir(), "wan_tiny.json")
	os.WriteFile(spec, []byte(`{"family":"wan","in_dim":4,"dim":64,"ffn_dim":256,"freq_dim":64,"text_dim":128,"out_dim":4,"num_heads":16,"num_layers":1,"prefix":"model.diffusion_model."}`), 0o644)
	dst := filepath.Join(t.TempDir(), "c.safetensors")
	r := convertJSON(t, src, "-o", dst, "--spec", spec, "--dtype", "fp32", "--keep-unexpected")
	restored := map[string][]int{}
	for _, x := range r.GGUFRestored {
		restored[x.Name] = x.Restored
	}
	n := 0
	for _, mt := range m.Tensors {
		stored := make([]int, len(mt.Dims))
		for i, d := range mt.Dims {
			stored[len(mt.Dims)-1-i] = int(d)
		}
		if tensor.EqualShape(stored, mt.Torch) {
			continue
		}
		n++
		if !tensor.EqualShape(restored[mt.Name], mt.Torch) {
			t.Errorf("%s: restored to %v, reference %v", mt.Name, restored[mt.Name], mt.Torch)
		}
	}
	if n != 3 || len(r.GGUFRestored) != n {
		t.Errorf("%d reshaped in the reference, %d restored", n, len(r.GGUFRestored))
	}
	equalTensors(t, "conv_c → fp32", dst, filepath.Join(dir, "conv_c_sdcpp_fold5d.dequant_f32.safetensors"))
	r = convertJSON(t, src, "-o", filepath.Join(t.TempDir(), "d.safetensors"))
	if len(r.GGUFRestored) != 0 {
		t.Errorf("restored without a confirming spec: %+v", r.GGUFRestored)
	}
}
