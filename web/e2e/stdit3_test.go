package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// Open-Sora 1.2 STDiT3 and 1.3 STDiT-v4 through window.ditkit on WebGPU
// (whole programs: RoPE, qk RMSNorm, windows, caption packing, x_mask) and
// on the CPU: every fp32 forward reference within 1e-4 (WebGPU; 2e-5 on
// the CPU), and Open-Sora 1.2's 4-step rectified flow from its noise file.
func TestWebGPUSTDiT3(t *testing.T) {
	ctx := page(t)
	st := js[gpuStatus](t, ctx, `ditkit.gpu()`)
	want := "webgpu"
	if !st.Available {
		want = "cpu"
		t.Logf("WebGPU is not available in this Chromium (%s): verifying the CPU fallback only", st.Reason)
	}
	for _, c := range []struct{ dir, family string }{{"forward2/stdit3_v12", "stdit3"}, {"forward2/stdit3_v13", "stdit3-v4"}} {
		dir := fixtures.Path(t, c.dir)
		spec := fixtures.ConstructorSpecJSON(t, c.dir, c.family)
		refs := []string{"ref_caption_mask_fp32.safetensors", "ref_null_fp32.safetensors", "ref_caption_mask_xmask_fp32.safetensors"}
		files := append([]string{"model.safetensors"}, refs...)
		if c.family == "stdit3" {
			files = append(files, "ref_sampler_rflow4_fp32.safetensors")
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
		for _, target := range []string{"{spec: " + string(spec) + "}", "null"} {
			for _, r := range refs {
				for _, be := range []string{"webgpu", "cpu"} {
					expr := fmt.Sprintf("ditkit.forward(%s, %s, %s, {backend: %q})", f("model.safetensors"), target, f(r), be)
					run, got := gpuCall(t, ctx, expr)
					e := maxAbsErr(t, got["out"], ref(r)["out"])
					tol := 2e-5
					wantBE := "cpu"
					if be == "webgpu" {
						tol, wantBE = 1e-4, want
					}
					t.Logf("%s %-40s %-6s target %-5.5s %8.1f ms  max abs err %.2e  %s", c.family, r, run.Info.Backend, target, run.Info.MS, e, run.Info.Note)
					if e > tol {
						t.Errorf("%s %s on %s: max abs err %.3g > %g", c.family, r, be, e, tol)
					}
					if run.Info.Backend != wantBE {
						t.Errorf("%s %s: ran on %q, want %q (note %q)", c.family, r, run.Info.Backend, wantBE, run.Info.Note)
					}
				}
			}
		}
		if c.family != "stdit3" {
			continue
		}
		name := "ref_sampler_rflow4_fp32.safetensors"
		for _, be := range []string{"webgpu", "cpu"} {
			expr := fmt.Sprintf("ditkit.sample(%s, null, %s, {backend: %q})", f("model.safetensors"), f(name), be)
			run, got := gpuCall(t, ctx, expr)
			for _, k := range []string{"out", "z_in_steps", "timesteps"} {
				e := relErr(t, got[k], ref(name)[k])
				t.Logf("rflow 4 steps %-6s %-10s max rel err %.2e  (%.1f ms per step)", run.Info.Backend, k, e, run.Info.MSPerStep)
				if e > 1e-4 || (be == "cpu" && e > 1e-5) {
					t.Errorf("rflow on %s: %s max rel err %.3g", be, k, e)
				}
			}
			if be == "webgpu" && run.Info.Backend != want && !strings.Contains(run.Info.Note, "CPU") {
				t.Errorf("rflow ran on %q: %q", run.Info.Backend, run.Info.Note)
			}
		}
	}
}
