package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/loader/report"
)

// convertJSON runs convert --json and decodes the report.
type convertReport struct {
	Tensors []struct {
		Name         string   `json:"name"`
		DType        string   `json:"dtype"`
		Shape        []int    `json:"shape"`
		GGUFType     string   `json:"gguf_type"`
		TypeReason   string   `json:"type_reason"`
		MaxAbsError  *float64 `json:"max_abs_error"`
		MeanAbsError *float64 `json:"mean_abs_error"`
	} `json:"tensors"`
	Applied []struct {
		ID string `json:"id"`
		Op string `json:"op"`
	} `json:"applied"`
	GGUF         *report.GGUFWritten      `json:"gguf"`
	GGUFRestored []loader.GGUFRestoration `json:"gguf_restored"`
	FP8Scales    string                   `json:"fp8_scales"`
	Notes        []string                 `json:"notes"`
	Verified     bool                     `json:"verified"`
}

func convertJSON(t *testing.T, args ...string) *convertReport {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"convert", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("convert %v: exit %d: %s", args, code, errs)
	}
	var r convertReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Verified {
		t.Fatalf("convert %v: not verified", args)
	}
	return &r
}

func openGGUF(t *testing.T, path string) (*loader.Checkpoint, map[string]*loader.Tensor) {
	t.Helper()
	ck, f, err := loader.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m := map[string]*loader.Tensor{}
	for _, tt := range ck.Tensors {
		m[tt.Name] = tt
	}
	return ck, m
}

func rawGGUF(t *testing.T, ck *loader.Checkpoint, tt *loader.Tensor) []byte {
	t.Helper()
	b := make([]byte, tt.GGUF.Size)
	if err := ck.ReadGGUFRaw(tt, b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// convert source_f32.safetensors → .gguf --quant TYPE writes, for every
// tensor of gguf-py's tiny_<TYPE>.gguf, the same ggml type (ComfyUI-GGUF's
// policy: 1-D and ≤ 1024 elements F32, rows that do not fit the block F16),
// the same stored dims and the same bytes (ggml's quantize_row_*_ref),
// and the same KV values; the 5-D tensor the fixture files leave out is
// F32 with n_dims 5 (fix_5d). --json counts the types and reports the
// dequantization error, per tensor equal to the manifest's.
func TestConvertToGGUFMatchesReference(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf")
	src := filepath.Join(dir, "source_f32.safetensors")
	out := t.TempDir()
	source := fixtures.ReadAll(t, src)
	for _, typ := range []string{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q2_K", "Q4_K", "Q5_K", "Q6_K"} {
		t.Run(typ, func(t *testing.T) {
			ref := filepath.Join(dir, "tiny_"+typ+".gguf")
			m := fixtures.ReadGGUFManifest(t, ref)
			dst := filepath.Join(out, typ+".gguf")
			r := convertJSON(t, src, "-o", dst, "--quant", strings.ToLower(typ), "--gguf-arch", "opensora")
			rck, rt := openGGUF(t, ref)
			ck, got := openGGUF(t, dst)
			for _, k := range []string{"general.architecture", "general.quantization_version", "general.file_type"} {
				a, _ := rck.GGUF.Get(k)
				b, ok := ck.GGUF.Get(k)
				if !ok || a.Type != b.Type || a.Value != b.Value {
					t.Errorf("KV %s: %+v, reference %+v", k, b, a)
				}
			}
			if len(ck.GGUF.KV) != 3 || ck.GGUF.Alignment != 32 {
				t.Errorf("%d KV pairs, alignment %d", len(ck.GGUF.KV), ck.GGUF.Alignment)
			}
			counts := map[string]int{"F32": 1} // the 5-D tensor
			for _, mt := range m.Tensors {
				counts[mt.Type]++
				g := got[mt.Name]
				if g == nil {
					t.Fatalf("%s missing", mt.Name)
				}
				if g.GGUF.Type.String() != mt.Type || !slices.Equal(g.GGUF.Dims, mt.Dims) || !tensor.EqualShape(g.Shape, mt.Torch) {
					t.Errorf("%s: %v %v %v, reference %s %v %v", mt.Name, g.GGUF.Type, g.GGUF.Dims, g.Shape, mt.Type, mt.Dims, mt.Torch)
					continue
				}
				if !bytes.Equal(rawGGUF(t, ck, g), rawGGUF(t, rck, rt[mt.Name])) {
					t.Errorf("%s (%s): stored bytes differ from ggml's", mt.Name, mt.Type)
				}
				for _, w := range r.Tensors {
					if w.Name != mt.Name || w.GGUFType != mt.Type || w.TypeReason == "" {
						continue
					}
					e := 0.0
					if w.MaxAbsError != nil {
						e = *w.MaxAbsError
					}
					if math.Abs(e-mt.MaxErrVsSource) > 1e-6*mt.MaxErrVsSource+1e-12 {
						t.Errorf("%s: max_abs_error %g, manifest %g", mt.Name, e, mt.MaxErrVsSource)
					}
				}
			}
			x := got["x_embedder.proj.weight"]
			if x == nil || x.GGUF.Type.String() != "F32" || len(x.GGUF.Dims) != 5 || !tensor.EqualShape(x.Shape, []int{64, 4, 1, 2, 2}) {
				t.Errorf("5-D tensor: %+v", x)
			} else if d, err := ck.ReadTensor(x); err != nil || !bytes.Equal(d, source["x_embedder.proj.weight"].Data) {
				t.Errorf("5-D tensor data: %v", err)
			}
			g := r.GGUF
			if g == nil || g.Quant != typ || g.Architecture != "opensora" || g.QuantThreshold != 1024 || len(g.TypeCounts) != len(counts) || g.ComparedElements != 117104 {
				t.Fatalf("gguf report: %+v", g)
			}
			for k, v := range counts {
				if g.TypeCounts[k] != v {
					t.Errorf("type_counts %v, want %v", g.TypeCounts, counts)
				}
			}
			if (typ == "F32") != (g.MaxAbsError == 0) || g.MeanAbsError > g.MaxAbsError {
				t.Errorf("error: max %g mean %g", g.MaxAbsError, g.MeanAbsError)
			}
		})
	}
}

// --quant-threshold 0 quantizes every tensor whose rows fit (here the
// 1-D ones of 64 and 192 elements in Q8_0, and pos_embed); a larger
// threshold keeps more in F32; a file without a detectable family gets
// no general.architecture and a note saying so.
func TestConvertToGGUFThreshold(t *testing.T) {
	src := fixtures.Path(t, "gguf_fp8/gguf/source_f32.safetensors")
	out := t.TempDir()
	r := convertJSON(t, src, "-o", filepath.Join(out, "all.gguf"), "--quant", "Q8_0", "--quant-threshold", "0")
	types := map[string]string{}
	for _, w := range r.Tensors {
		types[w.Name] = w.GGUFType
	}
	if types["blocks.0.attn.qkv.bias"] != "Q8_0" || types["pos_embed"] != "Q8_0" || types["blocks.0.attn.q_norm.weight"] != "F16" ||
		types["x_embedder.proj.weight"] != "F32" || types["blocks.0.scale_shift_table"] != "Q8_0" || r.GGUF.QuantThreshold != 0 {
		t.Errorf("threshold 0: %v (%d)", types, r.GGUF.QuantThreshold)
	}
	if r.GGUF.Architecture != "" || len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "general.architecture is left out") {
		t.Errorf("architecture %q, notes %q", r.GGUF.Architecture, r.Notes)
	}
	r = convertJSON(t, src, "-o", filepath.Join(out, "big.gguf"), "--quant", "Q8_0", "--quant-threshold", "20000")
	for _, w := range r.Tensors {
		if w.GGUFType == "Q8_0" && w.Name != "blocks.0.cross_attn.kv_linear.weight" {
			t.Errorf("threshold 20000: %s is %s", w.Name, w.GGUFType)
		}
	}
}

// The round trip through the CLI with real weights: dit_A → Q8_0 GGUF
// (architecture dit from the detected family) → bf16 safetensors (the
// default for GGUF input) keeps every name and shape; each value is the
// bf16 rounding of ggml's Q8_0 dequantization, within Q8_0's error of
// the original; → fp32 gives that dequantization exactly.
func TestGGUFRoundTripDiT(t *testing.T) {
	src := fixtures.Path(t, "dit_A/ckpt.safetensors")
	out := t.TempDir()
	q8 := filepath.Join(out, "dit.gguf")
	r := convertJSON(t, src, "-o", q8, "--quant", "Q8_0")
	if r.GGUF.Architecture != "dit" || !strings.Contains(r.GGUF.ArchitectureEvidence, "detected family dit") || r.GGUF.TypeCounts["Q8_0"] == 0 {
		t.Fatalf("gguf: %+v", r.GGUF)
	}
	bf := filepath.Join(out, "dit.bf16.safetensors")
	r2 := convertJSON(t, q8, "-o", bf)
	if len(r2.Notes) == 0 || !strings.Contains(r2.Notes[0], "bf16") {
		t.Errorf("notes: %q", r2.Notes)
	}
	f32 := filepath.Join(out, "dit.f32.safetensors")
	convertJSON(t, q8, "-o", f32, "--dtype", "fp32")
	orig, gotBF, gotF32 := fixtures.ReadAll(t, src), fixtures.ReadAll(t, bf), fixtures.ReadAll(t, f32)
	ck, inGGUF := openGGUF(t, q8)
	if len(gotBF) != len(orig) || len(gotF32) != len(orig) {
		t.Fatalf("%d / %d tensors, source %d", len(gotBF), len(gotF32), len(orig))
	}
	for name, o := range orig {
		b, f := gotBF[name], gotF32[name]
		if b == nil || f == nil || b.DType != tensor.BF16 || f.DType != tensor.F32 || !tensor.EqualShape(b.Shape, o.Shape) || !tensor.EqualShape(f.Shape, o.Shape) {
			t.Fatalf("%s: %v / %v", name, b, f)
		}
		deq, err := ck.ReadTensor(inGGUF[name])
		if err != nil {
			t.Fatal(err)
		}
		if inGGUF[name].DType != tensor.F32 {
			w := make([]byte, len(deq)/inGGUF[name].DType.Size()*4)
			tensor.Cast(inGGUF[name].DType, tensor.F32, deq, w)
			deq = w
		}
		if !bytes.Equal(f.Data, deq) {
			t.Errorf("%s: fp32 output differs from the dequantization", name)
		}
		want := make([]byte, len(deq)/2)
		tensor.Cast(tensor.F32, tensor.BF16, deq, want)
		if !bytes.Equal(b.Data, want) {
			t.Errorf("%s: bf16 output is not the bf16 rounding of the dequantization", name)
		}
		amax, emax := absMaxAndError(o, f)
		if emax > amax/127*0.6+1e-12 { // Q8_0: half a step of absmax/127 per block, plus the step rounded to fp16 (127·2^-11 steps)
			t.Errorf("%s: error %g for absmax %g", name, emax, amax)
		}
	}
}

// ComfyUI-GGUF's own convert.py output, byte for byte: an sd1 UNet (arch
// from convert.py's keys_detect, its shape fix with
// comfy.gguf.orig_shape) and a Wan model (keys_hiprec .modulation in F32,
// the 5-D patch embedding added back as fix_5d_tensors.py does, right
// after its bias) convert to exactly the fixture files; without --quant
// the type is convert.py's F16 for an f32 source.
func TestConvertToGGUFEqualsComfyUIGGUF(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf_conventions")
	out := t.TempDir()
	for _, c := range []struct{ src, ref, arch string }{
		{"sd1_source_f32.safetensors", "conv_a2_comfy_convert_sd1_orig_shape_F16.gguf", "sd1"},
		{"wan_source_f32.safetensors", "conv_b_fix5d_wan_F16.gguf", "wan"},
	} {
		dst := filepath.Join(out, c.ref)
		r := convertJSON(t, filepath.Join(dir, c.src), "-o", dst)
		if r.GGUF.Architecture != c.arch || r.GGUF.Quant != "F16" {
			t.Errorf("%s: %+v", c.src, r.GGUF)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, c.ref))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes differ from ComfyUI-GGUF's %d-byte %s", c.src, len(got), len(want), c.ref)
		}
	}
}

// An independent reader (testdata/gguf_check.py: numpy, no ditkit or
// gguf-py code) parses what ditkit writes — header, KV, offsets, padding,
// file size, comfy.gguf.orig_shape — and its numpy dequantization of
// F32/F16/BF16/Q8_0/Q4_0 equals ditkit's fp32 conversion bit for bit.
func TestGGUFReadByPython(t *testing.T) {
	py := fixtures.TorchPython(t) // Debian python3 with numpy
	out := t.TempDir()
	for _, c := range []struct{ src, quant string }{
		{"gguf_fp8/gguf/source_f32.safetensors", "Q8_0"},
		{"gguf_fp8/gguf/source_f32.safetensors", "Q4_0"},
		{"gguf_fp8/gguf/source_f32.safetensors", "BF16"},
		{"gguf_fp8/gguf_conventions/sd1_source_f32.safetensors", "Q8_0"},
	} {
		g := filepath.Join(out, c.quant+filepath.Base(c.src)+".gguf")
		f := g + ".f32.safetensors"
		convertJSON(t, fixtures.Path(t, c.src), "-o", g, "--quant", c.quant, "--quant-threshold", "0")
		convertJSON(t, g, "-o", f, "--dtype", "fp32")
		cmd := exec.Command(py, "testdata/gguf_check.py", g, f)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", c.src, c.quant, err, b)
		}
		var r struct {
			Tensors, Dequantized int
		}
		if err := json.Unmarshal(b, &r); err != nil || r.Tensors == 0 || r.Dequantized != r.Tensors {
			t.Errorf("%s %s: %s", c.src, c.quant, b)
		}
	}
}

// absMaxAndError is max|orig| and max|got − orig| over two tensors.
func absMaxAndError(orig, got *tensor.Dense) (amax, emax float64) {
	ov, _ := orig.Float32s()
	gv, _ := got.Float32s()
	for i := range ov {
		amax = max(amax, math.Abs(float64(ov[i])))
		emax = max(emax, math.Abs(float64(gv[i]-ov[i])))
	}
	return amax, emax
}
