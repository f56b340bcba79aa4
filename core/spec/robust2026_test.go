package spec

import (
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
)

// Damaged files of today's families (a dimension zeroed, dropped or
// doubled; keys removed) are detected or refused without a panic.
func TestDetectDamaged2026(t *testing.T) {
	for _, pi := range Presets() {
		if pi.Layout == "" || strings.HasSuffix(pi.Name, ".comfyui") || pi.Variant != strings.TrimSuffix(pi.Name, ".diffusers") && !strings.Contains(pi.Name, "wan") {
			continue // one preset per variant and layout is enough
		}
		s, _ := Preset(pi.Name)
		es, _ := s.Keys()
		for i := 0; i < len(es); i += 1 + len(es)/12 {
			for _, mut := range []func([]int) []int{
				func(sh []int) []int { return append([]int{0}, sh[1:]...) },
				func(sh []int) []int { return sh[:len(sh)-1] },
				func(sh []int) []int { return append(append([]int(nil), sh...), 2) },
				func(sh []int) []int { return nil },
			} {
				infos := make([]tensor.Info, 0, len(es))
				for j, e := range es {
					sh := e.Shape
					if j == i {
						sh = mut(append([]int(nil), sh...))
					}
					infos = append(infos, tensor.Info{Name: e.Name, DType: tensor.BF16, Shape: sh})
				}
				Detect(infos)
				Detect(infos[i:])
			}
		}
	}
}

// Invalid spec JSON of the new families names the field at fault.
func TestParseErrors2026(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`{"family":"wan","model_type":"x2v"}`, "model_type"},
		{`{"family":"wan","dim":100,"num_heads":3}`, "dim"},
		{`{"family":"flux","axes_dim":[1,2,3]}`, "axes_dim"},
		{`{"family":"sd3","depth":2,"context_embedder_config":{"target":"torch.nn.Conv2d"}}`, "context_embedder_config"},
		{`{"family":"sd3","depth":2,"context_embedder_config":{"target":"torch.nn.Linear","params":{"in_features":8,"out_features":7}}}`, "context_embedder_config"},
		{`{"family":"sd3","depth":2,"x_block_self_attn_layers":[1]}`, "x_block_self_attn_layers"},
		{`{"family":"sd3-diffusers","qk_norm":"l2"}`, "qk_norm"},
		{`{"family":"hunyuanvideo","qk_norm_type":"group"}`, "qk_norm_type"},
		{`{"family":"cogvideox","use_learned_positional_embeddings":true}`, "use_learned_positional_embeddings"},
		{`{"family":"flux","prefix":3}`, "prefix"},
	} {
		_, err := Parse([]byte(tc.json))
		se, ok := err.(*Error)
		if !ok || se.Field != tc.field {
			t.Errorf("%s: %v", tc.json, err)
		}
	}
	if s, err := Parse([]byte(`{"family":"FluxTransformer2DModel","in_channels":16}`)); err != nil || s.Family != "flux-diffusers" {
		t.Errorf("class-name alias: %v", err)
	}
	if _, err := ToLayout(mustPreset(t, "cogvideox-5b"), LayoutOriginal); err == nil {
		t.Error("CogVideoX has no original layout in ditkit")
	}
	if _, err := ToLayout(mustPreset(t, "STDiT3-XL_2_v1.2"), LayoutDiffusers); err == nil {
		t.Error("STDiT3 has no diffusers layout")
	}
}

func mustPreset(t *testing.T, name string) *Spec {
	s, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
