package report

import (
	"fmt"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/tensor"
)

// Convert is the document `ditkit convert --json` prints. The conversion
// engine (package loader/convert) fills it in.
type Convert struct {
	File        string            `json:"file"`
	Output      string            `json:"output"`
	Format      string            `json:"format"`
	Wrap        string            `json:"wrap,omitempty"`
	Target      string            `json:"target,omitempty"`
	WeightsRoot string            `json:"weights_root"`
	Applied     []*fix.Step       `json:"applied"`
	Skipped     []string          `json:"skipped,omitempty"` // plan steps not selected
	Tensors     []Written         `json:"tensors"`
	Bytes       int64             `json:"bytes"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Safety      Safety            `json:"safety"`
	Remaining   []diff.Finding    `json:"remaining,omitempty"` // vs the target, after conversion
	Clean       *bool             `json:"clean,omitempty"`     // the output's diff against the target
	// Verdict is the comparison's verdict before conversion (as diff
	// --json's); without a target, "clean" with nothing compared.
	Verdict      diff.Verdict `json:"verdict"`
	Verified     bool         `json:"verified"`
	Verification string       `json:"verification,omitempty"`
	// Seconds the CLI spent writing (reading, fixing, casting, hashing
	// included) and verifying; absent where nothing timed it.
	WriteSeconds  float64 `json:"write_seconds,omitempty"`
	VerifySeconds float64 `json:"verify_seconds,omitempty"`
	// Components are the reports of the bundled networks written to files
	// of their own (convert --split-components).
	Components []*Convert `json:"components,omitempty"`
}

// Written is one output tensor and the sha256 of its bytes.
type Written struct {
	Name   string `json:"name"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	SHA256 string `json:"sha256,omitempty"`

	// ReadBack is what the conversion re-read of this tensor from the
	// output file while writing it (nil: nothing; verification reads it).
	// Not part of the JSON document.
	ReadBack *ReadBack `json:"-"`
}

// ReadBack is the sha256 of the bytes re-read from an output file at
// [Off, Off+N) once they were written.
type ReadBack struct {
	Off, N int64
	SHA256 string
}

// ParseDType reads a --dtype value as `ditkit convert` and `ditkit diff`
// (and the page) take it: keep (or "") → tensor.Invalid, else fp32, fp16,
// bf16 (fp64 too) by any name tensor.ParseDType knows.
func ParseDType(v string) (tensor.DType, error) {
	if v == "" || v == "keep" {
		return tensor.Invalid, nil
	}
	dt, err := tensor.ParseDType(v)
	if err != nil || (dt != tensor.F32 && dt != tensor.F16 && dt != tensor.BF16 && dt != tensor.F64) {
		return tensor.Invalid, fmt.Errorf("--dtype %q: want keep, fp32, fp16 or bf16", v)
	}
	return dt, nil
}
