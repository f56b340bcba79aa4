// Command nativebench is the native CPU side of `./build.sh bench_preview`
// (web/e2e TestPreviewBench runs it, one process per model so the peak
// RSS is that model's): one sampler step of a preset with random weights
// (sample.BenchInput: the CFG / guidance batch, null caption), or a
// TAESD-family decode, on all threads, printed as one JSON object.
//
//	nativebench -preset DiT-XL_2_256 [-dtype bf16|f32] [-depth N] [-batch 2] [-latent 4,16,30,53] [-steps 2]
//	nativebench -decoder taesd_decoder.safetensors -latent 4,64,64 [-steps 2]
//
// With steps > 1 the first step is timed apart (a warm-up) and the rest
// averaged; cpuSPerStep is the process's CPU time per step (what other
// processes on a shared machine do not inflate).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/web/e2e/internal/nativebench/benchout"
)

func main() {
	preset := flag.String("preset", "", "a model preset (ditkit specs)")
	decoder := flag.String("decoder", "", "a TAESD-family decoder file (instead of -preset)")
	dtype := flag.String("dtype", "bf16", "stored dtype of the random weights: bf16, f32 or f16")
	depth := flag.Int("depth", 0, "blocks to build (0: the preset's)")
	batch := flag.Int("batch", 2, "samples per model call (2: the CFG batch)")
	latentFlag := flag.String("latent", "", "one sample's latent shape, e.g. 4,16,30,53 (default: the preset's)")
	steps := flag.Int("steps", 2, "model calls (the first is timed apart when there are more)")
	threads := flag.Int("threads", runtime.NumCPU(), "threads")
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	lat, err := parseShape(*latentFlag)
	if err != nil {
		fail(err)
	}
	var r benchout.Result
	switch {
	case *decoder != "":
		r, err = runDecoder(*decoder, lat, *batch, *steps, *threads)
	case *preset != "":
		r, err = runModel(*preset, *dtype, *depth, *batch, lat, *steps, *threads)
	default:
		err = fmt.Errorf("give -preset or -decoder")
	}
	if err != nil {
		fail(err)
	}
	r.Steps, r.Threads, r.Batch = *steps, *threads, *batch
	r.PeakRSSBytes = peakRSS()
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		fail(err)
	}
}

// timeSteps runs step n times: the first alone (when n > 1) and the mean
// of the rest, wall and CPU time.
func timeSteps(n int, step func() error) (first, per, cpuPer float64, err error) {
	n = max(n, 1)
	var rest, restCPU time.Duration
	for i := range n {
		w0, c0 := time.Now(), cpuTime()
		if err := step(); err != nil {
			return 0, 0, 0, err
		}
		w, c := time.Since(w0), cpuTime()-c0
		if i == 0 {
			first = w.Seconds()
			if n == 1 {
				return first, first, c.Seconds(), nil
			}
			continue
		}
		rest += w
		restCPU += c
	}
	return first, rest.Seconds() / float64(n-1), restCPU.Seconds() / float64(n-1), nil
}

func runModel(preset, dtype string, depth, batch int, lat []int, steps, threads int) (benchout.Result, error) {
	sp, err := spec.Preset(preset)
	if err != nil {
		return benchout.Result{}, err
	}
	full := sp
	if depth > 0 {
		if sp, err = sp.With("depth", depth); err != nil {
			return benchout.Result{}, err
		}
	}
	dt, err := parseDType(dtype)
	if err != nil {
		return benchout.Result{}, err
	}
	src, err := dit.RandomWeights(sp, dt, 1)
	if err != nil {
		return benchout.Result{}, err
	}
	n, err := dit.Build(src, &spec.Resolution{Spec: sp}, dit.BuildOptions{})
	if err != nil {
		return benchout.Result{}, err
	}
	fullSrc, err := dit.RandomWeights(full, dt, 1)
	if err != nil {
		return benchout.Result{}, err
	}
	x, shape, t, c := sample.BenchInput(n, batch, lat)
	opt := &dit.Options{Backend: &kernels.CPU{Threads: threads}}
	r := benchout.Result{What: preset, Family: sp.Family, DType: dt.String(), Depth: sp.Int("depth"), FullDepth: full.Int("depth"),
		Latent: shape[1:], GFLOPPerStep: dit.FLOPsAt(n, shape) / 1e9, WeightBytes: n.WeightBytes()}
	r.FullWeightBytes = r.WeightBytes + storedBytes(fullSrc) - storedBytes(src)
	r.FirstS, r.SPerStep, r.CPUSPerStep, err = timeSteps(steps, func() error {
		_, _, err := n.Forward(context.Background(), x, shape, t, c, opt)
		return err
	})
	r.HeapBytes = liveHeap()
	runtime.KeepAlive(n)
	r.GFLOPs = r.GFLOPPerStep / r.SPerStep
	return r, err
}

func runDecoder(path string, lat []int, batch, steps, threads int) (benchout.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return benchout.Result{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return benchout.Result{}, err
	}
	ck, err := loader.Open(f, st.Size(), path)
	if err != nil {
		return benchout.Result{}, err
	}
	dec, err := loader.LoadDecoder(ck)
	if err != nil {
		return benchout.Result{}, err
	}
	if lat == nil {
		lat = []int{dec.LatentChannels, 64, 64}
	}
	if len(lat) != 3 {
		return benchout.Result{}, fmt.Errorf("-latent %v: want C,H,W", lat)
	}
	shape := append([]int{batch}, lat...)
	x := make([]float32, batch*lat[0]*lat[1]*lat[2])
	for i := range x {
		x[i] = float32(i%17)/4 - 2
	}
	r := benchout.Result{What: path, Latent: lat, GFLOPPerStep: float64(dec.FLOPs(lat[1], lat[2])) * float64(batch) / 1e9}
	opt := &decode.Options{Backend: &decode.CPU{Threads: threads}}
	r.FirstS, r.SPerStep, r.CPUSPerStep, err = timeSteps(steps, func() error {
		_, _, err := dec.Decode(context.Background(), x, shape, opt)
		return err
	})
	r.HeapBytes = liveHeap()
	runtime.KeepAlive(dec)
	r.GFLOPs = r.GFLOPPerStep / r.SPerStep
	return r, err
}

// liveHeap is the Go heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

func storedBytes(src tensor.Source) int64 {
	var n int64
	for _, in := range src.Infos() {
		b, _ := tensor.NBytes(in.DType, in.Shape)
		n += b
	}
	return n
}

func parseDType(s string) (tensor.DType, error) {
	switch s {
	case "bf16":
		return tensor.BF16, nil
	case "f32", "fp32":
		return tensor.F32, nil
	case "f16", "fp16":
		return tensor.F16, nil
	}
	return 0, fmt.Errorf("-dtype %q: want bf16, f32 or f16", s)
}

func parseShape(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("-latent %q: want positive integers separated by commas", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// peakRSS is VmHWM from /proc/self/status (0 where there is none).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nativebench:", err)
	os.Exit(1)
}
