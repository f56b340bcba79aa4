package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// Unguided sampling of several classes at once is DiT's
// p_sample_loop(model.forward): dit_C (learn_sigma=false, fixed variance)
// sampled with --cfg-scale 1 from its reference noise (batch 2, y [2, 5],
// taken from the file or given as --class 2,5) matches PyTorch, final and
// per-step latents, fp32 and fp64 references.
func TestSampleUnguidedPerSampleClasses(t *testing.T) {
	ck := fixtures.Path(t, "dit_C/ckpt_plain.pt")
	for _, c := range []struct {
		ref   string
		extra []string
	}{
		{"ref_sampler_ddpm4", nil},
		{"ref_sampler_ddpm4", []string{"--class", "2,5"}},
		{"ref_sampler_ddpm4_fp64", nil},
	} {
		dir := t.TempDir()
		ref := fixtures.Path(t, "dit_C/"+c.ref+".safetensors")
		lat := filepath.Join(dir, "l.safetensors")
		args := append([]string{"sample", ck, "--heads", "2", "--cfg-scale", "1", "--noise", ref, "-o", filepath.Join(dir, "p.png"), "--latent-out", lat}, c.extra...)
		if code, _, errs := runCLI(t, args...); code != 0 {
			t.Fatalf("%s %v: exit %d: %s", c.ref, c.extra, code, errs)
		}
		for _, name := range []string{"out", "x_steps"} {
			e := relErr(t, readF64(t, lat, name), readF64(t, ref, name))
			t.Logf("%s %v %s: max rel error %.3g", c.ref, c.extra, name, e)
			if e > 1e-5 {
				t.Errorf("%s %v %s: max rel error %.3g > 1e-5", c.ref, c.extra, name, e)
			}
		}
		if b := readPNG(t, filepath.Join(dir, "p.png")).Bounds(); b.Dx() != 2*8*8 || b.Dy() != 8*8 {
			t.Errorf("preview %v: want both samples side by side (128×64)", b.Bounds())
		}
	}
}

// dit_C's hidden size (48) is not a published one: without --heads the
// CLI refuses, naming the flag; other classes than the file's are used
// when given; bad class lists are refused.
func TestSampleHeadsPolicyAndClassErrors(t *testing.T) {
	ck := fixtures.Path(t, "dit_C/ckpt_plain.pt")
	ref := fixtures.Path(t, "dit_C/ref_sampler_ddpm4.safetensors")
	dir := t.TempDir()
	png := filepath.Join(dir, "p.png")
	code, _, errs := runCLI(t, "sample", ck, "--cfg-scale", "1", "--noise", ref, "-o", png)
	if code != 2 || !strings.Contains(errs, "--heads") || !strings.Contains(errs, "num_heads") || !strings.Contains(errs, "ckpt_plain.pt") {
		t.Errorf("no --heads: exit %d, %q", code, errs)
	}
	code, _, errs = runCLI(t, "forward", ck, "--inputs", fixtures.Path(t, "dit_C/ref_forward_fp32.safetensors"), "-o", filepath.Join(dir, "o.safetensors"))
	if code != 2 || !strings.Contains(errs, "--heads") {
		t.Errorf("forward without --heads: exit %d, %q", code, errs)
	}
	for _, bad := range []string{"1,x", "7", "-1"} {
		code, _, errs := runCLI(t, "sample", ck, "--heads", "2", "--cfg-scale", "1", "--steps", "2", "--class", bad, "-o", png)
		if code != 2 || !strings.Contains(errs, "class") {
			t.Errorf("--class %s: exit %d, %q", bad, code, errs)
		}
	}
	// three classes, no file: three samples side by side; 6 (the null
	// row) samples unconditionally
	if code, _, errs := runCLI(t, "sample", ck, "--heads", "2", "--cfg-scale", "1", "--steps", "2", "--class", "0,3,6", "-o", png); code != 0 {
		t.Fatalf("--class 0,3,6: exit %d: %s", code, errs)
	}
	if b := readPNG(t, png).Bounds(); b.Dx() != 3*8*8 {
		t.Errorf("--class 0,3,6 preview %v", b)
	}
}
