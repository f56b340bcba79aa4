package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// stdit3SpecFile writes {"family"} + the fixture's constructor kwargs
// exactly as its config.json holds them.
func stdit3SpecFile(t *testing.T, dir, family string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), family+".json")
	if err := os.WriteFile(p, fixtures.ConstructorSpecJSON(t, dir, family), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func maxAbsF64(t *testing.T, got, ref []float64) float64 {
	t.Helper()
	if len(got) != len(ref) {
		t.Fatalf("%d values, reference has %d", len(got), len(ref))
	}
	var m float64
	for i := range ref {
		m = math.Max(m, math.Abs(got[i]-ref[i]))
	}
	return m
}

// `ditkit forward` reproduces every STDiT3 forward reference (v1.2, v1.3;
// caption+mask, null caption, x_mask; fp32 and fp64) from the inputs the
// reference files hold, with the spec of config.json and with detection.
func TestForwardCLISTDiT3(t *testing.T) {
	for _, c := range []struct{ dir, family string }{{"forward2/stdit3_v12", "stdit3"}, {"forward2/stdit3_v13", "stdit3-v4"}} {
		spec := stdit3SpecFile(t, c.dir, c.family)
		for _, ref := range []string{"caption_mask", "null", "caption_mask_xmask"} {
			for _, prec := range []string{"fp32", "fp64"} {
				for _, withSpec := range []bool{true, false} {
					refPath := fixtures.Path(t, c.dir+"/ref_"+ref+"_"+prec+".safetensors")
					out := filepath.Join(t.TempDir(), "out.safetensors")
					args := []string{"forward", fixtures.Path(t, c.dir+"/model.safetensors"), "--inputs", refPath, "-o", out}
					if withSpec {
						args = append(args, "--spec", spec)
					}
					code, _, errs := runCLI(t, args...)
					if code != 0 {
						t.Fatalf("%s %s_%s: exit %d: %s", c.dir, ref, prec, code, errs)
					}
					tol := 2e-5
					if prec == "fp64" {
						tol = 5e-5
					}
					if e := maxAbsF64(t, readF64(t, out, "out"), readF64(t, refPath, "out")); e > tol {
						t.Errorf("%s %s_%s (spec %v): max abs err %.3g > %g", c.dir, ref, prec, withSpec, e, tol)
					}
				}
			}
		}
	}
}

// `ditkit sample --noise` (the rectified flow, chosen by the family)
// reproduces Open-Sora 1.2's 4-step RFLOW reference from its z0, caption
// and video settings: timesteps, the z of every step and the final z;
// preview does the same run and renders the frame strip.
func TestSampleCLIRFlow(t *testing.T) {
	dir := "forward2/stdit3_v12"
	spec := stdit3SpecFile(t, dir, "stdit3")
	ck := fixtures.Path(t, dir+"/model.safetensors")
	for _, prec := range []string{"fp32", "fp64"} {
		ref := fixtures.Path(t, dir+"/ref_sampler_rflow4_"+prec+".safetensors")
		for _, cmd := range []string{"sample", "preview"} {
			tmp := t.TempDir()
			png, lat := filepath.Join(tmp, "p.png"), filepath.Join(tmp, "l.safetensors")
			code, _, errs := runCLI(t, cmd, ck, "--spec", spec, "--noise", ref, "-o", png, "--latent-out", lat)
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", cmd, prec, code, errs)
			}
			if !strings.Contains(errs, "rectified flow, caption: the --noise file's y_cond/mask, guided (scale 7)") {
				t.Errorf("%s: stderr does not say which caption: %q", cmd, errs)
			}
			for _, name := range []string{"out", "z_in_steps", "timesteps"} {
				if e := relErr(t, readF64(t, lat, name), readF64(t, ref, name)); e > 1e-5 {
					t.Errorf("%s %s %s: max rel err %.3g", cmd, prec, name, e)
				}
			}
			b, err := os.ReadFile(png)
			if err != nil || len(b) < 100 || string(b[1:4]) != "PNG" {
				t.Errorf("%s: preview is not a PNG", cmd)
			}
		}
	}
	// A caption file overrides the noise file's caption; without either,
	// the null caption runs unguided and says so.
	tmp := t.TempDir()
	// two captions, no noise file: two samples
	code, _, errs := runCLI(t, "sample", ck, "--caption", fixtures.Path(t, dir+"/ref_caption_mask_fp32.safetensors"), "--latent-size", "4,2,4,6",
		"--steps", "2", "-o", filepath.Join(tmp, "a.png"), "--latent-out", filepath.Join(tmp, "a.safetensors"))
	if code != 0 || !strings.Contains(errs, "caption: "+fixtures.Path(t, dir+"/ref_caption_mask_fp32.safetensors")) {
		t.Errorf("--caption: exit %d, %q", code, errs)
	} else if out := readF64(t, filepath.Join(tmp, "a.safetensors"), "out"); len(out) != 2*4*2*4*6 {
		t.Errorf("--caption with 2 captions: %d values", len(out))
	}
	code, _, errs = runCLI(t, "preview", fixtures.Path(t, "forward2/stdit3_v13/model.safetensors"), "--steps", "2", "--latent-size", "16,2,4,6",
		"--seed", "5", "-o", filepath.Join(tmp, "b.png"), "--latent-out", filepath.Join(tmp, "b.safetensors"))
	if code != 0 || !strings.Contains(errs, "null caption") || !strings.Contains(errs, "unguided") {
		t.Errorf("preview v1.3 without caption: exit %d, %q", code, errs)
	}
	if code, out, errs := runCLI(t, "preview", "--latent", filepath.Join(tmp, "b.safetensors"), "-o", filepath.Join(tmp, "c.png")); code != 0 || !strings.Contains(out, "[1, 16, 2, 4, 6]") {
		t.Errorf("preview --latent: exit %d, %q %q", code, out, errs)
	}
}

// Bad rectified-flow requests: one line naming the problem, exit 2, no
// output written.
func TestSampleCLIRFlowBadInputs(t *testing.T) {
	dir := t.TempDir()
	ck := fixtures.Path(t, "forward2/stdit3_v12/model.safetensors")
	ref := fixtures.Path(t, "forward2/stdit3_v12/ref_sampler_rflow4_fp32.safetensors")
	png := filepath.Join(dir, "p.png")
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, []byte("not a file"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sample", ck, "--class", "3", "-o", png}, "--class"},
		{[]string{"sample", ck, "--caption", bad, "-o", png}, "bad.safetensors"},
		{[]string{"sample", ck, "--caption", ck, "-o", png}, "no tensor \"y\""},
		{[]string{"sample", ck, "--noise", ck, "-o", png}, "need tensor z0"},
		{[]string{"sample", ck, "--latent-size", "4,x", "-o", png}, "--latent-size"},
		{[]string{"sample", ck, "--latent-size", "16,2,4,4", "-o", png}, "does not fit"},
		{[]string{"sample", ck, "--noise", ref, "--latent-size", "4,2,4,4", "-o", png}, "fixes the latent"},
		{[]string{"sample", ck, "--height", "-3", "-o", png}, "--height"},
		{[]string{"sample", ck, "--rflow-release", "9", "-o", png}, "release"},
		{[]string{"sample", ck, "--sampler", "ddim", "--caption", ref, "-o", png}, "rectified flow"},
	} {
		code, _, errs := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args[2:], code, errs, c.want)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("files left: %v", left)
	}
}

// Inputs a STDiT3 forward cannot run on: one line naming the inputs file
// and what is missing or wrong, exit 2, no output.
func TestForwardCLISTDiT3BadInputs(t *testing.T) {
	dir := t.TempDir()
	ck := fixtures.Path(t, "forward2/stdit3_v12/model.safetensors")
	ref := fixtures.ReadAll(t, fixtures.Path(t, "forward2/stdit3_v12/ref_caption_mask_xmask_fp32.safetensors"))
	write := func(name string, drop string, edit map[string][]float32) string {
		var ts []namedTensor
		for k, d := range ref {
			if k == drop || k == "out" {
				continue
			}
			v, err := d.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			shape := d.Shape
			if e, ok := edit[k]; ok {
				v, shape = e, []int{len(e)}
			}
			ts = append(ts, namedTensor{k, tensor.F32, shape, v})
		}
		p := filepath.Join(dir, name)
		if err := writeSafetensors(p, ts, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(dir, "out.safetensors")
	for _, c := range []struct {
		in, want string
	}{
		{write("nofps.safetensors", "fps", nil), "fps"},
		{write("noheight.safetensors", "height", nil), "height and width"},
		{write("xmask.safetensors", "", map[string][]float32{"x_mask": {1, 0.5}}), "x_mask"},
		{write("xmask2.safetensors", "", map[string][]float32{"x_mask": {1, 0, 1, 1}}), "x_mask"},
		{write("mask.safetensors", "", map[string][]float32{"mask": {1, 1, 1}}), "mask"},
	} {
		code, _, errs := runCLI(t, "forward", ck, "--inputs", c.in, "-o", out)
		if code != 2 || !strings.Contains(errs, filepath.Base(c.in)) || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q (want %q)", filepath.Base(c.in), code, errs, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused forward wrote its output")
	}
}
