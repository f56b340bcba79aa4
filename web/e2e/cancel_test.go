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
	// count event-loop turns (and the longest gap between them) while converting
	js[bool](t, ctx, `(() => { window.__gap = 0; window.__turns = 0; let last = performance.now();
		window.__tick = setInterval(() => { const n = performance.now(); window.__turns++; window.__gap = Math.max(window.__gap, n - last); last = n }, 10); return true })()`)
	js[bool](t, ctx, `(document.getElementById("convert").click(), true)`)
	waitJS(t, ctx, `Number(document.getElementById("progress")?.value) > 64e6 && /MB\/s/.test(document.getElementById("rate").textContent)`, "progress past 64 MB")
	shot(t, ctx, "1-progress")
	written := js[float64](t, ctx, `Number(document.getElementById("progress").value)`)
	turns := js[float64](t, ctx, `(clearInterval(window.__tick), window.__turns)`)
	gap := js[float64](t, ctx, `window.__gap`)
	js[bool](t, ctx, `(document.getElementById("cancel").click(), true)`)
	waitJS(t, ctx, `document.querySelector("#error:not([hidden])")?.textContent.includes("cancelled")`, "the cancellation")
	// Timings depend on the machine's load; the page must give the event
	// loop a turn at least once per chunk it writes (8 MiB), however slow.
	t.Logf("%.0f MB written, %.0f event-loop turns, longest gap %.0f ms", written/1e6, turns, gap)
	if turns < written/(16<<20) {
		t.Errorf("only %.0f event-loop turns while writing %.0f MB: the page froze between chunks", turns, written/1e6)
	}
	if js[bool](t, ctx, `!!document.getElementById("saved")`) {
		t.Error("a cancelled conversion says it saved")
	}
	shot(t, ctx, "2-cancelled")
	drop(t, ctx, fixtures.Path(t, "dit_A/ckpt.safetensors"))
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "ckpt.safetensors"`, "the next report")
}
