package loader

import (
	"fmt"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
)

// ShapeExpectation gives the shape a model definition (the detected
// family's spec) expects for a tensor name; ok is false when the model
// has no such tensor.
type ShapeExpectation func(name string) (shape []int, ok bool)

// GGUFRestoration is one GGUF tensor whose shape a model definition
// confirmed.
type GGUFRestoration struct {
	Name       string `json:"name"`
	Stored     []int  `json:"stored"`
	Restored   []int  `json:"restored"`
	Convention string `json:"convention"`
	Evidence   string `json:"evidence"`
}

// GGUF shape conventions that only a model definition can undo.
const (
	ConventionFold5D       = "sdcpp-fold-5d"     // stable-diffusion.cpp: Conv3d [O, I, T, H, W] stored as [O·I, T, H, W]
	ConventionLeadingOnes  = "dropped-leading-1" // ggml_n_dims drops trailing ne = 1, i.e. torch's leading size-1 dims
	ConventionTrailingOnes = "added-trailing-1"  // a Linear weight stored as a 1×1 conv [O, I, 1, 1]
	// ConventionOrigShape is restored by the file itself: ComfyUI-GGUF's
	// comfy.gguf.orig_shape.<name> metadata (no model definition needed).
	ConventionOrigShape = "comfy-orig-shape"
)

// RestoreGGUFShapes restores GGUF tensors whose stored shape differs
// from what expect says the model holds, when one of the conventions
// above explains the difference exactly (equal element count, and the
// dims the convention keeps are equal). source names the model
// definition in the evidence ("the wan spec"). Tensors already restored
// by the file's own metadata (comfy.gguf.orig_shape) are left alone. The
// bytes of every convention are the C-order bytes of the restored shape,
// so only Shape changes. It returns what it restored, in file order.
func (c *Checkpoint) RestoreGGUFShapes(expect ShapeExpectation, source string) []GGUFRestoration {
	rs := c.PlanGGUFShapes(expect, source)
	c.ApplyGGUFShapes(rs)
	return rs
}

// PlanGGUFShapes is RestoreGGUFShapes without changing anything: the
// restorations expect would confirm.
func (c *Checkpoint) PlanGGUFShapes(expect ShapeExpectation, source string) []GGUFRestoration {
	var out []GGUFRestoration
	for _, t := range c.Tensors {
		g := t.GGUF
		if g == nil || g.Confirmed {
			continue
		}
		want, ok := expect(t.Name)
		if !ok || tensor.EqualShape(want, t.Shape) || numelOf(want) != numelOf(t.Shape) {
			continue
		}
		conv, why := shapeConvention(t.Shape, want)
		if conv == "" {
			continue
		}
		r := GGUFRestoration{Name: t.Name, Stored: append([]int(nil), t.Shape...), Restored: append([]int(nil), want...), Convention: conv}
		r.Evidence = fmt.Sprintf("stored as %s in GGUF, restored to %s: %s; %s expects %s", tensor.FormatShape(r.Stored), tensor.FormatShape(want), why, source, tensor.FormatShape(want))
		out = append(out, r)
	}
	return out
}

// ApplyGGUFShapes gives each restored tensor its restored shape (and
// records the evidence); restorations of other tensors are ignored.
func (c *Checkpoint) ApplyGGUFShapes(rs []GGUFRestoration) {
	for _, r := range rs {
		t := c.Tensor(r.Name)
		if t == nil || t.GGUF == nil || t.GGUF.Confirmed || numelOf(r.Restored) != numelOf(t.Shape) {
			continue
		}
		g := t.GGUF
		g.Candidate, g.Confirmed, g.Evidence = append([]int(nil), r.Restored...), true, r.Evidence
		t.Shape = append([]int(nil), r.Restored...)
		t.Strides = tensor.ContiguousStrides(t.Shape)
	}
}

// leadingOneParams are parameters stored with a leading size-1 dim
// ([1, N, H]) that ggml_n_dims-based writers drop: the ones ComfyUI-GGUF's
// llama-quantize patch re-adds (SD3 pos_embed, AuraFlow
// positional_encoding / register_tokens, Wan .modulation and
// img_emb.emb_pos) and the DiT/Latte/Open-Sora position tables.
var leadingOneParams = []string{"pos_embed", "pos_embed_temporal", "temp_embed", "modulation", "img_emb.emb_pos", "positional_encoding", "register_tokens"}

// ShapeCandidates proposes, for detection only, the shapes GGUF tensors
// had before a writer mangled them: a stable-diffusion.cpp-folded Conv3d
// weight ([O·I, T, H, W], 4 dims, a known 5-D parameter name) as
// [O, I, T, H, W] with O the length of the layer's bias, and a 2-D
// leadingOneParams table as [1, …]. A spec must still confirm them.
func (c *Checkpoint) ShapeCandidates() map[string][]int {
	out := map[string][]int{}
	for _, t := range c.Tensors {
		if t.GGUF == nil || t.GGUF.Confirmed {
			continue
		}
		if _, known := known5DName(t.Name); known && len(t.Shape) == 4 {
			b := c.Tensor(strings.TrimSuffix(t.Name, ".weight") + ".bias")
			if b != nil && len(b.Shape) == 1 && b.Shape[0] > 0 && t.Shape[0]%b.Shape[0] == 0 {
				o := b.Shape[0]
				out[t.Name] = append([]int{o, t.Shape[0] / o}, t.Shape[1:]...)
			}
			continue
		}
		if len(t.Shape) != 2 {
			continue
		}
		for _, p := range leadingOneParams {
			if t.Name == p || strings.HasSuffix(t.Name, "."+p) {
				out[t.Name] = append([]int{1}, t.Shape...)
			}
		}
	}
	return out
}

// shapeConvention says which convention turns stored s into want.
func shapeConvention(s, want []int) (string, string) {
	switch {
	case len(want) == 5 && len(s) == 4 && s[0] == want[0]*want[1] && tensor.EqualShape(s[1:], want[2:]):
		return ConventionFold5D, "stable-diffusion.cpp folds a Conv3d weight [O, I, T, H, W] into [O·I, T, H, W] (ggml has 4 dims)"
	case len(want) > len(s) && allOnes(want[:len(want)-len(s)]) && tensor.EqualShape(want[len(want)-len(s):], s):
		return ConventionLeadingOnes, "leading size-1 dims were dropped when the file was written (ggml_n_dims)"
	case len(s) > len(want) && allOnes(s[len(want):]) && tensor.EqualShape(s[:len(want)], want):
		return ConventionTrailingOnes, "a Linear weight was stored as a 1×1 convolution (trailing size-1 dims)"
	}
	return "", ""
}

func allOnes(s []int) bool {
	for _, d := range s {
		if d != 1 {
			return false
		}
	}
	return true
}

// ggufPrefixes are the key prefixes GGUF writers add to a diffusion
// model's state dict (stable-diffusion.cpp writes model.diffusion_model.).
var ggufPrefixes = []string{"model.diffusion_model.", "diffusion_model.", "model."}

// ExpectShapes turns a model's state-dict shapes (e.g. built from a
// spec's Keys()) into a ShapeExpectation that also matches GGUF names
// carrying one of the usual prefixes.
func ExpectShapes(shapes map[string][]int) ShapeExpectation {
	return func(name string) ([]int, bool) {
		if s, ok := shapes[name]; ok {
			return s, true
		}
		for _, p := range ggufPrefixes {
			if rest, ok := strings.CutPrefix(name, p); ok {
				if s, ok := shapes[rest]; ok {
					return s, true
				}
			}
		}
		return nil, false
	}
}
