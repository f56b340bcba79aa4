package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// `ditkit spec PRESET --keys` prints every docs/keys/2026 file's keys and
// shapes, in order, with its "# tensors: N  total_params: P" line.
func TestSpecKeysEqualKeyFiles2026(t *testing.T) {
	dir := filepath.Join(fixtures.DocsRoot(t), "keys", "2026")
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	if len(files) < 30 {
		t.Fatalf("only %d key files in %s", len(files), dir)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		code, out, errs := runCLI(t, "spec", name, "--keys")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errs)
		}
		want, _ := os.ReadFile(f)
		if keyLines(out) != keyLines(string(want)) {
			t.Errorf("%s: key lines differ", name)
		}
		if countLine(out) == "" || countLine(out) != countLine(string(want)) {
			t.Errorf("%s: %q vs %q", name, countLine(out), countLine(string(want)))
		}
	}
}

func keyLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func countLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "# tensors: ") {
			return l
		}
	}
	return ""
}

type familyFile struct{ rel, family, variant, layout string }

func familyFiles(t *testing.T) []familyFile {
	variants := map[string]string{"flux/dev": "flux1-dev", "flux/schnell": "flux1-schnell", "flux/fill": "flux1-fill-dev",
		"wan/t2v": "wan2.1-t2v", "wan/i2v": "wan2.1-i2v", "sd3/sd3-medium": "sd3-medium", "sd3/sd3.5-medium": "sd3.5-medium"}
	var out []familyFile
	for fv, variant := range variants {
		fam := strings.Split(fv, "/")[0]
		for layout, f := range map[string]string{"original": fam, "diffusers": fam + "-diffusers", "comfyui": fam} {
			rel := "families/tiny/" + fv + "." + layout + ".safetensors"
			if _, err := os.Stat(filepath.Join(fixtures.Root(t), rel)); err != nil {
				if layout == "comfyui" {
					continue
				}
				t.Fatalf("%s: %v", rel, err)
			}
			out = append(out, familyFile{rel, f, variant, layout})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out
}

// inspect --json names each tiny fixture's family, variant and layout; the
// detected spec, given back as --spec, diffs clean; so does the config the
// fixture was built from (tiny.json's constructor kwargs).
func TestInspectAndDiffFamilyFixtures(t *testing.T) {
	dir := t.TempDir()
	for _, ff := range familyFiles(t) {
		path := fixtures.Path(t, ff.rel)
		code, out, errs := runCLI(t, "inspect", path, "--json")
		if code != 0 {
			t.Fatalf("%s: %s", ff.rel, errs)
		}
		var doc struct {
			Detected struct {
				Family, Variant, Layout string
				Params                  json.RawMessage
			} `json:"detected"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		d := doc.Detected
		if d.Family != ff.family || d.Variant != ff.variant || d.Layout != ff.layout {
			t.Errorf("%s: detected %s / %s / %s", ff.rel, d.Family, d.Variant, d.Layout)
			continue
		}
		sp := filepath.Join(dir, strings.ReplaceAll(ff.rel, "/", "_")+".json")
		os.WriteFile(sp, d.Params, 0o644)
		code, out, _ = runCLI(t, "diff", path, "--spec", sp, "--json")
		if code != 0 || !strings.Contains(out, `"kind": "clean"`) {
			t.Errorf("%s against its detected spec: exit %d\n%s", ff.rel, code, out)
		}
		code, out, _ = runCLI(t, "diff", path, "--spec", sp)
		if !strings.HasPrefix(out, "clean: ") {
			t.Errorf("%s: human diff does not start with the verdict: %q", ff.rel, firstLine(out))
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// The CLI gives each families/errors text, with the file its .json names,
// the verdict and puts the summary first.
func TestDiffErrorTextVerdictsCLI(t *testing.T) {
	want := map[string]string{
		"flux_fill_into_flux_dev": "wrong_variant", "flux_schnell_into_flux_dev": "wrong_variant",
		"flux_diffusers_into_original": "fixable", "wan_i2v_into_t2v": "wrong_variant",
		"sd3_original_into_diffusers": "fixable", "sd35_medium_into_sd3_medium": "wrong_variant",
	}
	for c, kind := range want {
		var meta struct {
			Source string `json:"source_file"`
		}
		b, err := os.ReadFile(fixtures.Path(t, "families/errors/"+c+".json"))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(b, &meta)
		code, out, errs := runCLI(t, "diff", fixtures.Path(t, "families/"+meta.Source), "--error-text", fixtures.Path(t, "families/errors/"+c+".txt"), "--json")
		if code != 1 {
			t.Fatalf("%s: exit %d %s", c, code, errs)
		}
		var doc struct {
			Verdict struct{ Kind, Summary, Source, Target string } `json:"verdict"`
		}
		json.Unmarshal([]byte(out), &doc)
		if doc.Verdict.Kind != kind || doc.Verdict.Source == "" || doc.Verdict.Target == "" {
			t.Errorf("%s: %+v", c, doc.Verdict)
		}
		_, human, _ := runCLI(t, "diff", fixtures.Path(t, "families/"+meta.Source), "--error-text", fixtures.Path(t, "families/errors/"+c+".txt"))
		if firstLine(human) != doc.Verdict.Summary {
			t.Errorf("%s: first line %q, summary %q", c, firstLine(human), doc.Verdict.Summary)
		}
	}
}

// stTensor is one tensor of a hand-built safetensors file.
type stTensor struct {
	name, dtype string
	shape       []int
	data        []byte
}

// buildSafetensors writes tensors (plus those of base, when given) as a
// safetensors file.
func buildSafetensors(t *testing.T, path, base string, extra []stTensor, drop map[string]bool) {
	t.Helper()
	var ts []stTensor
	if base != "" {
		ck, f, err := loader.OpenFile(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range ck.Tensors {
			if drop[tn.Name] {
				continue
			}
			b, err := ck.ReadTensor(tn)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, stTensor{tn.Name, tn.DType.String(), tn.Shape, b})
		}
		f.Close()
	}
	ts = append(ts, extra...)
	hdr := map[string]any{}
	var data []byte
	for _, x := range ts {
		hdr[x.name] = map[string]any{"dtype": x.dtype, "shape": x.shape, "data_offsets": []int{len(data), len(data) + len(x.data)}}
		data = append(data, x.data...)
	}
	h, _ := json.Marshal(hdr)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(h)))
	buf.Write(h)
	buf.Write(data)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func filled(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// A ComfyUI single file with a VAE and a text encoder bundled: inspect
// lists them, convert --layout diffusers --split-components writes the
// transformer (equal to upstream's diffusers file) and each bundled
// network to a file of its own under its own names.
func TestSplitComponents(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "flux_dev_single.safetensors")
	vae := []stTensor{{"vae.decoder.conv_in.weight", "F32", []int{4, 2, 1, 1}, filled(32, 1)}, {"vae.decoder.conv_in.bias", "F32", []int{4}, filled(16, 2)}}
	te := []stTensor{{"text_encoders.clip_l.transformer.text_model.final_layer_norm.weight", "F32", []int{8}, filled(32, 3)}}
	buildSafetensors(t, src, fixtures.Path(t, "families/tiny/flux/dev.comfyui.safetensors"), append(vae, te...), nil)
	code, out, errs := runCLI(t, "inspect", src, "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	for _, w := range []string{`"layout": "comfyui"`, `"variant": "flux1-dev"`, `"prefix": "vae."`, `"prefix": "text_encoders.clip_l."`} {
		if !strings.Contains(out, w) {
			t.Errorf("inspect lacks %s", w)
		}
	}
	code, out, _ = runCLI(t, "diff", src, "--layout", "original")
	if code != 1 || !strings.Contains(out, "bundled") || !strings.Contains(out, "--split-components") {
		t.Errorf("diff does not explain the bundled networks:\n%s", out)
	}
	dst := filepath.Join(dir, "flux_dev.safetensors")
	code, out, errs = runCLI(t, "convert", src, "--layout", "diffusers", "--split-components", "-o", dst, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"components"`) || !strings.Contains(out, `"kind": "fixable"`) {
		t.Errorf("convert --json: %s", out)
	}
	same(t, dst, fixtures.Path(t, "families/tiny/flux/dev.diffusers.safetensors"))
	for name, want := range map[string][]stTensor{"vae": vae, "clip_l": te} {
		ck, f, err := loader.OpenFile(filepath.Join(dir, "flux_dev."+name+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if len(ck.Tensors) != len(want) {
			t.Fatalf("%s: %d tensors", name, len(ck.Tensors))
		}
		for _, w := range want {
			short := strings.TrimPrefix(strings.TrimPrefix(w.name, "vae."), "text_encoders.clip_l.")
			tn := ck.Tensor(short)
			if tn == nil {
				t.Fatalf("%s: no %s", name, short)
			}
			b, _ := ck.ReadTensor(tn)
			if !bytes.Equal(b, w.data) {
				t.Errorf("%s: %s bytes differ", name, short)
			}
		}
		f.Close()
	}
}

// same compares two files tensor by tensor (name, dtype, shape, bytes).
func same(t *testing.T, a, b string) {
	t.Helper()
	ca, fa, err := loader.OpenFile(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	cb, fb, err := loader.OpenFile(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	if len(ca.Tensors) != len(cb.Tensors) {
		t.Fatalf("%d vs %d tensors", len(ca.Tensors), len(cb.Tensors))
	}
	for _, ta := range ca.Tensors {
		tb := cb.Tensor(ta.Name)
		if tb == nil || tb.DType != ta.DType || fmt.Sprint(tb.Shape) != fmt.Sprint(ta.Shape) {
			t.Fatalf("%s: %v vs %v", ta.Name, ta, tb)
		}
		da, _ := ca.ReadTensor(ta)
		db, _ := cb.ReadTensor(tb)
		if !bytes.Equal(da, db) {
			t.Fatalf("%s: bytes differ", ta.Name)
		}
	}
}

// A bitsandbytes NF4 file (uint8 weights holding two 4-bit values a
// byte, with absmax/quant_map companions) is named as such: detection
// reads the logical shapes, and the diff against the full-precision
// model says "packed 4-bit" instead of a size mismatch.
func TestPackedFourBitFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "flux_dev_nf4.safetensors")
	packed := []stTensor{
		{"img_in.weight", "U8", []int{512, 1}, filled(512, 5)}, // [64, 16] packed two a byte
		{"img_in.weight.absmax", "F32", []int{16}, filled(64, 6)},
		{"img_in.weight.quant_map", "F32", []int{16}, filled(64, 7)},
		{"img_in.weight.quant_state.bitsandbytes__nf4", "U8", []int{100}, filled(100, 8)},
	}
	buildSafetensors(t, src, fixtures.Path(t, "families/tiny/flux/dev.original.safetensors"), packed, map[string]bool{"img_in.weight": true})
	code, out, errs := runCLI(t, "inspect", src, "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	if !strings.Contains(out, `"packed_format": "bitsandbytes NF4"`) || !strings.Contains(out, `"variant": "flux1-dev"`) {
		t.Errorf("inspect: %s", out)
	}
	code, out, _ = runCLI(t, "diff", src, "--layout", "original", "--json")
	var doc struct {
		Verdict  struct{ Kind, Summary string }
		Findings []struct{ Kind, Key, Explain string }
	}
	json.Unmarshal([]byte(out), &doc)
	if code != 1 || doc.Verdict.Kind != "wrong_variant" || !strings.Contains(doc.Verdict.Summary, "packed 4-bit") {
		t.Fatalf("verdict %+v", doc.Verdict)
	}
	for _, f := range doc.Findings {
		if f.Key == "img_in.weight" && !strings.Contains(f.Explain, "packed 4-bit") {
			t.Errorf("img_in.weight: %s", f.Explain)
		}
	}
}

// Bad --layout uses are one-line errors (exit 2) naming the flag.
func TestLayoutBadInput(t *testing.T) {
	dir := t.TempDir()
	src := fixtures.Path(t, "families/tiny/flux/dev.original.safetensors")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"convert", src, "-o", filepath.Join(dir, "a.safetensors"), "--layout", "sideways"}, "--layout sideways"},
		{[]string{"convert", src, "-o", filepath.Join(dir, "b.safetensors"), "--layout", "diffusers", "--arch", "flux1-dev"}, "--layout"},
		{[]string{"diff", fixtures.Path(t, "stdit_tiny/ckpt_plain.pt"), "--layout", "diffusers"}, "no diffusers layout"},
		{[]string{"convert", src, "-o", filepath.Join(dir, "c.safetensors"), "--layout", "comfyui", "--error-text", fixtures.Path(t, "families/errors/flux_fill_into_flux_dev.txt")}, "--layout"},
	} {
		code, out, errs := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 || out != "" {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errs)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed conversions left %d files", len(ents))
	}
}
