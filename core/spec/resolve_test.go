package spec

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/testfixtures"
)

func keysOf(t *testing.T, fam string, params map[string]any) []Entry {
	t.Helper()
	s, err := New(fam, params)
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func ambiguity(r *Resolution, param string) *Ambiguity {
	for i := range r.Ambiguous {
		if r.Ambiguous[i].Param == param {
			return &r.Ambiguous[i]
		}
	}
	return nil
}

// What shapes cannot decide comes back structured: a published size's
// head count is used, an unpublished one is a guess the strict policy
// refuses naming the flag, and a value the user sets settles it.
func TestResolvePolicy(t *testing.T) {
	// DiT-XL width at another depth: no preset matches, but DiT-XL/2
	// publishes 16 heads for hidden 1152.
	xl := entriesToInfos(keysOf(t, "dit", map[string]any{"hidden_size": 1152, "depth": 3, "input_size": 8}))
	r, err := Resolve(xl, Request{})
	if err != nil {
		t.Fatal(err)
	}
	a := ambiguity(r, "num_heads")
	if a == nil || a.Guess || a.Value != 16 || !strings.Contains(a.Source, "published") || !strings.Contains(a.Source, "DiT-XL") {
		t.Fatalf("num_heads for hidden 1152: %+v", a)
	}
	if n := ambiguity(r, "num_classes"); n == nil || n.Guess || n.Value != 1000 || !strings.HasPrefix(n.Source, "upstream default") {
		t.Errorf("num_classes: %+v", n)
	}
	if err := r.Require(map[string]string{"num_heads": "--heads"}, "--arch or --spec"); err != nil {
		t.Errorf("published values refused: %v", err)
	}

	// hidden 48 (the dit_C fixture's width): a guess.
	small := entriesToInfos(keysOf(t, "dit", map[string]any{"hidden_size": 48, "num_heads": 2, "depth": 2, "input_size": 8, "num_classes": 6, "learn_sigma": false}))
	r, err = Resolve(small, Request{})
	if err != nil {
		t.Fatal(err)
	}
	if g := r.Guesses(); len(g) != 1 || g[0].Param != "num_heads" || g[0].Source != "default" || g[0].Reason == "" {
		t.Fatalf("guesses %+v", g)
	}
	err = r.Require(map[string]string{"num_heads": "--heads"}, "--arch or --spec")
	if err == nil || !strings.Contains(err.Error(), "give --heads") || !strings.Contains(err.Error(), "num_heads") {
		t.Fatalf("strict policy: %v", err)
	}
	r, err = Resolve(small, Request{Set: map[string]any{"num_heads": 2}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Spec.Int("num_heads") != 2 || len(r.Guesses()) != 0 || ambiguity(r, "num_heads").Source != "given" {
		t.Fatalf("--heads 2: %d heads, guesses %+v", r.Spec.Int("num_heads"), r.Guesses())
	}
	if _, err := Resolve(small, Request{Set: map[string]any{"num_heads": 5}}); err == nil {
		t.Error("5 heads for hidden 48 accepted")
	}

	// no pos_embed: the latent size is a guess settled by naming the architecture
	var noPos []Entry
	for _, e := range keysOf(t, "dit", map[string]any{"hidden_size": 1152, "depth": 2, "input_size": 16}) {
		if e.Name != "pos_embed" {
			noPos = append(noPos, e)
		}
	}
	r, _ = Resolve(entriesToInfos(noPos), Request{})
	if err := r.Require(map[string]string{"num_heads": "--heads"}, "--arch or --spec"); err == nil || !strings.Contains(err.Error(), "input_size") || !strings.Contains(err.Error(), "--arch or --spec") {
		t.Errorf("no pos_embed: %v", err)
	}

	// an exact preset settles everything
	r, _ = Resolve(entriesToInfos(keysOf(t, "dit", nil)), Request{})
	if r.Detection.Preset != "DiT-XL_2_256" || len(r.Guesses()) != 0 || !strings.Contains(r.From, "DiT-XL_2_256") {
		t.Fatalf("preset: %q from %q guesses %+v", r.Detection.Preset, r.From, r.Guesses())
	}
	for _, a := range r.Ambiguous {
		if a.Source != "preset DiT-XL_2_256" {
			t.Errorf("%+v", a)
		}
	}

	// a named target wins; the prefix still comes from detection
	target, _ := Preset("DiT-S_2_256")
	var ddp []Entry
	for _, e := range keysOf(t, "dit", map[string]any{"hidden_size": 384, "num_heads": 6, "depth": 12}) {
		e.Name = "module." + e.Name
		ddp = append(ddp, e)
	}
	r, err = Resolve(entriesToInfos(ddp), Request{Target: target, Set: map[string]any{"num_heads": 3}})
	if err != nil || r.Spec != target || r.Prefix != "module." || r.From != "preset DiT-S_2_256" || len(r.Ambiguous) != 0 {
		t.Fatalf("target: %+v %v", r, err)
	}

	if _, err := Resolve(entriesToInfos([]Entry{{Name: "conv.weight", Shape: []int{3, 3}}}), Request{}); !errors.Is(err, ErrNotRecognised) {
		t.Errorf("unknown layout: %v", err)
	}
}

// The dit_A fixture (hidden 64, 4 heads) is not a published size.
func TestResolveDiTAFixture(t *testing.T) {
	dir := testfixtures.Path(t, "dit_A")
	r, err := Resolve(manifestInfos(t, filepath.Join(dir, "ckpt_ddp.pt.manifest.json")), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Prefix != "module." || len(r.Guesses()) != 1 || r.Guesses()[0].Param != "num_heads" {
		t.Fatalf("prefix %q guesses %+v", r.Prefix, r.Guesses())
	}
}
