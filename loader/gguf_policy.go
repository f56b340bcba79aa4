package loader

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// The GGUF writer's type policy is ComfyUI-GGUF's
// (github.com/city96/ComfyUI-GGUF @ 795e451, read as reference):
// tools/convert.py writes an F16/BF16 GGUF (1-D tensors, tensors of at
// most 1024 elements and the architecture's keys_hiprec in F32; 5-D
// tensors set aside and added back in F32 by fix_5d_tensors.py), then its
// patched llama-quantize (tools/lcpp.patch) quantizes only 2-D tensors,
// skips each architecture's excluded names, and falls back to F16 where
// a row is not a whole number of blocks. ditkit does both in one pass,
// quantizing from the source values directly (not from the F16 step).

// ggufTemplate is one architecture of convert.py (ModelTemplate) and
// lcpp.patch (its image-model quantization rules).
type ggufTemplate struct {
	arch     string
	detect   [][]string // keys_detect: any group whose keys are all present
	banned   []string   // keys_banned: the diffusers layout, refused
	hiprec   []string   // keys_hiprec: substrings kept in F32
	ignore   []string   // keys_ignore: substrings left out
	shapeFix bool       // sd1/sdxl: reshape to rows of 256 with comfy.gguf.orig_shape
	noQuant  []string   // lcpp.patch: substrings never quantized
	noQuantN []string   // lcpp.patch: exact names never quantized
}

// ggufTemplates is convert.py's arch_list, in its detection order.
var ggufTemplates = []ggufTemplate{
	{arch: "flux", detect: [][]string{{"transformer_blocks.0.attn.norm_added_k.weight"}, {"double_blocks.0.img_attn.proj.weight"}},
		banned:  []string{"transformer_blocks.0.attn.norm_added_k.weight"},
		noQuant: []string{"txt_in.", "img_in.", "time_in.", "vector_in.", "guidance_in.", "final_layer."}},
	{arch: "sd3", detect: [][]string{{"transformer_blocks.0.attn.add_q_proj.weight"}, {"joint_blocks.0.x_block.attn.qkv.weight"}},
		banned:   []string{"transformer_blocks.0.attn.add_q_proj.weight"},
		noQuant:  []string{"final_layer.", "time_text_embed.", "context_embedder.", "t_embedder.", "y_embedder.", "x_embedder."},
		noQuantN: []string{"proj_out.weight", "pos_embed"}},
	{arch: "aura", detect: [][]string{{"double_layers.3.modX.1.weight"}, {"joint_transformer_blocks.3.ff_context.out_projection.weight"}},
		banned:   []string{"joint_transformer_blocks.3.ff_context.out_projection.weight"},
		noQuant:  []string{"t_embedder.", "init_x_linear."},
		noQuantN: []string{"modF.1.weight", "cond_seq_linear.weight", "final_linear.weight", "positional_encoding", "register_tokens"}},
	{arch: "hidream", detect: [][]string{{"caption_projection.0.linear.weight", "double_stream_blocks.0.block.ff_i.shared_experts.w3.weight"}},
		hiprec:  []string{".ff_i.gate.weight", "img_emb.emb_pos"},
		noQuant: []string{"p_embedder.", "t_embedder.", "x_embedder.", "final_layer.", ".ff_i.gate.weight", "caption_projection."}},
	{arch: "cosmos", detect: [][]string{{"blocks.0.mlp.layer1.weight", "blocks.0.adaln_modulation_cross_attn.1.weight"}},
		hiprec: []string{"pos_embedder"}, ignore: []string{"_extra_state", "accum_"},
		noQuant: []string{"p_embedder.", "t_embedder.", "t_embedding_norm.", "x_embedder.", "pos_embedder.", "final_layer."}},
	{arch: "ltxv", detect: [][]string{{"adaln_single.emb.timestep_embedder.linear_2.weight", "transformer_blocks.27.scale_shift_table", "caption_projection.linear_2.weight"}},
		hiprec:  []string{"scale_shift_table"},
		noQuant: []string{"adaln_single.", "caption_projection.", "patchify_proj.", "proj_out.", "scale_shift_table"}},
	{arch: "hyvid", detect: [][]string{{"double_blocks.0.img_attn_proj.weight", "txt_in.individual_token_refiner.blocks.1.self_attn_qkv.weight"}},
		noQuant: []string{"txt_in.", "img_in.", "time_in.", "vector_in.", "guidance_in.", "final_layer."}},
	{arch: "wan", detect: [][]string{{"blocks.0.self_attn.norm_q.weight", "text_embedding.2.weight", "head.modulation"}},
		hiprec:  []string{".modulation"},
		noQuant: []string{"modulation.", "patch_embedding.", "text_embedding.", "time_projection.", "time_embedding.", "img_emb.", "head."}},
	{arch: "sdxl", shapeFix: true, detect: [][]string{
		{"down_blocks.0.downsamplers.0.conv.weight", "add_embedding.linear_1.weight"},
		{"input_blocks.3.0.op.weight", "input_blocks.6.0.op.weight", "output_blocks.2.2.conv.weight", "output_blocks.5.2.conv.weight"},
		{"label_emb.0.0.weight"}},
		noQuant:  []string{"class_embedding.", "time_embedding.", "add_embedding.", "time_embed.", "label_emb.", "conv_in.", "conv_out."},
		noQuantN: []string{"input_blocks.0.0.weight", "out.2.weight"}},
	{arch: "sd1", shapeFix: true, detect: [][]string{
		{"down_blocks.0.downsamplers.0.conv.weight"},
		{"input_blocks.3.0.op.weight", "input_blocks.6.0.op.weight", "input_blocks.9.0.op.weight", "output_blocks.2.1.conv.weight", "output_blocks.5.2.conv.weight", "output_blocks.8.2.conv.weight"}},
		noQuant:  []string{"class_embedding.", "time_embedding.", "add_embedding.", "time_embed.", "label_emb.", "conv_in.", "conv_out."},
		noQuantN: []string{"input_blocks.0.0.weight", "out.2.weight"}},
	{arch: "lumina2", detect: [][]string{{"cap_embedder.1.weight", "context_refiner.0.attention.qkv.weight"}},
		noQuant: []string{"t_embedder.", "x_embedder.", "final_layer.", "cap_embedder.", "context_refiner.", "noise_refiner."}},
}

// GGUFArchOfFamily maps ditkit's detected family (core/spec) to the
// general.architecture a GGUF writer records: ComfyUI-GGUF's names for
// the families it loads, ditkit's own for the others (no other tool
// writes those). Diffusers layouts have none: ComfyUI-GGUF refuses them
// (convert --layout original first). Add a family here when core/spec
// learns it.
var GGUFArchOfFamily = map[string]string{
	"flux":         "flux",
	"sd3":          "sd3",
	"wan":          "wan",
	"hunyuanvideo": "hyvid",
	"ltx-video":    "ltxv",
	"mmdit":        "flux", // Open-Sora 2.0 MMDiT: the Flux (BFL) key layout
	"dit":          "dit",
	"latte":        "latte",
	"pixart-alpha": "pixart",
	"pixart-sigma": "pixart",
	"stdit":        "opensora",
	"stdit2":       "opensora",
	"stdit3":       "opensora",
	"stdit3-v4":    "opensora",
	"cogvideox":    "cogvideox",
	"sana":         "sana",
}

// GGUFArchFromKeys is convert.py's detect_arch over tensor names (prefix
// already stripped): the first template with a keys_detect group fully
// present. A match on a banned key (the diffusers layout) is an error,
// as convert.py asserts.
func GGUFArchFromKeys(names []string) (arch string, evidence string, err error) {
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	for _, t := range ggufTemplates {
		for _, group := range t.detect {
			all := true
			for _, k := range group {
				all = all && have[k]
			}
			if !all {
				continue
			}
			for _, b := range t.banned {
				if have[b] {
					return "", "", fmt.Errorf("%s holds %s: the diffusers layout of %s, which ComfyUI-GGUF does not load (convert.py refuses it); convert to the original layout first", strings.Join(group, ", "), b, t.arch)
				}
			}
			return t.arch, fmt.Sprintf("ComfyUI-GGUF convert.py's keys_detect for %s: %s", t.arch, strings.Join(group, ", ")), nil
		}
	}
	return "", "", nil
}

func ggufTemplateOf(arch string) *ggufTemplate {
	for i := range ggufTemplates {
		if ggufTemplates[i].arch == arch {
			return &ggufTemplates[i]
		}
	}
	return nil
}

// GGUFFileType is llama.cpp's general.file_type (LlamaFileType) for a
// file whose main type is t: MOSTLY_<t>, the _M variant for K-quants as
// gguf-py's files record them; ok is false for types without one.
func GGUFFileType(t quant.Type) (uint32, bool) {
	ft, ok := map[quant.Type]uint32{quant.F32: 0, quant.F16: 1, quant.Q4_0: 2, quant.Q4_1: 3, quant.Q8_0: 7, quant.Q5_0: 8, quant.Q5_1: 9,
		quant.Q2_K: 10, quant.Q3_K: 12, quant.Q4_K: 15, quant.Q5_K: 17, quant.Q6_K: 18, quant.BF16: 32}[t]
	return ft, ok
}

// GGUFQuantTypes are the main types a GGUF conversion writes.
var GGUFQuantTypes = []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1,
	quant.Q2_K, quant.Q3_K, quant.Q4_K, quant.Q5_K, quant.Q6_K}

// DefaultQuantThreshold is ComfyUI-GGUF's QUANTIZATION_THRESHOLD.
const DefaultQuantThreshold = 1024

// GGUFPolicy is what a GGUF conversion was asked for.
type GGUFPolicy struct {
	Main quant.Type // F32, F16, BF16 or a quantized type (GGUFQuantTypes)
	// Threshold: 1-D tensors and tensors of at most this many elements
	// stay unquantized. 0 quantizes every tensor whose rows fit the block
	// size (the architecture's keys_hiprec and 5-D tensors excepted).
	Threshold int64
	Arch      string // general.architecture; its ComfyUI-GGUF template applies
}

// GGUFChoice is the policy's decision for one tensor.
type GGUFChoice struct {
	Name  string
	Type  quant.Type
	Shape []int // as stored (ComfyUI-GGUF's shape fix may make it [n/256, 256])
	// OrigShape, when set, is written as comfy.gguf.orig_shape.<name>
	// (ARRAY of INT32): the torch shape the reader restores.
	OrigShape []int
	Reason    string
	Drop      bool // the template's keys_ignore: left out of the file
}

// PlanGGUF chooses each tensor's stored type (and shape) under the
// policy. infos are the tensors as they will be streamed (dtype after
// any cast or fp8 dequantization).
func PlanGGUF(infos []tensor.Info, p GGUFPolicy) ([]GGUFChoice, error) {
	if !slicesContains(GGUFQuantTypes, p.Main) {
		return nil, fmt.Errorf("--quant %v: ditkit writes %s", p.Main, typeNames(GGUFQuantTypes))
	}
	if p.Threshold < 0 {
		return nil, fmt.Errorf("--quant-threshold %d: want 0 or more elements", p.Threshold)
	}
	tpl := ggufTemplateOf(p.Arch)
	all := p.Threshold == 0
	out := make([]GGUFChoice, len(infos))
	for i, in := range infos {
		c := GGUFChoice{Name: in.Name, Shape: append([]int(nil), in.Shape...)}
		n, err := tensor.Numel(in.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", in.Name, err)
		}
		if tpl != nil && containsAny(in.Name, tpl.ignore) {
			c.Drop, c.Reason = true, "left out: "+p.Arch+"'s keys_ignore (convert.py filters it)"
			out[i] = c
			continue
		}
		if !in.DType.IsFloat() {
			it, ok := map[tensor.DType]quant.Type{tensor.I8: quant.I8, tensor.I16: quant.I16, tensor.I32: quant.I32, tensor.I64: quant.I64}[in.DType]
			if !ok {
				return nil, fmt.Errorf("tensor %q is %v: GGUF has no such type and a quantizer takes floats only (leave it out, or cast it first)", in.Name, in.DType)
			}
			c.Type, c.Reason = it, "integer tensor: stored as is, never quantized"
			out[i] = c
			continue
		}
		if len(in.Shape) > maxGGUFDims {
			return nil, fmt.Errorf("tensor %q has %d dims: GGUF holds 4 (5 under ComfyUI-GGUF's fix_5d convention)", in.Name, len(in.Shape))
		}
		if in.DType.Size() == 0 || !tensor.CanCast(in.DType, tensor.F32) {
			return nil, fmt.Errorf("tensor %q: %v cannot be converted to a GGUF type", in.Name, in.DType)
		}
		// convert.py keeps fp16 (and fp8, which it widens to fp16) sources in
		// F16 where it keeps f32/bf16 ones in F32.
		kept := quant.F32
		if in.DType == tensor.F16 || in.DType == tensor.F8_E4M3 || in.DType == tensor.F8_E5M2 {
			kept = quant.F16
		}
		base := quant.F16 // convert.py's first-stage type
		if in.DType == tensor.BF16 {
			base = quant.BF16
		}
		nd := len(in.Shape)
		switch {
		case p.Main == quant.F32:
			c.Type, c.Reason = quant.F32, "F32"
		case nd == 5:
			c.Type, c.Reason = quant.F32, "5-D: F32 with n_dims = 5, as ComfyUI-GGUF's fix_5d_tensors.py adds it back"
		case tpl != nil && containsAny(in.Name, tpl.hiprec):
			c.Type, c.Reason = kept, p.Arch+"'s keys_hiprec: kept at full precision (ComfyUI uses it as a raw parameter)"
		case !all && nd <= 1:
			c.Type, c.Reason = kept, "1-D: kept unquantized"
		case !all && n <= p.Threshold:
			c.Type, c.Reason = kept, fmt.Sprintf("%d elements ≤ --quant-threshold %d: kept unquantized", n, p.Threshold)
		default:
			if tpl != nil && tpl.shapeFix && nd > 1 && n >= 512 && n%256 == 0 && in.Shape[nd-1]%256 != 0 {
				c.OrigShape, c.Shape = c.Shape, []int{int(n / 256), 256}
			}
			c.Type, c.Reason = quantChoice(c, n, p, tpl, base, all)
		}
		if c.OrigShape != nil {
			c.Reason += fmt.Sprintf("; stored as %s with comfy.gguf.orig_shape (%s's shape fix)", tensor.FormatShape(c.Shape), p.Arch)
		}
		out[i] = c
	}
	return out, nil
}

func quantChoice(c GGUFChoice, n int64, p GGUFPolicy, tpl *ggufTemplate, base quant.Type, all bool) (quant.Type, string) {
	if !p.Main.Quantized() {
		return p.Main, p.Main.String()
	}
	if !all && tpl != nil && (containsAny(c.Name, tpl.noQuant) || slicesContains(tpl.noQuantN, c.Name)) {
		return base, fmt.Sprintf("%v: ComfyUI-GGUF's llama-quantize patch keeps %s's %s unquantized", base, p.Arch, c.Name)
	}
	if !all && ggmlNDims(c.Shape) != 2 {
		return base, fmt.Sprintf("%v: only 2-D tensors are quantized (ComfyUI-GGUF's llama-quantize patch)", base)
	}
	row := 1
	if len(c.Shape) > 0 {
		row = c.Shape[len(c.Shape)-1]
	}
	if bs := p.Main.BlockSize(); row%bs != 0 {
		return quant.F16, fmt.Sprintf("F16: rows of %d are not a whole number of %d-element %v blocks (ComfyUI-GGUF's fallback)", row, bs, p.Main)
	}
	return p.Main, p.Main.String()
}

// ggmlNDims is ggml_n_dims of a torch shape: trailing ggml dims of size 1
// (leading torch ones) do not count; at least 1.
func ggmlNDims(shape []int) int {
	i := 0
	for i < len(shape)-1 && shape[i] == 1 {
		i++
	}
	return max(1, len(shape)-i)
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

func slicesContains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func typeNames(ts []quant.Type) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

// GGUFTypeCounts counts the planned tensors by stored type.
func GGUFTypeCounts(cs []GGUFChoice) map[string]int {
	m := map[string]int{}
	for _, c := range cs {
		if !c.Drop {
			m[c.Type.String()]++
		}
	}
	return m
}

// GGUFStripPrefix is convert.py's strip_prefix: "model.diffusion_model."
// or "model." when any key has it (keys without it are left out), else
// "net." when every key has it.
func GGUFStripPrefix(names []string) (prefix string, dropped []string) {
	for _, p := range []string{"model.diffusion_model.", "model."} {
		for _, n := range names {
			if strings.HasPrefix(n, p) {
				prefix = p
				break
			}
		}
		if prefix != "" {
			break
		}
	}
	if prefix == "" {
		all := len(names) > 0
		for _, n := range names {
			all = all && strings.HasPrefix(n, "net.")
		}
		if all {
			prefix = "net."
		}
	}
	if prefix != "" {
		for _, n := range names {
			if !strings.HasPrefix(n, prefix) {
				dropped = append(dropped, n)
			}
		}
	}
	sort.Strings(dropped)
	return prefix, dropped
}
