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
		// diffusers drops PixArt's pos_embed and the learned null caption
		{"PixArt-Sigma-XL_2-1024-MS_diffusers", "PixArt-Sigma-XL_2-1024-MS", map[string]bool{"pos_embed": true, "y_embedder.y_embedding": true}},
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
