package convert

import (
	"fmt"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
)

// prepareFP8 multiplies scaled-fp8 weights by their scales ahead of the
// plan when the output needs their values: a cast to F32/BF16/F16, a
// GGUF output or an fp8 output (both from F32). infos become the tensors
// after that step, which the target is diffed against.
func prepareFP8(ck *loader.Checkpoint, infos *[]tensor.Info, castTo tensor.DType, opt Options, out *report.Convert) (*fix.Step, *quant.FP8, error) {
	to := castTo
	if opt.Format == "gguf" || opt.DType == tensor.F8_E4M3 || opt.DType == tensor.F8_E5M2 {
		to = tensor.F32
	}
	step, after, f, err := report.FP8Scales(ck, *infos, to, opt.FP8Semantics)
	if err != nil || step == nil {
		return nil, f, err
	}
	*infos = after
	out.FP8Scales = fmt.Sprintf("%s layout: fp8 value × scale into %v", f.Layout, to)
	if to != tensor.F32 {
		out.FP8Scales += fmt.Sprintf(", rounded with %v", opt.FP8Semantics)
	}
	return step, f, nil
}

// checkFP8Kept refuses a conversion that keeps scaled fp8 weights but
// drops their scales (a target without scale tensors, no --dtype): the
// output would hold the fp8 values unscaled.
func checkFP8Kept(f *quant.FP8, pre *fix.Step, virt []fix.Tensor) error {
	if f == nil || !f.Scaled() || pre != nil {
		return nil
	}
	have := map[string]bool{}
	for _, t := range virt {
		have[t.Name] = true
	}
	for _, l := range f.Layers {
		if l.Scale != "" && have[l.Weight] && !have[l.Scale] {
			return fmt.Errorf("%s is a scaled fp8 weight and the plan drops its scale %s, which would leave its fp8 values unscaled (wrong weights): give --dtype bf16 (or fp32, fp16) to multiply the scales in", l.Weight, l.Scale)
		}
	}
	return nil
}
