package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// errText1152 is the full-size Open-Sora error: another checkpoint's
// (hidden size 1152) than dit_A's (64).
const errText1152 = "Error(s) in loading state_dict for STDiT:\n\tsize mismatch for x_embedder.proj.weight: copying a param with shape torch.Size([1152, 4, 2, 2]) from checkpoint, the shape in current model is torch.Size([1152, 4, 1, 2, 2])."

// consoleErrors opens the page recording every console error, uncaught
// exception and failed load (a missing favicon is one).
func consoleErrors(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	if skipReason != "" {
		page(t) // skips, saying why
	}
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelT)
	var mu sync.Mutex
	var errs []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate(siteURL)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.ditkit.ready`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("ditkit.ready: %v", err)
	}
	waitJS(t, ctx, `!!document.querySelector("#drop")`, "the drop zone")
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

func viewport(t *testing.T, ctx context.Context, w, h int64) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // a layout pass
}

// inFirstViewport reports whether the element sel is wholly visible in
// the first screen (the page not scrolled).
func inFirstViewport(t *testing.T, ctx context.Context, sel string) bool {
	return js[bool](t, ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false;
		const r = e.getBoundingClientRect(); return window.scrollY === 0 && r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0 })()`, sel))
}

func setErrorText(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	js[bool](t, ctx, `(() => { const r = document.querySelector('input[name=mode][value=error]'); r.checked = true; r.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	waitJS(t, ctx, `!!document.getElementById("errortext")`, "the error text box")
	js[bool](t, ctx, `(() => { const a = document.getElementById("errortext"); a.value = `+quote(text)+`; a.dispatchEvent(new Event("input", {bubbles: true})); return true })()`)
}

// The walk of issue 17, as a new user holding the Open-Sora error goes:
// the demo's STDiT error leads with its verdict in the first screen;
// dit_A with the full-size error text is "a different checkpoint" and
// offers no Convert; a plain pickle calling os.system gets the red banner
// (the report before it stays); a 556-finding comparison renders grouped
// by cause (the page under 6000 px); no width from 360 to 1280 px scrolls
// sideways; the favicon loads and nothing logs an error.
func TestVerdictFirstWalk(t *testing.T) {
	ctx, errors := consoleErrors(t)
	viewport(t, ctx, 1280, 900)
	shot(t, ctx, "0-ready")

	// 1. demo → STDiT error → the verdict, in the first screen
	js[bool](t, ctx, `(document.getElementById("demo").click(), true)`)
	waitJS(t, ctx, `!!document.getElementById("demo-error")`, "the demo's report")
	js[bool](t, ctx, `(document.getElementById("demo-error").click(), true)`)
	waitJS(t, ctx, `!!document.getElementById("verdict")`, "the demo's verdict")
	verdict := text(t, ctx, "#verdict")
	if !strings.HasPrefix(verdict, "partial: the error text lists only 1 key") || !strings.Contains(verdict, "1 step fixes it") {
		t.Errorf("demo verdict %q", verdict)
	}
	if !inFirstViewport(t, ctx, "#verdict") {
		t.Errorf("the demo's verdict is not in the first screen (1280×900)")
	}
	if !inFirstViewport(t, ctx, "#file-verdict") || !strings.HasPrefix(text(t, ctx, "#file-verdict"), "DiT, hidden size 64, 2 blocks") {
		t.Errorf("file verdict %q (in the first screen: %v)", text(t, ctx, "#file-verdict"), inFirstViewport(t, ctx, "#file-verdict"))
	}
	if got := text(t, ctx, "#convert-warning"); !strings.Contains(got, "lists only some keys") {
		t.Errorf("a partial verdict's Convert is not warned: %q", got)
	}
	if !js[bool](t, ctx, `!!document.getElementById("compare-preset")`) {
		t.Errorf("a partial verdict offers no comparison against a preset")
	}
	shot(t, ctx, "1-demo-verdict")

	// 2. dit_A + the 1152 error text → another checkpoint's error: no Convert
	dir := t.TempDir()
	plain := fixtures.Path(t, "dit_A/ckpt_plain.pt")
	drop(t, ctx, plain)
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "ckpt_plain.pt"`, "dit_A's report")
	setErrorText(t, ctx, errText1152)
	js[bool](t, ctx, `(document.getElementById("compare").click(), true)`)
	waitJS(t, ctx, `!!document.getElementById("verdict")`, "the verdict")
	verdict = text(t, ctx, "#verdict")
	os.WriteFile(filepath.Join(dir, "ERROR.txt"), []byte(errText1152), 0o644)
	out, _, _ := cli(t, dir, "diff", "--error-text", "ERROR.txt", plain)
	if first, _, _ := strings.Cut(out, "\n"); verdict != first {
		t.Errorf("page verdict %q, CLI's first line %q", verdict, first)
	}
	if !strings.Contains(verdict, "different checkpoint (hidden size 1152; this file has 64)") {
		t.Errorf("verdict %q does not say the error is another checkpoint's", verdict)
	}
	if js[bool](t, ctx, `!!document.getElementById("convert") || !!document.querySelector(".finding") || !!document.getElementById("plan")`) {
		t.Errorf("another checkpoint's error still offers Convert, findings or a plan")
	}
	if !inFirstViewport(t, ctx, "#verdict") {
		t.Errorf("the verdict is not in the first screen")
	}
	shot(t, ctx, "2-different-checkpoint")

	// 3. a plain pickle that calls os.system → the red banner; the report stays
	evil := filepath.Join(dir, "payload.pkl")
	os.WriteFile(evil, []byte("\x80\x02cos\nsystem\nX\x0b\x00\x00\x00echo ditkit\x85R."), 0o644)
	drop(t, ctx, evil)
	waitJS(t, ctx, `!!document.querySelector("#danger")`, "the red banner")
	if got := text(t, ctx, "#danger"); !strings.HasPrefix(got, "DANGEROUS — ") || !strings.Contains(got, "os.system") {
		t.Errorf("banner %q", got)
	}
	if got := text(t, ctx, "#danger-box .danger-file"); got != "payload.pkl" {
		t.Errorf("the banner names %q, want payload.pkl", got)
	}
	if got := text(t, ctx, "#report h2"); got != "ckpt_plain.pt" {
		t.Errorf("after a failed read the report shows %q, want the previous ckpt_plain.pt", got)
	}
	if !strings.Contains(text(t, ctx, "#status"), "still ckpt_plain.pt's") {
		t.Errorf("status %q does not say whose report stays", text(t, ctx, "#status"))
	}
	if n := js[int](t, ctx, `[...document.querySelectorAll("#files button")].filter(b => b.textContent.startsWith("payload.pkl")).length`); n != 0 {
		t.Errorf("the unreadable file got a tab")
	}
	shot(t, ctx, "3-pickle-banner")

	// 4. a 556-finding comparison renders grouped by cause
	js[bool](t, ctx, `(() => { const r = document.querySelector('input[name=mode][value=preset]'); r.checked = true; r.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	waitJS(t, ctx, `!!document.getElementById("preset")`, "the preset list")
	setSelect(t, ctx, "preset", "STDiT-XL_2_v1.0_16x256x256")
	js[bool](t, ctx, `(document.getElementById("compare").click(), true)`)
	waitJS(t, ctx, `!!document.getElementById("counts")`, "the findings")
	if got := text(t, ctx, "#counts"); !strings.HasPrefix(got, "556 findings: 24 shape mismatch, 525 missing, 7 unexpected") {
		t.Errorf("counts %q", got)
	}
	if got := text(t, ctx, "#verdict"); !strings.HasPrefix(got, "wrong family: ") {
		t.Errorf("verdict %q", got)
	}
	groups := js[int](t, ctx, `document.querySelectorAll("details.finding").length`)
	height := js[float64](t, ctx, `document.documentElement.scrollHeight`)
	t.Logf("556 findings: %d groups, page %0.f px high", groups, height)
	if groups < 2 || groups > 60 || height >= 6000 {
		t.Errorf("556 findings render as %d groups on a %.0f px page (want grouped, under 6000 px)", groups, height)
	}
	if !js[bool](t, ctx, `document.getElementById("convert").disabled`) || !strings.Contains(text(t, ctx, "#convert-warning"), "will not load") {
		t.Errorf("a wrong-family comparison's Convert is neither disabled nor warned")
	}
	// a group opens on demand and lists its keys
	js[bool](t, ctx, `(() => { const d = [...document.querySelectorAll("details.finding")].find(d => d.textContent.includes("494 keys")); d.open = true; return true })()`)
	waitJS(t, ctx, `[...document.querySelectorAll("details.finding[open] ul.keys li")].some(li => li.textContent.includes("and 454 more"))`, "the opened group's keys")
	shot(t, ctx, "4-556-findings")

	// 5. no sideways scrolling from 360 to 1280 px
	for _, w := range []int64{360, 390, 412, 768, 1024, 1280} {
		viewport(t, ctx, w, 844)
		sw := js[float64](t, ctx, `document.documentElement.scrollWidth`)
		if sw > float64(w) {
			over := js[string](t, ctx, fmt.Sprintf(`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > %d).slice(0, 5).map(e => e.tagName + "#" + e.id + "." + e.className).join(", ")`, w))
			t.Errorf("%d px wide: the page scrolls sideways (scrollWidth %.0f); too wide: %s", w, sw, over)
		}
		if w == 390 {
			shot(t, ctx, "5-390px")
		}
	}
	viewport(t, ctx, 1280, 900)

	// the favicon is served and nothing logged an error
	if !js[bool](t, ctx, `fetch(document.querySelector("link[rel=icon]").href).then(r => r.ok && r.headers.get("content-type").startsWith("image/svg+xml"))`) {
		t.Errorf("no favicon")
	}
	for _, e := range errors() {
		t.Errorf("browser error: %s", e)
	}
}
