package main

import (
	"bytes"
	"encoding/json"
	"github.com/ditkit/ditkit/core/tensor"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// runCLI runs the CLI in-process and returns exit code, stdout, stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInspectJSONMatchesManifests(t *testing.T) {
	for _, rel := range fixtures.Checkpoints(t) {
		code, out, errs := runCLI(t, "inspect", fixtures.Path(t, rel), "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", rel, code, errs)
		}
		var got struct {
			Format      string `json:"format"`
			WeightsRoot string `json:"weights_root"`
			Tensors     []struct {
				Name  string `json:"name"`
				DType string `json:"dtype"`
				Shape []int  `json:"shape"`
			} `json:"tensors"`
			Safety struct {
				Verdict string `json:"verdict"`
				Globals []any  `json:"globals"`
			} `json:"safety"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		m := fixtures.ReadManifest(t, rel)
		if len(got.Tensors) != len(m.Tensors) {
			t.Fatalf("%s: %d tensors, manifest %d", rel, len(got.Tensors), len(m.Tensors))
		}
		for i, mt := range m.Tensors {
			g := got.Tensors[i]
			if g.Name != mt.Name || g.DType != mt.SafeDType || !tensor.EqualShape(g.Shape, mt.Shape) {
				t.Errorf("%s tensor %d: %v, manifest %s %s %v", rel, i, g, mt.Name, mt.SafeDType, mt.Shape)
			}
		}
		wantFormat := map[bool]string{true: "safetensors", false: "torch-zip"}[strings.HasSuffix(rel, ".safetensors")]
		if strings.Contains(rel, "legacy") {
			wantFormat = "torch-legacy"
		}
		if got.Format != wantFormat {
			t.Errorf("%s: format %q, want %q", rel, got.Format, wantFormat)
		}
		if m.LoadsWithWeightsOnly != nil && *m.LoadsWithWeightsOnly != (got.Safety.Verdict == "safe") {
			t.Errorf("%s: verdict %s but weights_only load is %v", rel, got.Safety.Verdict, *m.LoadsWithWeightsOnly)
		}
	}
}

func TestInspectHumanOutput(t *testing.T) {
	code, out, _ := runCLI(t, "inspect", fixtures.Path(t, "dit_A/ckpt_train.pt"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"torch-zip", "weights root: ema", "model", "argparse.Namespace", "BENIGN", "opt/state/1/exp_avg"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	code, out, _ = runCLI(t, "inspect", "--root", "model", fixtures.Path(t, "dit_A/ckpt_train.pt"), "--json")
	if code != 0 || !strings.Contains(out, `"weights_root": "model"`) {
		t.Errorf("--root model: exit %d", code)
	}
}

func TestBadInputsExit2WithOneLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain, _ := os.ReadFile(fixtures.Path(t, "dit_A/ckpt_plain.pt"))
	st, _ := os.ReadFile(fixtures.Path(t, "dit_A/ckpt.safetensors"))
	cases := map[string]string{
		write("empty.pt", nil): "empty file",
		write("text.pt", []byte("hello world, not a checkpoint")):                                                  "not a PyTorch zip",
		write("lfs.safetensors", []byte("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")): "Git LFS pointer",
		write("trunc.pt", plain[:len(plain)/2]):                                                                    "trunc.pt",
		write("trunc.safetensors", st[:2000]):                                                                      "header",
		filepath.Join(dir, "missing.pt"):                                                                           "no such file",
	}
	for path, want := range cases {
		code, out, errs := runCLI(t, "inspect", path, "--json")
		if code != 2 {
			t.Errorf("%s: exit %d, want 2 (stdout %q)", path, code, out)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, want) || !strings.Contains(errs, filepath.Base(path)) {
			t.Errorf("%s: stderr %q should be one line naming the file and containing %q", path, errs, want)
		}
	}
}

func TestHelp(t *testing.T) {
	if code, out, errs := runCLI(t, "--help"); code != 0 || out != "" || !strings.Contains(errs, "inspect") {
		t.Errorf("--help: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, out, errs := runCLI(t, "inspect", "--help"); code != 0 || out != "" || !strings.Contains(errs, "--json") {
		t.Errorf("inspect --help: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if code, _, _ := runCLI(t, "nosuchcommand"); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, errs := runCLI(t, "inspect"); code != 2 || errs == "" {
		t.Errorf("inspect without file: exit %d", code)
	}
}

// inspect --sha256 hashes every tensor (two at a time) to the manifest's
// sha256, for every fixture checkpoint; without the flag no hash is printed.
func TestInspectSHA256MatchesManifests(t *testing.T) {
	for _, rel := range fixtures.Checkpoints(t) {
		code, out, errs := runCLI(t, "inspect", fixtures.Path(t, rel), "--json", "--sha256")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", rel, code, errs)
		}
		var got struct {
			Tensors []struct {
				Name   string `json:"name"`
				SHA256 string `json:"sha256"`
			} `json:"tensors"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		m := fixtures.ReadManifest(t, rel)
		if len(got.Tensors) != len(m.Tensors) {
			t.Fatalf("%s: %d tensors, manifest %d", rel, len(got.Tensors), len(m.Tensors))
		}
		for i, mt := range m.Tensors {
			if g := got.Tensors[i]; g.Name != mt.Name || g.SHA256 != mt.SHA256 {
				t.Errorf("%s %s: sha256 %s, manifest %s", rel, mt.Name, g.SHA256, mt.SHA256)
			}
		}
	}
	if _, out, _ := runCLI(t, "inspect", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--json"); strings.Contains(out, `"sha256"`) {
		t.Error("inspect without --sha256 printed hashes")
	}
}
