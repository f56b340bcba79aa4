package loader_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/loader/report"
)

// tinyGGUF is a seed with most of the format: KV scalars, a nested array,
// an orig_shape, a 5-D tensor, F16 and Q4_K data.
func tinyGGUF() []byte {
	g := (&ggufBuilder{}).header(3, 4)
	g.str("general.architecture").u32(8).str("wan")
	g.str("general.alignment").u32(4).u32(32)
	g.str("nested").u32(9).u32(9).u64(1).u32(6).u64(1).u32(math.Float32bits(0.5))
	g.str("comfy.gguf.orig_shape.h").u32(9).u32(5).u64(2).u32(4).u32(2)
	g.str("h").u32(2).u64(4).u64(2).u32(uint32(quant.F16)).u64(0)
	g.str("patch_embedding.weight").u32(5).u64(1).u64(1).u64(1).u64(1).u64(2).u32(0).u64(32)
	g.str("q").u32(1).u64(256).u32(uint32(quant.Q4_K)).u64(64)
	g.pad(32)
	data := make([]byte, 64+144)
	for i := range data {
		data[i] = byte(i * 7)
	}
	data[64], data[65] = 0, 0x3c
	return g.raw(data...).b.Bytes()
}

func TestTinyGGUFSeed(t *testing.T) {
	b := tinyGGUF()
	ck, err := loader.Open(bytesReaderAt(b), int64(len(b)), "tiny.gguf")
	if err != nil || len(ck.Tensors) != 3 {
		t.Fatal(err)
	}
	for _, tt := range ck.Tensors {
		if _, err := ck.ReadTensor(tt); err != nil {
			t.Fatal(err)
		}
	}
	if err := fuzzGGUF(b); err != nil {
		t.Fatal(err)
	}
}

// fuzzGGUF opens, reads, restores and inspects; errors must be
// FormatErrors and nothing may panic; the inspect document must encode.
func fuzzGGUF(data []byte) error {
	if err := openAll(data); err != nil {
		return err
	}
	for _, opt := range []loader.GGUFOptions{{}, {Allow5D: true}} {
		ck, err := loader.OpenGGUF(bytesReaderAt(data), int64(len(data)), "fuzz.gguf", opt)
		if err := checkErr("open gguf", err); err != nil || ck == nil {
			return err
		}
		ck.RestoreGGUFShapes(func(name string) ([]int, bool) {
			t := ck.Tensor(name)
			if t == nil || len(t.Shape) == 0 {
				return nil, false
			}
			return append([]int{1}, t.Shape...), true
		}, "fuzz")
		for _, t := range ck.Tensors {
			if t.Numel() > 1<<22 {
				continue
			}
			if _, err := ck.ReadTensor(t); err != nil {
				if err := checkErr("read", err); err != nil {
					return err
				}
			}
			// As forward holds it: quantized, widened row by row.
			st, err := ck.ReadStored(t.Name)
			if err != nil || st == nil {
				continue
			}
			if w, err := kernels.NewStoredWeight(st); err == nil && w.Rows > 0 && w.Cols > 0 {
				row := make([]float32, w.Cols)
				w.Row(0, row)
				w.Row(w.Rows-1, row)
			}
		}
		if _, err := json.Marshal(report.BuildInspect(ck)); err != nil {
			return err
		}
	}
	return nil
}

// FuzzGGUF: GGUF headers and data (the malformed fixtures and a tiny
// file with every feature as seeds).
func FuzzGGUF(f *testing.F) {
	f.Add(tinyGGUF())
	ms, _ := filepath.Glob(filepath.Join(fixtures.Root(f), "gguf_fp8", "gguf_malformed", "*.gguf"))
	for _, m := range ms {
		if b, err := os.ReadFile(m); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := fuzzGGUF(data); err != nil {
			t.Fatal(err)
		}
	})
}
