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
	for _, e := range t.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return spec.Entry{}, false
}
