package spec

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/core/testfixtures"
)

func TestDetectEveryPreset(t *testing.T) {
	for _, pi := range Presets() {
		t.Run(pi.Name, func(t *testing.T) {
			s, err := Preset(pi.Name)
			if err != nil {
				t.Fatal(err)
			}
			es, _ := s.Keys()
			d := Detect(entriesToInfos(es))
			// A single-file (comfyui) preset is its release's keys under
			// the prefix: detection strips it and names the release.
			// Presets whose key list equals an earlier preset's (Kontext,
			// Krea and Redux are dev's keys; Flux-dev_layout_… is dev's
			// under Open-Sora's mmdit family) detect as that preset.
			pre := s.Str(PrefixParam)
			want := pi.Name
			if d.Preset != pi.Name && d.Preset != "" && sameKeys(t, d.Preset, pre, es) {
				want = d.Preset
			}
			ws, _ := Preset(want)
			if d.Preset != want || d.Confidence != 1 || d.Prefix != pre || d.Family != ws.Family {
				t.Fatalf("got family %q preset %q prefix %q confidence %v; evidence %v", d.Family, d.Preset, d.Prefix, d.Confidence, d.Evidence)
			}
			if d.Params == nil || d.Params.Name() != want || !d.Params.Equal(ws) {
				t.Fatalf("params %v", d.Params)
			}
			// with a DDP prefix the same
			infos := entriesToInfos(es)
			for i := range infos {
				infos[i].Name = "model.diffusion_model." + infos[i].Name
			}
			d2 := Detect(infos)
			if d2.Prefix != "model.diffusion_model."+pre || d2.Preset != want {
				t.Fatalf("prefixed: prefix %q preset %q", d2.Prefix, d2.Preset)
			}
		})
	}
}

// The hyperparameters derived from shapes alone (not the preset table)
// must rebuild the same key list for every preset.
func TestDetectDerivedParamsRebuildPresetKeys(t *testing.T) {
	for _, pi := range Presets() {
		s, _ := Preset(pi.Name)
		es, _ := s.Keys()
		x := &detector{c: &ckpt{shapes: map[string][]int{}}, d: &Detection{}, p: map[string]any{}}
		pre := s.Str(PrefixParam) // a single-file layout: shapes under the prefix
		for i, e := range es {
			es[i].Name = strings.TrimPrefix(e.Name, pre)
			x.c.shapes[es[i].Name] = e.Shape
			x.c.order = append(x.c.order, es[i].Name)
		}
		if !x.classify() {
			t.Errorf("%s: not classified", pi.Name)
			continue
		}
		ds, err := New(x.fam, x.p)
		if err != nil {
			t.Errorf("%s: %v", pi.Name, err)
			continue
		}
		got, _ := ds.Keys()
		if d := diffSets(es, got); len(d) > 0 {
			t.Errorf("%s: derived spec differs: %v", pi.Name, d[:min(3, len(d))])
		}
	}
}

// sameKeys reports whether preset name's keys, under prefix pre, are es.
func sameKeys(t *testing.T, name, pre string, es []Entry) bool {
	t.Helper()
	s, err := Preset(name)
	if err != nil {
		return false
	}
	got, _ := s.Keys()
	for i := range got {
		got[i].Name = pre + got[i].Name
	}
	return len(diffSets(es, got)) == 0
}

func wantParams(t *testing.T, d *Detection, want map[string]any) {
	t.Helper()
	if d.Params == nil {
		t.Fatalf("no params; evidence %v", d.Evidence)
	}
	for k, v := range want {
		got, ok := d.Params.Get(k)
		if !ok || !valEqual(got, v) && !reflect.DeepEqual(got, v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
}

func hasLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// Expected values come from the fixture's config.json / README.
var ditAWant = map[string]any{
	"input_size": 8, "patch_size": 2, "in_channels": 4, "hidden_size": 64,
	"depth": 2, "num_classes": 10, "learn_sigma": true, "mlp_ratio": 4.0,
}

func TestDetectDiTAFixtures(t *testing.T) {
	dir := testfixtures.Path(t, "dit_A")
	for _, tc := range []struct{ file, prefix string }{
		{"ckpt_plain.pt", ""},
		{"ckpt_ddp.pt", "module."},
		{"ckpt_legacy.pt", ""},
		{"ckpt_fp16.pt", ""},
		{"ckpt_bf16.pt", ""},
		{"ckpt.safetensors", ""},
		{"ckpt_bf16.safetensors", ""},
		{"ckpt_train.pt", "ema/"}, // whole train dict: the EMA subtree is chosen
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := Detect(manifestInfos(t, filepath.Join(dir, tc.file+".manifest.json")))
			if d.Family != "dit" || d.Prefix != tc.prefix {
				t.Fatalf("family %q prefix %q; evidence %v", d.Family, d.Prefix, d.Evidence)
			}
			wantParams(t, d, ditAWant)
			if d.Confidence != 1 || d.Preset != "" {
				t.Fatalf("confidence %v preset %q missing %v unexpected %v", d.Confidence, d.Preset, d.Missing, d.Unexpected)
			}
			if !hasLine(d.Ambiguous, "num_heads") {
				t.Errorf("num_heads not reported ambiguous: %v", d.Ambiguous)
			}
			if tc.file == "ckpt_train.pt" && d.Ignored == 0 {
				t.Errorf("model/opt tensors not reported as ignored")
			}
		})
	}
	t.Run("train ema subtree stripped", func(t *testing.T) {
		all := manifestInfos(t, filepath.Join(dir, "ckpt_train.pt.manifest.json"))
		for _, sub := range []string{"ema/", "model/"} {
			d := Detect(subtree(all, sub))
			if d.Family != "dit" || d.Prefix != "" || d.Confidence != 1 {
				t.Fatalf("%s: family %q prefix %q conf %v", sub, d.Family, d.Prefix, d.Confidence)
			}
			wantParams(t, d, ditAWant)
		}
	})
	t.Run("stdit layout", func(t *testing.T) {
		d := Detect(manifestInfos(t, filepath.Join(dir, "ckpt_stdit_layout.pt.manifest.json")))
		if d.Family != "dit" || !strings.Contains(d.Version, "Open-Sora 1.0 layout") {
			t.Fatalf("family %q version %q", d.Family, d.Version)
		}
		want := map[string]any{}
		for k, v := range ditAWant {
			if k != "input_size" {
				want[k] = v
			}
		}
		wantParams(t, d, want)
		if !hasLine(d.Evidence, "5-D") || !hasLine(d.Ambiguous, "input_size") {
			t.Errorf("evidence %v ambiguous %v", d.Evidence, d.Ambiguous)
		}
		if len(d.Missing) != 1 || d.Missing[0] != "pos_embed" || len(d.ShapeMismatch) != 1 || !strings.HasPrefix(d.ShapeMismatch[0], "x_embedder.proj.weight") {
			t.Errorf("missing %v mismatch %v", d.Missing, d.ShapeMismatch)
		}
		if d.Confidence >= 1 {
			t.Errorf("confidence %v", d.Confidence)
		}
	})
}

func TestDetectSTDiTTinyFixture(t *testing.T) {
	dir := testfixtures.Path(t, "stdit_tiny")
	d := Detect(manifestInfos(t, filepath.Join(dir, "ckpt_plain.pt.manifest.json")))
	if d.Family != "stdit" || d.Confidence != 1 {
		t.Fatalf("family %q confidence %v evidence %v missing %v", d.Family, d.Confidence, d.Evidence, d.Missing)
	}
	// README: (T,H,W)=(2,8,8), patch (1,2,2), C 4, hidden 64, depth 2,
	// caption_channels 32, model_max_length 8, pred_sigma true.
	wantParams(t, d, map[string]any{
		"input_size": []int{2, 8, 8}, "patch_size": []int{1, 2, 2}, "in_channels": 4,
		"hidden_size": 64, "depth": 2, "caption_channels": 32, "model_max_length": 8, "pred_sigma": true,
	})
	// A DiT file is not mistaken for STDiT and vice versa.
	dd := Detect(manifestInfos(t, filepath.Join(testfixtures.Path(t, "dit_A"), "ckpt_stdit_layout.pt.manifest.json")))
	if dd.Family == "stdit" {
		t.Fatal("reparameterised DiT detected as STDiT")
	}
}

// Configurations other than the presets and fixtures: the spec's own key
// list is detected back to the same family with the shape-determined
// values, and the derived spec reproduces the key list exactly.
func TestDetectOtherConfigurations(t *testing.T) {
	cases := []struct {
		fam    string
		params map[string]any
		check  []string // params that shapes determine
	}{
		{"dit", map[string]any{"input_size": 16, "patch_size": 4, "hidden_size": 128, "depth": 3, "num_heads": 2, "learn_sigma": false, "num_classes": 1000},
			[]string{"input_size", "patch_size", "hidden_size", "depth", "learn_sigma", "num_classes"}},
		{"dit", map[string]any{"input_size": 12, "patch_size": 1, "in_channels": 3, "hidden_size": 96, "depth": 1, "num_heads": 3, "num_classes": 5, "mlp_ratio": 2.0},
			[]string{"input_size", "patch_size", "in_channels", "hidden_size", "depth", "num_classes", "mlp_ratio"}},
		{"latte", map[string]any{"input_size": 8, "hidden_size": 64, "depth": 4, "num_heads": 4, "num_frames": 8, "extras": 1},
			[]string{"input_size", "hidden_size", "depth", "num_frames", "extras"}},
		{"latte", map[string]any{"input_size": 8, "hidden_size": 64, "depth": 2, "num_heads": 4, "extras": 78, "learn_sigma": false},
			[]string{"extras", "learn_sigma"}},
		{"pixart-alpha", map[string]any{"input_size": 16, "hidden_size": 96, "depth": 2, "num_heads": 4, "micro_condition": true, "caption_channels": 64, "model_max_length": 10},
			[]string{"input_size", "hidden_size", "depth", "micro_condition", "caption_channels", "model_max_length"}},
		{"pixart-sigma", map[string]any{"input_size": 16, "hidden_size": 64, "depth": 2, "num_heads": 4, "qk_norm": true, "pred_sigma": false},
			[]string{"qk_norm", "pred_sigma", "model_max_length"}},
		{"stdit", map[string]any{"input_size": []int{8, 16, 16}, "patch_size": []int{2, 2, 2}, "hidden_size": 64, "depth": 3, "num_heads": 4, "pred_sigma": false},
			[]string{"input_size", "patch_size", "depth", "pred_sigma"}},
		{"stdit2", map[string]any{"hidden_size": 96, "depth": 2, "num_heads": 4, "qk_norm": false, "model_max_length": 7},
			[]string{"hidden_size", "num_heads", "qk_norm", "model_max_length"}},
		{"stdit2", map[string]any{"hidden_size": 96, "depth": 2, "num_heads": 2, "qk_norm": true},
			[]string{"num_heads", "qk_norm"}},
		{"stdit3", map[string]any{"hidden_size": 144, "depth": 2, "num_heads": 6, "qk_norm": false},
			[]string{"hidden_size", "num_heads", "qk_norm", "depth"}},
		{"stdit3-v4", map[string]any{"hidden_size": 144, "depth": 2, "num_heads": 2, "kernel_size": []int{8, 8, -1}, "skip_temporal": true},
			[]string{"num_heads", "kernel_size", "skip_temporal", "in_channels"}},
		{"stdit3-v4", map[string]any{"hidden_size": 144, "depth": 1, "num_heads": 2, "in_channels": 4},
			[]string{"num_heads", "kernel_size", "skip_temporal", "in_channels"}},
		{"mmdit", map[string]any{"hidden_size": 256, "num_heads": 2, "depth": 2, "depth_single_blocks": 1, "fused_qkv": false, "cond_embed": true, "in_channels": 16, "patch_size": 1, "qkv_bias": false},
			[]string{"hidden_size", "num_heads", "depth", "depth_single_blocks", "fused_qkv", "cond_embed", "patch_size", "qkv_bias"}},
		// Open-Sora 2.0's MMDiT without cond_in and with fused q/k/v is the
		// Flux layout: detected as flux (the check reads the same names).
		{"mmdit", map[string]any{"hidden_size": 128, "num_heads": 1, "depth": 1, "depth_single_blocks": 2, "guidance_embed": true, "vec_in_dim": 32, "context_in_dim": 48},
			[]string{"num_heads", "guidance_embed", "vec_in_dim", "context_in_dim"}},
		{"dit-diffusers", map[string]any{"num_attention_heads": 4, "attention_head_dim": 16, "num_layers": 2, "patch_size": 4, "out_channels": 8, "num_embeds_ada_norm": 10},
			[]string{"num_layers", "patch_size", "out_channels", "num_embeds_ada_norm"}},
		{"pixart-diffusers", map[string]any{"num_attention_heads": 4, "attention_head_dim": 24, "num_layers": 2, "sample_size": 32, "caption_channels": 40, "cross_attention_dim": 96},
			[]string{"num_layers", "caption_channels", "cross_attention_dim"}},
	}
	for _, tc := range cases {
		s, err := New(tc.fam, tc.params)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.fam, tc.params, err)
		}
		t.Run(s.Name(), func(t *testing.T) {
			es, _ := s.Keys()
			d := Detect(entriesToInfos(es))
			want := tc.fam
			if tc.fam == "mmdit" && s.Bool("fused_qkv") && !s.Bool("cond_embed") {
				want = "flux"
			}
			if d.Family != want || d.Confidence != 1 || d.Preset != "" {
				t.Fatalf("family %q conf %v preset %q missing %v unexpected %v mismatch %v evidence %v",
					d.Family, d.Confidence, d.Preset, d.Missing, d.Unexpected, d.ShapeMismatch, d.Evidence)
			}
			for _, k := range tc.check {
				want, _ := s.Get(k)
				got, _ := d.Params.Get(k)
				if !valEqual(got, want) && !reflect.DeepEqual(got, want) {
					t.Errorf("%s: detected %v, spec %v", k, got, want)
				}
			}
			if d.Params.additionalConditions() != s.additionalConditions() {
				t.Errorf("use_additional_conditions: detected %v", d.Params.additionalConditions())
			}
		})
	}
}

func TestDetectPrefixes(t *testing.T) {
	s, _ := Preset("DiT-S_2_256")
	es, _ := s.Keys()
	for _, pre := range []string{"module.", "model.", "base_model.", "_orig_mod.", "module._orig_mod."} {
		infos := entriesToInfos(es)
		for i := range infos {
			infos[i].Name = pre + infos[i].Name
		}
		d := Detect(infos)
		if d.Prefix != pre || d.Preset != "DiT-S_2_256" {
			t.Errorf("%s: prefix %q preset %q", pre, d.Prefix, d.Preset)
		}
	}
}

func TestDetectUnknownAndPrototype(t *testing.T) {
	d := Detect([]tensor.Info{{Name: "conv1.weight", Shape: []int{3, 3}}, {Name: "fc.bias", Shape: []int{10}}})
	if d.Family != "" || d.Params != nil || d.Confidence != 0 {
		t.Fatalf("unknown tensors detected as %q", d.Family)
	}
	d = Detect([]tensor.Info{{Name: "video_embedder.proj.weight", Shape: []int{8, 4, 1, 2, 2}}, {Name: "blocks.0.attn.to_q.weight", Shape: []int{8, 8}}})
	if d.Family != "" || !strings.Contains(d.Version, "pre-1.0") {
		t.Fatalf("prototype: %q %q", d.Family, d.Version)
	}
	if d := Detect(nil); d.Family != "" {
		t.Fatal("empty input detected")
	}
}

func TestDetectNearPresetReportsDifferences(t *testing.T) {
	// DiT-XL/2-256 with a truncated label table (fine-tuned on 10 classes).
	s, _ := Preset("DiT-XL_2_256")
	es, _ := s.Keys()
	for i := range es {
		if es[i].Name == "y_embedder.embedding_table.weight" {
			es[i].Shape = []int{11, 1152}
		}
	}
	d := Detect(entriesToInfos(es))
	if d.Preset != "" || d.ClosestPreset != "DiT-XL_2_256" || d.Confidence != 1 {
		t.Fatalf("preset %q closest %q confidence %v", d.Preset, d.ClosestPreset, d.Confidence)
	}
	if n, _ := d.Params.Get("num_classes"); n != 10 {
		t.Fatalf("num_classes %v", n)
	}
	// heads default from the published table for H=1152
	if n, _ := d.Params.Get("num_heads"); n != 16 {
		t.Fatalf("num_heads %v", n)
	}
}

func TestDetectDamagedCheckpoint(t *testing.T) {
	s, _ := Preset("DiT-B_2_256")
	es, _ := s.Keys()
	var kept []Entry
	for _, e := range es {
		if !strings.HasPrefix(e.Name, "x_embedder.") && !strings.HasPrefix(e.Name, "blocks.5.") {
			kept = append(kept, e)
		}
	}
	d := Detect(entriesToInfos(kept))
	if d.Family != "dit" {
		t.Fatalf("family %q", d.Family)
	}
	wantParams(t, d, map[string]any{"hidden_size": 768, "depth": 12, "input_size": 32, "num_heads": 12})
	if !hasLine(d.Evidence, "gaps [5]") || !hasLine(d.Ambiguous, "x_embedder.proj.weight missing") {
		t.Errorf("evidence %v ambiguous %v", d.Evidence, d.Ambiguous)
	}
	if d.Preset != "" || d.ClosestPreset != "DiT-B_2_256" || len(d.Missing) != 12 || d.Confidence >= 1 {
		t.Errorf("preset %q closest %q missing %d conf %v", d.Preset, d.ClosestPreset, len(d.Missing), d.Confidence)
	}
}
