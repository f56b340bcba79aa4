package dit_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func TestSTDiTReferences(t *testing.T) {
	dir := filepath.Join(fixtures.Root(t), "stdit_tiny")
	w := fixtures.ReadAll(t, filepath.Join(dir, "ckpt_plain.pt"))
	m := build(t, w, nil, 4).(*dit.STDiT)
	if cfg := m.Cfg; cfg.InputSize[0] != 2 || cfg.InputSize[1] != 8 || cfg.CaptionChannels != 32 || cfg.ModelMaxLength != 8 || !cfg.PredSigma || cfg.Depth != 2 {
		t.Fatalf("config %+v", cfg)
	}
	for _, name := range []string{"ref_forward_null_fp32", "ref_forward_mixed_fp32", "ref_forward_masked_fp32"} {
		t.Run(name, func(t *testing.T) {
			ref := fixtures.ReadAll(t, filepath.Join(dir, name+".safetensors"))
			var mask []int
			if ref["mask"] != nil {
				mask = ints(t, ref["mask"])
			}
			out, shape, err := m.Forward(context.Background(), f32s(t, ref["x"]), ref["x"].Shape, f64s(t, ref["t"]), &dit.Cond{Caption: f32s(t, ref["y"]), Mask: mask}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(shape) != 5 || shape[1] != 8 {
				t.Fatalf("shape %v", shape)
			}
			e := relErr(out, f64s(t, ref["out"]))
			t.Logf("max rel err %.3g", e)
			if e > 1e-5 {
				t.Errorf("max rel err %.3g > 1e-5", e)
			}
			if name == "ref_forward_null_fp32" {
				// y = nil must mean the model's own null caption.
				out2, _, err := m.Forward(context.Background(), f32s(t, ref["x"]), ref["x"].Shape, f64s(t, ref["t"]), nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(out2, f64s(t, ref["out"])); e > 1e-5 {
					t.Errorf("null caption by default: max rel err %.3g", e)
				}
			}
		})
	}
}
