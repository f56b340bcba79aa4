package spec

import (
	"encoding/binary"
	"encoding/json"
	"github.com/ditkit/ditkit/core/testfixtures"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
)

// readSafetensorsInfos reads a safetensors header (names, dtypes, shapes).
func readSafetensorsInfos(t *testing.T, path string) []tensor.Info {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil || n > 1<<26 {
		t.Fatalf("%s: header size %d: %v", path, n, err)
	}
	b := make([]byte, n)
	if _, err := f.Read(b); err != nil {
		t.Fatal(err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	var out []tensor.Info
	for k, v := range h {
		if k == "__metadata__" {
			continue
		}
		var e struct {
			DType string `json:"dtype"`
			Shape []int  `json:"shape"`
		}
		json.Unmarshal(v, &e)
		dt, err := tensor.ParseDType(e.DType)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, k, err)
		}
		out = append(out, tensor.Info{Name: k, DType: dt, Shape: e.Shape})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// tinyCase is one tiny fixture file with the spec its config builds.
type tinyCase struct {
	file, family, variant, layout string
	spec                          map[string]any
}

// tinyCases reads tiny/<family>/tiny.json: each variant's upstream
// constructor kwargs for the original layout, diffusers' kwargs for the
// diffusers layout, and the original kwargs plus the single-file prefix
// for the comfyui copy.
func tinyCases(t *testing.T) []tinyCase {
	root := testfixtures.Path(t, "families/tiny")
	var out []tinyCase
	type cfg struct {
		Params    map[string]any `json:"params"`
		Orig      map[string]any `json:"orig_kwargs"`
		Diffusers map[string]any `json:"diffusers_kwargs"`
	}
	variant := map[string]string{"flux/dev": "flux1-dev", "flux/schnell": "flux1-schnell", "flux/fill": "flux1-fill-dev",
		"wan/t2v": "wan2.1-t2v", "wan/i2v": "wan2.1-i2v", "sd3/sd3-medium": "sd3-medium", "sd3/sd3.5-medium": "sd3.5-medium"}
	for _, fam := range []string{"flux", "wan", "sd3"} {
		data, err := os.ReadFile(filepath.Join(root, fam, "tiny.json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Tiny map[string]cfg `json:"tiny"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		for v, c := range doc.Tiny {
			orig := c.Params
			if orig == nil {
				orig = c.Orig
			}
			base := filepath.Join(root, fam, v)
			want := variant[fam+"/"+v]
			if want == "" {
				t.Fatalf("no expected variant for %s/%s", fam, v)
			}
			out = append(out, tinyCase{base + ".original.safetensors", fam, want, LayoutOriginal, orig},
				tinyCase{base + ".diffusers.safetensors", fam + "-diffusers", want, LayoutDiffusers, c.Diffusers})
			if _, err := os.Stat(base + ".comfyui.safetensors"); err == nil {
				cp := map[string]any{PrefixParam: ComfyPrefix}
				for k, x := range orig {
					cp[k] = x
				}
				out = append(out, tinyCase{base + ".comfyui.safetensors", fam, want, LayoutComfyUI, cp})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].file < out[j].file })
	if len(out) < 16 {
		t.Fatalf("only %d tiny fixture files", len(out))
	}
	return out
}

func (c tinyCase) parse(t *testing.T) *Spec {
	t.Helper()
	m := map[string]any{"family": c.family}
	for k, v := range c.spec {
		m[k] = v
	}
	js, _ := json.Marshal(m)
	s, err := Parse(js)
	if err != nil {
		t.Fatalf("spec from tiny.json %s: %v", js, err)
	}
	return s
}

// The tiny configs, written as spec JSON with the upstream constructors'
// kwargs, build exactly the fixtures' key lists.
func TestTinyFixtureSpecsBuildTheirKeys(t *testing.T) {
	for _, c := range tinyCases(t) {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			s := c.parse(t)
			es, err := s.Keys()
			if err != nil {
				t.Fatal(err)
			}
			var file []Entry
			for _, in := range readSafetensorsInfos(t, c.file) {
				file = append(file, Entry{Name: in.Name, Shape: in.Shape})
			}
			if d := diffSets(file, es); len(d) > 0 {
				t.Fatalf("%d differences: %v", len(d), d[:min(len(d), 6)])
			}
		})
	}
}

// Detection names every tiny fixture's family, variant and layout, and
// derives its hyperparameters: each value either equals the config's or
// is listed as ambiguous (not visible in shapes).
func TestDetectTinyFixtures(t *testing.T) {
	for _, c := range tinyCases(t) {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			want := c.parse(t)
			d := Detect(readSafetensorsInfos(t, c.file))
			if d.Family != c.family || d.Variant != c.variant || d.Layout != c.layout {
				t.Fatalf("family %q variant %q layout %q; evidence %v", d.Family, d.Variant, d.Layout, d.Evidence)
			}
			if d.Confidence != 1 || len(d.Missing)+len(d.Unexpected)+len(d.ShapeMismatch) > 0 {
				t.Fatalf("confidence %v missing %v unexpected %v mismatch %v", d.Confidence, d.Missing, d.Unexpected, d.ShapeMismatch)
			}
			amb := strings.Join(d.Ambiguous, "\n")
			for k := range c.spec {
				if k == PrefixParam {
					continue
				}
				w, _ := want.Get(k)
				g, _ := d.Params.Get(k)
				if valEqual(g, w) || reflect.DeepEqual(g, w) || jsonEqual(g, w) {
					continue
				}
				if !strings.Contains(amb, k) {
					t.Errorf("%s: detected %v, config %v, and not listed as ambiguous (%v)", k, g, w, d.Ambiguous)
				}
			}
			if c.layout == LayoutComfyUI && d.Prefix != ComfyPrefix {
				t.Errorf("prefix %q", d.Prefix)
			}
		})
	}
}
