package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/convert"
	"github.com/ditkit/ditkit/loader/report"
)

// quantFlags are convert's GGUF and fp8 flags.
type quantFlags struct {
	quant     *string
	threshold *int64
	arch      *string
	fp8Scaled *bool
	fp8Sem    *string
}

func addQuantFlags(fs *flag.FlagSet) *quantFlags {
	return &quantFlags{
		quant: fs.String("quant", "", ".gguf output: the main ggml type, F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K or Q6_K "+
			"(default: ComfyUI-GGUF convert.py's F16, or BF16 for a mostly-bf16 source); which tensors stay unquantized follows ComfyUI-GGUF"),
		threshold: fs.Int64("quant-threshold", loader.DefaultQuantThreshold, ".gguf output: 1-D tensors and tensors of at most N elements stay F32 (ComfyUI-GGUF's 1024); 0 quantizes every tensor whose rows fit the block size"),
		arch:      fs.String("gguf-arch", "", ".gguf output: general.architecture (default: from the detected family, e.g. flux, wan, hyvid, sd3, ltxv)"),
		fp8Scaled: fs.Bool("fp8-scaled", false, "with --dtype fp8_e4m3/fp8_e5m2: write ComfyUI's scaled fp8 (scaled_fp8 marker, per-layer .scale_weight = max|w|/fp8 max) instead of plain fp8"),
		fp8Sem:    fs.String("fp8-semantics", "new", "how scaled fp8 × scale rounds to bf16/fp16: new (f32 math, RNE(f32(w)·scale), as new ComfyUI on current PyTorch; the more accurate) or old (the scale rounded to bf16/fp16 first, as old ComfyUI's convert_weight); fp32 is the same for both"),
	}
}

// apply checks the flags against the output format and the input, and
// sets the options (convert.QuantChoices, which window.ditkit.convert
// shares). dtypeArg is --dtype as given ("" when absent): a GGUF input
// then converts to bf16.
func (q *quantFlags) apply(opt *convert.Options, dtypeArg string, ck *loader.Checkpoint) (notes []string, err error) {
	return convert.QuantChoices{Quant: *q.quant, Threshold: *q.threshold, Arch: *q.arch, FP8Scaled: *q.fp8Scaled,
		FP8Semantics: *q.fp8Sem, DTypeGiven: dtypeArg != ""}.Apply(opt, ck)
}

// printQuantConvert prints what a conversion did with GGUF and fp8.
func printQuantConvert(w io.Writer, r *report.Convert) {
	for _, g := range r.GGUFRestored {
		fmt.Fprintf(w, "restored: %s — %s\n", g.Name, g.Evidence)
	}
	if r.FP8Scales != "" {
		fmt.Fprintf(w, "fp8 scales applied: %s\n", r.FP8Scales)
	}
	if g := r.GGUF; g != nil {
		arch := fmt.Sprintf("general.architecture %s (%s)", g.Architecture, g.ArchitectureEvidence)
		if g.Architecture == "" {
			arch = "no general.architecture"
		}
		fmt.Fprintf(w, "gguf: %s, main type %s, threshold %d elements\n", arch, g.Quant, g.QuantThreshold)
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(g.TypeCounts)) {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, g.TypeCounts[k]))
		}
		fmt.Fprintf(w, "gguf types: %s\n", strings.Join(parts, ", "))
		fmt.Fprintf(w, "dequantization error vs the source: max %.3g, mean %.3g over %d values\n", g.MaxAbsError, g.MeanAbsError, g.ComparedElements)
		if len(g.Dropped) > 0 {
			fmt.Fprintf(w, "left out (keys_ignore): %s\n", strings.Join(g.Dropped, ", "))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// printQuantDiff prints a diff's GGUF shape restorations and fp8 warnings.
func printQuantDiff(w io.Writer, d *report.Diff) {
	for _, g := range d.GGUFRestored {
		fmt.Fprintf(w, "restored: %s — %s\n", g.Name, g.Evidence)
	}
	for _, s := range d.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}
