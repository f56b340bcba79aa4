package convert

import (
	"fmt"
	"strings"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// QuantChoices are a conversion's GGUF and fp8 choices as `ditkit
// convert`'s flags and window.ditkit.convert's options give them; Apply
// checks them against the output format and the input, with the same
// words on both (the flags' names).
type QuantChoices struct {
	Quant     string // --quant: the main ggml type of a .gguf output ("": convert.py's choice)
	Threshold int64  // --quant-threshold (loader.DefaultQuantThreshold when not given; 0 quantizes every tensor whose rows fit)
	Arch      string // --gguf-arch
	FP8Scaled bool   // --fp8-scaled
	// FP8Semantics is --fp8-semantics: "new" (or "") or "old".
	FP8Semantics string
	// DTypeGiven says --dtype was given: without it a GGUF input
	// converts to bf16.
	DTypeGiven bool
}

// GGUFInputNote is the note a GGUF input converted without a dtype gets.
const GGUFInputNote = "GGUF input: tensors dequantized and written as bf16 (the default for GGUF input; --dtype fp32 keeps ggml's exact f32 dequantization)"

// Apply checks the choices against opt.Format, opt.DType and the input
// checkpoint, and sets opt's GGUF and fp8 options; notes say what was
// chosen for the user.
func (q QuantChoices) Apply(opt *Options, ck *loader.Checkpoint) (notes []string, err error) {
	switch strings.ToLower(q.FP8Semantics) {
	case "new", "":
		opt.FP8Semantics = quant.ScaleF32Opmath
	case "old":
		opt.FP8Semantics = quant.ScaleRoundedFirst
	default:
		return nil, fmt.Errorf("--fp8-semantics %q: want new or old", q.FP8Semantics)
	}
	fp8 := opt.DType == tensor.F8_E4M3 || opt.DType == tensor.F8_E5M2
	if q.FP8Scaled && !fp8 {
		return nil, fmt.Errorf("--fp8-scaled needs --dtype fp8_e4m3 or fp8_e5m2")
	}
	opt.FP8Scaled = q.FP8Scaled
	if opt.Format != "gguf" {
		if q.Quant != "" || q.Arch != "" || q.Threshold != loader.DefaultQuantThreshold {
			return nil, fmt.Errorf("--quant, --quant-threshold and --gguf-arch apply to a .gguf output only")
		}
		if !q.DTypeGiven && ck.Format == loader.FormatGGUF {
			opt.DType = tensor.BF16
			notes = append(notes, GGUFInputNote)
		}
		return notes, nil
	}
	if opt.DType != tensor.Invalid {
		return nil, fmt.Errorf("--dtype does not apply to a .gguf output: --quant chooses its types")
	}
	if q.Quant != "" {
		if _, err := ParseQuant(q.Quant); err != nil {
			return nil, err
		}
	}
	if q.Threshold < 0 {
		return nil, fmt.Errorf("--quant-threshold %d: want 0 or more elements", q.Threshold)
	}
	opt.GGUF = GGUFOptions{Quant: q.Quant, Threshold: q.Threshold, Arch: q.Arch}
	if q.Threshold == 0 {
		opt.GGUF.Threshold = QuantAll
	}
	return notes, nil
}
