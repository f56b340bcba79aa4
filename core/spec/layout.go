package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Layouts: the same network saved by its original repository, converted
// by diffusers, or wrapped in a ComfyUI / SAI single file (the original
// keys under "model.diffusion_model.", often with the text encoders and
// VAE bundled beside them).
const (
	LayoutOriginal  = "original"
	LayoutDiffusers = "diffusers"
	LayoutComfyUI   = "comfyui"
)

// Layouts lists the layout names in a stable order.
func Layouts() []string { return []string{LayoutOriginal, LayoutDiffusers, LayoutComfyUI} }

// familyGroup ties a family id to its architecture group and layout.
type familyGroup struct {
	group, layout string
	name          string // readable architecture name
}

var groups = map[string]familyGroup{
	"dit":                    {"dit", LayoutOriginal, "DiT"},
	"dit-diffusers":          {"dit", LayoutDiffusers, "DiT"},
	"pixart-alpha":           {"pixart", LayoutOriginal, "PixArt-α"},
	"pixart-sigma":           {"pixart", LayoutOriginal, "PixArt-Σ"},
	"pixart-diffusers":       {"pixart", LayoutDiffusers, "PixArt"},
	"latte":                  {"latte", LayoutOriginal, "Latte"},
	"stdit":                  {"stdit", LayoutOriginal, "Open-Sora 1.0 STDiT"},
	"stdit2":                 {"stdit2", LayoutOriginal, "Open-Sora 1.1 STDiT2"},
	"stdit3":                 {"stdit3", LayoutOriginal, "Open-Sora 1.2 STDiT3"},
	"stdit3-v4":              {"stdit3", LayoutOriginal, "Open-Sora 1.3 STDiT3"},
	"mmdit":                  {"mmdit", LayoutOriginal, "Open-Sora 2.0 MMDiT"},
	"flux":                   {"flux", LayoutOriginal, "Flux.1"},
	"flux-diffusers":         {"flux", LayoutDiffusers, "Flux.1"},
	"wan":                    {"wan", LayoutOriginal, "Wan"},
	"wan-diffusers":          {"wan", LayoutDiffusers, "Wan"},
	"sd3":                    {"sd3", LayoutOriginal, "SD3 / SD3.5"},
	"sd3-diffusers":          {"sd3", LayoutDiffusers, "SD3 / SD3.5"},
	"hunyuanvideo":           {"hunyuanvideo", LayoutOriginal, "HunyuanVideo"},
	"hunyuanvideo-diffusers": {"hunyuanvideo", LayoutDiffusers, "HunyuanVideo"},
}

// registerGroup adds a family to the group table (families registered in
// other files).
func registerGroup(id, group, layout, name string) { groups[id] = familyGroup{group, layout, name} }

// Group returns the architecture group of a family ("flux" for flux and
// flux-diffusers); "" when unknown.
func Group(familyID string) string { return groups[familyID].group }

// ArchName is a family's readable architecture name ("Flux.1", "Wan").
func ArchName(familyID string) string {
	if g, ok := groups[familyID]; ok {
		return g.name
	}
	return familyID
}

// FamilyLayout is the layout a family's key names follow (original or
// diffusers; a prefixed original spec is comfyui, see LayoutOf).
func FamilyLayout(familyID string) string { return groups[familyID].layout }

// LayoutOf is the layout of a spec's keys.
func LayoutOf(s *Spec) string {
	if s == nil {
		return ""
	}
	if s.Str(PrefixParam) == ComfyPrefix {
		return LayoutComfyUI
	}
	return FamilyLayout(s.Family)
}

// familyIn returns the family of group in layout ("" if none).
func familyIn(group, layout string) string {
	if layout == LayoutComfyUI {
		layout = LayoutOriginal
	}
	ids := make([]string, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := groups[id]
		if g.group == group && g.layout == layout {
			return id
		}
	}
	return ""
}

// familyAliases map other names people use for a family (class names,
// GGUF general.architecture values) to the family id.
var familyAliases = map[string]string{
	"mmditx": "sd3", "sd3.5": "sd3", "sd35": "sd3", "sd3transformer2dmodel": "sd3-diffusers",
	"fluxtransformer2dmodel": "flux-diffusers", "flux.1": "flux", "flux1": "flux",
	"wanmodel": "wan", "wan2.1": "wan", "wan2.2": "wan", "wantransformer3dmodel": "wan-diffusers",
	"hyvid": "hunyuanvideo", "hunyuan-video": "hunyuanvideo", "hunyuan_video": "hunyuanvideo", "hyvideodiffusiontransformer": "hunyuanvideo",
	"hunyuanvideotransformer3dmodel": "hunyuanvideo-diffusers",
	"dittransformer2dmodel":          "dit-diffusers", "pixarttransformer2dmodel": "pixart-diffusers",
}

func canonicalFamily(id string) string {
	if _, ok := families[id]; ok {
		return id
	}
	if a, ok := familyAliases[strings.ToLower(id)]; ok {
		return a
	}
	return id
}

// ToLayout returns the same network (family group and hyperparameters) in
// another layout: the diffusers class's config for an original spec, the
// original constructor's for a diffusers spec, and for comfyui the
// original spec under the model.diffusion_model. prefix. Values the other
// side cannot express are errors naming them.
func ToLayout(s *Spec, layout string) (*Spec, error) {
	if s == nil {
		return nil, fmt.Errorf("spec: no architecture to convert")
	}
	switch layout {
	case LayoutOriginal, LayoutDiffusers, LayoutComfyUI:
	default:
		return nil, fmt.Errorf("layout %q: want %s", layout, strings.Join(Layouts(), ", "))
	}
	g, ok := groups[s.Family]
	if !ok {
		return nil, fmt.Errorf("family %s: no layouts known", s.Family)
	}
	dst := familyIn(g.group, layout)
	if dst == "" {
		return nil, fmt.Errorf("%s has no %s layout", g.name, layout)
	}
	var out *Spec
	var err error
	switch {
	case dst == s.Family:
		out = s.Clone()
		out.preset = ""
	default:
		conv, ok := layoutConverters[s.Family+">"+dst]
		if !ok {
			return nil, fmt.Errorf("%s: no conversion from %s to %s", g.name, s.Family, dst)
		}
		var p map[string]any
		if p, err = conv(s); err != nil {
			return nil, err
		}
		if out, err = New(dst, p); err != nil {
			return nil, fmt.Errorf("%s → %s: %w", s.Family, dst, err)
		}
	}
	if f := out.fam(); f.param(PrefixParam) != nil {
		pre := ""
		if layout == LayoutComfyUI {
			pre = ComfyPrefix
		}
		out.params[PrefixParam] = pre
	} else if layout == LayoutComfyUI {
		return nil, fmt.Errorf("%s has no single-file (comfyui) layout in ditkit", g.name)
	}
	out.preset = presetFor(out)
	return out, nil
}

// presetFor names the preset whose spec equals s ("" if none).
func presetFor(s *Spec) string {
	for _, p := range presets {
		if p.Family != s.Family {
			continue
		}
		ps, err := Preset(p.Name)
		if err == nil && ps.Equal(s) {
			return p.Name
		}
	}
	return ""
}

type layoutConv func(s *Spec) (map[string]any, error)

var layoutConverters = map[string]layoutConv{
	"dit>dit-diffusers": func(s *Spec) (map[string]any, error) {
		h, nh := s.Int("hidden_size"), s.Int("num_heads")
		if s.Float("mlp_ratio") != 4 {
			return nil, fieldErr(s.Family, "mlp_ratio", "diffusers' DiTTransformer2DModel hard-codes 4, got %v", s.Float("mlp_ratio"))
		}
		if s.Float("class_dropout_prob") <= 0 {
			return nil, fieldErr(s.Family, "class_dropout_prob", "diffusers' DiT always has the null-class row")
		}
		out := outChannels(s, "learn_sigma")
		return map[string]any{"num_attention_heads": nh, "attention_head_dim": h / nh, "in_channels": s.Int("in_channels"),
			"out_channels": out, "num_layers": s.Int("depth"), "sample_size": s.Int("input_size"), "patch_size": s.Int("patch_size"),
			"num_embeds_ada_norm": s.Int("num_classes")}, nil
	},
	"dit-diffusers>dit": func(s *Spec) (map[string]any, error) {
		c := s.Int("in_channels")
		out := s.intOr("out_channels", c)
		if out != c && out != 2*c {
			return nil, fieldErr(s.Family, "out_channels", "%d is neither in_channels nor 2×in_channels (DiT's learn_sigma)", out)
		}
		return map[string]any{"input_size": s.Int("sample_size"), "patch_size": s.Int("patch_size"), "in_channels": c,
			"hidden_size": s.Int("num_attention_heads") * s.Int("attention_head_dim"), "depth": s.Int("num_layers"),
			"num_heads": s.Int("num_attention_heads"), "num_classes": s.Int("num_embeds_ada_norm"), "learn_sigma": out == 2*c}, nil
	},
	"flux>flux-diffusers": func(s *Spec) (map[string]any, error) {
		if s.Float("mlp_ratio") != 4 {
			return nil, fieldErr(s.Family, "mlp_ratio", "diffusers' FluxTransformer2DModel hard-codes 4, got %v", s.Float("mlp_ratio"))
		}
		if !s.Bool("qkv_bias") {
			return nil, fieldErr(s.Family, "qkv_bias", "diffusers' FluxTransformer2DModel always has q/k/v biases")
		}
		nh := s.Int("num_heads")
		return map[string]any{"patch_size": 1, "in_channels": s.Int("in_channels"), "out_channels": s.Int("out_channels"),
			"num_layers": s.Int("depth"), "num_single_layers": s.Int("depth_single_blocks"), "attention_head_dim": s.Int("hidden_size") / nh,
			"num_attention_heads": nh, "joint_attention_dim": s.Int("context_in_dim"), "pooled_projection_dim": s.Int("vec_in_dim"),
			"guidance_embeds": s.Bool("guidance_embed"), "axes_dims_rope": s.Ints("axes_dim")}, nil
	},
	"flux-diffusers>flux": func(s *Spec) (map[string]any, error) {
		if s.Int("patch_size") != 1 {
			return nil, fieldErr(s.Family, "patch_size", "BFL's Flux packs 2×2 patches outside the model (patch_size 1), got %d", s.Int("patch_size"))
		}
		out := s.intOr("out_channels", s.Int("in_channels"))
		nh := s.Int("num_attention_heads")
		return map[string]any{"in_channels": s.Int("in_channels"), "out_channels": out, "vec_in_dim": s.Int("pooled_projection_dim"),
			"context_in_dim": s.Int("joint_attention_dim"), "hidden_size": nh * s.Int("attention_head_dim"), "mlp_ratio": 4.0,
			"num_heads": nh, "depth": s.Int("num_layers"), "depth_single_blocks": s.Int("num_single_layers"),
			"axes_dim": s.Ints("axes_dims_rope"), "theta": 10000, "qkv_bias": true, "guidance_embed": s.Bool("guidance_embeds")}, nil
	},
	"wan>wan-diffusers": func(s *Spec) (map[string]any, error) {
		d, nh := s.Int("dim"), s.Int("num_heads")
		p := map[string]any{"patch_size": s.Ints("patch_size"), "num_attention_heads": nh, "attention_head_dim": d / nh,
			"in_channels": s.Int("in_dim"), "out_channels": s.Int("out_dim"), "text_dim": s.Int("text_dim"), "freq_dim": s.Int("freq_dim"),
			"ffn_dim": s.Int("ffn_dim"), "num_layers": s.Int("num_layers"), "cross_attn_norm": s.Bool("cross_attn_norm"),
			"qk_norm": nil, "eps": s.Float("eps"), "image_dim": nil, "added_kv_proj_dim": nil, "rope_max_seq_len": 1024}
		if s.Bool("qk_norm") {
			p["qk_norm"] = "rms_norm_across_heads"
		}
		if s.wanImage() {
			p["image_dim"], p["added_kv_proj_dim"] = WanClipDim, d
			if s.Str("model_type") == "flf2v" {
				p["pos_embed_seq_len"] = wanFLFTokens
			}
		}
		return p, nil
	},
	"wan-diffusers>wan": func(s *Spec) (map[string]any, error) {
		nh := s.Int("num_attention_heads")
		d := nh * s.Int("attention_head_dim")
		img, hasImg := s.nullInt("image_dim")
		add, hasAdd := s.nullInt("added_kv_proj_dim")
		if hasImg && img != WanClipDim {
			return nil, fieldErr(s.Family, "image_dim", "Wan's image embedder takes CLIP features of width %d, got %d", WanClipDim, img)
		}
		if hasAdd && add != d || hasAdd != hasImg {
			return nil, fieldErr(s.Family, "added_kv_proj_dim", "Wan's image keys/values project the embedded image (width %d); got %v with image_dim %v", d, s.params["added_kv_proj_dim"], s.params["image_dim"])
		}
		mt := "t2v"
		in, out := s.Int("in_channels"), s.Int("out_channels")
		switch {
		case hasImg && s.params["pos_embed_seq_len"] != nil:
			mt = "flf2v"
		case hasImg:
			mt = "i2v"
		case in != out && in > out:
			mt = "i2v" // Wan 2.2 i2v: image latents concatenated, no CLIP
		case in == 48 && out == 48:
			mt = "ti2v"
		}
		p := map[string]any{"model_type": mt, "patch_size": s.Ints("patch_size"), "in_dim": in, "dim": d,
			"ffn_dim": s.Int("ffn_dim"), "freq_dim": s.Int("freq_dim"), "text_dim": s.Int("text_dim"), "out_dim": out,
			"num_heads": nh, "num_layers": s.Int("num_layers"), "qk_norm": s.Str("qk_norm") != "",
			"cross_attn_norm": s.Bool("cross_attn_norm"), "eps": s.Float("eps")}
		if mt == "i2v" && !hasImg {
			p["image_embedding"] = false
		}
		return p, nil
	},
	"sd3>sd3-diffusers": func(s *Spec) (map[string]any, error) {
		for _, f := range []string{"scale_mod_only", "swiglu"} {
			if s.Bool(f) {
				return nil, fieldErr(s.Family, f, "diffusers' SD3Transformer2DModel has no such option")
			}
		}
		if s.Int("register_length") > 0 {
			return nil, fieldErr(s.Family, "register_length", "diffusers' SD3Transformer2DModel has no register tokens")
		}
		if s.Float("mlp_ratio") != 4 || !s.Bool("qkv_bias") {
			return nil, fieldErr(s.Family, "mlp_ratio", "diffusers' SD3Transformer2DModel hard-codes mlp_ratio 4 and q/k/v biases")
		}
		depth := s.Int("depth")
		in, _, _ := s.sd3Context()
		adm, _ := s.nullInt("adm_in_channels")
		if in == 0 || adm == 0 {
			return nil, fieldErr(s.Family, "context_embedder_config", "diffusers' SD3Transformer2DModel needs the context embedder and the pooled (adm) embedder")
		}
		c := s.Int("in_channels")
		out := s.intOr("out_channels", outChannels(s, "learn_sigma"))
		mx, hasMax := s.nullInt("pos_embed_max_size")
		np, hasNP := s.nullInt("num_patches")
		if hasNP != hasMax || hasMax && np != mx*mx {
			return nil, fieldErr(s.Family, "num_patches", "diffusers saves pos_embed only as a pos_embed_max_size² table; got num_patches %v, pos_embed_max_size %v", s.params["num_patches"], s.params["pos_embed_max_size"])
		}
		sample := 128
		if v, ok := s.nullInt("input_size"); ok {
			sample = v
		}
		qk := any(nil)
		switch s.Str("qk_norm") {
		case "rms":
			qk = "rms_norm"
		case "ln":
			qk = "layer_norm"
		}
		p := map[string]any{"sample_size": sample, "patch_size": s.Int("patch_size"), "in_channels": c,
			"joint_attention_dim": in, "num_layers": depth, "caption_projection_dim": 64 * depth, "num_attention_heads": depth,
			"pos_embed_max_size": nil, "qk_norm": qk, "dual_attention_layers": s.Ints("x_block_self_attn_layers"),
			"pooled_projection_dim": adm, "out_channels": out, "attention_head_dim": 64}
		if hasMax {
			p["pos_embed_max_size"] = mx
		}
		return p, nil
	},
	"sd3-diffusers>sd3": func(s *Spec) (map[string]any, error) {
		nh, hd := s.Int("num_attention_heads"), s.Int("attention_head_dim")
		L := s.Int("num_layers")
		if hd != 64 || nh != L {
			return nil, fieldErr(s.Family, "num_attention_heads", "MMDiTX hard-codes heads = depth and head dim 64; got %d heads of %d for %d layers", nh, hd, L)
		}
		if s.Int("caption_projection_dim") != nh*hd {
			return nil, fieldErr(s.Family, "caption_projection_dim", "MMDiTX projects the context to the hidden size %d, got %d", nh*hd, s.Int("caption_projection_dim"))
		}
		qk := any(nil)
		switch s.Str("qk_norm") {
		case "rms_norm":
			qk = "rms"
		case "layer_norm":
			qk = "ln"
		}
		p := map[string]any{"input_size": nil, "pos_embed_scaling_factor": nil, "pos_embed_offset": nil, "pos_embed_max_size": nil,
			"patch_size": s.Int("patch_size"), "in_channels": s.Int("in_channels"), "depth": L, "num_patches": nil,
			"adm_in_channels": s.Int("pooled_projection_dim"), "context_embedder_config": SD3ContextConfig(s.Int("joint_attention_dim"), nh*hd),
			"qk_norm": qk, "x_block_self_attn_layers": s.Ints("dual_attention_layers")}
		if s.Int("out_channels") != s.Int("in_channels") {
			p["out_channels"] = s.Int("out_channels")
		}
		if mx, ok := s.nullInt("pos_embed_max_size"); ok {
			p["pos_embed_max_size"], p["num_patches"] = mx, mx*mx
		}
		return p, nil
	},
	"hunyuanvideo>hunyuanvideo-diffusers": func(s *Spec) (map[string]any, error) {
		pt := s.Ints("patch_size")
		if pt[1] != pt[2] {
			return nil, fieldErr(s.Family, "patch_size", "diffusers takes one spatial patch size, got %v", pt)
		}
		if !s.Bool("qkv_bias") || !s.Bool("qk_norm") || s.Str("qk_norm_type") != "rms" || s.Str("text_projection") != "single_refiner" {
			return nil, fieldErr(s.Family, "qk_norm_type", "diffusers' HunyuanVideoTransformer3DModel has q/k/v biases, RMS q/k norms and the token refiner only")
		}
		out := s.intOr("out_channels", s.Int("in_channels"))
		nh := s.Int("heads_num")
		return map[string]any{"in_channels": s.Int("in_channels"), "out_channels": out, "num_attention_heads": nh,
			"attention_head_dim": s.Int("hidden_size") / nh, "num_layers": s.Int("mm_double_blocks_depth"),
			"num_single_layers": s.Int("mm_single_blocks_depth"), "num_refiner_layers": 2, "mlp_ratio": s.Float("mlp_width_ratio"),
			"patch_size": pt[1], "patch_size_t": pt[0], "qk_norm": "rms_norm", "guidance_embeds": s.Bool("guidance_embed"),
			"text_embed_dim": s.Int("text_states_dim"), "pooled_projection_dim": s.Int("text_states_dim_2"),
			"rope_axes_dim": s.Ints("rope_dim_list")}, nil
	},
	"hunyuanvideo-diffusers>hunyuanvideo": func(s *Spec) (map[string]any, error) {
		if s.Int("num_refiner_layers") != 2 {
			return nil, fieldErr(s.Family, "num_refiner_layers", "HunyuanVideo's token refiner has 2 blocks, got %d", s.Int("num_refiner_layers"))
		}
		nh := s.Int("num_attention_heads")
		p, pt := s.Int("patch_size"), s.Int("patch_size_t")
		return map[string]any{"patch_size": []int{pt, p, p}, "in_channels": s.Int("in_channels"), "out_channels": s.Int("out_channels"),
			"hidden_size": nh * s.Int("attention_head_dim"), "heads_num": nh, "mlp_width_ratio": s.Float("mlp_ratio"),
			"mm_double_blocks_depth": s.Int("num_layers"), "mm_single_blocks_depth": s.Int("num_single_layers"),
			"rope_dim_list": s.Ints("rope_axes_dim"), "guidance_embed": s.Bool("guidance_embeds"),
			"text_states_dim": s.Int("text_embed_dim"), "text_states_dim_2": s.Int("pooled_projection_dim")}, nil
	},
}

// Size returns a spec's hidden width and block count (the numbers a
// "different size" verdict names); 0 when the family has no such field.
func Size(s *Spec) (hidden, depth int) {
	if s == nil {
		return 0, 0
	}
	switch {
	case s.Family == "sd3":
		hidden = 64 * s.Int("depth")
	case s.Int("hidden_size") > 0:
		hidden = s.Int("hidden_size")
	case s.Int("dim") > 0:
		hidden = s.Int("dim")
	case s.Int("num_attention_heads") > 0:
		hidden = s.Int("num_attention_heads") * s.Int("attention_head_dim")
	}
	for _, k := range []string{"depth", "num_layers", "mm_double_blocks_depth"} {
		if d := s.Int(k); d > 0 {
			return hidden, d
		}
	}
	return hidden, 0
}
