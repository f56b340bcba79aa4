package convert_test

import (
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/convert"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// The GGUF/fp8 choices are checked as the CLI flags are, in their words.
func TestQuantChoices(t *testing.T) {
	ck, f, err := loader.OpenFile(fixtures.Path(t, "gguf_fp8/gguf/tiny_Q8_0.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	def := int64(loader.DefaultQuantThreshold)
	for _, c := range []struct {
		format string
		dt     tensor.DType
		q      convert.QuantChoices
		err    string
	}{
		{"safetensors", tensor.Invalid, convert.QuantChoices{Threshold: def, FP8Semantics: "sideways"}, "--fp8-semantics"},
		{"safetensors", tensor.BF16, convert.QuantChoices{Threshold: def, FP8Scaled: true}, "--fp8-scaled needs"},
		{"safetensors", tensor.Invalid, convert.QuantChoices{Threshold: def, Quant: "Q8_0"}, "apply to a .gguf output only"},
		{"gguf", tensor.BF16, convert.QuantChoices{Threshold: def}, "--dtype does not apply"},
		{"gguf", tensor.Invalid, convert.QuantChoices{Threshold: -1}, "--quant-threshold -1"},
		{"gguf", tensor.Invalid, convert.QuantChoices{Threshold: def, Quant: "Q9_9"}, "--quant \"Q9_9\""},
	} {
		opt := convert.Options{Format: c.format, DType: c.dt}
		if _, err := c.q.Apply(&opt, ck); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%+v: %v, want %q", c, err, c.err)
		}
	}
	opt := convert.Options{Format: "safetensors"}
	notes, err := convert.QuantChoices{Threshold: def}.Apply(&opt, ck)
	if err != nil || opt.DType != tensor.BF16 || len(notes) != 1 || notes[0] != convert.GGUFInputNote {
		t.Errorf("a GGUF input without --dtype: %v %v %q", err, opt.DType, notes)
	}
	opt = convert.Options{Format: "gguf"}
	if _, err := (convert.QuantChoices{Quant: "Q4_K"}).Apply(&opt, ck); err != nil || opt.GGUF.Threshold != convert.QuantAll || opt.GGUF.Quant != "Q4_K" {
		t.Errorf("threshold 0: %v %+v", err, opt.GGUF)
	}
}
