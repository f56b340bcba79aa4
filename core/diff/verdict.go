package diff

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// Verdict kinds: what one comparison comes to, worst first.
const (
	// VerdictWrongFile: an error text whose "from checkpoint" shapes or
	// keys are not this file's.
	VerdictWrongFile = "wrong_file"
	// VerdictWrongFamily: another architecture; no conversion helps.
	VerdictWrongFamily = "wrong_family"
	// VerdictWrongVariant: the same family, another variant or size (Flux
	// Fill vs dev, hidden 64 vs 1152).
	VerdictWrongVariant = "wrong_variant"
	// VerdictNeedsTraining: the plan fixes everything except layers the
	// target has and the checkpoint lacks, which must be trained.
	VerdictNeedsTraining = "needs_training"
	// VerdictPartial: an error text that lists only some keys; the plan
	// resolves those, the rest are unknown.
	VerdictPartial = "partial"
	// VerdictFixable: the plan resolves every finding.
	VerdictFixable = "fixable"
	// VerdictClean: nothing to fix.
	VerdictClean = "clean"
)

// Verdict is the one-line answer a comparison leads with: its kind, the
// sentence the CLI prints first and the page shows first, and what was
// detected (Source) and compared against (Target), by preset, release
// variant or family name.
type Verdict struct {
	Kind    string `json:"kind"`
	Summary string `json:"summary"`
	Source  string `json:"source"`
	Target  string `json:"target"`
}

// Plural writes a count with its noun: "1 step", "2 steps".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	switch {
	case strings.HasSuffix(noun, "s"), strings.HasSuffix(noun, "x"):
		return fmt.Sprintf("%d %ses", n, noun)
	case strings.HasSuffix(noun, "y") && !strings.HasSuffix(noun, "ey"):
		return fmt.Sprintf("%d %sies", n, noun[:len(noun)-1])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// nameOf names what a detection found: its exact preset, else its release
// variant, else its architecture.
func nameOf(d *spec.Detection) string {
	switch {
	case d == nil || d.Family == "":
		return "an unrecognised architecture"
	case d.Preset != "":
		return d.Preset
	case d.Variant != "":
		return d.Variant
	}
	return spec.ArchName(d.Family)
}

func entriesInfos(es []spec.Entry) []tensor.Info {
	out := make([]tensor.Info, 0, len(es))
	for _, e := range es {
		out = append(out, tensor.Info{Name: e.Name, DType: tensor.F32, Shape: e.Shape})
	}
	return out
}

// targetDetection is what the target's own key list is.
func targetDetection(t *Target) *spec.Detection {
	if t.Spec != nil && t.Source != "error-text" {
		d := spec.Detect(entriesInfos(t.Entries))
		if d.Family == "" {
			d = &spec.Detection{Family: t.Spec.Family, Params: t.Spec}
		}
		return d
	}
	return spec.Detect(entriesInfos(t.Entries))
}

// targetName names what was compared against.
func targetName(t *Target, td *spec.Detection) string {
	switch t.Source {
	case "preset":
		return t.Label
	case "error-text":
		if td != nil && td.Family != "" {
			return nameOf(td)
		}
		if t.Class != "" {
			return t.Class
		}
		return "the model in the error text"
	}
	if td != nil && (td.Preset != "" || td.Variant != "") {
		if t.Source == "layout" {
			return fmt.Sprintf("%s in the %s layout", nameOf(td), spec.LayoutOf(t.Spec))
		}
		return nameOf(td)
	}
	return t.Label
}

// judge computes the verdict of a finished diff.
func judge(r *Result, t *Target, det *spec.Detection, nTensors int) Verdict {
	td := targetDetection(t)
	v := Verdict{Source: nameOf(det), Target: targetName(t, td)}
	srcArch := describeArch(det)
	switch {
	case t.WrongFile != "":
		v.Kind = VerdictWrongFile
		v.Summary = fmt.Sprintf("wrong file: this error was produced by a different checkpoint (%s) — compare this file with a preset or spec instead, or paste the error its own load printed", t.WrongFile)
		return v
	case len(r.Findings) == 0:
		v.Kind = VerdictClean
		v.Summary = fmt.Sprintf("clean: the weights match %s exactly (%s)", v.Target, Plural(len(t.Entries), "tensor"))
		return v
	}
	steps := r.Plan
	if len(r.Remaining) == 0 {
		if t.Partial {
			v.Kind = VerdictPartial
			rest := nTensors - t.Listed
			v.Summary = fmt.Sprintf("partial: the error text lists only %s (a strict=False load?) and %s %s %s; %s of this %s checkpoint %s not in the text, so whether they load is unknown — %s",
				Plural(t.Listed, "key"), Plural(len(steps), "step"), verb(len(steps), "fixes", "fix"), them(t.Listed), Plural(max(rest, 0), "other tensor"), srcArch, verb(rest, "is", "are"), compareAdvice(det))
			return v
		}
		if dropped := droppedKeys(steps); len(dropped) > 0 && siblingVariants(det, td) {
			// Flux dev into schnell: dropping guidance_in makes it load,
			// but as a model its weights were not trained to be.
			v.Kind = VerdictWrongVariant
			v.Summary = fmt.Sprintf("wrong variant: this is %s, the target is %s — another variant of the same family (this file has %s, the target has no such %s: dropping %s would make it load, but the weights were trained with %s); %s",
				v.Source, v.Target, dropped[0], verb(len(dropped), "tensor", "tensors"), Plural(len(dropped), "tensor"), them(len(dropped)), variantAdvice(det, v.Target))
			return v
		}
		v.Kind = VerdictFixable
		v.Summary = fmt.Sprintf("fixable: %s (%s) %s this %s checkpoint load as %s%s", Plural(len(steps), "step"), opsOf(steps), verb(len(steps), "makes", "make"), srcArch, v.Target, lossNote(steps))
		return v
	}
	srcG, tgtG := spec.Group(det.Family), spec.Group(td.Family)
	same := srcG != "" && srcG == tgtG
	onlyMissing := true
	for _, f := range r.Remaining {
		if f.Kind != Missing {
			onlyMissing = false
		}
	}
	reason := firstReason(r.Remaining)
	variantDiffers := siblingVariants(det, td)
	sh, sd := spec.Size(det.Params)
	th, tdd := spec.Size(td.Params)
	sizeDiffers := same && (sh > 0 && th > 0 && sh != th || sd > 0 && tdd > 0 && sd != tdd)
	switch {
	case len(det.Packed) > 0 && packedRemains(r.Remaining, det):
		v.Kind = VerdictWrongVariant
		v.Summary = fmt.Sprintf("wrong variant: this %s checkpoint's weights are packed 4-bit (%s, %s stored as uint8 with half the elements), the target %s expects full-precision tensors — dequantize it, or load it with bitsandbytes (e.g. diffusers' BitsAndBytesConfig(load_in_4bit=True))",
			srcArch, det.PackedFormat, Plural(len(det.Packed), "weight"), v.Target)
	case same && (variantDiffers || sizeDiffers || !onlyMissing):
		v.Kind = VerdictWrongVariant
		what := "another variant of the same family"
		switch {
		case sizeDiffers && variantDiffers:
			what = "another variant and " + sizeWords(sh, sd, th, tdd)
		case sizeDiffers:
			what = sizeWords(sh, sd, th, tdd)
		}
		v.Summary = fmt.Sprintf("wrong variant: this is %s, the target is %s — %s (%s); %s", v.Source, v.Target, what, reason, variantAdvice(det, v.Target))
	case onlyMissing && (same || supplied(r, t) >= 0.25):
		v.Kind = VerdictNeedsTraining
		v.Summary = fmt.Sprintf("needs training: %s the target %s has %s not in this %s checkpoint (%s) — no conversion can supply trained weights; %s %s the rest",
			Plural(len(r.Remaining), "tensor"), v.Target, verb(len(r.Remaining), "is", "are"), srcArch, missingGroups(r.Remaining), Plural(len(steps), "step"), verb(len(steps), "fixes", "fix"))
	case srcG != "" && tgtG != "" && srcG != tgtG:
		v.Kind = VerdictWrongFamily
		tgtArch := spec.ArchName(td.Family)
		sizes := ""
		if sh > 0 && th > 0 && sh != th {
			sizes = fmt.Sprintf(", hidden size %d vs %d", sh, th)
		}
		this := srcArch
		if v.Source != srcArch {
			this += " (" + v.Source + ")"
		}
		v.Summary = fmt.Sprintf("wrong family: this is %s, the target %s is %s%s — no conversion turns one into the other (%s)", this, v.Target, tgtArch, sizes, reason)
	default:
		v.Kind = VerdictWrongVariant
		v.Summary = fmt.Sprintf("wrong variant: %s %s after the plan (%s) — the target's architecture differs in a size the weights were trained with; no conversion can help", Plural(len(r.Remaining), "finding"), verb(len(r.Remaining), "remains", "remain"), reason)
	}
	return v
}

// siblingVariants reports whether the checkpoint and the target are two
// identified variants of one family (flux1-dev and flux1-schnell).
func siblingVariants(det, td *spec.Detection) bool {
	if det == nil || td == nil || det.Variant == "" || td.Variant == "" || det.Variant == td.Variant {
		return false
	}
	g := spec.Group(det.Family)
	return g != "" && g == spec.Group(td.Family)
}

// droppedKeys lists the tensors the plan's drop steps leave out.
func droppedKeys(steps []*fix.Step) []string {
	var out []string
	for _, s := range steps {
		if s.Op == "drop" {
			out = append(out, s.Keys...)
		}
	}
	return out
}

// verb picks the singular or plural form for a count.
func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// supplied is the share of the target's tensors the checkpoint provides
// after the plan.
func supplied(r *Result, t *Target) float64 {
	if len(t.Entries) == 0 {
		return 0
	}
	return 1 - float64(len(r.Remaining))/float64(len(t.Entries))
}

func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func describeArch(d *spec.Detection) string {
	if d == nil || d.Family == "" {
		return "unrecognised"
	}
	if d.Variant != "" {
		return d.Variant
	}
	return spec.ArchName(d.Family)
}

func compareAdvice(det *spec.Detection) string {
	switch {
	case det != nil && det.Preset != "":
		return fmt.Sprintf("compare the file with its detected preset (--arch %s) or the target's spec to check them", det.Preset)
	case det != nil && det.Family != "":
		return fmt.Sprintf("compare the file with the target's preset or spec (--arch / --spec; detected: %s) to check them", describeArch(det))
	}
	return "compare the file with the target's preset or spec (--arch / --spec) to check them"
}

func opsOf(steps []*fix.Step) string {
	var ops []string
	seen := map[string]bool{}
	for _, s := range steps {
		if !seen[s.Op] {
			seen[s.Op] = true
			ops = append(ops, s.Op)
		}
	}
	return strings.Join(ops, ", ")
}

func lossNote(steps []*fix.Step) string {
	n := 0
	for _, s := range steps {
		if s.Lossy && s.Op == "drop" {
			n += len(s.Keys)
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %s the target does not have are left out", Plural(n, "tensor"))
}

func packedRemains(rem []Finding, det *spec.Detection) bool {
	packed := map[string]bool{}
	for _, k := range det.Packed {
		packed[det.Prefix+k] = true
		packed[k] = true
	}
	for _, f := range rem {
		if packed[f.Key] || spec.PackedQuantState(f.Key) {
			return true
		}
	}
	return false
}

func sizeWords(sh, sd, th, td int) string {
	switch {
	case sh > 0 && th > 0 && sh != th:
		return fmt.Sprintf("another size: hidden size %d here, %d in the target", sh, th)
	case sd > 0 && td > 0 && sd != td:
		return fmt.Sprintf("another size: %s here, %d in the target", Plural(sd, "block"), td)
	}
	return "another size"
}

// firstReason words the first finding no step resolves.
func firstReason(rem []Finding) string {
	if len(rem) == 0 {
		return ""
	}
	order := map[string]int{ShapeMismatch: 0, Unexpected: 1, Missing: 2, DTypeMismatch: 3, ValueMismatch: 4}
	fs := append([]Finding(nil), rem...)
	sort.SliceStable(fs, func(i, j int) bool { return order[fs[i].Kind] < order[fs[j].Kind] })
	f := fs[0]
	more := ""
	if len(rem) > 1 {
		more = fmt.Sprintf(", and %d more", len(rem)-1)
	}
	switch f.Kind {
	case ShapeMismatch:
		return fmt.Sprintf("%s is %s here, %s in the target%s", f.Key, shapeStr(f.Got), shapeStr(f.Expected), more)
	case Missing:
		return fmt.Sprintf("the target has %s, this file does not%s", f.Key, more)
	case Unexpected:
		return fmt.Sprintf("this file has %s, the target does not%s", f.Key, more)
	}
	return fmt.Sprintf("%s: %s%s", strings.ReplaceAll(f.Kind, "_", " "), f.Key, more)
}

func shapeStr(v any) string {
	if s, ok := v.([]int); ok {
		return tensor.FormatShape(s)
	}
	return fmt.Sprint(v)
}

// missingGroups summarises missing keys by module ("blocks.N.attn_temp",
// block indices folded).
func missingGroups(rem []Finding) string {
	count := map[string]int{}
	var order []string
	for _, f := range rem {
		k := foldIndices(moduleOf(f.Key))
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	var parts []string
	for i, k := range order {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more modules", len(order)-3))
			break
		}
		parts = append(parts, k)
	}
	return "e.g. " + strings.Join(parts, ", ")
}

func moduleOf(key string) string {
	for _, s := range []string{".weight", ".bias", ".scale"} {
		key = strings.TrimSuffix(key, s)
	}
	return key
}

// foldIndices writes numeric path components as N.
func foldIndices(key string) string {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			parts[i] = "N"
		}
	}
	return strings.Join(parts, ".")
}

// variantAdvice says what loads the checkpoint's own variant.
func variantAdvice(det *spec.Detection, target string) string {
	if det != nil && det.Variant != "" {
		if _, loads, ok := spec.VariantInfo(det.Variant); ok {
			return fmt.Sprintf("load it as %s: %s", det.Variant, loads)
		}
	}
	if det != nil && det.Preset != "" {
		return fmt.Sprintf("compare it with its own preset (--arch %s) instead", det.Preset)
	}
	return "pick the target that matches the checkpoint (ditkit inspect shows what it is); no conversion changes learned sizes"
}
