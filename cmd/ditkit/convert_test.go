package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// convert --fix none --dtype keep|bf16|fp16 reproduces every manifest hash
// (or torch's cast) in both formats.
func TestConvertReproducesManifests(t *testing.T) {
	dir := t.TempDir()
	for _, rel := range fixtures.Checkpoints(t) {
		m := fixtures.ReadManifest(t, rel)
		for _, ext := range []string{".safetensors", ".pt"} {
			for _, dt := range []string{"keep", "bf16", "fp16"} {
				out := filepath.Join(dir, "o"+ext)
				code, _, errs := runCLI(t, "convert", fixtures.Path(t, rel), "-o", out, "--fix", "none", "--dtype", dt, "--keep-nonweights")
				if code != 0 {
					t.Fatalf("%s → %s %s: %s", rel, ext, dt, errs)
				}
				ck, f, err := loader.OpenFile(out)
				if err != nil {
					t.Fatal(err)
				}
				root := ""
				if code, js, _ := runCLI(t, "inspect", fixtures.Path(t, rel), "--json"); code == 0 {
					var ins struct {
						Root string `json:"weights_root"`
					}
					json.Unmarshal([]byte(js), &ins)
					root = ins.Root
				}
				for _, mt := range m.Tensors {
					name := mt.Name
					if root != "" {
						name = strings.TrimPrefix(name, root+"/")
					}
					tt := ck.Tensor(name)
					if tt == nil {
						t.Fatalf("%s → %s: no %s", rel, ext, name)
					}
					b, err := ck.ReadTensor(tt)
					if err != nil {
						t.Fatal(err)
					}
					sum := sha256.Sum256(b)
					want := mt.SHA256
					if dt != "keep" && tt.DType.IsFloat() {
						want = mt.CastSHA256[map[string]string{"bf16": "bfloat16", "fp16": "float16"}[dt]]
					}
					if hex.EncodeToString(sum[:]) != want {
						t.Errorf("%s → %s %s: %s differs", rel, ext, dt, name)
					}
				}
				f.Close()
			}
		}
	}
}

func TestConvertMetadataAndJSON(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "dit.json")
	os.WriteFile(spec, fixtures.SpecJSON(t, "dit_A"), 0o644)
	out := filepath.Join(dir, "fixed.safetensors")
	code, js, errs := runCLI(t, "convert", fixtures.Path(t, "dit_A/ckpt_ddp.pt"), "--spec", spec, "-o", out, "--json")
	if code != 0 {
		t.Fatal(errs)
	}
	var rep struct {
		Applied []struct {
			ID string `json:"id"`
		} `json:"applied"`
		Clean    *bool `json:"clean"`
		Verified bool  `json:"verified"`
	}
	json.Unmarshal([]byte(js), &rep)
	if len(rep.Applied) != 1 || rep.Applied[0].ID != "strip-prefix:module." || rep.Clean == nil || !*rep.Clean || !rep.Verified {
		t.Fatalf("report: %s", js)
	}
	ck, f, err := loader.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md := ck.Metadata
	if md["format"] != "pt" || md["ditkit_source"] != "ckpt_ddp.pt" || len(md["ditkit_source_header_sha256"]) != 64 || md["ditkit_fixes"] != "strip-prefix:module." {
		t.Errorf("metadata: %v", md)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	// the output diffs clean against the target
	if code, _, _ := runCLI(t, "diff", out, "--spec", spec); code != 0 {
		t.Errorf("diff of the output: exit %d", code)
	}
}

func TestConvertFailuresLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	in := fixtures.Path(t, "dit_A/ckpt_plain.pt")
	cases := [][]string{
		{"convert", in, "-o", filepath.Join(dir, "nodir", "x.pt")},
		{"convert", in, "-o", filepath.Join(dir, "x.txt")},
		{"convert", in, "-o", filepath.Join(dir, "x.pt"), "--arch", "NoSuchPreset"},
		{"convert", in, "-o", filepath.Join(dir, "x.pt"), "--fix", "squeeze:nothing", "--arch", "DiT-S_2_256"},
		{"convert", in, "-o", filepath.Join(dir, "x.safetensors"), "--wrap", "ema"},
		{"convert", in, "-o", filepath.Join(dir, "x.pt"), "--dtype", "int8"},
		{"convert", in, "-o", in},
	}
	for _, args := range cases {
		code, _, errs := runCLI(t, args...)
		if code != 2 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args[2:], code, errs)
		}
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

// --keep-dtype fixed leaves the sin-cos table in fp32 while the rest is cast.
func TestConvertKeepDType(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "k.safetensors")
	if code, _, errs := runCLI(t, "convert", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "-o", out, "--spec", specFile(t, "dit_A"), "--dtype", "bf16", "--keep-dtype", "fixed"); code != 0 {
		t.Fatal(errs)
	}
	ck, f, err := loader.OpenFile(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := fixtures.ReadManifest(t, "dit_A/ckpt_plain.pt")
	for _, mt := range m.Tensors {
		tt := ck.Tensor(mt.Name)
		b, _ := ck.ReadTensor(tt)
		sum := sha256.Sum256(b)
		want, dt := mt.CastSHA256["bfloat16"], "BF16"
		if mt.Name == "pos_embed" {
			want, dt = mt.SHA256, "F32"
		}
		if tt.DType.String() != dt || hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s: %v, bytes match=%v", mt.Name, tt.DType, hex.EncodeToString(sum[:]) == want)
		}
	}
}
