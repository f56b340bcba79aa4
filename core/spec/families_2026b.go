package spec

// LTX-Video, CogVideoX and Sana. No reference key lists exist for these
// yet: the key lists follow the upstream classes (Lightricks/LTX-Video
// Transformer3DModel, diffusers LTXVideoTransformer3DModel,
// CogVideoXTransformer3DModel and SanaTransformer2DModel, NVlabs Sana's
// SanaMS as scripts/convert_sana_to_diffusers.py reads it), and the
// presets' parameter counts are cross-checked against the published
// sizes (README).

func init() {
	registerLTX()
	registerLTXDiffusers()
	registerCogVideoX()
	registerSana()
	registerSanaDiffusers()
	registerGroup("ltx-video", "ltx-video", LayoutOriginal, "LTX-Video")
	registerGroup("ltx-video-diffusers", "ltx-video", LayoutDiffusers, "LTX-Video")
	registerGroup("cogvideox", "cogvideox", LayoutDiffusers, "CogVideoX")
	registerGroup("sana", "sana", LayoutOriginal, "Sana")
	registerGroup("sana-diffusers", "sana", LayoutDiffusers, "Sana")
	for k, v := range map[string]string{"ltxv": "ltx-video", "ltx": "ltx-video", "ltxvideotransformer3dmodel": "ltx-video-diffusers",
		"cogvideoxtransformer3dmodel": "cogvideox", "cogvideo": "cogvideox", "sanams": "sana", "sanatransformer2dmodel": "sana-diffusers"} {
		familyAliases[k] = v
	}
}

// ---------------------------------------------------------------- LTX-Video (Lightricks)

// ltxAttn adds an LTX attention (q/k norms over all heads, then q, k, v,
// out) under prefix.
func (b *kb) ltxAttn(prefix, qk string, inner, kv int, bias, outBias bool) {
	switch qk {
	case "rms_norm", "rms_norm_across_heads":
		b.rmsNorms(prefix, inner, "q_norm", "k_norm")
	case "layer_norm":
		b.norm(prefix+".q_norm", inner, true)
		b.norm(prefix+".k_norm", inner, true)
	}
	b.qkvo(prefix, inner, kv, bias, outBias)
}

func registerLTX() {
	params := []Param{
		pInt("num_attention_heads", 32, 1, "heads"),
		pInt("attention_head_dim", 64, 1, "head dim; inner = heads × head dim (2B: 64, 13B: 128)"),
		pInt("in_channels", 128, 1, "latent channels (patchify_proj input)"),
		pNullInt("out_channels", 1, "null = in_channels"),
		pInt("num_layers", 28, 1, "blocks (2B: 28, 13B: 48)"),
		pNullInt("cross_attention_dim", 1, "text width after caption_projection (= inner); null: no cross-attention"),
		pBool("attention_bias", true, "bias on q, k, v"),
		pStr("adaptive_norm", "single_scale_shift", false, []string{"single_scale_shift", "single_scale", "none"}, "block modulation: 6 rows (shift+scale), 4 (scale only) or none"),
		pStr("standardization_norm", "rms_norm", false, []string{"rms_norm", "layer_norm"}, "block norms"),
		pBool("norm_elementwise_affine", false, "norm weights (released: false)"),
		pNullInt("caption_channels", 1, "T5 width (4096); null: no caption_projection"),
		pStr("qk_norm", "rms_norm", true, []string{"rms_norm", "layer_norm"}, "q/k norms"),
		pPrefix(),
	}
	params = concat(params, pAny("activation_fn", "norm_eps", "dropout", "norm_num_groups", "num_vector_embeds", "num_embeds_ada_norm",
		"use_linear_projection", "only_cross_attention", "double_self_attention", "upcast_attention", "attention_type",
		"use_tpu_flash_attention", "positional_embedding_type", "positional_embedding_theta", "positional_embedding_max_pos",
		"timestep_scale_multiplier", "causal_temporal_positioning"), pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "ltx-video", Description: "Lightricks/LTX-Video ltx_video/models/transformers/transformer3d.py Transformer3DModel (release single files keep it under model.diffusion_model. beside vae.*)", Params: params},
		keys: func(s *Spec) []Entry {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			in := s.Int("in_channels")
			out := s.intOr("out_channels", in)
			mods := map[string]int{"single_scale_shift": 6, "single_scale": 4}[s.Str("adaptive_norm")]
			affine, ln := s.Bool("norm_elementwise_affine"), s.Str("standardization_norm") == "layer_norm"
			var b kb
			b.param("scale_shift_table", 2, h)
			b.linear("patchify_proj", h, in, true)
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "transformer_blocks." + itoa(i)
				if mods > 0 {
					b.param(pre+".scale_shift_table", mods, h)
				}
				if affine {
					b.norm(pre+".norm1", h, ln)
				}
				b.ltxAttn(pre+".attn1", s.Str("qk_norm"), h, h, s.Bool("attention_bias"), true)
				if x, ok := s.nullInt("cross_attention_dim"); ok {
					b.ltxAttn(pre+".attn2", s.Str("qk_norm"), h, x, s.Bool("attention_bias"), true)
					if mods == 0 && affine {
						b.norm(pre+".attn2_norm", h, ln)
					}
				}
				if affine {
					b.norm(pre+".norm2", h, ln)
				}
				b.ff(pre+".ff", h, 4*h)
			}
			b.linear("proj_out", out, h, true)
			b.embedding("adaln_single.emb.timestep_embedder", h, 256)
			adaRows := 6
			if s.Str("adaptive_norm") == "single_scale" {
				adaRows = 4
			}
			b.linear("adaln_single.linear", adaRows*h, h, true)
			if c, ok := s.nullInt("caption_channels"); ok {
				b.embedding("caption_projection", h, c)
			}
			return b.e
		},
		name: diffusersName,
	})
}

func registerLTXDiffusers() {
	params := concat([]Param{
		pInt("in_channels", 128, 1, "latent channels"),
		pInt("out_channels", 128, 1, "output channels"),
		pInt("patch_size", 1, 1, "spatial patch (no key effect at 1)"),
		pInt("patch_size_t", 1, 1, "temporal patch"),
		pInt("num_attention_heads", 32, 1, "heads"),
		pInt("attention_head_dim", 64, 1, "head dim"),
		pInt("cross_attention_dim", 2048, 1, "cross-attention key/value width"),
		pInt("num_layers", 28, 1, "blocks"),
		pStr("qk_norm", "rms_norm_across_heads", false, []string{"rms_norm_across_heads"}, "q/k norms"),
		pBool("norm_elementwise_affine", false, "block norm weights"),
		pInt("caption_channels", 4096, 1, "T5 width"),
		pBool("attention_bias", true, "bias on q, k, v"),
		pBool("attention_out_bias", true, "bias on the output projection"),
	}, pAny("activation_fn", "norm_eps"), pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "ltx-video-diffusers", Description: "diffusers LTXVideoTransformer3DModel (scripts/convert_ltx_to_diffusers.py: patchify_proj → proj_in, adaln_single → time_embed, q_norm/k_norm → norm_q/norm_k)", Params: params},
		keys: func(s *Spec) []Entry {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			var b kb
			attn := func(pre string, kv int) {
				b.rmsNorms(pre, h, "norm_q", "norm_k")
				b.qkvo(pre, h, kv, s.Bool("attention_bias"), s.Bool("attention_out_bias"))
			}
			b.param("scale_shift_table", 2, h)
			b.linear("proj_in", h, s.Int("in_channels"), true)
			b.embedding("time_embed.emb.timestep_embedder", h, 256)
			b.linear("time_embed.linear", 6*h, h, true)
			b.embedding("caption_projection", h, s.Int("caption_channels"))
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "transformer_blocks." + itoa(i)
				b.param(pre+".scale_shift_table", 6, h)
				if s.Bool("norm_elementwise_affine") {
					b.param(pre+".norm1.weight", h)
				}
				attn(pre+".attn1", h)
				if s.Bool("norm_elementwise_affine") {
					b.param(pre+".norm2.weight", h)
				}
				attn(pre+".attn2", s.Int("cross_attention_dim"))
				b.ff(pre+".ff", h, 4*h)
			}
			b.linear("proj_out", s.Int("out_channels"), h, true)
			return b.e
		},
		name: diffusersName,
	})
}

// ---------------------------------------------------------------- CogVideoX (diffusers)

func registerCogVideoX() {
	params := concat([]Param{
		pInt("num_attention_heads", 30, 1, "heads (2B 30, 5B 48)"),
		pInt("attention_head_dim", 64, 1, "head dim"),
		pInt("in_channels", 16, 1, "latent channels (I2V 32)"),
		pNullInt("out_channels", 1, "output channels (null = in_channels)"),
		pInt("time_embed_dim", 512, 1, "timestep embedding width"),
		pNullInt("ofs_embed_dim", 1, "CogVideoX1.5-5B-I2V's ofs embedding (512)"),
		pInt("text_embed_dim", 4096, 1, "T5 width"),
		pInt("num_layers", 30, 1, "blocks (2B 30, 5B 42)"),
		pBool("attention_bias", true, "bias on q, k, v"),
		pInt("sample_width", 90, 1, "latent width (learned position table size)"),
		pInt("sample_height", 60, 1, "latent height"),
		pInt("sample_frames", 49, 1, "frames (learned position table size)"),
		pInt("patch_size", 2, 1, "spatial patch"),
		{Name: "patch_size_t", Kind: KindInt, Default: nil, Nullable: true, Min: 1, Doc: "temporal patch: null = CogVideoX 1.0 (Conv2d patch embed), 2 = 1.5 (Linear patch embed)"},
		pInt("temporal_compression_ratio", 4, 1, "VAE temporal compression (position table size)"),
		pInt("max_text_seq_length", 226, 1, "text tokens (position table size)"),
		pBool("norm_elementwise_affine", true, "norm weights"),
		pBool("use_rotary_positional_embeddings", false, "RoPE (5B); false: sin-cos table (not saved)"),
		pBool("use_learned_positional_embeddings", false, "a saved learned position table (CogVideoX-5B-I2V)"),
		pBool("patch_bias", true, "patch embedding bias (1.5: false)"),
	}, pAny("flip_sin_to_cos", "freq_shift", "dropout", "activation_fn", "timestep_activation_fn", "norm_eps",
		"spatial_interpolation_scale", "temporal_interpolation_scale"), pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "cogvideox", Description: "diffusers CogVideoXTransformer3DModel (the layout THUDM publishes CogVideoX / CogVideoX1.5 in)", Params: params},
		validate: func(s *Spec) error {
			if s.Bool("use_learned_positional_embeddings") && !s.Bool("use_rotary_positional_embeddings") {
				return fieldErr(s.Family, "use_learned_positional_embeddings", "requires use_rotary_positional_embeddings (upstream refuses the combination)")
			}
			return nil
		},
		keys: func(s *Spec) []Entry {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			hd, te, c, p := s.Int("attention_head_dim"), s.Int("time_embed_dim"), s.Int("in_channels"), s.Int("patch_size")
			out := s.intOr("out_channels", c)
			pt, v15 := s.nullInt("patch_size_t")
			affine := s.Bool("norm_elementwise_affine")
			var b kb
			if s.Bool("use_learned_positional_embeddings") {
				ph, pw := s.Int("sample_height")/p, s.Int("sample_width")/p
				f := (s.Int("sample_frames")-1)/s.Int("temporal_compression_ratio") + 1
				b.buffer("patch_embed.pos_embedding", false, 1, s.Int("max_text_seq_length")+ph*pw*f, h)
			}
			if v15 {
				b.linear("patch_embed.proj", h, c*p*p*pt, s.Bool("patch_bias"))
			} else {
				b.param("patch_embed.proj.weight", h, c, p, p)
				if s.Bool("patch_bias") {
					b.param("patch_embed.proj.bias", h)
				}
			}
			b.linear("patch_embed.text_proj", h, s.Int("text_embed_dim"), true)
			b.embedding("time_embedding", te, h)
			if o, ok := s.nullInt("ofs_embed_dim"); ok {
				b.embedding("ofs_embedding", o, o)
			}
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "transformer_blocks." + itoa(i)
				b.linear(pre+".norm1.linear", 6*h, te, true)
				if affine {
					b.norm(pre+".norm1.norm", h, true)
				}
				b.norm(pre+".attn1.norm_q", hd, true)
				b.norm(pre+".attn1.norm_k", hd, true)
				b.qkvo(pre+".attn1", h, h, s.Bool("attention_bias"), true)
				b.linear(pre+".norm2.linear", 6*h, te, true)
				if affine {
					b.norm(pre+".norm2.norm", h, true)
				}
				b.ff(pre+".ff", h, 4*h)
			}
			if affine {
				b.norm("norm_final", h, true)
			}
			b.linear("norm_out.linear", 2*h, te, true)
			if affine {
				b.norm("norm_out.norm", h, true)
			}
			rows := p * p * out
			if v15 {
				rows *= pt
			}
			b.linear("proj_out", rows, h, true)
			return b.e
		},
		name: diffusersNameIn,
	})
}

// ---------------------------------------------------------------- Sana

func registerSana() {
	params := []Param{
		pInt("input_size", 32, 1, "latent side (no key effect without use_pe)"),
		pInt("patch_size", 1, 1, "patch"),
		pInt("in_channels", 32, 1, "DC-AE latent channels"),
		pInt("hidden_size", 2240, 1, "H (600M 1152, 1600M 2240)"),
		pInt("depth", 20, 1, "blocks (600M 28, 1600M 20)"),
		pInt("num_heads", 20, 1, "cross-attention heads (not visible in shapes)"),
		pFloat("mlp_ratio", 2.5, 0, true, "GLUMBConv hidden = int(H·mlp_ratio)"),
		pBool("pred_sigma", false, "output 2C channels"),
		pInt("caption_channels", 2304, 1, "Gemma-2 width"),
		pInt("model_max_length", 300, 1, "text tokens (y_embedding rows)"),
		pBool("qk_norm", false, "q/k RMS norms (Sana 1.5, Sprint)"),
		pBool("y_norm", true, "attention_y_norm on the caption (released: true)"),
		pBool("use_pe", false, "saved sin-cos pos_embed (2K/4K models)"),
		pPrefix(),
	}
	params = concat(params, pAny("class_dropout_prob", "learn_sigma", "drop_path", "pe_interpolation", "config", "norm_eps", "attn_type",
		"ffn_type", "y_norm_scale_factor", "patch_embed_kernel", "mlp_acts", "linear_head_dim", "cross_norm", "cross_attn_type",
		"logvar", "logvar_scale_factor", "cfg_embed", "cfg_embed_scale", "lr_scale", "timestep_norm_scale_factor"))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "sana", Description: "NVlabs/Sana diffusion/model/nets/sana_multi_scale.py SanaMS (linear attention, GLUMBConv MLP; checkpoints nest it under state_dict)", Params: params},
		keys: func(s *Spec) []Entry {
			h, p, c := s.Int("hidden_size"), s.Int("patch_size"), s.Int("in_channels")
			m := mlpHidden(h, s.Float("mlp_ratio"))
			g := s.Int("input_size") / p
			var b kb
			if s.Bool("use_pe") {
				b.buffer("pos_embed", true, 1, g*g, h)
			}
			b.conv("x_embedder.proj", h, c, p, p)
			b.timestepEmbedder("t_embedder", h)
			b.linear("t_block.1", 6*h, h, true)
			b.captionEmbedder("y_embedder", h, s.Int("caption_channels"), s.Int("model_max_length"))
			if s.Bool("y_norm") {
				b.param("attention_y_norm.weight", h)
			}
			for i := 0; i < s.Int("depth"); i++ {
				pre := "blocks." + itoa(i)
				b.param(pre+".scale_shift_table", 6, h)
				b.param(pre+".attn.qkv.weight", 3*h, h)
				b.linear(pre+".attn.proj", h, h, true)
				if s.Bool("qk_norm") {
					b.rmsNorms(pre+".attn", h, "q_norm", "k_norm")
				}
				b.crossAttn(pre+".cross_attn", h)
				if s.Bool("qk_norm") {
					b.rmsNorms(pre+".cross_attn", h, "q_norm", "k_norm")
				}
				b.conv(pre+".mlp.inverted_conv.conv", 2*m, h, 1, 1)
				b.conv(pre+".mlp.depth_conv.conv", 2*m, 1, 3, 3)
				b.param(pre+".mlp.point_conv.conv.weight", h, m, 1, 1)
			}
			out := outChannels(s, "pred_sigma")
			b.t2iFinal("final_layer", h, p*p*out)
			return b.e
		},
		name: func(s *Spec) string {
			return shortName(s, "H", s.Int("hidden_size"), "D", s.Int("depth"), "in", s.Int("in_channels"))
		},
	})
}

func registerSanaDiffusers() {
	params := concat([]Param{
		pInt("in_channels", 32, 1, "latent channels"),
		pNullInt("out_channels", 1, "null = in_channels"),
		pInt("num_attention_heads", 70, 1, "self-attention heads"),
		pInt("attention_head_dim", 32, 1, "self-attention head dim; inner = heads × head dim"),
		pInt("num_layers", 20, 1, "blocks"),
		pNullInt("num_cross_attention_heads", 1, "cross-attention heads"),
		pNullInt("cross_attention_head_dim", 1, "cross-attention head dim"),
		pNullInt("cross_attention_dim", 1, "cross-attention width (null: none)"),
		pInt("caption_channels", 2304, 1, "Gemma-2 width"),
		pFloat("mlp_ratio", 2.5, 0, true, "GLUMBConv ratio"),
		pBool("attention_bias", false, "bias on the self-attention q, k, v"),
		pInt("sample_size", 32, 1, "latent side (sin-cos table size with interpolation_scale)"),
		pInt("patch_size", 1, 1, "patch"),
		pBool("norm_elementwise_affine", false, "cross-attention norm weights"),
		pBool("guidance_embeds", false, "Sana Sprint guidance embedder"),
		pStr("qk_norm", nil, true, []string{"rms_norm_across_heads"}, "q/k norms (Sana 1.5, Sprint)"),
	}, pAny("dropout", "norm_eps", "interpolation_scale", "guidance_embeds_scale", "timestep_scale"), pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "sana-diffusers", Description: "diffusers SanaTransformer2DModel (scripts/convert_sana_to_diffusers.py layout)", Params: params},
		keys: func(s *Spec) []Entry {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			p, c := s.Int("patch_size"), s.Int("in_channels")
			out := s.intOr("out_channels", c)
			m := mlpHidden(h, s.Float("mlp_ratio"))
			qk := s.Str("qk_norm") != ""
			var b kb
			b.param("scale_shift_table", 2, h)
			b.conv("patch_embed.proj", h, c, p, p)
			if s.Bool("guidance_embeds") {
				b.embedding("time_embed.timestep_embedder", h, 256)
				b.embedding("time_embed.guidance_embedder", h, 256)
			} else {
				b.embedding("time_embed.emb.timestep_embedder", h, 256)
			}
			b.linear("time_embed.linear", 6*h, h, true)
			b.embedding("caption_projection", h, s.Int("caption_channels"))
			b.param("caption_norm.weight", h)
			xh, _ := s.nullInt("num_cross_attention_heads")
			xd, _ := s.nullInt("cross_attention_head_dim")
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "transformer_blocks." + itoa(i)
				b.param(pre+".scale_shift_table", 6, h)
				a := pre + ".attn1"
				if qk {
					b.rmsNorms(a, h, "norm_q", "norm_k")
				}
				b.qkvo(a, h, h, s.Bool("attention_bias"), true)
				if x, ok := s.nullInt("cross_attention_dim"); ok {
					if s.Bool("norm_elementwise_affine") {
						b.norm(pre+".norm2", h, true)
					}
					a = pre + ".attn2"
					inner := xh * xd
					if qk {
						b.rmsNorms(a, inner, "norm_q", "norm_k")
					}
					b.linear(a+".to_q", inner, h, true)
					b.linear(a+".to_k", inner, x, true)
					b.linear(a+".to_v", inner, x, true)
					b.linear(a+".to_out.0", h, inner, true)
				}
				b.conv(pre+".ff.conv_inverted", 2*m, h, 1, 1)
				b.conv(pre+".ff.conv_depth", 2*m, 1, 3, 3)
				b.param(pre+".ff.conv_point.weight", h, m, 1, 1)
			}
			b.linear("proj_out", p*p*out, h, true)
			return b.e
		},
		name: diffusersName,
	})
}

func init() {
	layoutConverters["ltx-video>ltx-video-diffusers"] = func(s *Spec) (map[string]any, error) {
		x, ok := s.nullInt("cross_attention_dim")
		c, okc := s.nullInt("caption_channels")
		switch {
		case s.Str("adaptive_norm") != "single_scale_shift" || s.Str("standardization_norm") != "rms_norm":
			return nil, fieldErr(s.Family, "adaptive_norm", "diffusers' LTXVideoTransformer3DModel has single_scale_shift modulation and RMS norms only")
		case s.Str("qk_norm") != "rms_norm" || !ok || !okc:
			return nil, fieldErr(s.Family, "qk_norm", "diffusers' LTXVideoTransformer3DModel needs RMS q/k norms, cross-attention and the caption projection")
		}
		out := s.intOr("out_channels", s.Int("in_channels"))
		return map[string]any{"in_channels": s.Int("in_channels"), "out_channels": out, "patch_size": 1, "patch_size_t": 1,
			"num_attention_heads": s.Int("num_attention_heads"), "attention_head_dim": s.Int("attention_head_dim"),
			"cross_attention_dim": x, "num_layers": s.Int("num_layers"), "qk_norm": "rms_norm_across_heads",
			"norm_elementwise_affine": s.Bool("norm_elementwise_affine"), "caption_channels": c,
			"attention_bias": s.Bool("attention_bias"), "attention_out_bias": true}, nil
	}
	layoutConverters["ltx-video-diffusers>ltx-video"] = func(s *Spec) (map[string]any, error) {
		if !s.Bool("attention_out_bias") {
			return nil, fieldErr(s.Family, "attention_out_bias", "LTX-Video's attention always has an output bias")
		}
		return map[string]any{"num_attention_heads": s.Int("num_attention_heads"), "attention_head_dim": s.Int("attention_head_dim"),
			"in_channels": s.Int("in_channels"), "out_channels": s.Int("out_channels"), "num_layers": s.Int("num_layers"),
			"cross_attention_dim": s.Int("cross_attention_dim"), "attention_bias": s.Bool("attention_bias"),
			"norm_elementwise_affine": s.Bool("norm_elementwise_affine"), "caption_channels": s.Int("caption_channels"), "qk_norm": "rms_norm"}, nil
	}
	layoutConverters["sana>sana-diffusers"] = func(s *Spec) (map[string]any, error) {
		h, nh := s.Int("hidden_size"), s.Int("num_heads")
		if h%32 != 0 || h%nh != 0 {
			return nil, fieldErr(s.Family, "hidden_size", "%d must divide into 32-wide linear-attention heads and %d cross-attention heads", h, nh)
		}
		if !s.Bool("y_norm") {
			return nil, fieldErr(s.Family, "y_norm", "diffusers' SanaTransformer2DModel always has the caption norm")
		}
		out := outChannels(s, "pred_sigma")
		p := map[string]any{"in_channels": s.Int("in_channels"), "out_channels": out, "num_attention_heads": h / 32, "attention_head_dim": 32,
			"num_layers": s.Int("depth"), "num_cross_attention_heads": nh, "cross_attention_head_dim": h / nh, "cross_attention_dim": h,
			"caption_channels": s.Int("caption_channels"), "mlp_ratio": s.Float("mlp_ratio"), "attention_bias": false,
			"sample_size": s.Int("input_size"), "patch_size": s.Int("patch_size"), "qk_norm": nil}
		if s.Bool("qk_norm") {
			p["qk_norm"] = "rms_norm_across_heads"
		}
		return p, nil
	}
	layoutConverters["sana-diffusers>sana"] = func(s *Spec) (map[string]any, error) {
		h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
		xh, _ := s.nullInt("num_cross_attention_heads")
		xd, _ := s.nullInt("cross_attention_head_dim")
		if x, _ := s.nullInt("cross_attention_dim"); x != h || xh*xd != h || s.Bool("attention_bias") || s.Bool("guidance_embeds") {
			return nil, fieldErr(s.Family, "cross_attention_dim", "SanaMS has cross-attention of its hidden width, no self-attention biases and no guidance embedder")
		}
		c := s.Int("in_channels")
		out := s.intOr("out_channels", c)
		if out != c && out != 2*c {
			return nil, fieldErr(s.Family, "out_channels", "%d is neither in_channels nor twice it", out)
		}
		return map[string]any{"input_size": s.Int("sample_size"), "patch_size": s.Int("patch_size"), "in_channels": c, "hidden_size": h,
			"depth": s.Int("num_layers"), "num_heads": xh, "mlp_ratio": s.Float("mlp_ratio"), "pred_sigma": out == 2*c,
			"caption_channels": s.Int("caption_channels"), "qk_norm": s.Str("qk_norm") != ""}, nil
	}

	ltx := func(hd, layers int) map[string]any {
		return map[string]any{"num_attention_heads": 32, "attention_head_dim": hd, "in_channels": 128, "out_channels": 128, "num_layers": layers,
			"cross_attention_dim": 32 * hd, "attention_bias": true, "adaptive_norm": "single_scale_shift", "standardization_norm": "rms_norm",
			"norm_elementwise_affine": false, "caption_channels": 4096, "qk_norm": "rms_norm"}
	}
	addVariant("ltx-video-2b", "ltx-video", "LTX-Video 2B (0.9 – 0.9.8: 2048 wide, 28 blocks)", "LTXPipeline / Lightricks ltxv-2b configs")
	addVariant("ltx-video-13b", "ltx-video", "LTX-Video 13B (0.9.7 / 0.9.8: 4096 wide, 48 blocks)", "LTXConditionPipeline / Lightricks ltxv-13b configs")
	addRelease("ltx-video-2b-v0.9", "ltx-video-2b", "ltx-video", "Lightricks/LTX-Video ltx-video-2b-v0.9.safetensors transformer (also 0.9.1 – 0.9.8 2B)", ltx(64, 28))
	addRelease("ltxv-13b-0.9.7-dev", "ltx-video-13b", "ltx-video", "Lightricks/LTX-Video ltxv-13b-0.9.7-dev.safetensors transformer (also 0.9.8)", ltx(128, 48))

	cog := func(heads, layers, in int, v15, i2v bool) map[string]any {
		p := map[string]any{"num_attention_heads": heads, "attention_head_dim": 64, "in_channels": in, "out_channels": 16,
			"time_embed_dim": 512, "text_embed_dim": 4096, "num_layers": layers, "use_rotary_positional_embeddings": heads != 30}
		if v15 {
			p["patch_size_t"], p["patch_bias"], p["sample_height"], p["sample_width"], p["sample_frames"] = 2, false, 300, 300, 81
			if i2v {
				p["ofs_embed_dim"] = 512
			}
		} else if i2v {
			p["use_learned_positional_embeddings"] = true
		}
		return p
	}
	addVariant("cogvideox-2b", "cogvideox", "CogVideoX-2B (1920 wide, 30 blocks, sin-cos positions, Conv2d patch embed)", "CogVideoXPipeline (CogVideoX-2b config)")
	addVariant("cogvideox-5b", "cogvideox", "CogVideoX-5B (3072 wide, 42 blocks, RoPE, Conv2d patch embed)", "CogVideoXPipeline (CogVideoX-5b config)")
	addVariant("cogvideox-5b-i2v", "cogvideox", "CogVideoX-5B-I2V (32 input channels, learned position table)", "CogVideoXImageToVideoPipeline (CogVideoX-5b-I2V config)")
	addVariant("cogvideox1.5-5b", "cogvideox", "CogVideoX1.5-5B (Linear patch embed over 2×2×2 patches: [3072, 128])", "CogVideoXPipeline (CogVideoX1.5-5B config: patch_size_t 2)")
	addVariant("cogvideox1.5-5b-i2v", "cogvideox", "CogVideoX1.5-5B-I2V (Linear patch embed [3072, 256], ofs embedding)", "CogVideoXImageToVideoPipeline (CogVideoX1.5-5B-I2V config)")
	addPreset("cogvideox-2b", "cogvideox", "THUDM/CogVideoX-2b transformer (diffusers layout, the release's)", cog(30, 30, 16, false, false))
	addPreset("cogvideox-5b", "cogvideox", "THUDM/CogVideoX-5b transformer (diffusers layout)", cog(48, 42, 16, false, false))
	addPreset("cogvideox-5b-i2v", "cogvideox", "THUDM/CogVideoX-5b-I2V transformer (diffusers layout)", cog(48, 42, 32, false, true))
	addPreset("cogvideox1.5-5b", "cogvideox", "THUDM/CogVideoX1.5-5B transformer (diffusers layout)", cog(48, 42, 16, true, false))
	addPreset("cogvideox1.5-5b-i2v", "cogvideox", "THUDM/CogVideoX1.5-5B-I2V transformer (diffusers layout)", cog(48, 42, 32, true, true))
	for _, n := range []string{"cogvideox-2b", "cogvideox-5b", "cogvideox-5b-i2v", "cogvideox1.5-5b", "cogvideox1.5-5b-i2v"} {
		presetMetas[n] = presetMeta{n, LayoutDiffusers, n}
	}

	sana := func(h, depth, heads int) map[string]any {
		return map[string]any{"input_size": 32, "patch_size": 1, "in_channels": 32, "hidden_size": h, "depth": depth, "num_heads": heads,
			"mlp_ratio": 2.5, "pred_sigma": false, "caption_channels": 2304, "model_max_length": 300, "qk_norm": false, "y_norm": true, "use_pe": false}
	}
	addVariant("sana-1600m", "sana", "Sana 1600M (2240 wide, 20 blocks)", "SanaPipeline (Sana_1600M config)")
	addVariant("sana-600m", "sana", "Sana 600M (1152 wide, 28 blocks)", "SanaPipeline (Sana_600M config)")
	addRelease("sana-1600m-1024px", "sana-1600m", "sana", "Efficient-Large-Model/Sana_1600M_1024px Sana_1600M_1024px.pth (state_dict)", sana(2240, 20, 20))
	addRelease("sana-600m-1024px", "sana-600m", "sana", "Efficient-Large-Model/Sana_600M_1024px Sana_600M_1024px_MultiLing.pth (state_dict)", sana(1152, 28, 16))
}
