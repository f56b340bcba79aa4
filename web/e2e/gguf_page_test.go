package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// convertOnPage clicks Convert, waits for the download named name and
// checks its bytes against `ditkit convert SRC -o name ARGS…` run in
// work; it returns the CLI's bytes.
func convertOnPage(t *testing.T, ctx context.Context, dl, work, name, src string, args ...string) []byte {
	t.Helper()
	js[bool](t, ctx, `(document.getElementById("convert").click(), true)`)
	waitJS(t, ctx, `document.getElementById("saved")?.textContent.startsWith(`+quote(name)+`)`, "the conversion to "+name)
	got := waitDownload(t, filepath.Join(dl, name))
	if _, stderr, code := cli(t, work, append([]string{"convert", src, "-o", name}, args...)...); code != 0 {
		t.Fatalf("ditkit convert %v: %d %s", args, code, stderr)
	}
	want, _ := os.ReadFile(filepath.Join(work, name))
	if !bytes.Equal(got, want) {
		t.Errorf("%s: the page's %d bytes differ from ditkit convert %v's %d", name, len(got), args, len(want))
	}
	return want
}

// convertAPI runs window.ditkit.convert on the dropped file with opts (a
// JS object literal) and returns the Blob's bytes as base64.
func convertAPI(t *testing.T, ctx context.Context, opts string) string {
	t.Helper()
	return js[string](t, ctx, `(async () => { const b = await window.ditkit.convert(document.getElementById("e2e-src").files[0], null, `+opts+`);
		const u8 = new Uint8Array(await b.arrayBuffer()); let s = ""; for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000)); return btoa(s) })()`)
}

// A dropped .gguf (ComfyUI-GGUF's fix_5d file of a Wan model) shows its
// restored 5-D shape with the evidence `ditkit inspect` gives; converting
// it to .safetensors on the page (bf16, as the CLI's default for GGUF
// input) writes the CLI's bytes; converting dit_A to a Q8_0 .gguf on the
// page and through window.ditkit.convert writes the CLI's bytes too.
func TestGGUFOnThePage(t *testing.T) {
	ctx := page(t)
	dl := allowDownloads(t, ctx)
	src := fixtures.Path(t, "gguf_fp8/gguf_conventions/conv_b_fix5d_wan_F16.gguf")
	drop(t, ctx, src)
	waitJS(t, ctx, `!!document.querySelector("#gguf table")`, "the restored shapes")
	rows := js[[][]string](t, ctx, `[...document.querySelectorAll("#gguf tbody tr")].map(tr => [...tr.children].map(td => td.textContent))`)
	out, stderr, code := cli(t, filepath.Dir(src), "inspect", "--json", filepath.Base(src))
	if code != 0 {
		t.Fatalf("ditkit inspect: %d %s", code, stderr)
	}
	var rep struct {
		Tensors []struct {
			Name          string   `json:"name"`
			Shape         []int    `json:"shape"`
			GGUFType      string   `json:"gguf_type"`
			GGUFDims      []uint64 `json:"gguf_dims"`
			ShapeEvidence string   `json:"shape_evidence"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var want [][]string
	for _, tn := range rep.Tensors {
		if tn.ShapeEvidence != "" {
			dims := strings.ReplaceAll(fmt.Sprint(tn.GGUFDims), " ", ", ")
			want = append(want, []string{tn.Name, tn.GGUFType, dims, strings.ReplaceAll(fmt.Sprint(tn.Shape), " ", ", "), tn.ShapeEvidence})
		}
	}
	if len(want) == 0 || fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("page lists restorations\n%q\nCLI's\n%q", rows, want)
	}
	if !strings.Contains(fmt.Sprint(rows), "patch_embedding.weight") || !strings.Contains(fmt.Sprint(rows), "[64, 4, 1, 2, 2]") {
		t.Errorf("the 5-D patch embedding is not listed restored: %q", rows)
	}
	if got := text(t, ctx, "#file-verdict"); !strings.HasPrefix(got, "Wan") || !strings.Contains(got, " gguf · ") {
		t.Errorf("file verdict %q", got)
	}
	shot(t, ctx, "1-gguf-restored")

	// GGUF → .safetensors: bf16 preselected, the CLI's bytes
	if got := text(t, ctx, "#cli"); !strings.HasSuffix(got, "-o conv_b_fix5d_wan_F16-fixed.safetensors --dtype bf16") {
		t.Errorf("CLI line %q", got)
	}
	work := t.TempDir()
	convertOnPage(t, ctx, dl, work, "conv_b_fix5d_wan_F16-fixed.safetensors", src, "--dtype", "bf16")
	// window.ditkit.convert with no dtype: bf16, the CLI's default
	api := convertAPI(t, ctx, "{}")
	if _, stderr, code := cli(t, work, "convert", src, "-o", "default.safetensors"); code != 0 {
		t.Fatalf("ditkit convert: %d %s", code, stderr)
	}
	if want, _ := os.ReadFile(filepath.Join(work, "default.safetensors")); api != b64(want) {
		t.Errorf("ditkit.convert(gguf) differs from ditkit convert's default output")
	}
	shot(t, ctx, "2-gguf-converted")

	// safetensors → Q8_0 .gguf, every tensor whose rows fit quantized
	ckpt := fixtures.Path(t, "dit_A/ckpt.safetensors")
	drop(t, ctx, ckpt)
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "ckpt.safetensors"`, "dit_A's report")
	setSelect(t, ctx, "out-format", "gguf")
	waitJS(t, ctx, `!!document.getElementById("out-quant")`, "the quant choice")
	setSelect(t, ctx, "out-quant", "Q8_0")
	setSelect(t, ctx, "out-threshold", "0")
	waitJS(t, ctx, `document.getElementById("cli").textContent.endsWith("-o ckpt-fixed.gguf --quant Q8_0 --quant-threshold 0")`, "the CLI line")
	wantGGUF := convertOnPage(t, ctx, dl, work, "ckpt-fixed.gguf", ckpt, "--quant", "Q8_0", "--quant-threshold", "0")
	if convertAPI(t, ctx, `{format: "gguf", quant: "Q8_0", quantThreshold: 0}`) != b64(wantGGUF) {
		t.Errorf("ditkit.convert(..., {format: gguf, quant: Q8_0, quantThreshold: 0}) differs from the CLI's .gguf")
	}
	// the same option checks, in the same words
	bad := js[string](t, ctx, `window.ditkit.convert(document.getElementById("e2e-src").files[0], null, {format: "gguf", dtype: "bf16"}).then(() => "", e => String(e))`)
	if !strings.Contains(bad, "--dtype does not apply to a .gguf output") {
		t.Errorf("gguf with a dtype: %q", bad)
	}
	shot(t, ctx, "3-gguf-written")
}

// Converting a 2.7 GB checkpoint to a Q8_0 .gguf on the page shows
// progress and stops on Cancel (the GGUF writer's context); the Go heap
// stays bounded by a tensor's buffers, not the file; window.ditkit.convert
// reports progress and stops on its AbortSignal.
func TestGGUFProgressAndCancel(t *testing.T) {
	ctx := page(t)
	js[bool](t, ctx, `(delete window.showSaveFilePicker, true)`)
	path := filepath.Join(t.TempDir(), "DiT-XL-2-256x256.safetensors")
	writeSparse(t, path, "DiT-XL_2_256", "safetensors")
	drop(t, ctx, path)
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "DiT-XL-2-256x256.safetensors"`, "the report")
	setSelect(t, ctx, "out-format", "gguf")
	waitJS(t, ctx, `!!document.getElementById("out-quant")`, "the quant choice")
	setSelect(t, ctx, "out-quant", "Q8_0")
	js[bool](t, ctx, `(document.getElementById("convert").click(), true)`)
	waitJS(t, ctx, `Number(document.getElementById("progress")?.value) > 48e6 && /MB\/s/.test(document.getElementById("rate").textContent)`, "progress past 48 MB")
	shot(t, ctx, "1-progress")
	heap := js[float64](t, ctx, `window.ditkit.stats().heapSys`)
	written := js[float64](t, ctx, `Number(document.getElementById("progress").value)`)
	t.Logf("%.0f MB written, Go heap %.0f MB", written/1e6, heap/1e6)
	if heap > 1<<30 {
		t.Errorf("the Go heap holds %.0f MB while converting: not bounded by one tensor's buffers", heap/1e6)
	}
	js[bool](t, ctx, `(document.getElementById("cancel").click(), true)`)
	waitJS(t, ctx, `document.querySelector("#error:not([hidden])")?.textContent.includes("cancelled")`, "the cancellation")
	if js[bool](t, ctx, `!!document.getElementById("saved")`) {
		t.Error("a cancelled conversion says it saved")
	}
	shot(t, ctx, "2-cancelled")

	r := js[map[string]any](t, ctx, `(async () => { const ac = new AbortController(); let calls = 0, last = 0;
		try { await window.ditkit.convert(document.getElementById("e2e-src").files[0], null, {format: "gguf", quant: "Q8_0", signal: ac.signal,
			progress: (done, total) => { calls++; last = done; if (done > 16e6) ac.abort() }}); return {err: "", calls, last} }
		catch (e) { return {err: String(e), calls, last} } })()`)
	t.Logf("ditkit.convert with an AbortSignal: %v", r)
	if e, _ := r["err"].(string); !strings.Contains(e, "cancelled") || r["calls"].(float64) < 2 {
		t.Errorf("ditkit.convert aborted: %v", r)
	}
}

// A dropped ComfyUI scaled-fp8 file says its layout and scales; its
// bf16 conversion applies the scales as the CLI does, byte for byte; and
// fp32 → scaled fp8 on the page (dtype fp8 e4m3, scaled) writes the CLI's
// file, through the Result box and window.ditkit.convert alike.
func TestScaledFP8OnThePage(t *testing.T) {
	ctx := page(t)
	dl := allowDownloads(t, ctx)
	dir := fixtures.Path(t, "gguf_fp8/fp8/checkpoints")
	scaled := filepath.Join(dir, "scaled_fp8_comfy.safetensors")
	drop(t, ctx, scaled)
	waitJS(t, ctx, `!!document.getElementById("fp8")`, "the fp8 line")
	out, _, _ := cli(t, dir, "inspect", "--json", "scaled_fp8_comfy.safetensors")
	var rep struct {
		FP8 struct {
			Layout       string `json:"layout"`
			ScaledLayers int    `json:"scaled_layers"`
			FP8Tensors   int    `json:"fp8_tensors"`
		} `json:"fp8"`
	}
	json.Unmarshal([]byte(out), &rep)
	if got, want := text(t, ctx, "#fp8"), fmt.Sprintf("%s fp8: %d fp8 tensors, %d with scales", rep.FP8.Layout, rep.FP8.FP8Tensors, rep.FP8.ScaledLayers); !strings.HasPrefix(got, want) || rep.FP8.ScaledLayers == 0 {
		t.Errorf("fp8 line %q, want it to start %q", got, want)
	}
	setSelect(t, ctx, "out-dtype", "bf16")
	waitJS(t, ctx, `document.getElementById("cli").textContent.endsWith("--dtype bf16")`, "the dtype")
	work := t.TempDir()
	convertOnPage(t, ctx, dl, work, "scaled_fp8_comfy-fixed.safetensors", scaled, "--dtype", "bf16")
	shot(t, ctx, "1-scaled-fp8")

	src := filepath.Join(dir, "source_f32.safetensors")
	drop(t, ctx, src)
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "source_f32.safetensors"`, "the fp32 source")
	setSelect(t, ctx, "out-dtype", "fp8_e4m3")
	waitJS(t, ctx, `!!document.getElementById("out-fp8-scaled")`, "the scaled choice")
	js[bool](t, ctx, `(() => { const c = document.getElementById("out-fp8-scaled"); c.checked = true; c.dispatchEvent(new Event("change", {bubbles: true})); return true })()`)
	waitJS(t, ctx, `document.getElementById("cli").textContent.endsWith("--dtype fp8_e4m3 --fp8-scaled")`, "the CLI line")
	want := convertOnPage(t, ctx, dl, work, "source_f32-fixed.safetensors", src, "--dtype", "fp8_e4m3", "--fp8-scaled")
	if convertAPI(t, ctx, `{dtype: "fp8_e4m3", fp8Scaled: true}`) != b64(want) {
		t.Error("ditkit.convert({dtype: fp8_e4m3, fp8Scaled: true}) differs from the CLI's file")
	}
}

// window.ditkit.forward runs dit_A quantized by `ditkit convert` (Q8_0
// GGUF, scaled fp8 safetensors) on the page's CPU backend, one instance and
// two Web Workers, with the weights kept quantized: within the issue's
// tolerances of PyTorch's fp32 forward, the two paths identical, and the
// weights held in fewer bytes than fp32's.
func TestQuantizedForwardOnThePage(t *testing.T) {
	ctx := page(t)
	dir := fixtures.Path(t, "dit_A")
	work := t.TempDir()
	ref, err := os.ReadFile(filepath.Join(dir, "ref_forward_fp32.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "ref.safetensors"), ref, 0o644)
	cases := []struct {
		name string
		args []string
		tol  float64
	}{
		{"dit_A.Q8_0.gguf", []string{"--quant", "Q8_0"}, 1e-2},
		{"dit_A.fp8.safetensors", []string{"--dtype", "fp8_e4m3", "--fp8-scaled"}, 5e-2},
	}
	names := []string{"ref.safetensors"}
	for _, c := range cases {
		if _, stderr, code := cli(t, work, append([]string{"convert", filepath.Join(dir, "ckpt_plain.pt"), "-o", c.name}, c.args...)...); code != 0 {
			t.Fatalf("ditkit convert %v: %d %s", c.args, code, stderr)
		}
		names = append(names, c.name)
	}
	gpuHarness(t, ctx, work, names...)
	target := "{spec: " + string(fixtures.SpecJSON(t, "dit_A")) + "}"
	want := readTensorsFile(t, work, "ref.safetensors")["out"]
	for _, c := range cases {
		run := func(opts string) (gpuRun, []float32) {
			r, out := gpuCall(t, ctx, fmt.Sprintf("ditkit.forward(__gpuFiles[%q], %s, __gpuFiles[%q], %s)", c.name, target, "ref.safetensors", opts))
			return r, out["out"]
		}
		one, out1 := run("{backend: 'cpu'}")
		if e := relErr(t, out1, want); e > c.tol {
			t.Errorf("%s on one instance: max rel err %.3g vs PyTorch fp32 (tolerance %g)", c.name, e, c.tol)
		} else {
			t.Logf("%s on one instance: max rel err %.2e, weights %.0f bytes", c.name, e, one.Info.WeightBytes)
		}
		if one.Info.WeightBytes <= 0 || one.Info.WeightBytes >= 732800 {
			t.Errorf("%s: weights held in %.0f bytes (dit_A fp32: 732800)", c.name, one.Info.WeightBytes)
		}
		two, out2 := run("{backend: 'cpu', workers: 2}")
		if two.Info.Workers != 2 {
			t.Errorf("%s: workers: 2 ran on %d (%s)", c.name, two.Info.Workers, two.Info.Note)
		}
		if e := relErr(t, out2, out1); e > 1e-6 {
			t.Errorf("%s: 2 workers vs one instance: max rel diff %.3g", c.name, e)
		}
	}
}
