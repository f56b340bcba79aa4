package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// TargetRequest names a target the way the CLI flags and window.ditkit do:
// exactly one of Arch (a preset), Spec (spec JSON) or ErrorText.
type TargetRequest struct {
	Arch      string          `json:"arch,omitempty"`
	Spec      json.RawMessage `json:"spec,omitempty"`
	ErrorText string          `json:"errorText,omitempty"`
	// Layout ("original", "diffusers", "comfyui") targets the checkpoint's
	// own detected network in another layout (convert --layout).
	Layout string `json:"layout,omitempty"`
}

// ErrNoTarget is returned when a request names no target.
var ErrNoTarget = errors.New("no target: give --arch PRESET, --spec SPEC.json or --error-text ERR.txt")

// Target resolves a request against the checkpoint's weights.
func (r TargetRequest) Target(weights []tensor.Info) (*diff.Target, error) {
	if r.Layout != "" {
		if r.Arch != "" || len(r.Spec) > 0 || r.ErrorText != "" {
			return nil, errors.New("--layout converts the checkpoint's own architecture: give it without --arch, --spec or --error-text")
		}
		return diff.LayoutTarget(weights, r.Layout)
	}
	if r.ErrorText != "" {
		// --arch or --spec beside --error-text sizes what the text does not show.
		var hint *spec.Spec
		var err error
		if r.Arch != "" {
			hint, err = spec.Preset(r.Arch)
		} else if len(r.Spec) > 0 {
			hint, err = spec.Parse(r.Spec)
		}
		if err != nil {
			return nil, err
		}
		return diff.ErrorTextTarget(r.ErrorText, weights, hint)
	}
	n := 0
	for _, set := range []bool{r.Arch != "", len(r.Spec) > 0} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, ErrNoTarget
	case n > 1:
		return nil, errors.New("give only one of --arch and --spec")
	case r.Arch != "":
		return diff.PresetTarget(r.Arch)
	}
	s, err := spec.Parse(r.Spec)
	if err != nil {
		return nil, err
	}
	return diff.SpecTarget(s)
}

// Diff is the document `ditkit diff --json` prints.
type Diff struct {
	File        string         `json:"file"`
	Target      string         `json:"target"`
	TargetInfo  targetInfo     `json:"target_info"`
	WeightsRoot string         `json:"weights_root"`
	Findings    []diff.Finding `json:"findings"`
	Plan        []*fix.Step    `json:"plan"`
	Clean       bool           `json:"clean"`
	// Remaining are the findings left after applying the whole plan;
	// NeedsTraining the keys no conversion can supply.
	Remaining     []diff.Finding `json:"remaining_after_plan"`
	NeedsTraining []string       `json:"needs_training"`
	Counts        map[string]int `json:"counts"`
	Safety        Safety         `json:"safety"`
	Detected      *Detected      `json:"detected,omitempty"`
	// Verdict is the one line the comparison comes to (kind clean,
	// fixable, needs_training, wrong_variant, wrong_family, wrong_file or
	// partial); the CLI prints its summary first.
	Verdict diff.Verdict `json:"verdict"`
	// GGUFRestored lists GGUF tensors whose stored shape was restored
	// (stored as … in GGUF, restored to …) with the evidence; Warnings
	// what the target would get wrong (scaled fp8 scales it ignores).
	GGUFRestored []loader.GGUFRestoration `json:"gguf_restored,omitempty"`
	Warnings     []string                 `json:"warnings,omitempty"`
}

type targetInfo struct {
	Source string          `json:"source"` // preset, spec, error-text
	Family string          `json:"family,omitempty"`
	Class  string          `json:"class,omitempty"`
	Spec   json.RawMessage `json:"spec,omitempty"`
	DType  string          `json:"dtype,omitempty"`
}

// DiffOptions mirror the CLI flags.
type DiffOptions struct {
	DType          tensor.DType // cast in the plan (Invalid: keep)
	KeepUnexpected bool
	FP8Semantics   quant.ScaleSemantics // how scaled fp8 weights round when cast to 16 bits
}

// BuildDiff diffs the checkpoint's weights root against the target.
func BuildDiff(ck *loader.Checkpoint, req TargetRequest, opt DiffOptions) (*Diff, *diff.Result, error) {
	restored := RestoreGGUF(ck, req) // GGUF shapes a spec confirms (gguf.go)
	ws := ck.Infos()
	if len(ws) == 0 {
		return nil, nil, fmt.Errorf("%s: no tensors under the weights root %q", ck.Name, ck.WeightsRoot)
	}
	fp8Step, ws, fp8, err := FP8Scales(ck, ws, opt.DType, opt.FP8Semantics) // fp8.go
	if err != nil {
		return nil, nil, err
	}
	tg, err := req.Target(ws)
	if err != nil {
		return nil, nil, err
	}
	res, err := diff.Diff(ws, tg, diff.Options{DType: opt.DType, KeepUnexpected: opt.KeepUnexpected})
	if err != nil {
		return nil, nil, err
	}
	plan := res.Plan
	if fp8Step != nil {
		plan = append([]*fix.Step{fp8Step}, plan...)
	}
	if ck.WeightsRoot != "" {
		plan = append([]*fix.Step{fix.Unwrap(ck.WeightsRoot, ck.Alternatives)}, plan...)
	}
	d := &Diff{
		File: ck.Name, Target: tg.Label, WeightsRoot: ck.WeightsRoot, Findings: res.Findings, Plan: plan,
		Clean: res.Clean, Remaining: res.Remaining, NeedsTraining: res.Untrained, Safety: SafetyOf(ck),
		Counts: map[string]int{}, Detected: detected(res.Detected),
		TargetInfo: targetInfo{Source: tg.Source, Class: tg.Class}, Verdict: res.Verdict,
		GGUFRestored: restored, Warnings: fp8Warnings(fp8, tg, fp8Step != nil),
	}
	if d.NeedsTraining == nil {
		d.NeedsTraining = []string{}
	}
	if tg.Spec != nil && (tg.Source != "error-text" || tg.Spec != res.Detected.Params) {
		d.TargetInfo.Family = tg.Spec.Family
		d.TargetInfo.Spec, _ = json.Marshal(tg.Spec)
	}
	if tg.DType != tensor.Invalid {
		d.TargetInfo.DType = tg.DType.String()
	}
	for _, f := range res.Findings {
		d.Counts[f.Kind]++
	}
	return d, res, nil
}

// Detected is the architecture detection shown by inspect and diff.
type Detected struct {
	Family        string          `json:"family"`
	Version       string          `json:"version,omitempty"`
	Prefix        string          `json:"prefix,omitempty"`
	Preset        string          `json:"preset,omitempty"`
	ClosestPreset string          `json:"closest_preset,omitempty"`
	Params        json.RawMessage `json:"params,omitempty"`
	Evidence      []string        `json:"evidence"`
	Ambiguous     []string        `json:"ambiguous"`
	// Ambiguities are Ambiguous structured: param, value used, source,
	// reason and whether the value is a guess.
	Ambiguities []spec.Ambiguity `json:"ambiguities"`
	Confidence  float64          `json:"confidence"`
	// Variant is the release variant the shapes identify (flux1-fill-dev,
	// wan2.1-i2v, sd3.5-medium, …; for other configurations the nearest);
	// Layout is original, diffusers or comfyui.
	Variant string `json:"variant,omitempty"`
	Layout  string `json:"layout,omitempty"`
	// Components are networks bundled beside this one in a single file;
	// Packed the weights stored packed 4-bit (PackedFormat says how).
	Components   []spec.Component `json:"components,omitempty"`
	Packed       []string         `json:"packed,omitempty"`
	PackedFormat string           `json:"packed_format,omitempty"`
}

func detected(d *spec.Detection) *Detected {
	if d == nil || d.Family == "" {
		if d != nil && d.Version != "" {
			return &Detected{Version: d.Version, Evidence: nonNil(d.Evidence), Ambiguous: nonNil(d.Ambiguous), Ambiguities: []spec.Ambiguity{}}
		}
		return nil
	}
	out := &Detected{Family: d.Family, Version: d.Version, Prefix: d.Prefix, Preset: d.Preset, ClosestPreset: d.ClosestPreset,
		Evidence: nonNil(d.Evidence), Ambiguous: nonNil(d.Ambiguous), Ambiguities: d.Ambiguities, Confidence: d.Confidence,
		Variant: d.Variant, Layout: d.Layout, Components: d.Components, Packed: d.Packed, PackedFormat: d.PackedFormat}
	if out.Ambiguities == nil {
		out.Ambiguities = []spec.Ambiguity{}
	}
	if d.Params != nil {
		out.Params, _ = json.Marshal(d.Params)
	}
	// A single file's spec and preset are the comfyui layout's, so the
	// detected spec given back as --spec reproduces the file's keys.
	if d.Layout == spec.LayoutComfyUI && d.Params != nil {
		if s, err := spec.ToLayout(d.Params, spec.LayoutComfyUI); err == nil {
			out.Params, _ = json.Marshal(s)
			if p := spec.PresetInLayout(d.Preset, spec.LayoutComfyUI); p != "" {
				out.Preset = p
			}
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Detect runs architecture detection on the checkpoint's weights root.
func Detect(ck *loader.Checkpoint) *Detected {
	return detected(spec.Detect(ck.Infos()))
}

// ParseFixes splits a --fix value: "auto", "none" or "ID,ID".
func ParseFixes(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return []string{"auto"}
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
