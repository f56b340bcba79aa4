package diff

import (
	"reflect"
	"testing"
)

func TestGroupByCauseKeepsOrderAndFixes(t *testing.T) {
	fs := []Finding{
		{Kind: ShapeMismatch, Key: "a", Expected: []int{2, 1}, Got: []int{2}, Explain: "x", Fixes: []string{"unsqueeze:a"}},
		{Kind: Missing, Key: "m", Expected: []int{3}, Explain: "y"},
		{Kind: ShapeMismatch, Key: "b", Expected: []any{float64(4)}, Got: []int{5}, Explain: "x", Fixes: []string{"unsqueeze:b", "unsqueeze:a"}},
		{Kind: Unexpected, Key: "u", Got: []int{1}, Explain: "y"},
		{Kind: DTypeMismatch, Key: "d", Expected: "BF16", Got: "F32", Explain: "z"},
	}
	gs := GroupByCause(fs)
	if len(gs) != 4 {
		t.Fatalf("%d groups: %+v", len(gs), gs)
	}
	if want := []string{"a: expected [2, 1], got [2]", "b: expected [4], got [5]"}; !reflect.DeepEqual(gs[0].Lines, want) || !reflect.DeepEqual(gs[0].Keys, []string{"a", "b"}) {
		t.Errorf("group 0 %+v", gs[0])
	}
	if !reflect.DeepEqual(gs[0].Fixes, []string{"unsqueeze:a", "unsqueeze:b"}) || gs[0].FixText() != "unsqueeze:a, unsqueeze:b" {
		t.Errorf("fixes %v %q", gs[0].Fixes, gs[0].FixText())
	}
	if gs[1].Lines[0] != "m [3]" || gs[2].Lines[0] != "u [1]" || gs[3].Lines[0] != "d: expected BF16, got F32" {
		t.Errorf("lines %q %q %q", gs[1].Lines, gs[2].Lines, gs[3].Lines)
	}
	if gs[1].FixText() != "none — no conversion can supply this" || KindLabel(ShapeMismatch) != "shape mismatch" {
		t.Errorf("%q %q", gs[1].FixText(), KindLabel(ShapeMismatch))
	}
	if got := CountsText(fs); got != "5 findings: 2 shape mismatch, 1 missing, 1 unexpected, 1 dtype mismatch" {
		t.Errorf("counts %q", got)
	}
	if FindingsRemain(1) != "1 finding remains" || FindingsRemain(3) != "3 findings remain" {
		t.Error(FindingsRemain(1), FindingsRemain(3))
	}
	long := Group{Fixes: make([]string, 40)}
	for i := range long.Fixes {
		long.Fixes[i] = "regenerate:blocks.0.something"
	}
	if got := long.FixText(); got != "regenerate:blocks.0.something … (40 fixes)" {
		t.Errorf("long fix %q", got)
	}
}
