package main

import (
	imagepng "image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// readF64 reads a tensor of a safetensors file as float64 values.
func readF64(t *testing.T, path, name string) []float64 {
	t.Helper()
	ck, f, err := loader.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tt := ck.Tensor(name)
	if tt == nil {
		t.Fatalf("%s has no %s", path, name)
	}
	d, err := ck.ReadDense(tt)
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// relErr is max |a-b| / max |ref|, the fixtures' tolerance measure.
func relErr(t *testing.T, got, ref []float64) float64 {
	t.Helper()
	if len(got) != len(ref) {
		t.Fatalf("%d values, reference has %d", len(got), len(ref))
	}
	maxd, maxr := 0.0, 0.0
	for i := range ref {
		maxd = math.Max(maxd, math.Abs(got[i]-ref[i]))
		maxr = math.Max(maxr, math.Abs(ref[i]))
	}
	return maxd / maxr
}

func specFile(t *testing.T, model string) string {
	p := filepath.Join(t.TempDir(), model+".json")
	if err := os.WriteFile(p, fixtures.SpecJSON(t, model), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// `ditkit forward` reproduces the PyTorch references through the CLI.
func TestForwardCLIMatchesReferences(t *testing.T) {
	dit, stdit := specFile(t, "dit_A"), specFile(t, "stdit_tiny")
	cases := []struct {
		ckpt, spec, ref string
		cfg             string
		tol             float64
	}{
		{"dit_A/ckpt_plain.pt", dit, "dit_A/ref_forward_fp32.safetensors", "", 1e-5},
		{"dit_A/ckpt_plain.pt", dit, "dit_A/ref_forward_fp64.safetensors", "", 1e-5},
		{"dit_A/ckpt_legacy.pt", dit, "dit_A/ref_forward_fp32.safetensors", "", 1e-5},
		{"dit_A/ckpt_train.pt", dit, "dit_A/ref_forward_fp32.safetensors", "", 1e-5},
		{"dit_A/ckpt_plain.pt", dit, "dit_A/ref_cfg_fp32.safetensors", "4", 2e-5},
		{"dit_A/ckpt_bf16.pt", dit, "dit_A/ref_forward_bf16w_fp32.safetensors", "", 1e-5},
		{"stdit_tiny/ckpt_plain.pt", stdit, "stdit_tiny/ref_forward_null_fp32.safetensors", "", 1e-5},
		{"stdit_tiny/ckpt_plain.pt", stdit, "stdit_tiny/ref_forward_mixed_fp32.safetensors", "", 1e-5},
		{"stdit_tiny/ckpt_plain.pt", stdit, "stdit_tiny/ref_forward_masked_fp32.safetensors", "", 1e-5},
	}
	for _, c := range cases {
		out := filepath.Join(t.TempDir(), "out.safetensors")
		args := []string{"forward", fixtures.Path(t, c.ckpt), "--spec", c.spec, "--inputs", fixtures.Path(t, c.ref), "-o", out}
		if c.cfg != "" {
			args = append(args, "--cfg-scale", c.cfg)
		}
		code, _, errs := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%s %s: exit %d: %s", c.ckpt, c.ref, code, errs)
		}
		e := relErr(t, readF64(t, out, "out"), readF64(t, fixtures.Path(t, c.ref), "out"))
		if e > c.tol {
			t.Errorf("%s vs %s: max rel error %.3g > %g", c.ckpt, c.ref, e, c.tol)
		}
	}
}

// `ditkit sample --noise` reproduces the 4-step DDPM and DDIM references,
// final and per-step latents.
func TestSampleCLIMatchesReferences(t *testing.T) {
	dit := specFile(t, "dit_A")
	for _, c := range []struct{ ref, sampler string }{{"ref_sampler_ddpm4", "ddpm"}, {"ref_sampler_ddim4", "ddim"}} {
		dir := t.TempDir()
		ref := fixtures.Path(t, "dit_A/"+c.ref+".safetensors")
		png, lat := filepath.Join(dir, "p.png"), filepath.Join(dir, "l.safetensors")
		// class (5) and steps (4) come from the reference file itself
		code, _, errs := runCLI(t, "sample", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", dit, "--sampler", c.sampler,
			"--cfg-scale", "4", "--noise", ref, "-o", png, "--latent-out", lat)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.ref, code, errs)
		}
		for _, name := range []string{"out", "x_steps"} {
			if e := relErr(t, readF64(t, lat, name), readF64(t, ref, name)); e > 1e-5 {
				t.Errorf("%s %s: max rel error %.3g", c.ref, name, e)
			}
		}
		b, err := os.ReadFile(png)
		if err != nil || len(b) < 100 || string(b[1:4]) != "PNG" {
			t.Errorf("%s: preview is not a PNG", c.ref)
		}
	}
}

func TestForwardBadInputs(t *testing.T) {
	dir := t.TempDir()
	dit := specFile(t, "dit_A")
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, []byte("not a file"), 0o644)
	for _, args := range [][]string{
		{"forward", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", dit, "--inputs", bad, "-o", filepath.Join(dir, "o.safetensors")},
		{"forward", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", dit, "--inputs", fixtures.Path(t, "dit_A/ckpt.safetensors"), "-o", filepath.Join(dir, "o.safetensors")},
		{"forward", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", dit, "-o", filepath.Join(dir, "o.safetensors")},
		{"sample", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", dit, "--sampler", "euler", "-o", filepath.Join(dir, "p.png")},
	} {
		code, _, errs := runCLI(t, args...)
		if code != 2 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args[3:], code, errs)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("files left: %v", left)
	}
}

// STDiT samples a video latent with its null caption and previews a frame strip.
func TestSampleSTDiTFrameStrip(t *testing.T) {
	dir := t.TempDir()
	png, lat := filepath.Join(dir, "strip.png"), filepath.Join(dir, "l.safetensors")
	code, _, errs := runCLI(t, "sample", fixtures.Path(t, "stdit_tiny/ckpt_plain.pt"), "--spec", specFile(t, "stdit_tiny"),
		"--steps", "3", "--sampler", "ddim", "-o", png, "--latent-out", lat)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	f, err := os.Open(png)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := imagepng.DecodeConfig(f)
	if err != nil || cfg.Width != 2*8*8 || cfg.Height != 8*8 {
		t.Errorf("frame strip %dx%d (%v), want 128x64 (2 frames of 8×8 latents, upscaled 8×)", cfg.Width, cfg.Height, err)
	}
	out := readF64(t, lat, "out")
	steps := readF64(t, lat, "x_steps")
	if len(out) != 4*2*8*8 || len(steps) != 3*len(out) {
		t.Fatalf("latent sizes %d %d", len(out), len(steps))
	}
	for i := range out {
		if out[i] != steps[2*len(out)+i] || math.IsNaN(out[i]) {
			t.Fatalf("out is not the last step's latent at %d", i)
		}
	}
}
