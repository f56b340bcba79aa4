package report

import (
	"fmt"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// FP8Scales prepares a conversion of scaled-fp8 weights to dtype to:
// when the checkpoint's fp8 weights carry scales (either ComfyUI layout)
// and to is F32, BF16 or F16, step multiplies them in and drops the
// scale and marker tensors, and infos are the tensors after it. Otherwise
// step is nil and infos are returned as given. f is the detected fp8
// layout (nil: no fp8).
func FP8Scales(ck *loader.Checkpoint, infos []tensor.Info, to tensor.DType, sem quant.ScaleSemantics) (step *fix.Step, out []tensor.Info, f *quant.FP8, err error) {
	f, err = quant.DetectFP8(infos, ck.Metadata)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", ck.Name, err)
	}
	if f == nil || (!f.Scaled() && len(f.Aux) == 0) || (to != tensor.F32 && to != tensor.BF16 && to != tensor.F16) {
		return nil, infos, f, nil
	}
	step = fix.DequantizeFP8(f, to, sem)
	virt, err := fix.FromInfos(infos)
	if err != nil {
		return nil, nil, nil, err
	}
	if virt, err = step.Apply(virt); err != nil {
		return nil, nil, nil, err
	}
	return step, fix.Infos(virt), f, nil
}

// fp8Warnings says when loading a scaled-fp8 file into the target would
// ignore its scales: the target has none of the scale tensors, so
// load_state_dict drops them and the fp8 values are used unscaled (the
// washed-out or white images users report).
func fp8Warnings(f *quant.FP8, tg *diff.Target, applied bool) []string {
	if f == nil || !f.Scaled() || applied {
		return nil
	}
	want := map[string]bool{}
	for _, e := range tg.Entries {
		want[e.Name] = true
	}
	n := 0
	var first string
	for _, l := range f.Layers {
		if l.Scale != "" && !want[l.Scale] {
			if n == 0 {
				first = l.Scale
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return []string{fmt.Sprintf("the file is scaled fp8 (%s layout) and the target has no scale tensors (%s and %d more): loading it there ignores the scales and gives wrong weights; `ditkit convert --dtype bf16` (or fp32) multiplies them in", f.Layout, first, n-1)}
}
