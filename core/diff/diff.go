package diff

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// Finding kinds.
const (
	Missing       = "missing"
	Unexpected    = "unexpected"
	ShapeMismatch = "shape_mismatch"
	DTypeMismatch = "dtype_mismatch"
	ValueMismatch = "value_mismatch" // a fixed table saved for another formula
)

// Finding is one difference between the checkpoint and the target.
type Finding struct {
	Kind     string   `json:"kind"`
	Key      string   `json:"key"`
	Expected any      `json:"expected"` // shape ([]int) or dtype; nil when unknown or absent
	Got      any      `json:"got"`
	Explain  string   `json:"explain"`
	Fixes    []string `json:"fixes"` // ids of plan steps that resolve it; empty when none can
}

// Result is a diff: findings, the plan, and what stays after the plan.
type Result struct {
	Target    string          `json:"target"`
	Findings  []Finding       `json:"findings"`
	Plan      []*fix.Step     `json:"plan"`
	Clean     bool            `json:"clean"`
	Remaining []Finding       `json:"remaining_after_plan"`
	Untrained []string        `json:"needs_training,omitempty"`
	Verdict   Verdict         `json:"verdict"`
	Detected  *spec.Detection `json:"-"`
	target    *Target
}

// Options tune the plan.
type Options struct {
	// KeepUnexpected keeps tensors the target does not have instead of planning a drop.
	KeepUnexpected bool
	// DType, when valid, casts floating-point tensors in the plan.
	DType tensor.DType
	// KeepDType names tensors the cast leaves in their stored dtype.
	KeepDType map[string]bool
}

// Compare lists the raw differences between ts and t (no plan).
func Compare(ts []tensor.Info, t *Target) []Finding {
	have := map[string]tensor.Info{}
	for _, in := range ts {
		have[in.Name] = in
	}
	want := map[string]bool{}
	var out []Finding
	for _, e := range t.Entries {
		want[e.Name] = true
		in, ok := have[e.Name]
		switch {
		case !ok:
			out = append(out, Finding{Kind: Missing, Key: e.Name, Expected: shapeOrNil(e.Shape)})
		case e.Shape != nil && !tensor.EqualShape(e.Shape, in.Shape):
			out = append(out, Finding{Kind: ShapeMismatch, Key: e.Name, Expected: e.Shape, Got: in.Shape})
		case t.DType != tensor.Invalid && in.DType.IsFloat() && in.DType != t.DType:
			out = append(out, Finding{Kind: DTypeMismatch, Key: e.Name, Expected: t.DType.String(), Got: in.DType.String()})
		}
	}
	for _, in := range ts {
		if !want[in.Name] {
			out = append(out, Finding{Kind: Unexpected, Key: in.Name, Got: in.Shape})
		}
	}
	return out
}

func shapeOrNil(s []int) any {
	if s == nil {
		return nil
	}
	return s
}

// Diff compares the checkpoint's weights with the target, explains every
// difference and plans the fixes.
func Diff(ts []tensor.Info, t *Target, opt Options) (*Result, error) {
	det := spec.Detect(ts)
	r := &Result{Target: t.Label, Detected: det, target: t}
	p := &planner{t: t, det: det, opt: opt, src: make(map[string]tensor.Info, len(ts))}
	for _, in := range ts {
		p.src[in.Name] = in
	}
	cur, err := fix.FromInfos(ts)
	if err != nil {
		return nil, err
	}
	if err := p.plan(cur); err != nil {
		return nil, err
	}
	r.Plan = p.steps
	r.Findings = Compare(ts, t)
	r.Findings = append(r.Findings, p.valueFindings...)
	for i := range r.Findings {
		f := &r.Findings[i]
		f.Explain = explain(f, t, det, p)
		f.Fixes = p.fixesFor(f)
	}
	after, err := fix.Apply(cur, p.steps)
	if err != nil {
		return nil, fmt.Errorf("applying the plan: %w", err)
	}
	r.Remaining = Compare(fix.Infos(after), t)
	for i := range r.Remaining {
		f := &r.Remaining[i]
		f.Explain = explain(f, t, det, p)
		f.Fixes = []string{}
		if f.Kind == Missing {
			r.Untrained = append(r.Untrained, f.Key)
		}
	}
	if r.Remaining == nil {
		r.Remaining = []Finding{}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if r.Plan == nil {
		r.Plan = []*fix.Step{}
	}
	r.Clean = len(r.Findings) == 0
	r.Verdict = judge(r, t, det, len(ts))
	return r, nil
}

// Apply runs the result's plan (or the selected steps) on the checkpoint's
// weights, returning the virtual state dict to write.
func (r *Result) Apply(ts []tensor.Info, selected []*fix.Step) ([]fix.Tensor, error) {
	cur, err := fix.FromInfos(ts)
	if err != nil {
		return nil, err
	}
	return fix.Apply(cur, selected)
}

// Select picks plan steps by id ("auto" = all, "none" = none, or a list).
// An id may be given whole ("unsqueeze:x_embedder.proj.weight") or by its
// op ("unsqueeze", selecting every step of that op).
func (r *Result) Select(ids []string) ([]*fix.Step, error) {
	if len(ids) == 0 || (len(ids) == 1 && ids[0] == "auto") {
		return r.Plan, nil
	}
	if len(ids) == 1 && ids[0] == "none" {
		return nil, nil
	}
	var out []*fix.Step
	for _, id := range ids {
		found := false
		for _, s := range r.Plan {
			if s.ID == id || s.Op == id {
				found = true
				out = appendUnique(out, s)
			}
		}
		if !found {
			var have []string
			for _, s := range r.Plan {
				have = append(have, s.ID)
			}
			return nil, fmt.Errorf("--fix %q is not in the plan (plan: %s)", id, strings.Join(have, ", "))
		}
	}
	// keep plan order
	sort.SliceStable(out, func(i, j int) bool { return r.index(out[i]) < r.index(out[j]) })
	return out, nil
}

func (r *Result) index(s *fix.Step) int {
	for i, p := range r.Plan {
		if p == s {
			return i
		}
	}
	return -1
}

func appendUnique(ss []*fix.Step, s *fix.Step) []*fix.Step {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

// errSkip marks a fix that does not apply.
var errSkip = errors.New("skip")
