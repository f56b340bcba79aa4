package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// window.ditkit.sample runs the same loop as `ditkit sample`: dit_C
// unguided (cfgScale 1) on its reference noise of batch 2 samples one
// class per sample (the file's y [2, 5], or class given as an array or
// "2,5") and matches DiT's p_sample_loop(model.forward) at every step;
// without heads the unpublished hidden size is refused, naming opts.heads.
func TestSampleAPIUnguidedClasses(t *testing.T) {
	ctx := page(t)
	dir := fixtures.Path(t, "dit_C")
	gpuHarness(t, ctx, dir, "ckpt_plain.pt", "ref_sampler_ddpm4.safetensors")
	b, err := os.ReadFile(dir + "/ref_sampler_ddpm4.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	ref := readTensorsBytes(t, b, "ref_sampler_ddpm4.safetensors")
	call := func(opts string) string {
		return fmt.Sprintf("ditkit.sample(__gpuFiles['ckpt_plain.pt'], null, __gpuFiles['ref_sampler_ddpm4.safetensors'], {%s})", opts)
	}
	for _, opts := range []string{"heads: 2, cfgScale: 1", "heads: 2, cfgScale: 1, class: [2, 5], backend: 'cpu'", "heads: 2, cfgScale: 1, class: '2,5'"} {
		r, got := gpuCall(t, ctx, call(opts))
		for _, k := range []string{"out", "x_steps"} {
			e := relErr(t, got[k], ref[k])
			t.Logf("{%s}: %s on %s, max rel err %.2e", opts, k, r.Info.Backend, e)
			if e > 1e-4 {
				t.Errorf("{%s}: %s differs by %.3g relative", opts, k, e)
			}
		}
	}
	r := js[gpuRun](t, ctx, "__gpuRun("+call("cfgScale: 1")+")")
	if !strings.Contains(r.Err, "opts.heads") || !strings.Contains(r.Err, "num_heads") {
		t.Errorf("no heads: %q", r.Err)
	}
}

// The page's class field takes one class per sample too ("1,3": two
// images side by side), and the preview line marks a guessed head count.
func TestPreviewSeveralClasses(t *testing.T) {
	ctx := page(t)
	js[bool](t, ctx, `(document.getElementById("demo").click(), true)`)
	waitJS(t, ctx, `!!document.getElementById("sample")`, "the preview panel")
	setSelect(t, ctx, "pv-steps", "2")
	setSelect(t, ctx, "pv-backend", "cpu")
	js[bool](t, ctx, `(document.getElementById("sample").click(), true)`)
	waitJS(t, ctx, `document.getElementById("preview-canvas").classList.contains("shown")`, "the preview with the guessed heads")
	if got := text(t, ctx, "#backend"); !strings.Contains(got, "16 heads — a guess") {
		t.Errorf("backend line %q does not mark the guessed head count", got)
	}
	setSelect(t, ctx, "pv-heads", "4")
	setSelect(t, ctx, "pv-class", "1,3")
	js[bool](t, ctx, `(document.getElementById("sample").click(), true)`)
	waitJS(t, ctx, `document.getElementById("backend").textContent.startsWith("backend: CPU") && document.getElementById("backend").textContent.includes("4 heads") && !document.getElementById("stop-sample")`, "the two-class preview")
	if w := js[int](t, ctx, `document.getElementById("preview-canvas").width`); w != 128 {
		t.Errorf("canvas %d px wide, want 128 (two 8×8 latents upscaled 8×)", w)
	}
	if got := text(t, ctx, "#backend"); strings.Contains(got, "guess") || !strings.Contains(got, "4 heads") {
		t.Errorf("backend line %q", got)
	}
	shot(t, ctx, "two-classes")
}
