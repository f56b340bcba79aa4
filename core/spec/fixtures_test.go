package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/testfixtures"
)

// ditASpec builds spec JSON from the fixture's own config.json.
func ditASpec(t *testing.T) *Spec {
	t.Helper()
	dir := testfixtures.Path(t, "dit_A")
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ModelKwargs      map[string]any `json:"model_kwargs"`
		MLPRatio         float64        `json:"mlp_ratio"`
		ClassDropoutProb float64        `json:"class_dropout_prob"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"family": "dit", "mlp_ratio": cfg.MLPRatio, "class_dropout_prob": cfg.ClassDropoutProb}
	for k, v := range cfg.ModelKwargs {
		m[k] = v
	}
	js, _ := json.Marshal(m)
	s, err := Parse(js)
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return s
}

func stditTinySpec(t *testing.T) (*Spec, map[string][]int, []string) {
	t.Helper()
	dir := testfixtures.Path(t, "stdit_tiny")
	data, err := os.ReadFile(filepath.Join(dir, "state_dict_shapes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Config  map[string]any   `json:"config"`
		Shapes  map[string][]int `json:"state_dict_shapes"`
		Buffers []string         `json:"buffers"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	f.Config["family"] = "stdit"
	js, _ := json.Marshal(f.Config)
	s, err := Parse(js)
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return s, f.Shapes, f.Buffers
}

func infosAsEntries(t *testing.T, path string) []Entry {
	infos := manifestInfos(t, path)
	out := make([]Entry, len(infos))
	for i, in := range infos {
		out[i] = Entry{Name: in.Name, Shape: in.Shape}
	}
	return out
}

func TestSpecDiTAMatchesFixtureManifest(t *testing.T) {
	s := ditASpec(t)
	got, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	dir := testfixtures.Path(t, "dit_A")
	want := infosAsEntries(t, filepath.Join(dir, "ckpt_plain.pt.manifest.json"))
	if d := diffSets(want, got); len(d) > 0 {
		t.Fatalf("differences: %v", d)
	}
	for i := range want {
		if want[i].Name != got[i].Name {
			t.Fatalf("order differs at %d: fixture %s, spec %s", i, want[i].Name, got[i].Name)
		}
	}
	if TotalElements(got) != 183200 { // README: params 183,200
		t.Fatalf("elements %d", TotalElements(got))
	}
	// DiT's pos_embed is a saved nn.Parameter (requires_grad=False), not a buffer.
	for _, e := range got {
		if e.Buffer {
			t.Errorf("%s marked as buffer", e.Name)
		}
		if (e.Name == "pos_embed") != e.Fixed {
			t.Errorf("%s Fixed=%v", e.Name, e.Fixed)
		}
	}
	// The safetensors copy holds the same set (sorted differently).
	st := infosAsEntries(t, filepath.Join(dir, "ckpt.safetensors.manifest.json"))
	if d := diffSets(st, got); len(d) > 0 {
		t.Fatalf("safetensors differences: %v", d)
	}
}

func TestSpecSTDiTTinyMatchesFixture(t *testing.T) {
	s, shapes, buffers := stditTinySpec(t)
	got, err := s.Keys()
	if err != nil {
		t.Fatal(err)
	}
	var want []Entry
	for n, sh := range shapes {
		want = append(want, Entry{Name: n, Shape: sh})
	}
	if d := diffSets(want, got); len(d) > 0 {
		t.Fatalf("state_dict_shapes differences: %v", d)
	}
	dir := testfixtures.Path(t, "stdit_tiny")
	man := infosAsEntries(t, filepath.Join(dir, "ckpt_plain.pt.manifest.json"))
	if d := diffSets(man, got); len(d) > 0 {
		t.Fatalf("manifest differences: %v", d)
	}
	for i := range man {
		if man[i].Name != got[i].Name {
			t.Fatalf("state_dict order differs at %d: fixture %s, spec %s", i, man[i].Name, got[i].Name)
		}
	}
	isBuf := map[string]bool{}
	for _, b := range buffers {
		isBuf[b] = true
	}
	for _, e := range got {
		if e.Buffer != isBuf[e.Name] {
			t.Errorf("%s: Buffer=%v, fixture says %v", e.Name, e.Buffer, isBuf[e.Name])
		}
	}
}
