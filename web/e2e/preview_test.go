package e2e

import (
	"strings"
	"testing"
)

// The preview panel samples the demo DiT on the CPU backend with per-step
// progress and draws the latent preview on the canvas.
func TestPreviewSamplesTheDemo(t *testing.T) {
	ctx := page(t)
	js[bool](t, ctx, `(document.getElementById("demo").click(), true)`)
	waitJS(t, ctx, `!!document.getElementById("sample")`, "the preview panel")
	setSelect(t, ctx, "pv-steps", "4")
	setSelect(t, ctx, "pv-heads", "4") // dit_A has 4 heads; shapes cannot tell
	setSelect(t, ctx, "pv-class", "3")
	waitJS(t, ctx, `document.getElementById("pv-steps").value === "4"`, "the steps field")
	js[bool](t, ctx, `(document.getElementById("sample").click(), true)`)
	waitJS(t, ctx, `document.getElementById("preview-canvas").classList.contains("shown")`, "the preview image")
	if got := text(t, ctx, "#pv-step"); !strings.HasPrefix(got, "step 4 of 4,") || !strings.Contains(got, "ms per step") {
		t.Errorf("progress %q", got)
	}
	if got := text(t, ctx, "#backend"); !(strings.HasPrefix(got, "backend: WebGPU") || strings.HasPrefix(got, "backend: CPU")) || !strings.Contains(got, "4 heads") {
		t.Errorf("backend line %q", got)
	} else {
		t.Log(got)
	}
	// the canvas holds a 64×64 (8× upscaled 8×8 latent) non-blank image (a
	// random model's latents grow large, so colours saturate: few distinct)
	n := js[int](t, ctx, `(() => { const c = document.getElementById("preview-canvas"); const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		const seen = new Set(); for (let i = 0; i < d.length; i += 4) seen.add(d[i] << 16 | d[i+1] << 8 | d[i+2]); return c.width === 64 ? seen.size : -c.width })()`)
	if n < 2 {
		t.Errorf("canvas has %d distinct colours", n)
	}
	shot(t, ctx, "sampled")

	// the same on the CPU backend
	setSelect(t, ctx, "pv-backend", "cpu")
	js[bool](t, ctx, `(document.getElementById("preview-canvas").classList.remove("shown"), document.getElementById("sample").click(), true)`)
	waitJS(t, ctx, `document.getElementById("backend").textContent.startsWith("backend: CPU") && !document.getElementById("stop-sample")`, "the CPU run")
	shot(t, ctx, "sampled-cpu")
}
