package e2e

import (
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// Converting a 2.7 GB checkpoint shows progress with MB/s while the page
// stays responsive (the event loop keeps running between chunks), and the
// cancel button stops it: nothing is saved, the error says so in place, and
// the page keeps working.
func TestConvertProgressAndCancel(t *testing.T) {
	ctx := page(t)
	js[bool](t, ctx, `(delete window.showSaveFilePicker, true)`)
	path := filepath.Join(t.TempDir(), "DiT-XL-2-256x256.safetensors")
	writeSparse(t, path, "DiT-XL_2_256", "safetensors")
	drop(t, ctx, path)
	waitJS(t, ctx, `document.getElementById("preset")?.value === "DiT-XL_2_256"`, "the report")
	js[bool](t, ctx, `(document.getElementById("compare").click(), true)`)
	waitJS(t, ctx, `!!document.getElementById("convert")`, "the convert button")
	setSelect(t, ctx, "out-dtype", "bf16")
	waitJS(t, ctx, `document.getElementById("cli").textContent.includes("--dtype bf16")`, "the dtype")
	// record the longest gap between event-loop turns while converting
	js[bool](t, ctx, `(() => { window.__gap = 0; let last = performance.now();
		window.__tick = setInterval(() => { const n = performance.now(); window.__gap = Math.max(window.__gap, n - last); last = n }, 10); return true })()`)
	js[bool](t, ctx, `(document.getElementById("convert").click(), true)`)
	waitJS(t, ctx, `Number(document.getElementById("progress")?.value) > 64e6 && /MB\/s/.test(document.getElementById("rate").textContent)`, "progress past 64 MB")
	shot(t, ctx, "1-progress")
	js[bool](t, ctx, `(document.getElementById("cancel").click(), true)`)
	waitJS(t, ctx, `document.querySelector("#error:not([hidden])")?.textContent.includes("cancelled")`, "the cancellation")
	gap := js[float64](t, ctx, `(clearInterval(window.__tick), window.__gap)`)
	t.Logf("longest event-loop gap while converting: %.0f ms", gap)
	if gap > 1500 {
		t.Errorf("the page froze for %.0f ms while converting", gap)
	}
	if js[bool](t, ctx, `!!document.getElementById("saved")`) {
		t.Error("a cancelled conversion says it saved")
	}
	shot(t, ctx, "2-cancelled")
	drop(t, ctx, fixtures.Path(t, "dit_A/ckpt.safetensors"))
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "ckpt.safetensors"`, "the next report")
}
