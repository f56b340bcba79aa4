package e2e

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// allowDownloads sends the page's downloads to a temporary folder (the
// Blob path: headless Chromium cannot answer a save dialog).
func allowDownloads(t *testing.T, ctx context.Context) string {
	t.Helper()
	dl := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl}); err != nil {
		t.Fatal(err)
	}
	js[bool](t, ctx, `(delete window.showSaveFilePicker, true)`)
	return dl
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// sampleOnCPU samples the preview in steps on the CPU and waits for the
// image.
func sampleOnCPU(t *testing.T, ctx context.Context, steps string) {
	t.Helper()
	setSelect(t, ctx, "pv-steps", steps)
	setSelect(t, ctx, "pv-backend", "cpu")
	waitJS(t, ctx, `document.getElementById("pv-steps").value === `+quote(steps), "the steps field")
	js[bool](t, ctx, `(document.getElementById("preview-canvas").classList.remove("shown"), document.getElementById("sample").click(), true)`)
	waitJS(t, ctx, `document.getElementById("preview-canvas").classList.contains("shown") && !document.getElementById("stop-sample")`, "the preview image")
}

// A dropped Open-Sora 1.0 STDiT file gets a preview: its guessed head
// count highlighted with the reason beside it, the model's null caption
// said, a strip of its frames on the canvas, a caption saying what was
// drawn and how, and a PNG to save equal to the canvas.
func TestPreviewSTDiT(t *testing.T) {
	ctx := page(t)
	dl := allowDownloads(t, ctx)
	drop(t, ctx, fixtures.Path(t, "stdit_tiny/ckpt_plain.pt"))
	waitJS(t, ctx, `!!document.getElementById("sample")`, "the STDiT preview panel")
	if got := js[string](t, ctx, `document.getElementById("pv-heads").closest(".param").className`); got != "param guess" {
		t.Errorf("the guessed head count is shown as %q, want highlighted as a guess", got)
	}
	if got := text(t, ctx, "#pv-params .param.guess .why"); !strings.HasPrefix(got, "a guess — not visible in the shapes") {
		t.Errorf("the guess's reason %q", got)
	}
	if js[bool](t, ctx, `!!document.getElementById("pv-class")`) || !strings.Contains(text(t, ctx, "#pv-conditioning"), "null caption") {
		t.Errorf("STDiT shows a class field or does not say it runs its null caption (%q)", text(t, ctx, "#pv-conditioning"))
	}
	if got := js[string](t, ctx, `document.getElementById("preset").value`); !strings.HasPrefix(got, "STDiT") {
		t.Errorf("the target preset %q does not follow the detected STDiT", got)
	}
	setSelect(t, ctx, "pv-heads", "4")
	waitJS(t, ctx, `document.getElementById("pv-heads").closest(".param").className === "param given"`, "the heads field marked as given")
	sampleOnCPU(t, ctx, "2")
	// [4, 2, 8, 8] latent: two frames side by side, each 8× upscaled
	if w, h := js[int](t, ctx, `document.getElementById("preview-canvas").width`), js[int](t, ctx, `document.getElementById("preview-canvas").height`); w != 128 || h != 64 {
		t.Errorf("canvas %d×%d, want 128×64 (2 frames of 64×64)", w, h)
	}
	caption := text(t, ctx, "#pv-caption")
	for _, want := range []string{"Open-Sora 1.0 STDiT from ckpt_plain.pt", "4 heads", "DDIM, 2 steps", "null caption", "linear latent→RGB approximation", "draws noise"} {
		if !strings.Contains(caption, want) {
			t.Errorf("caption %q lacks %q", caption, want)
		}
	}
	if got := js[string](t, ctx, `document.getElementById("preview-canvas").getAttribute("aria-label")`); !strings.Contains(got, "frames") || !strings.Contains(got, "128×64") {
		t.Errorf("canvas label %q does not say what is drawn", got)
	}
	if got := text(t, ctx, "#backend"); !strings.HasPrefix(got, "backend: CPU") || strings.Contains(got, "starting") || strings.Contains(got, "choosing") {
		t.Errorf("backend line %q", got)
	}
	shot(t, ctx, "stdit-preview")
	js[bool](t, ctx, `(document.getElementById("save-png").click(), true)`)
	img := decodePNG(t, waitDownload(t, filepath.Join(dl, "ckpt_plain-preview.png")))
	if b := img.Bounds(); b.Dx() != 128 || b.Dy() != 64 {
		t.Fatalf("saved PNG %v, want 128×64", b)
	}
	// the PNG holds what the canvas shows
	px := js[[]int](t, ctx, `Array.from(document.getElementById("preview-canvas").getContext("2d").getImageData(0, 0, 128, 64).data)`)
	for i := 0; i < 128*64; i += 97 {
		r, g, b, _ := img.At(i%128, i/128).RGBA()
		if int(r>>8) != px[4*i] || int(g>>8) != px[4*i+1] || int(b>>8) != px[4*i+2] {
			t.Fatalf("pixel (%d, %d): PNG %d,%d,%d, canvas %v", i%128, i/128, r>>8, g>>8, b>>8, px[4*i:4*i+3])
		}
	}
}

// A family the page cannot preview gets one line that says why: a Wan
// file's conditioning is text-encoder output the file does not hold.
func TestPreviewSaysWhyNot(t *testing.T) {
	ctx := page(t)
	drop(t, ctx, fixtures.Path(t, "gguf_fp8/gguf_conventions/conv_b_fix5d_wan_F16.gguf"))
	waitJS(t, ctx, `!!document.getElementById("preview-why")`, "the reason")
	if got := text(t, ctx, "#preview-why"); !strings.HasPrefix(got, "Wan is conditioned on text-encoder embeddings") || strings.Count(got, ".") > 1 {
		t.Errorf("reason %q", got)
	}
	if js[bool](t, ctx, `!!document.getElementById("sample")`) {
		t.Error("a Sample button for a model that cannot run")
	}
}

// A TAESD decoder dropped beside the checkpoint decodes the preview: the
// image equals what `ditkit sample --latent-out` then `ditkit decode`
// draw from the same seed (within rounding: the page's CPU kernels run
// one thread). Kept in the browser's storage with consent, the decoder is
// there after a reload, until the user forgets it.
func TestPreviewDecoderBesideCheckpoint(t *testing.T) {
	ctx := page(t)
	ckpt := fixtures.Path(t, "dit_A/ckpt.safetensors")
	decPath := fixtures.Path(t, "forward2/taesd/taesd_c4/taesd_decoder.safetensors")
	t.Cleanup(func() { // nothing kept outlives the test
		chromedp.Run(ctx, chromedp.Evaluate[bool](`caches.delete("ditkit-decoder-v1")`, chromedp.EvalAwaitPromise))
	})
	drop(t, ctx, ckpt, decPath)
	waitJS(t, ctx, `document.getElementById("pv-decoder")?.textContent.startsWith("taesd_decoder.safetensors (TAESD, 4 latent channels")`, "the decoder in the preview")
	if n := js[int](t, ctx, `document.querySelectorAll("#files button").length`); n != 0 && js[bool](t, ctx, `[...document.querySelectorAll("#files button")].some(b => b.textContent.startsWith("taesd_decoder"))`) {
		t.Errorf("the decoder got a checkpoint tab")
	}
	setSelect(t, ctx, "pv-heads", "4")
	setSelect(t, ctx, "pv-class", "3")
	sampleOnCPU(t, ctx, "2")
	caption := text(t, ctx, "#pv-caption")
	if !strings.Contains(caption, "decoded by TAESD (taesd_decoder.safetensors, 4 latent channels) on CPU") || !strings.Contains(caption, "class 3, guidance scale 4") {
		t.Errorf("caption %q", caption)
	}
	w, h := js[int](t, ctx, `document.getElementById("preview-canvas").width`), js[int](t, ctx, `document.getElementById("preview-canvas").height`)
	if w != 64 || h != 64 {
		t.Fatalf("decoded canvas %d×%d, want 64×64 (an 8×8 latent decoded 8×)", w, h)
	}
	shot(t, ctx, "decoded")

	// the CLI from the same seed: sample's latent, then decode
	dir := t.TempDir()
	if _, stderr, code := cli(t, dir, "sample", ckpt, "--heads", "4", "--steps", "2", "--sampler", "ddim", "--class", "3", "--cfg-scale", "4", "--seed", "0",
		"-o", "s.png", "--latent-out", "lat.safetensors"); code != 0 {
		t.Fatalf("ditkit sample: %d %s", code, stderr)
	}
	if _, stderr, code := cli(t, dir, "decode", "--decoder", decPath, "--latent", "lat.safetensors", "-o", "ref.png"); code != 0 {
		t.Fatalf("ditkit decode: %d %s", code, stderr)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "ref.png"))
	ref := decodePNG(t, b) // [cond; null]: the first image is the page's
	px := js[[]int](t, ctx, `Array.from(document.getElementById("preview-canvas").getContext("2d").getImageData(0, 0, 64, 64).data)`)
	worst := 0
	for y := range 64 {
		for x := range 64 {
			r, g, bl, _ := ref.At(x, y).RGBA()
			i := 4 * (y*64 + x)
			for k, v := range []uint32{r >> 8, g >> 8, bl >> 8} {
				worst = max(worst, abs(int(v)-px[i+k]))
			}
		}
	}
	t.Logf("page vs CLI decoded preview: max pixel difference %d", worst)
	if worst > 2 {
		t.Errorf("the page's decoded preview differs from ditkit sample + decode by %d levels", worst)
	}

	// consent: keep it; after a reload the demo's preview has it; forget it
	js[bool](t, ctx, `(document.getElementById("keep-decoder").click(), true)`)
	waitJS(t, ctx, `document.getElementById("store-status").textContent.startsWith("kept in this browser")`, "the decoder kept")
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.ditkit.ready`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	js[bool](t, ctx, `(document.getElementById("demo").click(), true)`)
	waitJS(t, ctx, `document.getElementById("pv-decoder")?.textContent.startsWith("taesd_decoder.safetensors (TAESD") && !!document.getElementById("forget-decoder")`, "the kept decoder after a reload")
	if got := text(t, ctx, "#store-status"); !strings.Contains(got, "earlier visit") {
		t.Errorf("store status %q", got)
	}
	shot(t, ctx, "kept-decoder")
	js[bool](t, ctx, `(document.getElementById("forget-decoder").click(), true)`)
	waitJS(t, ctx, `document.getElementById("store-status").textContent.startsWith("forgotten")`, "the decoder forgotten")
	if js[bool](t, ctx, `caches.has("ditkit-decoder-v1")`) {
		t.Error("the decoder is still in Cache Storage after forget")
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// Every family the core runs previews from a dropped file alone, through
// the same panel: PixArt (an image, its guessed head count highlighted),
// Open-Sora 1.2 STDiT3 (the rectified flow, a strip of frames) and Latte
// (class-conditional video); PixArt with caption embeddings dropped
// beside it conditions on them, guided, and says so.
func TestPreviewEveryRunnableFamily(t *testing.T) {
	ctx := page(t)
	for _, c := range []struct {
		rel, arch, sampler string
		video, classes     bool
	}{
		{"forward2/pixart_alpha_512/ckpt.pth", "PixArt", "ddim", false, false},
		{"forward2/stdit3_v12/model.safetensors", "Open-Sora 1.2 STDiT3", "rflow", true, false},
		{"forward2/latte_ucf101/ckpt.pt", "Latte", "ddim", true, true},
	} {
		drop(t, ctx, fixtures.Path(t, c.rel))
		name := filepath.Base(c.rel)
		waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === `+quote(name)+` && !!document.getElementById("sample")`, "the preview panel of "+c.rel)
		if got := js[string](t, ctx, `document.getElementById("pv-sampler").value`); got != c.sampler {
			t.Errorf("%s: sampler %q, want the family's %q", c.rel, got, c.sampler)
		}
		if js[bool](t, ctx, `!!document.getElementById("pv-class")`) != c.classes {
			t.Errorf("%s: class field shown: %v", c.rel, !c.classes)
		}
		if g := js[bool](t, ctx, `!!document.querySelector("#pv-params .param.guess #pv-heads")`); !g && c.rel != "forward2/stdit3_v12/model.safetensors" {
			t.Errorf("%s: the guessed head count is not highlighted", c.rel)
		}
		sampleOnCPU(t, ctx, "2")
		caption := text(t, ctx, "#pv-caption")
		if !strings.HasPrefix(caption, c.arch) || !strings.Contains(caption, name) || !strings.Contains(caption, "2 steps") {
			t.Errorf("%s: caption %q", c.rel, caption)
		}
		if label := js[string](t, ctx, `document.getElementById("preview-canvas").getAttribute("aria-label")`); strings.Contains(label, "frames") != c.video {
			t.Errorf("%s: canvas label %q (video %v)", c.rel, label, c.video)
		}
		t.Logf("%s: %s", c.rel, caption)
		shot(t, ctx, safeName(name))
	}

	// PixArt with its own caption embeddings beside it
	dir := fixtures.Path(t, "forward2/pixart_alpha_512")
	drop(t, ctx, dir+"/ckpt.pth", dir+"/ref_caption_mask_fp32.safetensors")
	waitJS(t, ctx, `document.getElementById("pv-conditioning")?.textContent.includes("caption embeddings from ref_caption_mask_fp32.safetensors")`, "the caption embeddings")
	if !js[bool](t, ctx, `!!document.getElementById("pv-cfg")`) {
		t.Error("no guidance field with a caption")
	}
	sampleOnCPU(t, ctx, "2")
	if caption := text(t, ctx, "#pv-caption"); !strings.Contains(caption, "caption embeddings from ref_caption_mask_fp32.safetensors") || !strings.Contains(caption, "guidance scale") {
		t.Errorf("caption %q", caption)
	}
	shot(t, ctx, "pixart-caption")
}
