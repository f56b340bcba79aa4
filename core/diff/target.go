package diff

import (
	"fmt"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// Target is the state dict a model expects.
type Target struct {
	Label   string       // preset name, spec description, or "error text (DiT)"
	Source  string       // "preset", "spec" or "error-text"
	Spec    *spec.Spec   // the architecture (for error text: the detected one, when any)
	Entries []spec.Entry // expected keys in state_dict order; Shape nil when unknown
	DType   tensor.DType // expected float dtype; Invalid accepts any
	// Class is the model class named by an error text ("DiT", "STDiT").
	Class string
	// WrongFile, for an error text, says why the text cannot come from
	// loading this checkpoint ("" when it can).
	WrongFile string
	// Partial marks an error text that lists only size mismatches (a
	// strict=False load): keys it does not name are unknown. Listed is
	// how many keys it names.
	Partial bool
	Listed  int

	index map[string]int // Entries by name (built on first lookup)
}

// PresetTarget is a named preset.
func PresetTarget(name string) (*Target, error) {
	s, err := spec.Preset(name)
	if err != nil {
		return nil, err
	}
	t, err := SpecTarget(s)
	if err != nil {
		return nil, err
	}
	t.Source = "preset"
	return t, nil
}

// SpecTarget is a parsed spec. A "dtype" field in the spec, when set, is
// the expected float dtype.
func SpecTarget(s *spec.Spec) (*Target, error) {
	es, err := s.Keys()
	if err != nil {
		return nil, err
	}
	t := &Target{Label: s.Name(), Source: "spec", Spec: s, Entries: es}
	if v, ok := s.Get("dtype"); ok {
		if str, ok := v.(string); ok && str != "" {
			dt, err := tensor.ParseDType(str)
			if err != nil || !dt.IsFloat() {
				return nil, fmt.Errorf("spec: field \"dtype\": %q is not a float dtype", str)
			}
			t.DType = dt
		}
	}
	return t, nil
}

func (t *Target) entry(name string) (spec.Entry, bool) {
	if len(t.index) != len(t.Entries) {
		t.index = make(map[string]int, len(t.Entries))
		for i, e := range t.Entries {
			if _, dup := t.index[e.Name]; !dup {
				t.index[e.Name] = i
			}
		}
		if len(t.index) != len(t.Entries) { // duplicate names: no index
			t.index = nil
			for _, e := range t.Entries {
				if e.Name == name {
					return e, true
				}
			}
			return spec.Entry{}, false
		}
	}
	i, ok := t.index[name]
	if !ok {
		return spec.Entry{}, false
	}
	return t.Entries[i], true
}

// LayoutTarget is the checkpoint's own network (detected family and
// hyperparameters) in another layout: original, diffusers or comfyui
// (the original keys under model.diffusion_model.).
func LayoutTarget(ckpt []tensor.Info, layout string) (*Target, error) {
	det := spec.Detect(ckpt)
	if det.Params == nil {
		return nil, fmt.Errorf("--layout %s: the checkpoint's architecture was not recognised, so there is no layout to convert to (give --arch or --spec)", layout)
	}
	s, err := spec.ToLayout(det.Params, layout)
	if err != nil {
		return nil, fmt.Errorf("--layout %s: %w", layout, err)
	}
	t, err := SpecTarget(s)
	if err != nil {
		return nil, err
	}
	t.Source = "layout"
	if _, err := spec.Preset(s.Name()); err != nil {
		t.Label = fmt.Sprintf("%s layout (%s)", layout, s.Name())
	}
	return t, nil
}
