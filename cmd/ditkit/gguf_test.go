package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

type ggufInspect struct {
	Format  string `json:"format"`
	Tensors []struct {
		Name          string   `json:"name"`
		DType         string   `json:"dtype"`
		Shape         []int    `json:"shape"`
		SHA256        string   `json:"sha256"`
		GGUFType      string   `json:"gguf_type"`
		GGUFDims      []uint64 `json:"gguf_dims"`
		ShapeEvidence string   `json:"shape_evidence"`
	} `json:"tensors"`
	Safety struct {
		Verdict string `json:"verdict"`
	} `json:"safety"`
	GGUF struct {
		Version           uint32 `json:"version"`
		Alignment         int64  `json:"alignment"`
		DataOffset        int64  `json:"data_offset"`
		Architecture      string `json:"architecture"`
		ArchitectureName  string `json:"architecture_name"`
		ArchitectureKnown bool   `json:"architecture_known"`
		KV                map[string]struct {
			Type      string          `json:"type"`
			ElemType  string          `json:"elem_type"`
			Len       uint64          `json:"len"`
			Value     json.RawMessage `json:"value"`
			Truncated bool            `json:"truncated"`
		} `json:"kv"`
		BytesByType map[string]int64 `json:"bytes_by_gguf_type"`
	} `json:"gguf"`
}

func inspectGGUF(t *testing.T, args ...string) *ggufInspect {
	t.Helper()
	code, out, errs := runCLI(t, append([]string{"inspect", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r ggufInspect
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// inspect --json on a GGUF: the format, the header and KV metadata, each
// tensor's ggml type, stored dims and torch shape, as the manifest says;
// --sha256 hashes what a dense read gives (the dequantization for
// quantized tensors, the stored bytes otherwise).
func TestInspectGGUF(t *testing.T) {
	for _, typ := range []string{"Q4_K", "F16", "Q8_0"} {
		path := fixtures.Path(t, "gguf_fp8/gguf/tiny_"+typ+".gguf")
		r := inspectGGUF(t, path, "--sha256")
		m := fixtures.ReadGGUFManifest(t, path)
		if r.Format != "gguf" || r.Safety.Verdict != "safe" || r.GGUF.Version != 3 || r.GGUF.Alignment != 32 || r.GGUF.DataOffset != m.DataOffset ||
			r.GGUF.Architecture != "opensora" || len(r.GGUF.KV) != 3 || r.GGUF.KV["general.architecture"].Type != "STRING" || string(r.GGUF.KV["general.architecture"].Value) != `"opensora"` {
			t.Fatalf("%s: %+v", typ, r.GGUF)
		}
		if len(r.Tensors) != len(m.Tensors) {
			t.Fatalf("%s: %d tensors", typ, len(r.Tensors))
		}
		for i, mt := range m.Tensors {
			g := r.Tensors[i]
			want := mt.SHARaw
			if mt.Type != "F32" && mt.Type != "F16" && mt.Type != "BF16" {
				want = mt.SHADequant
			}
			if g.Name != mt.Name || g.GGUFType != mt.Type || !tensor.EqualShape(g.Shape, mt.Torch) || len(g.GGUFDims) != len(mt.Dims) || g.SHA256 != want {
				t.Errorf("%s tensor %d: %+v, manifest %+v", typ, i, g, mt)
			}
		}
		if r.GGUF.BytesByType[typ] == 0 {
			t.Errorf("%s: bytes_by_gguf_type %v", typ, r.GGUF.BytesByType)
		}
	}
	// Evidence for the conventions, and the architecture named.
	r := inspectGGUF(t, fixtures.Path(t, "gguf_fp8/gguf_conventions/conv_a2_comfy_convert_sd1_orig_shape_F16.gguf"))
	if r.Tensors[0].ShapeEvidence == "" || !strings.Contains(r.Tensors[0].ShapeEvidence, "restored to [32, 32, 3, 3]") || r.GGUF.KV["comfy.gguf.orig_shape.input_blocks.3.0.op.weight"].ElemType != "INT32" {
		t.Errorf("orig_shape: %+v", r.Tensors[0])
	}
	if !r.GGUF.ArchitectureKnown || !strings.Contains(r.GGUF.ArchitectureName, "Stable Diffusion 1") {
		t.Errorf("sd1: %q", r.GGUF.ArchitectureName)
	}
	r = inspectGGUF(t, fixtures.Path(t, "gguf_fp8/gguf_conventions/conv_c_sdcpp_fold5d.gguf"))
	if r.GGUF.Architecture != "" || r.GGUF.ArchitectureKnown || !strings.Contains(r.GGUF.ArchitectureName, "stable-diffusion.cpp") {
		t.Errorf("no architecture: %+v", r.GGUF)
	}
}

// Long arrays and strings in the KV metadata are summarised; a foreign
// architecture is said so; the human output names the GGUF header.
func TestInspectGGUFBoundedKV(t *testing.T) {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	str := func(s string) { w(uint64(len(s))); b.WriteString(s) }
	b.WriteString("GGUF")
	w(uint32(3))
	w(uint64(0))
	w(uint64(3))
	str("general.architecture")
	w(uint32(8))
	str("gpt2")
	str("tokenizer.ggml.tokens")
	w(uint32(9))
	w(uint32(8))
	w(uint64(5000))
	for range 5000 {
		str("tok")
	}
	str("long")
	w(uint32(8))
	str(strings.Repeat("é", 400))
	path := filepath.Join(t.TempDir(), "lm.gguf")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r := inspectGGUF(t, path)
	tok := r.GGUF.KV["tokenizer.ggml.tokens"]
	var items []string
	json.Unmarshal(tok.Value, &items)
	if tok.Type != "ARRAY" || tok.ElemType != "STRING" || tok.Len != 5000 || !tok.Truncated || len(items) != 16 {
		t.Errorf("tokens: %+v (%d items)", tok, len(items))
	}
	var long string
	json.Unmarshal(r.GGUF.KV["long"].Value, &long)
	if !r.GGUF.KV["long"].Truncated || len(long) > 300 || !strings.HasSuffix(long, "é…") {
		t.Errorf("long string: %q", long)
	}
	if r.GGUF.ArchitectureKnown || !strings.Contains(r.GGUF.ArchitectureName, "foreign") {
		t.Errorf("gpt2: %+v", r.GGUF)
	}
	code, out, _ := runCLI(t, "inspect", path)
	if code != 0 || !strings.Contains(out, "gguf:         v3") || !strings.Contains(out, "foreign") {
		t.Errorf("human output:\n%s", out)
	}
}

// Malformed GGUFs: exit 2 with one line naming the file.
func TestInspectGGUFMalformedExit2(t *testing.T) {
	for _, f := range []string{"truncated_header.gguf", "misaligned_offset.gguf", "ndims5_no_convention.gguf", "bad_magic.gguf"} {
		path := fixtures.Path(t, "gguf_fp8/gguf_malformed/"+f)
		for _, cmd := range []string{"inspect", "scan"} {
			code, _, errs := runCLI(t, cmd, path)
			if code != 2 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, path) {
				t.Errorf("%s %s: exit %d, stderr %q", cmd, f, code, errs)
			}
		}
	}
}

// convert already streams GGUF tensors through the dense reader: GGUF →
// fp32 safetensors equals ggml's dequantization, and a fix_5d file keeps
// its 5-D tensor.
func TestConvertGGUFDequantizes(t *testing.T) {
	out := t.TempDir()
	for _, typ := range []string{"Q4_K", "Q8_0", "Q6_K", "BF16"} {
		src := fixtures.Path(t, "gguf_fp8/gguf/tiny_"+typ+".gguf")
		dst := filepath.Join(out, typ+".safetensors")
		if code, _, errs := runCLI(t, "convert", src, "-o", dst, "--dtype", "fp32"); code != 0 {
			t.Fatalf("%s: exit %d: %s", typ, code, errs)
		}
		ref := fixtures.ReadAll(t, fixtures.Path(t, "gguf_fp8/gguf/tiny_"+typ+".dequant_f32.safetensors"))
		got := fixtures.ReadAll(t, dst)
		for n, r := range ref {
			if g := got[n]; g == nil || !tensor.EqualShape(g.Shape, r.Shape) || !bytes.Equal(g.Data, r.Data) {
				t.Errorf("%s: %s differs from ggml's dequantization", typ, n)
			}
		}
	}
	dst := filepath.Join(out, "b.pt")
	if code, _, errs := runCLI(t, "convert", fixtures.Path(t, "gguf_fp8/gguf_conventions/conv_b_fix5d_wan_F16.gguf"), "-o", dst); code != 0 {
		t.Fatalf("fix_5d: exit %d: %s", code, errs)
	}
	if g := fixtures.ReadAll(t, dst)["patch_embedding.weight"]; g == nil || !tensor.EqualShape(g.Shape, []int{64, 4, 1, 2, 2}) {
		t.Errorf("fix_5d tensor after convert: %+v", g)
	}
}
