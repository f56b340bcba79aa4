package spec

func pInt(name string, def int, min float64, doc string) Param {
	return Param{Name: name, Kind: KindInt, Default: def, Min: min, Doc: doc}
}

func pFloat(name string, def float64, min float64, exclusive bool, doc string) Param {
	return Param{Name: name, Kind: KindFloat, Default: def, Min: min, MinExclusive: exclusive, Doc: doc}
}

func pBool(name string, def bool, doc string) Param {
	return Param{Name: name, Kind: KindBool, Default: def, Doc: doc}
}

func pInts(name string, def []int, n int, min float64, doc string) Param {
	return Param{Name: name, Kind: KindInts, Default: def, Len: n, Min: min, Doc: doc}
}

func pAny(names ...string) []Param {
	out := make([]Param, len(names))
	for i, n := range names {
		out[i] = Param{Name: n, Kind: KindAny, Doc: "accepted for compatibility with upstream configs; does not change the key list"}
	}
	return out
}

func concat(ps ...[]Param) []Param {
	var out []Param
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

// hfConfigFields are Hugging Face PretrainedConfig / diffusers bookkeeping
// fields found in published config.json files.
var hfConfigFields = []string{"architectures", "model_type", "torch_dtype", "transformers_version", "auto_map", "_class_name", "_diffusers_version", "_name_or_path"}

func checkHeads(s *Spec, hiddenKey, headsKey string) error {
	h, nh := s.Int(hiddenKey), s.Int(headsKey)
	if h%nh != 0 {
		return fieldErr(s.Family, hiddenKey, "%d is not divisible by %s=%d", h, headsKey, nh)
	}
	return nil
}

func checkMLP(s *Spec) error {
	r := s.Float("mlp_ratio")
	if r > 64 {
		return fieldErr(s.Family, "mlp_ratio", "must be <= 64, got %v", r)
	}
	if mlpHidden(s.Int("hidden_size"), r) < 1 {
		return fieldErr(s.Family, "mlp_ratio", "%v gives an empty MLP for hidden_size %d", r, s.Int("hidden_size"))
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func init() {
	registerDiT()
	registerDiTDiffusers()
	registerPixArt()
	registerPixArtDiffusers()
	registerLatte()
	registerSTDiT()
	registerSTDiT2()
	registerSTDiT3()
	registerMMDiT()
}

// ---------------------------------------------------------------- DiT

var ditCore = []Param{
	pInt("input_size", 32, 1, "latent side (image side / 8)"),
	pInt("patch_size", 2, 1, "spatial patch p"),
	pInt("in_channels", 4, 1, "latent channels C"),
	pInt("hidden_size", 1152, 1, "H"),
	pInt("depth", 28, 1, "number of blocks D"),
	pInt("num_heads", 16, 1, "attention heads (not visible in shapes)"),
	pFloat("mlp_ratio", 4.0, 0, true, "MLP hidden = int(H*mlp_ratio)"),
	pFloat("class_dropout_prob", 0.1, 0, false, "> 0 adds the null-class row to the label table"),
	pInt("num_classes", 1000, 1, "K"),
	pBool("learn_sigma", true, "output 2C channels (ε and variance)"),
}

func validateDiT(s *Spec) error {
	in, p := s.Int("input_size"), s.Int("patch_size")
	if in%p != 0 {
		return fieldErr(s.Family, "input_size", "%d is not divisible by patch_size=%d", in, p)
	}
	if s.Int("hidden_size")%4 != 0 {
		return fieldErr(s.Family, "hidden_size", "%d must be divisible by 4 (2-D sin-cos position table)", s.Int("hidden_size"))
	}
	return firstErr(checkHeads(s, "hidden_size", "num_heads"), checkMLP(s))
}

func outChannels(s *Spec, sigmaKey string) int {
	c := s.Int("in_channels")
	if s.Bool(sigmaKey) {
		return 2 * c
	}
	return c
}

func labelRows(s *Spec) int {
	k := s.Int("num_classes")
	if s.Float("class_dropout_prob") > 0 {
		k++
	}
	return k
}

func registerDiT() {
	register(&family{
		FamilyInfo: FamilyInfo{ID: "dit", Description: "facebookresearch/DiT models.py DiT (class-conditional, adaLN-Zero; pos_embed is a saved nn.Parameter)", Params: ditCore},
		validate:   validateDiT,
		keys: func(s *Spec) []Entry {
			h, d, p, c := s.Int("hidden_size"), s.Int("depth"), s.Int("patch_size"), s.Int("in_channels")
			g := s.Int("input_size") / p
			m := mlpHidden(h, s.Float("mlp_ratio"))
			var b kb
			b.fixedParam("pos_embed", 1, g*g, h)
			b.conv("x_embedder.proj", h, c, p, p)
			b.timestepEmbedder("t_embedder", h)
			b.param("y_embedder.embedding_table.weight", labelRows(s), h)
			for i := 0; i < d; i++ {
				b.ditBlock("blocks."+itoa(i), h, m)
			}
			b.ditFinal("final_layer", h, p*p*outChannels(s, "learn_sigma"))
			return b.e
		},
	})
}

// ---------------------------------------------------------------- Latte

func registerLatte() {
	params := concat(ditCore[:7], []Param{
		pInt("num_frames", 16, 1, "frames T (temp_embed length)"),
		ditCore[7], ditCore[8], ditCore[9],
		pInt("extras", 1, 1, "1 unconditional, 2 class-conditional (y_embedder), 78 text (text_embedding_projection)"),
	}, pAny("attention_mode"))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "latte", Description: "Vchitect/Latte models/latte.py Latte (DiT blocks alternating spatial/temporal; pos_embed and temp_embed are saved nn.Parameters)", Params: params},
		validate: func(s *Spec) error {
			switch s.Int("extras") {
			case 1, 2, 78:
			default:
				return fieldErr(s.Family, "extras", "must be 1, 2 or 78, got %d", s.Int("extras"))
			}
			if s.Int("depth")%2 != 0 {
				return fieldErr(s.Family, "depth", "%d must be even (blocks alternate spatial/temporal)", s.Int("depth"))
			}
			return validateDiT(s)
		},
		keys: func(s *Spec) []Entry {
			h, d, p, c := s.Int("hidden_size"), s.Int("depth"), s.Int("patch_size"), s.Int("in_channels")
			g := s.Int("input_size") / p
			m := mlpHidden(h, s.Float("mlp_ratio"))
			var b kb
			b.fixedParam("pos_embed", 1, g*g, h)
			b.fixedParam("temp_embed", 1, s.Int("num_frames"), h)
			b.conv("x_embedder.proj", h, c, p, p)
			b.timestepEmbedder("t_embedder", h)
			switch s.Int("extras") {
			case 2:
				b.param("y_embedder.embedding_table.weight", labelRows(s), h)
			case 78:
				b.linear("text_embedding_projection.1", h, 77*768, true)
			}
			for i := 0; i < d; i++ {
				b.ditBlock("blocks."+itoa(i), h, m)
			}
			b.ditFinal("final_layer", h, p*p*outChannels(s, "learn_sigma"))
			return b.e
		},
	})
}

// ---------------------------------------------------------------- DiT (diffusers)

func registerDiTDiffusers() {
	params := concat([]Param{
		pInt("num_attention_heads", 16, 1, "heads"),
		pInt("attention_head_dim", 72, 1, "head dim; H = heads*head_dim"),
		pInt("in_channels", 4, 1, "latent channels"),
		{Name: "out_channels", Kind: KindInt, Default: nil, Nullable: true, Min: 1, Doc: "null = in_channels (published DiT configs say 8)"},
		pInt("num_layers", 28, 1, "blocks"),
		pInt("sample_size", 32, 1, "latent side"),
		pInt("patch_size", 2, 1, "patch"),
		pInt("num_embeds_ada_norm", 1000, 1, "classes K (table has K+1 rows)"),
		pBool("attention_bias", true, "bias on to_q/to_k/to_v"),
	}, pAny("dropout", "norm_num_groups", "activation_fn", "upcast_attention", "norm_type", "norm_elementwise_affine", "norm_eps"), pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "dit-diffusers", Description: "diffusers DiTTransformer2DModel (scripts/convert_dit_to_diffusers.py layout; t/y embedders copied into every block; pos_embed not saved)", Params: params},
		keys: func(s *Spec) []Entry {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			p, c := s.Int("patch_size"), s.Int("in_channels")
			out := s.intOr("out_channels", c)
			bias := s.Bool("attention_bias")
			var b kb
			b.conv("pos_embed.proj", h, c, p, p)
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "transformer_blocks." + itoa(i)
				b.embedding(pre+".norm1.emb.timestep_embedder", h, 256)
				b.param(pre+".norm1.emb.class_embedder.embedding_table.weight", s.Int("num_embeds_ada_norm")+1, h)
				b.linear(pre+".norm1.linear", 6*h, h, true)
				b.qkvo(pre+".attn1", h, h, bias, true)
				b.ff(pre+".ff", h, 4*h)
			}
			b.linear("proj_out_1", 2*h, h, true)
			b.linear("proj_out_2", p*p*out, h, true)
			return b.e
		},
	})
}

// ---------------------------------------------------------------- PixArt

func pixartParams(sigma bool) []Param {
	L := 120
	if sigma {
		L = 300
	}
	ps := []Param{
		pInt("input_size", 32, 1, "latent side (pos_embed is [1,(input_size/p)^2,H])"),
		pInt("patch_size", 2, 1, "patch"),
		pInt("in_channels", 4, 1, "latent channels"),
		pInt("hidden_size", 1152, 1, "H"),
		pInt("depth", 28, 1, "blocks"),
		pInt("num_heads", 16, 1, "heads (not visible in shapes)"),
		pFloat("mlp_ratio", 4.0, 0, true, "MLP ratio"),
		pFloat("class_dropout_prob", 0.1, 0, false, "caption dropout (no key effect)"),
		pBool("pred_sigma", true, "output 2C channels"),
		pInt("caption_channels", 4096, 1, "text-encoder width Ct (T5-XXL 4096)"),
		pInt("model_max_length", L, 1, "text tokens L (y_embedding rows)"),
	}
	if sigma {
		ps = append(ps,
			pFloat("pe_interpolation", 1.0, 0, true, "position-table scale (image_size/512; no key effect)"),
			pBool("qk_norm", false, "adds attn.q_norm/k_norm LayerNorm(H) weight+bias"),
		)
	} else {
		ps = append(ps, pFloat("lewei_scale", 1.0, 0, true, "position-table scale (no key effect)"))
	}
	ps = append(ps,
		pBool("micro_condition", false, "ditkit: PixArtMS micro-conditioning (csize_embedder, ar_embedder); α-1024-MS has it, Σ never"),
		pBool("saved_pos_embed", true, "ditkit: false when the checkpoint omits the pos_embed buffer (released PixArt-Σ-256)"),
	)
	ps = concat(ps, pAny("drop_path", "window_size", "window_block_indexes", "use_rel_pos", "config"))
	if sigma {
		ps = append(ps, Param{Name: "kv_compress_config", Kind: KindAny, Keyed: true,
			Doc: `null, or {"sampling": "conv"|"ave"|"uniform"|"uniform_every", "scale_factor": s, "kv_compress_layer": [blocks]}: those blocks' self-attention keys/values downsampled s× (conv adds attn.sr and attn.norm)`})
	} else {
		ps = append(ps, pAny("kv_compress_config")...)
	}
	return concat(ps, pAny("use_pe", "learn_sigma"))
}

// KVCompress is PixArt-Σ's kv_compress_config: the sampling ("conv",
// "ave", "uniform", "uniform_every"), the ratio s (int(scale_factor)) and
// the blocks whose self-attention keys and values it downsamples. ratio 1
// (or no config) means none.
type KVCompress struct {
	Sampling string
	Ratio    int
	Layers   map[int]bool
}

// On reports whether block i compresses its keys and values.
func (k KVCompress) On(i int) bool { return k.Ratio > 1 && k.Layers[i] }

// PixArtKVCompress reads a pixart-sigma spec's kv_compress_config.
func PixArtKVCompress(s *Spec) (KVCompress, error) {
	k := KVCompress{Ratio: 1}
	v, _ := s.params["kv_compress_config"]
	if v == nil {
		return k, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return k, fieldErr(s.Family, "kv_compress_config", "must be null or an object {sampling, scale_factor, kv_compress_layer}")
	}
	for _, key := range []string{"sampling", "scale_factor", "kv_compress_layer"} {
		if _, ok := m[key]; !ok { // upstream indexes all three
			return k, fieldErr(s.Family, "kv_compress_config", "missing %q (want {sampling, scale_factor, kv_compress_layer})", key)
		}
	}
	if sf, ok := m["scale_factor"].(float64); ok && sf >= 1 && sf <= 64 {
		k.Ratio = int(sf)
	} else if m["scale_factor"] != nil {
		return k, fieldErr(s.Family, "kv_compress_config", "scale_factor must be a number in [1, 64], got %v", m["scale_factor"])
	}
	k.Layers = map[int]bool{}
	if ls, ok := m["kv_compress_layer"].([]any); ok {
		for _, l := range ls {
			f, ok := l.(float64)
			if !ok || f != float64(int(f)) || f < 0 || int(f) >= s.Int("depth") {
				return k, fieldErr(s.Family, "kv_compress_config", "kv_compress_layer entry %v is not a block index below depth %d", l, s.Int("depth"))
			}
			k.Layers[int(f)] = true
		}
	} else if m["kv_compress_layer"] != nil {
		return k, fieldErr(s.Family, "kv_compress_config", "kv_compress_layer must be a list of block indexes")
	}
	k.Sampling, _ = m["sampling"].(string)
	switch k.Sampling {
	case "conv", "ave", "uniform", "uniform_every":
	case "":
		if k.Ratio > 1 && len(k.Layers) > 0 {
			return k, fieldErr(s.Family, "kv_compress_config", "scale_factor %d needs a sampling (conv, ave, uniform, uniform_every)", k.Ratio)
		}
	default:
		return k, fieldErr(s.Family, "kv_compress_config", "sampling %q: want conv, ave, uniform or uniform_every", k.Sampling)
	}
	return k, nil
}

func registerPixArt() {
	for _, sigma := range []bool{false, true} {
		id, desc := "pixart-alpha", "PixArt-alpha PixArt / PixArtMS (adaLN-single, T5 cross-attention; pos_embed and y_embedding are buffers)"
		if sigma {
			id, desc = "pixart-sigma", "PixArt-sigma PixArt / PixArtMS (as α; L=300, optional qk_norm)"
		}
		register(&family{
			FamilyInfo: FamilyInfo{ID: id, Description: desc, Params: pixartParams(sigma)},
			validate: func(s *Spec) error {
				if v, ok := s.params["use_rel_pos"].(bool); ok && v {
					return fieldErr(s.Family, "use_rel_pos", "relative position tables are not supported")
				}
				if sigma { // α's constructor takes it in **kwargs and ignores it
					if _, err := PixArtKVCompress(s); err != nil {
						return err
					}
				}
				if s.Bool("micro_condition") && s.Int("hidden_size")%3 != 0 {
					return fieldErr(s.Family, "hidden_size", "%d must be divisible by 3 for micro_condition", s.Int("hidden_size"))
				}
				return validateDiT(s)
			},
			keys: pixartKeys,
		})
	}
}

func pixartKeys(s *Spec) []Entry {
	h, d, p, c := s.Int("hidden_size"), s.Int("depth"), s.Int("patch_size"), s.Int("in_channels")
	g := s.Int("input_size") / p
	m := mlpHidden(h, s.Float("mlp_ratio"))
	var b kb
	if s.Bool("saved_pos_embed") {
		b.buffer("pos_embed", true, 1, g*g, h)
	}
	b.conv("x_embedder.proj", h, c, p, p)
	b.timestepEmbedder("t_embedder", h)
	b.linear("t_block.1", 6*h, h, true)
	b.captionEmbedder("y_embedder", h, s.Int("caption_channels"), s.Int("model_max_length"))
	for i := 0; i < d; i++ {
		pre := "blocks." + itoa(i)
		b.param(pre+".scale_shift_table", 6, h)
		b.linear(pre+".attn.qkv", 3*h, h, true)
		b.linear(pre+".attn.proj", h, h, true)
		if kv, _ := PixArtKVCompress(s); s.Family == "pixart-sigma" && kv.On(i) && kv.Sampling == "conv" {
			// AttentionKVCompress's sr (depthwise Conv2d, kernel = stride =
			// s) and norm (LayerNorm(H)), registered before q_norm/k_norm.
			r := kv.Ratio
			b.conv(pre+".attn.sr", h, 1, r, r)
			b.param(pre+".attn.norm.weight", h)
			b.param(pre+".attn.norm.bias", h)
		}
		if s.Bool("qk_norm") {
			// LayerNorm(H) weight+bias; timm 0.6 Attention registers qkv,
			// proj first, AttentionKVCompress then adds q_norm, k_norm.
			for _, n := range []string{".attn.q_norm", ".attn.k_norm"} {
				b.param(pre+n+".weight", h)
				b.param(pre+n+".bias", h)
			}
		}
		b.crossAttn(pre+".cross_attn", h)
		b.timmMlp(pre+".mlp", h, m)
	}
	b.t2iFinal("final_layer", h, p*p*outChannels(s, "pred_sigma"))
	if s.Bool("micro_condition") {
		b.timestepEmbedder("csize_embedder", h/3)
		b.timestepEmbedder("ar_embedder", h/3)
	}
	return b.e
}

// ---------------------------------------------------------------- PixArt (diffusers)

func registerPixArtDiffusers() {
	params := concat([]Param{
		pInt("num_attention_heads", 16, 1, "heads"),
		pInt("attention_head_dim", 72, 1, "head dim; H = heads*head_dim"),
		pInt("in_channels", 4, 1, "latent channels"),
		{Name: "out_channels", Kind: KindInt, Default: 8, Nullable: true, Min: 1, Doc: "null = in_channels"},
		pInt("num_layers", 28, 1, "blocks"),
		pInt("sample_size", 128, 1, "latent side (default here: the α/Σ-1024 value; upstream requires it)"),
		pInt("patch_size", 2, 1, "patch"),
		{Name: "caption_channels", Kind: KindInt, Default: 4096, Nullable: true, Min: 1, Doc: "null = no caption_projection"},
		pInt("cross_attention_dim", 1152, 1, "cross-attention key/value width"),
		pBool("attention_bias", true, "bias on to_q/to_k/to_v"),
		{Name: "use_additional_conditions", Kind: KindBool, Default: nil, Nullable: true, Doc: "null = (sample_size == 128), as diffusers decides"},
	}, pAny("dropout", "norm_num_groups", "activation_fn", "num_embeds_ada_norm", "only_cross_attention", "upcast_attention", "norm_type", "norm_elementwise_affine", "norm_eps", "interpolation_scale", "attention_type", "use_linear_projection", "num_vector_embeds"), pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "pixart-diffusers", Description: "diffusers PixArtTransformer2DModel (convert_pixart_{alpha,sigma}_to_diffusers.py layout; no pos_embed, no y_embedding)", Params: params},
		validate: func(s *Spec) error {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			if s.additionalConditions() && h%3 != 0 {
				return fieldErr(s.Family, "attention_head_dim", "hidden %d must be divisible by 3 with additional conditions", h)
			}
			return nil
		},
		keys: func(s *Spec) []Entry {
			h := s.Int("num_attention_heads") * s.Int("attention_head_dim")
			p, c := s.Int("patch_size"), s.Int("in_channels")
			out := s.intOr("out_channels", c)
			bias := s.Bool("attention_bias")
			x := s.Int("cross_attention_dim")
			var b kb
			b.param("scale_shift_table", 2, h)
			b.conv("pos_embed.proj", h, c, p, p)
			for i := 0; i < s.Int("num_layers"); i++ {
				pre := "transformer_blocks." + itoa(i)
				b.param(pre+".scale_shift_table", 6, h)
				b.qkvo(pre+".attn1", h, h, bias, true)
				b.qkvo(pre+".attn2", h, x, bias, true)
				b.ff(pre+".ff", h, 4*h)
			}
			b.linear("proj_out", p*p*out, h, true)
			b.embedding("adaln_single.emb.timestep_embedder", h, 256)
			if s.additionalConditions() {
				b.embedding("adaln_single.emb.resolution_embedder", h/3, 256)
				b.embedding("adaln_single.emb.aspect_ratio_embedder", h/3, 256)
			}
			b.linear("adaln_single.linear", 6*h, h, true)
			if ct, ok := s.params["caption_channels"].(int); ok && ct > 0 {
				b.embedding("caption_projection", h, ct)
			}
			return b.e
		},
	})
}

func (s *Spec) additionalConditions() bool {
	if v, ok := s.params["use_additional_conditions"].(bool); ok {
		return v
	}
	return s.Int("sample_size") == 128
}

// ---------------------------------------------------------------- Open-Sora 1.0 STDiT

// osT2IParams are the T2I block's parameters every Open-Sora STDiT
// generation declares alike.
var osT2IParams = []Param{
	pFloat("mlp_ratio", 4.0, 0, true, "MLP ratio"),
	pFloat("class_dropout_prob", 0.1, 0, false, "caption dropout (no key effect)"),
	pBool("pred_sigma", true, "output 2C channels"),
	pInt("caption_channels", 4096, 1, "text width Ct"),
}

var osRuntime = []string{"drop_path", "dtype", "freeze", "enable_flashattn", "enable_flash_attn", "enable_layernorm_kernel", "enable_layernorm_apex", "enable_sequence_parallelism", "from_pretrained"}

func validatePatch3(s *Spec) error {
	if err := checkHeads(s, "hidden_size", "num_heads"); err != nil {
		return err
	}
	return checkMLP(s)
}

func registerSTDiT() {
	params := concat([]Param{
		pInts("input_size", []int{1, 32, 32}, 3, 1, "latent (T, H, W)"),
		pInt("in_channels", 4, 1, "latent channels"),
		pInts("patch_size", []int{1, 2, 2}, 3, 1, "patch (pt, ph, pw)"),
		pInt("hidden_size", 1152, 1, "H"),
		pInt("depth", 28, 1, "blocks"),
		pInt("num_heads", 16, 1, "heads (not visible in shapes)"),
	}, osT2IParams, []Param{
		pInt("model_max_length", 120, 1, "text tokens L"),
		pFloat("space_scale", 1.0, 0, true, "spatial position-table scale (no key effect)"),
		pFloat("time_scale", 1.0, 0, true, "temporal position-table scale (no key effect)"),
	}, pAny(append([]string{"no_temporal_pos_emb"}, osRuntime...)...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "stdit", Description: "Open-Sora 1.0 STDiT (tag v1.0.0; buffers pos_embed, pos_embed_temporal, y_embedder.y_embedding)", Params: params},
		validate: func(s *Spec) error {
			in, p := s.Ints("input_size"), s.Ints("patch_size")
			for i := range in {
				if in[i] < p[i] {
					return fieldErr(s.Family, "input_size", "%v is smaller than patch_size %v", in, p)
				}
			}
			if s.Int("hidden_size")%4 != 0 {
				return fieldErr(s.Family, "hidden_size", "%d must be divisible by 4 (2-D sin-cos position table)", s.Int("hidden_size"))
			}
			return validatePatch3(s)
		},
		keys: func(s *Spec) []Entry {
			h, d, c := s.Int("hidden_size"), s.Int("depth"), s.Int("in_channels")
			in, p := s.Ints("input_size"), s.Ints("patch_size")
			m := mlpHidden(h, s.Float("mlp_ratio"))
			var b kb
			b.buffer("pos_embed", true, 1, (in[1]/p[1])*(in[2]/p[2]), h)
			b.buffer("pos_embed_temporal", true, 1, in[0]/p[0], h)
			b.conv("x_embedder.proj", h, c, p...)
			b.timestepEmbedder("t_embedder", h)
			b.linear("t_block.1", 6*h, h, true)
			b.captionEmbedder("y_embedder", h, s.Int("caption_channels"), s.Int("model_max_length"))
			for i := 0; i < d; i++ {
				pre := "blocks." + itoa(i)
				b.param(pre+".scale_shift_table", 6, h)
				b.osAttention(pre+".attn", h, 0)
				b.crossAttn(pre+".cross_attn", h)
				b.timmMlp(pre+".mlp", h, m)
				b.osAttention(pre+".attn_temp", h, 0)
			}
			b.t2iFinal("final_layer", h, prod(p)*outChannels(s, "pred_sigma"))
			return b.e
		},
	})
}

// ---------------------------------------------------------------- Open-Sora 1.1 STDiT2

func registerSTDiT2() {
	params := concat([]Param{
		pInt("in_channels", 4, 1, "latent channels"),
		pInts("patch_size", []int{1, 2, 2}, 3, 1, "patch (pt, ph, pw)"),
		pInt("hidden_size", 1152, 1, "H"),
		pInt("depth", 28, 1, "blocks"),
		pInt("num_heads", 16, 1, "heads (head dim = rope.freqs length × 2)"),
	}, osT2IParams, []Param{
		pInt("model_max_length", 120, 1, "text tokens L (v1.1 configs build 200)"),
		pBool("qk_norm", false, "per-head LlamaRMSNorm q_norm/k_norm (v1.1 configs: true)"),
	}, pAny("input_size", "input_sq_size", "no_temporal_pos_emb", "qk_norm_legacy"), pAny(osRuntime...), pAny(hfConfigFields...))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "stdit2", Description: "Open-Sora 1.1 STDiT2 (tag v1.1.0; RoPE temporal attention, rope.freqs saved)", Params: params},
		validate: func(s *Spec) error {
			if s.Int("hidden_size")%3 != 0 {
				return fieldErr(s.Family, "hidden_size", "%d must be divisible by 3 (csize/ar embedders)", s.Int("hidden_size"))
			}
			return validatePatch3(s)
		},
		keys: func(s *Spec) []Entry {
			h, d, c := s.Int("hidden_size"), s.Int("depth"), s.Int("in_channels")
			p := s.Ints("patch_size")
			hd := h / s.Int("num_heads")
			qk := 0
			if s.Bool("qk_norm") {
				qk = hd
			}
			m := mlpHidden(h, s.Float("mlp_ratio"))
			var b kb
			b.conv("x_embedder.proj", h, c, p...)
			b.timestepEmbedder("t_embedder", h)
			b.linear("t_block.1", 6*h, h, true)
			b.linear("t_block_temp.1", 3*h, h, true)
			b.captionEmbedder("y_embedder", h, s.Int("caption_channels"), s.Int("model_max_length"))
			b.fixedParam("rope.freqs", hd/2)
			for i := 0; i < d; i++ {
				pre := "blocks." + itoa(i)
				b.param(pre+".scale_shift_table", 6, h)
				b.param(pre+".scale_shift_table_temporal", 3, h)
				b.osAttention(pre+".attn", h, qk)
				b.crossAttn(pre+".cross_attn", h)
				b.timmMlp(pre+".mlp", h, m)
				b.osAttention(pre+".attn_temp", h, qk)
			}
			b.t2iFinal("final_layer", h, prod(p)*outChannels(s, "pred_sigma"))
			b.timestepEmbedder("csize_embedder", h/3)
			b.timestepEmbedder("ar_embedder", h/3)
			b.timestepEmbedder("fl_embedder", h)
			b.timestepEmbedder("fps_embedder", h)
			return b.e
		},
	})
}

// ---------------------------------------------------------------- Open-Sora 1.2 / 1.3 STDiT3

func registerSTDiT3() {
	for _, v4 := range []bool{false, true} {
		inC := 4
		id := "stdit3"
		desc := "Open-Sora 1.2 STDiT3 (tag v1.2.0; spatial_blocks + temporal_blocks, rope.freqs saved)"
		if v4 {
			inC, id = 16, "stdit3-v4"
			desc = "Open-Sora 1.3 STDiT3 / OpenSora-STDiT-v4 (tag v1.3; x_embedder_cond(_mask), optional windowed 3-D RoPE, skip_temporal)"
		}
		params := concat([]Param{
			pInt("in_channels", inC, 1, "latent channels"),
			pInts("patch_size", []int{1, 2, 2}, 3, 1, "patch (pt, ph, pw)"),
			pInt("hidden_size", 1152, 1, "H"),
			pInt("depth", 28, 1, "blocks per stack"),
			pInt("num_heads", 16, 1, "heads (head dim from q_norm / rope.freqs)"),
		}, osT2IParams, []Param{
			pInt("model_max_length", 300, 1, "text tokens L"),
			pBool("qk_norm", true, "per-head LlamaRMSNorm q_norm/k_norm"),
		})
		if v4 {
			params = append(params,
				pBool("skip_temporal", false, "no temporal_blocks"),
				Param{Name: "kernel_size", Kind: KindInts, Len: 3, Nullable: true, Min: -1, Default: nil, Doc: "windowed attention (released: [8, 8, -1]); set ⇒ 3-D RoPE, rope.freqs = hd/6"},
				pBool("use_spatial_rope", false, "RoPE in spatial blocks (requires kernel_size; no key effect)"),
			)
		}
		params = concat(params, pAny("input_size", "input_sq_size", "only_train_temporal", "freeze_y_embedder", "skip_y_embedder"), pAny(osRuntime...), pAny(hfConfigFields...))
		isV4 := v4
		register(&family{
			FamilyInfo: FamilyInfo{ID: id, Description: desc, Params: params},
			validate: func(s *Spec) error {
				if isV4 && s.Bool("use_spatial_rope") && s.params["kernel_size"] == nil {
					return fieldErr(s.Family, "use_spatial_rope", "requires kernel_size (upstream assertion)")
				}
				return validatePatch3(s)
			},
			keys: func(s *Spec) []Entry {
				h, d, c := s.Int("hidden_size"), s.Int("depth"), s.Int("in_channels")
				p := s.Ints("patch_size")
				hd := h / s.Int("num_heads")
				qk := 0
				if s.Bool("qk_norm") {
					qk = hd
				}
				rot := hd
				if isV4 && s.params["kernel_size"] != nil {
					rot = hd / 3
				}
				m := mlpHidden(h, s.Float("mlp_ratio"))
				var b kb
				b.fixedParam("rope.freqs", rot/2)
				b.conv("x_embedder.proj", h, c, p...)
				if isV4 {
					b.conv("x_embedder_cond.proj", h, c, p...)
					b.conv("x_embedder_cond_mask.proj", h, c, p...)
				}
				b.timestepEmbedder("t_embedder", h)
				b.timestepEmbedder("fps_embedder", h)
				b.linear("t_block.1", 6*h, h, true)
				b.captionEmbedder("y_embedder", h, s.Int("caption_channels"), s.Int("model_max_length"))
				stacks := []string{"spatial_blocks", "temporal_blocks"}
				if isV4 && s.Bool("skip_temporal") {
					stacks = stacks[:1]
				}
				for _, st := range stacks {
					for i := 0; i < d; i++ {
						pre := st + "." + itoa(i)
						b.param(pre+".scale_shift_table", 6, h)
						b.osAttention(pre+".attn", h, qk)
						b.crossAttn(pre+".cross_attn", h)
						b.timmMlp(pre+".mlp", h, m)
					}
				}
				b.t2iFinal("final_layer", h, prod(p)*outChannels(s, "pred_sigma"))
				return b.e
			},
		})
	}
}

// ---------------------------------------------------------------- Open-Sora 2.0 MMDiT / Flux

func registerMMDiT() {
	params := concat([]Param{
		pInt("in_channels", 64, 1, "packed latent channels per token (16-ch latent × 2×2)"),
	}, fluxParams, []Param{
		pBool("qkv_bias", true, "bias on double-block q/k/v projections"),
		pBool("guidance_embed", false, "guidance_in (Flux-dev)"),
		pBool("cond_embed", false, "cond_in (Open-Sora 2.0 i2v)"),
		pBool("fused_qkv", true, "fused qkv / linear1 (Flux layout) vs split q_proj/k_proj/v_proj, v_mlp"),
		pInt("patch_size", 2, 1, "packing patch (cond_in width = in_channels + patch_size²)"),
		pBool("use_liger_rope", false, "half-split RoPE kernel (no key effect; changes the q/k head-dim pairing)"),
	}, pAny("grad_ckpt_settings", "from_pretrained", "cache_dir", "device_map", "torch_dtype", "strict_load"))
	register(&family{
		FamilyInfo: FamilyInfo{ID: "mmdit", Description: "Open-Sora 2.0 MMDiTModel (opensora/models/mmdit) and the Flux (BFL) layout; defaults = Open-Sora 2.0 256px config where the dataclass has none", Params: params},
		validate:   validateFluxLike,
		keys: func(s *Spec) []Entry {
			// the BFL layout; the final projection's width is in_channels
			return fluxKeys(s, s.Int("in_channels"), s.Bool("fused_qkv"), s.Bool("cond_embed"))
		},
	})
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}
