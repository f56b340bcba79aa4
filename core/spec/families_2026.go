package spec

import "fmt"

// Families of today's diffusion transformers (Flux.1, Wan 2.1/2.2,
// SD3/SD3.5, HunyuanVideo), each in the original release's layout and in
// diffusers' layout. The original-layout families take a "prefix" field
// for single-file layouts (ComfyUI: model.diffusion_model.).

// PrefixParam is the ditkit field naming the key prefix of a single-file
// layout; Keys prepends it to every key.
const PrefixParam = "prefix"

// ComfyPrefix is the prefix of ComfyUI / SAI single files.
const ComfyPrefix = "model.diffusion_model."

func pPrefix() Param {
	return Param{Name: PrefixParam, Kind: KindString, Default: "", Doc: "ditkit: key prefix of a single-file layout (ComfyUI: \"model.diffusion_model.\"); \"\" = the release's flat layout"}
}

func pStr(name string, def any, nullable bool, choices []string, doc string) Param {
	return Param{Name: name, Kind: KindString, Default: def, Nullable: nullable, Choices: choices, Doc: doc}
}

func pNullInt(name string, min float64, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: nil, Nullable: true, Min: min, Doc: doc}
}

func pNullBool(name, doc string) Param {
	return Param{Name: name, Kind: KindBool, Default: nil, Nullable: true, Doc: doc}
}

// nullInt is an optional integer parameter (0 when null).
func (s *Spec) nullInt(name string) (int, bool) {
	v, ok := s.params[name].(int)
	return v, ok
}

// intOr is an optional integer parameter, def when null.
func (s *Spec) intOr(name string, def int) int {
	if v, ok := s.nullInt(name); ok {
		return v
	}
	return def
}

// norm adds a norm layer's weight (and bias).
func (b *kb) norm(prefix string, n int, bias bool) {
	b.param(prefix+".weight", n)
	if bias {
		b.param(prefix+".bias", n)
	}
}

func init() {
	registerFlux()
	registerFluxDiffusers()
	registerWan()
	registerWanDiffusers()
	registerSD3()
	registerSD3Diffusers()
	registerHunyuanVideo()
	registerHunyuanVideoDiffusers()
}

func shortName(s *Spec, parts ...any) string {
	out := s.Family
	for i := 0; i+1 < len(parts); i += 2 {
		out += fmt.Sprintf(" %v%v", parts[i], parts[i+1])
	}
	if pre := s.Str(PrefixParam); pre != "" {
		out += fmt.Sprintf(" prefix %q", pre)
	}
	return out
}

// diffusersName is a diffusers-layout spec's short name: heads, head dim
// and layers (diffusersNameIn adds in_channels).
func diffusersName(s *Spec) string {
	return shortName(s, "heads", s.Int("num_attention_heads"), "hd", s.Int("attention_head_dim"), "L", s.Int("num_layers"))
}

func diffusersNameIn(s *Spec) string {
	return shortName(s, "heads", s.Int("num_attention_heads"), "hd", s.Int("attention_head_dim"), "L", s.Int("num_layers"), "in", s.Int("in_channels"))
}

// ---------------------------------------------------------------- Flux (BFL)

// fluxParams are BFL's FluxParams shared by Flux and Open-Sora 2.0's
// MMDiT (their in/out channels and biases differ).
var fluxParams = []Param{
	pInt("vec_in_dim", 768, 1, "pooled text vector width (CLIP-L)"),
	pInt("context_in_dim", 4096, 1, "text token width (T5-XXL)"),
	pInt("hidden_size", 3072, 1, "H"),
	pFloat("mlp_ratio", 4.0, 0, true, "MLP ratio"),
	pInt("num_heads", 24, 1, "heads (head dim from query_norm.scale)"),
	pInt("depth", 19, 1, "double-stream blocks"),
	pInt("depth_single_blocks", 38, 0, "single-stream blocks"),
	pInts("axes_dim", []int{16, 56, 56}, 0, 1, "RoPE axes (sum = head dim)"),
	pInt("theta", 10000, 1, "RoPE base (no key effect)"),
}

func registerFlux() {
	params := concat([]Param{
		pInt("in_channels", 64, 1, "packed latent channels per token (16-ch latent × 2×2; Fill 384, Canny/Depth 128)"),
		pInt("out_channels", 64, 1, "packed output channels"),
	}, fluxParams, []Param{
		pBool("qkv_bias", true, "bias on the double blocks' qkv"),
		pBool("guidance_embed", true, "guidance_in (dev, Fill, Canny, Depth, Kontext; false for schnell)"),
		pPrefix(),
	})
	register(&family{
		FamilyInfo: FamilyInfo{ID: "flux", Description: "black-forest-labs/flux src/flux/model.py Flux(FluxParams) (the flux1-*.safetensors release layout); defaults = flux-dev", Params: params},
		validate:   validateFluxLike,
		keys: func(s *Spec) []Entry {
			return fluxKeys(s, s.Int("out_channels"), true, false)
		},
		name: func(s *Spec) string {
			return shortName(s, "H", s.Int("hidden_size"), "D", s.Int("depth"), "S", s.Int("depth_single_blocks"), "in", s.Int("in_channels"))
		},
	})
}

func validateFluxLike(s *Spec) error {
	if err := checkHeads(s, "hidden_size", "num_heads"); err != nil {
		return err
	}
	hd := s.Int("hidden_size") / s.Int("num_heads")
	if sum := sum(s.Ints("axes_dim")); sum != hd {
		return fieldErr(s.Family, "axes_dim", "sums to %d, expected head dim %d", sum, hd)
	}
	return checkMLP(s)
}

// fluxKeys is the BFL double/single-stream layout shared by Flux and
// Open-Sora 2.0's MMDiT (mmdit adds split q/k/v and cond_in).
func fluxKeys(s *Spec, outC int, fused, cond bool) []Entry {
	h, c := s.Int("hidden_size"), s.Int("in_channels")
	hd := h / s.Int("num_heads")
	m := mlpHidden(h, s.Float("mlp_ratio"))
	qb := s.Bool("qkv_bias")
	var b kb
	b.linear("img_in", h, c, true)
	b.mlpEmbedder("time_in", h, 256)
	b.mlpEmbedder("vector_in", h, s.Int("vec_in_dim"))
	if s.Bool("guidance_embed") {
		b.mlpEmbedder("guidance_in", h, 256)
	}
	if cond {
		pp := s.Int("patch_size")
		b.linear("cond_in", h, c+pp*pp, true)
	}
	b.linear("txt_in", h, s.Int("context_in_dim"), true)
	for i := 0; i < s.Int("depth"); i++ {
		pre := "double_blocks." + itoa(i)
		for _, st := range []string{"img", "txt"} {
			b.linear(pre+"."+st+"_mod.lin", 6*h, h, true)
			a := pre + "." + st + "_attn"
			if fused {
				b.linear(a+".qkv", 3*h, h, qb)
			} else {
				b.linear(a+".q_proj", h, h, qb)
				b.linear(a+".k_proj", h, h, qb)
				b.linear(a+".v_proj", h, h, qb)
			}
			b.param(a+".norm.query_norm.scale", hd)
			b.param(a+".norm.key_norm.scale", hd)
			b.linear(a+".proj", h, h, true)
			b.linear(pre+"."+st+"_mlp.0", m, h, true)
			b.linear(pre+"."+st+"_mlp.2", h, m, true)
		}
	}
	for j := 0; j < s.Int("depth_single_blocks"); j++ {
		pre := "single_blocks." + itoa(j)
		if fused {
			b.linear(pre+".linear1", 3*h+m, h, true)
		} else {
			b.linear(pre+".q_proj", h, h, true)
			b.linear(pre+".k_proj", h, h, true)
			b.linear(pre+".v_mlp", h+m, h, true)
		}
		b.linear(pre+".linear2", h, h+m, true)
		b.param(pre+".norm.query_norm.scale", hd)
		b.param(pre+".norm.key_norm.scale", hd)
		b.linear(pre+".modulation.lin", 3*h, h, true)
	}
	b.linear("final_layer.linear", outC, h, true)
	b.linear("final_layer.adaLN_modulation.1", 2*h, h, true)
	return b.e
}

// ---------------------------------------------------------------- Flux (diffusers)

func registerFluxDiffusers() {
	params := concat([]Param{
		pInt("patch_size", 1, 1, "patch (the packed tokens are already 2×2 patches)"),
		pInt("in_channels", 64, 1, "x_embedder input width"),
		pNullInt("out_channels", 1, "null = in_channels"),
		pInt("num_layers", 19, 1, "double-stream blocks"),
		pInt("num_single_layers", 38, 0, "single-stream blocks"),
		pInt("attention_head_dim", 128, 1, "head dim"),
		pInt("num_attention_heads", 24, 1, "heads; H = heads × head dim"),
		pInt("joint_attention_dim", 4096, 1, "text token width"),
		pInt("pooled_projection_dim", 768, 1, "pooled text width"),
		pBool("guidance_embeds", false, "time_text_embed.guidance_embedder"),
		pInts("axes_dims_rope", []int{16, 56, 56}, 0, 1, "RoPE axes (no key effect)"),
	}, pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "flux-diffusers", Description: "diffusers FluxTransformer2DModel (scripts/convert_flux_to_diffusers.py layout: q/k/v and the single blocks' linear1 split, final shift/scale swapped)", Params: params},
		keys: func(s *Spec) []Entry {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			hd, m := s.Int("attention_head_dim"), 4*h
			p := s.Int("patch_size")
			out := s.intOr("out_channels", s.Int("in_channels"))
			var b kb
			b.embedding("time_text_embed.timestep_embedder", h, 256)
			if s.Bool("guidance_embeds") {
				b.embedding("time_text_embed.guidance_embedder", h, 256)
			}
			b.embedding("time_text_embed.text_embedder", h, s.Int("pooled_projection_dim"))
			b.linear("context_embedder", h, s.Int("joint_attention_dim"), true)
			b.linear("x_embedder", h, s.Int("in_channels"), true)
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "transformer_blocks." + itoa(i)
				b.linear(pre+".norm1.linear", 6*h, h, true)
				b.linear(pre+".norm1_context.linear", 6*h, h, true)
				a := pre + ".attn"
				b.rmsNorms(a, hd, "norm_q", "norm_k")
				b.qkvo(a, h, h, true, true)
				b.rmsNorms(a, hd, "norm_added_q", "norm_added_k")
				for _, n := range []string{"add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"} {
					b.linear(a+"."+n, h, h, true)
				}
				for _, ff := range []string{".ff", ".ff_context"} {
					b.ff(pre+ff, h, m)
				}
			}
			for j := 0; j < s.Int("num_single_layers"); j++ {
				pre := "single_transformer_blocks." + itoa(j)
				b.linear(pre+".norm.linear", 3*h, h, true)
				b.linear(pre+".proj_mlp", m, h, true)
				b.linear(pre+".proj_out", h, h+m, true)
				b.rmsNorms(pre+".attn", hd, "norm_q", "norm_k")
				for _, n := range []string{"to_q", "to_k", "to_v"} {
					b.linear(pre+".attn."+n, h, h, true)
				}
			}
			b.linear("norm_out.linear", 2*h, h, true)
			b.linear("proj_out", p*p*out, h, true)
			return b.e
		},
		name: func(s *Spec) string {
			return shortName(s, "heads", s.Int("num_attention_heads"), "hd", s.Int("attention_head_dim"), "L", s.Int("num_layers"), "S", s.Int("num_single_layers"), "in", s.Int("in_channels"))
		},
	})
}

// ---------------------------------------------------------------- Wan (original)

// WanClipDim is the CLIP image-feature width Wan 2.1's image embedder takes
// (hard-coded upstream).
const WanClipDim = 1280

// wanFLFTokens is Wan 2.1 FLF2V's image-embedding position count
// (FIRST_LAST_FRAME_CONTEXT_TOKEN_NUMBER = 2 × 257).
const wanFLFTokens = 514

func registerWan() {
	params := []Param{
		pStr("model_type", "t2v", false, []string{"t2v", "i2v", "flf2v", "ti2v"}, "t2v, i2v, flf2v (Wan 2.1: CLIP image embedder, k_img/v_img) or ti2v (Wan 2.2 5B)"),
		pInts("patch_size", []int{1, 2, 2}, 3, 1, "patch (t, h, w)"),
		pInt("text_len", 512, 1, "text tokens (no key effect)"),
		pInt("in_dim", 16, 1, "input channels (i2v/flf2v 36 = 16 + 20, ti2v 48)"),
		pInt("dim", 2048, 1, "hidden width"),
		pInt("ffn_dim", 8192, 1, "FFN width"),
		pInt("freq_dim", 256, 1, "timestep sinusoid width"),
		pInt("text_dim", 4096, 1, "text width (umT5)"),
		pInt("out_dim", 16, 1, "output channels"),
		pInt("num_heads", 16, 1, "heads (not visible in shapes)"),
		pInt("num_layers", 32, 1, "blocks"),
		Param{Name: "window_size", Kind: KindInts, Default: []int{-1, -1}, Len: 2, Min: -1, Doc: "local attention window (no key effect)"},
		pBool("qk_norm", true, "RMSNorm on q and k (norm_q, norm_k)"),
		pBool("cross_attn_norm", true, "LayerNorm before cross-attention (norm3)"),
		pFloat("eps", 1e-6, 0, true, "norm epsilon (no key effect)"),
		pNullBool("image_embedding", "ditkit: the CLIP image embedder (img_emb, k_img/v_img); null = model_type i2v/flf2v as Wan 2.1 builds it; false for Wan 2.2 i2v (no CLIP)"),
		pPrefix(),
	}
	register(&family{
		FamilyInfo: FamilyInfo{ID: "wan", Description: "Wan-Video/Wan2.1 (and Wan2.2) wan/modules/model.py WanModel (released .safetensors layout)", Params: params},
		validate: func(s *Spec) error {
			if err := checkHeads(s, "dim", "num_heads"); err != nil {
				return err
			}
			return nil
		},
		keys: func(s *Spec) []Entry {
			d, f := s.Int("dim"), s.Int("ffn_dim")
			p := s.Ints("patch_size")
			img := s.wanImage()
			var b kb
			b.conv("patch_embedding", d, s.Int("in_dim"), p...)
			b.linear("text_embedding.0", d, s.Int("text_dim"), true)
			b.linear("text_embedding.2", d, d, true)
			b.linear("time_embedding.0", d, s.Int("freq_dim"), true)
			b.linear("time_embedding.2", d, d, true)
			b.linear("time_projection.1", 6*d, d, true)
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "blocks." + itoa(i)
				b.param(pre+".modulation", 1, 6, d)
				for _, at := range []string{".self_attn", ".cross_attn"} {
					if at == ".cross_attn" && s.Bool("cross_attn_norm") {
						b.norm(pre+".norm3", d, true)
					}
					for _, n := range []string{".q", ".k", ".v", ".o"} {
						b.linear(pre+at+n, d, d, true)
					}
					if s.Bool("qk_norm") {
						b.rmsNorms(pre+at, d, "norm_q", "norm_k")
					}
				}
				if img {
					b.linear(pre+".cross_attn.k_img", d, d, true)
					b.linear(pre+".cross_attn.v_img", d, d, true)
					if s.Bool("qk_norm") {
						b.param(pre+".cross_attn.norm_k_img.weight", d)
					}
				}
				b.linear(pre+".ffn.0", f, d, true)
				b.linear(pre+".ffn.2", d, f, true)
			}
			b.param("head.modulation", 1, 2, d)
			b.linear("head.head", prod(p)*s.Int("out_dim"), d, true)
			if img {
				if s.Str("model_type") == "flf2v" {
					b.param("img_emb.emb_pos", 1, wanFLFTokens, WanClipDim)
				}
				b.norm("img_emb.proj.0", WanClipDim, true)
				b.linear("img_emb.proj.1", WanClipDim, WanClipDim, true)
				b.linear("img_emb.proj.3", d, WanClipDim, true)
				b.norm("img_emb.proj.4", d, true)
			}
			return b.e
		},
		name: func(s *Spec) string {
			return shortName(s, "", s.Str("model_type"), "dim", s.Int("dim"), "L", s.Int("num_layers"), "in", s.Int("in_dim"))
		},
	})
}

// wanImage reports whether a Wan spec has the CLIP image embedder.
func (s *Spec) wanImage() bool {
	if v, ok := s.params["image_embedding"].(bool); ok {
		return v
	}
	mt := s.Str("model_type")
	return mt == "i2v" || mt == "flf2v"
}

// ---------------------------------------------------------------- Wan (diffusers)

func registerWanDiffusers() {
	params := concat([]Param{
		pInts("patch_size", []int{1, 2, 2}, 3, 1, "patch (t, h, w)"),
		pInt("num_attention_heads", 40, 1, "heads"),
		pInt("attention_head_dim", 128, 1, "head dim; inner = heads × head dim"),
		pInt("in_channels", 16, 1, "input channels"),
		pInt("out_channels", 16, 1, "output channels"),
		pInt("text_dim", 4096, 1, "text width"),
		pInt("freq_dim", 256, 1, "timestep sinusoid width"),
		pInt("ffn_dim", 13824, 1, "FFN width"),
		pInt("num_layers", 40, 1, "blocks"),
		pBool("cross_attn_norm", true, "norm2 before cross-attention"),
		pStr("qk_norm", "rms_norm_across_heads", true, []string{"rms_norm_across_heads"}, "q/k RMSNorm across heads (null: none)"),
		pFloat("eps", 1e-6, 0, true, "norm epsilon (no key effect)"),
		pNullInt("image_dim", 1, "CLIP image width (1280 for i2v/flf2v; null: no image embedder)"),
		pNullInt("added_kv_proj_dim", 1, "image key/value input width (add_k_proj/add_v_proj; null: none)"),
		pInt("rope_max_seq_len", 1024, 1, "RoPE table length (no key effect)"),
		pNullInt("pos_embed_seq_len", 1, "FLF2V image position table length (514)"),
	}, pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "wan-diffusers", Description: "diffusers WanTransformer3DModel (scripts/convert_wan_to_diffusers.py layout; renames only)", Params: params},
		keys: func(s *Spec) []Entry {
			d := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			f := s.Int("ffn_dim")
			p := s.Ints("patch_size")
			qk := s.Str("qk_norm") != ""
			var b kb
			b.param("scale_shift_table", 1, 2, d)
			b.conv("patch_embedding", d, s.Int("in_channels"), p...)
			b.embedding("condition_embedder.time_embedder", d, s.Int("freq_dim"))
			b.linear("condition_embedder.time_proj", 6*d, d, true)
			b.embedding("condition_embedder.text_embedder", d, s.Int("text_dim"))
			if img, ok := s.nullInt("image_dim"); ok {
				if n, ok := s.nullInt("pos_embed_seq_len"); ok {
					b.param("condition_embedder.image_embedder.pos_embed", 1, n, img)
				}
				b.norm("condition_embedder.image_embedder.norm1", img, true)
				b.linear("condition_embedder.image_embedder.ff.net.0.proj", img, img, true)
				b.linear("condition_embedder.image_embedder.ff.net.2", d, img, true)
				b.norm("condition_embedder.image_embedder.norm2", d, true)
			}
			add, hasAdd := s.nullInt("added_kv_proj_dim")
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "blocks." + itoa(i)
				b.param(pre+".scale_shift_table", 1, 6, d)
				for _, at := range []string{".attn1", ".attn2"} {
					b.qkvo(pre+at, d, d, true, true)
					if qk {
						b.rmsNorms(pre+at, d, "norm_q", "norm_k")
					}
				}
				if hasAdd {
					b.linear(pre+".attn2.add_k_proj", d, add, true)
					b.linear(pre+".attn2.add_v_proj", d, add, true)
					if qk {
						b.param(pre+".attn2.norm_added_k.weight", d)
					}
				}
				if s.Bool("cross_attn_norm") {
					b.norm(pre+".norm2", d, true)
				}
				b.ff(pre+".ffn", d, f)
			}
			b.linear("proj_out", prod(p)*s.Int("out_channels"), d, true)
			return b.e
		},
		name: diffusersNameIn,
	})
}

// ---------------------------------------------------------------- SD3 / SD3.5 (MMDiTX)

func registerSD3() {
	params := []Param{
		pNullInt("input_size", 1, "latent side (PatchEmbed img_size; no key effect)"),
		pInt("patch_size", 2, 1, "patch"),
		pInt("in_channels", 4, 1, "latent channels (released: 16)"),
		pInt("depth", 28, 1, "joint blocks; hidden = 64·depth, heads = depth (hard-coded upstream)"),
		pFloat("mlp_ratio", 4.0, 0, true, "MLP ratio"),
		pBool("learn_sigma", false, "output 2C channels"),
		pNullInt("adm_in_channels", 1, "pooled text width (y_embedder; 2048 released)"),
		{Name: "context_embedder_config", Kind: KindAny, Keyed: true, Doc: "{\"target\": \"torch.nn.Linear\", \"params\": {\"in_features\": 4096, \"out_features\": 64·depth}} or null (Identity)"},
		pInt("register_length", 0, 0, "learned register tokens (register [1, n, H])"),
		pBool("rmsnorm", false, "RMSNorm without affine (no key effect)"),
		pBool("scale_mod_only", false, "modulation without shifts (4 or 1 chunks)"),
		pBool("swiglu", false, "SwiGLU MLP (w1, w2, w3)"),
		pNullInt("out_channels", 1, "null = in_channels (×2 with learn_sigma)"),
		{Name: "pos_embed_scaling_factor", Kind: KindFloat, Default: nil, Nullable: true, Doc: "no key effect"},
		{Name: "pos_embed_offset", Kind: KindFloat, Default: nil, Nullable: true, Doc: "no key effect"},
		pNullInt("pos_embed_max_size", 1, "position-table side (192 for SD3-medium and 3.5-large, 384 for 3.5-medium)"),
		pNullInt("num_patches", 1, "pos_embed rows (pos_embed_max_size²); null = no pos_embed buffer"),
		pStr("qk_norm", nil, true, []string{"rms", "ln"}, "q/k norm per head: rms (SD3.5), ln, or null (SD3)"),
		pInts("x_block_self_attn_layers", []int{}, 0, 0, "blocks with the extra x-stream self-attention attn2 (SD3.5-medium: 0–12)"),
		pBool("qkv_bias", true, "bias on qkv"),
		pPrefix(),
	}
	params = concat(params, pAny("dtype", "device", "verbose", "attn_mode"))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "sd3", Description: "Stability-AI/sd3.5 mmditx.py MMDiTX (SD3 / SD3.5 release layout; sd3_impls.BaseModel derives the arguments from the file's shapes)", Params: params},
		validate: func(s *Spec) error {
			in, out, err := s.sd3Context()
			if err != nil {
				return err
			}
			if in > 0 && out != 64*s.Int("depth") {
				return fieldErr(s.Family, "context_embedder_config", "out_features %d must equal the hidden size 64·depth = %d", out, 64*s.Int("depth"))
			}
			for _, l := range s.Ints("x_block_self_attn_layers") {
				if l >= s.Int("depth")-1 {
					return fieldErr(s.Family, "x_block_self_attn_layers", "layer %d: only blocks 0..%d can have attn2 (the last block is pre-only)", l, s.Int("depth")-2)
				}
			}
			if s.Bool("scale_mod_only") && len(s.Ints("x_block_self_attn_layers")) > 0 {
				return fieldErr(s.Family, "scale_mod_only", "cannot be combined with x_block_self_attn_layers (upstream assertion)")
			}
			return checkMLP2(s, 64*s.Int("depth"))
		},
		keys: sd3Keys,
		name: func(s *Spec) string {
			return shortName(s, "D", s.Int("depth"), "in", s.Int("in_channels"))
		},
	})
}

func checkMLP2(s *Spec, h int) error {
	r := s.Float("mlp_ratio")
	if r > 64 || mlpHidden(h, r) < 1 {
		return fieldErr(s.Family, "mlp_ratio", "%v is out of range for hidden size %d", r, h)
	}
	return nil
}

// sd3Context reads context_embedder_config: (in, out) features, or 0, 0
// for null (nn.Identity).
func (s *Spec) sd3Context() (int, int, error) {
	v := s.params["context_embedder_config"]
	if v == nil {
		return 0, 0, nil
	}
	bad := func(msg string) (int, int, error) {
		return 0, 0, fieldErr(s.Family, "context_embedder_config", "%s", msg)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return bad("must be an object {\"target\": \"torch.nn.Linear\", \"params\": {\"in_features\": N, \"out_features\": M}} or null")
	}
	if t, _ := m["target"].(string); t != "torch.nn.Linear" {
		return bad(fmt.Sprintf("target %v: only torch.nn.Linear is supported", m["target"]))
	}
	ps, ok := m["params"].(map[string]any)
	if !ok {
		return bad("params must be an object with in_features and out_features")
	}
	in, ok1 := toInt(ps["in_features"])
	out, ok2 := toInt(ps["out_features"])
	if !ok1 || !ok2 || in < 1 || out < 1 || in > 1<<20 || out > 1<<20 {
		return bad("params.in_features and params.out_features must be positive integers")
	}
	return in, out, nil
}

// SD3ContextConfig builds MMDiTX's context_embedder_config for a Linear.
func SD3ContextConfig(in, out int) map[string]any {
	return map[string]any{"target": "torch.nn.Linear", "params": map[string]any{"in_features": in, "out_features": out}}
}

func sd3Keys(s *Spec) []Entry {
	depth := s.Int("depth")
	h := 64 * depth
	m := mlpHidden(h, s.Float("mlp_ratio"))
	p, c := s.Int("patch_size"), s.Int("in_channels")
	out := s.intOr("out_channels", outChannels(s, "learn_sigma"))
	self := map[int]bool{}
	for _, l := range s.Ints("x_block_self_attn_layers") {
		self[l] = true
	}
	var b kb
	if r := s.Int("register_length"); r > 0 {
		b.param("register", 1, r, h)
	}
	if n, ok := s.nullInt("num_patches"); ok {
		b.buffer("pos_embed", false, 1, n, h)
	}
	b.conv("x_embedder.proj", h, c, p, p)
	b.timestepEmbedder("t_embedder", h)
	if adm, ok := s.nullInt("adm_in_channels"); ok {
		b.linear("y_embedder.mlp.0", h, adm, true)
		b.linear("y_embedder.mlp.2", h, h, true)
	}
	if in, out, _ := s.sd3Context(); in > 0 {
		b.linear("context_embedder", out, in, true)
	}
	attn := func(pre string, preOnly bool) {
		b.linear(pre+".qkv", 3*h, h, s.Bool("qkv_bias"))
		if !preOnly {
			b.linear(pre+".proj", h, h, true)
		}
		switch s.Str("qk_norm") {
		case "rms":
			b.param(pre+".ln_q.weight", 64)
			b.param(pre+".ln_k.weight", 64)
		case "ln":
			b.norm(pre+".ln_q", 64, true)
			b.norm(pre+".ln_k", 64, true)
		}
	}
	block := func(pre string, preOnly, selfAttn bool) {
		attn(pre+".attn", preOnly)
		if selfAttn {
			attn(pre+".attn2", false)
		}
		if !preOnly {
			if s.Bool("swiglu") {
				hid := int(2 * float64(m) / 3)
				hid = 256 * ((hid + 255) / 256)
				b.param(pre+".mlp.w1.weight", hid, h)
				b.param(pre+".mlp.w2.weight", h, hid)
				b.param(pre+".mlp.w3.weight", hid, h)
			} else {
				b.timmMlp(pre+".mlp", h, m)
			}
		}
		mods := 6
		switch {
		case selfAttn:
			mods = 9
		case s.Bool("scale_mod_only") && preOnly:
			mods = 1
		case s.Bool("scale_mod_only"):
			mods = 4
		case preOnly:
			mods = 2
		}
		b.linear(pre+".adaLN_modulation.1", mods*h, h, true)
	}
	for i := 0; i < depth; i++ {
		pre := "joint_blocks." + itoa(i)
		block(pre+".context_block", i == depth-1, false)
		block(pre+".x_block", false, self[i])
	}
	b.linear("final_layer.linear", p*p*out, h, true)
	b.linear("final_layer.adaLN_modulation.1", 2*h, h, true)
	return b.e
}

// ---------------------------------------------------------------- SD3 (diffusers)

func registerSD3Diffusers() {
	params := concat([]Param{
		pInt("sample_size", 128, 1, "latent side (no key effect with pos_embed_max_size)"),
		pInt("patch_size", 2, 1, "patch"),
		pInt("in_channels", 16, 1, "latent channels"),
		pInt("num_layers", 18, 1, "blocks"),
		pInt("attention_head_dim", 64, 1, "head dim"),
		pInt("num_attention_heads", 18, 1, "heads; inner = heads × head dim"),
		pInt("joint_attention_dim", 4096, 1, "text token width"),
		pInt("caption_projection_dim", 1152, 1, "context_embedder output width (= inner)"),
		pInt("pooled_projection_dim", 2048, 1, "pooled text width"),
		pInt("out_channels", 16, 1, "output channels"),
		pNullInt("pos_embed_max_size", 1, "position-table side (saved buffer pos_embed.pos_embed); null: not saved"),
		pInts("dual_attention_layers", []int{}, 0, 0, "blocks with attn2 (SD3.5-medium: 0–12)"),
		pStr("qk_norm", nil, true, []string{"rms_norm", "layer_norm"}, "q/k norm (rms_norm for SD3.5)"),
	}, pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "sd3-diffusers", Description: "diffusers SD3Transformer2DModel (scripts/convert_sd3_to_diffusers.py layout: qkv split, final and last-context shift/scale swapped)", Params: params},
		keys: func(s *Spec) []Entry {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			hd := s.Int("attention_head_dim")
			p, L := s.Int("patch_size"), s.Int("num_layers")
			dual := map[int]bool{}
			for _, l := range s.Ints("dual_attention_layers") {
				dual[l] = true
			}
			var b kb
			qk := func(pre string, names ...string) {
				for _, n := range names {
					switch s.Str("qk_norm") {
					case "rms_norm":
						b.param(pre+"."+n+".weight", hd)
					case "layer_norm":
						b.norm(pre+"."+n, hd, true)
					}
				}
			}
			if mx, ok := s.nullInt("pos_embed_max_size"); ok {
				b.buffer("pos_embed.pos_embed", false, 1, mx*mx, h)
			}
			b.conv("pos_embed.proj", h, s.Int("in_channels"), p, p)
			b.embedding("time_text_embed.timestep_embedder", h, 256)
			b.embedding("time_text_embed.text_embedder", h, s.Int("pooled_projection_dim"))
			b.linear("context_embedder", s.Int("caption_projection_dim"), s.Int("joint_attention_dim"), true)
			for i := 0; i < L; i++ {
				pre := "transformer_blocks." + itoa(i)
				last := i == L-1
				rows := 6 * h
				if dual[i] {
					rows = 9 * h
				}
				b.linear(pre+".norm1.linear", rows, h, true)
				if last {
					b.linear(pre+".norm1_context.linear", 2*h, h, true)
				} else {
					b.linear(pre+".norm1_context.linear", 6*h, h, true)
				}
				a := pre + ".attn"
				qk(a, "norm_q", "norm_k")
				for _, n := range []string{"to_q", "to_k", "to_v", "add_k_proj", "add_v_proj", "add_q_proj", "to_out.0"} {
					b.linear(a+"."+n, h, h, true)
				}
				if !last {
					b.linear(a+".to_add_out", h, h, true)
				}
				qk(a, "norm_added_q", "norm_added_k")
				if dual[i] {
					a2 := pre + ".attn2"
					qk(a2, "norm_q", "norm_k")
					b.qkvo(a2, h, h, true, true)
				}
				b.ff(pre+".ff", h, 4*h)
				if !last {
					b.ff(pre+".ff_context", h, 4*h)
				}
			}
			b.linear("norm_out.linear", 2*h, h, true)
			b.linear("proj_out", p*p*s.Int("out_channels"), h, true)
			return b.e
		},
		name: diffusersName,
	})
}

// ---------------------------------------------------------------- HunyuanVideo (original)

func registerHunyuanVideo() {
	params := []Param{
		pInts("patch_size", []int{1, 2, 2}, 3, 1, "patch (t, h, w)"),
		pInt("in_channels", 16, 1, "input channels (t2v 16; I2V 33 = 16·2 + 1 mask; SkyReels I2V 32)"),
		pNullInt("out_channels", 1, "null = in_channels"),
		pInt("hidden_size", 3072, 1, "H"),
		pInt("heads_num", 24, 1, "heads (head dim from the q norms)"),
		pFloat("mlp_width_ratio", 4.0, 0, true, "MLP ratio"),
		pInt("mm_double_blocks_depth", 20, 1, "double-stream blocks"),
		pInt("mm_single_blocks_depth", 40, 0, "single-stream blocks"),
		pInts("rope_dim_list", []int{16, 56, 56}, 0, 1, "RoPE axes (sum = head dim; no key effect)"),
		pBool("qkv_bias", true, "bias on qkv"),
		pBool("qk_norm", true, "q/k norms"),
		pStr("qk_norm_type", "rms", false, []string{"rms", "layer"}, "rms (weight) or layer (weight+bias)"),
		pBool("guidance_embed", false, "guidance_in (the cfg-distilled t2v release: true)"),
		pStr("text_projection", "single_refiner", false, []string{"single_refiner", "linear"}, "txt_in: the token refiner or a plain projection"),
		pInt("text_states_dim", 4096, 1, "text token width (args.text_states_dim, LLaVA)"),
		pInt("text_states_dim_2", 768, 1, "pooled text width (args.text_states_dim_2, CLIP-L)"),
		pPrefix(),
	}
	params = concat(params, pAny("mlp_act_type", "use_attention_mask", "dtype", "device"))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "hunyuanvideo", Description: "Tencent/HunyuanVideo hyvideo/modules/models.py HYVideoDiffusionTransformer (release layout; args.text_states_dim(_2) as text_states_dim(_2))", Params: params},
		validate: func(s *Spec) error {
			if err := checkHeads(s, "hidden_size", "heads_num"); err != nil {
				return err
			}
			if mlpHidden(s.Int("hidden_size"), s.Float("mlp_width_ratio")) < 1 {
				return fieldErr(s.Family, "mlp_width_ratio", "gives an empty MLP")
			}
			return nil
		},
		keys: hunyuanKeys,
		name: func(s *Spec) string {
			return shortName(s, "H", s.Int("hidden_size"), "D", s.Int("mm_double_blocks_depth"), "S", s.Int("mm_single_blocks_depth"), "in", s.Int("in_channels"))
		},
	})
}

func hunyuanKeys(s *Spec) []Entry {
	h := s.Int("hidden_size")
	hd := h / s.Int("heads_num")
	m := mlpHidden(h, s.Float("mlp_width_ratio"))
	p := s.Ints("patch_size")
	out := s.intOr("out_channels", s.Int("in_channels"))
	qb := s.Bool("qkv_bias")
	var b kb
	qk := func(names ...string) {
		if !s.Bool("qk_norm") {
			return
		}
		for _, n := range names {
			b.norm(n, hd, s.Str("qk_norm_type") == "layer")
		}
	}
	b.conv("img_in.proj", h, s.Int("in_channels"), p...)
	ts := s.Int("text_states_dim")
	if s.Str("text_projection") == "linear" {
		b.embedding("txt_in", h, ts)
	} else {
		b.linear("txt_in.input_embedder", h, ts, true)
		b.timestepEmbedder("txt_in.t_embedder", h)
		b.embedding("txt_in.c_embedder", h, ts)
		for i := 0; i < 2; i++ {
			pre := "txt_in.individual_token_refiner.blocks." + itoa(i)
			b.norm(pre+".norm1", h, true)
			b.linear(pre+".self_attn_qkv", 3*h, h, qb)
			b.linear(pre+".self_attn_proj", h, h, qb)
			b.norm(pre+".norm2", h, true)
			b.timmMlp(pre+".mlp", h, m)
			b.linear(pre+".adaLN_modulation.1", 2*h, h, true)
		}
	}
	b.timestepEmbedder("time_in", h)
	b.mlpEmbedder("vector_in", h, s.Int("text_states_dim_2"))
	if s.Bool("guidance_embed") {
		b.timestepEmbedder("guidance_in", h)
	}
	for i := 0; i < s.Int("mm_double_blocks_depth"); i++ {
		pre := "double_blocks." + itoa(i)
		for _, st := range []string{"img", "txt"} {
			b.linear(pre+"."+st+"_mod.linear", 6*h, h, true)
			b.linear(pre+"."+st+"_attn_qkv", 3*h, h, qb)
			qk(pre+"."+st+"_attn_q_norm", pre+"."+st+"_attn_k_norm")
			b.linear(pre+"."+st+"_attn_proj", h, h, qb)
			b.timmMlp(pre+"."+st+"_mlp", h, m)
		}
	}
	for j := 0; j < s.Int("mm_single_blocks_depth"); j++ {
		pre := "single_blocks." + itoa(j)
		b.linear(pre+".linear1", 3*h+m, h, true)
		b.linear(pre+".linear2", h, h+m, true)
		qk(pre+".q_norm", pre+".k_norm")
		b.linear(pre+".modulation.linear", 3*h, h, true)
	}
	b.linear("final_layer.linear", prod(p)*out, h, true)
	b.linear("final_layer.adaLN_modulation.1", 2*h, h, true)
	return b.e
}

// ---------------------------------------------------------------- HunyuanVideo (diffusers)

func registerHunyuanVideoDiffusers() {
	params := concat([]Param{
		pInt("in_channels", 16, 1, "input channels"),
		pInt("out_channels", 16, 1, "output channels"),
		pInt("num_attention_heads", 24, 1, "heads"),
		pInt("attention_head_dim", 128, 1, "head dim; inner = heads × head dim"),
		pInt("num_layers", 20, 1, "double-stream blocks"),
		pInt("num_single_layers", 40, 0, "single-stream blocks"),
		pInt("num_refiner_layers", 2, 0, "token-refiner blocks"),
		pFloat("mlp_ratio", 4.0, 0, true, "MLP ratio"),
		pInt("patch_size", 2, 1, "spatial patch"),
		pInt("patch_size_t", 1, 1, "temporal patch"),
		pStr("qk_norm", "rms_norm", false, []string{"rms_norm"}, "q/k norm"),
		pBool("guidance_embeds", true, "time_text_embed.guidance_embedder"),
		pInt("text_embed_dim", 4096, 1, "text token width"),
		pInt("pooled_projection_dim", 768, 1, "pooled text width"),
		pFloat("rope_theta", 256.0, 0, true, "RoPE base (no key effect)"),
		pInts("rope_axes_dim", []int{16, 56, 56}, 0, 1, "RoPE axes (no key effect)"),
		pStr("image_condition_type", nil, true, []string{"latent_concat", "token_replace"}, "I2V conditioning (no key effect)"),
	}, pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "hunyuanvideo-diffusers", Description: "diffusers HunyuanVideoTransformer3DModel (scripts/convert_hunyuan_video_to_diffusers.py layout)", Params: params},
		keys: func(s *Spec) []Entry {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			hd := s.Int("attention_head_dim")
			m := mlpHidden(h, s.Float("mlp_ratio"))
			p, pt := s.Int("patch_size"), s.Int("patch_size_t")
			var b kb
			b.conv("x_embedder.proj", h, s.Int("in_channels"), pt, p, p)
			c := "context_embedder."
			b.embedding(c+"time_text_embed.timestep_embedder", h, 256)
			b.embedding(c+"time_text_embed.text_embedder", h, s.Int("text_embed_dim"))
			b.linear(c+"proj_in", h, s.Int("text_embed_dim"), true)
			for i := 0; i < s.Int("num_refiner_layers"); i++ {
				pre := c + "token_refiner.refiner_blocks." + itoa(i)
				b.norm(pre+".norm1", h, true)
				b.qkvo(pre+".attn", h, h, true, true)
				b.norm(pre+".norm2", h, true)
				b.ff(pre+".ff", h, m)
				b.linear(pre+".norm_out.linear", 2*h, h, true)
			}
			b.embedding("time_text_embed.timestep_embedder", h, 256)
			b.embedding("time_text_embed.text_embedder", h, s.Int("pooled_projection_dim"))
			if s.Bool("guidance_embeds") {
				b.embedding("time_text_embed.guidance_embedder", h, 256)
			}
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "transformer_blocks." + itoa(i)
				b.linear(pre+".norm1.linear", 6*h, h, true)
				b.linear(pre+".norm1_context.linear", 6*h, h, true)
				a := pre + ".attn"
				b.rmsNorms(a, hd, "norm_q", "norm_k")
				for _, n := range []string{"to_q", "to_k", "to_v", "add_k_proj", "add_v_proj", "add_q_proj", "to_out.0", "to_add_out"} {
					b.linear(a+"."+n, h, h, true)
				}
				b.rmsNorms(a, hd, "norm_added_q", "norm_added_k")
				for _, ff := range []string{".ff", ".ff_context"} {
					b.ff(pre+ff, h, m)
				}
			}
			for j := 0; j < s.Int("num_single_layers"); j++ {
				pre := "single_transformer_blocks." + itoa(j)
				b.rmsNorms(pre+".attn", hd, "norm_q", "norm_k")
				for _, n := range []string{"to_q", "to_k", "to_v"} {
					b.linear(pre+".attn."+n, h, h, true)
				}
				b.linear(pre+".norm.linear", 3*h, h, true)
				b.linear(pre+".proj_mlp", m, h, true)
				b.linear(pre+".proj_out", h, h+m, true)
			}
			b.linear("norm_out.linear", 2*h, h, true)
			b.linear("proj_out", pt*p*p*s.Int("out_channels"), h, true)
			return b.e
		},
		name: diffusersNameIn,
	})
}
