package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// stditErrorText is PyTorch's own error for dit_A loaded into the tiny STDiT.
func stditErrorText(t *testing.T) string {
	b, err := os.ReadFile(fixtures.Path(t, "stdit_tiny/load_mismatch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m["dit_A_plain_into_stdit_strict_false"].Error
}

// The whole flow a user goes through: drop, paste the STDiT error as the
// target, read the x_embedder.proj.weight finding and its explanation,
// apply the plan, download — and the downloaded bytes are exactly what
// `ditkit convert` writes with the same options.
func TestFixAndDownloadEqualsCLI(t *testing.T) {
	errText := stditErrorText(t)
	for _, c := range []struct {
		rel, format, dtype string
	}{
		{"dit_A/ckpt_plain.pt", "safetensors", "keep"},
		{"dit_A/ckpt.safetensors", "pt", "bf16"},
	} {
		t.Run(filepath.Base(c.rel), func(t *testing.T) {
			ctx := page(t)
			dl := t.TempDir()
			if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl}); err != nil {
				t.Fatal(err)
			}
			// headless Chromium cannot answer the save dialog: use the Blob path
			js[bool](t, ctx, `(delete window.showSaveFilePicker, true)`)
			path := fixtures.Path(t, c.rel)
			drop(t, ctx, path)
			waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === `+quote(filepath.Base(path)), "the report")

			js[bool](t, ctx, `(() => { const r = document.querySelector('input[name=mode][value=error]'); r.checked = true; r.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
			waitJS(t, ctx, `!!document.getElementById("errortext")`, "the error text box")
			js[bool](t, ctx, `(() => { const a = document.getElementById("errortext"); a.value = `+quote(errText)+`; a.dispatchEvent(new Event("input", {bubbles: true})); return true })()`)
			shot(t, ctx, "1-target")
			js[bool](t, ctx, `(document.getElementById("compare").click(), true)`)
			waitJS(t, ctx, `[...document.querySelectorAll(".finding")].some(f => f.textContent.includes("x_embedder.proj.weight: expected [64, 4, 1, 2, 2], got [64, 4, 2, 2]") && f.querySelector(".explain").textContent.includes("unsqueezing axis 2"))`, "the x_embedder finding with its explanation")
			if n := js[int](t, ctx, `document.querySelectorAll('#plan input[type=checkbox]:checked').length`); n != 1 {
				t.Errorf("%d plan steps checked, want the 1 step", n)
			}
			shot(t, ctx, "2-diff")

			setSelect(t, ctx, "out-format", c.format)
			setSelect(t, ctx, "out-dtype", c.dtype)
			name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) + "-fixed." + c.format
			waitJS(t, ctx, `document.getElementById("convert").textContent === "Convert & download " + `+quote(name), "the button to name "+name)
			js[bool](t, ctx, `(document.getElementById("convert").click(), true)`)
			waitJS(t, ctx, `!!document.getElementById("saved")`, "the conversion to finish")
			got := waitDownload(t, filepath.Join(dl, name))
			shot(t, ctx, "3-downloaded")

			// the CLI, with the options the page shows
			work := t.TempDir()
			os.WriteFile(filepath.Join(work, "ERROR.txt"), []byte(errText), 0o644)
			cmdline := text(t, ctx, "#cli")
			args := []string{"convert", path, "-o", name, "--error-text", "ERROR.txt", "--fix", "auto"}
			if c.dtype != "keep" {
				args = append(args, "--dtype", c.dtype)
			}
			if !strings.Contains(cmdline, "--fix auto") || (c.dtype != "keep") != strings.Contains(cmdline, "--dtype "+c.dtype) {
				t.Errorf("page shows %q, test runs %v", cmdline, args)
			}
			if _, stderr, code := cli(t, work, args...); code != 0 {
				t.Fatalf("ditkit %v: exit %d: %s", args, code, stderr)
			}
			want, err := os.ReadFile(filepath.Join(work, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("downloaded %s (%d bytes) differs from ditkit convert's (%d bytes)", name, len(got), len(want))
			}

			// window.ditkit.convert gives the same bytes
			api := js[string](t, ctx, fmt.Sprintf(`(async () => {
				const b = await window.ditkit.convert(document.getElementById("e2e-src").files[0], {errorText: %s}, {format: %q, dtype: %q, fix: "auto"});
				const u8 = new Uint8Array(await b.arrayBuffer());
				let s = ""; for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
				return btoa(s) })()`, quote(errText), c.format, c.dtype))
			if api != b64(want) {
				b, _ := base64.StdEncoding.DecodeString(api)
				os.WriteFile(filepath.Join(artifacts, "api-"+name), b, 0o644)
				t.Errorf("ditkit.convert's Blob (%d bytes) differs from ditkit convert's file (%d bytes); saved as %s", len(b), len(want), filepath.Join(artifacts, "api-"+name))
			}
		})
	}
}

// ditkit.diff resolves to what `ditkit diff --json` prints.
func TestDiffAPIEqualsCLI(t *testing.T) {
	ctx := page(t)
	path := fixtures.Path(t, "dit_A/ckpt_plain.pt")
	drop(t, ctx, path)
	got := js[[]byte](t, ctx, `window.ditkit.diff(document.getElementById("e2e-src").files[0], {arch: "STDiT-XL_2_v1.0_16x256x256"})`)
	want, stderr, code := cli(t, filepath.Dir(path), "diff", "--json", "--arch", "STDiT-XL_2_v1.0_16x256x256", filepath.Base(path))
	if code != 1 {
		t.Fatalf("ditkit diff exit %d (want 1: findings): %s", code, stderr)
	}
	if eq, err := jsonEqual(got, []byte(want)); err != nil || !eq {
		t.Errorf("ditkit.diff differs from `ditkit diff --json` (%v)\npage: %.300s\ncli:  %.300s", err, got, want)
	}
}

func setSelect(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	js[bool](t, ctx, fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q; s.dispatchEvent(new Event("change", {bubbles: true})); return true })()`, id, value))
}

func waitDownload(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			if _, err := os.Stat(path + ".crdownload"); os.IsNotExist(err) {
				return b
			}
		}
		if time.Now().After(deadline) {
			ents, _ := os.ReadDir(filepath.Dir(path))
			t.Fatalf("no download %s (folder holds %v)", path, ents)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
