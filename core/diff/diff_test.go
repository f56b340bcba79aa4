package diff_test

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func weights(t *testing.T, rel string) []tensor.Info {
	t.Helper()
	ck, f, err := loader.OpenFile(fixtures.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tensor.Info
	for _, w := range ck.Weights() {
		out = append(out, w.Info())
	}
	return out
}

func target(t *testing.T, model string) *diff.Target {
	t.Helper()
	s, err := spec.Parse(fixtures.SpecJSON(t, model))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := diff.SpecTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func run(t *testing.T, rel string, tg *diff.Target) *diff.Result {
	t.Helper()
	r, err := diff.Diff(weights(t, rel), tg, diff.Options{})
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return r
}

func find(r *diff.Result, kind, key string) *diff.Finding {
	for i := range r.Findings {
		if r.Findings[i].Kind == kind && r.Findings[i].Key == key {
			return &r.Findings[i]
		}
	}
	return nil
}

func hasFix(f *diff.Finding, op string) bool {
	for _, id := range f.Fixes {
		if strings.HasPrefix(id, op+":") || id == op {
			return true
		}
	}
	return false
}

// appliedClean applies the plan in memory and diffs again.
func appliedClean(t *testing.T, rel string, tg *diff.Target, r *diff.Result) []diff.Finding {
	t.Helper()
	out, err := r.Apply(weights(t, rel), r.Plan)
	if err != nil {
		t.Fatal(err)
	}
	return diff.Compare(fix.Infos(out), tg)
}

func TestOwnSpecIsClean(t *testing.T) {
	for _, rel := range []string{"dit_A/ckpt_plain.pt", "dit_A/ckpt_train.pt", "dit_A/ckpt_legacy.pt", "dit_A/ckpt.safetensors", "dit_A/ckpt_fp16.pt", "dit_A/ckpt_bf16.safetensors"} {
		r := run(t, rel, target(t, "dit_A"))
		if !r.Clean || len(r.Findings) != 0 || len(r.Plan) != 0 {
			t.Errorf("%s vs its own spec: clean=%v findings=%v plan=%d", rel, r.Clean, r.Findings, len(r.Plan))
		}
	}
	r := run(t, "stdit_tiny/ckpt_plain.pt", target(t, "stdit_tiny"))
	if !r.Clean {
		t.Errorf("stdit_tiny vs its spec: %v", r.Findings)
	}
}

func TestDiTIntoSTDiT(t *testing.T) {
	tg := target(t, "stdit_tiny")
	r := run(t, "dit_A/ckpt_plain.pt", tg)
	f := find(r, diff.ShapeMismatch, "x_embedder.proj.weight")
	if f == nil {
		t.Fatalf("no shape finding for x_embedder.proj.weight: %+v", r.Findings)
	}
	if tensor.FormatShape(f.Expected.([]int)) != "[64, 4, 1, 2, 2]" || tensor.FormatShape(f.Got.([]int)) != "[64, 4, 2, 2]" {
		t.Errorf("expected/got: %v %v", f.Expected, f.Got)
	}
	if !hasFix(f, "unsqueeze") || !strings.Contains(f.Explain, "Conv3d") {
		t.Errorf("fix/explain: %v %q", f.Fixes, f.Explain)
	}
	// the pos_embed story: DiT's table is not STDiT's
	if v := find(r, diff.ValueMismatch, "pos_embed"); v == nil || !hasFix(v, "regenerate") {
		t.Errorf("pos_embed story missing: %+v", v)
	}
	if m := find(r, diff.Missing, "pos_embed_temporal"); m == nil || !hasFix(m, "regenerate") {
		t.Errorf("pos_embed_temporal: %+v", m)
	}
	// Temporal attention and cross-attention must be trained: said plainly.
	m := find(r, diff.Missing, "blocks.0.attn_temp.qkv.weight")
	if m == nil || len(m.Fixes) != 0 || !strings.Contains(m.Explain, "trained") {
		t.Errorf("attn_temp finding: %+v", m)
	}
	rest := appliedClean(t, "dit_A/ckpt_plain.pt", tg, r)
	for _, f := range rest {
		if f.Kind != diff.Missing {
			t.Errorf("after the plan: %+v", f)
		}
	}
	// exactly what Open-Sora's strict=False load reports as missing, less what we regenerate
	var lm struct {
		Case struct {
			Missing []string `json:"missing_keys"`
		} `json:"dit_A_stdit_layout_into_stdit_strict_false"`
	}
	b, _ := os.ReadFile(fixtures.Path(t, "stdit_tiny/load_mismatch.json"))
	json.Unmarshal(b, &lm)
	want := map[string]bool{}
	for _, k := range lm.Case.Missing {
		if k != "pos_embed" && k != "pos_embed_temporal" {
			want[k] = true
		}
	}
	got := map[string]bool{}
	for _, k := range r.Untrained {
		got[k] = true
	}
	if len(want) == 0 || len(got) != len(want) {
		t.Errorf("needs training: %d keys, torch says %d missing", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Errorf("%s should need training", k)
		}
	}
}

func TestSTDiTLayoutIntoDiT(t *testing.T) {
	tg := target(t, "dit_A")
	r := run(t, "dit_A/ckpt_stdit_layout.pt", tg)
	f := find(r, diff.ShapeMismatch, "x_embedder.proj.weight")
	if f == nil || !hasFix(f, "squeeze") {
		t.Fatalf("squeeze finding: %+v", r.Findings)
	}
	m := find(r, diff.Missing, "pos_embed")
	if m == nil || !hasFix(m, "regenerate") || tensor.FormatShape(m.Expected.([]int)) != "[1, 16, 64]" {
		t.Fatalf("pos_embed: %+v", m)
	}
	if len(r.Findings) != 2 {
		t.Errorf("findings: %+v", r.Findings)
	}
	if rest := appliedClean(t, "dit_A/ckpt_stdit_layout.pt", tg, r); len(rest) != 0 {
		t.Errorf("after the plan: %+v", rest)
	}
}

func TestDDPPrefix(t *testing.T) {
	tg := target(t, "dit_A")
	r := run(t, "dit_A/ckpt_ddp.pt", tg)
	if len(r.Plan) != 1 || r.Plan[0].Op != "strip-prefix" || r.Plan[0].Params["prefix"] != "module." {
		t.Fatalf("plan: %+v", r.Plan)
	}
	for _, f := range r.Findings {
		if !hasFix(&f, "strip-prefix") {
			t.Errorf("finding without the prefix fix: %+v", f)
		}
	}
	if rest := appliedClean(t, "dit_A/ckpt_ddp.pt", tg, r); len(rest) != 0 {
		t.Errorf("after the plan: %+v", rest)
	}
	if m := find(r, diff.Missing, "pos_embed"); m == nil || !strings.Contains(m.Explain, "DistributedDataParallel") {
		t.Errorf("explain: %+v", m)
	}
}

type matrixCase struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// Every error text in load_matrix.json, given as the target, yields the
// same findings as the spec diff.
func TestErrorTextMatchesSpecDiff(t *testing.T) {
	var lm map[string]matrixCase
	b, _ := os.ReadFile(fixtures.Path(t, "dit_A/load_matrix.json"))
	if err := json.Unmarshal(b, &lm); err != nil {
		t.Fatal(err)
	}
	n := 0
	for file, c := range lm {
		if c.OK {
			continue
		}
		n++
		rel := "dit_A/" + file
		ws := weights(t, rel)
		tg, err := diff.ErrorTextTarget(c.Error, ws, nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		re, err := diff.Diff(ws, tg, diff.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rs := run(t, rel, target(t, "dit_A"))
		if a, b := kinds(re.Findings), kinds(rs.Findings); a != b {
			t.Errorf("%s: error-text findings\n%s\nspec findings\n%s", file, a, b)
		}
		for _, f := range re.Findings {
			// A deleted position table's size is in neither the text nor
			// the checkpoint: say so, and size it from a spec hint.
			if len(f.Fixes) == 0 && !(f.Key == "pos_embed" && strings.Contains(f.Explain, "--spec")) {
				t.Errorf("%s: error-text finding without a fix: %+v", file, f)
			}
		}
		hinted, err := diff.ErrorTextTarget(c.Error, ws, target(t, "dit_A").Spec)
		if err != nil {
			t.Fatal(err)
		}
		rh, _ := diff.Diff(ws, hinted, diff.Options{})
		for _, f := range rh.Findings {
			if len(f.Fixes) == 0 {
				t.Errorf("%s with a spec hint: finding without a fix: %+v", file, f)
			}
		}
		if rest := appliedClean(t, rel, hinted, rh); len(rest) != 0 {
			t.Errorf("%s: after the error-text plan: %+v", file, rest)
		}
	}
	if n < 2 {
		t.Fatalf("only %d failing cases in load_matrix.json", n)
	}
	// STDiT's message about a DiT checkpoint
	var lmm map[string]matrixCase
	b, _ = os.ReadFile(fixtures.Path(t, "stdit_tiny/load_mismatch.json"))
	json.Unmarshal(b, &lmm)
	ws := weights(t, "dit_A/ckpt_plain.pt")
	tg, err := diff.ErrorTextTarget(lmm["dit_A_plain_into_stdit_strict_false"].Error, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := diff.Diff(ws, tg, diff.Options{})
	f := find(r, diff.ShapeMismatch, "x_embedder.proj.weight")
	if f == nil || !hasFix(f, "unsqueeze") || tg.Class != "STDiT" {
		t.Errorf("STDiT error text: %+v class %q", r.Findings, tg.Class)
	}
}

func kinds(fs []diff.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Kind+" "+f.Key)
	}
	sort.Strings(s)
	return strings.Join(s, "\n")
}

func TestParseLoadErrorRejectsNoise(t *testing.T) {
	for _, txt := range []string{"", "hello", "RuntimeError: CUDA out of memory"} {
		if _, err := diff.ParseLoadError(txt); err == nil {
			t.Errorf("%q parsed", txt)
		}
	}
	le, err := diff.ParseLoadError("Error(s) in loading state_dict for Foo:\n\tsize mismatch for a.b: copying a param with shape torch.Size([2, 3]) from checkpoint, the shape in current model is torch.Size([2, 3, 1]).\n\tMissing key(s) in state_dict: \"x\", \"y\\\"z\". ")
	if err != nil || le.Class != "Foo" || len(le.Missing) != 2 || le.Missing[1] != `y"z` || tensor.FormatShape(le.Sizes["a.b"][1]) != "[2, 3, 1]" {
		t.Errorf("parse: %+v %v", le, err)
	}
}

func TestCastPlan(t *testing.T) {
	r, err := diff.Diff(weights(t, "dit_A/ckpt_plain.pt"), target(t, "dit_A"), diff.Options{DType: tensor.BF16})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Plan) != 1 || r.Plan[0].Op != "cast" {
		t.Fatalf("plan %+v", r.Plan)
	}
	out, _ := r.Apply(weights(t, "dit_A/ckpt_plain.pt"), r.Plan)
	for _, o := range out {
		if o.DType != tensor.BF16 {
			t.Errorf("%s stays %v", o.Name, o.DType)
		}
	}
}
