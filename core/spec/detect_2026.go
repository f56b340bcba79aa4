package spec

import (
	"fmt"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
)

// Component is a network bundled beside the transformer in a single file
// (ComfyUI / SAI checkpoints carry text encoders and the VAE).
type Component struct {
	Name    string `json:"name"`    // "vae", "clip_l", "t5xxl", ...
	What    string `json:"what"`    // readable: "VAE", "CLIP-L text encoder"
	Prefix  string `json:"prefix"`  // key prefix, e.g. "text_encoders.clip_l."
	Tensors int    `json:"tensors"` // tensor count
	Params  int64  `json:"params"`  // element count
}

// componentPrefixes are the bundled networks' prefixes seen in single
// files, most specific first.
var componentPrefixes = []struct{ prefix, name, what string }{
	{"text_encoders.clip_l.", "clip_l", "CLIP-L text encoder"},
	{"text_encoders.clip_g.", "clip_g", "CLIP-G text encoder"},
	{"text_encoders.t5xxl.", "t5xxl", "T5-XXL text encoder"},
	{"text_encoders.umt5xxl.", "umt5xxl", "umT5-XXL text encoder"},
	{"text_encoders.llama.", "llama", "LLaMA text encoder"},
	{"cond_stage_model.", "cond_stage_model", "text encoder (LDM cond_stage_model)"},
	{"conditioner.embedders.", "conditioner", "text encoders (SGM conditioner)"},
	{"first_stage_model.", "vae", "VAE (LDM first_stage_model)"},
	{"vae.", "vae", "VAE"},
	{"text_encoder.", "text_encoder", "text encoder"},
	{"text_encoder_2.", "text_encoder_2", "second text encoder"},
	{"clip_vision.", "clip_vision", "CLIP vision encoder"},
}

// components groups tensors outside the network's prefix into bundled
// networks.
func components(infos []tensor.Info, prefix string) []Component {
	byName := map[string]*Component{}
	var order []string
	for _, in := range infos {
		if prefix != "" && strings.HasPrefix(in.Name, prefix) {
			continue
		}
		for _, cp := range componentPrefixes {
			if !strings.HasPrefix(in.Name, cp.prefix) {
				continue
			}
			c := byName[cp.prefix]
			if c == nil {
				c = &Component{Name: cp.name, What: cp.what, Prefix: cp.prefix}
				byName[cp.prefix] = c
				order = append(order, cp.prefix)
			}
			c.Tensors++
			n, _ := tensor.Numel(in.Shape)
			c.Params += n
			break
		}
	}
	out := make([]Component, 0, len(order))
	for _, p := range order {
		out = append(out, *byName[p])
	}
	return out
}

// packedSuffixes are the companion tensors bitsandbytes saves beside a
// packed 4-bit weight (Params4bit quant state).
var packedSuffixes = []string{".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map", ".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4"}

// PackedQuantState reports whether name is a bitsandbytes quant-state
// companion of a packed 4-bit weight.
func PackedQuantState(name string) bool {
	for _, s := range packedSuffixes {
		if strings.HasSuffix(name, ".weight"+s) {
			return true
		}
	}
	return false
}

// unpack finds bitsandbytes 4-bit weights (uint8 tensors holding two
// values per byte, with quant-state companions), records them, and gives
// the detector their logical shapes where a bias tells the output width.
// The companions are left out of detection.
func (x *detector) unpack(dtypes map[string]tensor.DType) {
	c := x.c
	var packed []string
	kind := ""
	for _, k := range c.order {
		if dtypes[k] != tensor.U8 || !strings.HasSuffix(k, ".weight") {
			continue
		}
		for _, s := range packedSuffixes {
			if c.has(k + s) {
				packed = append(packed, k)
				break
			}
		}
		switch {
		case c.has(k + ".quant_state.bitsandbytes__nf4"):
			kind = "NF4"
		case c.has(k + ".quant_state.bitsandbytes__fp4"):
			kind = "FP4"
		}
	}
	if len(packed) == 0 {
		return
	}
	if kind == "" {
		kind = "NF4/FP4"
	}
	x.d.Packed = packed
	x.d.PackedFormat = "bitsandbytes " + kind
	var keep []string
	for _, k := range c.order {
		if PackedQuantState(k) {
			delete(c.shapes, k)
			continue
		}
		keep = append(keep, k)
	}
	c.order = keep
	fixed := 0
	for _, k := range packed {
		n, _ := tensor.Numel(c.shapes[k])
		bias := strings.TrimSuffix(k, ".weight") + ".bias"
		if out := c.dim(bias, 0); out > 0 && (2*n)%int64(out) == 0 {
			c.shapes[k] = []int{out, int(2 * n / int64(out))}
			fixed++
		}
	}
	x.ev("%d weights are packed 4-bit (%s: uint8 holding two values per byte, half the elements, with absmax/quant_map companions); shapes read as their logical [out, in] where a bias gives out (%d of them)", len(packed), x.d.PackedFormat, fixed)
}

// classify2026 runs the signature cascade for today's families; false
// when none matches.
func (x *detector) classify2026() bool {
	c := x.c
	switch {
	case c.has("double_blocks.0.img_attn.qkv.weight") && !c.has("cond_in.weight"):
		x.flux()
	case c.has("single_transformer_blocks.0.proj_mlp.weight") && c.has("context_embedder.proj_in.weight"),
		c.has("context_embedder.token_refiner.refiner_blocks.0.attn.to_q.weight"):
		x.hunyuanDiffusers()
	case c.has("single_transformer_blocks.0.proj_mlp.weight") || c.has("time_text_embed.timestep_embedder.linear_1.weight") && c.has("x_embedder.weight"):
		x.fluxDiffusers()
	case c.has("double_blocks.0.img_attn_qkv.weight") || c.has("txt_in.individual_token_refiner.blocks.0.norm1.weight"):
		x.hunyuan()
	case c.has("head.modulation") || c.has("patch_embedding.weight") && c.has("blocks.0.self_attn.q.weight"):
		x.wan()
	case c.has("condition_embedder.time_proj.weight") || c.has("blocks.0.attn1.to_q.weight") && c.has("patch_embedding.weight"):
		x.wanDiffusers()
	case c.has("joint_blocks.0.context_block.attn.qkv.weight") || c.has("joint_blocks.0.x_block.attn.qkv.weight"):
		x.sd3()
	case c.has("transformer_blocks.0.norm1_context.linear.weight") && c.has("pos_embed.proj.weight"):
		x.sd3Diffusers()
	default:
		return x.classify2026b()
	}
	return x.fam != ""
}

func (x *detector) headDim(key string, h int) int {
	hd := x.c.dim(key, 0)
	if hd > 0 && h%hd == 0 {
		x.shapeEv(key, fmt.Sprintf("head dim %d → %d heads", hd, h/hd))
		return hd
	}
	return 0
}

func axesFor(hd int) []int {
	if hd == 128 {
		return []int{16, 56, 56}
	}
	a := (hd * 7 / 16) &^ 1
	return []int{hd - 2*a, a, a}
}

// ---------------------------------------------------------------- Flux

func (x *detector) flux() {
	c := x.c
	x.fam = "flux"
	x.d.Version = "Flux.1 (BFL release layout)"
	x.ev("double_blocks.0.img_attn.qkv.weight, no cond_in → Flux.1 (black-forest-labs flux.model.Flux)")
	h, in := c.dim("img_in.weight", 0), c.dim("img_in.weight", 1)
	out := c.dim("final_layer.linear.weight", 0)
	x.p["hidden_size"], x.p["in_channels"], x.p["out_channels"] = h, in, out
	x.shapeEv("img_in.weight", fmt.Sprintf("hidden_size %d, in_channels %d (packed 2×2 tokens)", h, in))
	x.shapeEv("final_layer.linear.weight", fmt.Sprintf("out_channels %d", out))
	x.p["depth"] = x.depth("double_blocks", "depth")
	x.p["depth_single_blocks"] = x.depth("single_blocks", "depth_single_blocks")
	x.p["vec_in_dim"] = c.dim("vector_in.in_layer.weight", 1)
	x.p["context_in_dim"] = c.dim("txt_in.weight", 1)
	x.mlpRatio("double_blocks.0.img_mlp.0.weight", h)
	if hd := x.headDim("double_blocks.0.img_attn.norm.query_norm.scale", h); hd > 0 {
		x.p["num_heads"] = h / hd
		x.p["axes_dim"] = axesFor(hd)
		x.amb("axes_dim: only its sum (head dim %d) is visible; using %v", hd, x.p["axes_dim"])
	}
	x.p["qkv_bias"] = c.has("double_blocks.0.img_attn.qkv.bias")
	g := c.has("guidance_in.in_layer.weight")
	x.p["guidance_embed"] = g
	x.ev("guidance_in present: %v → guidance_embed %v", g, g)
	x.amb("theta: the RoPE base is not visible in keys; using 10000")
	x.fluxVariant(in, out, g)
}

func (x *detector) fluxVariant(in, out int, guidance bool) {
	v := "flux1-dev"
	switch {
	case !guidance:
		v = "flux1-schnell"
		x.ev("no guidance embedder → Flux.1 [schnell] (timestep-distilled)")
	case out > 0 && in == 6*out:
		v = "flux1-fill-dev"
		x.ev("in_channels %d = 6 × out_channels %d → Flux.1 Fill (latent + mask + masked image)", in, out)
	case out > 0 && in == 2*out:
		v = "flux1-canny-dev"
		x.ev("in_channels %d = 2 × out_channels %d → Flux.1 Canny or Depth (latent + control image)", in, out)
		x.amb("variant: Canny and Depth [dev] have the same shapes; flux1-depth-dev is equally possible")
	case in == out:
		x.ev("in_channels = out_channels = %d, guidance_in → Flux.1 [dev]-shaped", in)
		x.amb("variant: Flux.1 [dev], Kontext, Krea and Redux [dev] have the same shapes; only the weights differ")
	default:
		x.amb("variant: in_channels %d / out_channels %d matches no release ratio (1 dev, 2 Canny/Depth, 6 Fill); nearest flux1-dev", in, out)
	}
	x.d.Variant = v
}

func (x *detector) fluxDiffusers() {
	c := x.c
	x.fam = "flux-diffusers"
	x.d.Version = "Flux.1 (diffusers FluxTransformer2DModel)"
	x.ev("single_transformer_blocks.*.proj_mlp and x_embedder.weight → diffusers Flux layout")
	h, in := c.dim("x_embedder.weight", 0), c.dim("x_embedder.weight", 1)
	x.p["in_channels"] = in
	x.shapeEv("x_embedder.weight", fmt.Sprintf("inner dim %d, in_channels %d", h, in))
	out := c.dim("proj_out.weight", 0)
	x.p["out_channels"] = out
	x.p["num_layers"] = x.depth("transformer_blocks", "num_layers")
	x.p["num_single_layers"] = x.depth("single_transformer_blocks", "num_single_layers")
	x.p["joint_attention_dim"] = c.dim("context_embedder.weight", 1)
	x.p["pooled_projection_dim"] = c.dim("time_text_embed.text_embedder.linear_1.weight", 1)
	if hd := x.headDim("transformer_blocks.0.attn.norm_q.weight", h); hd > 0 {
		x.p["attention_head_dim"], x.p["num_attention_heads"] = hd, h/hd
		x.p["axes_dims_rope"] = axesFor(hd)
		x.amb("axes_dims_rope: only its sum (head dim %d) is visible; using %v", hd, x.p["axes_dims_rope"])
	}
	g := c.has("time_text_embed.guidance_embedder.linear_1.weight")
	x.p["guidance_embeds"] = g
	x.ev("guidance_embedder present: %v → guidance_embeds %v", g, g)
	x.fluxVariant(in, out, g)
}

// ---------------------------------------------------------------- Wan

func (x *detector) wan() {
	c := x.c
	x.fam = "wan"
	x.d.Version = "Wan 2.1/2.2 (WanModel release layout)"
	x.ev("head.modulation / patch_embedding + blocks.*.self_attn.q → Wan (wan.modules.model.WanModel)")
	pe := c.shape("patch_embedding.weight")
	d := c.dim("patch_embedding.weight", 0)
	in := c.dim("patch_embedding.weight", 1)
	patch := []int{1, 2, 2}
	if len(pe) == 5 {
		patch = append([]int(nil), pe[2:]...)
		x.shapeEv("patch_embedding.weight", fmt.Sprintf("dim %d, in_dim %d, patch %v (Conv3d)", d, in, patch))
	} else {
		x.amb("patch_embedding.weight is not a Conv3d weight (%s); patch_size assumed [1, 2, 2]", tensor.FormatShape(pe))
		if d == 0 {
			d = c.dim("blocks.0.self_attn.o.weight", 0)
		}
	}
	x.p["dim"], x.p["in_dim"], x.p["patch_size"] = d, in, patch
	x.p["ffn_dim"] = c.dim("blocks.0.ffn.0.weight", 0)
	x.p["freq_dim"] = c.dim("time_embedding.0.weight", 1)
	x.p["text_dim"] = c.dim("text_embedding.0.weight", 1)
	if hw := c.dim("head.head.weight", 0); prod(patch) > 0 && hw%prod(patch) == 0 {
		x.p["out_dim"] = hw / prod(patch)
		x.shapeEv("head.head.weight", fmt.Sprintf("out_dim %d", hw/prod(patch)))
	}
	x.p["num_layers"] = x.depth("blocks", "num_layers")
	x.p["qk_norm"] = c.has("blocks.0.self_attn.norm_q.weight")
	x.p["cross_attn_norm"] = c.has("blocks.0.norm3.weight")
	x.headsWan(d, "num_heads")
	img := c.has("img_emb.proj.1.weight") || c.has("blocks.0.cross_attn.k_img.weight")
	flf := c.has("img_emb.emb_pos")
	out, _ := x.p["out_dim"].(int)
	x.p["model_type"], x.d.Variant = x.wanVariant(img, flf, in, out, "img_emb.proj.*, blocks.*.cross_attn.k_img")
	if !img && x.p["model_type"] == "i2v" {
		x.p["image_embedding"] = false
	}
	x.amb("text_len, window_size, eps: not visible in keys; upstream defaults 512, [-1, -1], 1e-6")
}

// headsWan: Wan's head count is invisible (its q/k norms span all heads);
// the releases use head dim 128.
func (x *detector) headsWan(d int, field string) {
	nh := 1
	switch {
	case d <= 0:
	case d%128 == 0:
		nh = d / 128
	default:
		nh = defaultHeads(d)
	}
	x.p[field] = nh
	a := Ambiguity{Param: field, Value: nh, Source: "published table: the releases use head dim 128",
		Reason: fmt.Sprintf("the head count and head dim (attention_head_dim) are not visible in shapes (the q/k norms span all heads); %d heads of %d", nh, d/max(nh, 1))}
	if d <= 0 || d%128 != 0 {
		a.Source, a.Guess = "", true
	}
	x.ambiguity(a)
}

func (x *detector) wanVariant(img, flf bool, in, out int, imgKeys string) (string, string) {
	switch {
	case img && flf:
		x.ev("image embedder with its position table → Wan 2.1 FLF2V (first-last-frame)")
		return "flf2v", "wan2.1-flf2v"
	case img:
		x.ev("%s present → Wan 2.1 image-to-video (CLIP image embedder)", imgKeys)
		return "i2v", "wan2.1-i2v"
	case in == 48 && out == 48:
		x.ev("48 channels in and out → Wan 2.2 TI2V-5B (Wan 2.2 VAE latents)")
		return "ti2v", "wan2.2-ti2v"
	case out > 0 && in > out:
		x.ev("in_dim %d > out_dim %d without an image embedder → Wan 2.2 image-to-video expert (image latents concatenated, no CLIP)", in, out)
		return "i2v", "wan2.2-i2v"
	}
	x.ev("no image embedder, in_dim %d → text-to-video", in)
	x.amb("variant: Wan 2.1 T2V and each Wan 2.2 T2V-A14B expert have the same shapes")
	return "t2v", "wan2.1-t2v"
}

func (x *detector) wanDiffusers() {
	c := x.c
	x.fam = "wan-diffusers"
	x.d.Version = "Wan (diffusers WanTransformer3DModel)"
	x.ev("condition_embedder.time_proj / blocks.*.attn1 + patch_embedding → diffusers Wan layout")
	pe := c.shape("patch_embedding.weight")
	d, in := c.dim("patch_embedding.weight", 0), c.dim("patch_embedding.weight", 1)
	patch := []int{1, 2, 2}
	if len(pe) == 5 {
		patch = append([]int(nil), pe[2:]...)
		x.shapeEv("patch_embedding.weight", fmt.Sprintf("inner dim %d, in_channels %d, patch %v", d, in, patch))
	}
	x.p["in_channels"], x.p["patch_size"] = in, patch
	if hw := c.dim("proj_out.weight", 0); prod(patch) > 0 {
		x.p["out_channels"] = hw / prod(patch)
	}
	x.p["ffn_dim"] = c.dim("blocks.0.ffn.net.0.proj.weight", 0)
	x.p["freq_dim"] = c.dim("condition_embedder.time_embedder.linear_1.weight", 1)
	x.p["text_dim"] = c.dim("condition_embedder.text_embedder.linear_1.weight", 1)
	x.p["num_layers"] = x.depth("blocks", "num_layers")
	x.p["cross_attn_norm"] = c.has("blocks.0.norm2.weight")
	if !c.has("blocks.0.attn1.norm_q.weight") {
		x.p["qk_norm"] = nil
	}
	x.headsWan(d, "num_attention_heads")
	x.p["attention_head_dim"] = d / x.p["num_attention_heads"].(int)
	img := c.has("condition_embedder.image_embedder.ff.net.0.proj.weight")
	if img {
		x.p["image_dim"] = c.dim("condition_embedder.image_embedder.ff.net.0.proj.weight", 1)
	}
	if k := "blocks.0.attn2.add_k_proj.weight"; c.has(k) {
		x.p["added_kv_proj_dim"] = c.dim(k, 1)
	}
	flf := c.has("condition_embedder.image_embedder.pos_embed")
	if flf {
		x.p["pos_embed_seq_len"] = c.dim("condition_embedder.image_embedder.pos_embed", 1)
	}
	out, _ := x.p["out_channels"].(int)
	_, x.d.Variant = x.wanVariant(img, flf, in, out, "condition_embedder.image_embedder.*, blocks.*.attn2.add_k_proj")
	x.amb("rope_max_seq_len, eps: not visible in keys; using 1024, 1e-6")
}

// ---------------------------------------------------------------- SD3 / SD3.5

func (x *detector) sd3() {
	c := x.c
	x.fam = "sd3"
	x.d.Version = "SD3 / SD3.5 (MMDiTX release layout)"
	x.ev("joint_blocks.*.context_block / x_block → SD3 MMDiTX (sd3_impls / mmditx.py)")
	h, in, patch := x.patchEmbed("x_embedder.proj.weight")
	p := x.ditPatch(patch)
	depth := x.depth("joint_blocks", "depth")
	x.p["depth"], x.p["in_channels"], x.p["patch_size"] = depth, in, p
	if h != 64*depth {
		x.ev("hidden size %d ≠ 64·depth %d: MMDiTX derives the width from the depth, so this file does not fit it", h, 64*depth)
	}
	if k := "final_layer.linear.weight"; c.has(k) && p > 0 {
		if out := c.dim(k, 0) / (p * p); out != in {
			x.p["out_channels"] = out
		}
	}
	if c.has("y_embedder.mlp.0.weight") {
		x.p["adm_in_channels"] = c.dim("y_embedder.mlp.0.weight", 1)
	}
	if c.has("context_embedder.weight") {
		x.p["context_embedder_config"] = SD3ContextConfig(c.dim("context_embedder.weight", 1), c.dim("context_embedder.weight", 0))
		x.shapeEv("context_embedder.weight", fmt.Sprintf("context_embedder_config Linear(%d, %d)", c.dim("context_embedder.weight", 1), c.dim("context_embedder.weight", 0)))
	}
	if c.has("register") {
		x.p["register_length"] = c.dim("register", 1)
	}
	if c.has("pos_embed") {
		n := c.dim("pos_embed", 1)
		x.p["num_patches"] = n
		if g, ok := isqrt(n); ok {
			x.p["pos_embed_max_size"] = g
			x.shapeEv("pos_embed", fmt.Sprintf("%d = %d² positions → pos_embed_max_size %d, num_patches %d", n, g, g, n))
		}
	}
	x.mlpRatio("joint_blocks.0.x_block.mlp.fc1.weight", h)
	x.p["qkv_bias"] = c.has("joint_blocks.0.x_block.attn.qkv.bias")
	switch {
	case c.has("joint_blocks.0.x_block.attn.ln_q.bias"):
		x.p["qk_norm"] = "ln"
		x.ev("attn.ln_q has weight and bias → qk_norm \"ln\"")
	case c.has("joint_blocks.0.x_block.attn.ln_q.weight"):
		x.p["qk_norm"] = "rms"
		x.ev("attn.ln_q.weight (no bias) → qk_norm \"rms\" (SD3.5)")
	}
	var self []int
	for i := 0; i < depth; i++ {
		if c.has(fmt.Sprintf("joint_blocks.%d.x_block.attn2.qkv.weight", i)) {
			self = append(self, i)
		}
	}
	x.p["x_block_self_attn_layers"] = append([]int{}, self...)
	if len(self) > 0 {
		x.ev("x_block.attn2 in blocks %v → x_block_self_attn_layers (their adaLN has 9 chunks)", self)
	}
	x.sd3Variant(len(self) > 0, x.p["qk_norm"] != nil)
	x.amb("input_size, pos_embed_scaling_factor, pos_embed_offset: not visible in keys (sd3_impls passes null)")
}

func (x *detector) sd3Variant(dual, qk bool) {
	switch {
	case dual:
		x.d.Variant = "sd3.5-medium"
		x.ev("extra x-stream self-attention → SD3.5 Medium")
	case qk:
		x.d.Variant = "sd3.5-large"
		x.ev("q/k norms without the extra self-attention → SD3.5 Large (or Large Turbo)")
	default:
		x.d.Variant = "sd3-medium"
		x.ev("no q/k norms, no extra self-attention → SD3 Medium")
	}
}

func (x *detector) sd3Diffusers() {
	c := x.c
	x.fam = "sd3-diffusers"
	x.d.Version = "SD3 / SD3.5 (diffusers SD3Transformer2DModel)"
	x.ev("transformer_blocks.*.norm1_context + pos_embed.proj → diffusers SD3 layout")
	h, p, L := x.diffusersPatch("pos_embed.proj.weight")
	if k := "proj_out.weight"; c.has(k) && p > 0 {
		x.p["out_channels"] = c.dim(k, 0) / (p * p)
	}
	x.p["joint_attention_dim"] = c.dim("context_embedder.weight", 1)
	x.p["caption_projection_dim"] = c.dim("context_embedder.weight", 0)
	x.p["pooled_projection_dim"] = c.dim("time_text_embed.text_embedder.linear_1.weight", 1)
	hd := 64
	switch {
	case c.has("transformer_blocks.0.attn.norm_q.bias"):
		x.p["qk_norm"] = "layer_norm"
		hd = c.dim("transformer_blocks.0.attn.norm_q.weight", 0)
	case c.has("transformer_blocks.0.attn.norm_q.weight"):
		x.p["qk_norm"] = "rms_norm"
		hd = c.dim("transformer_blocks.0.attn.norm_q.weight", 0)
	default:
		x.amb("attention_head_dim: not visible without q/k norms; using 64 (as every SD3 release)")
	}
	if hd > 0 && h%hd == 0 {
		x.p["attention_head_dim"], x.p["num_attention_heads"] = hd, h/hd
	}
	if c.has("pos_embed.pos_embed") {
		if g, ok := isqrt(c.dim("pos_embed.pos_embed", 1)); ok {
			x.p["pos_embed_max_size"] = g
		}
	} else {
		x.p["pos_embed_max_size"] = nil
	}
	var dual []int
	for i := 0; i < L; i++ {
		if c.has(fmt.Sprintf("transformer_blocks.%d.attn2.to_q.weight", i)) {
			dual = append(dual, i)
		}
	}
	x.p["dual_attention_layers"] = append([]int{}, dual...)
	x.sd3Variant(len(dual) > 0, x.p["qk_norm"] != nil)
	x.amb("sample_size: not visible in keys with pos_embed_max_size; using 128")
}

// ---------------------------------------------------------------- HunyuanVideo

func (x *detector) hunyuan() {
	c := x.c
	x.fam = "hunyuanvideo"
	x.d.Version = "HunyuanVideo (HYVideoDiffusionTransformer release layout)"
	x.ev("double_blocks.*.img_attn_qkv / txt_in.individual_token_refiner → HunyuanVideo")
	pe := c.shape("img_in.proj.weight")
	h, in := c.dim("img_in.proj.weight", 0), c.dim("img_in.proj.weight", 1)
	if len(pe) == 5 {
		x.p["patch_size"] = append([]int(nil), pe[2:]...)
		x.shapeEv("img_in.proj.weight", fmt.Sprintf("hidden_size %d, in_channels %d, patch %v", h, in, pe[2:]))
	}
	x.p["hidden_size"], x.p["in_channels"] = h, in
	if k := "final_layer.linear.weight"; c.has(k) {
		if pp := prod(x.patch3()); pp > 0 && c.dim(k, 0)/pp != in {
			x.p["out_channels"] = c.dim(k, 0) / pp
		}
	}
	x.p["mm_double_blocks_depth"] = x.depth("double_blocks", "mm_double_blocks_depth")
	x.p["mm_single_blocks_depth"] = x.depth("single_blocks", "mm_single_blocks_depth")
	if h > 0 {
		x.p["mlp_width_ratio"] = float64(c.dim("double_blocks.0.img_mlp.fc1.weight", 0)) / float64(h)
	}
	qn := "double_blocks.0.img_attn_q_norm.weight"
	x.p["qk_norm"] = c.has(qn)
	if c.has("double_blocks.0.img_attn_q_norm.bias") {
		x.p["qk_norm_type"] = "layer"
	}
	if hd := x.headDim(qn, h); hd > 0 {
		x.p["heads_num"] = h / hd
		x.p["rope_dim_list"] = axesFor(hd)
	} else {
		x.headsAs(h, "heads_num")
	}
	x.p["qkv_bias"] = c.has("double_blocks.0.img_attn_qkv.bias")
	x.p["guidance_embed"] = c.has("guidance_in.mlp.0.weight")
	if c.has("txt_in.linear_1.weight") {
		x.p["text_projection"] = "linear"
		x.p["text_states_dim"] = c.dim("txt_in.linear_1.weight", 1)
	} else {
		x.p["text_states_dim"] = c.dim("txt_in.input_embedder.weight", 1)
	}
	x.p["text_states_dim_2"] = c.dim("vector_in.in_layer.weight", 1)
	out, _ := x.p["out_channels"].(int)
	x.hunyuanVariant(in, out, x.p["guidance_embed"].(bool))
}

func (x *detector) patch3() []int {
	if p, ok := x.p["patch_size"].([]int); ok {
		return p
	}
	return []int{1, 2, 2}
}

func (x *detector) hunyuanVariant(in, out int, guidance bool) {
	switch {
	case in == 33:
		x.d.Variant = "hunyuanvideo-i2v-33ch"
		x.ev("33 input channels (latent + image latent + mask) → HunyuanVideo-I2V")
	case in == 32:
		x.d.Variant = "hunyuanvideo-i2v-32ch"
		x.ev("32 input channels (latent + image latent) → a HunyuanVideo I2V fine-tune (SkyReels-V1 style)")
	default:
		x.d.Variant = "hunyuanvideo-t2v"
		x.ev("%d input channels, guidance embedder %v → HunyuanVideo text-to-video", in, guidance)
		x.amb("variant: the 16-channel token-replace HunyuanVideo-I2V has the t2v shapes")
	}
}

func (x *detector) hunyuanDiffusers() {
	c := x.c
	x.fam = "hunyuanvideo-diffusers"
	x.d.Version = "HunyuanVideo (diffusers HunyuanVideoTransformer3DModel)"
	x.ev("context_embedder.token_refiner + single_transformer_blocks.*.proj_mlp → diffusers HunyuanVideo layout")
	pe := c.shape("x_embedder.proj.weight")
	h, in := c.dim("x_embedder.proj.weight", 0), c.dim("x_embedder.proj.weight", 1)
	if len(pe) == 5 {
		x.p["patch_size_t"], x.p["patch_size"] = pe[2], pe[3]
	}
	x.p["in_channels"] = in
	pt, p := 1, 2
	if len(pe) == 5 {
		pt, p = pe[2], pe[3]
	}
	x.p["out_channels"] = c.dim("proj_out.weight", 0) / max(pt*p*p, 1)
	x.p["num_layers"] = x.depth("transformer_blocks", "num_layers")
	x.p["num_single_layers"] = x.depth("single_transformer_blocks", "num_single_layers")
	x.p["num_refiner_layers"] = x.depth("context_embedder.token_refiner.refiner_blocks", "num_refiner_layers")
	if h > 0 {
		x.p["mlp_ratio"] = float64(c.dim("transformer_blocks.0.ff.net.0.proj.weight", 0)) / float64(h)
	}
	if hd := x.headDim("transformer_blocks.0.attn.norm_q.weight", h); hd > 0 {
		x.p["attention_head_dim"], x.p["num_attention_heads"] = hd, h/hd
		x.p["rope_axes_dim"] = axesFor(hd)
	}
	x.p["guidance_embeds"] = c.has("time_text_embed.guidance_embedder.linear_1.weight")
	x.p["text_embed_dim"] = c.dim("context_embedder.proj_in.weight", 1)
	x.p["pooled_projection_dim"] = c.dim("time_text_embed.text_embedder.linear_1.weight", 1)
	out, _ := x.p["out_channels"].(int)
	x.hunyuanVariant(in, out, x.p["guidance_embeds"].(bool))
}

// ---------------------------------------------------------------- layout, variant

// finish2026 sets the layout and, for presets of a layout, the variant.
func (x *detector) finish2026() {
	d := x.d
	if d.Family == "" {
		return
	}
	d.Layout = FamilyLayout(d.Family)
	if d.Prefix == ComfyPrefix && d.Layout == LayoutOriginal {
		d.Layout = LayoutComfyUI
	}
	if d.Preset != "" && d.Variant == "" {
		d.Variant, _ = PresetVariant(d.Preset)
	}
}

// classify2026b: LTX-Video, CogVideoX and Sana.
func (x *detector) classify2026b() bool {
	c := x.c
	switch {
	case c.has("patchify_proj.weight") || c.has("adaln_single.linear.weight") && c.has("transformer_blocks.0.attn1.q_norm.weight"):
		x.ltx(false)
	case c.has("proj_in.weight") && c.has("time_embed.linear.weight") && c.has("transformer_blocks.0.attn1.norm_q.weight") && !c.has("caption_norm.weight"):
		x.ltx(true)
	case c.has("patch_embed.text_proj.weight") || c.has("time_embedding.linear_1.weight") && c.has("transformer_blocks.0.norm1.linear.weight"):
		x.cogvideox()
	case c.has("blocks.0.mlp.inverted_conv.conv.weight"):
		x.sana()
	case c.has("transformer_blocks.0.ff.conv_inverted.weight"):
		x.sanaDiffusers()
	default:
		return false
	}
	return x.fam != ""
}

func (x *detector) ltx(diffusers bool) {
	c := x.c
	x.fam, x.d.Version = "ltx-video", "LTX-Video (Lightricks Transformer3DModel)"
	in, qn := "patchify_proj.weight", "transformer_blocks.0.attn1.q_norm.weight"
	if diffusers {
		x.fam, x.d.Version = "ltx-video-diffusers", "LTX-Video (diffusers LTXVideoTransformer3DModel)"
		in, qn = "proj_in.weight", "transformer_blocks.0.attn1.norm_q.weight"
		x.ev("proj_in + time_embed + transformer_blocks.*.attn1.norm_q → diffusers LTX-Video layout")
	} else {
		x.ev("patchify_proj / adaln_single + transformer_blocks.*.attn1.q_norm → LTX-Video (Lightricks)")
	}
	h := c.dim(in, 0)
	x.p["in_channels"] = c.dim(in, 1)
	x.shapeEv(in, fmt.Sprintf("inner dim %d, in_channels %d", h, c.dim(in, 1)))
	out := c.dim("proj_out.weight", 0)
	x.p["out_channels"] = out
	L := x.depth("transformer_blocks", "num_layers")
	x.p["num_layers"] = L
	hd := 64
	if h >= 4096 {
		hd = 128
	}
	if h%hd == 0 {
		x.p["num_attention_heads"], x.p["attention_head_dim"] = h/hd, hd
	}
	x.amb("num_attention_heads / attention_head_dim: only their product %d is visible (the q/k norms span all heads); using %d × %d as the releases", h, h/hd, hd)
	if k := "transformer_blocks.0.attn2.to_k.weight"; c.has(k) {
		x.p["cross_attention_dim"] = c.dim(k, 1)
	} else if !diffusers {
		x.p["cross_attention_dim"] = nil
	}
	if k := "caption_projection.linear_1.weight"; c.has(k) {
		x.p["caption_channels"] = c.dim(k, 1)
	} else if !diffusers {
		x.p["caption_channels"] = nil
	}
	x.p["attention_bias"] = c.has("transformer_blocks.0.attn1.to_q.bias")
	sst := c.dim("transformer_blocks.0.scale_shift_table", 0)
	if !diffusers {
		switch sst {
		case 4:
			x.p["adaptive_norm"] = "single_scale"
		case 0:
			x.p["adaptive_norm"] = "none"
		}
		x.p["norm_elementwise_affine"] = c.has("transformer_blocks.0.norm1.weight")
		if c.has("transformer_blocks.0.norm1.bias") {
			x.p["standardization_norm"] = "layer_norm"
		}
		if !c.has(qn) {
			x.p["qk_norm"] = nil
		} else if c.has("transformer_blocks.0.attn1.q_norm.bias") {
			x.p["qk_norm"] = "layer_norm"
		}
	} else {
		x.p["norm_elementwise_affine"] = c.has("transformer_blocks.0.norm1.weight")
		x.p["attention_out_bias"] = c.has("transformer_blocks.0.attn1.to_out.0.bias")
	}
	if sst > 0 {
		x.shapeEv("transformer_blocks.0.scale_shift_table", fmt.Sprintf("%d modulation rows", sst))
	}
	x.d.Variant = "ltx-video-2b"
	if h >= 4096 || L >= 40 {
		x.d.Variant = "ltx-video-13b"
	}
	x.ev("inner dim %d, %d blocks → %s", h, L, x.d.Variant)
}

func (x *detector) cogvideox() {
	c := x.c
	x.fam, x.d.Version = "cogvideox", "CogVideoX (diffusers CogVideoXTransformer3DModel)"
	x.ev("patch_embed.text_proj / time_embedding + transformer_blocks.*.norm1.linear → CogVideoX")
	pw := c.shape("patch_embed.proj.weight")
	h := c.dim("patch_embed.text_proj.weight", 0)
	x.p["text_embed_dim"] = c.dim("patch_embed.text_proj.weight", 1)
	te := c.dim("time_embedding.linear_1.weight", 0)
	x.p["time_embed_dim"] = te
	p := 2
	v15 := len(pw) == 2
	if len(pw) == 4 {
		p = pw[2]
		x.p["in_channels"], x.p["patch_size"] = pw[1], p
		x.shapeEv("patch_embed.proj.weight", fmt.Sprintf("Conv2d patch embed (CogVideoX 1.0): in_channels %d, patch %d", pw[1], p))
	}
	L := x.depth("transformer_blocks", "num_layers")
	x.p["num_layers"] = L
	hd := c.dim("transformer_blocks.0.attn1.norm_q.weight", 0)
	if hd > 0 && h%hd == 0 {
		x.p["attention_head_dim"], x.p["num_attention_heads"] = hd, h/hd
	}
	out := 16
	if v15 {
		pt := 2
		x.p["patch_size_t"] = pt
		in := pw[1] / max(p*p*pt, 1)
		x.p["in_channels"], x.p["patch_size"] = in, p
		x.p["patch_bias"] = c.has("patch_embed.proj.bias")
		x.shapeEv("patch_embed.proj.weight", fmt.Sprintf("Linear patch embed (CogVideoX 1.5) over %d = %d channels × 2×2×2 patches", pw[1], in))
		x.amb("patch_size_t, patch_size: only their product with in_channels is visible in the Linear patch embed; using 2 and 2 as CogVideoX1.5")
		out = c.dim("proj_out.weight", 0) / max(p*p*pt, 1)
		x.p["sample_height"], x.p["sample_width"], x.p["sample_frames"] = 300, 300, 81
	} else {
		out = c.dim("proj_out.weight", 0) / max(p*p, 1)
	}
	x.p["out_channels"] = out
	if k := "ofs_embedding.linear_1.weight"; c.has(k) {
		x.p["ofs_embed_dim"] = c.dim(k, 0)
	}
	x.p["attention_bias"] = c.has("transformer_blocks.0.attn1.to_q.bias")
	x.p["norm_elementwise_affine"] = c.has("norm_final.weight")
	learned := c.has("patch_embed.pos_embedding")
	x.p["use_learned_positional_embeddings"] = learned
	x.p["use_rotary_positional_embeddings"] = learned || h != 1920
	x.amb("use_rotary_positional_embeddings: not visible in keys (RoPE and the sin-cos table are both unsaved); using %v (the 2B uses sin-cos, the 5B models RoPE)", x.p["use_rotary_positional_embeddings"])
	in, _ := x.p["in_channels"].(int)
	i2v := in == 2*out
	switch {
	case v15 && i2v:
		x.d.Variant = "cogvideox1.5-5b-i2v"
	case v15:
		x.d.Variant = "cogvideox1.5-5b"
	case i2v:
		x.d.Variant = "cogvideox-5b-i2v"
	case h <= 1920:
		x.d.Variant = "cogvideox-2b"
	default:
		x.d.Variant = "cogvideox-5b"
	}
	x.ev("patch embed %s, %d input channels, inner dim %d → %s", map[bool]string{true: "Linear (1.5)", false: "Conv2d (1.0)"}[v15], in, h, x.d.Variant)
}

func (x *detector) sana() {
	c := x.c
	x.fam, x.d.Version = "sana", "Sana (NVlabs SanaMS)"
	x.ev("blocks.*.mlp.inverted_conv (GLUMBConv) → Sana")
	h, in, patch := x.patchEmbed("x_embedder.proj.weight")
	p := x.ditPatch(patch)
	x.p["hidden_size"], x.p["in_channels"], x.p["patch_size"] = h, in, p
	x.p["depth"] = x.depth("blocks", "depth")
	if m := c.dim("blocks.0.mlp.point_conv.conv.weight", 1); h > 0 {
		x.p["mlp_ratio"] = float64(m) / float64(h)
	}
	x.caption()
	x.p["y_norm"] = c.has("attention_y_norm.weight")
	x.p["qk_norm"] = c.has("blocks.0.attn.q_norm.weight")
	x.p["use_pe"] = c.has("pos_embed")
	if out := c.dim("final_layer.linear.weight", 0); p > 0 {
		x.p["pred_sigma"] = out/(p*p) == 2*in
	}
	nh := sanaHeads(h)
	x.p["num_heads"] = nh
	x.amb("num_heads (cross-attention): not visible in shapes; using %d", nh)
	x.sanaVariant(h)
}

// sanaHeads is the cross-attention head count of a Sana of width h (not
// visible in shapes): the releases' (1600M 20, 600M 16), else the default.
func sanaHeads(h int) int {
	if nh := map[int]int{2240: 20, 1152: 16}[h]; nh > 0 {
		return nh
	}
	return defaultHeads(h)
}

func (x *detector) sanaVariant(h int) {
	x.d.Variant = "sana-1600m"
	if h <= 1152 {
		x.d.Variant = "sana-600m"
	}
	x.ev("hidden size %d → %s", h, x.d.Variant)
}

func (x *detector) sanaDiffusers() {
	c := x.c
	x.fam, x.d.Version = "sana-diffusers", "Sana (diffusers SanaTransformer2DModel)"
	x.ev("transformer_blocks.*.ff.conv_inverted → diffusers Sana layout")
	h, p, _ := x.diffusersPatch("patch_embed.proj.weight")
	if h%32 == 0 {
		x.p["num_attention_heads"], x.p["attention_head_dim"] = h/32, 32
	}
	x.amb("num_attention_heads / attention_head_dim: only their product %d is visible (linear attention); using head dim 32", h)
	if k := "transformer_blocks.0.attn2.to_q.weight"; c.has(k) {
		inner := c.dim(k, 0)
		nh := sanaHeads(inner)
		x.p["num_cross_attention_heads"], x.p["cross_attention_head_dim"] = nh, inner/nh
		x.p["cross_attention_dim"] = c.dim("transformer_blocks.0.attn2.to_k.weight", 1)
		x.amb("num_cross_attention_heads: not visible in shapes; using %d", nh)
	} else {
		x.p["cross_attention_dim"] = nil
	}
	x.p["caption_channels"] = c.dim("caption_projection.linear_1.weight", 1)
	if m := c.dim("transformer_blocks.0.ff.conv_point.weight", 1); h > 0 {
		x.p["mlp_ratio"] = float64(m) / float64(h)
	}
	if out := c.dim("proj_out.weight", 0); p > 0 {
		x.p["out_channels"] = out / (p * p)
	}
	x.p["attention_bias"] = c.has("transformer_blocks.0.attn1.to_q.bias")
	x.p["guidance_embeds"] = c.has("time_embed.guidance_embedder.linear_1.weight")
	if c.has("transformer_blocks.0.attn1.norm_q.weight") {
		x.p["qk_norm"] = "rms_norm_across_heads"
	}
	x.amb("sample_size: not visible in keys; using the default 32")
	x.sanaVariant(h)
}
