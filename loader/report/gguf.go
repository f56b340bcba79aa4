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
// from the tensors, and then only when that spec accounts for every
// tensor's shape once restored (a spec derived from mangled shapes could
// otherwise "confirm" a wrong one). Detection sees the candidates of
// loader.ShapeCandidates (a folded Conv3d weight unfolded by its bias
// length, position and modulation tables with their leading 1). It returns every tensor whose shape differs from its
// stored dims, with the evidence, those the file's own
// comfy.gguf.orig_shape metadata restored included. Calling it again
// changes nothing.
func RestoreGGUF(ck *loader.Checkpoint, req TargetRequest) []loader.GGUFRestoration {
	if ck.GGUF == nil {
		return nil
	}
	infos := ck.Infos()
	var rs []loader.GGUFRestoration
	if req.Arch != "" || len(req.Spec) > 0 {
		if tg, err := req.Target(infos); err == nil {
			shapes := map[string][]int{}
			for _, e := range tg.Entries {
				if e.Shape != nil {
					shapes[e.Name] = e.Shape
				}
			}
			rs = ck.RestoreGGUFShapes(loader.ExpectShapes(shapes), "the target "+tg.Label)
		}
	} else {
		rs = restoreByDetection(ck, infos)
	}
	restored := map[string]bool{}
	for _, r := range rs {
		restored[r.Name] = true
	}
	for _, t := range ck.Tensors {
		g := t.GGUF
		if g == nil || restored[t.Name] || !g.Confirmed || tensor.EqualShape(g.Stored, t.Shape) {
			continue
		}
		rs = append(rs, loader.GGUFRestoration{Name: t.Name, Stored: g.Stored, Restored: t.Shape, Convention: loader.ConventionOrigShape, Evidence: g.Evidence})
	}
	return rs
}

// restoreByDetection restores what the detected family's spec confirms
// for the whole checkpoint.
func restoreByDetection(ck *loader.Checkpoint, infos []tensor.Info) []loader.GGUFRestoration {
	cand := ck.ShapeCandidates()
	probe := make([]tensor.Info, len(infos))
	for i, in := range infos {
		probe[i] = in
		if s, ok := cand[in.Name]; ok {
			probe[i].Shape = s
		}
	}
	d := spec.Detect(probe)
	if d.Params == nil {
		return nil
	}
	keys, err := d.Params.Keys()
	if err != nil {
		return nil
	}
	shapes := map[string][]int{}
	for _, e := range keys {
		shapes[d.Prefix+e.Name] = e.Shape
	}
	expect := loader.ExpectShapes(shapes)
	rs := ck.PlanGGUFShapes(expect, fmt.Sprintf("the detected %s spec", d.Family))
	if len(rs) == 0 {
		return nil
	}
	final := map[string][]int{}
	for _, r := range rs {
		final[r.Name] = r.Restored
	}
	for _, in := range infos {
		want, ok := expect(in.Name)
		got := in.Shape
		if s, ok := final[in.Name]; ok {
			got = s
		}
		if ok && want != nil && !tensor.EqualShape(got, want) {
			return nil // the spec does not account for this checkpoint
		}
	}
	ck.ApplyGGUFShapes(rs)
	return rs
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
