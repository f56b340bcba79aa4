package sample_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func load(t *testing.T, model string, heads int) dit.Net {
	t.Helper()
	w := fixtures.ReadAll(t, fixtures.Path(t, model+"/ckpt_plain.pt"))
	n, _, err := dit.Load(tensor.Map(w), spec.Request{Set: map[string]any{"num_heads": heads}}, dit.Policy{Strict: true}, dit.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func relErr(t *testing.T, got []float32, ref *tensor.Dense) float64 {
	t.Helper()
	r, err := ref.Float64s()
	if err != nil || len(r) != len(got) {
		t.Fatalf("%d values vs %d (%v)", len(got), len(r), err)
	}
	var md, mr float64
	for i := range r {
		md = math.Max(md, math.Abs(float64(got[i])-r[i]))
		mr = math.Max(mr, math.Abs(r[i]))
	}
	return md / mr
}

// The loop reproduces DiT's samplers from the references' noise: dit_A with
// guidance 4 (the doubled batch, class from the file's [5, 10]) and dit_C
// unguided on a batch of two classes ([2, 5]), every step.
func TestRunMatchesReferences(t *testing.T) {
	for _, c := range []struct {
		model, ref, sampler string
		heads               int
		cfg                 float64
	}{
		{"dit_A", "ref_sampler_ddpm4", "ddpm", 4, 4},
		{"dit_A", "ref_sampler_ddim4", "ddim", 4, 4},
		{"dit_C", "ref_sampler_ddpm4", "ddpm", 2, 1},
	} {
		net := load(t, c.model, c.heads)
		ref := fixtures.ReadAll(t, fixtures.Path(t, c.model+"/"+c.ref+".safetensors"))
		noise, y, steps, err := sample.NoiseFile(ref, c.ref)
		if err != nil {
			t.Fatal(err)
		}
		var xs []float32
		res, err := sample.Run(context.Background(), net, sample.Request{Steps: steps, Sampler: c.sampler, CFGScale: c.cfg,
			FileLabels: y, Noise: noise, Step: func(i, n, tt int, x []float32) { xs = append(xs, x...) }})
		if err != nil {
			t.Fatal(err)
		}
		wantN := 2 // unguided: two classes
		if c.cfg > 1 {
			wantN = 1 // guided: [z; z]
		}
		if res.N != wantN || res.Guided != (c.cfg > 1) || res.Shape[0] != 2 {
			t.Errorf("%s %s: N %d guided %v shape %v", c.model, c.ref, res.N, res.Guided, res.Shape)
		}
		for name, got := range map[string][]float32{"out": res.Out, "x_steps": xs} {
			if e := relErr(t, got, ref[name]); e > 1e-5 {
				t.Errorf("%s %s %s: max rel err %.3g", c.model, c.ref, name, e)
			} else {
				t.Logf("%s %s %s: max rel err %.3g", c.model, c.ref, name, e)
			}
		}
	}
}

// Seeded runs: one class is one sample (two with guidance), a list one
// sample per class; bad requests are refused with a clear error.
func TestRunBatchesAndErrors(t *testing.T) {
	net := load(t, "dit_C", 2)
	ctx := context.Background()
	for _, c := range []struct {
		labels  []int
		cfg     float64
		n, b    int
		wantErr string
	}{
		{nil, 4, 1, 2, ""},
		{[]int{1, 4, 6}, 1, 3, 3, ""},
		{[]int{1, 4}, 3, 2, 4, ""},
		{[]int{7}, 1, 0, 0, "class 7 outside [0, 6)"},
	} {
		res, err := sample.Run(ctx, net, sample.Request{Steps: 2, CFGScale: c.cfg, Labels: c.labels, Noise: sample.Noise{Seed: 3}})
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%v: %v, want %q", c.labels, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", c.labels, err)
		}
		if res.N != c.n || res.Shape[0] != c.b || len(res.Out) != c.b*4*8*8 {
			t.Errorf("%v cfg %v: N %d shape %v", c.labels, c.cfg, res.N, res.Shape)
		}
		if img, err := res.Image(); err != nil || img.Bounds().Dx() != c.n*64 {
			t.Errorf("%v: image %v %v", c.labels, img.Bounds(), err)
		}
	}
	for _, req := range []sample.Request{
		{Steps: 0},
		{Steps: 1001},
		{Steps: 2, Sampler: "euler"},
		{Steps: 2, Labels: []int{1, 2}, Noise: sample.Noise{X: make([]float32, 3*4*8*8), Name: "n.safetensors"}},
		{Steps: 2, Noise: sample.Noise{X: make([]float32, 4*8*8+1), Name: "n.safetensors"}},
		{Steps: 2, Noise: sample.Noise{X: make([]float32, 4*8*8), Steps: make([]float32, 10), Name: "n.safetensors"}},
	} {
		if _, err := sample.Run(ctx, net, req); err == nil {
			t.Errorf("steps %d, labels %v, %d noise values accepted", req.Steps, req.Labels, len(req.Noise.X))
		} else {
			t.Log(err)
		}
	}
	if _, err := sample.ParseLabels("3, x"); err == nil {
		t.Error("ParseLabels accepted x")
	}
	if l, err := sample.ParseLabels(" 1,11 "); err != nil || len(l) != 2 || l[1] != 11 {
		t.Errorf("ParseLabels: %v %v", l, err)
	}
}

// PixArt's IDDPM path (PixArt-alpha scripts/inference.py, sampling_algo
// iddpm): IDDPM('4'), learned-range variance, forward_with_cfg against
// the null caption at 4.5 guiding channels [:3], α's PixArtMS dropping the
// mask — every step of the reference from its noise (fp32 and fp64
// references, relative to max |ref| as the README says).
func TestRunMatchesPixArtIDDPM(t *testing.T) {
	dir := fixtures.Path(t, "forward2/pixartms_alpha_1024")
	w := fixtures.ReadAll(t, dir+"/ckpt.pth")
	target, err := spec.Parse([]byte(`{"family": "pixart-alpha", "input_size": 8, "hidden_size": 96, "depth": 2, "num_heads": 6,
		"caption_channels": 32, "model_max_length": 8, "lewei_scale": 2.0, "micro_condition": true}`))
	if err != nil {
		t.Fatal(err)
	}
	net, _, err := dit.Load(tensor.Map(w), spec.Request{Target: target}, dit.Policy{Strict: true}, dit.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, prec := range []string{"fp32", "fp64"} {
		ref := fixtures.ReadAll(t, dir+"/ref_sampler_iddpm4_"+prec+".safetensors")
		noise, y, steps, err := sample.NoiseFile(ref, "ref_sampler_iddpm4_"+prec)
		if err != nil {
			t.Fatal(err)
		}
		if y != nil || noise.Caption == nil || steps != 4 {
			t.Fatalf("labels %v, caption %v, steps %d", y, noise.Caption, steps)
		}
		var xs []float32
		var ts []int
		res, err := sample.Run(context.Background(), net, sample.Request{Steps: steps, CFGScale: 4.5, Noise: noise,
			Step: func(i, n, tt int, x []float32) { xs = append(xs, x...); ts = append(ts, tt) }})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Guided || res.N != 1 || !tensor.EqualShape(res.Shape, []int{2, 4, 8, 12}) || !strings.Contains(res.Conditioning, "caption") {
			t.Fatalf("guided %v N %d shape %v (%s)", res.Guided, res.N, res.Shape, res.Conditioning)
		}
		want, _ := ref["timesteps"].Ints()
		if len(ts) != 4 || ts[0] != want[0] || ts[3] != want[3] {
			t.Errorf("timesteps %v, want %v", ts, want)
		}
		tol := 1e-5
		for name, got := range map[string][]float32{"out": res.Out, "x_steps": xs} {
			e := relErr(t, got, ref[name])
			t.Logf("%s %s: max rel err %.3g", prec, name, e)
			if e > tol {
				t.Errorf("%s %s: max rel err %.3g > %g", prec, name, e, tol)
			}
		}
	}
}
