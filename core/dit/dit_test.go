package dit_test

import (
	"github.com/ditkit/ditkit/core/dit/kernels"
	"math"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// The config the one loader builds from the detected spec (heads given).
func TestBuildConfig(t *testing.T) {
	m := loadDiT(t, "ckpt.safetensors")
	want := dit.Config{InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 64, Depth: 2, NumHeads: 4,
		NumClasses: 10, LearnSigma: true, MLPRatio: 4, NullClass: true}
	if m.Cfg != want {
		t.Fatalf("config %+v, want %+v", m.Cfg, want)
	}
}

func TestForwardReferences(t *testing.T) {
	cases := []struct {
		ckpt, ref string
		cfg       bool
		tol       float64
	}{
		{"ckpt.safetensors", "ref_forward_fp32", false, 1e-5},
		{"ckpt.safetensors", "ref_forward_fp64", false, 1e-5},
		{"ckpt_bf16.safetensors", "ref_forward_bf16w_fp32", false, 1e-5},
		{"ckpt.safetensors", "ref_cfg_fp32", true, 2e-5},
		{"ckpt.safetensors", "ref_cfg_fp64", true, 2e-5},
	}
	for _, c := range cases {
		t.Run(c.ref, func(t *testing.T) {
			m := loadDiT(t, c.ckpt)
			ref := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), "dit_A", c.ref+".safetensors"))
			x := f32s(t, ref["x"])
			tt := f64s(t, ref["t"])
			y := ints(t, ref["y"])
			for _, threads := range []int{1, 2} {
				scale := float32(0)
				if c.cfg {
					scale = 4
				}
				out := forward(t, m, x, tt, y, scale, &dit.Options{Backend: &kernels.CPU{Threads: threads}})
				e := relErr(out, f64s(t, ref["out"]))
				t.Logf("threads %d: max rel err %.3g", threads, e)
				if e > c.tol {
					t.Errorf("threads %d: max rel err %.3g > %g", threads, e, c.tol)
				}
			}
		})
	}
}

func TestIntermediates(t *testing.T) {
	m := loadDiT(t, "ckpt.safetensors")
	ref := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), "dit_A", "ref_intermediates_fp32.safetensors"))
	seen := map[string]bool{}
	opt := &dit.Options{Hook: func(name string, shape []int, data []float32) {
		r, ok := ref[name]
		if !ok {
			return
		}
		seen[name] = true
		if r.Numel() != len(data) {
			t.Errorf("%s: %d values, reference has %v", name, len(data), r.Shape)
			return
		}
		e := relErr(data, f64s(t, r))
		tol := 1e-5
		if name == "t_freq" {
			// cos/sin of float32 arguments up to 1000: one ulp of the
			// argument (torch's SLEEF expf is not correctly rounded) moves
			// the feature by ~3e-5; everything downstream meets 1e-5.
			tol = 1e-4
		}
		t.Logf("%-14s max rel err %.3g", name, e)
		if e > tol {
			t.Errorf("%s: max rel err %.3g", name, e)
		}
	}}
	forward(t, m, f32s(t, ref["x"]), f64s(t, ref["t"]), ints(t, ref["y"]), 0, opt)
	for name := range ref {
		if name != "x" && name != "t" && name != "y" && !seen[name] {
			t.Errorf("intermediate %s never produced", name)
		}
	}
}

// TestCheckpointWrappings runs every dit_A wrapping against the references,
// built from the dit_A spec by the one loader: the .pt files hold the same
// weights (train: ema; ddp: module. prefix, found by detection;
// stdit_layout: Conv3d weight and no pos_embed, so the table is computed).
func TestCheckpointWrappings(t *testing.T) {
	dir := filepath.Join(fixtures.Root(t), "dit_A")
	target, err := spec.Parse(fixtures.SpecJSON(t, "dit_A"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		file, ref string
		tol       float64
	}{
		{"ckpt_plain.pt", "ref_forward_fp32", 1e-5},
		{"ckpt_train.pt", "ref_forward_fp32", 1e-5},
		{"ckpt_ddp.pt", "ref_forward_fp32", 1e-5},
		{"ckpt_legacy.pt", "ref_forward_fp32", 1e-5},
		{"ckpt_stdit_layout.pt", "ref_forward_fp32", 1e-5},
		{"ckpt_bf16.pt", "ref_forward_bf16w_fp32", 1e-5},
		{"ckpt_fp16.pt", "ref_forward_fp32", 3e-3}, // fp16-rounded weights vs fp32 weights
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			m := build(t, fixtures.ReadAll(t, filepath.Join(dir, c.file)), target, 0).(*dit.Model)
			ref := fixtures.ReadAll(t, filepath.Join(dir, c.ref+".safetensors"))
			out := forward(t, m, f32s(t, ref["x"]), f64s(t, ref["t"]), ints(t, ref["y"]), 0, nil)
			e := relErr(out, f64s(t, ref["out"]))
			t.Logf("max rel err %.3g (weights %v)", e, m.Blocks[0].QKV.W.DType)
			if e > c.tol {
				t.Errorf("max rel err %.3g > %g", e, c.tol)
			}
		})
	}
}

// TestPosEmbedFormula checks the regenerated 2-D sin-cos table (core/fix's
// numpy-exact formula, the one every table is built with) bit for bit
// against the table the model saved (ckpt_train.pt model/pos_embed), and
// within one ulp against the EMA copy (DiT's EMA update moves some
// entries of the frozen table by an ulp).
func TestPosEmbedFormula(t *testing.T) {
	gen := fix.SinCos2D(64, 4, 4, 1)
	path := filepath.Join(fixtures.Root(t), "dit_A", "ckpt_train.pt")
	ck, f, err := loader.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := ck.SetWeightsRoot("model"); err != nil {
		t.Fatal(err)
	}
	model, err := ck.Read("pos_embed")
	if err != nil || model == nil {
		t.Fatalf("model/pos_embed: %v", err)
	}
	for i, v := range f32s(t, model) {
		if math.Float32bits(v) != math.Float32bits(gen[i]) {
			t.Fatalf("element %d: stored %v, formula %v", i, v, gen[i])
		}
	}
	for i, v := range f32s(t, fixtures.ReadAll(t, path)["pos_embed"]) {
		if d := v - gen[i]; d > 1e-7 || d < -1e-7 {
			t.Fatalf("EMA element %d: stored %v, formula %v", i, v, gen[i])
		}
	}
}
