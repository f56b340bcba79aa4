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

// build builds the net of tensors w with the architecture resolved from
// them (target nil: detected, heads settling what shapes cannot tell).
func build(t testing.TB, w map[string]*tensor.Dense, target *spec.Spec, heads int) dit.Net {
	t.Helper()
	req := spec.Request{Target: target}
	if heads > 0 {
		req.Set = map[string]any{"num_heads": heads}
	}
	r, err := spec.Resolve(tensor.Map(w).Infos(), req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := dit.Build(tensor.Map(w), r, dit.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// specOf is the "dit" spec of a config.
func specOf(t testing.TB, cfg dit.Config) *spec.Spec {
	t.Helper()
	dropout := 0.0
	if cfg.NullClass {
		dropout = 0.1
	}
	s, err := spec.New("dit", map[string]any{"input_size": cfg.InputSize, "patch_size": cfg.PatchSize, "in_channels": cfg.InChannels,
		"hidden_size": cfg.HiddenSize, "depth": cfg.Depth, "num_heads": cfg.NumHeads, "num_classes": cfg.NumClasses,
		"learn_sigma": cfg.LearnSigma, "mlp_ratio": cfg.MLPRatio, "class_dropout_prob": dropout})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forward runs a DiT on labels y (CFG with scale > 0).
func forward(t testing.TB, n dit.Net, x []float32, ts []float64, y []int, scale float32, opt *dit.Options) []float32 {
	t.Helper()
	shape := append([]int{len(ts)}, n.Latent()...)
	var out []float32
	var err error
	if scale > 0 {
		out, _, err = dit.ForwardWithCFG(context.Background(), n, x, shape, ts, &dit.Cond{Labels: y}, scale, opt)
	} else {
		out, _, err = n.Forward(context.Background(), x, shape, ts, &dit.Cond{Labels: y}, opt)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func f32s(t testing.TB, d *tensor.Dense) []float32 {
	t.Helper()
	v, err := d.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func f64s(t testing.TB, d *tensor.Dense) []float64 {
	t.Helper()
	v, err := d.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ints(t testing.TB, d *tensor.Dense) []int {
	t.Helper()
	v, err := d.Int64s()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// relErr is max|a−b| / max|ref|.
func relErr(a []float32, ref []float64) float64 {
	var md, mr float64
	for i := range ref {
		d := float64(a[i]) - ref[i]
		if d < 0 {
			d = -d
		}
		md = max(md, d)
		r := ref[i]
		if r < 0 {
			r = -r
		}
		mr = max(mr, r)
	}
	if mr == 0 {
		return md
	}
	return md / mr
}

// loadDiT loads a dit_A checkpoint.
func loadDiT(t testing.TB, file string) *dit.Model {
	t.Helper()
	w := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), "dit_A", file))
	return build(t, w, nil, 4).(*dit.Model)
}
