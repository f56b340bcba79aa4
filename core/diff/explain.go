package diff

import (
	"fmt"
	"strings"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// famName is a family's name in words (spec.ArchName), with the layout
// when it is diffusers' ("DiT (diffusers)").
func famName(id string) string {
	if id == "" {
		return "the checkpoint's architecture"
	}
	n := spec.ArchName(id)
	if spec.FamilyLayout(id) == spec.LayoutDiffusers {
		n += " (diffusers)"
	}
	return n
}

func asShape(v any) []int {
	s, _ := v.([]int)
	return s
}

// explain says in plain words why a finding happens.
func explain(f *Finding, t *Target, det *spec.Detection, p *planner) string {
	src := "the checkpoint's architecture"
	if det != nil && det.Family != "" {
		src = famName(det.Family)
		if det.Version != "" {
			src = det.Version
		}
	}
	dst := t.Label
	if t.Spec != nil && t.Source != "error-text" {
		dst = famName(t.Spec.Family) + " (" + t.Label + ")"
	}
	key := f.Key
	base := key
	if p.prefix != "" {
		base = strings.TrimPrefix(key, p.prefix)
	}
	switch f.Kind {
	case ShapeMismatch:
		want, got := asShape(f.Expected), asShape(f.Got)
		switch {
		case p.packed(key, got, want):
			return fmt.Sprintf("stored packed 4-bit (%s): a uint8 tensor %s holding two 4-bit values per byte — half the %d elements of the target's %s — plus absmax/quant_map companions; a normal loader cannot read it: dequantize the file or load it with bitsandbytes",
				p.det.PackedFormat, tensor.FormatShape(got), numel(want), tensor.FormatShape(want))
		case strings.HasSuffix(key, "x_embedder.proj.weight") && len(got) == 4 && len(want) == 5 && sameModuloOnes(got, want):
			return fmt.Sprintf("saved by DiT's 2-D patch embedding (nn.Conv2d, weight [out, in, kh, kw] = %s); Open-Sora's PatchEmbed3D is an nn.Conv3d with a temporal kernel of 1 (weight [out, in, 1, kh, kw] = %s): the same numbers with one more axis, so unsqueezing axis 2 loads them unchanged",
				tensor.FormatShape(got), tensor.FormatShape(want))
		case strings.HasSuffix(key, "x_embedder.proj.weight") && len(got) == 5 && len(want) == 4 && sameModuloOnes(got, want):
			return fmt.Sprintf("saved in Open-Sora's layout: its PatchEmbed3D is an nn.Conv3d with a temporal kernel of 1 (weight %s), while DiT's patch embedding is an nn.Conv2d (weight %s); Open-Sora's converter unsqueezed the DiT weight — squeezing axis 2 restores it exactly",
				tensor.FormatShape(got), tensor.FormatShape(want))
		case convVsLinear(got, want):
			return fmt.Sprintf("the same weights in another module: a convolution patch embedding (weight [out, in, kernel…]) and a Linear one over flattened patches ([out, in·kernel]) hold the same %d numbers (checkpoint %s, target %s); they load with a reshape only if the Linear flattens each patch channel-first, as the convolution's weight is laid out — check the implementation before reshaping, ditkit does not guess it",
				numel(got), tensor.FormatShape(got), tensor.FormatShape(want))
		case sameModuloOnes(got, want):
			return fmt.Sprintf("the same values with a different number of size-1 axes (%s vs %s): a reshape loads them unchanged", tensor.FormatShape(got), tensor.FormatShape(want))
		case isPositionTable(key) && p.regenerated[key] != "":
			return fmt.Sprintf("a fixed sin-cos position table sized for another input (checkpoint %s, target %s): it is a function of the grid size, so it is regenerated for the target rather than copied",
				tensor.FormatShape(got), tensor.FormatShape(want))
		case isPositionTable(key):
			return fmt.Sprintf("a position table for another input size or variant (checkpoint %s, target %s): the target was built for a different resolution or release; ditkit has no formula to rebuild this one, so pick the target that matches the checkpoint",
				tensor.FormatShape(got), tensor.FormatShape(want))
		case isTokenTable(key) && len(got) == 2 && len(want) == 2 && got[1] == want[1]:
			return fmt.Sprintf("the null-caption table has one row per caption token: the checkpoint was trained for %d tokens, the target uses model_max_length %d; Open-Sora resizes it by repeating the last row (or truncating)", got[0], want[0])
		case strings.Contains(key, "embedding_table") && len(got) == 2 && len(want) == 2 && got[1] == want[1]:
			return fmt.Sprintf("the class-embedding table has %d rows (classes + the null class used by classifier-free guidance); the target has %d: a different num_classes — new classes must be trained", got[0], want[0])
		case len(got) == len(want) && len(got) > 0 && got[len(got)-1] != want[len(want)-1] && len(got) >= 2 && got[0] == want[0]:
			return fmt.Sprintf("the layer's input width differs (checkpoint %s, target %s): a different hidden size, channel count or caption width — learned weights cannot be resized into another architecture", tensor.FormatShape(got), tensor.FormatShape(want))
		}
		return fmt.Sprintf("the checkpoint's tensor has shape %s, the target's %s: the architectures differ in a hyperparameter (hidden size, channels, patch size, heads×head dim, learn_sigma...) — no conversion can change learned sizes",
			tensor.FormatShape(got), tensor.FormatShape(want))
	case Missing:
		if p.prefix != "" && p.has2("strip-prefix:"+p.prefix) && p.linked(key, "strip-prefix:"+p.prefix) {
			return fmt.Sprintf("present in the checkpoint under the %q prefix that %s adds to every key; stripping it restores the names", p.prefix, prefixOrigin(p.prefix))
		}
		if formula, ok := p.regenerated[key]; ok {
			if key == "pos_embed" && t.Spec != nil && t.Spec.Family == "dit" {
				return "DiT keeps its fixed 2-D sin-cos table as a saved nn.Parameter; the checkpoint has none (Open-Sora's DiT conversion deletes pos_embed because its own models build their tables). The table is a pure function of the hidden size and grid, so it is regenerated exactly: " + formula
			}
			return "a fixed table the target saves but the checkpoint lacks; it is a pure function of the configuration, so it is regenerated: " + formula
		}
		if len(p.byKey[key]) > 0 {
			return "the checkpoint stores this tensor under another name or split/fused differently; the plan rebuilds it"
		}
		if n, ok := blockIndex(key); ok && det != nil && det.Params != nil {
			if d := det.Params.Int("depth"); d > 0 && n >= d {
				td := 0
				if t.Spec != nil {
					td = t.Spec.Int("depth")
				}
				return fmt.Sprintf("the target is deeper (%d blocks) than the checkpoint (%d blocks): the extra blocks must be trained — or pick a target with the checkpoint's depth", td, d)
			}
		}
		if e, ok := t.entry(key); ok && e.Fixed || isPositionTable(key) && f.Expected == nil {
			return "a fixed sin-cos position table; its size depends on the input size, which neither the checkpoint nor the message shows — give the architecture (--arch or --spec) to regenerate it"
		}
		return fmt.Sprintf("%s has this layer but %s does not: no conversion can supply trained weights — %s", dst, src, trainingAdvice(t, det))
	case Unexpected:
		if c, ok := p.component(key); ok {
			return fmt.Sprintf("part of the %s bundled in this single file (%q, %s), not of the network: the target does not load it, so it is left out here — ditkit convert --split-components writes it to a file of its own", c.What, c.Prefix, Plural(c.Tensors, "tensor"))
		}
		if p.prefix != "" && strings.HasPrefix(key, p.prefix) && p.targetHas(base) {
			return fmt.Sprintf("the %q prefix that %s adds to every key; the target expects the names without it", p.prefix, prefixOrigin(p.prefix))
		}
		if len(p.byKey[key]) > 0 && !p.onlyDrop(key) {
			return "stored under another name or split/fused differently from the target; the plan converts it"
		}
		if strings.HasPrefix(key, "blocks.") && strings.Contains(key, "adaLN_modulation") && t.Spec != nil && strings.HasPrefix(t.Spec.Family, "stdit") {
			return "DiT's per-block adaLN-Zero MLP; STDiT replaces it with a learned scale_shift_table modulated by the shared t_block, so these weights have no place in the target and are dropped"
		}
		if strings.Contains(key, "y_embedder.embedding_table") && t.Spec != nil && t.Spec.Family != "dit" && t.Spec.Family != "latte" {
			return "the class-label table of a class-conditional model; the target is conditioned on text captions instead, so it is dropped"
		}
		return fmt.Sprintf("%s has this tensor but %s does not: strict loading refuses it, so it is dropped (pass --keep-unexpected to keep it)", src, dst)
	case DTypeMismatch:
		return fmt.Sprintf("saved as %v; the target expects %v: cast with round-to-nearest-even like torch's .to(%s)", f.Got, f.Expected, dtypeTorch(f.Expected))
	case ValueMismatch:
		return fmt.Sprintf("same name and shape, but the values are %s's table; %s computes its own (%v) — Open-Sora deletes the DiT pos_embed when converting for exactly this reason, so it is regenerated", famName(det.Family), famName(t.Spec.Family), f.Expected)
	}
	return ""
}

func (p *planner) has2(id string) bool {
	for _, s := range p.steps {
		if s.ID == id {
			return true
		}
	}
	return false
}

func (p *planner) linked(key, id string) bool {
	for _, x := range p.byKey[key] {
		if x == id {
			return true
		}
	}
	return false
}

func (p *planner) onlyDrop(key string) bool {
	for _, x := range p.byKey[key] {
		if !strings.HasPrefix(x, "drop:") {
			return false
		}
	}
	return true
}

func prefixOrigin(pr string) string {
	switch pr {
	case "module.", "module.module.":
		return "torch.nn.parallel.DistributedDataParallel (or DataParallel)"
	case "_orig_mod.":
		return "torch.compile"
	case "model.diffusion_model.", "diffusion_model.":
		return "an LDM/ComfyUI-style wrapper"
	case "model.":
		return "a training wrapper (Lightning, EMA helpers)"
	case "base_model.":
		return "a PEFT/LoRA wrapper"
	}
	return "a wrapper module"
}

func trainingAdvice(t *Target, det *spec.Detection) string {
	if t.Spec != nil && strings.HasPrefix(t.Spec.Family, "stdit") && det != nil && (det.Family == "dit" || det.Family == "pixart-alpha" || det.Family == "pixart-sigma") {
		return "Open-Sora initialises these layers (temporal attention, cross-attention, caption embedder) and trains them, loading the image model with strict=False"
	}
	return "train it, or load with strict=False if the model initialises it"
}

func dtypeTorch(v any) string {
	s, _ := v.(string)
	if dt, err := tensor.ParseDType(s); err == nil {
		return "torch." + dt.TorchName()
	}
	return s
}

// blockIndex reads N from "blocks.N." (or "spatial_blocks.N." etc.).
func blockIndex(key string) (int, bool) {
	i := strings.Index(key, "blocks.")
	if i < 0 {
		return 0, false
	}
	rest := key[i+len("blocks."):]
	n, j := 0, 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		n = n*10 + int(rest[j]-'0')
		j++
	}
	return n, j > 0 && j < len(rest) && rest[j] == '.'
}

// isPositionTable reports whether key names a position table (its last
// path component), not a module beside one (pos_embed.proj.weight).
func isPositionTable(key string) bool {
	last := key[strings.LastIndexByte(key, '.')+1:]
	switch last {
	case "pos_embed", "pos_embed_temporal", "pos_embed_spatial", "temp_embed", "emb_pos":
		return true
	}
	return false
}

// packed reports whether the checkpoint's key is a packed 4-bit weight
// standing for the target's shape.
func (p *planner) packed(key string, got, want []int) bool {
	if p.det == nil || len(p.det.Packed) == 0 {
		return false
	}
	in, ok := p.src[key]
	return ok && in.DType == tensor.U8 && 2*numel(got) == numel(want)
}

func numel(s []int) int64 {
	n, _ := tensor.Numel(s)
	return n
}

// component finds the bundled network a checkpoint key belongs to.
func (p *planner) component(key string) (spec.Component, bool) {
	if p.det == nil {
		return spec.Component{}, false
	}
	for _, c := range p.det.Components {
		if strings.HasPrefix(key, c.Prefix) {
			return c, true
		}
	}
	return spec.Component{}, false
}

// convVsLinear reports a conv weight [out, in, k…] against a Linear one
// [out, in·∏k] (or the reverse): the same numbers, another module.
func convVsLinear(a, b []int) bool {
	if len(a) < len(b) {
		a, b = b, a
	}
	if len(b) != 2 || len(a) < 3 || a[0] != b[0] || sameModuloOnes(a, b) {
		return false
	}
	return numel(a) == numel(b)
}
