package quant_test

import (
	"bytes"
	"math"
	"path/filepath"
	"sort"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func openInfos(t *testing.T, path string) ([]tensor.Info, map[string]string, map[string]*tensor.Dense) {
	t.Helper()
	ck, f, err := loader.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var infos []tensor.Info
	for _, w := range ck.Weights() {
		infos = append(infos, w.Info())
	}
	all, err := ck.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return infos, ck.Metadata, all
}

// dequantFP8 is what a converter does with a recognised checkpoint: drop
// the marker and scales, multiply fp8 weights by their scales, cast every
// other float tensor.
func dequantFP8(t *testing.T, f *quant.FP8, infos []tensor.Info, data map[string]*tensor.Dense, to tensor.DType, sem quant.ScaleSemantics) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, ti := range infos {
		if f.IsAux(ti.Name) {
			continue
		}
		d := data[ti.Name]
		n, _ := tensor.Numel(ti.Shape)
		dst := make([]byte, n*int64(to.Size()))
		if l := f.Layer(ti.Name); l != nil {
			var scales []float32
			if l.Scale != "" {
				var err error
				if scales, err = data[l.Scale].Float32s(); err != nil {
					t.Fatal(err)
				}
			}
			if err := quant.DequantizeFP8(l.DType, d.Data, scales, to, sem, dst); err != nil {
				t.Fatal(err)
			}
		} else if err := tensor.Cast(ti.DType, to, d.Data, dst); err != nil {
			t.Fatal(err)
		}
		out[ti.Name] = dst
	}
	return out
}

func compareTo(t *testing.T, label string, got map[string][]byte, refPath string) {
	t.Helper()
	ref := fixtures.ReadAll(t, refPath)
	if len(ref) != len(got) {
		t.Errorf("%s: %d tensors, reference has %d", label, len(got), len(ref))
	}
	var names []string
	for n := range ref {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g, ok := got[n]
		if !ok {
			t.Errorf("%s: no %s", label, n)
			continue
		}
		if !bytes.Equal(g, ref[n].Data) {
			diff := 0
			for i := range min(len(g), len(ref[n].Data)) {
				if g[i] != ref[n].Data[i] {
					diff++
				}
			}
			t.Errorf("%s: %s differs from the upstream formula's result (%d bytes)", label, n, diff)
		}
	}
}

// Plain and scaled fp8 checkpoints: layouts recognised, and dequantized
// bit for bit as the fixtures' upstream formulas did (f32, bf16 with both
// ComfyUI semantics).
func TestScaledFP8Checkpoints(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/fp8/checkpoints")
	for _, c := range []struct {
		file   string
		layout string
		scaled bool
		refs   map[string]quant.ScaleSemantics // reference file suffix → bf16 semantics
	}{
		{"plain_e4m3fn", quant.LayoutFP8, false, map[string]quant.ScaleSemantics{"dequant_bf16": quant.ScaleF32Opmath}},
		{"plain_e5m2", quant.LayoutFP8, false, map[string]quant.ScaleSemantics{"dequant_bf16": quant.ScaleRoundedFirst}},
		{"scaled_fp8_comfy", quant.LayoutScaledFP8, true, map[string]quant.ScaleSemantics{"dequant_bf16": quant.ScaleRoundedFirst, "dequant_bf16_newpath": quant.ScaleF32Opmath}},
		{"weight_scale_comfy", quant.LayoutWeightScale, true, map[string]quant.ScaleSemantics{"dequant_bf16": quant.ScaleF32Opmath}},
	} {
		t.Run(c.file, func(t *testing.T) {
			infos, md, data := openInfos(t, filepath.Join(dir, c.file+".safetensors"))
			f, err := quant.DetectFP8(infos, md)
			if err != nil || f == nil {
				t.Fatalf("DetectFP8: %v %v", f, err)
			}
			if f.Layout != c.layout || f.Scaled() != c.scaled || len(f.Layers) != 7 || len(f.Unsupported) != 0 {
				t.Fatalf("layout %q scaled %v, %d layers, unsupported %v; evidence %v", f.Layout, f.Scaled(), len(f.Layers), f.Unsupported, f.Evidence)
			}
			t.Logf("%s: %v", c.file, f.Evidence)
			for _, sem := range []quant.ScaleSemantics{quant.ScaleF32Opmath, quant.ScaleRoundedFirst} {
				compareTo(t, c.file+" f32 "+sem.String(), dequantFP8(t, f, infos, data, tensor.F32, sem), filepath.Join(dir, c.file+".dequant_f32.safetensors"))
			}
			for ref, sem := range c.refs {
				compareTo(t, c.file+" "+ref, dequantFP8(t, f, infos, data, tensor.BF16, sem), filepath.Join(dir, c.file+"."+ref+".safetensors"))
			}
			if c.file == "scaled_fp8_comfy" { // the two semantics do differ here
				a := dequantFP8(t, f, infos, data, tensor.BF16, quant.ScaleF32Opmath)
				b := dequantFP8(t, f, infos, data, tensor.BF16, quant.ScaleRoundedFirst)
				diff := 0
				for n := range a {
					for i := 0; i < len(a[n]); i += 2 {
						if a[n][i] != b[n][i] || a[n][i+1] != b[n][i+1] {
							diff++
						}
					}
				}
				if diff != 29326 {
					t.Errorf("old and new bf16 paths differ in %d elements, the fixture says 29326", diff)
				}
			}
		})
	}
}

func TestDetectFP8Rules(t *testing.T) {
	ti := func(name string, dt tensor.DType, shape ...int) tensor.Info {
		return tensor.Info{Name: name, DType: dt, Shape: shape}
	}
	// A full checkpoint's marker carries the prefix; scales per row work.
	f, err := quant.DetectFP8([]tensor.Info{
		ti("model.diffusion_model.scaled_fp8", tensor.F8_E4M3, 0),
		ti("model.diffusion_model.a.weight", tensor.F8_E4M3, 4, 2),
		ti("model.diffusion_model.a.scale_weight", tensor.F32, 4, 1),
		ti("model.diffusion_model.a.bias", tensor.BF16, 4),
	}, nil)
	if err != nil || f.Layout != quant.LayoutScaledFP8 || f.Marker != "model.diffusion_model.scaled_fp8" || f.Layer("model.diffusion_model.a.weight").Scale == "" {
		t.Fatalf("%+v %v", f, err)
	}
	// Per-row scales.
	w := []byte{0x38, 0x40, 0xb8, 0x30, 0x38, 0x38, 0x38, 0x38} // 1, 2, -1, 0.5, 1 …
	dst := make([]byte, 32)
	if err := quant.DequantizeFP8(tensor.F8_E4M3, w, []float32{2, 3, 4, 5}, tensor.F32, quant.ScaleF32Opmath, dst); err != nil {
		t.Fatal(err)
	}
	want := []float32{2, 4, -3, 1.5, 4, 4, 5, 5}
	for i, v := range want {
		if g := math.Float32frombits(uint32(dst[4*i]) | uint32(dst[4*i+1])<<8 | uint32(dst[4*i+2])<<16 | uint32(dst[4*i+3])<<24); g != v {
			t.Errorf("per-row element %d: %v want %v", i, g, v)
		}
	}
	for _, bad := range [][]tensor.Info{
		{ti("a.weight", tensor.F8_E4M3, 4, 2), ti("a.weight_scale", tensor.F32, 3)},                                   // wrong scale shape
		{ti("a.weight", tensor.F8_E4M3, 4, 2), ti("a.weight_scale", tensor.F32), ti("a.scale_weight", tensor.F32)},    // two scales
		{ti("a.weight", tensor.F8_E4M3, 4, 2), ti("a.weight_scale", tensor.I64)},                                      // integer scale
		{ti("scaled_fp8", tensor.F8_E5M2, 0), ti("a.weight", tensor.F8_E4M3, 4, 2), ti("a.scale_weight", tensor.F32)}, // marker dtype disagrees
	} {
		if f, err := quant.DetectFP8(bad, nil); err == nil {
			t.Errorf("accepted %v: %+v", bad, f)
		}
	}
	if _, err := quant.DetectFP8([]tensor.Info{ti("a.weight", tensor.F8_E4M3, 2)}, map[string]string{"_quantization_metadata": "{"}); err == nil {
		t.Error("accepted bad _quantization_metadata JSON")
	}
	// int8 with a scale is reported, not dequantized; no fp8 → nil.
	f, err = quant.DetectFP8([]tensor.Info{ti("a.weight", tensor.I8, 4, 2), ti("a.weight_scale", tensor.F32)}, nil)
	if err != nil || f == nil || len(f.Unsupported) != 1 || f.Scaled() {
		t.Errorf("int8 weight with a scale: %+v %v", f, err)
	}
	if f, err := quant.DetectFP8([]tensor.Info{ti("a.weight", tensor.BF16, 4, 2)}, nil); f != nil || err != nil {
		t.Errorf("no fp8: %+v %v", f, err)
	}
	// .comfy_quant marks a layer and is not a weight.
	f, err = quant.DetectFP8([]tensor.Info{ti("a.weight", tensor.F8_E4M3, 4, 2), ti("a.weight_scale", tensor.F32), ti("a.comfy_quant", tensor.U8, 30)}, nil)
	if err != nil || f.Layout != quant.LayoutWeightScale || !f.IsAux("a.comfy_quant") || !f.IsAux("a.weight_scale") || f.IsAux("a.weight") {
		t.Errorf(".comfy_quant: %+v %v", f, err)
	}
	if err := quant.DequantizeFP8(tensor.BF16, w, nil, tensor.F32, 0, dst); err == nil {
		t.Error("DequantizeFP8 accepted a BF16 source")
	}
	if err := quant.DequantizeFP8(tensor.F8_E4M3, w, []float32{1, 2, 3}, tensor.F32, 0, dst); err == nil {
		t.Error("DequantizeFP8 accepted 3 row scales for 8 elements")
	}
}
