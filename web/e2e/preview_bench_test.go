package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/web/e2e/internal/nativebench/benchout"
)

// TestPreviewBench (DITKIT_BENCH_PREVIEW=1; ./build.sh bench_preview, part
// of bench) prints the preview's cost per family as one markdown table:
// one sampler step (the CFG / guidance batch of 2; caption models on
// their own null caption, random weights of the real shapes) of DiT-XL/2
// 256 px, PixArt-XL/2 512 px and STDiT3-XL/2 at a 240p × 16-frame latent
// on the CPU natively (fp32 and bf16 weights, all threads; a process of
// its own per model: web/e2e/internal/nativebench), in the page's wasm
// (one instance on the SIMD kernel, then Web Workers on every core) and on
// WebGPU (SwiftShader without a GPU): seconds per step, GFLOP/s, the
// weights and the peak memory; then TAESD decodes (4 and 16 latent
// channels, 32×32 and 64×64 latents: 256² and 512² images) natively, in wasm
// and on WebGPU.
// The slow backends run fewer blocks, a smaller batch or latent (the
// "measured" column says which and by how much the time was scaled) and
// their time is scaled by FLOPs to the whole model: a block's cost does not
// depend on its depth, a conv's is proportional to its area. DITKIT_BENCH_PREVIEW_PARTS (native, wasm,
// workers, webgpu, decode; comma-separated, default all) picks parts;
// DITKIT_BENCH_PREVIEW_FULL=1 runs every native row at full depth (STDiT3
// then takes minutes a step). No time is asserted.
func TestPreviewBench(t *testing.T) {
	if os.Getenv("DITKIT_BENCH_PREVIEW") == "" {
		t.Skip("set DITKIT_BENCH_PREVIEW=1 (./build.sh bench_preview does)")
	}
	begin := time.Now()
	parts := map[string]bool{}
	for _, p := range strings.Split(envOr("DITKIT_BENCH_PREVIEW_PARTS", "native,wasm,workers,webgpu,decode"), ",") {
		parts[strings.TrimSpace(p)] = true
	}
	fmt.Printf("bench preview: %s; load average %s at the start\n", machine(), loadAvg())
	b := &previewBench{t: t}
	b.native = filepath.Join(t.TempDir(), "nativebench")
	if err := goCmd(nil, "build", "-o", b.native, "./web/e2e/internal/nativebench"); err != nil {
		t.Fatal(err)
	}
	full := os.Getenv("DITKIT_BENCH_PREVIEW_FULL") != ""
	for _, m := range previewModels {
		b.wholeFLOPs(m)
		if parts["native"] {
			for _, dt := range []string{"f32", "bf16"} {
				at := m.native
				if full {
					at.depth = 0
				}
				b.nativeModel(m, dt, at)
			}
		}
	}
	if parts["decode"] {
		b.nativeDecodes()
	}
	if parts["wasm"] || parts["workers"] || parts["webgpu"] || parts["decode"] {
		b.ctx = gpuPage(t, "", 60*time.Minute)
		fmt.Printf("bench preview: %s, navigator.hardwareConcurrency %d\n", js[string](t, b.ctx, `navigator.userAgent.match(/(Headless)?Chrom(e|ium)\/[0-9.]+/)[0]`), js[int](t, b.ctx, `navigator.hardwareConcurrency`))
		st := js[gpuStatus](t, b.ctx, `ditkit.gpu()`)
		b.gpuWhy = st.Reason
		for _, m := range previewModels {
			if parts["wasm"] {
				b.pageModel(m, "CPU wasm, 1 instance", "backend: 'cpu'", m.wasm)
			}
			if parts["workers"] {
				b.pageModel(m, "CPU wasm, Web Workers", "backend: 'cpu', workers: 'auto'", m.wasm)
			}
			if parts["webgpu"] && b.gpuWhy == "" {
				if m.gpuWarm != nil {
					b.call(m, "backend: 'webgpu'", *m.gpuWarm) // compiles the pipelines
				}
				b.pageModel(m, "WebGPU", "backend: 'webgpu'", m.gpu)
			}
		}
		if parts["webgpu"] && b.gpuWhy != "" {
			fmt.Printf("bench preview: WebGPU unavailable (%s): no WebGPU rows\n", b.gpuWhy)
		}
		if parts["decode"] {
			b.pageDecodes(parts["webgpu"] && b.gpuWhy == "")
		}
	}
	b.print()
	fmt.Printf("bench preview: load average %s at the end; %.1f min in all\n", loadAvg(), time.Since(begin).Minutes())
}

// runAt is how a backend runs a model: blocks (0: all), batch, timed
// steps (the first apart when more than one), latent (nil: the model's).
type runAt struct {
	depth, batch, steps int
	latent              []int
}

type previewModel struct {
	name, preset string
	latent       []int // the sampler's latent (nil: the preset's)
	native       runAt
	wasm         runAt // one instance and the workers
	gpu          runAt
	gpuWarm      *runAt // a cheap call first when gpu times one step
}

// previewModels: what each backend runs is sized to keep the whole bench
// near 4 minutes on 2 cores with SwiftShader (~1 GFLOP/s) as the GPU.
var previewModels = []previewModel{
	{name: "DiT-XL/2 256 px", preset: "DiT-XL_2_256",
		native: runAt{0, 2, 3, nil}, wasm: runAt{4, 2, 2, nil},
		gpu: runAt{1, 1, 1, nil}, gpuWarm: &runAt{1, 1, 1, []int{4, 4, 4}}},
	{name: "PixArt-XL/2 512 px", preset: "PixArt-XL_2-512_alpha",
		native: runAt{7, 2, 2, nil}, wasm: runAt{1, 2, 2, nil},
		gpu: runAt{1, 1, 1, []int{4, 32, 32}}, gpuWarm: &runAt{1, 1, 1, []int{4, 4, 4}}},
	{name: "STDiT3-XL/2 240p × 16 frames", preset: "STDiT3-XL_2_v1.2", latent: []int{4, 16, 30, 53},
		native: runAt{2, 2, 1, nil}, wasm: runAt{1, 1, 1, nil},
		gpu: runAt{1, 1, 1, []int{4, 2, 16, 26}}, gpuWarm: &runAt{1, 1, 1, []int{4, 1, 4, 4}}},
}

// benchRow is one line of the table.
type benchRow struct {
	model, backend, measured string
	sStep, gflops            float64 // at the whole model's size (scaled when scale ≠ 1); GFLOP/s as measured
	scale                    float64
	cpuS                     float64 // native: CPU seconds a step, at the measured size
	weights                  int64   // the whole model's
	memory                   string
	err                      string
}

type previewBench struct {
	t      *testing.T
	ctx    context.Context
	native string // the nativebench binary
	gpuWhy string // why WebGPU is unavailable ("" when it is)
	whole  map[string]float64
	rows   []benchRow
	decode []benchRow
}

// wholeFLOPs notes the FLOPs of the whole model's step (a skeleton at
// full depth: no weights read).
func (b *previewBench) wholeFLOPs(m previewModel) {
	sp, err := spec.Preset(m.preset)
	if err != nil {
		b.t.Fatal(err)
	}
	src, err := dit.RandomWeights(sp, tensor.BF16, 1)
	if err != nil {
		b.t.Fatal(err)
	}
	n, err := dit.Build(src, &spec.Resolution{Spec: sp}, dit.BuildOptions{Skeleton: true})
	if err != nil {
		b.t.Fatal(err)
	}
	lat := m.latent
	if lat == nil {
		lat = n.Latent()
	}
	if b.whole == nil {
		b.whole = map[string]float64{}
	}
	b.whole[m.preset] = dit.FLOPsAt(n, append([]int{2}, lat...))
}

func (b *previewBench) runNative(args ...string) (benchout.Result, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(b.native, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	var r benchout.Result
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("nativebench %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return r, json.Unmarshal(out.Bytes(), &r)
}

func (b *previewBench) nativeModel(m previewModel, dt string, at runAt) {
	args := []string{"-preset", m.preset, "-dtype", dt, "-depth", fmt.Sprint(at.depth), "-batch", fmt.Sprint(at.batch), "-steps", fmt.Sprint(at.steps)}
	if lat := orLatent(at.latent, m.latent); lat != nil {
		args = append(args, "-latent", joinInts(lat, ","))
	}
	r, err := b.runNative(args...)
	row := benchRow{model: m.name, backend: fmt.Sprintf("CPU native, %s weights, %d threads", dtName(dt), runtime.NumCPU())}
	if err != nil {
		row.err = err.Error()
	} else {
		row.backend = fmt.Sprintf("CPU native, %s weights, %d threads", dtName(dt), r.Threads)
		row.measured = measured(r.Depth, r.FullDepth, r.Batch, r.Latent, r.Steps, r.GFLOPPerStep)
		row.scale = b.whole[m.preset] / (r.GFLOPPerStep * 1e9)
		row.measured += scaledBy(row.scale)
		row.sStep, row.gflops, row.cpuS, row.weights = r.SPerStep*row.scale, r.GFLOPs, r.CPUSPerStep, r.FullWeightBytes
		if r.Depth == r.FullDepth {
			row.memory = fmt.Sprintf("peak RSS %s", gb(r.PeakRSSBytes))
		} else {
			row.memory = fmt.Sprintf("peak RSS ≈ %s (%s at %s + the other blocks' weights)", gb(r.PeakRSSBytes+r.FullWeightBytes-r.WeightBytes), gb(r.PeakRSSBytes), blocks(r.Depth))
		}
	}
	b.add(&b.rows, row)
}

// pageBench is what window.ditkit.bench returns.
type pageBench struct {
	Family          string  `json:"family"`
	Depth           int     `json:"depth"`
	FullDepth       int     `json:"fullDepth"`
	Batch           int     `json:"batch"`
	Latent          []int   `json:"latent"`
	Steps           int     `json:"steps"`
	DType           string  `json:"dtype"`
	GFLOPPerStep    float64 `json:"gflopPerStep"`
	GFLOPs          float64 `json:"gflops"`
	Workers         int     `json:"workers"`
	WeightBytes     int64   `json:"weightBytes"`
	FullWeightBytes int64   `json:"fullWeightBytes"`
	HeapBytes       int64   `json:"heapBytes"`
	GPUWeights      int64   `json:"gpuWeightBytes"`
	GPUActivations  int64   `json:"gpuActivationBytes"`
	Info            struct {
		Backend   string  `json:"backend"`
		Adapter   string  `json:"adapter"`
		Note      string  `json:"note"`
		Kernel    string  `json:"kernel"`
		MSPerStep float64 `json:"msPerStep"`
		FirstMS   float64 `json:"firstMs"`
	} `json:"info"`
}

// call runs window.ditkit.bench on m as at says, with the backend's
// options; an error comes back as the error.
func (b *previewBench) call(m previewModel, backend string, at runAt) (pageBench, error) {
	opts := fmt.Sprintf("preset: %q, depth: %d, batch: %d, steps: %d, dtype: 'bf16', %s", m.preset, at.depth, at.batch, at.steps, backend)
	if lat := orLatent(at.latent, m.latent); lat != nil {
		opts += ", latent: [" + joinInts(lat, ", ") + "]"
	}
	type res struct {
		R   pageBench `json:"r"`
		Err string    `json:"err"`
	}
	r := js[res](b.t, b.ctx, "ditkit.bench({"+opts+"}).then(r => ({r}), e => ({err: String(e && e.message || e)}))")
	if r.Err != "" {
		return r.R, fmt.Errorf("ditkit.bench({%s}): %s", opts, r.Err)
	}
	return r.R, nil
}

func (b *previewBench) pageModel(m previewModel, backend, opts string, at runAt) {
	r, err := b.call(m, opts, at)
	row := benchRow{model: m.name, backend: backend}
	switch {
	case err != nil:
		row.err = err.Error()
	case strings.HasPrefix(backend, "WebGPU") && r.Info.Backend != "webgpu":
		row.err = "ran on the CPU: " + r.Info.Note
		b.gpuWhy = r.Info.Note
	default:
		kind := "bf16 weights"
		switch {
		case r.Info.Backend == "webgpu":
			row.backend = fmt.Sprintf("WebGPU (%s), bf16 weights", r.Info.Adapter)
		case r.Workers > 1:
			row.backend = fmt.Sprintf("CPU wasm, %d Web Workers (%s), %s", r.Workers, r.Info.Kernel, kind)
		default:
			row.backend = fmt.Sprintf("CPU wasm, 1 instance (%s), %s", r.Info.Kernel, kind)
		}
		if r.Info.Note != "" {
			row.backend += " [" + r.Info.Note + "]"
		}
		row.measured = measured(r.Depth, r.FullDepth, r.Batch, r.Latent, r.Steps, r.GFLOPPerStep)
		row.scale = b.whole[m.preset] / (r.GFLOPPerStep * 1e9)
		row.measured += scaledBy(row.scale)
		row.sStep, row.gflops, row.weights = r.Info.MSPerStep/1000*row.scale, r.GFLOPs, r.FullWeightBytes
		rest := r.FullWeightBytes - r.WeightBytes
		at := ""
		if rest > 0 {
			at = " at " + blocks(r.Depth)
		}
		switch {
		case r.Info.Backend == "webgpu":
			row.memory = fmt.Sprintf("GPU: weights %s + activations %s%s", gb(r.GPUWeights), gb(r.GPUActivations), at)
			if rest > 0 {
				row.memory += fmt.Sprintf("; whole model ≈ %s", gb(r.GPUWeights+r.GPUActivations+rest))
			}
		default:
			heaps := "Go heap"
			if r.Workers > 1 {
				heaps = fmt.Sprintf("%d Go heaps", r.Workers)
			}
			row.memory = fmt.Sprintf("%s %s%s", heaps, gb(r.HeapBytes), at)
			if rest > 0 {
				row.memory += fmt.Sprintf("; whole model ≈ %s", gb(r.HeapBytes+rest))
			}
		}
	}
	b.add(&b.rows, row)
}

// The decoders: madebyollin/taesd's architecture with the fixtures'
// random weights (speed does not depend on the values).
var previewDecoders = []struct {
	dir, file string
	channels  int
}{
	{"taesd_c4", "taesd_decoder.safetensors", 4},
	{"taesd_c16", "taef1_decoder.pth", 16},
}

// decodeSizes are the latents decoded (square, in latent pixels: 32 and 64
// give 256² and 512² images).
var decodeSizes = []int{32, 64}

func (b *previewBench) nativeDecodes() {
	for _, d := range previewDecoders {
		path := filepath.Join(fixtures.Path(b.t, "forward2/taesd/"+d.dir), d.file)
		for _, s := range decodeSizes {
			r, err := b.runNative("-decoder", path, "-latent", fmt.Sprintf("%d,%d,%d", d.channels, s, s), "-batch", "1", "-steps", "1")
			row := benchRow{model: fmt.Sprintf("TAESD %s (%d ch), %d×%d latent → %d×%d px", d.file, d.channels, s, s, 8*s, 8*s),
				backend: fmt.Sprintf("CPU native, %d threads", runtime.NumCPU()), scale: 1}
			if err != nil {
				row.err = err.Error()
			} else {
				row.measured = fmt.Sprintf("%d×%d, 1 decode (%.0f GFLOP)", s, s, r.GFLOPPerStep)
				row.sStep, row.gflops, row.cpuS = r.SPerStep, r.GFLOPs, r.CPUSPerStep
				row.memory = "peak RSS " + gb(r.PeakRSSBytes)
			}
			b.add(&b.decode, row)
		}
	}
}

// pageDecodes times window.ditkit.decode on a 16×16 latent (after an 8×8
// one that compiles the pipelines) on the CPU (wasm, one instance) and on
// WebGPU, scaled by area to the decodeSizes rows.
func (b *previewBench) pageDecodes(gpu bool) {
	dir := b.t.TempDir()
	var names []string
	for _, d := range previewDecoders {
		src, err := os.ReadFile(filepath.Join(fixtures.Path(b.t, "forward2/taesd/"+d.dir), d.file))
		if err != nil {
			b.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d.file), src, 0o644); err != nil {
			b.t.Fatal(err)
		}
		names = append(names, d.file)
		for _, s := range []int{8, 16} {
			name := fmt.Sprintf("latent_c%d_%d.safetensors", d.channels, s)
			writeLatent(b.t, filepath.Join(dir, name), []int{1, d.channels, s, s})
			names = append(names, name)
		}
	}
	gpuHarness(b.t, b.ctx, dir, names...)
	backends := []string{"cpu"}
	if gpu {
		backends = append(backends, "webgpu")
	}
	for _, be := range backends {
		for _, d := range previewDecoders {
			call := func(s int) gpuRun {
				return js[gpuRun](b.t, b.ctx, fmt.Sprintf("__gpuRun(ditkit.decode(__gpuFiles[%q], __gpuFiles[%q], {backend: %q}))",
					d.file, fmt.Sprintf("latent_c%d_%d.safetensors", d.channels, s), be))
			}
			if be == "webgpu" {
				call(8)
			}
			r := call(16)
			for _, s := range decodeSizes {
				row := benchRow{model: fmt.Sprintf("TAESD %s (%d ch), %d×%d latent → %d×%d px", d.file, d.channels, s, s, 8*s, 8*s), scale: float64(s*s) / 256}
				switch {
				case r.Err != "":
					row.err = r.Err
				case be == "webgpu" && r.Info.Backend != "webgpu":
					row.err = "ran on the CPU: " + r.Info.Note
				default:
					row.backend = "CPU wasm, 1 instance"
					if r.Info.Backend == "webgpu" {
						row.backend = fmt.Sprintf("WebGPU (%s)", r.Info.Adapter)
					}
					row.measured = fmt.Sprintf("16×16, 1 decode (%.1f GFLOP); time scaled ×%.0f by area", r.Info.GFLOPs*r.Info.MS/1000, row.scale)
					row.sStep, row.gflops = r.Info.MS/1000*row.scale, r.Info.GFLOPs
					row.memory = "—"
				}
				b.add(&b.decode, row)
			}
		}
	}
}

func writeLatent(t *testing.T, path string, shape []int) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i%17)/4 - 2
	}
	raw := make([]byte, 4*n)
	if err := tensor.EncodeFloat32(tensor.F32, v, raw); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := loader.WriteSafetensors(f, []loader.Source{loader.BytesSource("latent", tensor.F32, shape, raw)}, nil); err != nil {
		t.Fatal(err)
	}
}

// add notes a row and prints it as it comes.
func (b *previewBench) add(rows *[]benchRow, r benchRow) {
	*rows = append(*rows, r)
	if r.err != "" {
		fmt.Printf("bench preview: %s, %s: %s\n", r.model, r.backend, r.err)
		return
	}
	fmt.Printf("bench preview: %s, %s: %s%s s/step (%s), %.1f GFLOP/s; %s\n", r.model, r.backend, approx(r.scale), secs(r.sStep), r.measured, r.gflops, r.memory)
}

func (b *previewBench) print() {
	fmt.Println()
	fmt.Println("| model | backend | measured | s / step (whole model) | GFLOP/s | weights | memory |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range b.rows {
		if r.err != "" {
			fmt.Printf("| %s | %s | error: %s | | | | |\n", r.model, r.backend, r.err)
			continue
		}
		cpu := ""
		if r.cpuS > 0 {
			cpu = fmt.Sprintf(" (CPU %s%s s)", approx(r.scale), secs(r.cpuS*r.scale))
		}
		fmt.Printf("| %s | %s | %s | %s%s%s | %.1f | %s | %s |\n", r.model, r.backend, r.measured, approx(r.scale), secs(r.sStep), cpu, r.gflops, gb(r.weights), r.memory)
	}
	if len(b.decode) == 0 {
		return
	}
	fmt.Println()
	fmt.Println("| TAESD decode | backend | measured | s | GFLOP/s | memory |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	for _, r := range b.decode {
		if r.err != "" {
			fmt.Printf("| %s | %s | error: %s | | | |\n", r.model, r.backend, r.err)
			continue
		}
		cpu := ""
		if r.cpuS > 0 {
			cpu = fmt.Sprintf(" (CPU %s s)", secs(r.cpuS))
		}
		fmt.Printf("| %s | %s | %s | %s%s%s | %.1f | %s |\n", r.model, r.backend, r.measured, approx(r.scale), secs(r.sStep), cpu, r.gflops, r.memory)
	}
	fmt.Println()
}

// measured says what ran: blocks, batch, latent, steps, GFLOP a step.
func measured(depth, full, batch int, lat []int, steps int, gflop float64) string {
	s := fmt.Sprintf("%d/%d blocks, batch %d, latent %s, ", depth, full, batch, joinInts(lat, "×"))
	if steps > 1 {
		s += fmt.Sprintf("mean of %d after a first step", steps-1)
	} else {
		s += "1 step (the first)"
	}
	return s + fmt.Sprintf(", %.0f GFLOP", gflop)
}

// scaledBy says how a row's time was scaled to the whole model.
func scaledBy(scale float64) string {
	if approx(scale) == "" {
		return ""
	}
	return fmt.Sprintf("; time scaled ×%.2f by FLOPs", scale)
}

func orLatent(a, b []int) []int {
	if a != nil {
		return a
	}
	return b
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, sep)
}

func dtName(dt string) string {
	if dt == "f32" {
		return "fp32"
	}
	return dt
}

// blocks is "1 block" or "n blocks".
func blocks(n int) string {
	if n == 1 {
		return "1 block"
	}
	return fmt.Sprintf("%d blocks", n)
}

// approx marks a figure scaled from a smaller run.
func approx(scale float64) string {
	if scale > 1.0001 || scale < 0.9999 {
		return "≈ "
	}
	return ""
}

func secs(s float64) string {
	switch {
	case s >= 100:
		return fmt.Sprintf("%.0f", s)
	case s >= 10:
		return fmt.Sprintf("%.1f", s)
	}
	return fmt.Sprintf("%.2f", s)
}

func gb(n int64) string {
	if n < 1e9 {
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// machine names the CPU, its cores and the vector extensions that matter
// here (from /proc/cpuinfo).
func machine() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return fmt.Sprintf("%s, %d cores", runtime.GOARCH, runtime.NumCPU())
	}
	name, flags, seen := runtime.GOARCH, []string{}, false
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name":
			name = strings.TrimSpace(v)
		case "flags": // every core lists them: the first will do
			if seen {
				continue
			}
			seen = true
			have := strings.Fields(v)
			for _, f := range []string{"avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile"} {
				if slices.Contains(have, f) {
					flags = append(flags, f)
				}
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s", name, runtime.NumCPU(), strings.Join(flags, " "))
}

// window.ditkit.bench runs every family (here PixArt and STDiT3 presets
// at one block: the caption models on their null caption, STDiT3 at the
// latent asked for) on the CPU and, for STDiT3, on WebGPU, reporting FLOPs
// and memory; a bad latent is refused naming it. No time is asserted.
func TestBenchFamilies(t *testing.T) {
	ctx := page(t)
	b := &previewBench{t: t, ctx: ctx}
	check := func(m previewModel, backend string, at runAt, family string) pageBench {
		t.Helper()
		r, err := b.call(m, backend, at)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s: %+v", m.preset, backend, r)
		if r.Family != family || r.Depth != 1 || r.FullDepth != 28 || r.Steps != 1 || !(r.GFLOPPerStep > 0) || !(r.GFLOPs > 0) {
			t.Errorf("%s: %+v", m.preset, r)
		}
		if r.WeightBytes <= 0 || r.FullWeightBytes <= 10*r.WeightBytes {
			t.Errorf("%s: weights %d, whole model %d", m.preset, r.WeightBytes, r.FullWeightBytes)
		}
		if lat := orLatent(at.latent, m.latent); lat != nil && !slices.Equal(r.Latent, lat) {
			t.Errorf("%s: latent %v, asked for %v", m.preset, r.Latent, lat)
		}
		return r
	}
	pixart := previewModel{preset: "PixArt-XL_2-256_alpha"}
	if r := check(pixart, "backend: 'cpu'", runAt{1, 1, 1, nil}, "pixart-alpha"); r.HeapBytes <= 0 || !slices.Equal(r.Latent, []int{4, 32, 32}) {
		t.Errorf("PixArt on the CPU: heap %d, latent %v", r.HeapBytes, r.Latent)
	}
	stdit3 := previewModel{preset: "STDiT3-XL_2_v1.2", latent: []int{4, 2, 4, 6}}
	check(stdit3, "backend: 'cpu'", runAt{1, 1, 1, nil}, "stdit3")
	if st := js[gpuStatus](t, ctx, `ditkit.gpu()`); st.Available {
		r := check(stdit3, "backend: 'webgpu'", runAt{1, 1, 1, nil}, "stdit3")
		if r.Info.Backend != "webgpu" || r.GPUWeights <= 0 || r.GPUActivations <= 0 {
			t.Errorf("STDiT3 on WebGPU: %+v", r)
		}
	}
	for _, bad := range []struct{ latent, want string }{{"[4, 0, 4, 6]", "latent[1]"}, {`"4,2,4,6"`, "latent: want an array"}, {"[4, 2.5]", "latent[1]"}} {
		err := js[string](t, ctx, fmt.Sprintf(`ditkit.bench({preset: "STDiT3-XL_2_v1.2", depth: 1, backend: "cpu", latent: %s}).then(() => "", e => String(e && e.message || e))`, bad.latent))
		if !strings.Contains(err, bad.want) {
			t.Errorf("latent %s: error %q, want it to name %q", bad.latent, err, bad.want)
		}
	}
}
