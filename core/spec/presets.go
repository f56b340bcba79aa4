package spec

import (
	"fmt"
	"sort"
	"strings"
)

// PresetInfo names a published configuration.
type PresetInfo struct {
	Name        string
	Family      string
	Description string
	// Variant and Layout name the release variant and key layout of the
	// 2026 families' presets ("flux1-fill-dev", "diffusers").
	Variant string `json:",omitempty"`
	Layout  string `json:",omitempty"`
}

type preset struct {
	PresetInfo
	params map[string]any
}

var presets []preset

func addPreset(name, fam, desc string, params map[string]any) {
	presets = append(presets, preset{PresetInfo{Name: name, Family: fam, Description: desc}, params})
}

func init() {
	type size struct {
		tag      string
		h, d, nh int
	}
	for _, z := range []size{{"XL", 1152, 28, 16}, {"L", 1024, 24, 16}, {"B", 768, 12, 12}, {"S", 384, 12, 6}} {
		for _, p := range []int{2, 4, 8} {
			desc := fmt.Sprintf("DiT-%s/%d at 256 px (input_size 32), models.py DiT_models; facebookresearch flat state dict", z.tag, p)
			if z.tag == "XL" && p == 2 {
				desc += " (released: DiT-XL-2-256x256.pt)"
			}
			addPreset(fmt.Sprintf("DiT-%s_%d_256", z.tag, p), "dit", desc, map[string]any{
				"input_size": 32, "patch_size": p, "hidden_size": z.h, "depth": z.d, "num_heads": z.nh,
			})
		}
	}
	addPreset("DiT-XL_2_512", "dit", "DiT-XL/2 at 512 px (input_size 64; released: DiT-XL-2-512x512.pt)", map[string]any{
		"input_size": 64, "patch_size": 2, "hidden_size": 1152, "depth": 28, "num_heads": 16,
	})
	addPreset("DiT-XL_2_256_diffusers", "dit-diffusers", "facebook/DiT-XL-2-256 transformer (diffusers layout)", map[string]any{
		"out_channels": 8, "sample_size": 32,
	})
	addPreset("Latte-XL_2_ucf101", "latte", "Latte-XL/2 UCF-101 (class-conditional, extras 2, 101 classes, 16 frames; HF maxin-cn/Latte ucf101.pt)", map[string]any{
		"extras": 2, "num_classes": 101, "num_frames": 16,
	})
	addPreset("PixArt-XL_2-256_alpha", "pixart-alpha", "PixArt-XL-2-256x256.pth (α; lewei_scale ambiguous 0.5/1, see reference §2.5)", map[string]any{
		"input_size": 32, "lewei_scale": 1.0,
	})
	addPreset("PixArt-XL_2-512_alpha", "pixart-alpha", "PixArt-XL-2-512x512.pth (α)", map[string]any{
		"input_size": 64, "lewei_scale": 1.0,
	})
	addPreset("PixArt-XL_2-1024-MS_alpha", "pixart-alpha", "PixArt-XL-2-1024-MS.pth (α PixArtMS, micro-conditioned)", map[string]any{
		"input_size": 128, "lewei_scale": 2.0, "micro_condition": true,
	})
	addPreset("PixArt-Sigma-XL_2-256", "pixart-sigma", "PixArt-Sigma-XL-2-256x256.pth (released without pos_embed, PixArt-sigma#37)", map[string]any{
		"input_size": 32, "pe_interpolation": 0.5, "saved_pos_embed": false,
	})
	addPreset("PixArt-Sigma-XL_2-512-MS", "pixart-sigma", "PixArt-Sigma-XL-2-512-MS.pth", map[string]any{
		"input_size": 64, "pe_interpolation": 1.0,
	})
	addPreset("PixArt-Sigma-XL_2-1024-MS", "pixart-sigma", "PixArt-Sigma-XL-2-1024-MS.pth", map[string]any{
		"input_size": 128, "pe_interpolation": 2.0,
	})
	addPreset("PixArt-Sigma-XL_2-2K-MS", "pixart-sigma", "PixArt-Sigma-XL-2-2K-MS.pth (pos_embed [1,16384,1152])", map[string]any{
		"input_size": 256, "pe_interpolation": 4.0,
	})
	addPreset("PixArt-XL_2-1024-MS_alpha_diffusers", "pixart-diffusers", "PixArt-alpha/PixArt-XL-2-1024-MS transformer (diffusers; resolution/aspect-ratio embedders)", map[string]any{
		"sample_size": 128, "use_additional_conditions": true,
	})
	addPreset("PixArt-Sigma-XL_2-1024-MS_diffusers", "pixart-diffusers", "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS transformer (diffusers; use_additional_conditions false)", map[string]any{
		"sample_size": 128, "use_additional_conditions": false,
	})
	addPreset("STDiT-XL_2_v1.0_16x256x256", "stdit", "Open-Sora 1.0 OpenSora-v1-16x256x256.pth / -HQ-16x256x256 (space_scale 0.5)", map[string]any{
		"input_size": []int{16, 32, 32}, "space_scale": 0.5,
	})
	addPreset("STDiT-XL_2_v1.0_16x512x512", "stdit", "Open-Sora 1.0 OpenSora-v1-HQ-16x512x512.pth (space_scale 1.0)", map[string]any{
		"input_size": []int{16, 64, 64}, "space_scale": 1.0,
	})
	addPreset("STDiT2-XL_2_v1.1", "stdit2", "Open-Sora 1.1 OpenSora-STDiT-v2-stage2/3 (qk_norm, L=200 as the v1.1 sampling configs build)", map[string]any{
		"qk_norm": true, "model_max_length": 200,
	})
	addPreset("STDiT3-XL_2_v1.2", "stdit3", "Open-Sora 1.2 hpcai-tech/OpenSora-STDiT-v3", map[string]any{})
	addPreset("STDiT3-3B_2_v1.2", "stdit3", "Open-Sora 1.2 STDiT3-3B/2 (H 1872, 26 heads)", map[string]any{
		"hidden_size": 1872, "num_heads": 26,
	})
	addPreset("STDiT3-XL_2_v1.3_STDiT-v4", "stdit3-v4", "Open-Sora 1.3 hpcai-tech/OpenSora-STDiT-v4 (16-ch, kernel_size [8,8,-1], spatial RoPE)", map[string]any{
		"kernel_size": []int{8, 8, -1}, "use_spatial_rope": true,
	})
	addPreset("OpenSora2_MMDiT_unfused", "mmdit", "Open-Sora 2.0 Open_Sora_v2.safetensors (split q/k/v, cond_in)", map[string]any{
		"fused_qkv": false, "cond_embed": true,
	})
	addPreset("OpenSora2_MMDiT_fused_Flux-dev_layout_cond_in", "mmdit", "Open-Sora 2.0 model with fused_qkv=true (Flux layout + cond_in)", map[string]any{
		"fused_qkv": true, "cond_embed": true,
	})
	addPreset("Flux-dev_layout_fused_guidance_no_cond_in", "mmdit", "flux1-dev.safetensors layout (fused, guidance_in, no cond_in)", map[string]any{
		"fused_qkv": true, "guidance_embed": true,
	})
}

// Presets lists every named preset.
func Presets() []PresetInfo {
	out := make([]PresetInfo, len(presets))
	for i, p := range presets {
		out[i] = p.PresetInfo
		out[i].Variant, out[i].Layout = PresetVariant(p.Name)
	}
	return out
}

// Preset returns the spec of a named published configuration. Unknown
// names give an error listing the closest names.
func Preset(name string) (*Spec, error) {
	for _, p := range presets {
		if p.Name == name {
			s, err := New(p.Family, p.params)
			if err != nil {
				return nil, fmt.Errorf("preset %s: %w", name, err)
			}
			s.preset = p.Name
			return s, nil
		}
	}
	return nil, fmt.Errorf("spec: unknown preset %q; closest: %s", name, strings.Join(closestPresets(name, 5), ", "))
}

func closestPresets(name string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	low := strings.ToLower(name)
	cs := make([]cand, 0, len(presets))
	for _, p := range presets {
		pl := strings.ToLower(p.Name)
		d := levenshtein(low, pl)
		if low != "" && (strings.Contains(pl, low) || strings.Contains(low, pl)) {
			d /= 4
		}
		cs = append(cs, cand{p.Name, d})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	out := make([]string, 0, n)
	for i := 0; i < n && i < len(cs); i++ {
		out = append(out, cs[i].name)
	}
	return out
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
