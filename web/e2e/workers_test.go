package e2e

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// The CPU backend on Web Workers (each its own Go wasm instance with a
// shard of the weights, all-gathering through a SharedArrayBuffer) and
// the wasm SIMD matmul kernel: dit_A's forward, forward_with_cfg and a
// sampler against PyTorch's references; 2 and 3 workers against one,
// bit for bit; the SIMD kernel against the Go tiles; the fallback to one
// worker without SharedArrayBuffer; bench() with workers.
func TestCPUWorkers(t *testing.T) {
	ctx := page(t)
	dir := fixtures.Path(t, "dit_A")
	target := "{spec: " + string(fixtures.SpecJSON(t, "dit_A")) + "}"
	gpuHarness(t, ctx, dir, "ckpt_plain.pt", "ref_forward_fp32.safetensors", "ref_cfg_fp32.safetensors", "ref_sampler_ddim4.safetensors")
	ref := func(name string) map[string][]float32 { return readTensorsFile(t, dir, name) }
	f := func(name string) string { return fmt.Sprintf("__gpuFiles[%q]", name) }
	fw := func(in, opts string) string {
		return fmt.Sprintf("ditkit.forward(%s, %s, %s, %s)", f("ckpt_plain.pt"), target, f(in), opts)
	}
	one, out1 := gpuCall(t, ctx, fw("ref_forward_fp32.safetensors", "{backend: 'cpu'}"))
	t.Logf("one instance: kernel %q, %.1f ms, note %q", one.Info.Kernel, one.Info.MS, one.Info.Note)
	if one.Info.Workers != 1 || !strings.Contains(one.Info.Kernel, "SIMD") {
		t.Errorf("backend cpu: %+v (want 1 worker on the wasm SIMD kernel)", one.Info)
	}
	if e := relErr(t, out1["out"], ref("ref_forward_fp32.safetensors")["out"]); e > 1e-5 {
		t.Errorf("SIMD kernel vs PyTorch: max rel err %.3g", e)
	}
	// The SIMD kernel against the Go tiles.
	goRun, outGo := gpuCall(t, ctx, fw("ref_forward_fp32.safetensors", "{backend: 'cpu', kernel: 'go'}"))
	if goRun.Info.Kernel != "Go" {
		t.Errorf("kernel 'go' ran %q", goRun.Info.Kernel)
	}
	e := relErr(t, out1["out"], outGo["out"])
	t.Logf("SIMD (%s) vs Go tiles: max rel diff %.2e", one.Info.Kernel, e)
	if e > 1e-5 {
		t.Errorf("SIMD kernel vs Go tiles: max rel diff %.3g", e)
	}
	for _, n := range []int{2, 3} {
		r, got := gpuCall(t, ctx, fw("ref_forward_fp32.safetensors", fmt.Sprintf("{backend: 'cpu', workers: %d}", n)))
		t.Logf("%d workers: %.1f ms, kernel %q, memory %q, note %q", n, r.Info.MS, r.Info.Kernel, r.Info.Memory, r.Info.Note)
		if r.Info.Workers != n || r.Info.WeightBytes <= 0 || r.Info.HeapBytes <= 0 {
			t.Errorf("%d workers: %+v", n, r.Info)
		}
		if e := maxRel(got["out"], out1["out"]); e > 1e-6 {
			t.Errorf("%d workers vs one: max rel diff %.3g (want ≤ 1e-6)", n, e)
		}
	}
	r, got := gpuCall(t, ctx, fw("ref_cfg_fp32.safetensors", "{backend: 'cpu', workers: 2, cfgScale: 4}"))
	if e := relErr(t, got["out"], ref("ref_cfg_fp32.safetensors")["out"]); e > 2e-5 || r.Info.Workers != 2 {
		t.Errorf("forward_with_cfg on 2 workers: max rel err %.3g, %+v", e, r.Info)
	}
	smp := fmt.Sprintf("ditkit.sample(%s, %s, %s, {backend: 'cpu', workers: 2, sampler: 'ddim', steps: 4, cfgScale: 4, class: 5})", f("ckpt_plain.pt"), target, f("ref_sampler_ddim4.safetensors"))
	r, got = gpuCall(t, ctx, smp)
	if e := relErr(t, got["x_steps"], ref("ref_sampler_ddim4.safetensors")["x_steps"]); e > 1e-4 || r.Info.Workers != 2 {
		t.Errorf("ddim on 2 workers: x_steps max rel err %.3g, %+v", e, r.Info)
	}
	// workers with another backend is an error, not a silent choice.
	if r := js[gpuRun](t, ctx, "__gpuRun("+fw("ref_forward_fp32.safetensors", "{backend: 'webgpu', workers: 2}")+")"); !strings.Contains(r.Err, "cpu") {
		t.Errorf("workers with backend webgpu: %q", r.Err)
	}
	// bench() on workers reports GFLOP/s.
	type bench struct {
		GFLOPs  float64 `json:"gflops"`
		Workers int     `json:"workers"`
		Info    struct {
			Kernel string `json:"kernel"`
			Memory string `json:"memory"`
		} `json:"info"`
	}
	b := js[bench](t, ctx, `ditkit.bench({backend: 'cpu', workers: 2, preset: 'DiT-XL_2_256', depth: 1, batch: 1, steps: 2})`)
	t.Logf("bench, 2 workers, DiT-XL/2 depth 1: %.2f GFLOP/s (%s; %s)", b.GFLOPs, b.Info.Kernel, b.Info.Memory)
	if b.Workers != 2 || !(b.GFLOPs > 0) {
		t.Errorf("bench on 2 workers: %+v", b)
	}

	// Without SharedArrayBuffer the page runs one instance and says why.
	iso := gpuPage(t, `delete globalThis.SharedArrayBuffer;`, 3*time.Minute)
	gpuHarness(t, iso, dir, "ckpt_plain.pt", "ref_forward_fp32.safetensors")
	r, got = gpuCall(t, iso, fw("ref_forward_fp32.safetensors", "{backend: 'cpu', workers: 2}"))
	if r.Info.Workers != 1 || !strings.Contains(r.Info.Note, "one worker") {
		t.Errorf("without SharedArrayBuffer: %+v", r.Info)
	}
	if e := maxRel(got["out"], out1["out"]); e > 0 {
		t.Errorf("fallback differs from one instance: %.3g", e)
	}
	t.Logf("fallback: %s", r.Info.Note)
}

// maxRel is max|a−b| / max|b|.
func maxRel(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var md, mr float64
	for i := range b {
		md = math.Max(md, math.Abs(float64(a[i])-float64(b[i])))
		mr = math.Max(mr, math.Abs(float64(b[i])))
	}
	return md / mr
}

// TestCPUWorkersBench (DITKIT_BENCH_WORKERS=1, run by ./build.sh bench)
// times a DiT-XL/2-shaped forward (batch 2, bf16 weights, random values;
// DITKIT_BENCH_DEPTH blocks, default 4) on the page's CPU backend: one
// instance with the Go tiles, then the wasm SIMD kernel on 1, 2 and
// navigator.hardwareConcurrency workers; with the browser's CPU seconds
// per step beside the wall time (a shared machine slows the wall time,
// and workers that wait for each other at every exchange most).
func TestCPUWorkersBench(t *testing.T) {
	if os.Getenv("DITKIT_BENCH_WORKERS") == "" {
		t.Skip("set DITKIT_BENCH_WORKERS=1 (./build.sh bench does)")
	}
	ctx := gpuPage(t, "", 60*time.Minute)
	depth := 4
	if v, err := strconv.Atoi(os.Getenv("DITKIT_BENCH_DEPTH")); err == nil && v > 0 {
		depth = v
	}
	cores := js[int](t, ctx, `navigator.hardwareConcurrency`)
	type bench struct {
		Depth, FullDepth, Batch, Workers int
		GFLOPPerStep                     float64 `json:"gflopPerStep"`
		GFLOPs                           float64 `json:"gflops"`
		Info                             struct {
			MSPerStep float64 `json:"msPerStep"`
			Kernel    string  `json:"kernel"`
			Memory    string  `json:"memory"`
			Note      string  `json:"note"`
			Heap      float64 `json:"heapBytes"`
		} `json:"info"`
	}
	runs := []struct{ name, opts string }{
		{"1 instance, Go tiles", "kernel: 'go'"},
		{"1 worker, wasm SIMD", "workers: 1"},
		{"2 workers", "workers: 2"},
	}
	if cores > 2 {
		runs = append(runs, struct{ name, opts string }{fmt.Sprintf("%d workers (hardwareConcurrency)", cores), "workers: 'auto'"})
	}
	var base float64
	for _, r := range runs {
		// Two calls, 2 and 4 steps: the difference in the browser's CPU
		// time is what two steps cost, set-up (building the weights,
		// starting workers) excluded.
		call := func(steps int) (bench, float64) {
			cpu0 := browserCPU()
			b := js[bench](t, ctx, fmt.Sprintf(`ditkit.bench({preset: "DiT-XL_2_256", depth: %d, backend: "cpu", steps: %d, batch: 2, %s})`, depth, steps, r.opts))
			return b, browserCPU() - cpu0
		}
		_, cpu2 := call(2)
		b, cpu4 := call(4)
		cpuStep := (cpu4 - cpu2) / 2
		if r.opts == "workers: 1" {
			base = b.Info.MSPerStep
		}
		speed := ""
		if base > 0 {
			speed = fmt.Sprintf(", %.2fx one worker", base/b.Info.MSPerStep)
		}
		mem := b.Info.Memory
		if mem == "" {
			mem = fmt.Sprintf("Go heap %.0f MB", b.Info.Heap/1e6)
		}
		cpuNote := ""
		if cpuStep > 0 {
			cpuNote = fmt.Sprintf("; browser CPU %.2f s/step (%.1f GFLOP per CPU-second)", cpuStep, b.GFLOPPerStep/cpuStep)
		}
		fmt.Printf("bench cpu-workers: %-34s DiT-XL/2 depth %d, batch %d (%.1f GFLOP/step): %.0f ms/step, %.2f GFLOP/s (%.2f per worker)%s; kernel %s; %s%s; at depth %d ≈ %.1f s/step%s\n",
			r.name, b.Depth, b.Batch, b.GFLOPPerStep, b.Info.MSPerStep, b.GFLOPs, b.GFLOPs/float64(max(1, b.Workers)), speed, b.Info.Kernel, mem, cpuNote,
			b.FullDepth, b.Info.MSPerStep*float64(b.FullDepth)/float64(b.Depth)/1000, noteSuffix(b.Info.Note))
	}
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("bench cpu-workers: load average %s", l)
	}
}

// The preview's "CPU, every core" backend samples the demo on Web Workers
// and draws the same image as one instance on the CPU.
func TestPreviewOnWorkers(t *testing.T) {
	ctx := page(t)
	js[bool](t, ctx, `(document.getElementById("demo").click(), true)`)
	waitJS(t, ctx, `!!document.getElementById("sample")`, "the preview panel")
	setSelect(t, ctx, "pv-steps", "3")
	setSelect(t, ctx, "pv-heads", "4")
	setSelect(t, ctx, "pv-class", "3")
	waitJS(t, ctx, `document.getElementById("pv-steps").value === "3"`, "the steps field")
	pixels := `(() => { const c = document.getElementById("preview-canvas"); return Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data).join(",") })()`
	var imgs []string
	for _, be := range []string{"cpu", "workers"} {
		setSelect(t, ctx, "pv-backend", be)
		js[bool](t, ctx, `(document.getElementById("preview-canvas").classList.remove("shown"), document.getElementById("sample").click(), true)`)
		waitJS(t, ctx, `document.getElementById("preview-canvas").classList.contains("shown") && !document.getElementById("stop-sample")`, "the "+be+" run")
		got := text(t, ctx, "#backend")
		t.Logf("%s: %s", be, got)
		if be == "workers" && !strings.Contains(got, "Web Workers") && !strings.Contains(got, "one worker") {
			t.Errorf("backend line %q", got)
		}
		imgs = append(imgs, js[string](t, ctx, pixels))
	}
	if imgs[0] != imgs[1] {
		t.Error("the workers' image differs from one instance's")
	}
	shot(t, ctx, "sampled-workers")
}

// browserCPU is the CPU time (user + system, seconds) of this test's
// Chromium processes so far, read from /proc (0 where there is none):
// on a machine other jobs share, the steadier measure of what a run cost.
func browserCPU() float64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self := strconv.Itoa(os.Getpid())
	parent := map[string]string{}
	ticks := map[string]float64{}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime stime (fields 14, 15)
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		parent[e.Name()] = f[1]
		u, _ := strconv.ParseFloat(f[11], 64)
		sy, _ := strconv.ParseFloat(f[12], 64)
		ticks[e.Name()] = u + sy
	}
	var total float64
	for pid, tk := range ticks {
		for p := pid; p != "" && p != "0" && p != "1"; p = parent[p] {
			if parent[p] == self {
				total += tk
				break
			}
		}
	}
	return total / 100 // USER_HZ
}
