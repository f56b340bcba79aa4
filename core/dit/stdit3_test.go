package dit_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// stdit3Case is one Open-Sora STDiT3 fixture: its folder and spec family.
var stdit3Cases = []struct{ dir, family string }{
	{"forward2/stdit3_v12", "stdit3"},
	{"forward2/stdit3_v13", "stdit3-v4"},
}

// stdit3Spec is the fixture's spec: {"family"} + its constructor kwargs,
// exactly as config.json holds them.
func stdit3Spec(t testing.TB, dir, family string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse(fixtures.ConstructorSpecJSON(t, dir, family))
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return s
}

func loadSTDiT3(t testing.TB, dir, family string, target bool) (*dit.STDiT3, map[string]*tensor.Dense) {
	t.Helper()
	w := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), dir, "model.safetensors"))
	var s *spec.Spec
	if target {
		s = stdit3Spec(t, dir, family)
	}
	return build(t, w, s, 0).(*dit.STDiT3), w
}

// stdit3Inputs reads a reference file's inputs as the CLI does.
func stdit3Inputs(t testing.TB, n dit.Net, ref map[string]*tensor.Dense) *dit.Inputs {
	t.Helper()
	in, err := dit.ReadInputs(n, ref, "ref")
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// maxAbs is max|a−ref|.
func maxAbs(a []float32, ref []float64) float64 {
	var md float64
	for i := range ref {
		md = math.Max(md, math.Abs(float64(a[i])-ref[i]))
	}
	if len(a) != len(ref) {
		return math.Inf(1)
	}
	return md
}

// Every STDiT3 forward reference (v1.2 and v1.3; caption with mask, the
// null caption, x_mask; fp32 and fp64) through the detected and the
// config.json spec.
func TestSTDiT3References(t *testing.T) {
	for _, c := range stdit3Cases {
		for _, target := range []bool{false, true} {
			m, _ := loadSTDiT3(t, c.dir, c.family, target)
			if m.Spec().Family != c.family || m.Cfg.Depth != 2 || !m.Cfg.QKNorm {
				t.Fatalf("%s: %s %+v", c.dir, m.Spec().Family, m.Cfg)
			}
			for _, name := range []string{"caption_mask", "null", "caption_mask_xmask"} {
				for _, prec := range []string{"fp32", "fp64"} {
					ref := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), c.dir, "ref_"+name+"_"+prec+".safetensors"))
					in := stdit3Inputs(t, m, ref)
					out, shape, err := m.Forward(context.Background(), in.X, in.Shape, in.T, in.Cond, nil)
					if err != nil {
						t.Fatal(err)
					}
					if !tensor.EqualShape(shape, ref["out"].Shape) {
						t.Fatalf("%s %s: shape %v, want %v", c.dir, name, shape, ref["out"].Shape)
					}
					want := f64s(t, ref["out"])
					tol := 2e-5 // fp32 ref: the same float32 arithmetic up to ordering
					if prec == "fp64" {
						tol = 5e-5
					}
					e := maxAbs(out, want)
					t.Logf("%s %s_%s (spec from %v): max abs err %.3g (max rel %.3g)", c.dir, name, prec, map[bool]string{true: "config.json", false: "detection"}[target], e, relErr(out, want))
					if e > tol {
						t.Errorf("%s %s_%s: max abs err %.3g > %g", c.dir, name, prec, e, tol)
					}
				}
			}
		}
	}
}

// The null reference equals a forward without a caption (the model's own
// y_embedder.y_embedding).
func TestSTDiT3NullCaptionDefault(t *testing.T) {
	for _, c := range stdit3Cases {
		m, _ := loadSTDiT3(t, c.dir, c.family, false)
		ref := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), c.dir, "ref_null_fp32.safetensors"))
		in := stdit3Inputs(t, m, ref)
		in.Cond.Caption = nil
		out, _, err := m.Forward(context.Background(), in.X, in.Shape, in.T, in.Cond, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e := maxAbs(out, f64s(t, ref["out"])); e > 2e-5 {
			t.Errorf("%s: null caption by default: max abs err %.3g", c.dir, e)
		}
	}
}

// Every intermediate the fixtures hooked (pos_emb included) through
// Options.Hook.
func TestSTDiT3Intermediates(t *testing.T) {
	for _, c := range stdit3Cases {
		m, _ := loadSTDiT3(t, c.dir, c.family, false)
		ref := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), c.dir, "ref_intermediates_fp32.safetensors"))
		in := stdit3Inputs(t, m, ref)
		got := map[string][]float32{}
		shapes := map[string][]int{}
		opt := &dit.Options{Hook: func(name string, shape []int, data []float32) {
			got[name] = append([]float32(nil), data...)
			shapes[name] = append([]int(nil), shape...)
		}}
		if _, _, err := m.Forward(context.Background(), in.X, in.Shape, in.T, in.Cond, opt); err != nil {
			t.Fatal(err)
		}
		for name, d := range ref {
			if name == "x" || name == "t" || name == "y" || name == "mask" || name == "fps" || name == "height" || name == "width" {
				continue
			}
			g, ok := got[name]
			if !ok {
				t.Errorf("%s: no intermediate %q from the hook", c.dir, name)
				continue
			}
			if !tensor.EqualShape(shapes[name], d.Shape) {
				t.Errorf("%s %s: shape %v, want %v", c.dir, name, shapes[name], d.Shape)
				continue
			}
			want := f64s(t, d)
			e := maxAbs(g, want)
			t.Logf("%s %-18s max abs err %.3g", c.dir, name, e)
			if e > 2e-5 {
				t.Errorf("%s %s: max abs err %.3g", c.dir, name, e)
			}
		}
	}
}

// Bad conditioning gets one clear error, never a panic.
func TestSTDiT3BadInputs(t *testing.T) {
	m, _ := loadSTDiT3(t, stdit3Cases[0].dir, stdit3Cases[0].family, false)
	ref := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), stdit3Cases[0].dir, "ref_caption_mask_xmask_fp32.safetensors"))
	in := stdit3Inputs(t, m, ref)
	ctx := context.Background()
	for _, c := range []struct {
		edit func(*dit.Cond)
		want string
	}{
		{func(c *dit.Cond) { c.FPS = nil }, "fps"},
		{func(c *dit.Cond) { c.FPS = []float64{24, 24, 24} }, "fps"},
		{func(c *dit.Cond) { c.Height = nil }, "height"},
		{func(c *dit.Cond) { c.Width = []float64{-96} }, "height"},
		{func(c *dit.Cond) { c.XMask = []bool{true, false} }, "x_mask"},
		{func(c *dit.Cond) { c.Mask = []int{1, 1, 1} }, "mask"},
		{func(c *dit.Cond) { c.Caption = c.Caption[:7] }, "caption"},
	} {
		cond := *in.Cond
		c.edit(&cond)
		_, _, err := m.Forward(ctx, in.X, in.Shape, in.T, &cond, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "stdit3:") {
			t.Errorf("want an error naming %s, got %v", c.want, err)
		}
	}
	if _, _, err := m.Forward(ctx, in.X, []int{2, 4, 3, 8}, in.T, in.Cond, nil); err == nil {
		t.Error("a 4-D x was accepted")
	}
}

// A latent that is not a multiple of the patch is zero-padded as
// PatchEmbed3D pads it and the output cropped back: the same as running
// the padded latent and cropping.
func TestSTDiT3PadsToThePatch(t *testing.T) {
	m, _ := loadSTDiT3(t, stdit3Cases[1].dir, stdit3Cases[1].family, false)
	ref := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), stdit3Cases[1].dir, "ref_caption_mask_fp32.safetensors"))
	in := stdit3Inputs(t, m, ref)
	B, C, T, H, W := in.Shape[0], in.Shape[1], in.Shape[2], in.Shape[3], in.Shape[4]
	W2 := W - 1 // odd width: one patch column half padding
	odd := make([]float32, B*C*T*H*W2)
	padded := make([]float32, B*C*T*H*W)
	for r := 0; r < B*C*T*H; r++ {
		copy(odd[r*W2:][:W2], in.X[r*W:][:W2])
		copy(padded[r*W:][:W2], in.X[r*W:][:W2])
	}
	ctx := context.Background()
	got, shape, err := m.Forward(ctx, odd, []int{B, C, T, H, W2}, in.T, in.Cond, nil)
	if err != nil {
		t.Fatal(err)
	}
	full, fshape, err := m.Forward(ctx, padded, in.Shape, in.T, in.Cond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if shape[4] != W2 || fshape[4] != W {
		t.Fatalf("shapes %v %v", shape, fshape)
	}
	Co := shape[1]
	for r := 0; r < B*Co*T*H; r++ {
		for j := 0; j < W2; j++ {
			if got[r*W2+j] != full[r*W+j] {
				t.Fatalf("row %d col %d: %g vs padded run %g", r, j, got[r*W2+j], full[r*W+j])
			}
		}
	}
}
