package spec

import (
	"bytes"
	"encoding/json"

	"fmt"
	"math"
	"sort"
	"strings"
)

// Entry is one state-dict tensor the model saves.
type Entry struct {
	Name  string
	Shape []int
	// Buffer is true for registered persistent buffers (register_buffer),
	// false for nn.Parameters (including requires_grad=False ones such as
	// DiT's pos_embed or rotary rope.freqs).
	Buffer bool
	// Fixed is true when the value is a deterministic function of the
	// hyperparameters (sin-cos position tables, RoPE frequencies): upstream
	// loaders drop and recompute these, so a missing or differently sized
	// Fixed entry can be regenerated instead of copied.
	Fixed bool
}

// Numel is the element count of the entry.
func (e Entry) Numel() int64 {
	n := int64(1)
	for _, d := range e.Shape {
		n *= int64(d)
	}
	return n
}

// Kind is the JSON type of a spec parameter.
type Kind int

const (
	KindInt    Kind = iota // JSON integer
	KindFloat              // JSON number
	KindBool               // JSON true/false
	KindInts               // JSON array of integers (Param.Len fixes its length when > 0)
	KindAny                // accepted and kept verbatim; does not change the key list
	KindString             // JSON string (Param.Choices lists the accepted values when set)
)

func (k Kind) String() string {
	switch k {
	case KindInt:
		return "integer"
	case KindFloat:
		return "number"
	case KindBool:
		return "boolean"
	case KindInts:
		return "array of integers"
	case KindString:
		return "string"
	}
	return "any JSON value"
}

// Param describes one hyperparameter of a family.
type Param struct {
	Name     string
	Kind     Kind
	Default  any // int, float64, bool, []int or nil
	Len      int // KindInts: required length (0 = any)
	Nullable bool
	// Min is the smallest accepted value for KindInt / KindInts elements
	// (KindFloat: Min is exclusive when MinExclusive).
	Min          float64
	MinExclusive bool
	// Keyed marks a KindAny parameter that does change the key list (the
	// family validates it); Equal compares it.
	Keyed bool
	// Choices are the accepted values of a KindString parameter (empty: any).
	Choices []string
	Doc     string
}

// FamilyInfo describes a family: its id, what upstream class it mirrors,
// and its parameters in spec JSON order.
type FamilyInfo struct {
	ID          string
	Description string
	Params      []Param
}

type family struct {
	FamilyInfo
	validate func(s *Spec) error
	keys     func(s *Spec) []Entry
	name     func(s *Spec) string // short description; nil: the generic one
}

var families = map[string]*family{}
var familyOrder []string

func register(f *family) {
	families[f.ID] = f
	familyOrder = append(familyOrder, f.ID)
}

// Families returns every supported family in a stable order.
func Families() []FamilyInfo {
	out := make([]FamilyInfo, 0, len(familyOrder))
	for _, id := range familyOrder {
		f := families[id]
		fi := f.FamilyInfo
		fi.Params = append([]Param(nil), f.Params...)
		out = append(out, fi)
	}
	return out
}

// Spec is a family plus its hyperparameters. The zero value is not usable:
// build one with Parse, Preset, New or Detect.
type Spec struct {
	Family string
	params map[string]any
	preset string
}

// Error is returned for invalid specs; Field names the offending field
// ("" when the error concerns the document as a whole).
type Error struct {
	Family string
	Field  string
	Msg    string
}

func (e *Error) Error() string {
	switch {
	case e.Field != "" && e.Family != "":
		return fmt.Sprintf("spec %s: field %q: %s", e.Family, e.Field, e.Msg)
	case e.Field != "":
		return fmt.Sprintf("spec: field %q: %s", e.Field, e.Msg)
	case e.Family != "":
		return fmt.Sprintf("spec %s: %s", e.Family, e.Msg)
	}
	return "spec: " + e.Msg
}

func fieldErr(fam, field, format string, args ...any) error {
	return &Error{Family: fam, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// New returns a spec of the family with every parameter at its default,
// then overridden by params (Go values: int, float64, bool, []int, nil).
func New(familyID string, params map[string]any) (*Spec, error) {
	familyID = canonicalFamily(familyID)
	f, ok := families[familyID]
	if !ok {
		return nil, unknownFamily(familyID)
	}
	s := &Spec{Family: familyID, params: map[string]any{}}
	for _, p := range f.Params {
		if p.Kind != KindAny {
			s.params[p.Name] = cloneVal(p.Default)
		}
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := s.set(k, params[k]); err != nil {
			return nil, err
		}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func unknownFamily(id string) error {
	return &Error{Field: "family", Msg: fmt.Sprintf("unknown family %q (known: %s)", id, strings.Join(familyOrder, ", "))}
}

// Parse reads spec JSON: an object with "family" and the upstream
// constructor's hyperparameter names. Missing fields take upstream
// defaults; unknown fields, wrong types and invalid values are errors
// naming the field.
func Parse(data []byte) (*Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, &Error{Msg: "not a JSON object: " + err.Error()}
	}
	if dec.More() {
		return nil, &Error{Msg: "trailing data after the JSON object"}
	}
	famRaw, ok := raw["family"]
	if !ok {
		return nil, &Error{Field: "family", Msg: fmt.Sprintf("missing (one of: %s)", strings.Join(familyOrder, ", "))}
	}
	var fam string
	if err := json.Unmarshal(famRaw, &fam); err != nil {
		return nil, &Error{Field: "family", Msg: "must be a string"}
	}
	fam = canonicalFamily(fam)
	f, ok := families[fam]
	if !ok {
		return nil, unknownFamily(fam)
	}
	s := &Spec{Family: fam, params: map[string]any{}}
	for _, p := range f.Params {
		if p.Kind != KindAny {
			s.params[p.Name] = cloneVal(p.Default)
		}
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		if k != "family" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := f.param(k)
		if p == nil {
			return nil, fieldErr(fam, k, "unknown field for family %s (known: %s)", fam, strings.Join(f.paramNames(), ", "))
		}
		v, err := decodeValue(fam, p, raw[k])
		if err != nil {
			return nil, err
		}
		s.params[k] = v
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (f *family) param(name string) *Param {
	for i := range f.Params {
		if f.Params[i].Name == name {
			return &f.Params[i]
		}
	}
	return nil
}

func (f *family) paramNames() []string {
	out := make([]string, len(f.Params))
	for i, p := range f.Params {
		out[i] = p.Name
	}
	return out
}

func decodeValue(fam string, p *Param, raw json.RawMessage) (any, error) {
	if p.Kind == KindAny {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fieldErr(fam, p.Name, "invalid JSON: %v", err)
		}
		return v, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fieldErr(fam, p.Name, "invalid JSON: %v", err)
	}
	return normalize(fam, p, v)
}

// normalize converts a decoded JSON value or a Go value to the param's
// canonical Go type and range-checks it.
func normalize(fam string, p *Param, v any) (any, error) {
	if v == nil {
		if p.Nullable || p.Kind == KindAny {
			return nil, nil
		}
		return nil, fieldErr(fam, p.Name, "must be %s, not null", kindPhrase(p))
	}
	switch p.Kind {
	case KindAny:
		return v, nil
	case KindInt:
		n, ok := toInt(v)
		if !ok {
			return nil, fieldErr(fam, p.Name, "must be %s, got %s", kindPhrase(p), describe(v))
		}
		if float64(n) < p.Min {
			return nil, fieldErr(fam, p.Name, "must be >= %v, got %d", p.Min, n)
		}
		if lim := maxFor(p.Name); n > lim {
			return nil, fieldErr(fam, p.Name, "must be <= %d, got %d", lim, n)
		}
		return n, nil
	case KindFloat:
		x, ok := toFloat(v)
		if !ok {
			return nil, fieldErr(fam, p.Name, "must be %s, got %s", kindPhrase(p), describe(v))
		}
		if p.MinExclusive && x <= p.Min || !p.MinExclusive && x < p.Min {
			op := ">="
			if p.MinExclusive {
				op = ">"
			}
			return nil, fieldErr(fam, p.Name, "must be %s %v, got %v", op, p.Min, x)
		}
		return x, nil
	case KindBool:
		b, ok := v.(bool)
		if !ok {
			return nil, fieldErr(fam, p.Name, "must be a boolean, got %s", describe(v))
		}
		return b, nil
	case KindString:
		str, ok := v.(string)
		if !ok {
			return nil, fieldErr(fam, p.Name, "must be a string, got %s", describe(v))
		}
		if len(p.Choices) > 0 && !containsString(p.Choices, str) {
			return nil, fieldErr(fam, p.Name, "must be one of %s, got %q", quoteList(p.Choices), str)
		}
		return str, nil
	case KindInts:
		var items []any
		switch t := v.(type) {
		case []any:
			items = t
		case []int:
			for _, x := range t {
				items = append(items, x)
			}
		default:
			return nil, fieldErr(fam, p.Name, "must be %s, got %s", kindPhrase(p), describe(v))
		}
		if p.Len > 0 && len(items) != p.Len {
			return nil, fieldErr(fam, p.Name, "must have %d elements, got %d", p.Len, len(items))
		}
		out := make([]int, len(items))
		for i, it := range items {
			n, ok := toInt(it)
			if !ok {
				return nil, fieldErr(fam, p.Name, "element %d must be an integer, got %s", i, describe(it))
			}
			if float64(n) < p.Min {
				return nil, fieldErr(fam, p.Name, "element %d must be >= %v, got %d", i, p.Min, n)
			}
			if lim := maxFor(p.Name); n > lim {
				return nil, fieldErr(fam, p.Name, "element %d must be <= %d, got %d", i, lim, n)
			}
			out[i] = n
		}
		return out, nil
	}
	return nil, fieldErr(fam, p.Name, "unsupported kind")
}

// maxFor bounds integer fields so that a spec cannot ask for absurd key
// lists or overflowing shapes: block counts up to 4096, other sizes up to
// 2^20.
func maxFor(name string) int {
	switch name {
	case "depth", "num_layers", "depth_single_blocks":
		return 4096
	}
	return 1 << 20
}

func kindPhrase(p *Param) string {
	if p.Kind == KindInts && p.Len > 0 {
		return fmt.Sprintf("an array of %d integers", p.Len)
	}
	switch p.Kind {
	case KindInt:
		return "an integer"
	case KindFloat:
		return "a number"
	case KindBool:
		return "a boolean"
	case KindString:
		return "a string"
	}
	return "an array of integers"
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func describe(v any) string {
	switch t := v.(type) {
	case string:
		return fmt.Sprintf("string %q", t)
	case json.Number:
		return "number " + t.String()
	case bool:
		return fmt.Sprintf("boolean %v", t)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", v)
}

func toInt(v any) (int, bool) {
	switch t := v.(type) {
	case int:
		return t, true
	case int64:
		return int(t), true
	case json.Number:
		if n, err := t.Int64(); err == nil && n >= math.MinInt32 && n <= math.MaxInt32 {
			return int(n), true
		}
		f, err := t.Float64()
		if err == nil && f == math.Trunc(f) && math.Abs(f) <= math.MaxInt32 {
			return int(f), true
		}
	case float64:
		if t == math.Trunc(t) && math.Abs(t) <= math.MaxInt32 {
			return int(t), true
		}
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case int:
		return float64(t), true
	case float64:
		return t, !math.IsNaN(t) && !math.IsInf(t, 0)
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	}
	return 0, false
}

func cloneVal(v any) any {
	if s, ok := v.([]int); ok {
		if s != nil && len(s) == 0 {
			return []int{} // an empty list stays a list ([] in JSON, not null)
		}
		return append([]int(nil), s...)
	}
	return v
}

func (s *Spec) fam() *family { return families[s.Family] }

func (s *Spec) set(name string, v any) error {
	f := s.fam()
	p := f.param(name)
	if p == nil {
		return fieldErr(s.Family, name, "unknown field for family %s (known: %s)", s.Family, strings.Join(f.paramNames(), ", "))
	}
	nv, err := normalize(s.Family, p, v)
	if err != nil {
		return err
	}
	s.params[name] = nv
	return nil
}

// With returns a copy of s with one parameter changed (validated).
func (s *Spec) With(name string, v any) (*Spec, error) {
	c := s.Clone()
	c.preset = ""
	if err := c.set(name, v); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Clone returns a deep copy.
func (s *Spec) Clone() *Spec {
	c := &Spec{Family: s.Family, params: make(map[string]any, len(s.params)), preset: s.preset}
	for k, v := range s.params {
		c.params[k] = cloneVal(v)
	}
	return c
}

// Get returns a parameter's value (int, float64, bool, []int, nil, or a
// decoded JSON value for pass-through fields) and whether it is set.
func (s *Spec) Get(name string) (any, bool) {
	v, ok := s.params[name]
	return cloneVal(v), ok
}

// Int returns an integer parameter (0 if absent or null).
func (s *Spec) Int(name string) int {
	v, _ := s.params[name].(int)
	return v
}

// Str returns a string parameter ("" if absent or null).
func (s *Spec) Str(name string) string {
	v, _ := s.params[name].(string)
	return v
}

// Float returns a number parameter (0 if absent).
func (s *Spec) Float(name string) float64 {
	switch t := s.params[name].(type) {
	case float64:
		return t
	case int:
		return float64(t)
	}
	return 0
}

// Bool returns a boolean parameter (false if absent).
func (s *Spec) Bool(name string) bool {
	v, _ := s.params[name].(bool)
	return v
}

// Ints returns an integer-array parameter (nil if absent or null).
func (s *Spec) Ints(name string) []int {
	v, _ := s.params[name].([]int)
	return append([]int(nil), v...)
}

// Validate checks every parameter and the family's cross-field rules.
func (s *Spec) Validate() error {
	f := s.fam()
	if f == nil {
		return unknownFamily(s.Family)
	}
	for i := range f.Params {
		p := &f.Params[i]
		v, ok := s.params[p.Name]
		if !ok {
			if p.Kind == KindAny {
				continue
			}
			return fieldErr(s.Family, p.Name, "missing")
		}
		if _, err := normalize(s.Family, p, v); err != nil {
			return err
		}
	}
	if f.validate != nil {
		return f.validate(s)
	}
	return nil
}

// Keys returns the exact state-dict entries in upstream state_dict order
// (a module's own parameters, then its own persistent buffers, then its
// children in registration order).
func (s *Spec) Keys() ([]Entry, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	es := s.fam().keys(s)
	// Single-file layouts (ComfyUI) keep the network under a prefix.
	if pre := s.Str(PrefixParam); pre != "" {
		for i := range es {
			es[i].Name = pre + es[i].Name
		}
	}
	return es, nil
}

// MarshalJSON writes {"family": ..., params in the family's order}; the
// output parses back to an equal spec.
func (s *Spec) MarshalJSON() ([]byte, error) {
	f := s.fam()
	if f == nil {
		return nil, unknownFamily(s.Family)
	}
	var b bytes.Buffer
	b.WriteString(`{"family":`)
	fb, _ := json.Marshal(s.Family)
	b.Write(fb)
	for _, p := range f.Params {
		v, ok := s.params[p.Name]
		if !ok {
			continue
		}
		b.WriteByte(',')
		kb, _ := json.Marshal(p.Name)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("spec %s: field %q: %w", s.Family, p.Name, err)
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON parses spec JSON into s (see Parse).
func (s *Spec) UnmarshalJSON(data []byte) error {
	p, err := Parse(data)
	if err != nil {
		return err
	}
	*s = *p
	return nil
}

// Name returns the preset name when the spec came from (or was detected
// as) a preset, else a short description such as "dit H64 D2 p2 in8".
func (s *Spec) Name() string {
	if s.preset != "" {
		return s.preset
	}
	f := s.fam()
	if f == nil {
		return s.Family
	}
	if f.name != nil {
		return f.name(s)
	}
	parts := []string{s.Family}
	add := func(label, key string) {
		v, ok := s.params[key]
		if !ok || v == nil {
			return
		}
		switch t := v.(type) {
		case []int:
			strs := make([]string, len(t))
			for i, x := range t {
				strs[i] = fmt.Sprint(x)
			}
			parts = append(parts, label+strings.Join(strs, "x"))
		default:
			parts = append(parts, fmt.Sprint(label, t))
		}
	}
	switch s.Family {
	case "dit-diffusers", "pixart-diffusers":
		add("heads", "num_attention_heads")
		add("hd", "attention_head_dim")
		add("L", "num_layers")
		add("p", "patch_size")
		add("in", "sample_size")
	case "mmdit":
		add("H", "hidden_size")
		add("D", "depth")
		add("S", "depth_single_blocks")
		add("C", "in_channels")
	default:
		add("H", "hidden_size")
		add("D", "depth")
		add("p", "patch_size")
		add("in", "input_size")
	}
	return strings.Join(parts, " ")
}

// Equal reports whether two specs have the same family and parameters
// (pass-through KindAny fields are ignored).
func (s *Spec) Equal(o *Spec) bool {
	if s == nil || o == nil || s.Family != o.Family {
		return s == o
	}
	for _, p := range s.fam().Params {
		if p.Kind == KindAny {
			if p.Keyed && !jsonEqual(s.params[p.Name], o.params[p.Name]) {
				return false
			}
			continue
		}
		a, b := s.params[p.Name], o.params[p.Name]
		if !valEqual(a, b) {
			return false
		}
	}
	return true
}

// jsonEqual compares two pass-through values by their JSON encoding.
func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func valEqual(a, b any) bool {
	as, aok := a.([]int)
	bs, bok := b.([]int)
	if aok || bok {
		if len(as) != len(bs) || aok != bok {
			return false
		}
		for i := range as {
			if as[i] != bs[i] {
				return false
			}
		}
		return true
	}
	if af, ok := toFloat(a); ok {
		if bf, ok := toFloat(b); ok {
			_, ai := a.(int)
			_, bi := b.(int)
			return af == bf && ai == bi
		}
	}
	switch a.(type) {
	case map[string]any, []any:
		return jsonEqual(a, b)
	}
	switch b.(type) {
	case map[string]any, []any:
		return false
	}
	return a == b
}

// mlpHidden mirrors Python int(hidden_size * mlp_ratio).
func mlpHidden(h int, ratio float64) int { return int(float64(h) * ratio) }
