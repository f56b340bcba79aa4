package diff

import (
	"strings"
	"testing"

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
	es, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]tensor.Info, len(es))
	for i, e := range es {
		out[i] = tensor.Info{Name: e.Name, DType: tensor.BF16, Shape: e.Shape}
	}
	return out
}

// Every full-size release converts into each of its other layouts with a
// plan that leaves nothing behind, and the result is that layout's preset
// key for key (HunyuanVideo has no tiny fixture: this is its check).
func TestLayoutPlansConvertEveryReleaseExactly(t *testing.T) {
	n := 0
	seen := map[string]bool{} // releases with another's exact config (Kontext = dev) once
	for _, pi := range spec.Presets() {
		if pi.Layout == "" {
			continue
		}
		s, _ := spec.Preset(pi.Name)
		js, _ := s.MarshalJSON()
		if seen[string(js)] {
			continue
		}
		seen[string(js)] = true
		for _, to := range spec.Layouts() {
			want := spec.PresetInLayout(pi.Name, to)
			if want == "" || want == pi.Name {
				continue
			}
			n++
			t.Run(pi.Name+"-to-"+to, func(t *testing.T) {
				infos := presetInfos(t, pi.Name)
				tg, err := LayoutTarget(infos, to)
				if err != nil {
					t.Fatal(err)
				}
				r, err := Diff(infos, tg, Options{})
				if err != nil {
					t.Fatal(err)
				}
				// Sana's diffusers layout keeps no null-caption table:
				// dropped one way, missing (untrained) the other.
				unstored := strings.HasPrefix(pi.Name, "sana")
				for _, f := range r.Remaining {
					if !(unstored && strings.HasSuffix(f.Key, "y_embedder.y_embedding") && f.Kind == Missing) {
						t.Fatalf("%d remain, first %+v", len(r.Remaining), f)
					}
				}
				for _, s := range r.Plan {
					if s.Lossy && !(unstored && len(s.Keys) == 1 && strings.HasSuffix(s.Keys[0], "y_embedder.y_embedding")) {
						t.Fatalf("lossy step %s: %v", s.ID, s.Keys)
					}
				}
				cur, _ := fix.FromInfos(infos)
				after, err := fix.Apply(cur, r.Plan)
				if err != nil {
					t.Fatal(err)
				}
				got := fix.Infos(after)
				ref := presetInfos(t, want)
				if unstored && pi.Layout == spec.LayoutDiffusers {
					ref = without(ref, "y_embedder.y_embedding")
				}
				if len(got) != len(ref) {
					t.Fatalf("%d tensors, %s has %d", len(got), want, len(ref))
				}
				have := map[string][]int{}
				for _, g := range got {
					have[g.Name] = g.Shape
				}
				for _, e := range ref {
					if s, ok := have[e.Name]; !ok || !tensor.EqualShape(s, e.Shape) {
						t.Fatalf("%s: got %v, want %v", e.Name, s, e.Shape)
					}
				}
				if strings.Contains(pi.Name, "flux") || strings.Contains(pi.Name, "sd3") || strings.Contains(pi.Name, "hunyuan") {
					if to == spec.LayoutDiffusers && !hasOp(r.Plan, "swap") {
						t.Error("no shift/scale swap in the plan")
					}
				}
			})
		}
	}
	if n < 30 {
		t.Fatalf("only %d layout conversions", n)
	}
}

func without(infos []tensor.Info, suffix string) []tensor.Info {
	var out []tensor.Info
	for _, in := range infos {
		if !strings.HasSuffix(in.Name, suffix) {
			out = append(out, in)
		}
	}
	return out
}

func hasOp(steps []*fix.Step, op string) bool {
	for _, s := range steps {
		if s.Op == op {
			return true
		}
	}
	return false
}
