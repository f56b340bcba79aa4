package spec

import (
	"fmt"
	"sort"
)

// Presets of today's families are named like the reference key lists in
// docs/keys/2026 (flux1-dev, flux1-fill-dev.diffusers,
// wan2.1-t2v-14B.comfyui, ...): the release name, then ".diffusers" for
// the diffusers layout or ".comfyui" for the single-file layout.

// presetMeta is what a 2026 preset adds to PresetInfo.
type presetMeta struct {
	variant string // release variant ("flux1-fill-dev", "wan2.1-i2v")
	layout  string
	base    string // the original-layout preset name
}

var presetMetas = map[string]presetMeta{}

// variantInfo describes a release variant: its readable name, what tells
// it apart, and what loads it.
type variantInfo struct {
	group, title, loads string
}

var variants = map[string]variantInfo{}

func addVariant(name, group, title, loads string) {
	variants[name] = variantInfo{group, title, loads}
}

// addRelease registers a release in all its layouts: the original preset
// (name), name.diffusers (from the diffusers params, nil: derived with
// ToLayout) and name.comfyui.
func addRelease(name, variant, fam, desc string, params map[string]any) {
	addPreset(name, fam, desc, params)
	presetMetas[name] = presetMeta{variant, LayoutOriginal, name}
	s, err := Preset(name)
	if err != nil {
		panic(err)
	}
	if d, err := ToLayout(s, LayoutDiffusers); err == nil {
		p := map[string]any{}
		for k, v := range d.params {
			p[k] = cloneVal(v)
		}
		addPreset(name+".diffusers", d.Family, desc+"; diffusers layout", p)
		presetMetas[name+".diffusers"] = presetMeta{variant, LayoutDiffusers, name}
	}
	cp := map[string]any{}
	for k, v := range params {
		cp[k] = v
	}
	cp[PrefixParam] = ComfyPrefix
	addPreset(name+".comfyui", fam, desc+"; ComfyUI single-file layout (model.diffusion_model. prefix)", cp)
	presetMetas[name+".comfyui"] = presetMeta{variant, LayoutComfyUI, name}
}

func init() {
	// Flux.1 (black-forest-labs/flux util.py configs). dev first: the
	// Kontext, Krea and Redux files have exactly its keys.
	flux := func(in int, guidance bool) map[string]any {
		return map[string]any{"in_channels": in, "out_channels": 64, "vec_in_dim": 768, "context_in_dim": 4096, "hidden_size": 3072,
			"mlp_ratio": 4.0, "num_heads": 24, "depth": 19, "depth_single_blocks": 38, "axes_dim": []int{16, 56, 56}, "theta": 10000,
			"qkv_bias": true, "guidance_embed": guidance}
	}
	addVariant("flux1-dev", "flux", "Flux.1 [dev] (guidance-distilled text-to-image; Kontext, Krea and Redux have the same shapes)", "FluxPipeline / BFL Flux(configs['flux-dev'])")
	addVariant("flux1-schnell", "flux", "Flux.1 [schnell] (timestep-distilled: no guidance_in)", "FluxPipeline with guidance_embeds=False / BFL configs['flux-schnell']")
	addVariant("flux1-fill-dev", "flux", "Flux.1 Fill [dev] (img_in takes 64 latent + 320 mask-and-image channels = 384)", "FluxFillPipeline / BFL configs['flux-dev-fill'] (in_channels 384)")
	addVariant("flux1-canny-dev", "flux", "Flux.1 Canny/Depth [dev] (img_in takes 64 latent + 64 control channels = 128)", "FluxControlPipeline / BFL configs['flux-dev-canny'] or ['flux-dev-depth'] (in_channels 128)")
	addVariant("flux1-depth-dev", "flux", "Flux.1 Depth [dev] (same shapes as Canny)", "FluxControlPipeline / BFL configs['flux-dev-depth'] (in_channels 128)")
	addVariant("flux1-kontext-dev", "flux", "Flux.1 Kontext [dev] (same shapes as dev)", "FluxKontextPipeline / BFL configs['flux-dev-kontext']")
	addVariant("flux1-krea-dev", "flux", "Flux.1 Krea [dev] (same shapes as dev)", "FluxPipeline / BFL configs['flux-dev-krea']")
	addVariant("flux1-redux-dev", "flux", "Flux.1 Redux [dev] (same shapes as dev)", "FluxPriorReduxPipeline + FluxPipeline")
	for _, r := range []struct {
		name, cfg string
		in        int
		guidance  bool
	}{
		{"flux1-dev", "flux-dev", 64, true},
		{"flux1-schnell", "flux-schnell", 64, false},
		{"flux1-fill-dev", "flux-dev-fill", 384, true},
		{"flux1-canny-dev", "flux-dev-canny", 128, true},
		{"flux1-depth-dev", "flux-dev-depth", 128, true},
		{"flux1-kontext-dev", "flux-dev-kontext", 64, true},
		{"flux1-krea-dev", "flux-dev-krea", 64, true},
		{"flux1-redux-dev", "flux-dev-redux", 64, true},
	} {
		addRelease(r.name, r.name, "flux", fmt.Sprintf("black-forest-labs %s.safetensors (util.py configs['%s'])", r.name, r.cfg), flux(r.in, r.guidance))
	}

	// Wan 2.1 / 2.2 (wan/configs + released config.json model_type/in_dim/out_dim).
	wan := func(mt string, in, out, dim, ffn, heads, layers int) map[string]any {
		return map[string]any{"model_type": mt, "patch_size": []int{1, 2, 2}, "text_len": 512, "in_dim": in, "dim": dim,
			"ffn_dim": ffn, "freq_dim": 256, "text_dim": 4096, "out_dim": out, "num_heads": heads, "num_layers": layers,
			"window_size": []int{-1, -1}, "qk_norm": true, "cross_attn_norm": true, "eps": 1e-6}
	}
	addVariant("wan2.1-t2v", "wan", "Wan 2.1 text-to-video (16 input channels, no image embedder; Wan 2.2 A14B experts have the same shapes)", "WanPipeline / WanModel(model_type='t2v')")
	addVariant("wan2.1-i2v", "wan", "Wan 2.1 image-to-video (36 input channels, CLIP image embedder img_emb, k_img/v_img)", "WanImageToVideoPipeline / WanModel(model_type='i2v')")
	addVariant("wan2.1-flf2v", "wan", "Wan 2.1 first-last-frame-to-video (i2v plus img_emb.emb_pos)", "WanImageToVideoPipeline (FLF2V) / WanModel(model_type='flf2v')")
	addVariant("wan2.2-i2v", "wan", "Wan 2.2 image-to-video A14B expert (36 input channels, no CLIP image embedder)", "WanImageToVideoPipeline (Wan 2.2) / Wan2.2 WanModel(model_type='i2v')")
	addVariant("wan2.2-ti2v", "wan", "Wan 2.2 TI2V-5B (48 latent channels of the Wan 2.2 VAE in and out)", "WanPipeline (Wan 2.2 TI2V) / Wan2.2 WanModel(model_type='ti2v')")
	addRelease("wan2.1-t2v-1.3B", "wan2.1-t2v", "wan", "Wan-AI/Wan2.1-T2V-1.3B (WAN_CONFIGS['t2v-1.3B'])", wan("t2v", 16, 16, 1536, 8960, 12, 30))
	addRelease("wan2.1-t2v-14B", "wan2.1-t2v", "wan", "Wan-AI/Wan2.1-T2V-14B (WAN_CONFIGS['t2v-14B'])", wan("t2v", 16, 16, 5120, 13824, 40, 40))
	addRelease("wan2.1-i2v-14B", "wan2.1-i2v", "wan", "Wan-AI/Wan2.1-I2V-14B-480P / -720P (WAN_CONFIGS['i2v-14B'])", wan("i2v", 36, 16, 5120, 13824, 40, 40))
	addRelease("wan2.1-flf2v-14B", "wan2.1-flf2v", "wan", "Wan-AI/Wan2.1-FLF2V-14B-720P (WAN_CONFIGS['flf2v-14B'])", wan("flf2v", 36, 16, 5120, 13824, 40, 40))
	addRelease("wan2.2-t2v-A14B.expert", "wan2.1-t2v", "wan", "Wan-AI/Wan2.2-T2V-A14B high_noise_model/ or low_noise_model/ (each expert is the 2.1 14B layout)", wan("t2v", 16, 16, 5120, 13824, 40, 40))
	i2v22 := wan("i2v", 36, 16, 5120, 13824, 40, 40)
	i2v22["image_embedding"] = false
	addRelease("wan2.2-i2v-A14B.expert", "wan2.2-i2v", "wan", "Wan-AI/Wan2.2-I2V-A14B expert (in_dim 36, no CLIP image embedder)", i2v22)
	addRelease("wan2.2-ti2v-5B", "wan2.2-ti2v", "wan", "Wan-AI/Wan2.2-TI2V-5B (WAN_CONFIGS['ti2v-5B'])", wan("ti2v", 48, 48, 3072, 14336, 24, 30))

	// SD3 / SD3.5 (kwargs as sd3_impls.BaseModel derives them from the file).
	sd3 := func(depth, maxSize int, qk any, selfAttn []int) map[string]any {
		return map[string]any{"input_size": nil, "pos_embed_scaling_factor": nil, "pos_embed_offset": nil, "pos_embed_max_size": maxSize,
			"patch_size": 2, "in_channels": 16, "depth": depth, "num_patches": maxSize * maxSize, "adm_in_channels": 2048,
			"context_embedder_config": SD3ContextConfig(4096, 64*depth), "qk_norm": qk, "x_block_self_attn_layers": selfAttn}
	}
	thirteen := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	addVariant("sd3-medium", "sd3", "SD3 Medium (no q/k norms, no attn2)", "StableDiffusion3Pipeline / MMDiTX(qk_norm=None)")
	addVariant("sd3.5-medium", "sd3", "SD3.5 Medium (RMS q/k norms; the x-stream's extra self-attention attn2 in blocks 0–12, so their adaLN has 9 chunks instead of 6)", "StableDiffusion3Pipeline (SD3.5) / MMDiTX(qk_norm='rms', x_block_self_attn_layers=[0..12])")
	addVariant("sd3.5-large", "sd3", "SD3.5 Large / Large Turbo (RMS q/k norms, no attn2, 38 blocks)", "StableDiffusion3Pipeline (SD3.5) / MMDiTX(qk_norm='rms')")
	addRelease("sd3-medium", "sd3-medium", "sd3", "stabilityai/stable-diffusion-3-medium sd3_medium.safetensors (transformer)", sd3(24, 192, nil, []int{}))
	addRelease("sd3.5-medium", "sd3.5-medium", "sd3", "stabilityai/stable-diffusion-3.5-medium sd3.5_medium.safetensors (transformer)", sd3(24, 384, "rms", thirteen))
	addRelease("sd3.5-large", "sd3.5-large", "sd3", "stabilityai/stable-diffusion-3.5-large sd3.5_large.safetensors (transformer)", sd3(38, 192, "rms", []int{}))
	addRelease("sd3.5-large-turbo", "sd3.5-large", "sd3", "stabilityai/stable-diffusion-3.5-large-turbo (same shapes as sd3.5-large)", sd3(38, 192, "rms", []int{}))

	// HunyuanVideo (HUNYUAN_VIDEO_CONFIG['HYVideo-T/2'] + diffusers TRANSFORMER_CONFIGS).
	hy := func(in int, guidance bool) map[string]any {
		return map[string]any{"patch_size": []int{1, 2, 2}, "in_channels": in, "out_channels": 16, "hidden_size": 3072, "heads_num": 24,
			"mlp_width_ratio": 4.0, "mm_double_blocks_depth": 20, "mm_single_blocks_depth": 40, "rope_dim_list": []int{16, 56, 56},
			"qkv_bias": true, "qk_norm": true, "qk_norm_type": "rms", "guidance_embed": guidance, "text_states_dim": 4096, "text_states_dim_2": 768}
	}
	addVariant("hunyuanvideo-t2v", "hunyuanvideo", "HunyuanVideo text-to-video (16 input channels, guidance-distilled; the 16-channel token-replace I2V has the same shapes)", "HunyuanVideoPipeline / HYVideoDiffusionTransformer (HYVideo-T/2-cfgdistill)")
	addVariant("hunyuanvideo-i2v-33ch", "hunyuanvideo", "HunyuanVideo-I2V (33 input channels = 16 latent + 16 image + 1 mask, no guidance embedder)", "HunyuanVideoImageToVideoPipeline (image_condition_type latent_concat)")
	addVariant("hunyuanvideo-i2v-32ch", "hunyuanvideo", "a 32-input-channel HunyuanVideo I2V fine-tune (16 latent + 16 image, e.g. SkyReels-V1-Hunyuan-I2V)", "the fine-tune's own pipeline (in_channels 32)")
	addRelease("hunyuanvideo-t2v", "hunyuanvideo-t2v", "hunyuanvideo", "tencent/HunyuanVideo mp_rank_00_model_states.pt (HYVideo-T/2-cfgdistill)", hy(16, true))
	addRelease("hunyuanvideo-i2v-33ch", "hunyuanvideo-i2v-33ch", "hunyuanvideo", "tencent/HunyuanVideo-I2V (HYVideo-T/2, in_channels 33, no guidance embedder)", hy(33, false))
}

// PresetVariant returns a preset's release variant and layout ("", "" for
// presets of older families).
func PresetVariant(name string) (variant, layout string) {
	m := presetMetas[name]
	return m.variant, m.layout
}

// PresetInLayout names the preset of the same release in another layout
// ("" if none): PresetInLayout("flux1-dev", "diffusers") = "flux1-dev.diffusers".
func PresetInLayout(name, layout string) string {
	m, ok := presetMetas[name]
	if !ok {
		return ""
	}
	want := m.base
	switch layout {
	case LayoutDiffusers:
		want += ".diffusers"
	case LayoutComfyUI:
		want += ".comfyui"
	}
	if _, ok := presetMetas[want]; ok {
		return want
	}
	return ""
}

// VariantInfo describes a release variant: a readable title and what loads it.
func VariantInfo(name string) (title, loads string, ok bool) {
	v, ok := variants[name]
	return v.title, v.loads, ok
}

// Variants lists the known release variants of a group.
func Variants(group string) []string {
	var out []string
	for n, v := range variants {
		if v.group == group {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
