package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// PixArt-α/Σ (PixArt and PixArtMS: masked caption attention, csize/ar
// micro-conditions, Σ's qk_norm) and Latte (spatial/temporal blocks,
// frames-first x) through window.ditkit on WebGPU (whole programs) and on
// the CPU: fp32 forward references within 1e-4 on WebGPU and 1e-5 on the
// CPU, with the caption (and mask) of the inputs file or none (the null
// caption), and PixArt-α's 4-step IDDPM from its noise file (guidance 4.5
// against the null caption).
func TestWebGPUPixArtLatte(t *testing.T) {
	ctx := page(t)
	st := js[gpuStatus](t, ctx, `ditkit.gpu()`)
	want := "webgpu"
	if !st.Available {
		want = "cpu"
		t.Logf("WebGPU is not available in this Chromium (%s): verifying the CPU fallback only", st.Reason)
	}
	pixartRefs := []string{"ref_caption_mask_fp32.safetensors", "ref_caption_nomask_fp32.safetensors", "ref_null_fp32.safetensors"}
	for _, c := range []struct {
		name, family, ckpt string
		extra              map[string]any
		refs               []string
		sampler            string
	}{
		{"pixart_alpha_512", "pixart-alpha", "ckpt.pth", nil, pixartRefs, ""},
		{"pixartms_alpha_1024", "pixart-alpha", "ckpt.pth", map[string]any{"micro_condition": true}, pixartRefs, "ref_sampler_iddpm4_fp32.safetensors"},
		{"pixart_sigma_512", "pixart-sigma", "ckpt.pth", nil, pixartRefs, ""},
		{"pixartms_sigma_1024", "pixart-sigma", "ckpt.pth", nil, pixartRefs, ""},
		{"latte_ucf101", "latte", "ckpt.pt", nil, []string{"ref_forward_fp32.safetensors"}, ""},
	} {
		dir := fixtures.Path(t, "forward2/"+c.name)
		target := "{spec: " + string(fixtures.Forward2Spec(t, c.name, c.family, c.extra)) + "}"
		files := append([]string{c.ckpt}, c.refs...)
		if c.sampler != "" {
			files = append(files, c.sampler)
		}
		gpuHarness(t, ctx, dir, files...)
		ref := func(name string) map[string][]float32 {
			b, err := os.ReadFile(dir + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			return readTensorsBytes(t, b, name)
		}
		f := func(name string) string { return fmt.Sprintf("__gpuFiles[%q]", name) }
		for _, r := range c.refs {
			for _, be := range []string{"webgpu", "cpu"} {
				run, got := gpuCall(t, ctx, fmt.Sprintf("ditkit.forward(%s, %s, %s, {backend: %q})", f(c.ckpt), target, f(r), be))
				e := maxAbsErr(t, got["out"], ref(r)["out"])
				tol, wantBE := 1e-5, "cpu"
				if be == "webgpu" {
					tol, wantBE = 1e-4, want
				}
				t.Logf("%-20s %-36s %-6s %8.1f ms  max abs err %.2e  %s", c.name, r, run.Info.Backend, run.Info.MS, e, run.Info.Note)
				if e > tol {
					t.Errorf("%s %s on %s: max abs err %.3g > %g", c.name, r, be, e, tol)
				}
				if run.Info.Backend != wantBE {
					t.Errorf("%s %s: ran on %q, want %q (note %q)", c.name, r, run.Info.Backend, wantBE, run.Info.Note)
				}
			}
		}
		if c.sampler == "" {
			continue
		}
		for _, be := range []string{"webgpu", "cpu"} {
			expr := fmt.Sprintf("ditkit.sample(%s, %s, %s, {backend: %q, sampler: 'ddpm', cfgScale: 4.5})", f(c.ckpt), target, f(c.sampler), be)
			run, got := gpuCall(t, ctx, expr)
			for _, k := range []string{"out", "x_steps"} {
				e := relErr(t, got[k], ref(c.sampler)[k])
				t.Logf("IDDPM 4 steps %-6s %-8s max rel err %.2e  (%.1f ms per step)  %s", run.Info.Backend, k, e, run.Info.MSPerStep, run.Info.Note)
				if tol := map[string]float64{"webgpu": 1e-4, "cpu": 1e-5}[be]; e > tol {
					t.Errorf("IDDPM on %s: %s max rel err %.3g > %g", be, k, e, tol)
				}
			}
			if wantBE := map[string]string{"webgpu": want, "cpu": "cpu"}[be]; run.Info.Backend != wantBE {
				t.Errorf("IDDPM ran on %q, want %q (%q)", run.Info.Backend, wantBE, run.Info.Note)
			}
		}
	}
}
