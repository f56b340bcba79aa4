package spec

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseErrorsNameTheField(t *testing.T) {
	cases := []struct {
		json, field, msg string
	}{
		{`{"family":"dot"}`, "family", "unknown family"},
		{`{"depth":2}`, "family", "missing"},
		{`{"family":3}`, "family", "string"},
		{`{"family":"dit","depth":-1}`, "depth", ">= 1"},
		{`{"family":"dit","depth":0}`, "depth", ">= 1"},
		{`{"family":"dit","depth":2.5}`, "depth", "integer"},
		{`{"family":"dit","depth":"28"}`, "depth", "integer"},
		{`{"family":"dit","hidden_size":100,"num_heads":3}`, "hidden_size", "divisible"},
		{`{"family":"dit","learn_sigma":1}`, "learn_sigma", "boolean"},
		{`{"family":"dit","mlp_ratio":0}`, "mlp_ratio", "> 0"},
		{`{"family":"dit","hidden":64}`, "hidden", "unknown field"},
		{`{"family":"dit","input_size":9,"patch_size":2}`, "input_size", "divisible"},
		{`{"family":"dit","num_classes":null}`, "num_classes", "null"},
		{`{"family":"stdit","input_size":[16,32]}`, "input_size", "3 elements"},
		{`{"family":"stdit","patch_size":[1,"2",2]}`, "patch_size", "element 1"},
		{`{"family":"stdit","input_size":32}`, "input_size", "array"},
		{`{"family":"latte","extras":3}`, "extras", "1, 2 or 78"},
		{`{"family":"mmdit","axes_dim":[16,56,50]}`, "axes_dim", "head dim 128"},
		{`{"family":"stdit3-v4","use_spatial_rope":true}`, "use_spatial_rope", "kernel_size"},
		{`{"family":"pixart-sigma","kv_compress_config":{"sampling":"conv"}}`, "kv_compress_config", "missing \"scale_factor\""},
		{`{"family":"pixart-sigma","kv_compress_config":{"sampling":"bilinear","scale_factor":2,"kv_compress_layer":[1]}}`, "kv_compress_config", "sampling"},
		{`{"family":"pixart-sigma","depth":2,"kv_compress_config":{"sampling":"conv","scale_factor":2,"kv_compress_layer":[2]}}`, "kv_compress_config", "below depth"},
	}
	for _, tc := range cases {
		_, err := Parse([]byte(tc.json))
		if err == nil {
			t.Errorf("%s: no error", tc.json)
			continue
		}
		var se *Error
		if !errors.As(err, &se) || se.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v (field %q), want field %q containing %q", tc.json, err, fieldOf(se), tc.field, tc.msg)
		}
	}
	for _, bad := range []string{``, `[1]`, `{"family":"dit"} {}`, `{"family":"dit",}`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func fieldOf(e *Error) string {
	if e == nil {
		return "<not *Error>"
	}
	return e.Field
}

// DiT's constructor defaults are DiT-XL/2 at 256 px (input_size 32), so the
// bare family builds exactly that preset's key list; the same holds for the
// STDiT3 defaults (= the v1.2 release) and MMDiT's (= Flux layout, fused,
// no guidance/cond embedders).
func TestDefaultsAreUpstreamDefaults(t *testing.T) {
	for fam, preset := range map[string]string{"dit": "DiT-XL_2_256", "stdit3": "STDiT3-XL_2_v1.2"} {
		s, err := Parse([]byte(`{"family":"` + fam + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := Preset(preset)
		a, _ := s.Keys()
		b, _ := p.Keys()
		if d := diffSets(b, a); len(d) > 0 {
			t.Errorf("%s defaults differ from %s: %v", fam, preset, d[:1])
		}
	}
	s, _ := Parse([]byte(`{"family":"stdit"}`))
	es, _ := s.Keys()
	if es[1].Name != "pos_embed_temporal" || es[1].Shape[1] != 1 || es[0].Shape[1] != 256 {
		t.Errorf("stdit default input_size (1,32,32): got %v %v", es[0], es[1])
	}
}

func TestEveryFamilyDefaultBuildsAndRoundTrips(t *testing.T) {
	fams := Families()
	if len(fams) != 11+len(families2026) {
		t.Fatalf("%d families", len(fams))
	}
	for _, f := range fams {
		s, err := New(f.ID, nil)
		if err != nil {
			t.Fatalf("%s: %v", f.ID, err)
		}
		es, err := s.Keys()
		if err != nil || len(es) == 0 {
			t.Fatalf("%s: %v", f.ID, err)
		}
		seen := map[string]bool{}
		for _, e := range es {
			if seen[e.Name] {
				t.Errorf("%s: duplicate key %s", f.ID, e.Name)
			}
			seen[e.Name] = true
			for _, x := range e.Shape {
				if x <= 0 {
					t.Errorf("%s: %s has shape %v", f.ID, e.Name, e.Shape)
				}
			}
		}
		js, _ := json.Marshal(s)
		back, err := Parse(js)
		if err != nil || !back.Equal(s) {
			t.Errorf("%s: round trip %s: %v", f.ID, js, err)
		}
	}
}

func TestPassThroughFieldsAreKept(t *testing.T) {
	in := `{"family":"stdit","input_size":[2,8,8],"enable_flashattn":true,"space_scale":0.5}`
	s, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Get("enable_flashattn"); !ok || v != true {
		t.Fatalf("enable_flashattn = %v", v)
	}
	js, _ := json.Marshal(s)
	if !strings.Contains(string(js), `"enable_flashattn":true`) || !strings.Contains(string(js), `"space_scale":0.5`) {
		t.Fatalf("marshal lost fields: %s", js)
	}
	// HF config bookkeeping fields are accepted for HF-style families
	if _, err := Parse([]byte(`{"family":"stdit3","model_type":"STDiT3","architectures":["STDiT3"],"torch_dtype":"float32"}`)); err != nil {
		t.Fatal(err)
	}
}

func TestPresetUnknownListsCloseNames(t *testing.T) {
	_, err := Preset("DiT-XL-2-256")
	if err == nil || !strings.Contains(err.Error(), "DiT-XL_2_256") {
		t.Fatalf("error %v", err)
	}
	_, err = Preset("STDiT3")
	if err == nil || !strings.Contains(err.Error(), "STDiT3-") {
		t.Fatalf("error %v", err)
	}
}

func TestWithValidates(t *testing.T) {
	s, _ := Preset("DiT-XL_2_256")
	s2, err := s.With("input_size", 64)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Name() == "DiT-XL_2_256" || s.Int("input_size") != 32 {
		t.Fatalf("With changed the original or kept the preset name")
	}
	if _, err := s.With("num_heads", 7); err == nil {
		t.Fatal("1152 % 7 accepted")
	}
}

func TestBufferFlags(t *testing.T) {
	cases := map[string]map[string][2]bool{ // name → {Buffer, Fixed}
		"PixArt-XL_2-512_alpha":      {"pos_embed": {true, true}, "y_embedder.y_embedding": {true, false}, "t_block.1.weight": {false, false}},
		"STDiT-XL_2_v1.0_16x256x256": {"pos_embed": {true, true}, "pos_embed_temporal": {true, true}, "y_embedder.y_embedding": {true, false}},
		"STDiT3-XL_2_v1.2":           {"rope.freqs": {false, true}, "y_embedder.y_embedding": {true, false}},
		"Latte-XL_2_ucf101":          {"pos_embed": {false, true}, "temp_embed": {false, true}},
		"DiT-XL_2_256":               {"pos_embed": {false, true}},
	}
	for name, want := range cases {
		s, _ := Preset(name)
		es, _ := s.Keys()
		for _, e := range es {
			if w, ok := want[e.Name]; ok {
				if e.Buffer != w[0] || e.Fixed != w[1] {
					t.Errorf("%s %s: Buffer=%v Fixed=%v, want %v", name, e.Name, e.Buffer, e.Fixed, w)
				}
			}
		}
	}
}
