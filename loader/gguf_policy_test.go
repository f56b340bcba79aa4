package loader_test

import (
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// ComfyUI-GGUF's rules beyond the fixtures: an architecture's lcpp.patch
// exclusions stay at convert.py's first-stage type (BF16 for bf16
// sources, else F16), fp16 sources keep small tensors in F16, only 2-D
// tensors (ggml_n_dims, so [1, N, H] counts) are quantized, keys_ignore
// is left out, integers are stored as they are, and a diffusers-layout
// Flux is refused by key detection as convert.py does.
func TestPlanGGUFPolicy(t *testing.T) {
	infos := []tensor.Info{
		{Name: "img_in.weight", DType: tensor.BF16, Shape: []int{3072, 64}},
		{Name: "double_blocks.0.img_attn.proj.weight", DType: tensor.BF16, Shape: []int{3072, 3072}},
		{Name: "double_blocks.0.img_attn.proj.bias", DType: tensor.BF16, Shape: []int{3072}},
		{Name: "final_layer.linear.weight", DType: tensor.F32, Shape: []int{64, 3072}},
		{Name: "small", DType: tensor.F16, Shape: []int{16, 16}},
		{Name: "conv.weight", DType: tensor.F32, Shape: []int{64, 64, 3, 3}},
		{Name: "pos", DType: tensor.F32, Shape: []int{1, 64, 256}},
		{Name: "steps", DType: tensor.I64, Shape: []int{}},
		{Name: "x._extra_state", DType: tensor.F32, Shape: []int{4096}},
	}
	want := map[string]string{"img_in.weight": "BF16", "double_blocks.0.img_attn.proj.weight": "Q4_K", "double_blocks.0.img_attn.proj.bias": "F32",
		"final_layer.linear.weight": "F16", "small": "F16", "conv.weight": "F16", "pos": "Q4_K", "steps": "I64", "x._extra_state": "F32"}
	cs, err := loader.PlanGGUF(infos, loader.GGUFPolicy{Main: quant.Q4_K, Threshold: 1024, Arch: "flux"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Type.String() != want[c.Name] || c.Reason == "" || c.Drop {
			t.Errorf("flux %s: %v (%s)", c.Name, c.Type, c.Reason)
		}
	}
	cs, _ = loader.PlanGGUF(infos, loader.GGUFPolicy{Main: quant.Q8_0, Threshold: 1024, Arch: "cosmos"})
	if c := cs[len(cs)-1]; !c.Drop || !strings.Contains(c.Reason, "keys_ignore") {
		t.Errorf("cosmos _extra_state: %+v", c)
	}
	if cs[0].Type != quant.Q8_0 {
		t.Errorf("img_in under cosmos: %v", cs[0].Type)
	}
	if _, _, err := loader.GGUFArchFromKeys([]string{"transformer_blocks.0.attn.norm_added_k.weight"}); err == nil || !strings.Contains(err.Error(), "diffusers layout of flux") {
		t.Errorf("diffusers flux: %v", err)
	}
	if a, ev, err := loader.GGUFArchFromKeys([]string{"double_blocks.0.img_attn.proj.weight"}); a != "flux" || ev == "" || err != nil {
		t.Errorf("flux keys: %q %q %v", a, ev, err)
	}
	for _, bad := range []loader.GGUFPolicy{{Main: quant.IQ2_XXS}, {Main: quant.Q8_0, Threshold: -1}} {
		if _, err := loader.PlanGGUF(infos, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	p, dropped := loader.GGUFStripPrefix([]string{"model.diffusion_model.a", "first_stage_model.b", "model.diffusion_model.c"})
	if p != "model.diffusion_model." || len(dropped) != 1 || dropped[0] != "first_stage_model.b" {
		t.Errorf("prefix %q dropped %v", p, dropped)
	}
	if p, _ := loader.GGUFStripPrefix([]string{"net.a", "net.b"}); p != "net." {
		t.Errorf("net. prefix: %q", p)
	}
}

// Every architecture the writer records is one the reader names, and
// every family in the table is one core/spec knows; every original-layout
// family core/spec knows has an architecture.
func TestGGUFArchOfFamilyNamed(t *testing.T) {
	fams := map[string]bool{}
	for _, f := range spec.Families() {
		fams[f.ID] = true
		if _, ok := loader.GGUFArchOfFamily[f.ID]; !ok && !strings.HasSuffix(f.ID, "-diffusers") {
			t.Errorf("family %s has no GGUF architecture", f.ID)
		}
	}
	for fam, arch := range loader.GGUFArchOfFamily {
		if _, known := loader.GGUFArchitectureName(arch); !known {
			t.Errorf("family %s → %q, which inspect calls foreign", fam, arch)
		}
		if !fams[fam] {
			t.Errorf("family %s is not a core/spec family", fam)
		}
	}
}
