package main

import (
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// `ditkit forward --precision bf16` (and `sample`) stay within the fixtures'
// reduced-precision tolerance, 3e-2 max |a−b|/max|ref|, of PyTorch's fp32
// outputs; on a CPU without AVX512_BF16 this runs the emulation.
func TestPrecisionBF16CLI(t *testing.T) {
	t.Logf("VDPBF16PS kernel: %v", kernels.BF16Native())
	ditSpec, stditSpec := specFile(t, "dit_A"), specFile(t, "stdit_tiny")
	for _, c := range []struct {
		ckpt, spec, ref, cfg string
	}{
		{"dit_A/ckpt_plain.pt", ditSpec, "dit_A/ref_forward_fp32.safetensors", ""},
		{"dit_A/ckpt_plain.pt", ditSpec, "dit_A/ref_cfg_fp32.safetensors", "4"},
		{"dit_A/ckpt_fp16.pt", ditSpec, "dit_A/ref_forward_fp32.safetensors", ""},
		{"stdit_tiny/ckpt_plain.pt", stditSpec, "stdit_tiny/ref_forward_mixed_fp32.safetensors", ""},
	} {
		out := filepath.Join(t.TempDir(), "out.safetensors")
		args := []string{"forward", fixtures.Path(t, c.ckpt), "--spec", c.spec, "--inputs", fixtures.Path(t, c.ref), "-o", out, "--precision", "bf16"}
		if c.cfg != "" {
			args = append(args, "--cfg-scale", c.cfg)
		}
		code, _, errs := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%s %s: exit %d: %s", c.ckpt, c.ref, code, errs)
		}
		e := relErr(t, readF64(t, out, "out"), readF64(t, fixtures.Path(t, c.ref), "out"))
		t.Logf("forward --precision bf16 %s vs %s: max rel error %.3g", c.ckpt, c.ref, e)
		if e > 3e-2 || e < 1e-6 {
			t.Errorf("%s vs %s: max rel error %.3g, want within (1e-6, 3e-2]", c.ckpt, c.ref, e)
		}
	}
	dir := t.TempDir()
	ref := fixtures.Path(t, "dit_A/ref_sampler_ddim4.safetensors")
	lat := filepath.Join(dir, "l.safetensors")
	code, _, errs := runCLI(t, "sample", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", ditSpec, "--sampler", "ddim",
		"--cfg-scale", "4", "--noise", ref, "-o", filepath.Join(dir, "p.png"), "--latent-out", lat, "--precision", "bf16")
	if code != 0 {
		t.Fatalf("sample: exit %d: %s", code, errs)
	}
	e := relErr(t, readF64(t, lat, "out"), readF64(t, ref, "out"))
	t.Logf("sample --precision bf16 (DDIM 4 steps, CFG 4): max rel error %.3g", e)
	if e > 3e-2 {
		t.Errorf("sample --precision bf16: max rel error %.3g > 3e-2", e)
	}
	if code, _, errs := runCLI(t, "forward", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", ditSpec, "--inputs", ref, "-o", lat, "--precision", "fp16"); code == 0 {
		t.Errorf("--precision fp16 accepted: %s", errs)
	}
}
