package quant_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func readJSON(t *testing.T, path string, v any) { t.Helper(); fixtures.ReadJSONFile(t, path, v) }

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		le32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func le32(b []byte, u uint32) { b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24) }

// The 11 fixture types, each written by gguf-py with ggml's C quantizers.
var fixtureTypes = []string{"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q2_K", "Q4_K", "Q5_K", "Q6_K"}

// Every tensor of every gguf/tiny_<TYPE>.gguf dequantizes to exactly the
// bytes ggml's dequantize_row_* gave (the .dequant_f32.safetensors file and
// the manifest's sha256), and quantizing the source tensor with our
// quantize_row_*_ref reproduces the file's block bytes.
func TestDequantizeGGUFFixtures(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf")
	src := fixtures.ReadAll(t, filepath.Join(dir, "source_f32.safetensors"))
	for _, typ := range fixtureTypes {
		t.Run(typ, func(t *testing.T) {
			m := fixtures.ReadGGUFManifest(t, filepath.Join(dir, "tiny_"+typ+".gguf"))
			raw, err := os.ReadFile(filepath.Join(dir, m.File))
			if err != nil {
				t.Fatal(err)
			}
			ref := fixtures.ReadAll(t, filepath.Join(dir, "tiny_"+typ+".dequant_f32.safetensors"))
			if len(m.Tensors) == 0 || len(ref) != len(m.Tensors) {
				t.Fatalf("%d manifest tensors, %d reference tensors", len(m.Tensors), len(ref))
			}
			for _, mt := range m.Tensors {
				qt := quant.Type(mt.TypeID)
				if qt.String() != mt.Type {
					t.Errorf("%s: type id %d is %v, manifest says %s", mt.Name, mt.TypeID, qt, mt.Type)
				}
				blocks := raw[mt.Offset : mt.Offset+mt.NBytes]
				if sha(blocks) != mt.SHARaw {
					t.Fatalf("%s: fixture bytes do not match the manifest", mt.Name)
				}
				n := 1
				for _, d := range mt.Dims {
					n *= int(d)
				}
				if nb, err := qt.Bytes(int64(n)); err != nil || nb != mt.NBytes {
					t.Errorf("%s: %v of %d elements: %d bytes (%v), file has %d", mt.Name, qt, n, nb, err, mt.NBytes)
				}
				got := make([]float32, n)
				if err := quant.Dequantize(qt, blocks, got); err != nil {
					t.Fatalf("%s: %v", mt.Name, err)
				}
				gb := f32Bytes(got)
				want := ref[mt.Name]
				if want == nil || want.DType != tensor.F32 || !bytes.Equal(gb, want.Data) {
					t.Errorf("%s (%v): dequantized bytes differ from ggml's %s", mt.Name, qt, firstDiff(gb, want))
				}
				if sha(gb) != mt.SHADequant {
					t.Errorf("%s: sha256 of the dequantization %s, manifest %s", mt.Name, sha(gb), mt.SHADequant)
				}
				// The writer side: our quantize_row_*_ref of the source
				// gives the file's bytes.
				s := src[mt.Name]
				if s == nil {
					t.Fatalf("%s: not in source_f32.safetensors", mt.Name)
				}
				sv, _ := s.Float32s()
				q := make([]byte, mt.NBytes)
				if err := quant.Quantize(qt, sv, q); err != nil {
					t.Fatalf("%s: %v", mt.Name, err)
				}
				if !bytes.Equal(q, blocks) {
					t.Errorf("%s: Quantize(%v) differs from ggml's bytes (first at %s)", mt.Name, qt, firstByteDiff(q, blocks))
				}
			}
		})
	}
}

func firstDiff(got []byte, want *tensor.Dense) string {
	if want == nil {
		return "(no reference tensor)"
	}
	for i := 0; i+4 <= len(got) && i+4 <= len(want.Data); i += 4 {
		if !bytes.Equal(got[i:i+4], want.Data[i:i+4]) {
			g := math.Float32frombits(uint32(got[i]) | uint32(got[i+1])<<8 | uint32(got[i+2])<<16 | uint32(got[i+3])<<24)
			w := math.Float32frombits(uint32(want.Data[i]) | uint32(want.Data[i+1])<<8 | uint32(want.Data[i+2])<<16 | uint32(want.Data[i+3])<<24)
			return "element " + itoa(i/4) + ": " + ftoa(g) + " vs " + ftoa(w)
		}
	}
	return "(lengths " + itoa(len(got)) + " vs " + itoa(len(want.Data)) + ")"
}

func firstByteDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return "byte " + itoa(i)
		}
	}
	return "length"
}

// quantTruth is gguf_quant_truth/manifest.json.
type quantTruth struct {
	Types map[string]struct {
		File    string `json:"file"`
		Tensors map[string]struct {
			InputSHA  string `json:"input_sha256_f32"`
			NBytes    int64  `json:"nbytes"`
			SHAQuant  string `json:"sha256_quantized"`
			SHADequnt string `json:"sha256_dequant_f32"`
		} `json:"tensors"`
	} `json:"types"`
}

// quantize_row_*_ref's exact bytes for hard inputs (fp16 scale underflow,
// 1e4 magnitudes, zeros, constants, outliers, exact .5 ties, f32
// subnormals, negative absmax), and ggml's dequantization of them.
func TestQuantizeTruth(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/gguf_quant_truth")
	var m quantTruth
	readJSON(t, filepath.Join(dir, "manifest.json"), &m)
	in := fixtures.ReadAll(t, filepath.Join(dir, "inputs_f32.safetensors"))
	var names []string
	for n := range m.Types {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, want := range []string{"Q4_0", "Q4_K", "Q5_0", "Q8_0"} {
		if m.Types[want].File == "" {
			t.Errorf("manifest lacks %s", want)
		}
	}
	for _, typ := range names {
		tt := m.Types[typ]
		t.Run(typ, func(t *testing.T) {
			qt, err := quant.ParseType(typ)
			if err != nil {
				t.Fatal(err)
			}
			if tt.File == "" {
				t.Skipf("%s: no quantized file in the fixture (tested by round trips)", typ)
			}
			qf := fixtures.ReadAll(t, filepath.Join(dir, tt.File))
			if len(tt.Tensors) != len(in) {
				t.Errorf("%d tensors in the manifest, %d inputs", len(tt.Tensors), len(in))
			}
			for name, e := range tt.Tensors {
				x := in[name]
				if x == nil || sha(x.Data) != e.InputSHA {
					t.Fatalf("%s: input missing or differs from the manifest", name)
				}
				xv, _ := x.Float32s()
				got := make([]byte, e.NBytes)
				if err := quant.Quantize(qt, xv, got); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				want := qf[name]
				if want == nil || sha(want.Data) != e.SHAQuant {
					t.Fatalf("%s: quantized fixture missing or differs from the manifest", name)
				}
				if !bytes.Equal(got, want.Data) {
					t.Errorf("%s %s: quantized bytes differ from ggml's (first at %s)", typ, name, firstByteDiff(got, want.Data))
				}
				dq := make([]float32, len(xv))
				if err := quant.Dequantize(qt, want.Data, dq); err != nil {
					t.Fatal(err)
				}
				if s := sha(f32Bytes(dq)); s != e.SHADequnt {
					t.Errorf("%s %s: dequantization sha256 %s, ggml's %s", typ, name, s, e.SHADequnt)
				}
			}
		})
	}
}

func itoa(i int) string     { return strconv.Itoa(i) }
func ftoa(f float32) string { return strconv.FormatFloat(float64(f), 'g', -1, 32) }
