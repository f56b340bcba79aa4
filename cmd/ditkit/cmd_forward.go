package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
)

func init() {
	register(&command{
		name:    "forward",
		usage:   "FILE [--arch PRESET | --spec SPEC.json] --inputs IN.safetensors -o OUT.safetensors [--cfg-scale S] [--precision fp32|bf16] [--timing]",
		summary: "Run one forward pass of a runnable checkpoint (DiT, Open-Sora STDiT, STDiT3, PixArt-α/Σ, Latte) on the inputs a reference file holds (x, t, y, mask, img_hw, aspect_ratio for PixArtMS, fps, height, width, x_mask for STDiT3) and write out.",
		run:     runForward,
	})
}

// modelFlags are the model-selection flags shared by forward and sample.
type modelFlags struct {
	arch, specPath, precision, root string
	heads, threads                  int
	prec                            kernels.Precision  // parsed --precision
	captions                        bool               // caption embeddings come with the run (forward's inputs, --caption): dit.Policy.Captions
	converted                       *loader.Checkpoint // preview --error-text/--layout: the converted weights (preview_target.go)
	dropConverted                   func()
}

// cpu is the CPU backend the flags ask for.
func (mf *modelFlags) cpu() *kernels.CPU {
	return &kernels.CPU{Threads: mf.threads, Precision: mf.prec}
}

// precisionNote says, for --precision bf16, which kernel runs it when
// that is not a bf16 one (AMX or a fast VDPBF16PS).
func (mf *modelFlags) precisionNote(stderr io.Writer) {
	if mf.prec != kernels.BF16 || kernels.BF16Kernel() != "fp32-fma" {
		return
	}
	if !kernels.BF16Native() {
		fmt.Fprintln(stderr, "ditkit: this CPU (or build) has no AVX512_BF16: --precision bf16 runs the bf16-rounded operands on the fp32 kernels (same bf16 rounding, no speedup)")
		return
	}
	fmt.Fprintf(stderr, "ditkit: no AMX here and VDPBF16PS retires only %.2f× the fp32 FMA's flops: --precision bf16 runs the bf16-rounded operands on the fp32 FMA kernels (same bf16 rounding, about fp32's speed)\n", kernels.BF16DotRate())
}

func addModelFlags(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
}, mf *modelFlags) {
	fs.StringVar(&mf.arch, "arch", "", "architecture preset (e.g. DiT-XL_2_256); default: derived from the checkpoint's shapes")
	fs.StringVar(&mf.specPath, "spec", "", "architecture spec JSON file (instead of --arch)")
	fs.StringVar(&mf.precision, "precision", "fp32", "matmul activation precision: fp32 (weights stay in their stored dtype, widened on the fly) or bf16 "+
		"(inputs of every Linear: qkv, proj, fc1, fc2, adaLN, final, embedders, rounded to bf16 and multiplied with bf16 weights, fp32 accumulation; "+
		"F32/F16 weights are converted to bf16 once at load; LayerNorm, attention, softmax, residuals stay fp32). "+
		"bf16 runs on AMX-BF16 tiles where the CPU (and Linux) has them: ~2-4x faster per matmul than fp32 on the machine measured; "+
		"with AVX512_BF16 only (VDPBF16PS) it is slower than fp32 there; without either it is emulated on the fp32 kernels (no speedup)")
	fs.StringVar(&mf.root, "root", "", "weights root inside the checkpoint (default: the loader's choice, e.g. ema)")
	fs.IntVar(&mf.heads, "heads", 0, "attention heads when neither --arch nor --spec is given and the size is not a registered one")
	fs.IntVar(&mf.threads, "threads", 0, "worker goroutines (0 = all CPUs)")
}

// runNet is a loaded model and how long loading took.
type runNet struct {
	dit.Net
	load time.Duration
	// f32Bytes is what the checkpoint's tensors take as float32: the
	// weights' memory were they not kept quantized (or 16-bit).
	f32Bytes int64
}

// cliPolicy is the CLI's policy for what shapes do not decide: published
// values are used, guesses refused with the flag that settles them.
var cliPolicy = dit.Policy{Strict: true, Flags: map[string]string{"num_heads": "--heads"}, Fallback: "--arch or --spec"}

// loadNet opens a checkpoint and builds the model it holds (dit.Load: the
// one loader the page and window.ditkit use too).
func loadNet(path string, mf *modelFlags) (*runNet, error) {
	start := time.Now()
	prec, err := kernels.ParsePrecision(mf.precision)
	if err != nil {
		return nil, fmt.Errorf("--precision %q: want fp32 or bf16 (fp16 activations are not implemented; fp16 weights are used as stored)", mf.precision)
	}
	mf.prec = prec
	ck, f, err := mf.open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var req spec.Request
	tr := report.TargetRequest{Arch: mf.arch}
	switch {
	case mf.arch != "" && mf.specPath != "":
		return nil, fmt.Errorf("give --arch or --spec, not both")
	case mf.arch != "":
		if req.Target, err = spec.Preset(mf.arch); err != nil {
			return nil, err
		}
	case mf.specPath != "":
		b, err := os.ReadFile(mf.specPath)
		if err != nil {
			return nil, err
		}
		if req.Target, err = spec.Parse(b); err != nil {
			return nil, fmt.Errorf("%s: %w", mf.specPath, err)
		}
		tr.Spec = b
	}
	if mf.heads > 0 {
		req.Set = map[string]any{"num_heads": mf.heads}
	}
	// GGUF shapes writers mangle, restored where the spec confirms them
	// (as inspect, diff and convert do); quantized tensors stay quantized.
	report.RestoreGGUF(ck, tr)
	pol := cliPolicy
	pol.Captions = mf.captions
	n, _, err := dit.Load(ck, req, pol, dit.BuildOptions{Precision: prec})
	if err != nil {
		if strings.HasPrefix(err.Error(), path+": ") { // the loader's errors name the file
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var f32 int64
	for _, in := range ck.Infos() {
		if k, err := tensor.Numel(in.Shape); err == nil {
			f32 += 4 * k
		}
	}
	return &runNet{Net: n, load: time.Since(start), f32Bytes: f32}, nil
}

func runForward(args []string, stdout, stderr io.Writer) int {
	c := commands["forward"]
	fs := newFlags(c, stdout, stderr)
	var mf modelFlags
	addModelFlags(fs, &mf)
	inputs := fs.String("inputs", "", "safetensors file with x (F32/F64), t, y (int labels, or caption embeddings [B, 1, L, C] for STDiT/STDiT3/PixArt; absent: the null caption), optional mask [B, L], PixArtMS's img_hw [B, 2] and aspect_ratio [B, 1], and for STDiT3 fps, height, width (pixels) and optional x_mask")
	outPath := fs.String("o", "", "output safetensors file (tensor out)")
	cfgScale := fs.Float64("cfg-scale", 0, "run forward_with_cfg with this guidance scale (DiT, PixArt, Latte; x = [z; z], y = [cond; null])")
	timing := fs.Bool("timing", false, `print {"load_s", "forward_s", "gflops" (GFLOP/s achieved), "weight_bytes" (the model's weights as held in memory: quantized GGUF/fp8 weights stay quantized), "f32_weight_bytes" (the checkpoint's tensors as float32), "heap_bytes" (Go heap in use after the forward)} as one JSON line on stderr`)
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *inputs == "" || *outPath == "" {
		return usageError(stderr, c, "need FILE, --inputs and -o")
	}
	if err := checkOutputs(*outPath); err != nil {
		return fail(stderr, err)
	}
	mf.captions = true // the inputs file's y, or the model's null caption
	n, err := loadNet(pos[0], &mf)
	if err != nil {
		return fail(stderr, err)
	}
	in, err := readTensors(*inputs)
	if err != nil {
		return fail(stderr, err)
	}
	fin, err := dit.ReadInputs(n, in, *inputs)
	if err != nil {
		return fail(stderr, err)
	}
	mf.precisionNote(stderr)
	opt := &dit.Options{Backend: mf.cpu()}
	ctx := context.Background()
	start := time.Now()
	var out []float32
	var outShape []int
	switch {
	case *cfgScale != 0 && n.Guided() == 0:
		return fail(stderr, fmt.Errorf("--cfg-scale: %s has no forward_with_cfg", n.Spec().Family))
	case *cfgScale != 0:
		out, outShape, err = dit.ForwardWithCFG(ctx, n.Net, fin.X, fin.Shape, fin.T, fin.Cond, float32(*cfgScale), opt)
	default:
		out, outShape, err = n.Forward(ctx, fin.X, fin.Shape, fin.T, fin.Cond, opt)
	}
	if err != nil {
		return fail(stderr, fmt.Errorf("%s: %w", *inputs, err))
	}
	fwd := time.Since(start)
	dt := in["x"].DType
	if dt != tensor.F64 {
		dt = tensor.F32
	}
	if err := writeSafetensors(*outPath, []namedTensor{{"out", dt, outShape, out}}, map[string]string{"producer": "ditkit forward"}); err != nil {
		return fail(stderr, err)
	}
	if *timing {
		gf := dit.FLOPsAt(n, fin.Shape) / fwd.Seconds() / 1e9
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(stderr, "{\"load_s\":%.4f,\"forward_s\":%.4f,\"gflops\":%.2f,\"weight_bytes\":%d,\"f32_weight_bytes\":%d,\"heap_bytes\":%d}\n",
			n.load.Seconds(), fwd.Seconds(), gf, n.WeightBytes(), n.f32Bytes, ms.HeapAlloc)
	}
	return exitOK
}

// readTensors reads every tensor of a (small) safetensors or .pt file.
func readTensors(path string) (map[string]*tensor.Dense, error) {
	ck, f, err := loader.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ck.ReadAll()
}

type namedTensor struct {
	name  string
	dtype tensor.DType // F32 or F64
	shape []int
	data  []float32
}

// writeSafetensors writes float tensors (encoded as their dtype) with
// loader's writer, atomically: a temp file beside path, then rename.
func writeSafetensors(path string, ts []namedTensor, meta map[string]string) error {
	srcs := make([]loader.Source, len(ts))
	for i, t := range ts {
		b := make([]byte, len(t.data)*t.dtype.Size())
		if err := tensor.EncodeFloat32(t.dtype, t.data, b); err != nil {
			return err
		}
		srcs[i] = loader.BytesSource(t.name, t.dtype, t.shape, b)
	}
	return writeFileAtomic(path, func(w io.Writer) error { return loader.WriteSafetensors(w, srcs, meta) })
}

// writeFileAtomic writes through fn into a temporary file beside path and
// renames it into place only when everything succeeded.
func writeFileAtomic(path string, fn func(io.Writer) error) error {
	tmp, err := createTemp(path, os.Stderr)
	if err != nil {
		return err
	}
	defer tmp.discard()
	bw := newBufWriter(tmp.File)
	if err := fn(bw); err != nil {
		return tmp.fail(err, " (nothing was written)")
	}
	if err := bw.Flush(); err != nil {
		return tmp.fail(err, " (nothing was written)")
	}
	return tmp.commit()
}
