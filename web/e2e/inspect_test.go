package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// Dropping a .pt shows the report: format, detected architecture, and the
// tensor table with x_embedder.proj.weight; window.ditkit.inspect resolves to
// exactly what `ditkit inspect --json` prints.
func TestDropShowsReport(t *testing.T) {
	ctx := page(t)
	shot(t, ctx, "1-ready")
	for _, rel := range []string{"dit_A/ckpt_plain.pt", "dit_A/ckpt.safetensors"} {
		path := fixtures.Path(t, rel)
		drop(t, ctx, path)
		name := filepath.Base(path)
		waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === `+quote(name), "the report of "+name)
		waitJS(t, ctx, `[...document.querySelectorAll("#tensors td")].some(td => td.textContent === "x_embedder.proj.weight")`, "the x_embedder row")
		if got := text(t, ctx, "#family"); !strings.HasPrefix(got, "dit") {
			t.Errorf("%s: detected family %q, want dit", rel, got)
		}
		shot(t, ctx, "2-report-"+name)

		// the table filters as one types
		js[bool](t, ctx, `(() => { const s = document.getElementById("search"); s.value = "x_embedder"; s.dispatchEvent(new Event("input", {bubbles: true})); return true })()`)
		waitJS(t, ctx, `document.querySelectorAll("#tensors tbody tr").length === 2`, "the filtered table")
		shot(t, ctx, "3-search-"+name)

		// the JS API returns the CLI's JSON
		got := js[[]byte](t, ctx, `window.ditkit.inspect(document.getElementById("e2e-src").files[0])`)
		want, _, code := cli(t, filepath.Dir(path), "inspect", "--json", name)
		if code != 0 {
			t.Fatalf("cli inspect exit %d", code)
		}
		if eq, err := jsonEqual(got, []byte(want)); err != nil || !eq {
			t.Errorf("%s: ditkit.inspect differs from `ditkit inspect --json` (%v)\npage: %.400s\ncli:  %.400s", rel, err, got, want)
		}
	}
}

// The demo button loads the built-in 2-D-layout DiT.
func TestDemoButton(t *testing.T) {
	ctx := page(t)
	js[bool](t, ctx, `(document.getElementById("demo").click(), true)`)
	waitJS(t, ctx, `[...document.querySelectorAll("#tensors tr")].some(tr => tr.textContent.includes("x_embedder.proj.weight") && tr.textContent.includes("[64, 4, 2, 2]"))`, "the demo's 2-D patch embedding")
	shot(t, ctx, "demo")
}

// A dangerous pickle gets the red banner; a file that is no checkpoint gets
// the CLI's error, in place; the page keeps working afterwards.
func TestHostileFiles(t *testing.T) {
	ctx := page(t)
	dir := t.TempDir()
	hostile := filepath.Join(dir, "hostile.pt")
	if err := os.WriteFile(hostile, hostilePickleZip(t), 0o644); err != nil {
		t.Fatal(err)
	}
	drop(t, ctx, hostile)
	waitJS(t, ctx, `!!document.querySelector("#danger")`, "the danger banner")
	if got := text(t, ctx, "#danger"); !strings.Contains(got, "DANGEROUS") || !strings.Contains(got, "posix.system") {
		t.Errorf("banner %q does not name the danger", got)
	}
	shot(t, ctx, "1-dangerous")
	// asking for a fix plan fails in place, with the CLI's words
	js[bool](t, ctx, `(document.getElementById("compare").click(), true)`)
	waitJS(t, ctx, `!!document.querySelector("#error:not([hidden])")`, "the diff error")
	preset := js[string](t, ctx, `document.getElementById("preset").value`)
	_, stderr, code := cli(t, dir, "diff", "--arch", preset, "hostile.pt")
	if got, want := text(t, ctx, "#error"), strings.TrimSpace(stderr); code != 2 || got != want {
		t.Errorf("page error %q, CLI (exit %d) %q", got, code, want)
	}
	shot(t, ctx, "1b-diff-error")

	garbage := filepath.Join(dir, "garbage.pt")
	os.WriteFile(garbage, []byte("<html>this is a web page saved as .pt, not a checkpoint</html>\n"), 0o644)
	drop(t, ctx, garbage)
	waitJS(t, ctx, `document.querySelector("#error:not([hidden])")?.textContent.includes("garbage.pt")`, "the error")
	_, stderr, code = cli(t, dir, "inspect", "garbage.pt")
	if code != 2 {
		t.Fatalf("cli exit %d, want 2", code)
	}
	if got, want := text(t, ctx, "#error"), strings.TrimSpace(stderr); got != want {
		t.Errorf("page error %q, CLI %q", got, want)
	}
	shot(t, ctx, "2-error")

	// the page survives: a good file still opens
	drop(t, ctx, fixtures.Path(t, "dit_A/ckpt.safetensors"))
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "ckpt.safetensors" && !document.querySelector("#error:not([hidden])")`, "the report after the errors")
	shot(t, ctx, "3-recovered")
}

// quote is s as a JS string literal.
func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
