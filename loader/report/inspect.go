// Package report holds the JSON documents ditkit prints — inspect, diff,
// convert — and the human formatting of sizes and counts, so the CLI and
// the browser return the same fields. It builds the inspect and diff
// documents; the conversion engine (package loader/convert) fills Convert.
package report

import (
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/scan"
)

// Inspect is the document `ditkit inspect --json` prints.
type Inspect struct {
	File         string            `json:"file"`
	Size         int64             `json:"size"`
	Format       string            `json:"format"`
	WeightsRoot  string            `json:"weights_root"`
	Alternatives []string          `json:"weights_root_alternatives"`
	TensorCount  int               `json:"tensor_count"`
	Params       int64             `json:"params"`
	WeightParams int64             `json:"weights_params"`
	BytesByDType map[string]int64  `json:"bytes_by_dtype"`
	Tensors      []TensorInfo      `json:"tensors"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	Safety       Safety            `json:"safety"`
	Notes        []string          `json:"notes,omitempty"`
	Detected     *Detected         `json:"detected,omitempty"`
	GGUF         *GGUFInfo         `json:"gguf,omitempty"` // GGUF files: header, KV metadata (inspect_quant.go)
	FP8          *FP8Info          `json:"fp8,omitempty"`  // fp8 weights: layout and scales (inspect_quant.go)
}

type TensorInfo struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	// SHA256 of the tensor's contiguous bytes, with `inspect --sha256`
	// (which reads all the data); empty otherwise. For a quantized GGUF
	// tensor these are the dequantized F32 bytes.
	SHA256 string `json:"sha256,omitempty"`
	// GGUF files: the stored ggml type, the dims as stored (innermost
	// first) and, when Shape is not their plain reversal, why.
	GGUFType      string   `json:"gguf_type,omitempty"`
	GGUFDims      []uint64 `json:"gguf_dims,omitempty"`
	ShapeEvidence string   `json:"shape_evidence,omitempty"`
}

type Safety struct {
	Verdict  string          `json:"verdict"`
	Summary  string          `json:"summary"`
	Globals  []loader.Global `json:"globals"`
	Findings []string        `json:"findings,omitempty"`
}

func SafetyOf(ck *loader.Checkpoint) Safety {
	s := Safety{Verdict: loader.VerdictSafe, Globals: []loader.Global{}}
	if ck.Pickle != nil {
		s.Verdict = ck.Pickle.Verdict()
		s.Globals = ck.Pickle.UniqueGlobals()
		s.Findings = ck.Pickle.Findings
		if s.Globals == nil {
			s.Globals = []loader.Global{}
		}
	}
	s.Summary = VerdictSummary(ck.Format, s.Verdict)
	return s
}

// VerdictSummary is what a verdict means, in the words `ditkit scan` uses.
func VerdictSummary(format, v string) string { return scan.Summary(format, v) }

func BuildInspect(ck *loader.Checkpoint) *Inspect {
	RestoreGGUF(ck, TargetRequest{}) // GGUF shapes the detected spec confirms, with evidence (gguf.go)
	out := &Inspect{
		File: ck.Name, Size: ck.Size, Format: ck.Format, WeightsRoot: ck.WeightsRoot,
		Alternatives: ck.Alternatives, TensorCount: len(ck.Tensors), BytesByDType: map[string]int64{},
		Metadata: ck.Metadata, Safety: SafetyOf(ck), Notes: ck.Notes, Tensors: make([]TensorInfo, 0, len(ck.Tensors)),
	}
	if out.Alternatives == nil {
		out.Alternatives = []string{}
	}
	for _, t := range ck.Tensors {
		ti := TensorInfo{Name: t.Name, DType: t.DType.String(), Shape: t.Shape}
		if g := t.GGUF; g != nil {
			ti.GGUFType, ti.GGUFDims, ti.ShapeEvidence = g.Type.String(), g.Dims, g.Evidence
			if ti.GGUFDims == nil {
				ti.GGUFDims = []uint64{}
			}
		}
		out.Tensors = append(out.Tensors, ti)
		out.Params += t.Numel()
		out.BytesByDType[t.DType.String()] += t.NBytes()
	}
	for _, t := range ck.Weights() {
		out.WeightParams += t.Numel()
	}
	out.Detected = Detect(ck)
	if ck.GGUF != nil {
		out.GGUF = ggufInfo(ck)
	}
	var note string
	if out.FP8, note = fp8Info(ck); note != "" {
		out.Notes = append(append([]string(nil), out.Notes...), note)
	}
	return out
}
