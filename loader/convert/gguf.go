package convert

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"unicode"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
)

// GGUFOptions are the choices of a conversion to .gguf.
type GGUFOptions struct {
	// Quant is the main ggml type by name (F32, F16, BF16, Q8_0, Q4_0,
	// Q4_1, Q5_0, Q5_1, Q2_K … Q6_K); "" is convert.py's choice: BF16
	// when most tensors are bf16, else F16.
	Quant string
	// Threshold: 1-D tensors and tensors of at most this many elements
	// stay unquantized. 0 means ComfyUI-GGUF's 1024; QuantAll quantizes
	// every tensor whose rows fit the block size.
	Threshold int64
	// Arch sets general.architecture ("": from the detected family, else
	// from ComfyUI-GGUF's key detection).
	Arch string
	// Workers quantize pieces of a tensor in parallel (0: GOMAXPROCS).
	Workers int
}

// QuantAll as GGUFOptions.Threshold quantizes every tensor whose rows
// fit the block size (--quant-threshold 0).
const QuantAll = -1

// ParseQuant reads a --quant value.
func ParseQuant(s string) (quant.Type, error) {
	t, err := quant.ParseType(s)
	for _, q := range loader.GGUFQuantTypes {
		if err == nil && q == t {
			return t, nil
		}
	}
	names := make([]string, len(loader.GGUFQuantTypes))
	for i, q := range loader.GGUFQuantTypes {
		names[i] = q.String()
	}
	return 0, fmt.Errorf("--quant %q: want one of %s", s, strings.Join(names, ", "))
}

// ggufPrefixSteps are convert.py's strip_prefix as plan steps: keys
// outside the diffusion model's prefix are left out (a full checkpoint's
// VAE and text encoders), the prefix is removed.
func ggufPrefixSteps(infos []tensor.Info) ([]*fix.Step, error) {
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = in.Name
	}
	prefix, dropped := loader.GGUFStripPrefix(names)
	if prefix == "" {
		return nil, nil
	}
	var steps []*fix.Step
	if len(dropped) > 0 {
		steps = append(steps, fix.Drop("outside-"+strings.TrimSuffix(prefix, "."), fmt.Sprintf("not under %q (ComfyUI-GGUF's convert.py keeps the diffusion model only)", prefix), dropped))
	}
	var kept []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			kept = append(kept, n)
		}
	}
	return append(steps, fix.StripPrefix(prefix, kept)), nil
}

// ggufArch chooses general.architecture: the option, else the detected
// (or target's) family through loader.GGUFArchOfFamily, else
// ComfyUI-GGUF's own key detection.
func ggufArch(opt GGUFOptions, tg *diff.Target, infos []tensor.Info, out *report.Convert) (string, string, error) {
	if a := opt.Arch; a != "" {
		if strings.IndexFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 || len(a) > 64 {
			return "", "", fmt.Errorf("--gguf-arch %q: want a short name such as flux or wan", a)
		}
		return a, "--gguf-arch", nil
	}
	family, from := "", ""
	if tg != nil && tg.Spec != nil {
		family, from = tg.Spec.Family, "the target's family"
	} else if d := spec.Detect(infos); d.Family != "" {
		family, from = d.Family, "the detected family"
	}
	if a, ok := loader.GGUFArchOfFamily[family]; ok {
		return a, fmt.Sprintf("%s %s", from, family), nil
	}
	names := make([]string, len(infos))
	for i, in := range infos {
		names[i] = in.Name
	}
	a, ev, err := loader.GGUFArchFromKeys(names)
	if err != nil || a != "" {
		return a, ev, err
	}
	if family != "" {
		out.Notes = append(out.Notes, fmt.Sprintf("%s %s has no GGUF architecture name (ComfyUI-GGUF loads the original layouts of flux, sd3, wan, hyvid, ltxv …): general.architecture is left out", from, family))
	} else {
		out.Notes = append(out.Notes, "no architecture detected: general.architecture is left out, as stable-diffusion.cpp writes files (ComfyUI-GGUF then detects it from the keys); --gguf-arch sets one")
	}
	return "", "none", nil
}

// runGGUF writes the planned state dict as GGUF: types by ComfyUI-GGUF's
// policy (loader.PlanGGUF), quantized on goroutines one tensor at a
// time, hashed as written like the other formats.
func runGGUF(ck *loader.Checkpoint, tg *diff.Target, opt Options, w io.Writer, out *report.Convert, virt []fix.Tensor, rr *loader.RangeReader) (*report.Convert, error) {
	infos := fix.Infos(virt)
	main, err := ggufMain(opt.GGUF.Quant, infos)
	if err != nil {
		return nil, err
	}
	thr := opt.GGUF.Threshold
	switch {
	case thr == 0:
		thr = loader.DefaultQuantThreshold
	case thr == QuantAll:
		thr = 0
	case thr < 0:
		return nil, fmt.Errorf("--quant-threshold %d: want 0 or more elements", thr)
	}
	arch, archEv, err := ggufArch(opt.GGUF, tg, infos, out)
	if err != nil {
		return nil, err
	}
	choices, err := loader.PlanGGUF(infos, loader.GGUFPolicy{Main: main, Threshold: thr, Arch: arch})
	if err != nil {
		return nil, err
	}
	workers := opt.GGUF.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ft, _ := loader.GGUFFileType(main)
	g := &report.GGUFWritten{Architecture: arch, ArchitectureEvidence: archEv, Quant: main.String(), QuantThreshold: thr, FileType: ft,
		TypeCounts: loader.GGUFTypeCounts(choices), Workers: workers}
	out.GGUF = g
	var kv []loader.GGUFKV
	add := func(k string, v any) {
		e, err2 := loader.GGUFKVValue(k, v)
		if err2 != nil && err == nil {
			err = err2
		}
		kv = append(kv, e)
	}
	if arch != "" {
		add("general.architecture", arch)
	}
	add("general.quantization_version", uint32(2))
	add("general.file_type", ft)
	for _, c := range choices {
		if c.OrigShape != nil && !c.Drop {
			s := make([]int32, len(c.OrigShape))
			for i, d := range c.OrigShape {
				s[i] = int32(d)
			}
			add("comfy.gguf.orig_shape."+c.Name, s)
		}
	}
	if err != nil {
		return nil, err
	}
	var pl *pipeline
	sink := w
	if !opt.SkipHashes {
		pl = newPipeline(w, opt.ReadBack, pipelineBlock, 4)
		sink = pl
		defer pl.Close()
	}
	cw := &progressWriter{w: sink}
	var ts []loader.GGUFWriteTensor
	var written []int // virt index of each written tensor
	marks := make([]int, 0, len(virt))
	stats := make([]*quant.ErrorStats, 0, len(virt))
	for i, t := range virt {
		c := choices[i]
		if c.Drop {
			g.Dropped = append(g.Dropped, t.Name)
			continue
		}
		size, err := loader.GGUFTensorBytes(c.Type, c.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		k := len(marks)
		marks = append(marks, -1)
		stats = append(stats, nil)
		written = append(written, i)
		ts = append(ts, loader.GGUFWriteTensor{Name: t.Name, Type: c.Type, Shape: c.Shape, WriteTo: func(w io.Writer) error {
			if pl != nil {
				marks[k] = pl.mark(size)
			}
			if c.Type.DType() == t.DType { // stored as it is
				return t.Data.Stream(rr, w)
			}
			qw, err := quant.NewWriter(c.Type, t.DType, w, quant.WriterOptions{Workers: workers, Stats: true})
			if err != nil {
				return err
			}
			if err := t.Data.Stream(rr, qw); err != nil {
				return err
			}
			if err := qw.Close(); err != nil {
				return err
			}
			s := qw.Stats()
			stats[k] = &s
			return nil
		}})
	}
	err = loader.WriteGGUF(cw, kv, ts, loader.GGUFWriteOptions{Context: opt.Context, Progress: opt.Progress})
	if err := pl.finish(err); err != nil {
		return nil, err
	}
	out.Bytes = cw.n
	for k, i := range written {
		t, c := virt[i], choices[i]
		dt := c.Type.DType()
		if c.Type.Quantized() {
			dt = tensor.F32
		}
		wr := report.Written{Name: t.Name, DType: dt.String(), Shape: t.Shape, GGUFType: c.Type.String(), TypeReason: c.Reason}
		if s := stats[k]; s != nil {
			mx, mean := s.Max, s.Mean()
			wr.MaxAbsError, wr.MeanAbsError = &mx, &mean
			g.AddError(*s)
		} else {
			g.AddError(quant.ErrorStats{N: int64(numel(t.Shape))})
		}
		pl.hashInto(&wr, marks[k])
		out.Tensors = append(out.Tensors, wr)
	}
	if g.Overflow > 0 {
		out.Notes = append(out.Notes, fmt.Sprintf("%d values overflowed the stored type (beyond F16's ±65504): they are ±inf in the file", g.Overflow))
	}
	if tg != nil {
		rest := diff.Compare(infos, tg)
		clean := len(rest) == 0
		out.Clean, out.Remaining = &clean, rest
	}
	return out, nil
}

func numel(s []int) int64 { n, _ := tensor.Numel(s); return n }

// ggufMain parses the main type, or picks convert.py's: BF16 when bf16
// is the most common dtype, else F16.
func ggufMain(q string, infos []tensor.Info) (quant.Type, error) {
	if q != "" {
		return ParseQuant(q)
	}
	count := map[tensor.DType]int{}
	for _, in := range infos {
		count[in.DType]++
	}
	for dt, n := range count {
		if dt != tensor.BF16 && n >= count[tensor.BF16] {
			return quant.F16, nil
		}
	}
	return quant.BF16, nil
}
