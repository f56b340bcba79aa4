package diff

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
)

// Layout conversions of today's families between the original release's
// keys and diffusers' (scripts/convert_<family>_to_diffusers.py and
// loaders/single_file_utils.py), as moves over the original-layout key
// list: renames, splits of fused tensors along axis 0, and row-block
// swaps where diffusers keeps a final modulation as (scale, shift) and the
// original as (shift, scale). Every move only cuts, joins, reorders or
// renames bytes, so a conversion and its inverse are exact.

// moveRule maps original keys matching From (a prefix with {i} for the
// block index, or a whole key) to the other layout.
type moveRule struct {
	from string
	to   []string // one name (rename, swap) or the split parts
	// rows cuts a split: the row count of each part given the fused
	// tensor's rows (nil: equal parts).
	rows func(n int) []int
	// order, for a swap, lists the source row block of each result block.
	order []int
	// when, if set, restricts the rule to these block indices.
	when func(i int) bool
}

// familyLayout lists a group's moves and a note for the plan.
type familyLayout struct {
	name  string
	rules func(orig *spec.Spec) []moveRule
	note  string
}

var familyLayouts = map[string]familyLayout{
	"flux": {
		name: "Flux.1 original ↔ diffusers (scripts/convert_flux_to_diffusers.py)",
		rules: func(s *spec.Spec) []moveRule {
			h := s.Int("hidden_size")
			return []moveRule{
				splitRule("double_blocks.{i}.img_attn.qkv.", "transformer_blocks.{i}.attn.to_q.", "transformer_blocks.{i}.attn.to_k.", "transformer_blocks.{i}.attn.to_v."),
				splitRule("double_blocks.{i}.txt_attn.qkv.", "transformer_blocks.{i}.attn.add_q_proj.", "transformer_blocks.{i}.attn.add_k_proj.", "transformer_blocks.{i}.attn.add_v_proj."),
				singleBlockSplit(h),
				swapRows("final_layer.adaLN_modulation.1.", "norm_out.linear."),
				renameRule("img_in.", "x_embedder."),
				renameRule("time_in.in_layer.", "time_text_embed.timestep_embedder.linear_1."),
				renameRule("time_in.out_layer.", "time_text_embed.timestep_embedder.linear_2."),
				renameRule("vector_in.in_layer.", "time_text_embed.text_embedder.linear_1."),
				renameRule("vector_in.out_layer.", "time_text_embed.text_embedder.linear_2."),
				renameRule("guidance_in.in_layer.", "time_text_embed.guidance_embedder.linear_1."),
				renameRule("guidance_in.out_layer.", "time_text_embed.guidance_embedder.linear_2."),
				renameRule("txt_in.", "context_embedder."),
				renameRule("double_blocks.{i}.img_mod.lin.", "transformer_blocks.{i}.norm1.linear."),
				renameRule("double_blocks.{i}.txt_mod.lin.", "transformer_blocks.{i}.norm1_context.linear."),
				renameRule("double_blocks.{i}.img_attn.norm.query_norm.scale", "transformer_blocks.{i}.attn.norm_q.weight"),
				renameRule("double_blocks.{i}.img_attn.norm.key_norm.scale", "transformer_blocks.{i}.attn.norm_k.weight"),
				renameRule("double_blocks.{i}.txt_attn.norm.query_norm.scale", "transformer_blocks.{i}.attn.norm_added_q.weight"),
				renameRule("double_blocks.{i}.txt_attn.norm.key_norm.scale", "transformer_blocks.{i}.attn.norm_added_k.weight"),
				renameRule("double_blocks.{i}.img_attn.proj.", "transformer_blocks.{i}.attn.to_out.0."),
				renameRule("double_blocks.{i}.txt_attn.proj.", "transformer_blocks.{i}.attn.to_add_out."),
				renameRule("double_blocks.{i}.img_mlp.0.", "transformer_blocks.{i}.ff.net.0.proj."),
				renameRule("double_blocks.{i}.img_mlp.2.", "transformer_blocks.{i}.ff.net.2."),
				renameRule("double_blocks.{i}.txt_mlp.0.", "transformer_blocks.{i}.ff_context.net.0.proj."),
				renameRule("double_blocks.{i}.txt_mlp.2.", "transformer_blocks.{i}.ff_context.net.2."),
				renameRule("single_blocks.{i}.linear2.", "single_transformer_blocks.{i}.proj_out."),
				renameRule("single_blocks.{i}.norm.query_norm.scale", "single_transformer_blocks.{i}.attn.norm_q.weight"),
				renameRule("single_blocks.{i}.norm.key_norm.scale", "single_transformer_blocks.{i}.attn.norm_k.weight"),
				renameRule("single_blocks.{i}.modulation.lin.", "single_transformer_blocks.{i}.norm.linear."),
				renameRule("final_layer.linear.", "proj_out."),
			}
		},
	},
	"wan": {
		name: "Wan original ↔ diffusers (scripts/convert_wan_to_diffusers.py)",
		rules: func(s *spec.Spec) []moveRule {
			return []moveRule{
				renameRule("time_embedding.0.", "condition_embedder.time_embedder.linear_1."),
				renameRule("time_embedding.2.", "condition_embedder.time_embedder.linear_2."),
				renameRule("text_embedding.0.", "condition_embedder.text_embedder.linear_1."),
				renameRule("text_embedding.2.", "condition_embedder.text_embedder.linear_2."),
				renameRule("time_projection.1.", "condition_embedder.time_proj."),
				renameRule("head.modulation", "scale_shift_table"),
				renameRule("head.head.", "proj_out."),
				renameRule("blocks.{i}.modulation", "blocks.{i}.scale_shift_table"),
				renameRule("blocks.{i}.ffn.0.", "blocks.{i}.ffn.net.0.proj."),
				renameRule("blocks.{i}.ffn.2.", "blocks.{i}.ffn.net.2."),
				renameRule("blocks.{i}.norm3.", "blocks.{i}.norm2."),
				renameRule("img_emb.proj.0.", "condition_embedder.image_embedder.norm1."),
				renameRule("img_emb.proj.1.", "condition_embedder.image_embedder.ff.net.0.proj."),
				renameRule("img_emb.proj.3.", "condition_embedder.image_embedder.ff.net.2."),
				renameRule("img_emb.proj.4.", "condition_embedder.image_embedder.norm2."),
				renameRule("img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"),
				renameRule("blocks.{i}.self_attn.q.", "blocks.{i}.attn1.to_q."),
				renameRule("blocks.{i}.self_attn.k.", "blocks.{i}.attn1.to_k."),
				renameRule("blocks.{i}.self_attn.v.", "blocks.{i}.attn1.to_v."),
				renameRule("blocks.{i}.self_attn.o.", "blocks.{i}.attn1.to_out.0."),
				renameRule("blocks.{i}.self_attn.norm_q.", "blocks.{i}.attn1.norm_q."),
				renameRule("blocks.{i}.self_attn.norm_k.", "blocks.{i}.attn1.norm_k."),
				renameRule("blocks.{i}.cross_attn.q.", "blocks.{i}.attn2.to_q."),
				renameRule("blocks.{i}.cross_attn.k.", "blocks.{i}.attn2.to_k."),
				renameRule("blocks.{i}.cross_attn.v.", "blocks.{i}.attn2.to_v."),
				renameRule("blocks.{i}.cross_attn.o.", "blocks.{i}.attn2.to_out.0."),
				renameRule("blocks.{i}.cross_attn.norm_q.", "blocks.{i}.attn2.norm_q."),
				renameRule("blocks.{i}.cross_attn.norm_k.", "blocks.{i}.attn2.norm_k."),
				renameRule("blocks.{i}.cross_attn.k_img.", "blocks.{i}.attn2.add_k_proj."),
				renameRule("blocks.{i}.cross_attn.v_img.", "blocks.{i}.attn2.add_v_proj."),
				renameRule("blocks.{i}.cross_attn.norm_k_img.", "blocks.{i}.attn2.norm_added_k."),
			}
		},
	},
	"sd3": {
		name: "SD3/SD3.5 original ↔ diffusers (scripts/convert_sd3_to_diffusers.py)",
		rules: func(s *spec.Spec) []moveRule {
			last := s.Int("depth") - 1
			rules := []moveRule{
				splitRule("joint_blocks.{i}.x_block.attn.qkv.", "transformer_blocks.{i}.attn.to_q.", "transformer_blocks.{i}.attn.to_k.", "transformer_blocks.{i}.attn.to_v."),
				splitRule("joint_blocks.{i}.context_block.attn.qkv.", "transformer_blocks.{i}.attn.add_q_proj.", "transformer_blocks.{i}.attn.add_k_proj.", "transformer_blocks.{i}.attn.add_v_proj."),
				splitRule("joint_blocks.{i}.x_block.attn2.qkv.", "transformer_blocks.{i}.attn2.to_q.", "transformer_blocks.{i}.attn2.to_k.", "transformer_blocks.{i}.attn2.to_v."),
				swapRows("final_layer.adaLN_modulation.1.", "norm_out.linear."),
			}
			ctx := swapRows("joint_blocks.{i}.context_block.adaLN_modulation.1.", "transformer_blocks.{i}.norm1_context.linear.")
			ctx.when = func(i int) bool { return i == last } // the pre-only last block: AdaLayerNormContinuous
			rules = append(rules, ctx,
				renameRule("pos_embed", "pos_embed.pos_embed"),
				renameRule("x_embedder.proj.", "pos_embed.proj."),
				renameRule("t_embedder.mlp.0.", "time_text_embed.timestep_embedder.linear_1."),
				renameRule("t_embedder.mlp.2.", "time_text_embed.timestep_embedder.linear_2."),
				renameRule("y_embedder.mlp.0.", "time_text_embed.text_embedder.linear_1."),
				renameRule("y_embedder.mlp.2.", "time_text_embed.text_embedder.linear_2."),
				renameRule("context_embedder.", "context_embedder."),
				renameRule("joint_blocks.{i}.x_block.attn.ln_q.", "transformer_blocks.{i}.attn.norm_q."),
				renameRule("joint_blocks.{i}.x_block.attn.ln_k.", "transformer_blocks.{i}.attn.norm_k."),
				renameRule("joint_blocks.{i}.context_block.attn.ln_q.", "transformer_blocks.{i}.attn.norm_added_q."),
				renameRule("joint_blocks.{i}.context_block.attn.ln_k.", "transformer_blocks.{i}.attn.norm_added_k."),
				renameRule("joint_blocks.{i}.x_block.attn2.ln_q.", "transformer_blocks.{i}.attn2.norm_q."),
				renameRule("joint_blocks.{i}.x_block.attn2.ln_k.", "transformer_blocks.{i}.attn2.norm_k."),
				renameRule("joint_blocks.{i}.x_block.attn.proj.", "transformer_blocks.{i}.attn.to_out.0."),
				renameRule("joint_blocks.{i}.context_block.attn.proj.", "transformer_blocks.{i}.attn.to_add_out."),
				renameRule("joint_blocks.{i}.x_block.attn2.proj.", "transformer_blocks.{i}.attn2.to_out.0."),
				renameRule("joint_blocks.{i}.x_block.mlp.fc1.", "transformer_blocks.{i}.ff.net.0.proj."),
				renameRule("joint_blocks.{i}.x_block.mlp.fc2.", "transformer_blocks.{i}.ff.net.2."),
				renameRule("joint_blocks.{i}.context_block.mlp.fc1.", "transformer_blocks.{i}.ff_context.net.0.proj."),
				renameRule("joint_blocks.{i}.context_block.mlp.fc2.", "transformer_blocks.{i}.ff_context.net.2."),
				renameRule("joint_blocks.{i}.x_block.adaLN_modulation.1.", "transformer_blocks.{i}.norm1.linear."),
				renameRule("joint_blocks.{i}.context_block.adaLN_modulation.1.", "transformer_blocks.{i}.norm1_context.linear."),
				renameRule("final_layer.linear.", "proj_out."),
			)
			return rules
		},
	},
	"hunyuanvideo": {
		name: "HunyuanVideo original ↔ diffusers (scripts/convert_hunyuan_video_to_diffusers.py)",
		rules: func(s *spec.Spec) []moveRule {
			h := s.Int("hidden_size")
			tr := "txt_in.individual_token_refiner.blocks.{i}."
			cr := "context_embedder.token_refiner.refiner_blocks.{i}."
			return []moveRule{
				splitRule(tr+"self_attn_qkv.", cr+"attn.to_q.", cr+"attn.to_k.", cr+"attn.to_v."),
				splitRule("double_blocks.{i}.img_attn_qkv.", "transformer_blocks.{i}.attn.to_q.", "transformer_blocks.{i}.attn.to_k.", "transformer_blocks.{i}.attn.to_v."),
				splitRule("double_blocks.{i}.txt_attn_qkv.", "transformer_blocks.{i}.attn.add_q_proj.", "transformer_blocks.{i}.attn.add_k_proj.", "transformer_blocks.{i}.attn.add_v_proj."),
				singleBlockSplit(h),
				swapRows("final_layer.adaLN_modulation.1.", "norm_out.linear."),
				renameRule(tr+"norm1.", cr+"norm1."),
				renameRule(tr+"norm2.", cr+"norm2."),
				renameRule(tr+"self_attn_proj.", cr+"attn.to_out.0."),
				renameRule(tr+"mlp.fc1.", cr+"ff.net.0.proj."),
				renameRule(tr+"mlp.fc2.", cr+"ff.net.2."),
				renameRule(tr+"adaLN_modulation.1.", cr+"norm_out.linear."),
				renameRule("txt_in.input_embedder.", "context_embedder.proj_in."),
				renameRule("txt_in.t_embedder.mlp.0.", "context_embedder.time_text_embed.timestep_embedder.linear_1."),
				renameRule("txt_in.t_embedder.mlp.2.", "context_embedder.time_text_embed.timestep_embedder.linear_2."),
				renameRule("txt_in.c_embedder.", "context_embedder.time_text_embed.text_embedder."),
				renameRule("img_in.", "x_embedder."),
				renameRule("time_in.mlp.0.", "time_text_embed.timestep_embedder.linear_1."),
				renameRule("time_in.mlp.2.", "time_text_embed.timestep_embedder.linear_2."),
				renameRule("guidance_in.mlp.0.", "time_text_embed.guidance_embedder.linear_1."),
				renameRule("guidance_in.mlp.2.", "time_text_embed.guidance_embedder.linear_2."),
				renameRule("vector_in.in_layer.", "time_text_embed.text_embedder.linear_1."),
				renameRule("vector_in.out_layer.", "time_text_embed.text_embedder.linear_2."),
				renameRule("double_blocks.{i}.img_mod.linear.", "transformer_blocks.{i}.norm1.linear."),
				renameRule("double_blocks.{i}.txt_mod.linear.", "transformer_blocks.{i}.norm1_context.linear."),
				renameRule("double_blocks.{i}.img_attn_q_norm.", "transformer_blocks.{i}.attn.norm_q."),
				renameRule("double_blocks.{i}.img_attn_k_norm.", "transformer_blocks.{i}.attn.norm_k."),
				renameRule("double_blocks.{i}.txt_attn_q_norm.", "transformer_blocks.{i}.attn.norm_added_q."),
				renameRule("double_blocks.{i}.txt_attn_k_norm.", "transformer_blocks.{i}.attn.norm_added_k."),
				renameRule("double_blocks.{i}.img_attn_proj.", "transformer_blocks.{i}.attn.to_out.0."),
				renameRule("double_blocks.{i}.txt_attn_proj.", "transformer_blocks.{i}.attn.to_add_out."),
				renameRule("double_blocks.{i}.img_mlp.fc1.", "transformer_blocks.{i}.ff.net.0.proj."),
				renameRule("double_blocks.{i}.img_mlp.fc2.", "transformer_blocks.{i}.ff.net.2."),
				renameRule("double_blocks.{i}.txt_mlp.fc1.", "transformer_blocks.{i}.ff_context.net.0.proj."),
				renameRule("double_blocks.{i}.txt_mlp.fc2.", "transformer_blocks.{i}.ff_context.net.2."),
				renameRule("single_blocks.{i}.linear2.", "single_transformer_blocks.{i}.proj_out."),
				renameRule("single_blocks.{i}.q_norm.", "single_transformer_blocks.{i}.attn.norm_q."),
				renameRule("single_blocks.{i}.k_norm.", "single_transformer_blocks.{i}.attn.norm_k."),
				renameRule("single_blocks.{i}.modulation.linear.", "single_transformer_blocks.{i}.norm.linear."),
				renameRule("final_layer.linear.", "proj_out."),
			}
		},
	},
}

func init() {
	familyLayouts["ltx-video"] = familyLayout{
		name: "LTX-Video original ↔ diffusers (scripts/convert_ltx_to_diffusers.py)",
		rules: func(s *spec.Spec) []moveRule {
			var rules []moveRule
			for _, a := range []string{"attn1", "attn2"} {
				rules = append(rules,
					renameRule("transformer_blocks.{i}."+a+".q_norm.", "transformer_blocks.{i}."+a+".norm_q."),
					renameRule("transformer_blocks.{i}."+a+".k_norm.", "transformer_blocks.{i}."+a+".norm_k."))
			}
			return append(rules, renameRule("patchify_proj.", "proj_in."), renameRule("adaln_single.", "time_embed."))
		},
	}
	familyLayouts["sana"] = familyLayout{
		name: "Sana original ↔ diffusers (scripts/convert_sana_to_diffusers.py)",
		rules: func(s *spec.Spec) []moveRule {
			b, t := "blocks.{i}.", "transformer_blocks.{i}."
			return []moveRule{
				splitRule(b+"attn.qkv.", t+"attn1.to_q.", t+"attn1.to_k.", t+"attn1.to_v."),
				splitRule(b+"cross_attn.kv_linear.", t+"attn2.to_k.", t+"attn2.to_v."),
				renameRule("x_embedder.proj.", "patch_embed.proj."),
				renameRule("y_embedder.y_proj.fc1.", "caption_projection.linear_1."),
				renameRule("y_embedder.y_proj.fc2.", "caption_projection.linear_2."),
				renameRule("t_embedder.mlp.0.", "time_embed.emb.timestep_embedder.linear_1."),
				renameRule("t_embedder.mlp.2.", "time_embed.emb.timestep_embedder.linear_2."),
				renameRule("t_block.1.", "time_embed.linear."),
				renameRule("attention_y_norm.weight", "caption_norm.weight"),
				renameRule(b+"scale_shift_table", t+"scale_shift_table"),
				renameRule(b+"attn.q_norm.", t+"attn1.norm_q."),
				renameRule(b+"attn.k_norm.", t+"attn1.norm_k."),
				renameRule(b+"attn.proj.", t+"attn1.to_out.0."),
				renameRule(b+"cross_attn.q_linear.", t+"attn2.to_q."),
				renameRule(b+"cross_attn.q_norm.", t+"attn2.norm_q."),
				renameRule(b+"cross_attn.k_norm.", t+"attn2.norm_k."),
				renameRule(b+"cross_attn.proj.", t+"attn2.to_out.0."),
				renameRule(b+"mlp.inverted_conv.conv.", t+"ff.conv_inverted."),
				renameRule(b+"mlp.depth_conv.conv.", t+"ff.conv_depth."),
				renameRule(b+"mlp.point_conv.conv.", t+"ff.conv_point."),
				renameRule("final_layer.linear.", "proj_out."),
				renameRule("final_layer.scale_shift_table", "scale_shift_table"),
			}
		},
		note: "diffusers keeps no null-caption table (y_embedder.y_embedding) and recomputes pos_embed: converting back needs them from an original checkpoint",
	}
}

// singleBlockSplit cuts a single-stream block's fused linear1 (q, k, v
// and the MLP input; Flux and HunyuanVideo) into diffusers' four.
func singleBlockSplit(h int) moveRule {
	t := "single_transformer_blocks.{i}."
	return moveRule{from: "single_blocks.{i}.linear1.", to: []string{t + "attn.to_q.", t + "attn.to_k.", t + "attn.to_v.", t + "proj_mlp."},
		rows: func(n int) []int { return []int{h, h, h, n - 3*h} }}
}

func renameRule(from, to string) moveRule { return moveRule{from: from, to: []string{to}} }

func splitRule(from string, to ...string) moveRule { return moveRule{from: from, to: to} }

func swapRows(from, to string) moveRule {
	return moveRule{from: from, to: []string{to}, order: []int{1, 0}}
}

// move is a rule applied to one original key.
type move struct {
	rule  *moveRule
	orig  string   // original key
	other []string // the other layout's key(s)
}

// movesFor applies the first matching rule to every original key.
func movesFor(rules []moveRule, origKeys []string) []move {
	var out []move
	for _, k := range origKeys {
		for ri := range rules {
			r := &rules[ri]
			m := pattern(r.from).FindStringSubmatch(k)
			if m == nil {
				continue
			}
			// a rule without a trailing "." matches whole keys only
			if !strings.HasSuffix(r.from, ".") && len(m[0]) != len(k) {
				continue
			}
			idx := ""
			if len(m) > 1 {
				idx = m[1]
				if r.when != nil {
					i, _ := strconv.Atoi(idx)
					if !r.when(i) {
						continue
					}
				}
			}
			rest := k[len(m[0]):]
			mv := move{rule: r, orig: k}
			for _, t := range r.to {
				mv.other = append(mv.other, strings.ReplaceAll(t, "{i}", idx)+rest)
			}
			out = append(out, mv)
			break
		}
	}
	return out
}

// planFamilyLayout converts between the original (or ComfyUI) layout and
// diffusers' within one architecture group, and wraps the result in the
// target's single-file prefix.
func (p *planner) planFamilyLayout() error {
	if p.det == nil || p.det.Params == nil || p.t.Spec == nil {
		return nil
	}
	g := spec.Group(p.det.Family)
	fl, ok := familyLayouts[g]
	if !ok || g != spec.Group(p.t.Spec.Family) {
		return nil
	}
	srcLayout, dstLayout := spec.FamilyLayout(p.det.Family), spec.FamilyLayout(p.t.Spec.Family)
	tp := p.t.Spec.Str(spec.PrefixParam)
	if srcLayout == dstLayout {
		return nil // same key names: prefixes and shapes are the other steps' business
	}
	// A single file's prefix goes before the names change.
	if pre := p.det.Prefix; pre != "" && !strings.Contains(pre, "/") && p.prefix == "" {
		var keys []string
		for _, t := range p.cur {
			if strings.HasPrefix(t.Name, pre) {
				keys = append(keys, t.Name)
			}
		}
		if len(keys) > 0 {
			s := fix.StripPrefix(pre, keys)
			for _, k := range keys {
				s.Produces = append(s.Produces, strings.TrimPrefix(k, pre))
			}
			p.prefix = pre
			if err := p.add(s); err != nil {
				return err
			}
		}
	}
	orig := p.det.Params
	if srcLayout != spec.LayoutOriginal {
		var err error
		if orig, err = spec.ToLayout(p.det.Params, spec.LayoutOriginal); err != nil {
			return nil // no original spec: leave the names to the findings
		}
	}
	bare, err := spec.ToLayout(orig, spec.LayoutOriginal) // without any prefix
	if err != nil {
		return nil
	}
	es, err := bare.Keys()
	if err != nil {
		return nil
	}
	keys := make([]string, len(es))
	for i, e := range es {
		keys[i] = e.Name
	}
	moves := movesFor(fl.rules(bare), keys)
	want := func(name string) bool { return p.targetHas(tp + name) }
	pairs := map[string]string{}
	forward := srcLayout == spec.LayoutOriginal
	for _, mv := range moves {
		src, dst := []string{mv.orig}, mv.other
		if !forward {
			src, dst = mv.other, []string{mv.orig}
		}
		switch {
		case len(mv.other) > 1 && forward: // split
			if _, ok := p.has(mv.orig); !ok || !allWanted(dst, want) {
				continue
			}
			t, _ := p.has(mv.orig)
			rows := equalRows(t.Shape[0], len(dst))
			if mv.rule.rows != nil {
				rows = mv.rule.rows(t.Shape[0])
			}
			if err := p.add(fix.Split(mv.orig, dst, rows)); err != nil {
				return err
			}
		case len(mv.other) > 1: // fuse back
			if !p.hasAll(src) || !want(mv.orig) {
				continue
			}
			if err := p.add(fix.Fuse(src, mv.orig)); err != nil {
				return err
			}
		case mv.rule.order != nil:
			if _, ok := p.has(src[0]); !ok || !want(dst[0]) {
				continue
			}
			order := mv.rule.order
			if !forward {
				order = inverse(order)
			}
			if err := p.add(fix.Swap(src[0], dst[0], order, "diffusers stores this modulation as (scale, shift), the original as (shift, scale)")); err != nil {
				return err
			}
		default:
			if _, ok := p.has(src[0]); ok && !want(src[0]) && want(dst[0]) && src[0] != dst[0] {
				pairs[src[0]] = dst[0]
			}
		}
	}
	if len(pairs) > 0 {
		to := "diffusers"
		if !forward {
			to = "original"
		}
		desc := withNote(fmt.Sprintf("rename %d keys to the %s layout (%s)", len(pairs), to, fl.name), fl.note)
		if err := p.add(fix.Rename(g+"-to-"+to, desc, pairs)); err != nil {
			return err
		}
	}
	if tp != "" {
		n := 0
		for _, t := range p.cur {
			if !strings.HasPrefix(t.Name, tp) && p.targetHas(tp+t.Name) {
				n++
			}
		}
		if n > 0 {
			return p.addPrefix(tp)
		}
	}
	return nil
}

func allWanted(names []string, want func(string) bool) bool {
	for _, n := range names {
		if !want(n) {
			return false
		}
	}
	return true
}

func (p *planner) hasAll(names []string) bool {
	for _, n := range names {
		if _, ok := p.has(n); !ok {
			return false
		}
	}
	return true
}

func equalRows(n, parts int) []int {
	out := make([]int, parts)
	for i := range out {
		out[i] = n / parts
	}
	return out
}

func inverse(order []int) []int {
	out := make([]int, len(order))
	for i, j := range order {
		out[j] = i
	}
	return out
}

// layoutNames lists the groups with layout conversions (for docs and tests).
func layoutNames() []string {
	var out []string
	for g := range familyLayouts {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}
