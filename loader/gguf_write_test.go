package loader_test

import (
	"bytes"
	"context"
	"errors"
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

// ggufFileTypes is llama.cpp's general.file_type of each fixture file.
var ggufFileTypes = map[string]uint32{"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q2_K": 10, "Q4_K": 15, "Q5_K": 17, "Q6_K": 18, "BF16": 32}

// quantSource streams src's f32 values quantized to typ.
func quantSource(typ quant.Type, src *tensor.Dense) func(io.Writer) error {
	return func(w io.Writer) error {
		qw, err := quant.NewWriter(typ, tensor.F32, w, quant.WriterOptions{Workers: 3, Piece: 256})
		if err != nil {
			return err
		}
		if _, err := qw.Write(src.Data); err != nil {
			return err
		}
		return qw.Close()
	}
}

// WriteGGUF with gguf-py's KV order and the fixture's tensor order and
// types reproduces every tiny_<TYPE>.gguf byte for byte: header, KV
// pairs, tensor infos, offsets, padding, and the blocks ggml's reference
// quantizers wrote (our quantizers run on 3 goroutines in 256-element
// pieces).
func TestWriteGGUFEqualsGGUFPy(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf")
	src := fixtures.ReadAll(t, filepath.Join(dir, "source_f32.safetensors"))
	for typ, ft := range ggufFileTypes {
		t.Run(typ, func(t *testing.T) {
			path := filepath.Join(dir, "tiny_"+typ+".gguf")
			m := fixtures.ReadGGUFManifest(t, path)
			var kv []loader.GGUFKV
			for _, p := range []struct {
				k string
				v any
			}{{"general.architecture", "opensora"}, {"general.quantization_version", uint32(2)}, {"general.file_type", ft}} {
				e, err := loader.GGUFKVValue(p.k, p.v)
				if err != nil {
					t.Fatal(err)
				}
				kv = append(kv, e)
			}
			var ts []loader.GGUFWriteTensor
			for _, mt := range m.Tensors {
				qt, err := quant.ParseType(mt.Type)
				if err != nil {
					t.Fatal(err)
				}
				s := src[mt.Name]
				ts = append(ts, loader.GGUFWriteTensor{Name: mt.Name, Type: qt, Shape: s.Shape, WriteTo: quantSource(qt, s)})
			}
			var got bytes.Buffer
			var last int64
			if err := loader.WriteGGUF(&got, kv, ts, loader.GGUFWriteOptions{Progress: func(d, n int64) { last = d }}); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("%d bytes differ from gguf-py's %d-byte file (first difference at %d)", got.Len(), len(want), firstDiff(got.Bytes(), want))
			}
			if last != int64(len(want)) {
				t.Errorf("last progress %d, file %d", last, len(want))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Our reader reads what the writer wrote: 5-D (fix_5d), scalars, size-1
// dims kept, every KV value type including arrays, another alignment.
func TestWriteGGUFReadBack(t *testing.T) {
	var kv []loader.GGUFKV
	for _, p := range []struct {
		k string
		v any
	}{{"general.architecture", "wan"}, {"general.alignment", uint32(64)}, {"u8", uint8(7)}, {"i8", int8(-7)}, {"u16", uint16(700)}, {"i16", int16(-700)},
		{"i32", int32(-70000)}, {"f32", float32(1.5)}, {"b", true}, {"u64", uint64(1 << 40)}, {"i64", int64(-1 << 40)}, {"f64", 2.25},
		{"comfy.gguf.orig_shape.w", []int32{2, 3, 4}}, {"strs", []string{"a", "bc"}}} {
		e, err := loader.GGUFKVValue(p.k, p.v)
		if err != nil {
			t.Fatal(err)
		}
		kv = append(kv, e)
	}
	vals := make([]float32, 24)
	for i := range vals {
		vals[i] = float32(i) - 11.5
	}
	raw := make([]byte, 96)
	tensor.EncodeFloat32(tensor.F32, vals, raw)
	f16 := make([]byte, 48)
	tensor.EncodeFloat32(tensor.F16, vals, f16)
	ts := []loader.GGUFWriteTensor{
		{Name: "patch_embedding.weight", Type: quant.F32, Shape: []int{2, 3, 1, 2, 2}, WriteTo: constBytes(raw)},
		{Name: "w", Type: quant.F16, Shape: []int{4, 6}, WriteTo: constBytes(f16)},
		{Name: "blocks.0.modulation", Type: quant.F32, Shape: []int{1, 4, 6}, WriteTo: constBytes(raw)},
		{Name: "scale", Type: quant.F32, Shape: []int{}, WriteTo: constBytes(raw[:4])},
	}
	var b bytes.Buffer
	if err := loader.WriteGGUF(&b, kv, ts, loader.GGUFWriteOptions{Alignment: 64}); err != nil {
		t.Fatal(err)
	}
	ck, err := loader.Open(bytes.NewReader(b.Bytes()), int64(b.Len()), "x.gguf")
	if err != nil {
		t.Fatal(err)
	}
	g := ck.GGUF
	if g.Alignment != 64 || g.DataOffset%64 != 0 || len(g.KV) != len(kv) || g.Architecture != "wan" {
		t.Fatalf("header %+v", g)
	}
	for i, p := range kv {
		got := g.KV[i]
		if got.Key != p.Key || got.Type != p.Type || got.Elem != p.Elem || got.Len != p.Len || (p.Type != loader.GGUFArray && got.Value != p.Value) {
			t.Errorf("KV %d: %+v, wrote %+v", i, got, p)
		}
	}
	want := map[string][]int{"patch_embedding.weight": {2, 3, 1, 2, 2}, "w": {2, 3, 4}, "blocks.0.modulation": {1, 4, 6}, "scale": {}}
	for _, tt := range ck.Tensors {
		if !tensor.EqualShape(tt.Shape, want[tt.Name]) || tt.GGUF.Offset%64 != 0 {
			t.Errorf("%s: %v at %d", tt.Name, tt.Shape, tt.GGUF.Offset)
		}
		d, err := ck.ReadTensor(tt)
		if err != nil {
			t.Fatal(err)
		}
		w := raw[:len(d)]
		if tt.Name == "w" {
			w = f16
		}
		if !bytes.Equal(d, w) {
			t.Errorf("%s: data differs", tt.Name)
		}
	}
	if !strings.Contains(ck.Tensor("w").GGUF.Evidence, "orig_shape") {
		t.Errorf("orig_shape evidence: %q", ck.Tensor("w").GGUF.Evidence)
	}
}

func constBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

// Bad tensors and KV pairs are refused before anything is written; a
// source producing the wrong byte count, a cancelled context and a
// failing writer stop the write with the tensor named.
func TestWriteGGUFBadInput(t *testing.T) {
	ok := func(w io.Writer) error { _, err := w.Write(make([]byte, 64)); return err }
	for _, c := range []struct {
		name string
		kv   []loader.GGUFKV
		ts   []loader.GGUFWriteTensor
		opt  loader.GGUFWriteOptions
		want string
	}{
		{"rows", nil, []loader.GGUFWriteTensor{{Name: "a", Type: quant.Q8_0, Shape: []int{2, 16}, WriteTo: ok}}, loader.GGUFWriteOptions{}, "not a whole number of 32-element blocks"},
		{"dims", nil, []loader.GGUFWriteTensor{{Name: "a", Type: quant.F32, Shape: []int{1, 1, 1, 1, 1, 16}, WriteTo: ok}}, loader.GGUFWriteOptions{}, "6 dims"},
		{"dup", nil, []loader.GGUFWriteTensor{{Name: "a", Type: quant.F32, Shape: []int{16}, WriteTo: ok}, {Name: "a", Type: quant.F32, Shape: []int{16}, WriteTo: ok}}, loader.GGUFWriteOptions{}, "duplicate"},
		{"long", nil, []loader.GGUFWriteTensor{{Name: strings.Repeat("x", 128), Type: quant.F32, Shape: []int{16}, WriteTo: ok}}, loader.GGUFWriteOptions{}, "1 to 127 bytes"},
		{"ctrl", nil, []loader.GGUFWriteTensor{{Name: "a\x1b[31m", Type: quant.F32, Shape: []int{16}, WriteTo: ok}}, loader.GGUFWriteOptions{}, "printable"},
		{"type", nil, []loader.GGUFWriteTensor{{Name: "a", Type: quant.Type(4), Shape: []int{32}, WriteTo: ok}}, loader.GGUFWriteOptions{}, "cannot be written"},
		{"short", nil, []loader.GGUFWriteTensor{{Name: "a", Type: quant.F32, Shape: []int{32}, WriteTo: ok}}, loader.GGUFWriteOptions{}, `tensor "a": source produced 64 bytes, want 128`},
		{"long data", nil, []loader.GGUFWriteTensor{{Name: "a", Type: quant.F32, Shape: []int{8}, WriteTo: ok}}, loader.GGUFWriteOptions{}, "more bytes than"},
		{"align", nil, nil, loader.GGUFWriteOptions{Alignment: 48}, "not a power of 2"},
		{"align kv", nil, nil, loader.GGUFWriteOptions{Alignment: 64}, "needs a general.alignment"},
		{"kv type", []loader.GGUFKV{{Key: "k", GGUFValue: loader.GGUFValue{Type: loader.GGUFUint32, Value: "x"}}}, nil, loader.GGUFWriteOptions{}, `key "k": a UINT32 value holds string`},
		{"kv dup", []loader.GGUFKV{{Key: "k", GGUFValue: loader.GGUFValue{Type: loader.GGUFString, Value: "x"}}, {Key: "k", GGUFValue: loader.GGUFValue{Type: loader.GGUFString, Value: "x"}}}, nil, loader.GGUFWriteOptions{}, "given twice"},
	} {
		err := loader.WriteGGUF(io.Discard, c.kv, c.ts, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := loader.WriteGGUF(io.Discard, nil, []loader.GGUFWriteTensor{{Name: "a", Type: quant.F32, Shape: []int{16}, WriteTo: ok}}, loader.GGUFWriteOptions{Context: ctx})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	err = loader.WriteGGUF(&failWriter{left: 100}, nil, []loader.GGUFWriteTensor{{Name: "a", Type: quant.F32, Shape: []int{1 << 18}, WriteTo: func(w io.Writer) error {
		_, err := w.Write(make([]byte, 1<<20))
		return err
	}}}, loader.GGUFWriteOptions{})
	if !errors.Is(err, errDiskFull) {
		t.Errorf("failing writer: %v", err)
	}
}
