package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ditkit/ditkit/core/testfixtures"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// gpuRun is what the e2e harness returns for a ditkit.forward/sample call:
// the run info attached to the Blob and the Blob's bytes.
type gpuRun struct {
	Info struct {
		Backend   string  `json:"backend"`
		Adapter   string  `json:"adapter"`
		Note      string  `json:"note"`
		Memory    string  `json:"memory"`
		MS        float64 `json:"ms"`
		MSPerStep float64 `json:"msPerStep"`
		FirstMS   float64 `json:"firstMs"`
		GFLOPs    float64 `json:"gflops"`
		// The CPU backend (workers_test.go).
		Workers     int     `json:"workers"`
		Kernel      string  `json:"kernel"`
		WeightBytes float64 `json:"weightBytes"`
		HeapBytes   float64 `json:"heapBytes"`
	} `json:"info"`
	Data string `json:"data"`
	Err  string `json:"err"`
}

type gpuStatus struct {
	Available bool   `json:"available"`
	Adapter   string `json:"adapter"`
	Reason    string `json:"reason"`
	Limits    string `json:"limits"`
}

// gpuHarness puts the fixture files into the page as File objects
// (window.__gpuFiles[name]) and defines __gpuRun(promise), which turns a
// Blob result into {info, data (base64)}.
func gpuHarness(t *testing.T, ctx context.Context, dir string, names ...string) {
	t.Helper()
	js[bool](t, ctx, `(() => {
		if (!document.getElementById("e2e-gpu-src")) {
			const i = document.createElement("input");
			i.type = "file"; i.multiple = true; i.id = "e2e-gpu-src"; i.hidden = true;
			document.body.append(i);
		}
		window.__gpuRun = async (p) => {
			try {
				const b = await p;
				const u8 = new Uint8Array(await b.arrayBuffer());
				let s = "";
				for (let i = 0; i < u8.length; i += 32768) s += String.fromCharCode.apply(null, u8.subarray(i, i + 32768));
				return {info: b.ditkit, data: btoa(s), err: ""};
			} catch (e) { return {info: {}, data: "", err: String(e)}; }
		};
		return true })()`)
	var paths []string
	for _, n := range names {
		paths = append(paths, dir+"/"+n)
	}
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#e2e-gpu-src"), paths)); err != nil {
		t.Fatal(err)
	}
	js[bool](t, ctx, `(() => { window.__gpuFiles = {}; for (const f of document.getElementById("e2e-gpu-src").files) window.__gpuFiles[f.name] = f; return true })()`)
}

// gpuCall runs a ditkit call expression through __gpuRun and decodes the
// safetensors it returns.
func gpuCall(t *testing.T, ctx context.Context, expr string) (gpuRun, map[string][]float32) {
	t.Helper()
	r := js[gpuRun](t, ctx, "__gpuRun("+expr+")")
	if r.Err != "" {
		t.Fatalf("%s: %s", expr, r.Err)
	}
	b, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	return r, readTensorsBytes(t, b, "result.safetensors")
}

// readTensorsFile reads every tensor of dir/name as float32.
func readTensorsFile(t *testing.T, dir, name string) map[string][]float32 {
	t.Helper()
	b, err := os.ReadFile(dir + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return readTensorsBytes(t, b, name)
}

func readTensorsBytes(t *testing.T, b []byte, name string) map[string][]float32 {
	t.Helper()
	ck, err := loader.Open(bytes.NewReader(b), int64(len(b)), name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out := map[string][]float32{}
	for _, w := range ck.Weights() {
		d, err := ck.ReadDense(w)
		if err != nil {
			t.Fatal(err)
		}
		if out[w.Name], err = d.Float32s(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// relErr is max|a−b| / max|ref| (the fixtures' tolerance measure).
func relErr(t *testing.T, got, ref []float32) float64 {
	t.Helper()
	if len(got) != len(ref) {
		t.Fatalf("got %d values, reference has %d", len(got), len(ref))
	}
	var md, mr float64
	for i := range ref {
		md = math.Max(md, math.Abs(float64(got[i])-float64(ref[i])))
		mr = math.Max(mr, math.Abs(float64(ref[i])))
	}
	if math.IsNaN(md) {
		return math.Inf(1)
	}
	return md / mr
}

// The WebGPU backend (SwiftShader in headless Chromium) runs dit_A's
// forward pass, forward_with_cfg and both 4-step samplers through
// window.ditkit and matches PyTorch's references; a forced weight split,
// the fp16/bf16 packed-weight paths, and the CPU fallback (no adapter,
// lost device) are checked too. Without WebGPU in this Chromium only the
// fallback is verified.
func TestWebGPUForward(t *testing.T) {
	ctx := page(t)
	dir := fixtures.Path(t, "dit_A")
	spec := string(fixtures.SpecJSON(t, "dit_A"))
	target := "{spec: " + spec + "}"
	gpuHarness(t, ctx, dir, "ckpt_plain.pt", "ckpt_bf16.pt", "ckpt_fp16.pt", "ref_forward_fp32.safetensors",
		"ref_forward_bf16w_fp32.safetensors", "ref_cfg_fp32.safetensors", "ref_sampler_ddpm4.safetensors", "ref_sampler_ddim4.safetensors")
	ref := func(name string) map[string][]float32 { return readTensorsFile(t, dir, name) }
	f := func(name string) string { return fmt.Sprintf("__gpuFiles[%q]", name) }
	st := js[gpuStatus](t, ctx, `ditkit.gpu()`)
	t.Logf("ditkit.gpu(): %+v", st)
	want := "webgpu"
	if !st.Available {
		want = "cpu"
		t.Logf("WebGPU is not available in this Chromium (%s): verifying the CPU fallback only", st.Reason)
	}
	check := func(what, expr string, refName, key string, tol float64) gpuRun {
		t.Helper()
		r, got := gpuCall(t, ctx, expr)
		e := relErr(t, got[key], ref(refName)[key])
		t.Logf("%-34s backend %-6s %8.1f ms  max rel err %.2e (tol %.0e)  %s", what, r.Info.Backend, r.Info.MS, e, tol, r.Info.Note)
		if e > tol {
			t.Errorf("%s: %s differs from %s by %.3g relative (tolerance %g)", what, key, refName, e, tol)
		}
		if r.Info.Backend != want {
			t.Errorf("%s ran on %q, want %q (note %q)", what, r.Info.Backend, want, r.Info.Note)
		}
		if want == "cpu" && !strings.Contains(r.Info.Note, "CPU") {
			t.Errorf("%s: the fallback does not say so: note %q", what, r.Info.Note)
		}
		return r
	}
	fw := func(ck, in, opts string) string {
		return fmt.Sprintf("ditkit.forward(%s, %s, %s, %s)", f(ck), target, f(in), opts)
	}
	r := check("forward fp32", fw("ckpt_plain.pt", "ref_forward_fp32.safetensors", "{backend: 'webgpu'}"), "ref_forward_fp32.safetensors", "out", 1e-4)
	if want == "webgpu" && (r.Info.Adapter == "" || r.Info.Memory == "") {
		t.Errorf("no adapter/memory report: %+v", r.Info)
	}
	check("forward fp32, weights split", fw("ckpt_plain.pt", "ref_forward_fp32.safetensors", "{backend: 'webgpu', splitBytes: 4096}"), "ref_forward_fp32.safetensors", "out", 1e-4)
	if want == "webgpu" { // both matmul kernels, whichever the adapter gets by default
		check("forward fp32, tiled matmul", fw("ckpt_plain.pt", "ref_forward_fp32.safetensors", "{backend: 'webgpu', matmul: 'tiled'}"), "ref_forward_fp32.safetensors", "out", 1e-4)
		check("forward bf16, direct matmul", fw("ckpt_bf16.pt", "ref_forward_bf16w_fp32.safetensors", "{backend: 'webgpu', matmul: 'direct'}"), "ref_forward_bf16w_fp32.safetensors", "out", 1e-4)
		check("forward bf16, tiled matmul", fw("ckpt_bf16.pt", "ref_forward_bf16w_fp32.safetensors", "{backend: 'webgpu', matmul: 'tiled'}"), "ref_forward_bf16w_fp32.safetensors", "out", 1e-4)
	}
	if want == "webgpu" { // the dit.Backend methods: each kernel with its own upload and readback
		check("forward fp32, op by op", fw("ckpt_plain.pt", "ref_forward_fp32.safetensors", "{backend: 'webgpu', perOp: true}"), "ref_forward_fp32.safetensors", "out", 1e-4)
	}
	check("forward bf16 weights", fw("ckpt_bf16.pt", "ref_forward_bf16w_fp32.safetensors", "{backend: 'webgpu'}"), "ref_forward_bf16w_fp32.safetensors", "out", 1e-4)
	// fp16 weights: the GPU's unpacking against the CPU on the same file.
	_, g16 := gpuCall(t, ctx, fw("ckpt_fp16.pt", "ref_forward_fp32.safetensors", "{backend: 'webgpu'}"))
	_, c16 := gpuCall(t, ctx, fw("ckpt_fp16.pt", "ref_forward_fp32.safetensors", "{backend: 'cpu'}"))
	if e := relErr(t, g16["out"], c16["out"]); e > 1e-4 {
		t.Errorf("fp16 weights: GPU vs CPU differ by %.3g relative", e)
	} else {
		t.Logf("forward fp16 weights vs CPU: max rel err %.2e", e)
	}
	check("forward_with_cfg 4.0", fw("ckpt_plain.pt", "ref_cfg_fp32.safetensors", "{backend: 'webgpu', cfgScale: 4}"), "ref_cfg_fp32.safetensors", "out", 2e-4)
	for _, s := range []string{"ddpm", "ddim"} {
		name := "ref_sampler_" + s + "4.safetensors"
		expr := fmt.Sprintf("ditkit.sample(%s, %s, %s, {backend: 'webgpu', sampler: %q, steps: 4, cfgScale: 4, class: 5})", f("ckpt_plain.pt"), target, f(name), s)
		r := check(s+" 4 steps, cfg 4", expr, name, "out", 1e-4)
		_, got := gpuCall(t, ctx, expr)
		if e := relErr(t, got["x_steps"], ref(name)["x_steps"]); e > 1e-4 {
			t.Errorf("%s: x_steps differ by %.3g relative", s, e)
		}
		t.Logf("%s: %.1f ms per step (first %.1f ms)", s, r.Info.MSPerStep, r.Info.FirstMS)
	}
	// A model that does not fit the GPU memory budget runs on the CPU, saying what it needs.
	if want == "webgpu" {
		r, got := gpuCall(t, ctx, fw("ckpt_plain.pt", "ref_forward_fp32.safetensors", "{backend: 'webgpu', gpuMemoryBytes: 100000}"))
		if r.Info.Backend != "cpu" || !strings.Contains(r.Info.Note, "needs") || !strings.Contains(r.Info.Note, "available") {
			t.Errorf("over the memory budget: %+v", r.Info)
		}
		if e := relErr(t, got["out"], ref("ref_forward_fp32.safetensors")["out"]); e > 1e-5 {
			t.Errorf("CPU fallback over budget: rel err %.3g", e)
		}
		t.Logf("over budget: %s", r.Info.Note)
	}
	// The CPU switch.
	if r, _ := gpuCall(t, ctx, fw("ckpt_plain.pt", "ref_forward_fp32.safetensors", "{backend: 'cpu'}")); r.Info.Backend != "cpu" || r.Info.Note != "" {
		t.Errorf("backend 'cpu' ran %+v", r.Info)
	}
	if want == "cpu" {
		return
	}

	// A lost device: the next call falls back to the CPU and says why.
	lost := pageWithGPUHook(t, `window.__e2eDevices = [];
		const orig = GPUAdapter.prototype.requestDevice;
		GPUAdapter.prototype.requestDevice = async function (d) { const dev = await orig.call(this, d); window.__e2eDevices.push(dev); return dev; };`)
	gpuHarness(t, lost, dir, "ckpt_plain.pt", "ref_forward_fp32.safetensors")
	r1 := js[gpuRun](t, lost, "__gpuRun("+fw("ckpt_plain.pt", "ref_forward_fp32.safetensors", "{backend: 'webgpu'}")+")")
	if r1.Info.Backend != "webgpu" {
		t.Fatalf("before the loss: %+v", r1.Info)
	}
	js[bool](t, lost, `(async () => { for (const d of __e2eDevices) d.destroy(); await new Promise(r => setTimeout(r, 100)); return true })()`)
	r2, got := gpuCall(t, lost, fw("ckpt_plain.pt", "ref_forward_fp32.safetensors", "{backend: 'webgpu'}"))
	if r2.Info.Backend != "cpu" || !strings.Contains(r2.Info.Note, "lost") || !strings.Contains(r2.Info.Note, "CPU") {
		t.Errorf("after device.destroy(): %+v", r2.Info)
	}
	if e := relErr(t, got["out"], ref("ref_forward_fp32.safetensors")["out"]); e > 1e-5 {
		t.Errorf("CPU fallback after the loss: rel err %.3g", e)
	}
	if st := js[gpuStatus](t, lost, `ditkit.gpu()`); st.Available || !strings.Contains(st.Reason, "lost") {
		t.Errorf("ditkit.gpu() after the loss: %+v", st)
	}
	t.Logf("lost device: %s", r2.Info.Note)

	// No adapter.
	none := pageWithGPUHook(t, `GPU.prototype.requestAdapter = async function () { return null; };`)
	gpuHarness(t, none, dir, "ckpt_plain.pt", "ref_forward_fp32.safetensors")
	r3, got := gpuCall(t, none, fw("ckpt_plain.pt", "ref_forward_fp32.safetensors", "{}"))
	if r3.Info.Backend != "cpu" || !strings.Contains(r3.Info.Note, "no adapter") {
		t.Errorf("without an adapter: %+v", r3.Info)
	}
	if e := relErr(t, got["out"], ref("ref_forward_fp32.safetensors")["out"]); e > 1e-5 {
		t.Errorf("CPU fallback without adapter: rel err %.3g", e)
	}
	t.Logf("no adapter: %s", r3.Info.Note)
}

// pageWithGPUHook opens the page with script run before any page script
// (to wrap navigator.gpu for fallback tests).
func pageWithGPUHook(t *testing.T, script string) context.Context {
	t.Helper()
	return gpuPage(t, script, 3*time.Minute)
}

// gpuPage opens the page (with an optional script run before the page's
// own) under a deadline of d.
func gpuPage(t *testing.T, script string, d time.Duration) context.Context {
	t.Helper()
	if skipReason != "" {
		testfixtures.Missing(t, "%s", skipReason)
	}
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, d)
	t.Cleanup(cancelT)
	if script == "" {
		script = "/* no hook */"
	}
	if _, err := chromedp.Call(ctx, cdpage.AddScriptToEvaluateOnNewDocument, cdpage.AddScriptToEvaluateOnNewDocumentParams{Source: script}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(siteURL)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.ditkit.ready`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("ditkit.ready: %v", err)
	}
	return ctx
}

// TestWebGPUBench (DITKIT_BENCH_WEBGPU=1, run by ./build.sh bench) times a
// DiT-XL/2-shaped forward (batch 2, as with CFG; bf16 weights) on WebGPU
// and on the CPU (Go wasm) in the same browser run. DITKIT_BENCH_DEPTH
// (default 4: SwiftShader runs a full 28-block step in ~15 min) sets the
// number of blocks; per-step times are also given scaled to the full 28.
func TestWebGPUBench(t *testing.T) {
	if os.Getenv("DITKIT_BENCH_WEBGPU") == "" {
		t.Skip("set DITKIT_BENCH_WEBGPU=1 (./build.sh bench does)")
	}
	ctx := gpuPage(t, "", 60*time.Minute)
	depth := 4
	if v, err := strconv.Atoi(os.Getenv("DITKIT_BENCH_DEPTH")); err == nil && v > 0 {
		depth = v
	}
	st := js[gpuStatus](t, ctx, `ditkit.gpu()`)
	type bench struct {
		Depth        int     `json:"depth"`
		FullDepth    int     `json:"fullDepth"`
		Batch        int     `json:"batch"`
		GFLOPPerStep float64 `json:"gflopPerStep"`
		R            struct {
			Backend   string  `json:"backend"`
			Adapter   string  `json:"adapter"`
			Note      string  `json:"note"`
			MSPerStep float64 `json:"msPerStep"`
			FirstMS   float64 `json:"firstMs"`
			GFLOPs    float64 `json:"gflops"`
		} `json:"info"`
	}
	res := map[string]bench{}
	for _, be := range []string{"webgpu", "cpu"} {
		b := js[bench](t, ctx, fmt.Sprintf(`ditkit.bench({preset: "DiT-XL_2_256", depth: %d, backend: %q, steps: 2, batch: 2, matmul: %q})`, depth, be, os.Getenv("DITKIT_BENCH_MATMUL")))
		res[be] = b
		scale := float64(b.FullDepth) / float64(b.Depth)
		fmt.Printf("bench webgpu: %-6s %s: DiT-XL/2 shapes, depth %d, batch %d (%.1f GFLOP/step): %.0f ms/step (first %.0f ms incl. upload+compile), %.2f GFLOP/s; at depth %d ≈ %.1f s/step%s\n",
			be, orDash(b.R.Adapter), b.Depth, b.Batch, b.GFLOPPerStep, b.R.MSPerStep, b.R.FirstMS, b.R.GFLOPs, b.FullDepth, b.R.MSPerStep*scale/1000, noteSuffix(b.R.Note))
	}
	if g, c := res["webgpu"], res["cpu"]; g.R.Backend == "webgpu" && g.R.MSPerStep > 0 {
		fmt.Printf("bench webgpu: ratio CPU-wasm / WebGPU time per step = %.2fx (adapter: %s)\n", c.R.MSPerStep/g.R.MSPerStep, g.R.Adapter)
	} else {
		fmt.Printf("bench webgpu: WebGPU unavailable (%s)\n", st.Reason)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func noteSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " [" + s + "]"
}
