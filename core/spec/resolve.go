package spec

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
)

// Ambiguity is one hyperparameter that a checkpoint's shapes do not decide,
// with the value detection used and where that value came from.
type Ambiguity struct {
	Param string `json:"param"`
	Value any    `json:"value"`
	// Source is where Value came from: "preset NAME" (the key list equals
	// a preset's), "published table: …" (a published configuration of the
	// same family has this size), "upstream default: …" (what every
	// released model of the family uses), "given" (the user set it) or
	// "default" (nothing published backs it).
	Source string `json:"source"`
	Reason string `json:"reason"`
	// Guess is true when nothing published backs Value (Source "default"):
	// a wrong value silently changes what the model computes. The CLI
	// refuses guesses (Resolution.Require); the page shows them as guesses.
	Guess bool `json:"guess"`
}

func (a Ambiguity) line() string {
	return fmt.Sprintf("%s: %s; using %v (%s)", a.Param, a.Reason, formatAny(a.Value), a.Source)
}

func formatAny(v any) string {
	if s, ok := v.([]int); ok {
		return tensor.FormatShape(s)
	}
	return fmt.Sprint(v)
}

// ambiguity records a structured ambiguity and its text line.
func (x *detector) ambiguity(a Ambiguity) {
	if a.Guess && a.Source == "" {
		a.Source = "default"
	}
	x.d.Ambiguities = append(x.d.Ambiguities, a)
	x.d.Ambiguous = append(x.d.Ambiguous, a.line())
}

// heads records the head count shapes cannot show: the published value
// when a preset of the family has hidden size h, else the default guess.
func (x *detector) heads(h int) { x.headsAs(h, "num_heads") }

// headsAs is heads for a family whose head-count field is named field.
func (x *detector) headsAs(h int, field string) {
	nh := defaultHeads(h)
	x.p[field] = nh
	a := Ambiguity{Param: field, Value: nh,
		Reason: fmt.Sprintf("not visible in the shapes (qkv is [3H, H] for any head count, H = %d)", h)}
	if p := publishedWith(x.fam, "hidden_size", h, field, nh); p != "" {
		a.Source = fmt.Sprintf("published table: preset %s has hidden_size %d with %d heads", p, h, nh)
	} else {
		a.Guess = true
		a.Reason += fmt.Sprintf("; no published %s configuration has hidden_size %d", x.fam, h)
	}
	x.ambiguity(a)
}

// publishedWith names the first preset of family fam whose key param
// equals v and whose param other equals w ("" if none).
func publishedWith(fam, key string, v int, other string, w int) string {
	for _, p := range presets {
		if p.Family != fam {
			continue
		}
		s, err := New(p.Family, p.params)
		if err == nil && s.Int(key) == v && s.Int(other) == w {
			return p.Name
		}
	}
	return ""
}

// settleByPreset marks every ambiguity as settled by the preset whose key
// list the checkpoint matches exactly (its values are the preset's).
func settleByPreset(d *Detection) {
	for i := range d.Ambiguities {
		a := &d.Ambiguities[i]
		if v, ok := d.Params.Get(a.Param); ok {
			a.Value = v
		}
		a.Source, a.Guess = "preset "+d.Preset, false
	}
}

// Request is what a consumer knows about a checkpoint's architecture
// besides its tensor list.
type Request struct {
	// Target is the architecture the user named (--arch or --spec on the
	// CLI, {arch} or {spec} in window.ditkit, a preset on the page); nil
	// means: detect it from the shapes.
	Target *Spec
	// Set holds values the user gave for parameters the shapes do not
	// decide ("num_heads" from --heads). They apply to a detected spec;
	// a named Target already says everything.
	Set map[string]any
}

// Resolution is the runnable architecture of a checkpoint: what every
// consumer (CLI, page, window.ditkit) builds a model from.
type Resolution struct {
	Spec *Spec
	// Prefix is the wrapper prefix of the checkpoint's tensor names
	// ("module.", "model.diffusion_model.", …), found by detection; tensor
	// names in Spec's key list are read as Prefix + name.
	Prefix string
	// From says where Spec came from: "preset NAME", "spec", "detected
	// (key list of preset NAME)" or "detected".
	From string
	// Ambiguous lists what the shapes did not decide and how each value
	// was settled (empty for a named Target).
	Ambiguous []Ambiguity
	Detection *Detection
}

// ErrNotRecognised is returned by Resolve when detection finds no
// supported family and no target was named.
var ErrNotRecognised = errors.New("architecture not recognised from the tensor names and shapes")

// Resolve decides the architecture a checkpoint is run with: the named
// target, else detection plus the values the user set. It always runs
// detection for the key prefix.
func Resolve(infos []tensor.Info, req Request) (*Resolution, error) {
	d := Detect(infos)
	r := &Resolution{Prefix: d.Prefix, Detection: d}
	if req.Target != nil {
		r.Spec = req.Target
		r.From = "spec"
		if req.Target.preset != "" {
			r.From = "preset " + req.Target.preset
		}
		return r, nil
	}
	if d.Family == "" {
		why := d.Version
		if why == "" && len(d.Evidence) > 0 {
			why = d.Evidence[len(d.Evidence)-1]
		}
		return nil, fmt.Errorf("%w (%s)", ErrNotRecognised, why)
	}
	if d.Params == nil {
		return nil, fmt.Errorf("%s: %s", d.Family, d.Evidence[len(d.Evidence)-1])
	}
	r.Spec, r.From = d.Params, "detected"
	if d.Preset != "" {
		r.From = "detected (key list of preset " + d.Preset + ")"
	}
	r.Ambiguous = append([]Ambiguity(nil), d.Ambiguities...)
	names := make([]string, 0, len(req.Set))
	for k := range req.Set {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s, err := r.Spec.With(k, req.Set[k])
		if err != nil {
			return nil, err
		}
		r.Spec = s
		found := false
		for i := range r.Ambiguous {
			if a := &r.Ambiguous[i]; a.Param == k {
				a.Value, a.Source, a.Guess, found = req.Set[k], "given", false, true
			}
		}
		if !found {
			r.Ambiguous = append(r.Ambiguous, Ambiguity{Param: k, Value: req.Set[k], Source: "given", Reason: "set by the user"})
		}
	}
	return r, nil
}

// Guesses returns the ambiguities nothing published settles.
func (r *Resolution) Guesses() []Ambiguity {
	var out []Ambiguity
	for _, a := range r.Ambiguous {
		if a.Guess {
			out = append(out, a)
		}
	}
	return out
}

// Require is the strict policy (the CLI's and window.ditkit's): a detected
// value backed by a preset, a published table or the family's universal
// default is used; a guess is refused with an error that names how to
// settle it: flags maps a parameter to its flag (e.g. "num_heads" →
// "--heads"); parameters without one are settled by naming the
// architecture (fallback, e.g. "--arch or --spec").
func (r *Resolution) Require(flags map[string]string, fallback string) error {
	var msgs []string
	for _, a := range r.Guesses() {
		how, ok := flags[a.Param]
		if !ok {
			how = fallback
		}
		msgs = append(msgs, fmt.Sprintf("%s: %s (the guess would be %v): give %s", a.Param, a.Reason, formatAny(a.Value), how))
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}
