package spec

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/core/testfixtures"
)

// A checkpoint whose tensors are exactly a released key list (every file
// in docs/keys and docs/keys/2026, full size) is detected as that
// release: its own preset (or one with the same key list) with
// confidence 1, the preset's family and every hyperparameter the shapes
// decide, and for today's families its variant and layout.
func TestDetectReferenceKeyLists(t *testing.T) {
	var files []string
	for _, d := range []string{"keys", "keys/2026"} {
		fs, _ := filepath.Glob(filepath.Join(testfixtures.Doc(t, d), "*.txt"))
		files = append(files, fs...)
	}
	if len(files) < 40 {
		t.Fatalf("only %d key files", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			want, err := Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			var infos []tensor.Info
			for _, e := range readKeysFile(t, f) {
				infos = append(infos, tensor.Info{Name: e.Name, DType: tensor.BF16, Shape: e.Shape})
			}
			d := Detect(infos)
			if d.Family == "" {
				t.Fatalf("not detected: %s", d.Version)
			}
			if d.Confidence != 1 || len(d.Missing)+len(d.Unexpected)+len(d.ShapeMismatch) > 0 {
				t.Errorf("confidence %.4f; missing %d, unexpected %d, shape mismatches %d (first: %v %v %v)", d.Confidence,
					len(d.Missing), len(d.Unexpected), len(d.ShapeMismatch), first(d.Missing), first(d.Unexpected), first(d.ShapeMismatch))
			}
			if cand := inLayoutOf(d.Preset, name); cand != name {
				// Releases with one key list (Flux dev = Kontext = Krea =
				// Redux, Canny = Depth; Open-Sora 2.0's MMDiT in Flux-dev
				// layout = flux1-dev) name one of them: same keys, and
				// then the family may be the other's. A ComfyUI file is
				// detected as its release with the prefix stripped.
				p, err := Preset(cand)
				if err != nil {
					t.Fatalf("detected preset %q (want %s): %v", d.Preset, name, err)
				}
				a, _ := p.Keys()
				b, _ := want.Keys()
				if len(diffSets(a, b)) > 0 {
					t.Errorf("detected preset %q, want %s (their key lists differ)", d.Preset, name)
				}
			} else if d.Family != want.Family {
				t.Errorf("family %q (%s), want %q", d.Family, d.Version, want.Family)
			}
			if v, l := PresetVariant(name); v != "" {
				if d.Layout != l {
					t.Errorf("layout %q, want %q", d.Layout, l)
				}
				if pv, _ := PresetVariant(d.Preset); d.Variant != v && d.Variant != pv {
					t.Errorf("variant %q, want %q", d.Variant, v)
				}
			}
		})
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// Every preset's own key list (full size, no reference file needed: LTX-
// Video, CogVideoX, Sana too) is detected as that preset or one with the
// same keys, in its layout, with confidence 1.
func TestDetectEveryPresetKeyList(t *testing.T) {
	for _, p := range Presets() {
		t.Run(p.Name, func(t *testing.T) {
			s, err := Preset(p.Name)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := s.Keys()
			if err != nil {
				t.Fatal(err)
			}
			var infos []tensor.Info
			for _, e := range keys {
				infos = append(infos, tensor.Info{Name: e.Name, DType: tensor.BF16, Shape: e.Shape})
			}
			d := Detect(infos)
			if d.Family == "" || d.Confidence != 1 {
				t.Fatalf("family %q (%s), confidence %.4f; missing %d (%s), unexpected %d (%s), shape mismatches %d (%s)", d.Family, d.Version, d.Confidence,
					len(d.Missing), first(d.Missing), len(d.Unexpected), first(d.Unexpected), len(d.ShapeMismatch), first(d.ShapeMismatch))
			}
			if cand := inLayoutOf(d.Preset, p.Name); cand != p.Name {
				q, err := Preset(cand)
				if err != nil {
					t.Fatalf("detected preset %q: %v", d.Preset, err)
				}
				a, _ := q.Keys()
				if len(diffSets(a, keys)) > 0 {
					t.Errorf("detected preset %q (key lists differ)", d.Preset)
				}
			}
			if v, l := PresetVariant(p.Name); v != "" {
				if d.Layout != l {
					t.Errorf("layout %q, want %q", d.Layout, l)
				}
				if pv, _ := PresetVariant(d.Preset); d.Variant != v && d.Variant != pv {
					t.Errorf("variant %q, want %q", d.Variant, v)
				}
			}
		})
	}
}

// inLayoutOf is the detected preset in the layout of the preset named
// want: a ComfyUI file is detected as its release with the prefix
// stripped.
func inLayoutOf(detected, want string) string {
	if _, l := PresetVariant(want); l == "comfyui" {
		if c := PresetInLayout(detected, "comfyui"); c != "" {
			return c
		}
	}
	return detected
}
