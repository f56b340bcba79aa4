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
//
// When the reconstructed key list is exactly an architecture's (the
// checkpoint's own network in another layout, or the network the listed
// keys and shapes describe), that spec becomes the target, so the plan is
// the same as a --spec diff's. The text is also checked against the file:
// WrongFile says why it cannot come from this checkpoint, and Partial
// marks a text that lists only size mismatches (a strict=False load): the
// keys it does not list are unknown.
func ErrorTextTarget(text string, ckpt []tensor.Info, hint *spec.Spec) (*Target, error) {
	le, err := ParseLoadError(text)
	if err != nil {
		return nil, err
	}
	det := spec.Detect(ckpt)
	src := det
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
	t.WrongFile = checkAgainstFile(le, ckpt, src)
	t.Partial = len(le.Missing) == 0 && len(le.Unexpected) == 0
	t.Listed = le.keys()
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
	if s, es := identify(t.Entries, det); s != nil {
		t.Spec, t.Entries, t.index = s, es, nil
	}
	return t, nil
}

// shadowed reports whether torch's load_state_dict stays silent about a
// checkpoint key the model lacks: it walks the key's path through the
// model's modules and says nothing when a prefix is a parameter or buffer
// (SD3's pos_embed swallows diffusers' pos_embed.pos_embed) or when the
// whole key names a module (diffusers' pos_embed module swallows the
// original pos_embed).
func shadowed(key string, names, modules map[string]bool) bool {
	parts := strings.Split(key, ".")
	path := ""
	for i, c := range parts {
		if i > 0 {
			path += "."
		}
		path += c
		if i == len(parts)-1 {
			return modules[path]
		}
		if names[path] {
			return true
		}
		if !modules[path] {
			return false
		}
	}
	return false
}

// modulePaths lists every proper dotted prefix of names.
func modulePaths(names map[string]bool) map[string]bool {
	out := map[string]bool{}
	for n := range names {
		for i := strings.IndexByte(n, '.'); i > 0; {
			out[n[:i]] = true
			j := strings.IndexByte(n[i+1:], '.')
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return out
}

// keys counts the distinct keys the text names.
func (le *LoadError) keys() int {
	seen := map[string]bool{}
	for _, ks := range [][]string{le.Missing, le.Unexpected, le.SizeOrder} {
		for _, k := range ks {
			seen[k] = true
		}
	}
	return len(seen)
}

// checkAgainstFile says why an error text cannot have come from loading
// this checkpoint ("" when it can): a size-mismatch line whose "from
// checkpoint" shape is not this file's, an unexpected key the file lacks,
// or a missing key the file has.
func checkAgainstFile(le *LoadError, ckpt []tensor.Info, det *spec.Detection) string {
	have := make(map[string][]int, len(ckpt))
	for _, in := range ckpt {
		have[in.Name] = in.Shape
	}
	for _, k := range le.SizeOrder {
		from := le.Sizes[k][0]
		got, ok := have[k]
		if !ok {
			return fmt.Sprintf("it names %s, which this file does not have", k)
		}
		if !tensor.EqualShape(got, from) {
			return shapeDifference(k, from, got, det)
		}
	}
	for _, k := range le.Unexpected {
		if _, ok := have[k]; !ok {
			return fmt.Sprintf("it lists %s as an unexpected key of the checkpoint, which this file does not have", k)
		}
	}
	for _, k := range le.Missing {
		if _, ok := have[k]; ok {
			return fmt.Sprintf("it says %s is missing from the checkpoint, but this file has it", k)
		}
	}
	return ""
}

// shapeDifference words a "from checkpoint" shape that is not this file's,
// by the hidden size when that is what differs.
func shapeDifference(key string, from, got []int, det *spec.Detection) string {
	h := 0
	if det != nil && det.Params != nil {
		h, _ = spec.Size(det.Params)
	}
	if h > 0 && len(from) == len(got) {
		for i := range from {
			if from[i] != got[i] && got[i] == h {
				return fmt.Sprintf("hidden size %d; this file has %d", from[i], h)
			}
		}
	}
	if h > 0 && len(from) > 0 && len(got) > 0 && got[0] == h && from[0] != h {
		return fmt.Sprintf("hidden size %d; this file has %d", from[0], h)
	}
	return fmt.Sprintf("%s is %s there; this file has %s", key, tensor.FormatShape(from), tensor.FormatShape(got))
}

// identify finds the architecture whose key list is exactly the
// reconstructed one (names; and every shape the text or file gives): the
// detected network in one of its layouts, else the network detection
// reads from the reconstructed keys. It returns that spec and its entries
// (shapes filled in, except those resting on guessed values).
func identify(entries []spec.Entry, det *spec.Detection) (*spec.Spec, []spec.Entry) {
	var cands []*spec.Spec
	if det.Params != nil {
		cands = append(cands, det.Params)
		for _, l := range spec.Layouts() {
			if c, err := spec.ToLayout(det.Params, l); err == nil {
				cands = append(cands, c)
			}
		}
	}
	for _, c := range cands {
		if es, ok := sameKeyList(c, entries, det); ok {
			return c, es
		}
	}
	infos := make([]tensor.Info, len(entries))
	for i, e := range entries {
		infos[i] = tensor.Info{Name: e.Name, DType: tensor.F32, Shape: e.Shape}
	}
	td := spec.Detect(infos)
	if td.Params == nil || td.Prefix != "" {
		return nil, nil
	}
	if es, ok := sameKeyList(td.Params, entries, td); ok {
		return td.Params, es
	}
	return nil, nil
}

func sameKeyList(c *spec.Spec, entries []spec.Entry, det *spec.Detection) ([]spec.Entry, bool) {
	es, err := c.Keys()
	if err != nil {
		return nil, false
	}
	names := make(map[string]bool, len(es))
	for _, e := range es {
		names[e.Name] = true
	}
	modules := modulePaths(names)
	want := make(map[string][]int, len(entries))
	for _, e := range entries {
		// keys torch did not report as unexpected although the model
		// lacks them (see shadowed) are unexpected all the same
		if !names[e.Name] && shadowed(e.Name, names, modules) {
			continue
		}
		want[e.Name] = e.Shape
	}
	if len(want) != len(es) {
		return nil, false
	}
	for i, e := range es {
		sh, ok := want[e.Name]
		switch {
		case !ok:
			return nil, false
		case sh != nil && !tensor.EqualShape(sh, e.Shape):
			return nil, false
		case sh == nil && dependsOnGuess(e.Name, det):
			es[i].Shape = nil
		}
	}
	return es, true
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
