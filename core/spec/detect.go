package spec

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ditkit/ditkit/core/tensor"
)

// Detection is what a checkpoint's tensor names and shapes say about its
// architecture.
type Detection struct {
	// Family is a family id ("" when nothing matched); Version a readable
	// lineage such as "Open-Sora 1.0 STDiT" or "facebookresearch DiT in
	// Open-Sora 1.0 layout".
	Family  string
	Version string
	// Prefix is the key prefix that was stripped ("module.", "ema/", ...).
	Prefix string
	// Params holds the derived hyperparameters; values shapes cannot show
	// are upstream defaults (or the matching preset's) and are listed in
	// Ambiguous. Nil when Family is "".
	Params *Spec
	// Preset is the preset whose key list equals the checkpoint's exactly.
	Preset string
	// ClosestPreset is the same-family preset with the most agreeing
	// entries when Preset is "" (empty if none is close).
	ClosestPreset string
	Evidence      []string
	Ambiguous     []string
	// Ambiguities are the hyperparameters shapes do not decide, structured:
	// the value used, its source and whether it is a guess (see Resolve).
	// Each also has a line in Ambiguous.
	Ambiguities []Ambiguity
	// Confidence is |agree| / |spec ∪ checkpoint| over (name, shape)
	// pairs between Params.Keys() and the checkpoint: 1 means the spec
	// reproduces the checkpoint exactly.
	Confidence float64
	// Missing/Unexpected/ShapeMismatch compare Params.Keys() with the
	// checkpoint (names without the prefix).
	Missing       []string
	Unexpected    []string
	ShapeMismatch []string
	// Ignored counts tensors outside Prefix (other containers).
	Ignored int
	// Variant is the release variant the shapes identify ("flux1-fill-dev",
	// "wan2.1-i2v", "sd3.5-medium"); for a tiny or unknown configuration
	// the nearest one by its distinguishing tensors. Empty for families
	// without variants.
	Variant string
	// Layout is "original", "diffusers" or "comfyui" (the original keys
	// under model.diffusion_model.).
	Layout string
	// Components are networks bundled beside this one (text encoders,
	// VAE) in a single file.
	Components []Component
	// Packed lists weights stored packed 4-bit (PackedFormat says how).
	Packed       []string
	PackedFormat string
}

// anchors are keys that end a prefix: what precedes them is the container
// or wrapper prefix.
var anchors = []string{
	"x_embedder.proj.weight", "pos_embed.proj.weight", "img_in.weight",
	"t_embedder.mlp.0.weight", "final_layer.linear.weight", "proj_out_2.weight",
	"adaln_single.linear.weight", "video_embedder.proj.weight", "txt_in.weight",
	"img_in.proj.weight", "patch_embedding.weight", "x_embedder.weight", "head.modulation",
	"joint_blocks.0.x_block.attn.qkv.weight", "patchify_proj.weight", "proj_in.weight", "patch_embed.proj.weight",
}

func findPrefix(infos []tensor.Info) (string, int) {
	count := map[string]int{}
	for _, in := range infos {
		for _, a := range anchors {
			if strings.HasSuffix(in.Name, a) {
				p := in.Name[:len(in.Name)-len(a)]
				if p == "" || strings.HasSuffix(p, ".") || strings.HasSuffix(p, "/") {
					count[p] = 0
				}
			}
		}
	}
	if len(count) == 0 {
		return "", 0
	}
	for p := range count {
		for _, in := range infos {
			if strings.HasPrefix(in.Name, p) {
				count[p]++
			}
		}
	}
	best, bestN := "", -1
	score := func(p string) int {
		// prefer EMA weights, then the longer (more specific) prefix
		s := 0
		if strings.Contains(strings.ToLower(p), "ema") {
			s = 1
		}
		return s
	}
	for p, n := range count {
		// a prefix only counts the keys that are not under a longer candidate
		switch {
		case n > bestN,
			n == bestN && score(p) > score(best),
			n == bestN && score(p) == score(best) && len(p) > len(best):
			best, bestN = p, n
		}
	}
	return best, bestN
}

type ckpt struct {
	shapes map[string][]int
	order  []string
}

func (c *ckpt) has(k string) bool { _, ok := c.shapes[k]; return ok }

func (c *ckpt) shape(k string) []int { return c.shapes[k] }

func (c *ckpt) dim(k string, i int) int {
	s := c.shapes[k]
	if i < 0 {
		i += len(s)
	}
	if i < 0 || i >= len(s) {
		return 0
	}
	return s[i]
}

// blocks returns 1+max index of "<prefix>.<i>." keys and any missing indices.
func (c *ckpt) blocks(prefix string) (int, []int) {
	seen := map[int]bool{}
	maxI := -1
	pp := prefix + "."
	for _, k := range c.order {
		if !strings.HasPrefix(k, pp) {
			continue
		}
		rest := k[len(pp):]
		j := strings.IndexByte(rest, '.')
		if j <= 0 {
			continue
		}
		i, err := strconv.Atoi(rest[:j])
		if err != nil || i < 0 {
			continue
		}
		seen[i] = true
		if i > maxI {
			maxI = i
		}
	}
	var gaps []int
	for i := 0; i <= maxI; i++ {
		if !seen[i] {
			gaps = append(gaps, i)
		}
	}
	return maxI + 1, gaps
}

type detector struct {
	c   *ckpt
	d   *Detection
	p   map[string]any
	fam string
}

func (x *detector) ev(format string, args ...any) {
	x.d.Evidence = append(x.d.Evidence, fmt.Sprintf(format, args...))
}

func (x *detector) amb(format string, args ...any) {
	x.d.Ambiguous = append(x.d.Ambiguous, fmt.Sprintf(format, args...))
}

func (x *detector) shapeEv(key, meaning string) {
	x.ev("%s %s → %s", key, tensor.FormatShape(x.c.shape(key)), meaning)
}

// Detect identifies the architecture of a checkpoint from its tensor list
// (names already stripped of container keys by the caller; wrapper prefixes
// such as "module.", "model.", "model.diffusion_model.", "base_model." or a
// remaining "ema/" container are found and stripped here).
func Detect(infos []tensor.Info) *Detection {
	d := &Detection{}
	prefix, n := findPrefix(infos)
	d.Prefix = prefix
	c := &ckpt{shapes: map[string][]int{}}
	dtypes := map[string]int{}
	keyTypes := map[string]tensor.DType{}
	d.Components = components(infos, prefix)
	for _, in := range infos {
		if !strings.HasPrefix(in.Name, prefix) || prefix == "" && inComponent(in.Name, d.Components) {
			d.Ignored++
			continue
		}
		k := strings.TrimPrefix(in.Name, prefix)
		if _, dup := c.shapes[k]; !dup {
			c.order = append(c.order, k)
		}
		c.shapes[k] = in.Shape
		keyTypes[k] = in.DType
		dtypes[in.DType.String()]++
	}
	x := &detector{c: c, d: d, p: map[string]any{}}
	if prefix != "" {
		x.ev("key prefix %q on %d of %d tensors (stripped)", prefix, n, len(infos))
	}
	if d.Ignored > 0 {
		x.ev("%d tensors outside %q ignored (other containers)", d.Ignored, prefix)
	}
	for _, cp := range d.Components {
		x.ev("bundled beside the network: %s (%q, %d tensors, %d parameters)", cp.What, cp.Prefix, cp.Tensors, cp.Params)
	}
	x.unpack(keyTypes)
	if len(dtypes) > 0 {
		var parts []string
		for k, v := range dtypes {
			parts = append(parts, fmt.Sprintf("%s×%d", k, v))
		}
		sort.Strings(parts)
		x.ev("dtypes: %s", strings.Join(parts, ", "))
	}
	if !x.classify() {
		if len(c.order) == 0 {
			x.ev("no tensors")
		} else {
			x.ev("no signature key of a supported family found")
		}
		return d
	}
	d.Family = x.fam
	s, err := New(x.fam, x.p)
	if err != nil {
		x.ev("derived hyperparameters are inconsistent: %v", err)
		return d
	}
	d.Params = s
	x.compare(s)
	x.matchPreset()
	if d.Preset != "" {
		settleByPreset(d)
	}
	x.finish2026()
	return d
}

func inComponent(name string, cs []Component) bool {
	for _, c := range cs {
		if strings.HasPrefix(name, c.Prefix) {
			return true
		}
	}
	return false
}

// classify runs the signature cascade (reference §6.1, most specific first).
func (x *detector) classify() bool {
	c := x.c
	if x.classify2026() {
		return true
	}
	switch {
	case c.has("double_blocks.0.img_attn.q_proj.weight") || c.has("double_blocks.0.img_attn.qkv.weight"):
		x.mmdit()
	case c.has("spatial_blocks.0.attn.qkv.weight"):
		x.stdit3()
	case c.has("blocks.0.scale_shift_table_temporal") || c.has("t_block_temp.1.weight"):
		x.stdit2()
	case c.has("blocks.0.attn_temp.qkv.weight"):
		x.stdit()
	case c.has("t_block.1.weight") && c.has("blocks.0.cross_attn.kv_linear.weight"):
		x.pixart()
	case c.has("temp_embed") && c.has("blocks.0.adaLN_modulation.1.weight"):
		x.latte()
	case c.has("blocks.0.adaLN_modulation.1.weight"):
		x.dit()
	case c.has("transformer_blocks.0.norm1.emb.class_embedder.embedding_table.weight") || c.has("proj_out_2.weight"):
		x.ditDiffusers()
	case c.has("adaln_single.linear.weight") && c.has("pos_embed.proj.weight"):
		if c.has("temporal_transformer_blocks.0.attn1.to_q.weight") {
			x.ev("temporal_transformer_blocks.* present: diffusers/Latte-T2V layout (LatteTransformer3DModel), not supported")
			return false
		}
		x.pixartDiffusers()
	case c.has("video_embedder.proj.weight"):
		x.d.Version = "Open-Sora pre-1.0 prototype (open_sora/modeling/dit); no released weights, not supported"
		x.ev("video_embedder.proj.weight present: Open-Sora pre-1.0 prototype naming")
		return false
	default:
		return false
	}
	return x.fam != ""
}

// patchEmbed reads H, C and the patch from a Conv2d/Conv3d weight.
func (x *detector) patchEmbed(key string) (h, c int, patch []int) {
	s := x.c.shape(key)
	if len(s) < 4 {
		for _, k := range []string{"blocks.0.attn.proj.weight", "spatial_blocks.0.attn.proj.weight", "transformer_blocks.0.attn1.to_out.0.weight"} {
			if x.c.has(k) {
				h = x.c.dim(k, 0)
				break
			}
		}
		x.amb("%s missing or not a conv weight: hidden_size %d read from the attention projection; in_channels and patch_size are defaults", key, h)
		return h, 4, nil
	}
	h, c, patch = s[0], s[1], append([]int(nil), s[2:]...)
	x.shapeEv(key, fmt.Sprintf("hidden_size %d, in_channels %d, kernel %v", h, c, patch))
	return
}

func (x *detector) depth(prefix, name string) int {
	d, gaps := x.c.blocks(prefix)
	if len(gaps) > 0 {
		x.ev("%s.* indices 0..%d with gaps %v: depth taken as %d", prefix, d-1, gaps, d)
	} else {
		x.ev("%s.0 … %s.%d → %s %d", prefix, prefix, d-1, name, d)
	}
	return d
}

func (x *detector) mlpRatio(fc1 string, h int) {
	if !x.c.has(fc1) || h == 0 {
		return
	}
	m := x.c.dim(fc1, 0)
	r := float64(m) / float64(h)
	x.p["mlp_ratio"] = r
	if r != 4 {
		x.shapeEv(fc1, fmt.Sprintf("mlp_ratio %g", r))
	}
}

// defaultHeads picks the head count for a hidden size when shapes cannot
// tell: the published preset table, else upstream's default 16 when it
// divides H, else head dim 64/72.
func defaultHeads(h int) int {
	switch h {
	case 384:
		return 6
	case 768:
		return 12
	case 1024, 1152:
		return 16
	case 1872:
		return 26
	case 3072:
		return 24
	}
	if h%16 == 0 {
		return 16
	}
	for _, hd := range []int{64, 72, 128} {
		if h%hd == 0 {
			return h / hd
		}
	}
	for nh := 16; nh >= 1; nh-- {
		if h%nh == 0 {
			return nh
		}
	}
	return 1
}

func isqrt(n int) (int, bool) {
	r := int(math.Sqrt(float64(n)))
	for r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r, r*r == n
}

// sigma decides learn_sigma/pred_sigma from the final projection.
func (x *detector) sigma(key, name string, patchProd, c int) {
	out := x.c.dim(key, 0)
	if patchProd == 0 || c == 0 {
		return
	}
	cout := out / patchProd
	switch {
	case out%patchProd == 0 && cout == 2*c:
		x.p[name] = true
		x.shapeEv(key, fmt.Sprintf("%d = %d·%d out channels → %s true (2×in_channels)", out, patchProd, cout, name))
	case out%patchProd == 0 && cout == c:
		x.p[name] = false
		x.shapeEv(key, fmt.Sprintf("%d = %d·%d out channels → %s false", out, patchProd, cout, name))
	default:
		x.shapeEv(key, fmt.Sprintf("%d outputs do not match %d patch positions × (1 or 2)·%d channels", out, patchProd, c))
	}
}

func (x *detector) classes(key string) {
	rows := x.c.dim(key, 0)
	x.p["num_classes"] = max(rows-1, 1)
	x.shapeEv(key, fmt.Sprintf("num_classes %d (+1 null-class row)", rows-1))
	x.ambiguity(Ambiguity{Param: "num_classes", Value: max(rows-1, 1),
		Source: "upstream default: class_dropout_prob 0.1 (every released model) adds the null-class row that guidance uses",
		Reason: fmt.Sprintf("%d label rows are %d classes + the null row, or %d classes for a model trained with class_dropout_prob=0", rows, rows-1, rows)})
}

// ---------------------------------------------------------------- DiT / Latte

func (x *detector) dit() {
	c := x.c
	x.fam = "dit"
	x.ev("blocks.0.adaLN_modulation.1.weight and y_embedder.embedding_table.weight, no temporal keys → DiT (adaLN-Zero, class-conditional)")
	h, ch, patch := x.patchEmbed("x_embedder.proj.weight")
	p := x.ditPatch(patch)
	x.d.Version = "facebookresearch DiT"
	if len(patch) == 3 {
		x.d.Version = "facebookresearch DiT in Open-Sora 1.0 layout"
		x.ev("x_embedder.proj.weight is 5-D %s: a DiT patch embed unsqueezed to Conv3d (Open-Sora 1.0 reparameterisation); not STDiT: no attn_temp / cross_attn / t_block keys", tensor.FormatShape(c.shape("x_embedder.proj.weight")))
		x.amb("a Latte checkpoint reparameterised by Open-Sora 1.0 (temp_embed and pos_embed deleted, 5-D x_embedder) has the same keys; only the block semantics differ")
	}
	x.p["hidden_size"], x.p["in_channels"], x.p["patch_size"] = h, ch, p
	x.p["depth"] = x.depth("blocks", "depth")
	x.mlpRatio("blocks.0.mlp.fc1.weight", h)
	x.heads(h)
	x.sigma("final_layer.linear.weight", "learn_sigma", p*p, ch)
	if c.has("y_embedder.embedding_table.weight") {
		x.classes("y_embedder.embedding_table.weight")
	}
	x.inputFromPosEmbed(pick(c, "pos_embed", "pos_embed_spatial"), p, "input_size")
	if c.has("pos_embed_spatial") {
		x.d.Version = "Open-Sora 1.x DiT/Latte port (pos_embed_spatial / pos_embed_temporal buffers)"
		x.ev("pos_embed_spatial present: Open-Sora's own DiT or Latte port (opensora/models/{dit,latte}); buffers differ from facebookresearch DiT and the two ports share keys")
	}
}

func pick(c *ckpt, keys ...string) string {
	for _, k := range keys {
		if c.has(k) {
			return k
		}
	}
	return ""
}

// ditPatch turns a 4-D [p,p] or 5-D [1,p,p] kernel into the 2-D patch.
func (x *detector) ditPatch(k []int) int {
	switch {
	case len(k) == 2:
		if k[0] != k[1] {
			x.amb("patch kernel %v is not square; using %d", k, k[0])
		}
		return k[0]
	case len(k) == 3:
		if k[0] != 1 {
			x.amb("temporal patch %d ≠ 1 in a 2-D family", k[0])
		}
		return k[1]
	}
	return 2
}

func (x *detector) inputFromPosEmbed(key string, p int, field string) {
	if key == "" {
		x.ambiguity(Ambiguity{Param: field, Value: x.defaultOf(field), Guess: true,
			Reason: "no pos_embed saved, so the latent size is not determined by shapes"})
		return
	}
	n := x.c.dim(key, 1)
	g, ok := isqrt(n)
	if !ok {
		x.amb("%s: %s has %d positions, not a square grid", field, key, n)
		return
	}
	x.p[field] = g * p
	x.shapeEv(key, fmt.Sprintf("%d = %d² positions → %s %d (= %d·patch %d; %d px with an 8× VAE)", n, g, field, g*p, g, p, g*p*8))
}

func (x *detector) defaultOf(field string) any {
	if f := families[x.fam]; f != nil {
		if p := f.param(field); p != nil {
			return p.Default
		}
	}
	return nil
}

func (x *detector) latte() {
	c := x.c
	x.fam = "latte"
	x.d.Version = "Vchitect/Latte"
	h, ch, patch := x.patchEmbed("x_embedder.proj.weight")
	p := x.ditPatch(patch)
	x.p["hidden_size"], x.p["in_channels"], x.p["patch_size"] = h, ch, p
	x.ev("temp_embed + adaLN_modulation blocks → Latte")
	x.p["num_frames"] = c.dim("temp_embed", 1)
	x.shapeEv("temp_embed", fmt.Sprintf("num_frames %d", c.dim("temp_embed", 1)))
	d := x.depth("blocks", "depth (spatial and temporal blocks alternate)")
	x.p["depth"] = d
	x.mlpRatio("blocks.0.mlp.fc1.weight", h)
	x.heads(h)
	x.sigma("final_layer.linear.weight", "learn_sigma", p*p, ch)
	switch {
	case c.has("y_embedder.embedding_table.weight"):
		x.p["extras"] = 2
		x.ev("y_embedder.embedding_table.weight present → extras 2 (class-conditional)")
		x.classes("y_embedder.embedding_table.weight")
	case c.has("text_embedding_projection.1.weight"):
		x.p["extras"] = 78
		x.ev("text_embedding_projection.1.weight present → extras 78 (text)")
	default:
		x.p["extras"] = 1
		x.ev("no y_embedder / text_embedding_projection → extras 1 (unconditional)")
	}
	x.inputFromPosEmbed("pos_embed", p, "input_size")
}

func (x *detector) ditDiffusers() {
	c := x.c
	x.fam = "dit-diffusers"
	x.d.Version = "diffusers DiTTransformer2DModel (converted DiT)"
	x.ev("transformer_blocks.*.norm1.emb.class_embedder / proj_out_2 → diffusers DiT layout")
	h, p, _ := x.diffusersPatch("pos_embed.proj.weight")
	nh := defaultHeads(h)
	x.p["num_attention_heads"], x.p["attention_head_dim"] = nh, h/nh
	x.amb("num_attention_heads/attention_head_dim: only their product %d is visible; using %d × %d", h, nh, h/nh)
	if k := "transformer_blocks.0.norm1.emb.class_embedder.embedding_table.weight"; c.has(k) {
		x.p["num_embeds_ada_norm"] = c.dim(k, 0) - 1
		x.shapeEv(k, fmt.Sprintf("num_embeds_ada_norm %d (+1 null row)", c.dim(k, 0)-1))
	}
	if out := c.dim("proj_out_2.weight", 0); p > 0 && out%(p*p) == 0 {
		x.p["out_channels"] = out / (p * p)
		x.shapeEv("proj_out_2.weight", fmt.Sprintf("out_channels %d", out/(p*p)))
	}
	x.p["attention_bias"] = c.has("transformer_blocks.0.attn1.to_q.bias")
	x.amb("sample_size: pos_embed is not saved in the diffusers layout; using the default 32")
}

// diffusersPatch reads a diffusers model's Conv2d patch embedding (key)
// and its transformer_blocks: in_channels, patch_size and num_layers. It
// returns the inner width, the patch and the block count.
func (x *detector) diffusersPatch(key string) (h, p, layers int) {
	h, ch, patch := x.patchEmbed(key)
	p = x.ditPatch(patch)
	x.p["in_channels"], x.p["patch_size"] = ch, p
	layers = x.depth("transformer_blocks", "num_layers")
	x.p["num_layers"] = layers
	return h, p, layers
}

// ---------------------------------------------------------------- PixArt

func (x *detector) pixart() {
	c := x.c
	h, ch, patch := x.patchEmbed("x_embedder.proj.weight")
	p := x.ditPatch(patch)
	x.p["hidden_size"], x.p["in_channels"], x.p["patch_size"] = h, ch, p
	L := c.dim("y_embedder.y_embedding", 0)
	sigma := false
	switch {
	case c.has("csize_embedder.mlp.0.weight") && (c.has("blocks.0.attn.q_norm.weight") || L == 300):
		sigma = true
		x.ev("csize_embedder/ar_embedder with qk_norm or 300 caption tokens → PixArt-Σ PixArtMS with micro_condition=True (the Σ releases have none)")
		x.p["micro_condition"] = true
		x.p["qk_norm"] = c.has("blocks.0.attn.q_norm.weight")
	case c.has("csize_embedder.mlp.0.weight"):
		x.ev("csize_embedder/ar_embedder present → PixArt-α MS (micro-conditioning; the Σ releases never have it)")
		x.p["micro_condition"] = true
	case c.has("blocks.0.attn.q_norm.weight"):
		sigma = true
		x.ev("blocks.0.attn.q_norm.weight %s → PixArt-Σ with qk_norm", tensor.FormatShape(c.shape("blocks.0.attn.q_norm.weight")))
		x.p["qk_norm"] = true
	case L == 300:
		sigma = true
		x.ev("y_embedder.y_embedding has 300 rows → PixArt-Σ (α uses 120)")
	case L == 120:
		x.ev("y_embedder.y_embedding has 120 rows, no micro-conditioning → PixArt-α (its 256/512 releases)")
	default:
		// Every α release has 120 caption tokens or micro-conditioning;
		// a file with neither is not an α release, so Σ (whose PixArt and
		// PixArtMS without micro-conditions save exactly these keys).
		sigma = true
		x.ev("y_embedder.y_embedding has %d rows, no micro-conditioning, no qk_norm → PixArt-Σ-like (no α release has this; α and Σ share these keys)", L)
	}
	x.amb("PixArt-α and PixArt-Σ share key names; α/Σ decided by micro-conditioning, qk_norm and y_embedding length (120 α, else Σ); both compute the same sin-cos pos_embed")
	x.fam, x.d.Version = "pixart-alpha", "PixArt-α"
	if sigma {
		x.fam, x.d.Version = "pixart-sigma", "PixArt-Σ"
	}
	if len(patch) == 3 {
		x.d.Version = "Open-Sora 1.x PixArt port (5-D patch embed, pos_embed_temporal)"
		x.ev("x_embedder.proj.weight is 5-D and there is no attn_temp → Open-Sora's PixArt port, keys differ from PixArt's")
	}
	x.p["depth"] = x.depth("blocks", "depth")
	if sigma {
		x.kvCompress(x.p["depth"].(int))
	}
	x.mlpRatio("blocks.0.mlp.fc1.weight", h)
	x.heads(h)
	x.sigma("final_layer.linear.weight", "pred_sigma", p*p, ch)
	x.caption()
	if c.has("pos_embed") {
		x.inputFromPosEmbed("pos_embed", p, "input_size")
	} else {
		x.p["saved_pos_embed"] = false
		x.ev("no pos_embed buffer (as in the released PixArt-Σ-256; loaders recompute it)")
		x.inputFromPosEmbed("", p, "input_size")
	}
	scale := map[bool]string{false: "lewei_scale", true: "pe_interpolation"}[sigma]
	x.ambiguity(Ambiguity{Param: scale, Value: x.defaultOf(scale), Guess: true,
		Reason: "position-table scale is not determined by shapes (published " + x.d.Version + " configurations tie it to the image size)"})
}

// kvCompress finds PixArt-Σ's conv KV compression: blocks with
// attn.sr.weight [H, 1, s, s] (ave/uniform sampling leaves no keys).
func (x *detector) kvCompress(depth int) {
	var layers []any
	ratio := 0
	for i := 0; i < depth; i++ {
		k := fmt.Sprintf("blocks.%d.attn.sr.weight", i)
		if sh := x.c.shape(k); len(sh) == 4 {
			layers = append(layers, float64(i))
			ratio = sh[3]
		}
	}
	if len(layers) == 0 {
		return
	}
	x.p["kv_compress_config"] = map[string]any{"sampling": "conv", "scale_factor": float64(ratio), "kv_compress_layer": layers}
	x.ev("attn.sr.weight in %d blocks (kernel %d) → KV compression: sampling conv, scale_factor %d", len(layers), ratio, ratio)
}

func (x *detector) caption() {
	c := x.c
	if k := "y_embedder.y_proj.fc1.weight"; c.has(k) {
		x.p["caption_channels"] = c.dim(k, 1)
		x.shapeEv(k, fmt.Sprintf("caption_channels %d", c.dim(k, 1)))
	}
	if k := "y_embedder.y_embedding"; c.has(k) {
		x.p["model_max_length"] = c.dim(k, 0)
		x.shapeEv(k, fmt.Sprintf("model_max_length %d (null-caption buffer)", c.dim(k, 0)))
	}
}

func (x *detector) pixartDiffusers() {
	c := x.c
	x.fam = "pixart-diffusers"
	x.d.Version = "diffusers PixArtTransformer2DModel"
	x.ev("adaln_single.linear + pos_embed.proj → diffusers PixArt layout")
	h, p, _ := x.diffusersPatch("pos_embed.proj.weight")
	nh := defaultHeads(h)
	x.p["num_attention_heads"], x.p["attention_head_dim"] = nh, h/nh
	x.amb("num_attention_heads/attention_head_dim: only their product %d is visible; using %d × %d", h, nh, h/nh)
	if out := c.dim("proj_out.weight", 0); p > 0 && out%(p*p) == 0 {
		x.p["out_channels"] = out / (p * p)
	}
	if k := "caption_projection.linear_1.weight"; c.has(k) {
		x.p["caption_channels"] = c.dim(k, 1)
		x.shapeEv(k, fmt.Sprintf("caption_channels %d", c.dim(k, 1)))
	} else {
		x.p["caption_channels"] = nil
	}
	if k := "transformer_blocks.0.attn2.to_k.weight"; c.has(k) {
		x.p["cross_attention_dim"] = c.dim(k, 1)
	}
	x.p["attention_bias"] = c.has("transformer_blocks.0.attn1.to_q.bias")
	add := c.has("adaln_single.emb.resolution_embedder.linear_1.weight")
	x.p["use_additional_conditions"] = add
	x.ev("resolution/aspect-ratio embedders present: %v → use_additional_conditions %v", add, add)
	if add {
		x.p["sample_size"] = 128
	}
	x.amb("sample_size: pos_embed is not saved in the diffusers layout; using 128")
	if c.has("caption_projection.y_embedding") {
		x.ev("caption_projection.y_embedding present: written by the pre-f55873b7 diffusers α converter; newer diffusers does not expect it")
	}
}

// ---------------------------------------------------------------- Open-Sora

func (x *detector) stditCommon(fc1 string) (h, ch int, patch []int) {
	h, ch, patch = x.patchEmbed("x_embedder.proj.weight")
	switch len(patch) {
	case 2:
		x.amb("x_embedder.proj.weight is 4-D (2-D patch): a DiT/PixArt patch embed in an Open-Sora checkpoint; needs unsqueeze(2)")
		patch = []int{1, patch[0], patch[1]}
	case 3:
	default:
		patch = []int{1, 2, 2}
	}
	x.p["hidden_size"], x.p["in_channels"], x.p["patch_size"] = h, ch, patch
	x.mlpRatio(fc1, h)
	x.sigma("final_layer.linear.weight", "pred_sigma", prod(patch), ch)
	x.caption()
	return
}

func (x *detector) stdit() {
	c := x.c
	x.fam, x.d.Version = "stdit", "Open-Sora 1.0 STDiT"
	x.ev("blocks.0.attn_temp.qkv.weight present, no scale_shift_table_temporal / rope.freqs → STDiT (Open-Sora 1.0)")
	_, _, patch := x.stditCommon("blocks.0.mlp.fc1.weight")
	h := x.p["hidden_size"].(int)
	x.p["depth"] = x.depth("blocks", "depth")
	x.heads(h)
	in := []int{1, 32, 32}
	if c.has("pos_embed_temporal") {
		t := c.dim("pos_embed_temporal", 1)
		in[0] = t * patch[0]
		x.shapeEv("pos_embed_temporal", fmt.Sprintf("%d frames → input_size[0] %d", t, in[0]))
	} else {
		x.amb("input_size[0]: no pos_embed_temporal; using 1")
	}
	if c.has("pos_embed") {
		n := c.dim("pos_embed", 1)
		if g, ok := isqrt(n); ok {
			in[1], in[2] = g*patch[1], g*patch[2]
			x.shapeEv("pos_embed", fmt.Sprintf("%d = %d² positions → input_size[1:] %d×%d (square assumed)", n, g, in[1], in[2]))
			x.amb("input_size[1:]: a non-square latent with the same token count would also fit pos_embed")
		} else {
			x.amb("input_size[1:]: pos_embed has %d positions, not a square; using 32×32", n)
		}
	} else {
		x.amb("input_size[1:]: no pos_embed; using 32×32")
	}
	x.p["input_size"] = in
	x.amb("space_scale/time_scale: not determined by shapes (released 256 px uses space_scale 0.5, 512 px 1.0)")
}

func (x *detector) headDimFrom(h int) int {
	c := x.c
	for _, k := range []string{"blocks.0.attn.q_norm.weight", "spatial_blocks.0.attn.q_norm.weight", "temporal_blocks.0.attn.q_norm.weight"} {
		if c.has(k) {
			hd := c.dim(k, 0)
			x.shapeEv(k, fmt.Sprintf("head dim %d → num_heads %d", hd, h/max(hd, 1)))
			return hd
		}
	}
	return 0
}

func (x *detector) setHeads(h, hd int) {
	if hd > 0 && h%hd == 0 {
		x.p["num_heads"] = h / hd
		return
	}
	x.heads(h)
}

func (x *detector) stdit2() {
	c := x.c
	x.fam, x.d.Version = "stdit2", "Open-Sora 1.1 STDiT2"
	x.ev("scale_shift_table_temporal / t_block_temp present → STDiT2 (Open-Sora 1.1)")
	x.stditCommon("blocks.0.mlp.fc1.weight")
	h := x.p["hidden_size"].(int)
	x.p["depth"] = x.depth("blocks", "depth")
	hd := x.headDimFrom(h)
	x.p["qk_norm"] = hd > 0
	if hd == 0 && c.has("rope.freqs") {
		hd = 2 * c.dim("rope.freqs", 0)
		x.shapeEv("rope.freqs", fmt.Sprintf("head dim %d (RoPE over the full head)", hd))
	}
	x.setHeads(h, hd)
	x.amb("qk_norm_legacy: not determined by shapes; v1.1 weights expect true (RoPE before q/k norm)")
}

func (x *detector) stdit3() {
	c := x.c
	v4 := c.has("x_embedder_cond.proj.weight") || c.dim("x_embedder.proj.weight", 1) == 16
	x.fam, x.d.Version = "stdit3", "Open-Sora 1.2 STDiT3"
	if v4 {
		x.fam, x.d.Version = "stdit3-v4", "Open-Sora 1.3 STDiT3 (STDiT-v4)"
		x.ev("spatial_blocks + x_embedder_cond / 16 latent channels → STDiT3 v1.3 (STDiT-v4)")
	} else {
		x.ev("spatial_blocks.0.attn.qkv.weight present, 4 latent channels, no x_embedder_cond → STDiT3 (Open-Sora 1.2)")
	}
	x.stditCommon("spatial_blocks.0.mlp.fc1.weight")
	h := x.p["hidden_size"].(int)
	x.p["depth"] = x.depth("spatial_blocks", "depth")
	hd := x.headDimFrom(h)
	x.p["qk_norm"] = hd > 0
	r := c.dim("rope.freqs", 0)
	if v4 {
		x.p["skip_temporal"] = !c.has("temporal_blocks.0.attn.qkv.weight")
		if !c.has("temporal_blocks.0.attn.qkv.weight") {
			x.ev("no temporal_blocks.* → skip_temporal true")
		}
	} else if !c.has("temporal_blocks.0.attn.qkv.weight") {
		x.ev("no temporal_blocks.*: only v1.3's skip_temporal builds that; the v1.2 spec expects them")
	}
	if hd == 0 && r > 0 {
		hd = 2 * r
		x.amb("head dim: no q_norm; %d taken from rope.freqs [%d] assuming full-head RoPE", hd, r)
	}
	x.setHeads(h, hd)
	if c.has("rope.freqs") && hd > 0 {
		switch {
		case r == hd/2:
			x.shapeEv("rope.freqs", fmt.Sprintf("%d = head dim/2 → 1-D RoPE (no kernel_size)", r))
		case r == (hd/3)/2 && v4:
			x.p["kernel_size"] = []int{8, 8, -1}
			x.p["use_spatial_rope"] = true
			x.shapeEv("rope.freqs", fmt.Sprintf("%d = head dim/6 → windowed 3-D RoPE (kernel_size set)", r))
			x.amb("kernel_size: only its presence is visible (rope.freqs = hd/6); using the released [8, 8, -1] and use_spatial_rope true")
		default:
			x.shapeEv("rope.freqs", fmt.Sprintf("%d fits neither hd/2 nor hd/6 for head dim %d", r, hd))
		}
	}
}

// ---------------------------------------------------------------- MMDiT

func (x *detector) mmdit() {
	c := x.c
	x.fam = "mmdit"
	fused := c.has("double_blocks.0.img_attn.qkv.weight")
	x.p["fused_qkv"] = fused
	guidance, cond := c.has("guidance_in.in_layer.weight"), c.has("cond_in.weight")
	x.p["guidance_embed"], x.p["cond_embed"] = guidance, cond
	switch {
	case !fused:
		x.d.Version = "Open-Sora 2.0 MMDiT (split q/k/v)"
		x.ev("double_blocks.0.img_attn.q_proj.weight → Open-Sora 2.0 MMDiT, unfused")
	case guidance:
		x.d.Version = "Flux (BFL) layout, guidance-distilled (Flux-dev)"
		x.ev("double_blocks.0.img_attn.qkv.weight + guidance_in → Flux-dev layout")
	case cond:
		x.d.Version = "Open-Sora 2.0 MMDiT, fused (Flux layout + cond_in)"
		x.ev("double_blocks.0.img_attn.qkv.weight + cond_in → Open-Sora 2.0 fused layout")
	default:
		x.d.Version = "Flux (BFL) layout"
		x.ev("double_blocks.0.img_attn.qkv.weight, no guidance_in/cond_in → Flux layout (schnell-like)")
	}
	h, ch := c.dim("img_in.weight", 0), c.dim("img_in.weight", 1)
	x.p["hidden_size"], x.p["in_channels"] = h, ch
	x.shapeEv("img_in.weight", fmt.Sprintf("hidden_size %d, in_channels %d (packed 2×2 tokens)", h, ch))
	x.p["depth"] = x.depth("double_blocks", "depth")
	x.p["depth_single_blocks"] = x.depth("single_blocks", "depth_single_blocks")
	if k := "vector_in.in_layer.weight"; c.has(k) {
		x.p["vec_in_dim"] = c.dim(k, 1)
	}
	if k := "txt_in.weight"; c.has(k) {
		x.p["context_in_dim"] = c.dim(k, 1)
	}
	x.mlpRatio("double_blocks.0.img_mlp.0.weight", h)
	hd := c.dim("double_blocks.0.img_attn.norm.query_norm.scale", 0)
	if hd > 0 && h%hd == 0 {
		x.p["num_heads"] = h / hd
		x.shapeEv("double_blocks.0.img_attn.norm.query_norm.scale", fmt.Sprintf("head dim %d → num_heads %d", hd, h/hd))
		x.p["axes_dim"] = axesFor(hd)
		x.amb("axes_dim: only its sum (head dim %d) is visible; using %v", hd, x.p["axes_dim"])
	}
	qb := "double_blocks.0.img_attn.q_proj.bias"
	if fused {
		qb = "double_blocks.0.img_attn.qkv.bias"
	}
	x.p["qkv_bias"] = c.has(qb)
	if cond {
		extra := c.dim("cond_in.weight", 1) - ch
		if pp, ok := isqrt(extra); ok && pp > 0 {
			x.p["patch_size"] = pp
			x.shapeEv("cond_in.weight", fmt.Sprintf("in_channels %d + patch_size² %d", ch, extra))
		}
	}
	x.amb("use_liger_rope: not visible in keys; it changes the q/k head-dim pairing (Flux weights need the permuted 'fused-rope' conversion)")
}

// ---------------------------------------------------------------- compare

func (x *detector) compare(s *Spec) {
	es, err := s.Keys()
	if err != nil {
		return
	}
	d := x.d
	agree := 0
	want := map[string][]int{}
	for _, e := range es {
		want[e.Name] = e.Shape
		got, ok := x.c.shapes[e.Name]
		switch {
		case !ok:
			d.Missing = append(d.Missing, e.Name)
		case !tensor.EqualShape(got, e.Shape):
			d.ShapeMismatch = append(d.ShapeMismatch, fmt.Sprintf("%s: checkpoint %s, spec %s", e.Name, tensor.FormatShape(got), tensor.FormatShape(e.Shape)))
		default:
			agree++
		}
	}
	for _, k := range x.c.order {
		if _, ok := want[k]; !ok {
			d.Unexpected = append(d.Unexpected, k)
		}
	}
	union := len(es) + len(x.c.order) - agree
	if union > 0 {
		d.Confidence = float64(agree) / float64(union)
	}
}

func (x *detector) matchPreset() {
	d := x.d
	best, bestScore := "", 0.0
	for _, p := range presets {
		if p.Family != d.Family {
			continue
		}
		if v, ok := p.params[PrefixParam].(string); ok && v != "" {
			continue // a single-file preset: detection compares names without the prefix
		}
		ps, err := Preset(p.Name)
		if err != nil {
			continue
		}
		es := cachedKeys(p.Name, ps)
		agree := 0
		for _, e := range es {
			if g, ok := x.c.shapes[e.Name]; ok && tensor.EqualShape(g, e.Shape) {
				agree++
			}
		}
		score := float64(agree) / float64(len(es)+len(x.c.order)-agree)
		if score == 1 {
			d.Preset = p.Name
			// the preset supplies what shapes cannot show (heads, scales)
			ps.preset = p.Name
			d.Params = ps
			d.ClosestPreset = ""
			d.Confidence = 1
			d.Missing, d.Unexpected, d.ShapeMismatch = nil, nil, nil
			d.Evidence = append(d.Evidence, fmt.Sprintf("key list equals preset %s exactly", p.Name))
			d.Ambiguous = append(d.Ambiguous, fmt.Sprintf("values not visible in shapes are taken from preset %s", p.Name))
			return
		}
		if score > bestScore {
			best, bestScore = p.Name, score
		}
	}
	if bestScore >= 0.5 {
		d.ClosestPreset = best
		x.ev("closest preset %s (%.0f%% of entries agree)", best, 100*bestScore)
	}
}

// presetKeyCache holds each preset's key list (presets never change after
// init); detection compares a checkpoint with every preset of its family.
var presetKeyCache sync.Map

func cachedKeys(name string, s *Spec) []Entry {
	if v, ok := presetKeyCache.Load(name); ok {
		return v.([]Entry)
	}
	es, _ := s.Keys()
	presetKeyCache.Store(name, es)
	return es
}
