package loader_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/loader/scan"
)

func readManifest(t *testing.T, path string) *fixtures.GGUFManifest {
	t.Helper()
	return fixtures.ReadGGUFManifest(t, strings.TrimSuffix(path, ".json"))
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// denseF32 reads a tensor as dense little-endian f32 (F16/BF16 widen exactly).
func denseF32(t *testing.T, ck *loader.Checkpoint, tt *loader.Tensor) []byte {
	t.Helper()
	b, err := ck.ReadTensor(tt)
	if err != nil {
		t.Fatal(err)
	}
	if tt.DType == tensor.F32 {
		return b
	}
	out := make([]byte, tt.Numel()*4)
	if err := tensor.Cast(tt.DType, tensor.F32, b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every fixture type: header, KV pairs, tensor infos in torch order,
// offsets and dequantized data equal what ggml's C reader and
// dequantize_row_* give; chunked and offset reads agree with whole reads.
func TestGGUFFixtures(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf")
	for _, typ := range []string{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q2_K", "Q4_K", "Q5_K", "Q6_K"} {
		t.Run(typ, func(t *testing.T) {
			m := readManifest(t, filepath.Join(dir, "tiny_"+typ+".gguf.json"))
			ck, f, err := loader.OpenFile(filepath.Join(dir, m.File))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ref := fixtures.ReadAll(t, filepath.Join(dir, "tiny_"+typ+".dequant_f32.safetensors"))
			g := ck.GGUF
			if ck.Format != loader.FormatGGUF || g == nil || g.Version != m.Version || g.DataOffset != m.DataOffset || g.Alignment != m.Alignment || g.Architecture != "opensora" || ck.Size != m.Size {
				t.Fatalf("header: %s %+v", ck.Format, g)
			}
			if len(g.KV) != len(m.KV) {
				t.Errorf("%d KV pairs, manifest %d", len(g.KV), len(m.KV))
			}
			if v, ok := g.Get("general.quantization_version"); !ok || v.Value != uint32(2) {
				t.Errorf("general.quantization_version = %+v", v)
			}
			if len(ck.Tensors) != len(m.Tensors) {
				t.Fatalf("%d tensors, manifest %d", len(ck.Tensors), len(m.Tensors))
			}
			for i, mt := range m.Tensors {
				tt := ck.Tensors[i]
				gt := tt.GGUF
				if tt.Name != mt.Name || gt.Type.String() != mt.Type || uint32(gt.Type) != mt.TypeID || !equalU64(gt.Dims, mt.Dims) ||
					!tensor.EqualShape(tt.Shape, mt.Torch) || gt.Offset != mt.Offset || gt.Size != mt.NBytes || gt.Evidence != "" {
					t.Fatalf("tensor %d: %s %v %v %v off %d size %d, manifest %+v", i, tt.Name, gt.Type, gt.Dims, tt.Shape, gt.Offset, gt.Size, mt)
				}
				raw := make([]byte, gt.Size)
				if err := ck.ReadGGUFRaw(tt, raw, 0); err != nil || hexSHA(raw) != mt.SHARaw {
					t.Fatalf("%s: raw bytes %v", tt.Name, err)
				}
				got := denseF32(t, ck, tt)
				if !bytes.Equal(got, ref[mt.Name].Data) || hexSHA(got) != mt.SHADequant {
					t.Errorf("%s (%v): dense read differs from ggml's dequantization", tt.Name, gt.Type)
				}
				if gt.Quantized() != (tt.DType == tensor.F32 && gt.Type != quant.F32) {
					t.Errorf("%s: quantized %v but dtype %v", tt.Name, gt.Quantized(), tt.DType)
				}
				// Chunks that cut blocks: the same bytes.
				if gt.Quantized() {
					var cat []byte
					if err := ck.TensorChunks(tt, 100, func(b []byte) error { cat = append(cat, b...); return nil }); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(cat, got) {
						t.Errorf("%s: TensorChunks(100) differs from ReadTensor", tt.Name)
					}
					part := make([]byte, 4*37)
					if err := ck.ReadTensorAt(tt, part, 4*301); err != nil || !bytes.Equal(part, got[4*301:4*338]) {
						t.Errorf("%s: ReadTensorAt(301, 37 elements): %v", tt.Name, err)
					}
					if _, _, ok := tt.FileRange(); ok {
						t.Errorf("%s: a quantized tensor has a raw FileRange", tt.Name)
					}
				}
			}
		})
	}
}

func equalU64(a, b []uint64) bool { return slices.Equal(a, b) }

// The users' conventions: ComfyUI-GGUF's plain reversal (size-1 dims
// kept), comfy.gguf.orig_shape, fix_5d's n_dims = 5, and
// stable-diffusion.cpp's folded Conv3d and dropped leading dims — the last
// two restored only through a model definition (here the reference
// shapes stand in for the family's spec).
func TestGGUFConventions(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf_conventions")
	for _, c := range []struct {
		file      string
		restored  map[string]string // name → convention the spec hook restores
		evidenced map[string]string // name → a phrase the reader's own evidence holds
	}{
		{"conv_a1_comfy_convert_wan_F16", nil, nil},
		{"conv_a2_comfy_convert_sd1_orig_shape_F16", nil, map[string]string{
			"input_blocks.3.0.op.weight":    "comfy.gguf.orig_shape.input_blocks.3.0.op.weight",
			"output_blocks.8.2.conv.weight": "restored to [64, 128]",
		}},
		{"conv_b_fix5d_wan_F16", nil, map[string]string{"patch_embedding.weight": "fix_5d"}},
		{"conv_c_sdcpp_fold5d", map[string]string{
			"model.diffusion_model.patch_embedding.weight": loader.ConventionFold5D,
			"model.diffusion_model.blocks.0.modulation":    loader.ConventionLeadingOnes,
			"model.diffusion_model.head.modulation":        loader.ConventionLeadingOnes,
		}, nil},
	} {
		t.Run(c.file, func(t *testing.T) {
			m := readManifest(t, filepath.Join(dir, c.file+".gguf.json"))
			ck, f, err := loader.OpenFile(filepath.Join(dir, c.file+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ref := fixtures.ReadAll(t, filepath.Join(dir, c.file+".dequant_f32.safetensors"))
			for name, phrase := range c.evidenced {
				if tt := ck.Tensor(name); tt == nil || !strings.Contains(tt.GGUF.Evidence, phrase) {
					t.Errorf("%s: evidence %q lacks %q", name, tt.GGUF.Evidence, phrase)
				}
			}
			// The model's own names, without the prefix sd.cpp adds.
			shapes := map[string][]int{}
			for n, d := range ref {
				shapes[strings.TrimPrefix(n, "model.diffusion_model.")] = d.Shape
			}
			rs := ck.RestoreGGUFShapes(loader.ExpectShapes(shapes), "the test's model definition")
			if len(rs) != len(c.restored) {
				t.Errorf("restored %+v, want %v", rs, c.restored)
			}
			for _, r := range rs {
				if c.restored[r.Name] != r.Convention || !strings.Contains(r.Evidence, "stored as") || !ck.Tensor(r.Name).GGUF.Confirmed {
					t.Errorf("restoration %+v", r)
				}
			}
			if len(ck.Tensors) != len(m.Tensors) || len(ref) != len(m.Tensors) {
				t.Fatalf("%d tensors, manifest %d, reference %d", len(ck.Tensors), len(m.Tensors), len(ref))
			}
			for _, mt := range m.Tensors {
				tt := ck.Tensor(mt.Name)
				if tt == nil || !tensor.EqualShape(tt.Shape, mt.Torch) || !tensor.EqualShape(tt.Shape, ref[mt.Name].Shape) {
					t.Errorf("%s: shape %v, want %v", mt.Name, tt.Shape, mt.Torch)
					continue
				}
				if !equalU64(tt.GGUF.Dims, mt.Dims) {
					t.Errorf("%s: stored dims %v, manifest %v", mt.Name, tt.GGUF.Dims, mt.Dims)
				}
				if got := denseF32(t, ck, tt); !bytes.Equal(got, ref[mt.Name].Data) {
					t.Errorf("%s: data differs from the reference", mt.Name)
				}
			}
		})
	}
}

// A spec that disagrees is not obeyed: different element count, a fold
// whose T/H/W differ, or no known convention.
func TestGGUFRestoreNeedsAConvention(t *testing.T) {
	ck, f, err := loader.OpenFile(fixtures.Path(t, "gguf_fp8/gguf_conventions/conv_c_sdcpp_fold5d.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bad := map[string][]int{
		"model.diffusion_model.patch_embedding.weight": {64, 4, 2, 1, 2}, // same numel, T/H swapped
		"model.diffusion_model.blocks.0.modulation":    {1, 6, 32},       // fewer elements
		"model.diffusion_model.head.modulation":        {2, 1, 64},       // a size-1 dim in the middle
		"model.diffusion_model.head.head.weight":       {64, 16},         // transposed
	}
	rs := ck.RestoreGGUFShapes(func(n string) ([]int, bool) { s, ok := bad[n]; return s, ok }, "a wrong spec")
	if len(rs) != 0 {
		t.Errorf("restored %+v", rs)
	}
	for n := range bad {
		if ck.Tensor(n).GGUF.Confirmed {
			t.Errorf("%s marked confirmed", n)
		}
	}
}

// Each malformed file gets one clear line naming the file, the place and
// the rule; the valid reference opens.
func TestGGUFMalformed(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf_malformed")
	var expected map[string]struct {
		File string `json:"file"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &expected); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		sentinel error
		phrases  []string
	}{
		"truncated_header.gguf":        {loader.ErrTruncated, []string{"offset 16", "n_kv"}},
		"tensor_data_past_eof.gguf":    {loader.ErrTruncated, []string{`"b.bias"`, "past the end"}},
		"ndims5_no_convention.gguf":    {loader.ErrUnsupported, []string{`"blocks.0.mystery.weight"`, "n_dims 5 > 4", "fix_5d"}},
		"absurd_kv_string_length.gguf": {loader.ErrTruncated, []string{"general.architecture", "281474976710655", "bytes left"}},
		"misaligned_offset.gguf":       {loader.ErrCorrupt, []string{`"b.bias"`, "offset 260", "alignment (32)"}},
		"unknown_type_id_99.gguf":      {loader.ErrCorrupt, []string{`"a.weight"`, "unknown ggml type 99"}},
		"removed_type_id_4.gguf":       {loader.ErrUnsupported, []string{`"a.weight"`, "type 4 (Q4_2)", "removed"}},
		"bad_magic.gguf":               {loader.ErrFormat, []string{"offset 0", "not a GGUF file", "GGUG"}},
		"version_1.gguf":               {loader.ErrUnsupported, []string{"offset 4", "version 1"}},
	}
	for key, e := range expected {
		path := filepath.Join(dir, e.File)
		ck, f, err := loader.OpenFile(path)
		if key == "valid_reference" {
			if err != nil {
				t.Fatalf("valid reference: %v", err)
			}
			if len(ck.Tensors) != 2 || !tensor.EqualShape(ck.Tensors[0].Shape, []int{4, 16}) || !tensor.EqualShape(ck.Tensors[1].Shape, []int{32}) {
				t.Errorf("valid reference tensors %+v", ck.Tensors)
			}
			f.Close()
			continue
		}
		w, ok := want[e.File]
		if !ok {
			t.Errorf("expected.json lists %s, which this test does not know", e.File)
			continue
		}
		if err == nil {
			f.Close()
			t.Errorf("%s: accepted", e.File)
			continue
		}
		msg := err.Error()
		var fe *loader.FormatError
		if !errors.As(err, &fe) || !errors.Is(err, w.sentinel) || strings.ContainsAny(msg, "\n\r") || !strings.HasPrefix(msg, path+": ") {
			t.Errorf("%s: %T %v (want one line, %v)", e.File, err, err, w.sentinel)
		}
		for _, p := range w.phrases {
			if !strings.Contains(msg, p) {
				t.Errorf("%s: %q lacks %q", e.File, msg, p)
			}
		}
		// scan says the same, as a fatal error.
		data, _ := os.ReadFile(path)
		if _, err := scan.Scan(bytes.NewReader(data), int64(len(data)), path); err == nil {
			t.Errorf("%s: scan accepted it", e.File)
		}
	}
	// The caller may opt into n_dims = 5 for any name.
	data, _ := os.ReadFile(filepath.Join(dir, "ndims5_no_convention.gguf"))
	ck, err := loader.OpenGGUF(bytes.NewReader(data), int64(len(data)), "n5.gguf", loader.GGUFOptions{Allow5D: true})
	if err != nil || len(ck.Tensors[0].Shape) != 5 || !strings.Contains(ck.Tensors[0].GGUF.Evidence, "caller accepted") {
		t.Errorf("Allow5D: %v", err)
	}
}

// ggufBuilder writes small GGUF files for tests (phase 2 brings the real writer).
type ggufBuilder struct{ b bytes.Buffer }

func (g *ggufBuilder) u32(v uint32) *ggufBuilder {
	binary.Write(&g.b, binary.LittleEndian, v)
	return g
}
func (g *ggufBuilder) u64(v uint64) *ggufBuilder {
	binary.Write(&g.b, binary.LittleEndian, v)
	return g
}
func (g *ggufBuilder) str(s string) *ggufBuilder { g.u64(uint64(len(s))); g.b.WriteString(s); return g }
func (g *ggufBuilder) raw(p ...byte) *ggufBuilder {
	g.b.Write(p)
	return g
}
func (g *ggufBuilder) header(nt, nkv uint64) *ggufBuilder {
	g.b.WriteString("GGUF")
	return g.u32(3).u64(nt).u64(nkv)
}
func (g *ggufBuilder) pad(a int) *ggufBuilder {
	for g.b.Len()%a != 0 {
		g.b.WriteByte(0)
	}
	return g
}

// Every KV value type, nested arrays, long arrays kept as a prefix, and a
// Q8_0 tensor read through the dense path.
func TestGGUFValueTypes(t *testing.T) {
	g := (&ggufBuilder{}).header(1, 16)
	g.str("u8").u32(0).raw(200)
	g.str("i8").u32(1).raw(0xff)
	g.str("u16").u32(2).raw(1, 2)
	g.str("i16").u32(3).raw(0xfe, 0xff)
	g.str("u32").u32(4).u32(7)
	g.str("i32").u32(5).u32(0xfffffff9)
	g.str("f32").u32(6).u32(math.Float32bits(1.5))
	g.str("bool").u32(7).raw(1)
	g.str("string").u32(8).str("héllo")
	g.str("u64").u32(10).u64(1 << 40)
	g.str("i64").u32(11).u64(math.MaxUint64)
	g.str("f64").u32(12).u64(math.Float64bits(-2.25))
	g.str("nested").u32(9).u32(9).u64(2) // ARRAY of ARRAY
	g.u32(8).u64(2).str("a").str("b")    // [ ["a","b"],
	g.u32(5).u64(1).u32(42)              //   [42] ]
	g.str("long").u32(9).u32(0).u64(3000)
	for i := range 3000 {
		g.raw(byte(i))
	}
	g.str("general.architecture").u32(8).str("wan")
	g.str("general.alignment").u32(4).u32(64)
	g.str("w").u32(2).u64(32).u64(2).u32(uint32(quant.Q8_0)).u64(0)
	g.pad(64)
	block := make([]byte, 34*2)
	for k := range 2 {
		block[34*k], block[34*k+1] = 0x00, 0x3c // d = 1
		for j := range 32 {
			block[34*k+2+j] = byte(int8(j - 16 + k))
		}
	}
	g.raw(block...)
	data := g.b.Bytes()
	ck, err := loader.Open(bytes.NewReader(data), int64(len(data)), "types.gguf")
	if err != nil {
		t.Fatal(err)
	}
	gf := ck.GGUF
	for key, want := range map[string]any{
		"u8": uint8(200), "i8": int8(-1), "u16": uint16(0x201), "i16": int16(-2), "u32": uint32(7), "i32": int32(-7),
		"f32": float32(1.5), "bool": true, "string": "héllo", "u64": uint64(1 << 40), "i64": int64(-1), "f64": -2.25,
	} {
		if v, ok := gf.Get(key); !ok || v.Value != want {
			t.Errorf("%s = %#v, want %#v", key, v.Value, want)
		}
	}
	if v, _ := gf.Get("nested"); v.Elem != loader.GGUFArray || v.Len != 2 || v.Items[0].Items[1].Value != "b" || v.Items[1].Items[0].Value != int32(42) {
		t.Errorf("nested = %+v", v)
	}
	if v, _ := gf.Get("long"); v.Len != 3000 || len(v.Items) != loader.MaxGGUFArrayKept || v.Items[1000].Value != uint8(1000%256) {
		t.Errorf("long: len %d, %d kept", v.Len, len(v.Items))
	}
	if gf.Alignment != 64 || gf.Architecture != "wan" || gf.DataOffset%64 != 0 {
		t.Errorf("alignment %d arch %q data %d", gf.Alignment, gf.Architecture, gf.DataOffset)
	}
	w := ck.Tensors[0]
	if w.DType != tensor.F32 || !tensor.EqualShape(w.Shape, []int{2, 32}) || w.GGUF.Type != quant.Q8_0 {
		t.Fatalf("w: %v %v", w.DType, w.Shape)
	}
	d, err := ck.ReadDense(w)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := d.Float32s()
	if v[0] != -16 || v[31] != 15 || v[32] != -15 || v[63] != 16 {
		t.Errorf("Q8_0 values %v", v)
	}
}

// Hand-built bad headers: one error each, never a panic or a huge allocation.
func TestGGUFBadHeaders(t *testing.T) {
	tensorInfo := func(g *ggufBuilder, name string, dims []uint64, typ uint32, off uint64) *ggufBuilder {
		g.str(name).u32(uint32(len(dims)))
		for _, d := range dims {
			g.u64(d)
		}
		return g.u32(typ).u64(off)
	}
	f32Data := func(g *ggufBuilder, n int) *ggufBuilder { return g.pad(32).raw(make([]byte, n)...) }
	for _, c := range []struct {
		name   string
		build  func() *ggufBuilder
		phrase string
	}{
		{"huge n_kv", func() *ggufBuilder { return (&ggufBuilder{}).header(0, 1<<40) }, "n_kv"},
		{"huge n_tensors", func() *ggufBuilder { return (&ggufBuilder{}).header(1<<40, 0) }, "n_tensors"},
		{"huge array", func() *ggufBuilder {
			return (&ggufBuilder{}).header(0, 1).str("a").u32(9).u32(4).u64(1 << 50)
		}, "cannot fit"},
		{"nested too deep", func() *ggufBuilder {
			g := (&ggufBuilder{}).header(0, 1).str("a").u32(9)
			for range 10 {
				g.u32(9).u64(1)
			}
			return g.raw(make([]byte, 64)...)
		}, "nested"},
		{"bad value type", func() *ggufBuilder { return (&ggufBuilder{}).header(0, 1).str("a").u32(13).raw(make([]byte, 16)...) }, "not a GGUF value type"},
		{"bad bool", func() *ggufBuilder { return (&ggufBuilder{}).header(0, 1).str("a").u32(7).raw(2) }, "bool"},
		{"empty key", func() *ggufBuilder { return (&ggufBuilder{}).header(0, 1).str("").u32(7).raw(1) }, "empty key"},
		{"duplicate key", func() *ggufBuilder {
			return (&ggufBuilder{}).header(0, 2).str("a").u32(7).raw(1).str("a").u32(7).raw(1)
		}, "duplicate key"},
		{"key not utf-8", func() *ggufBuilder { return (&ggufBuilder{}).header(0, 1).str("a\xff").u32(7).raw(1) }, "UTF-8"},
		{"tensor name with an escape", func() *ggufBuilder {
			return f32Data(tensorInfo((&ggufBuilder{}).header(1, 0), "a\x1b[31m", []uint64{4}, 0, 0), 16)
		}, "control characters"},
		{"alignment not u32", func() *ggufBuilder {
			return (&ggufBuilder{}).header(0, 1).str("general.alignment").u32(10).u64(32)
		}, "UINT32"},
		{"alignment not power of 2", func() *ggufBuilder {
			return (&ggufBuilder{}).header(0, 1).str("general.alignment").u32(4).u32(48)
		}, "power of 2"},
		{"architecture not a string", func() *ggufBuilder {
			return (&ggufBuilder{}).header(0, 1).str("general.architecture").u32(4).u32(1)
		}, "STRING"},
		{"n_dims 6", func() *ggufBuilder {
			return f32Data(tensorInfo((&ggufBuilder{}).header(1, 0), "patch_embedding.weight", []uint64{1, 1, 1, 1, 1, 1}, 0, 0), 4)
		}, "n_dims 6"},
		{"duplicate tensor", func() *ggufBuilder {
			g := (&ggufBuilder{}).header(2, 0)
			tensorInfo(g, "a", []uint64{8}, 0, 0)
			return f32Data(tensorInfo(g, "a", []uint64{8}, 0, 32), 64)
		}, "duplicate tensor name"},
		{"overlap", func() *ggufBuilder {
			g := (&ggufBuilder{}).header(2, 0)
			tensorInfo(g, "a", []uint64{16}, 0, 0)
			return f32Data(tensorInfo(g, "b", []uint64{8}, 0, 32), 64)
		}, "overlaps"},
		{"row not whole blocks", func() *ggufBuilder {
			return f32Data(tensorInfo((&ggufBuilder{}).header(1, 0), "a", []uint64{48, 2}, uint32(quant.Q8_0), 0), 128)
		}, "not a whole number"},
		{"element count overflows", func() *ggufBuilder {
			return f32Data(tensorInfo((&ggufBuilder{}).header(1, 0), "a", []uint64{1 << 40, 1 << 40}, 0, 0), 4)
		}, "overflows"},
		{"negative dim", func() *ggufBuilder {
			return f32Data(tensorInfo((&ggufBuilder{}).header(1, 0), "a", []uint64{1 << 63}, 0, 0), 4)
		}, "negative"},
		{"offset past eof", func() *ggufBuilder {
			return f32Data(tensorInfo((&ggufBuilder{}).header(1, 0), "a", []uint64{4}, 0, 1<<61), 16)
		}, "past the end"},
		{"orig_shape not int32", func() *ggufBuilder {
			g := (&ggufBuilder{}).header(1, 1).str("comfy.gguf.orig_shape.a").u32(9).u32(4).u64(2).u32(2).u32(2)
			return f32Data(tensorInfo(g, "a", []uint64{4}, 0, 0), 16)
		}, "ARRAY of INT32"},
		{"orig_shape wrong numel", func() *ggufBuilder {
			g := (&ggufBuilder{}).header(1, 1).str("comfy.gguf.orig_shape.a").u32(9).u32(5).u64(2).u32(3).u32(2)
			return f32Data(tensorInfo(g, "a", []uint64{4}, 0, 0), 16)
		}, "elements"},
		{"big-endian", func() *ggufBuilder {
			g := &ggufBuilder{}
			g.b.WriteString("GGUF")
			return g.u32(3 << 24).u64(0).u64(0)
		}, "big-endian"},
		{"version 4", func() *ggufBuilder {
			g := &ggufBuilder{}
			g.b.WriteString("GGUF")
			return g.u32(4).u64(0).u64(0)
		}, "version 4"},
	} {
		data := c.build().b.Bytes()
		_, err := loader.Open(bytes.NewReader(data), int64(len(data)), "bad.gguf")
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		var fe *loader.FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.phrase) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "malformed input") {
			t.Errorf("%s: %v (want a FormatError with %q)", c.name, err, c.phrase)
		}
	}
}

// An unsupported (but known) type opens for inspection; reading it
// densely says why it cannot.
func TestGGUFUndequantizableType(t *testing.T) {
	g := (&ggufBuilder{}).header(1, 0)
	g.str("iq").u32(1).u64(256).u32(uint32(quant.IQ2_XXS)).u64(0).pad(32).raw(make([]byte, 66)...)
	data := g.b.Bytes()
	ck, err := loader.Open(bytes.NewReader(data), int64(len(data)), "iq.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ck.ReadTensor(ck.Tensors[0]); err == nil || !strings.Contains(err.Error(), "IQ2_XXS") {
		t.Errorf("dense read of IQ2_XXS: %v", err)
	}
	raw := make([]byte, 66)
	if err := ck.ReadGGUFRaw(ck.Tensors[0], raw, 0); err != nil {
		t.Errorf("raw read: %v", err)
	}
}

// GGUF carries no code: scan says safe; bytes after the data that look
// like a pickle are flagged.
func TestGGUFScan(t *testing.T) {
	data, err := os.ReadFile(fixtures.Path(t, "gguf_fp8/gguf/tiny_Q4_K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := scan.Scan(bytes.NewReader(data), int64(len(data)), "q.gguf")
	if err != nil || rep.Format != loader.FormatGGUF || rep.Verdict != loader.VerdictSafe {
		t.Fatalf("scan: %+v %v", rep, err)
	}
	evil := append(append([]byte(nil), data...), 0x80, 0x02, 'c', 'o', 's', '\n')
	rep, err = scan.Scan(bytes.NewReader(evil), int64(len(evil)), "q.gguf")
	if err != nil || rep.Verdict == loader.VerdictSafe {
		t.Errorf("trailing pickle: %+v %v", rep, err)
	}
}
