package report

import (
	"fmt"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// RestoreGGUF restores the shapes of a GGUF checkpoint's tensors that
// GGUF writers mangle (stable-diffusion.cpp's folded Conv3d, dropped
// leading size-1 dims …) where a model definition confirms them: the
// target's spec when req names one, else the spec of the family detected
// from the tensors. It returns every tensor whose shape differs from its
// stored dims, with the evidence, those the file's own
// comfy.gguf.orig_shape metadata restored included. Nothing is reshaped
// without a confirming spec. Calling it again changes nothing.
func RestoreGGUF(ck *loader.Checkpoint, req TargetRequest) []loader.GGUFRestoration {
	if ck.GGUF == nil {
		return nil
	}
	infos := WeightInfos(ck)
	shapes := map[string][]int{}
	source := ""
	if req.Arch != "" || len(req.Spec) > 0 {
		if tg, err := req.Target(infos); err == nil {
			for _, e := range tg.Entries {
				if e.Shape != nil {
					shapes[e.Name] = e.Shape
				}
			}
			source = "the target " + tg.Label
		}
	}
	if source == "" {
		if d := spec.Detect(infos); d.Params != nil {
			if keys, err := d.Params.Keys(); err == nil {
				for _, e := range keys {
					shapes[e.Name] = e.Shape
					shapes[d.Prefix+e.Name] = e.Shape
				}
				source = fmt.Sprintf("the detected %s spec", d.Family)
			}
		}
	}
	var out []loader.GGUFRestoration
	restored := map[string]bool{}
	if source != "" {
		for _, r := range ck.RestoreGGUFShapes(loader.ExpectShapes(shapes), source) {
			restored[r.Name] = true
			out = append(out, r)
		}
	}
	for _, t := range ck.Tensors {
		g := t.GGUF
		if g == nil || restored[t.Name] || !g.Confirmed || tensor.EqualShape(g.Stored, t.Shape) {
			continue
		}
		out = append(out, loader.GGUFRestoration{Name: t.Name, Stored: g.Stored, Restored: t.Shape, Convention: loader.ConventionOrigShape, Evidence: g.Evidence})
	}
	return out
}

// GGUFWritten is the "gguf" object of convert --json for a .gguf output:
// the architecture written and why, the type policy, how many tensors
// got each ggml type, and the dequantization error against the values
// that were quantized.
type GGUFWritten struct {
	Architecture         string         `json:"architecture"`
	ArchitectureEvidence string         `json:"architecture_evidence"`
	Quant                string         `json:"quant"`
	QuantThreshold       int64          `json:"quant_threshold"`
	FileType             uint32         `json:"file_type"`
	TypeCounts           map[string]int `json:"type_counts"`
	// MaxAbsError and MeanAbsError compare every written value with its
	// source value (0 for tensors stored as they were), over
	// ComparedElements finite source values.
	MaxAbsError      float64  `json:"max_abs_error"`
	MeanAbsError     float64  `json:"mean_abs_error"`
	ComparedElements int64    `json:"compared_elements"`
	NonFinite        int64    `json:"non_finite_source_elements,omitempty"`
	Overflow         int64    `json:"overflow_elements,omitempty"`
	Dropped          []string `json:"dropped,omitempty"`
	Workers          int      `json:"workers"`
}

// AddError folds one tensor's error statistics into the totals.
func (g *GGUFWritten) AddError(e quant.ErrorStats) {
	g.MaxAbsError = max(g.MaxAbsError, e.Max)
	total := g.MeanAbsError*float64(g.ComparedElements) + e.Sum
	g.ComparedElements += e.N
	if g.ComparedElements > 0 {
		g.MeanAbsError = total / float64(g.ComparedElements)
	}
	g.NonFinite += e.NonFinite
	g.Overflow += e.Overflow
}
