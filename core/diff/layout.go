package diff

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ditkit/ditkit/core/fix"
)

// A layout maps an original repository's key names to another library's
// (diffusers) and back: prefix renames with {i} for the block index,
// shared tensors diffusers copies into every block, and keys one side does
// not store.
type layout struct {
	name     string
	orig     []string // families in the original layout
	other    string   // family in the other layout
	renames  [][2]string
	shared   [][2]string // original top-level prefix → per-block prefix with {i}
	dropOrig []string    // original keys the other layout does not store
	// note is said in the rename step: what differs besides the keys.
	note string
}

// Intermediate names (".qkv.", ".kv.") are split/fused by the fuse forms.
var layouts = []layout{
	{
		name: "DiT original ↔ diffusers (convert_dit_to_diffusers.py)", orig: []string{"dit"}, other: "dit-diffusers",
		renames: [][2]string{
			{"x_embedder.proj.", "pos_embed.proj."},
			{"blocks.{i}.adaLN_modulation.1.", "transformer_blocks.{i}.norm1.linear."},
			{"blocks.{i}.attn.qkv.", "transformer_blocks.{i}.attn1.qkv."},
			{"blocks.{i}.attn.proj.", "transformer_blocks.{i}.attn1.to_out.0."},
			{"blocks.{i}.mlp.fc1.", "transformer_blocks.{i}.ff.net.0.proj."},
			{"blocks.{i}.mlp.fc2.", "transformer_blocks.{i}.ff.net.2."},
			{"final_layer.adaLN_modulation.1.", "proj_out_1."},
			{"final_layer.linear.", "proj_out_2."},
		},
		shared: [][2]string{
			{"t_embedder.mlp.0.", "transformer_blocks.{i}.norm1.emb.timestep_embedder.linear_1."},
			{"t_embedder.mlp.2.", "transformer_blocks.{i}.norm1.emb.timestep_embedder.linear_2."},
			{"y_embedder.embedding_table.", "transformer_blocks.{i}.norm1.emb.class_embedder.embedding_table."},
		},
		dropOrig: []string{"pos_embed"},
		note:     "the weights are copied exactly, but diffusers' DiT embeds timesteps with downscale_freq_shift=1 where facebookresearch DiT uses 0, so its outputs differ from DiT's by about 2e-2 relative — the model class computes differently, not the weights",
	},
	{
		name: "PixArt original ↔ diffusers (convert_pixart_{alpha,sigma}_to_diffusers.py)", orig: []string{"pixart-alpha", "pixart-sigma"}, other: "pixart-diffusers",
		renames: [][2]string{
			{"x_embedder.proj.", "pos_embed.proj."},
			{"y_embedder.y_proj.fc1.", "caption_projection.linear_1."},
			{"y_embedder.y_proj.fc2.", "caption_projection.linear_2."},
			{"t_embedder.mlp.0.", "adaln_single.emb.timestep_embedder.linear_1."},
			{"t_embedder.mlp.2.", "adaln_single.emb.timestep_embedder.linear_2."},
			{"csize_embedder.mlp.0.", "adaln_single.emb.resolution_embedder.linear_1."},
			{"csize_embedder.mlp.2.", "adaln_single.emb.resolution_embedder.linear_2."},
			{"ar_embedder.mlp.0.", "adaln_single.emb.aspect_ratio_embedder.linear_1."},
			{"ar_embedder.mlp.2.", "adaln_single.emb.aspect_ratio_embedder.linear_2."},
			{"t_block.1.", "adaln_single.linear."},
			{"blocks.{i}.scale_shift_table", "transformer_blocks.{i}.scale_shift_table"},
			{"blocks.{i}.attn.qkv.", "transformer_blocks.{i}.attn1.qkv."},
			{"blocks.{i}.attn.q_norm.", "transformer_blocks.{i}.attn1.q_norm."},
			{"blocks.{i}.attn.k_norm.", "transformer_blocks.{i}.attn1.k_norm."},
			{"blocks.{i}.attn.proj.", "transformer_blocks.{i}.attn1.to_out.0."},
			{"blocks.{i}.cross_attn.q_linear.", "transformer_blocks.{i}.attn2.to_q."},
			{"blocks.{i}.cross_attn.kv_linear.", "transformer_blocks.{i}.attn2.kv."},
			{"blocks.{i}.cross_attn.proj.", "transformer_blocks.{i}.attn2.to_out.0."},
			{"blocks.{i}.mlp.fc1.", "transformer_blocks.{i}.ff.net.0.proj."},
			{"blocks.{i}.mlp.fc2.", "transformer_blocks.{i}.ff.net.2."},
			{"final_layer.linear.", "proj_out."},
			{"final_layer.scale_shift_table", "scale_shift_table"},
		},
		dropOrig: []string{"pos_embed", "y_embedder.y_embedding"},
	},
}

// patterns caches pattern's regexps (layout rules are a fixed set; the
// planner matches every key against them).
var patterns sync.Map

// pattern compiles "blocks.{i}.attn." into a prefix regexp.
func pattern(p string) *regexp.Regexp {
	if re, ok := patterns.Load(p); ok {
		return re.(*regexp.Regexp)
	}
	re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\{i\}`, `(\d+)`))
	patterns.Store(p, re)
	return re
}

// mapKey rewrites key by the first rule whose from-pattern matches.
func mapKey(key string, rules [][2]string, forward bool) (string, bool) {
	for _, r := range rules {
		from, to := r[0], r[1]
		if !forward {
			from, to = to, from
		}
		m := pattern(from).FindStringSubmatch(key)
		if m == nil {
			continue
		}
		rest := key[len(m[0]):]
		out := to
		if len(m) > 1 {
			out = strings.ReplaceAll(out, "{i}", m[1])
		}
		return out + rest, true
	}
	return "", false
}

func (p *planner) layoutFor() (*layout, bool) {
	if p.det == nil || p.t.Spec == nil {
		return nil, false
	}
	src, dst := p.det.Family, p.t.Spec.Family
	for i := range layouts {
		l := &layouts[i]
		for _, o := range l.orig {
			if src == o && dst == l.other {
				return l, true
			}
			if src == l.other && dst == o {
				return l, false
			}
		}
	}
	return nil, false
}

// reverse split names used when going back to the original layout: the
// diffusers q/k/v become intermediate names the fuse forms join.
var reverseSplit = [][2]string{
	{"transformer_blocks.{i}.attn1.to_q.", "blocks.{i}.attn.q."},
	{"transformer_blocks.{i}.attn1.to_k.", "blocks.{i}.attn.k."},
	{"transformer_blocks.{i}.attn1.to_v.", "blocks.{i}.attn.v."},
	{"transformer_blocks.{i}.attn2.to_k.", "blocks.{i}.cross_attn.k_linear."},
	{"transformer_blocks.{i}.attn2.to_v.", "blocks.{i}.cross_attn.v_linear."},
}

// planLayout converts between an original repository's layout and
// diffusers'.
func (p *planner) planLayout() error {
	l, forward := p.layoutFor()
	if l == nil {
		return nil
	}
	if forward {
		return p.layoutForward(l)
	}
	return p.layoutBack(l)
}

func (p *planner) layoutForward(l *layout) error {
	depth := p.t.Spec.Int("num_layers")
	if depth == 0 {
		depth = p.t.Spec.Int("depth")
	}
	for _, sh := range l.shared {
		for _, t := range append([]fix.Tensor(nil), p.cur...) {
			if !strings.HasPrefix(t.Name, sh[0]) {
				continue
			}
			rest := strings.TrimPrefix(t.Name, sh[0])
			var copies []string
			for i := 0; i < depth; i++ {
				copies = append(copies, strings.ReplaceAll(sh[1], "{i}", strconv.Itoa(i))+rest)
			}
			if err := p.add(fix.Replicate(t.Name, copies)); err != nil {
				return err
			}
		}
	}
	pairs := map[string]string{}
	for _, t := range p.cur {
		if to, ok := mapKey(t.Name, l.renames, true); ok && !p.targetHas(t.Name) {
			pairs[t.Name] = to
		}
	}
	if len(pairs) > 0 {
		if err := p.add(fix.Rename("to-"+l.other, withNote(fmt.Sprintf("rename %d keys to the diffusers layout (%s)", len(pairs), l.name), l.note), pairs)); err != nil {
			return err
		}
	}
	var drop []string
	for _, k := range l.dropOrig {
		if _, ok := p.has(k); ok && !p.targetHas(k) {
			drop = append(drop, k)
		}
	}
	if len(drop) > 0 {
		return p.add(fix.Drop("not-in-"+l.other, "the diffusers layout does not store them (recomputed or replaced there)", drop))
	}
	return nil
}

func (p *planner) layoutBack(l *layout) error {
	// Per-block copies of shared embedders: keep block 0's, verified equal.
	for _, sh := range l.shared {
		re := pattern(sh[1])
		groups := map[string][]string{} // rest → keys in block order
		for _, t := range p.cur {
			if m := re.FindStringSubmatch(t.Name); m != nil {
				rest := t.Name[len(m[0]):]
				groups[rest] = append(groups[rest], t.Name)
			}
		}
		rests := make([]string, 0, len(groups))
		for r := range groups {
			rests = append(rests, r)
		}
		sort.Strings(rests)
		for _, rest := range rests {
			keys := groups[rest]
			sort.SliceStable(keys, func(i, j int) bool { return blockNum(keys[i]) < blockNum(keys[j]) })
			if err := p.add(fix.Dedupe(keys[0], keys[1:], sh[0]+rest)); err != nil {
				return err
			}
		}
	}
	pairs := map[string]string{}
	rules := append(append([][2]string(nil), reverseSplit...), swap(l.renames)...)
	for _, t := range p.cur {
		if p.targetHas(t.Name) {
			continue
		}
		if to, ok := mapKey(t.Name, rules, true); ok {
			pairs[t.Name] = to
		}
	}
	if len(pairs) > 0 {
		return p.add(fix.Rename("from-"+l.other, withNote(fmt.Sprintf("rename %d keys from the diffusers layout back to the original (%s)", len(pairs), l.name), l.note), pairs))
	}
	return nil
}

func swap(rules [][2]string) [][2]string {
	out := make([][2]string, len(rules))
	for i, r := range rules {
		out[i] = [2]string{r[1], r[0]}
	}
	return out
}

func blockNum(key string) int {
	n, _ := blockIndex(key)
	return n
}

// withNote appends a layout's note to a step description.
func withNote(desc, note string) string {
	if note == "" {
		return desc
	}
	return desc + "; note: " + note
}
