package diff

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
)

// Group is the findings that share a cause: one kind and one explanation
// (the CLI prints each group once, the page shows it collapsed), in the
// order the first of them was found.
type Group struct {
	Kind    string
	Explain string
	// Lines are the findings as the CLI words them ("KEY: expected [..],
	// got [..]", "KEY [shape]"), Keys their keys.
	Lines, Keys []string
	// Fixes are the ids of the plan steps that resolve them (none: no
	// conversion can).
	Fixes []string
}

// CountsText is the findings' count line the CLI and the page print:
// "556 findings: 24 shape mismatch, 525 missing, 7 unexpected".
func CountsText(findings []Finding) string {
	counts := map[string]int{}
	for _, f := range findings {
		counts[f.Kind]++
	}
	var parts []string
	for _, k := range []string{ShapeMismatch, Missing, Unexpected, DTypeMismatch, ValueMismatch} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], KindLabel(k)))
		}
	}
	return Plural(len(findings), "finding") + ": " + strings.Join(parts, ", ")
}

// FindingsRemain is "1 finding remains", "2 findings remain".
func FindingsRemain(n int) string {
	if n == 1 {
		return "1 finding remains"
	}
	return Plural(n, "finding") + " remain"
}

// KindLabel is a finding kind as the CLI and page write it
// ("shape mismatch").
func KindLabel(kind string) string { return strings.ReplaceAll(kind, "_", " ") }

// GroupByCause groups findings that share a kind and an explanation.
func GroupByCause(findings []Finding) []Group {
	var out []Group
	idx := map[string]int{}
	for _, f := range findings {
		k := f.Kind + "\x00" + f.Explain
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Group{Kind: f.Kind, Explain: f.Explain})
		}
		g := &out[i]
		g.Lines = append(g.Lines, FindingLine(f))
		g.Keys = append(g.Keys, f.Key)
		for _, id := range f.Fixes {
			if !slices.Contains(g.Fixes, id) {
				g.Fixes = append(g.Fixes, id)
			}
		}
	}
	return out
}

// FindingLine words one finding as the CLI lists it: the key, then the
// shapes (expected and got for a mismatch, the one side otherwise).
func FindingLine(f Finding) string {
	switch f.Kind {
	case ShapeMismatch:
		return fmt.Sprintf("%s: expected %s, got %s", f.Key, valueStr(f.Expected), valueStr(f.Got))
	case Missing:
		return f.Key + " " + valueStr(f.Expected)
	case Unexpected:
		return f.Key + " " + valueStr(f.Got)
	}
	return fmt.Sprintf("%s: expected %v, got %v", f.Key, f.Expected, f.Got)
}

// FixText is a group's "fix:" line: the step ids (shortened past 160
// characters), or that no conversion can supply it.
func (g Group) FixText() string {
	if len(g.Fixes) == 0 {
		return "none — no conversion can supply this"
	}
	fix := strings.Join(g.Fixes, ", ")
	if len(fix) > 160 {
		fix = fmt.Sprintf("%s … (%d fixes)", g.Fixes[0], len(g.Fixes))
	}
	return fix
}

func valueStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case []int:
		return tensor.FormatShape(x)
	case []any: // a shape read back from JSON
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
