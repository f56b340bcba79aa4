package dit_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Latte's references (x [B, F, C, H, W], class labels with the null
// class) and its intermediates through the hook.
func TestLatteReferences(t *testing.T) {
	c := loadForward2(t, "latte_ucf101", "latte", "ckpt.pt", nil)
	if dit.ChannelAxis(c.net) != 2 || c.net.Guided() != 4 || c.net.Classes() != 10 {
		t.Fatalf("axis %d, guided %d, classes %d", dit.ChannelAxis(c.net), c.net.Guided(), c.net.Classes())
	}
	for _, prec := range []string{"fp32", "fp64"} {
		name := "ref_forward_" + prec
		ts := fixtures.ReadAll(t, filepath.Join(c.dir, name+".safetensors"))
		in, err := dit.ReadInputs(c.net, ts, name)
		if err != nil {
			t.Fatal(err)
		}
		out, shape, err := c.net.Forward(context.Background(), in.X, in.Shape, in.T, in.Cond, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.EqualShape(shape, ts["out"].Shape) {
			t.Fatalf("%s: out shape %v, want %v", name, shape, ts["out"].Shape)
		}
		tol := map[string]float64{"fp32": 1e-5, "fp64": 5e-6}[prec]
		e := maxAbs(out, f64s(t, ts["out"]))
		t.Logf("%s: max abs err %.3g", name, e)
		if e > tol {
			t.Errorf("%s: max abs err %.3g > %g", name, e, tol)
		}
	}
	checkIntermediates(t, c)
}

// A Latte checkpoint ({'ema': sd}) detected from its shapes alone (the
// head count given) reproduces the reference.
func TestLatteDetected(t *testing.T) {
	dir := filepath.Join(fixtures.Root(t), "forward2", "latte_ucf101")
	n, r, err := dit.Load(tensor.Map(fixtures.ReadAll(t, filepath.Join(dir, "ckpt.pt"))), spec.Request{Set: map[string]any{"num_heads": 4}}, dit.Policy{Strict: true}, dit.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Spec; s.Family != "latte" || s.Int("extras") != 2 || s.Int("num_frames") != 4 || s.Int("num_classes") != 10 {
		t.Fatalf("detected %s", s.Name())
	}
	ts := fixtures.ReadAll(t, filepath.Join(dir, "ref_forward_fp32.safetensors"))
	in, err := dit.ReadInputs(n, ts, "ref_forward_fp32")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := n.Forward(context.Background(), in.X, in.Shape, in.T, in.Cond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := maxAbs(out, f64s(t, ts["out"])); e > 1e-5 {
		t.Errorf("detected: max abs err %.3g", e)
	}
}
