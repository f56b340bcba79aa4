package report

import (
	"fmt"
	"strings"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
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

	// GGUF: the type policy's outcome for a .gguf output (gguf.go);
	// GGUFRestored: GGUF input tensors whose stored shape was restored,
	// with the evidence. FP8Scales says how scaled fp8 weights were
	// dequantized ("" when none were). Notes are things worth knowing.
	GGUF         *GGUFWritten             `json:"gguf,omitempty"`
	GGUFRestored []loader.GGUFRestoration `json:"gguf_restored,omitempty"`
	FP8Scales    string                   `json:"fp8_scales,omitempty"`
	Notes        []string                 `json:"notes,omitempty"`
}

// Written is one output tensor and the sha256 of its bytes.
type Written struct {
	Name   string `json:"name"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	SHA256 string `json:"sha256,omitempty"`

	// GGUF outputs: the stored ggml type (DType is what a dense read
	// gives: F32 for quantized types), why the policy chose it, and the
	// dequantization error against the source values (absent when the
	// tensor was stored as it was).
	GGUFType     string   `json:"gguf_type,omitempty"`
	TypeReason   string   `json:"type_reason,omitempty"`
	MaxAbsError  *float64 `json:"max_abs_error,omitempty"`
	MeanAbsError *float64 `json:"mean_abs_error,omitempty"`

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

// ParseConvertDType reads `ditkit convert --dtype`: what ParseDType
// takes, plus fp8_e4m3 (float8_e4m3fn) and fp8_e5m2 (float8_e5m2).
func ParseConvertDType(v string) (tensor.DType, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "fp8_e4m3", "fp8_e4m3fn", "float8_e4m3fn", "f8_e4m3":
		return tensor.F8_E4M3, nil
	case "fp8_e5m2", "float8_e5m2", "f8_e5m2":
		return tensor.F8_E5M2, nil
	}
	dt, err := ParseDType(v)
	if err != nil {
		return dt, fmt.Errorf("--dtype %q: want keep, fp32, fp16, bf16, fp8_e4m3 or fp8_e5m2", v)
	}
	return dt, nil
}
