package diff

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// LoadError is what PyTorch's load_state_dict RuntimeError says.
type LoadError struct {
	Class      string              // model class ("DiT")
	Missing    []string            // Missing key(s) in state_dict
	Unexpected []string            // Unexpected key(s) in state_dict
	Sizes      map[string][2][]int // size mismatch: key → {checkpoint shape, model shape}
	SizeOrder  []string
}

var (
	reClass    = regexp.MustCompile(`Error\(s\) in loading state_dict for ([A-Za-z_][A-Za-z0-9_.]*)`)
	reSection  = regexp.MustCompile(`(Missing|Unexpected) key\(s\) in state_dict:`)
	reQuoted   = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	reMismatch = regexp.MustCompile(`size mismatch for ([^:\s]+): copying a param with shape torch\.Size\(\[([0-9,\s]*)\]\) from checkpoint, the shape in current model is torch\.Size\(\[([0-9,\s]*)\]\)`)
)

// MaxErrorText bounds the pasted text.
const MaxErrorText = 16 << 20

// ParseLoadError reads the RuntimeError text of a failed load_state_dict.
// It accepts the text with or without the traceback around it.
func ParseLoadError(text string) (*LoadError, error) {
	if len(text) > MaxErrorText {
		return nil, fmt.Errorf("error text: %d bytes is more than %d", len(text), MaxErrorText)
	}
	le := &LoadError{Sizes: map[string][2][]int{}}
	if m := reClass.FindStringSubmatch(text); m != nil {
		le.Class = m[1]
	}
	// Sections run from their header to the next header or the next line
	// that starts a size mismatch.
	locs := reSection.FindAllStringSubmatchIndex(text, -1)
	for i, l := range locs {
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := text[l[1]:end]
		if j := strings.Index(body, "size mismatch for"); j >= 0 {
			body = body[:j]
		}
		var keys []string
		for _, q := range reQuoted.FindAllStringSubmatch(body, -1) {
			keys = append(keys, strings.ReplaceAll(q[1], `\"`, `"`))
		}
		if text[l[2]:l[3]] == "Missing" {
			le.Missing = append(le.Missing, keys...)
		} else {
			le.Unexpected = append(le.Unexpected, keys...)
		}
	}
	for _, m := range reMismatch.FindAllStringSubmatch(text, -1) {
		got, err1 := tensor.ParseShape(m[2])
		want, err2 := tensor.ParseShape(m[3])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("error text: bad shape in %q", m[0])
		}
		if _, dup := le.Sizes[m[1]]; !dup {
			le.SizeOrder = append(le.SizeOrder, m[1])
		}
		le.Sizes[m[1]] = [2][]int{got, want}
	}
	if len(le.Missing)+len(le.Unexpected)+len(le.Sizes) == 0 {
		return nil, fmt.Errorf("error text: found no \"Missing key(s)\", \"Unexpected key(s)\" or \"size mismatch for\" lines; paste the RuntimeError from load_state_dict")
	}
	return le, nil
}

// ErrorTextTarget reconstructs the model's state dict from an error text:
// the checkpoint's own keys, less the unexpected ones, plus the missing
// ones, with the model's shapes from size-mismatch lines. Shapes the text
// does not give come from detection (the checkpoint's architecture), else
// from the checkpoint's key under a stripped prefix, else stay unknown.
// A hint (the model's spec, when the user knows it) sizes what neither the
// text nor the checkpoint shows, such as a deleted position table.
func ErrorTextTarget(text string, ckpt []tensor.Info, hint *spec.Spec) (*Target, error) {
	le, err := ParseLoadError(text)
	if err != nil {
		return nil, err
	}
	det := spec.Detect(ckpt)
	if hint != nil {
		det = &spec.Detection{Family: hint.Family, Params: hint}
	}
	detShapes := map[string][]int{}
	if det.Params != nil {
		if es, err := det.Params.Keys(); err == nil {
			for _, e := range es {
				detShapes[e.Name] = e.Shape
			}
		}
	}
	unexpected := map[string]bool{}
	for _, k := range le.Unexpected {
		unexpected[k] = true
	}
	t := &Target{Source: "error-text", Class: le.Class, Spec: det.Params}
	t.Label = "model in the error text"
	if le.Class != "" {
		t.Label = le.Class + " (from the error text)"
	}
	seen := map[string]bool{}
	for _, in := range ckpt {
		if unexpected[in.Name] {
			continue
		}
		shape := in.Shape
		if sz, ok := le.Sizes[in.Name]; ok {
			shape = sz[1]
		}
		t.Entries = append(t.Entries, spec.Entry{Name: in.Name, Shape: shape})
		seen[in.Name] = true
	}
	for _, k := range le.Missing {
		if seen[k] {
			continue
		}
		seen[k] = true
		e := spec.Entry{Name: k}
		if sz, ok := le.Sizes[k]; ok {
			e.Shape = sz[1]
		} else if s, ok := detShapes[k]; ok && !dependsOnGuess(k, det) {
			e.Shape = s
		} else {
			for _, in := range ckpt {
				if strings.HasSuffix(in.Name, "."+k) || strings.HasSuffix(in.Name, "/"+k) {
					e.Shape = in.Shape
					break
				}
			}
		}
		if det.Params != nil {
			if es, err := det.Params.Keys(); err == nil {
				for _, de := range es {
					if de.Name == k {
						e.Fixed, e.Buffer = de.Fixed, de.Buffer
					}
				}
			}
		}
		t.Entries = append(t.Entries, e)
	}
	return t, nil
}

// dependsOnGuess reports whether a detected key's shape rests on a value
// detection had to guess (a position table sized by an input size that no
// saved tensor shows).
func dependsOnGuess(key string, det *spec.Detection) bool {
	if !strings.Contains(key, "pos_embed") && !strings.Contains(key, "temp_embed") {
		return false
	}
	for _, a := range det.Ambiguous {
		if strings.Contains(a, "input_size") || strings.Contains(a, "num_frames") {
			return true
		}
	}
	return false
}
