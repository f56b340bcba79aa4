package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// The file picker opens DiT's training checkpoint; the weights root is
// switchable (ema → model), and converting from the switched root writes
// what `ditkit convert --root model` writes.
func TestFilePickerAndWeightsRoot(t *testing.T) {
	ctx := page(t)
	path := fixtures.Path(t, "dit_A/ckpt_train.pt")
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{path})); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "ckpt_train.pt"`, "the report")
	if got := js[string](t, ctx, `[...document.getElementById("root").options].map(o => o.value).join(",")`); got != "ema,model" {
		t.Fatalf("weights roots %q, want ema,model", got)
	}
	if got := text(t, ctx, "#safety"); !strings.HasPrefix(got, "BENIGN") {
		t.Errorf("safety %q", got)
	}
	setSelect(t, ctx, "root", "model")
	waitJS(t, ctx, `[...document.querySelectorAll("#tensors td")].some(td => td.textContent === "model/x_embedder.proj.weight")`, "the table")
	js[bool](t, ctx, `(document.getElementById("compare").click(), true)`)
	waitJS(t, ctx, `document.getElementById("cli")?.textContent.includes("--root model")`, "the convert options")
	shot(t, ctx, "root-model")

	dl := t.TempDir()
	got := js[string](t, ctx, `(async () => {
		const b = await window.ditkit.convert(document.getElementById("file").files[0], {arch: "DiT-XL_2_256"}, {root: "model", fix: "none", format: "safetensors"});
		const u8 = new Uint8Array(await b.arrayBuffer()); let s = "";
		for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
		return btoa(s) })()`)
	if _, stderr, code := cli(t, dl, "convert", path, "-o", "ckpt_train-fixed.safetensors", "--root", "model", "--arch", "DiT-XL_2_256", "--fix", "none"); code != 0 {
		t.Fatalf("cli: %d %s", code, stderr)
	}
	want, _ := os.ReadFile(filepath.Join(dl, "ckpt_train-fixed.safetensors"))
	if got != b64(want) {
		t.Error("ditkit.convert with root model differs from ditkit convert --root model")
	}
}
