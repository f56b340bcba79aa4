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

// forward2Case is one forward2 fixture folder: its checkpoint, the spec
// its config.json's constructor_kwargs give (plus the family) and the net.
type forward2Case struct {
	dir  string
	spec *spec.Spec
	net  dit.Net
}

func loadForward2(t testing.TB, name, family, ckpt string, extra map[string]any) *forward2Case {
	t.Helper()
	dir := filepath.Join(fixtures.Root(t), "forward2", name)
	s, err := spec.Parse(fixtures.Forward2Spec(t, name, family, extra))
	if err != nil {
		t.Fatal(err)
	}
	w := fixtures.ReadAll(t, filepath.Join(dir, ckpt))
	return &forward2Case{dir: dir, spec: s, net: build(t, w, s, 0)}
}

// pixartCases are the forward2 PixArt fixtures with the spec the forward
// contract gives them.
var pixartCases = []struct {
	name, family string
	extra        map[string]any
}{
	{"pixart_alpha_512", "pixart-alpha", nil},
	{"pixartms_alpha_1024", "pixart-alpha", map[string]any{"micro_condition": true}},
	{"pixart_sigma_512", "pixart-sigma", nil},
	{"pixartms_sigma_1024", "pixart-sigma", nil},
	{"pixartms_sigma_nomc", "pixart-sigma", nil},
}

// maxAbs is max|a−ref|.
func maxAbs(a []float32, ref []float64) float64 {
	var m float64
	for i := range ref {
		m = max(m, math.Abs(float64(a[i])-ref[i]))
	}
	return m
}

// Every PixArt reference (caption with and without mask, null caption;
// fp32 within 1e-5, fp64 within the README's 5e-6) through ReadInputs and
// Forward, as the CLI's forward runs them.
func TestPixArtReferences(t *testing.T) {
	for _, pc := range pixartCases {
		t.Run(pc.name, func(t *testing.T) {
			c := loadForward2(t, pc.name, pc.family, "ckpt.pth", pc.extra)
			for _, ref := range []string{"caption_mask", "caption_nomask", "null"} {
				for _, prec := range []string{"fp32", "fp64"} {
					name := "ref_" + ref + "_" + prec
					ts := fixtures.ReadAll(t, filepath.Join(c.dir, name+".safetensors"))
					in, err := dit.ReadInputs(c.net, ts, name)
					if err != nil {
						t.Fatal(err)
					}
					out, shape, err := c.net.Forward(context.Background(), in.X, in.Shape, in.T, in.Cond, nil)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !tensor.EqualShape(shape, ts["out"].Shape) {
						t.Fatalf("%s: out shape %v, want %v", name, shape, ts["out"].Shape)
					}
					tol := 1e-5
					if prec == "fp64" {
						tol = 5e-6
					}
					e := maxAbs(out, f64s(t, ts["out"]))
					t.Logf("%s: max abs err %.3g", name, e)
					if e > tol {
						t.Errorf("%s: max abs err %.3g > %g", name, e, tol)
					}
					if ref == "null" && prec == "fp32" {
						// No caption means the model's own null caption.
						in.Cond.Caption = nil
						out2, _, err := c.net.Forward(context.Background(), in.X, in.Shape, in.T, in.Cond, nil)
						if err != nil {
							t.Fatal(err)
						}
						if e := maxAbs(out2, f64s(t, ts["out"])); e > 1e-5 {
							t.Errorf("null caption by default: max abs err %.3g", e)
						}
					}
				}
			}
		})
	}
}

// The hook shows every intermediate of ref_intermediates_fp32 under its
// name and shape.
func TestPixArtIntermediates(t *testing.T) {
	for _, pc := range pixartCases {
		t.Run(pc.name, func(t *testing.T) {
			c := loadForward2(t, pc.name, pc.family, "ckpt.pth", pc.extra)
			ts := fixtures.ReadAll(t, filepath.Join(c.dir, "ref_intermediates_fp32.safetensors"))
			in, err := dit.ReadInputs(c.net, ts, "ref_intermediates_fp32")
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			hook := func(name string, shape []int, data []float32) {
				ref := ts[name]
				if ref == nil {
					return
				}
				seen[name] = true
				if !tensor.EqualShape(shape, ref.Shape) {
					t.Errorf("%s: shape %v, want %v", name, shape, ref.Shape)
					return
				}
				if e := maxAbs(data, f64s(t, ref)); e > 1e-5 {
					t.Errorf("%s: max abs err %.3g", name, e)
				}
			}
			if _, _, err := c.net.Forward(context.Background(), in.X, in.Shape, in.T, in.Cond, &dit.Options{Hook: hook}); err != nil {
				t.Fatal(err)
			}
			for name := range ts {
				switch name {
				case "x", "t", "y", "mask", "img_hw", "aspect_ratio":
					continue
				}
				if !seen[name] {
					t.Errorf("the hook never showed %s", name)
				}
			}
			if t.Failed() {
				return
			}
			var names []string
			for n := range seen {
				names = append(names, n)
			}
			t.Logf("checked %s", strings.Join(names, ", "))
		})
	}
}
