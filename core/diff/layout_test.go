package diff_test

import (
	"testing"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

func presetInfos(t *testing.T, name string) []tensor.Info {
	t.Helper()
	s, err := spec.Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := s.Keys()
	var out []tensor.Info
	for _, e := range es {
		out = append(out, tensor.Info{Name: e.Name, DType: tensor.F32, Shape: e.Shape})
	}
	return out
}

// Plans between the original and diffusers layouts, run on the published
// key lists, leave only what the other layout cannot hold.
func TestLayoutPlans(t *testing.T) {
	cases := []struct {
		from, to string
		left     map[string]bool // keys allowed to remain missing
	}{
		{"DiT-XL_2_256", "DiT-XL_2_256_diffusers", nil},
		{"DiT-XL_2_256_diffusers", "DiT-XL_2_256", nil},
		{"PixArt-Sigma-XL_2-1024-MS", "PixArt-Sigma-XL_2-1024-MS_diffusers", nil},
		// diffusers drops PixArt's pos_embed (regenerated: pe_interpolation
		// 2) and the learned null caption (not recoverable)
		{"PixArt-Sigma-XL_2-1024-MS_diffusers", "PixArt-Sigma-XL_2-1024-MS", map[string]bool{"y_embedder.y_embedding": true}},
		{"PixArt-XL_2-1024-MS_alpha", "PixArt-XL_2-1024-MS_alpha_diffusers", nil},
	}
	for _, c := range cases {
		ws := presetInfos(t, c.from)
		tg, err := diff.PresetTarget(c.to)
		if err != nil {
			t.Fatal(err)
		}
		r, err := diff.Diff(ws, tg, diff.Options{})
		if err != nil {
			t.Fatalf("%s → %s: %v", c.from, c.to, err)
		}
		out, err := r.Apply(ws, r.Plan)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range diff.Compare(fix.Infos(out), tg) {
			if !(f.Kind == diff.Missing && c.left[f.Key]) {
				t.Errorf("%s → %s: after the plan: %s %s", c.from, c.to, f.Kind, f.Key)
			}
		}
	}
}

// A DiT pos_embed on the same grid as a PixArt target at scale 1 already
// holds the target's values (no value_mismatch); at another scale the
// table differs and is regenerated.
func TestDiTTableForPixArtTargets(t *testing.T) {
	cases := []struct {
		from, to string
		mismatch bool
	}{
		{"DiT-XL_2_256", "PixArt-XL_2-256_alpha", false},    // 16×16, lewei_scale 1
		{"DiT-XL_2_512", "PixArt-XL_2-512_alpha", false},    // 32×32, lewei_scale 1
		{"DiT-XL_2_512", "PixArt-Sigma-XL_2-512-MS", false}, // 32×32, pe_interpolation 1
		{"DiT-XL_2_256", "PixArt-Sigma-XL_2-256", false},    // Σ-256 saves no pos_embed
	}
	for _, c := range cases {
		tg, err := diff.PresetTarget(c.to)
		if err != nil {
			t.Fatal(err)
		}
		r, err := diff.Diff(presetInfos(t, c.from), tg, diff.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, f := range r.Findings {
			if f.Kind == diff.ValueMismatch && f.Key == "pos_embed" {
				got = true
			}
		}
		if got != c.mismatch {
			t.Errorf("%s → %s: value_mismatch for pos_embed = %v, want %v", c.from, c.to, got, c.mismatch)
		}
	}
	// the same DiT table against a Σ-256 spec that saves pos_embed at
	// pe_interpolation 0.5: a different table, regenerated
	s, err := spec.Preset("PixArt-Sigma-XL_2-256")
	if err != nil {
		t.Fatal(err)
	}
	if s, err = s.With("saved_pos_embed", true); err != nil {
		t.Fatal(err)
	}
	tg, err := diff.SpecTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	r, err := diff.Diff(presetInfos(t, "DiT-XL_2_256"), tg, diff.Options{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range r.Findings {
		found = found || f.Kind == diff.ValueMismatch && f.Key == "pos_embed"
	}
	regen := false
	for _, st := range r.Plan {
		regen = regen || st.ID == "regenerate:pos_embed"
	}
	if !found || !regen {
		t.Errorf("DiT table vs pe_interpolation 0.5: mismatch %v, regenerated %v", found, regen)
	}
}
