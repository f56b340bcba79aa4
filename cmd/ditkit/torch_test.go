package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

type torchJob struct {
	File    string           `json:"file"`
	Tensors []map[string]any `json:"tensors"`
	Wrap    string           `json:"wrap,omitempty"`
	Strict  map[string][]int `json:"strict,omitempty"`
}

func runTorch(t *testing.T, jobs []torchJob) {
	t.Helper()
	py := fixtures.TorchPython(t)
	in, _ := json.Marshal(jobs)
	cmd := exec.Command(py, "testdata/torch_check.py")
	cmd.Stdin = bytes.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("torch check: %v\n%s", err, errb.String())
	}
	var res struct {
		OK      bool     `json:"ok"`
		Torch   string   `json:"torch"`
		Errors  []string `json:"errors"`
		Checked int      `json:"checked"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("torch check output %q: %v", out.String(), err)
	}
	if !res.OK {
		t.Fatalf("torch %s: %s", res.Torch, strings.Join(res.Errors, "\n"))
	}
	t.Logf("torch %s loaded %d files, checked %d tensors", res.Torch, len(jobs), res.Checked)
}

// Every fixture converted to .pt (kept, bf16, fp16) loads in real PyTorch
// with weights_only=True and holds the manifest's names, shapes, dtypes and
// bytes (or torch's own casts).
func TestTorchLoadsConvertedFixtures(t *testing.T) {
	dir := t.TempDir()
	var jobs []torchJob
	for _, rel := range fixtures.Checkpoints(t) {
		m := fixtures.ReadManifest(t, rel)
		for _, dt := range []string{"keep", "bf16", "fp16"} {
			out := filepath.Join(dir, strings.NewReplacer("/", "_", ".", "_").Replace(rel)+"_"+dt+".pt")
			code, _, errs := runCLI(t, "convert", fixtures.Path(t, rel), "-o", out, "--fix", "none", "--dtype", dt, "--keep-nonweights")
			if code != 0 {
				t.Fatalf("convert %s --dtype %s: %s", rel, dt, errs)
			}
			job := torchJob{File: out}
			for _, mt := range m.Tensors {
				name := mt.Name
				sum, dtype := mt.SHA256, mt.SafeDType
				isFloat := dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64"
				if dt != "keep" && isFloat {
					key := map[string]string{"bf16": "bfloat16", "fp16": "float16"}[dt]
					sum, dtype = mt.CastSHA256[key], map[string]string{"bf16": "BF16", "fp16": "F16"}[dt]
				}
				job.Tensors = append(job.Tensors, map[string]any{"name": name, "dtype": dtype, "shape": mt.Shape, "sha256": sum})
			}
			// The weights root comes first under its short names; the rest keep full names.
			job.Tensors = weightsFirst(t, rel, job.Tensors)
			jobs = append(jobs, job)
		}
	}
	runTorch(t, jobs)
}

// weightsFirst reorders manifest tensors the way convert writes them: the
// weights root's tensors (prefix removed) first, then the others.
func weightsFirst(t *testing.T, rel string, ts []map[string]any) []map[string]any {
	code, out, _ := runCLI(t, "inspect", fixtures.Path(t, rel), "--json")
	if code != 0 {
		t.Fatal("inspect failed")
	}
	var ins struct {
		Root string `json:"weights_root"`
	}
	json.Unmarshal([]byte(out), &ins)
	if ins.Root == "" {
		return ts
	}
	var w, rest []map[string]any
	for _, x := range ts {
		n := x["name"].(string)
		if strings.HasPrefix(n, ins.Root+"/") {
			x["name"] = strings.TrimPrefix(n, ins.Root+"/")
			w = append(w, x)
		} else {
			rest = append(rest, x)
		}
	}
	return append(w, rest...)
}

// The seed scenario: ckpt_plain.pt converted for the STDiT target loads
// with strict=True into a module shaped like STDiT's weights that a DiT
// checkpoint can provide, and ckpt_stdit_layout.pt converted for DiT loads
// strictly into DiT's exact state dict.
func TestTorchStrictLoadsSeedScenario(t *testing.T) {
	dir := t.TempDir()
	ditSpec := filepath.Join(dir, "dit.json")
	stditSpec := filepath.Join(dir, "stdit.json")
	os.WriteFile(ditSpec, fixtures.SpecJSON(t, "dit_A"), 0o644)
	os.WriteFile(stditSpec, fixtures.SpecJSON(t, "stdit_tiny"), 0o644)

	var shapes struct {
		S map[string][]int `json:"state_dict_shapes"`
	}
	b, _ := os.ReadFile(fixtures.Path(t, "stdit_tiny/state_dict_shapes.json"))
	json.Unmarshal(b, &shapes)
	m := fixtures.ReadManifest(t, "dit_A/ckpt_plain.pt")
	ditShapes := map[string][]int{}
	for _, mt := range m.Tensors {
		ditShapes[mt.Name] = mt.Shape
	}

	toSTDiT := filepath.Join(dir, "dit_for_stdit.pt")
	code, out, errs := runCLI(t, "convert", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", stditSpec, "-o", toSTDiT, "--json")
	if code != 0 {
		t.Fatalf("convert: %s", errs)
	}
	var rep struct {
		Tensors []map[string]any `json:"tensors"`
	}
	json.Unmarshal([]byte(out), &rep)
	// STDiT's state dict minus what must be trained: exactly the keys this file provides.
	provided := map[string][]int{}
	for _, tt := range rep.Tensors {
		name := tt["name"].(string)
		want, ok := shapes.S[name]
		if !ok {
			t.Fatalf("converted file has %s, which STDiT does not", name)
		}
		provided[name] = want
	}
	if len(provided) < 20 {
		t.Fatalf("only %d STDiT keys provided", len(provided))
	}
	toDiT := filepath.Join(dir, "stdit_layout_for_dit.pt")
	if code, _, errs := runCLI(t, "convert", fixtures.Path(t, "dit_A/ckpt_stdit_layout.pt"), "--spec", ditSpec, "-o", toDiT); code != 0 {
		t.Fatalf("convert: %s", errs)
	}
	runTorch(t, []torchJob{
		{File: toSTDiT, Tensors: rep.Tensors, Strict: provided},
		{File: toDiT, Tensors: manifestTensors(t, m), Strict: ditShapes},
	})
}

// manifestTensors lists the manifest's tensors for the torch check. The
// regenerated pos_embed must equal the formula's exact values: those of the
// training checkpoint's raw model (ckpt_plain's are EMA-averaged, an ulp off).
func manifestTensors(t *testing.T, m *fixtures.Manifest) []map[string]any {
	exact := ""
	for _, mt := range fixtures.ReadManifest(t, "dit_A/ckpt_train.pt").Tensors {
		if mt.Name == "model/pos_embed" {
			exact = mt.SHA256
		}
	}
	var out []map[string]any
	for _, mt := range m.Tensors {
		sum := mt.SHA256
		if mt.Name == "pos_embed" {
			sum = exact
		}
		out = append(out, map[string]any{"name": mt.Name, "dtype": mt.SafeDType, "shape": mt.Shape, "sha256": sum})
	}
	return out
}
