package diff

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// knownPrefixes are wrapper prefixes seen in the wild, longest first.
var knownPrefixes = []string{"module.module.", "model.diffusion_model.", "module.", "model.", "_orig_mod.", "base_model.", "net.", "transformer.", "diffusion_model."}

type planner struct {
	t      *Target
	det    *spec.Detection
	opt    Options
	steps  []*fix.Step
	cur    []fix.Tensor
	orig   map[string]string   // current name → checkpoint name
	byKey  map[string][]string // checkpoint or target key → step ids
	prefix string              // stripped prefix
	// valueFindings are fixed tables saved with another formula's values.
	valueFindings []Finding
	regenerated   map[string]string      // key → formula note
	idx           map[string]int         // p.cur by name (nil: rebuild)
	src           map[string]tensor.Info // the checkpoint's tensors by name
}

func (p *planner) add(s *fix.Step) error {
	next, err := s.Apply(p.cur)
	if err != nil {
		return err
	}
	// track names through renames: match by position for renames
	if s.Op == "strip-prefix" || s.Op == "add-prefix" || s.Op == "rename" || s.Op == "swap" {
		for i := range p.cur {
			if o, ok := p.orig[p.cur[i].Name]; ok && i < len(next) {
				delete(p.orig, p.cur[i].Name)
				p.orig[next[i].Name] = o
			}
		}
	}
	p.cur = next
	p.idx = nil
	p.steps = append(p.steps, s)
	for _, k := range s.Keys {
		p.link(k, s.ID)
		if o, ok := p.orig[k]; ok {
			p.link(o, s.ID)
		}
	}
	for _, k := range s.Produces {
		p.link(k, s.ID)
	}
	return nil
}

func (p *planner) link(k, id string) {
	for _, x := range p.byKey[k] {
		if x == id {
			return
		}
	}
	p.byKey[k] = append(p.byKey[k], id)
}

func (p *planner) has(name string) (fix.Tensor, bool) {
	if p.idx == nil {
		p.idx = make(map[string]int, len(p.cur))
		for i, t := range p.cur {
			if _, dup := p.idx[t.Name]; !dup {
				p.idx[t.Name] = i
			}
		}
	}
	i, ok := p.idx[name]
	if !ok {
		return fix.Tensor{}, false
	}
	return p.cur[i], true
}

func (p *planner) targetHas(name string) bool {
	_, ok := p.t.entry(name)
	return ok
}

func (p *planner) plan(cur []fix.Tensor) error {
	p.cur, p.idx = cur, nil
	p.orig = map[string]string{}
	p.byKey = map[string][]string{}
	p.regenerated = map[string]string{}
	for _, t := range cur {
		p.orig[t.Name] = t.Name
	}
	for _, f := range []func() error{p.planFamilyLayout, p.planPrefix, p.planLayout, p.planRenames, p.planEntries, p.planSplits, p.planDrops, p.planCast} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

func (p *planner) matches() int {
	n := 0
	for _, t := range p.cur {
		if p.targetHas(t.Name) {
			n++
		}
	}
	return n
}

// planPrefix strips (or adds) the wrapper prefix that makes most keys match.
func (p *planner) planPrefix() error {
	before := p.matches()
	cands := append([]string(nil), knownPrefixes...)
	if p.det != nil && p.det.Prefix != "" && !strings.Contains(p.det.Prefix, "/") {
		cands = append([]string{p.det.Prefix}, cands...)
	}
	best, bestN := "", before
	var bestKeys []string
	for _, pr := range cands {
		n := 0
		var keys []string
		for _, t := range p.cur {
			if strings.HasPrefix(t.Name, pr) {
				keys = append(keys, t.Name)
				if p.targetHas(strings.TrimPrefix(t.Name, pr)) {
					n++
				}
			} else if p.targetHas(t.Name) {
				n++
			}
		}
		if n > bestN {
			best, bestN, bestKeys = pr, n, keys
		}
	}
	if best != "" {
		p.prefix = best
		s := fix.StripPrefix(best, bestKeys)
		for _, k := range bestKeys {
			s.Produces = append(s.Produces, strings.TrimPrefix(k, best))
		}
		return p.add(s)
	}
	// the target wraps the network: add a prefix
	for _, pr := range knownPrefixes {
		n := 0
		for _, t := range p.cur {
			if p.targetHas(pr + t.Name) {
				n++
			}
		}
		if n > before && n > len(p.cur)/2 {
			return p.addPrefix(pr)
		}
	}
	return nil
}

// addPrefix plans prepending pr to every current key.
func (p *planner) addPrefix(pr string) error {
	s := fix.AddPrefix(pr)
	for _, t := range p.cur {
		s.Keys = append(s.Keys, t.Name)
		s.Produces = append(s.Produces, pr+t.Name)
	}
	return p.add(s)
}

// planRenames applies layout renames the target needs.
func (p *planner) planRenames() error {
	// PixArt-Σ / DiT-style blocks.N → STDiT3 spatial_blocks.N
	pairs := map[string]string{}
	for _, t := range p.cur {
		if strings.HasPrefix(t.Name, "blocks.") && !p.targetHas(t.Name) && p.targetHas("spatial_"+t.Name) {
			pairs[t.Name] = "spatial_" + t.Name
		}
	}
	if len(pairs) > 0 {
		return p.add(fix.Rename("blocks-to-spatial_blocks", fmt.Sprintf("rename blocks.N.* to spatial_blocks.N.* (%d keys): STDiT3 keeps PixArt-style spatial blocks under a new name", len(pairs)), pairs))
	}
	return nil
}

// sameModuloOnes reports whether two shapes differ only by size-1 axes.
func sameModuloOnes(a, b []int) bool {
	strip := func(s []int) []int {
		var o []int
		for _, d := range s {
			if d != 1 {
				o = append(o, d)
			}
		}
		return o
	}
	return len(a) != len(b) && tensor.EqualShape(strip(a), strip(b))
}

func (p *planner) familyDiffers() bool {
	return p.det != nil && p.det.Family != "" && p.t.Spec != nil && tableFamily(p.det.Family) != tableFamily(p.t.Spec.Family)
}

// tableFamily groups families that compute their fixed tables with the
// same formula: PixArt-α and PixArt-Σ build pos_embed with one function
// (their scale fields only differ in name), so a table one saved is not
// "another formula's" for the other.
func tableFamily(f string) string {
	if f == "pixart-alpha" || f == "pixart-sigma" {
		return "pixart"
	}
	return f
}

// sameTable reports that the checkpoint's fixed table key is known to hold
// the target's values although the families differ: a DiT or Latte table
// (scale 1, fixed by the family) on the same grid at the same scale, e.g.
// DiT's pos_embed for a PixArt-512 target. Other families' scales are not
// visible in shapes, so their tables are regenerated.
func (p *planner) sameTable(key string) bool {
	src := p.det.Params
	if src == nil || (src.Family != "dit" && src.Family != "latte") {
		return false
	}
	sh, sw, ss, ok1 := fix.SinCosGrid(src, key)
	th, tw, ts, ok2 := fix.SinCosGrid(p.t.Spec, key)
	return ok1 && ok2 && sh == th && sw == tw && ss == ts
}

func (p *planner) regenerate(e spec.Entry, dt tensor.DType) (bool, error) {
	if p.t.Spec == nil || e.Shape == nil {
		return false, nil
	}
	s, err := fix.Regenerate(p.t.Spec, e.Name, dt)
	if errors.Is(err, fix.ErrNoFormula) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, _, formula, _ := fix.Table(p.t.Spec, e.Name)
	p.regenerated[e.Name] = formula
	return true, p.add(s)
}

// planEntries walks the target's keys and fixes each difference it can.
func (p *planner) planEntries() error {
	for _, e := range p.t.Entries {
		have, ok := p.has(e.Name)
		if ok {
			switch {
			case e.Shape == nil || tensor.EqualShape(e.Shape, have.Shape):
				if e.Fixed && p.familyDiffers() && !p.sameTable(e.Name) {
					if _, _, formula, err := fix.Table(p.t.Spec, e.Name); err == nil {
						p.valueFindings = append(p.valueFindings, Finding{Kind: ValueMismatch, Key: e.Name, Expected: formula, Got: "the checkpoint's " + p.det.Family + " table"})
						if _, err := p.regenerate(e, have.DType); err != nil {
							return err
						}
					}
				}
			case sameModuloOnes(have.Shape, e.Shape):
				if err := p.add(fix.Reshape(e.Name, have.Shape, e.Shape)); err != nil {
					return err
				}
			case e.Fixed:
				if _, err := p.regenerate(e, have.DType); err != nil {
					return err
				}
			case isTokenTable(e.Name) && len(have.Shape) == len(e.Shape) && tensor.EqualShape(have.Shape[1:], e.Shape[1:]):
				if err := p.add(fix.ResizeRows(e.Name, have.Shape, e.Shape[0])); err != nil {
					return err
				}
			}
			continue
		}
		if e.Fixed {
			dt := p.t.DType
			if dt == tensor.Invalid {
				dt = p.floatDType()
			}
			if done, err := p.regenerate(e, dt); err != nil || done {
				if err != nil {
					return err
				}
				continue
			}
		}
		if err := p.planFuse(e); err != nil {
			return err
		}
	}
	return nil
}

// isTokenTable: caption-token tables whose length is model_max_length.
func isTokenTable(name string) bool {
	return strings.HasSuffix(name, "y_embedding") || strings.HasSuffix(name, "y_embedder.y_embedding")
}

// floatDType is the checkpoint's most common float dtype.
func (p *planner) floatDType() tensor.DType {
	count := map[tensor.DType]int{}
	best := tensor.F32
	for _, t := range p.cur {
		if t.DType.IsFloat() {
			count[t.DType]++
			if count[t.DType] > count[best] {
				best = t.DType
			}
		}
	}
	return best
}

var fuseForms = []struct{ fused, parts []string }{
	{[]string{".qkv."}, []string{".q.", ".k.", ".v."}},
	{[]string{".qkv."}, []string{".to_q.", ".to_k.", ".to_v."}},
	{[]string{".kv."}, []string{".to_k.", ".to_v."}},
	{[]string{".qkv."}, []string{".q_proj.", ".k_proj.", ".v_proj."}},
	{[]string{".kv_linear."}, []string{".k_linear.", ".v_linear."}},
	{[]string{".kv."}, []string{".k.", ".v."}},
}

// planFuse joins q/k/v (or k/v) tensors the target stores fused.
func (p *planner) planFuse(e spec.Entry) error {
	for _, f := range fuseForms {
		if !strings.Contains(e.Name, f.fused[0]) {
			continue
		}
		var parts []string
		for _, part := range f.parts {
			n := strings.Replace(e.Name, f.fused[0], part, 1)
			if _, ok := p.has(n); !ok || p.targetHas(n) {
				parts = nil
				break
			}
			parts = append(parts, n)
		}
		if parts != nil {
			return p.add(fix.Fuse(parts, e.Name))
		}
	}
	return nil
}

// planSplits cuts fused tensors the target stores split.
func (p *planner) planSplits() error {
	for _, t := range append([]fix.Tensor(nil), p.cur...) {
		if p.targetHas(t.Name) || len(t.Shape) == 0 {
			continue
		}
		for _, f := range fuseForms {
			if !strings.Contains(t.Name, f.fused[0]) {
				continue
			}
			var into []string
			var rows []int
			ok := true
			for _, part := range f.parts {
				n := strings.Replace(t.Name, f.fused[0], part, 1)
				e, has := p.t.entry(n)
				if !has || e.Shape == nil {
					ok = false
					break
				}
				into = append(into, n)
				rows = append(rows, e.Shape[0])
			}
			if ok {
				if err := p.add(fix.Split(t.Name, into, rows)); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// planDrops leaves out what the target does not have.
func (p *planner) planDrops() error {
	if p.opt.KeepUnexpected {
		return nil
	}
	var keys []string
	for _, t := range p.cur {
		if !p.targetHas(t.Name) {
			keys = append(keys, t.Name)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	return p.add(fix.Drop("unexpected", "the target architecture has no such keys (strict loading refuses them)", keys))
}

func (p *planner) planCast() error {
	dt := p.opt.DType
	if dt == tensor.Invalid {
		dt = p.t.DType
	}
	if dt == tensor.Invalid {
		return nil
	}
	var keys []string
	for _, t := range p.cur {
		if t.DType.IsFloat() && t.DType != dt && !p.opt.KeepDType[t.Name] {
			keys = append(keys, t.Name)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	s := fix.CastAll(dt, p.opt.KeepDType)
	s.Keys = keys
	return p.add(s)
}

// fixesFor lists the plan steps that resolve a finding.
func (p *planner) fixesFor(f *Finding) []string {
	ids := append([]string(nil), p.byKey[f.Key]...)
	if ids == nil {
		ids = []string{}
	}
	return ids
}
