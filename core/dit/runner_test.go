package dit

import (
	"context"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
)

// cpuRunner is a Runner over RunTokens on the kernels.CPU: what a device backend
// computes from patches, tfreq and yemb.
type cpuRunner struct {
	kernels.CPU
	calls int
}

func (r *cpuRunner) RunDiT(ctx context.Context, m *Model, patches, tfreq, yemb []float32, n int) ([]float32, error) {
	r.calls++
	return m.RunTokens(ctx, &r.CPU, patches, tfreq, yemb, n, nil)
}

func randomModel(t *testing.T, cfg Config) *Model {
	rng := rand.New(rand.NewPCG(1, 2))
	m, err := Load(cfg, func(name string) (*tensor.Dense, error) {
		var shape []int
		H, p := cfg.HiddenSize, cfg.PatchSize
		switch name {
		case "x_embedder.proj.weight":
			shape = []int{H, cfg.InChannels, p, p}
		case "x_embedder.proj.bias":
			shape = []int{H}
		case "pos_embed":
			return nil, nil
		case "y_embedder.embedding_table.weight":
			shape = []int{cfg.NumClasses + 1, H}
		}
		if shape == nil {
			if shape = guessShape(cfg, name); shape == nil {
				return nil, nil // the label table's absent bias
			}
		}
		d, err := tensor.NewDense(tensor.F32, shape...)
		if err != nil {
			return nil, err
		}
		v := make([]float32, d.Numel())
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.1)
		}
		return d, tensor.EncodeFloat32(tensor.F32, v, d.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func guessShape(cfg Config, name string) []int {
	H, mh, po := cfg.HiddenSize, cfg.MLPHidden(), cfg.PatchSize*cfg.PatchSize*cfg.OutChannels()
	for _, s := range []struct {
		suffix     string
		rows, cols int
	}{
		{"t_embedder.mlp.0", H, TimestepFreqs}, {"t_embedder.mlp.2", H, H},
		{"final_layer.adaLN_modulation.1", 2 * H, H}, {"final_layer.linear", po, H},
		{"adaLN_modulation.1", 6 * H, H}, {"attn.qkv", 3 * H, H}, {"attn.proj", H, H},
		{"mlp.fc1", mh, H}, {"mlp.fc2", H, mh},
	} {
		if strings.HasSuffix(name, s.suffix+".weight") {
			return []int{s.rows, s.cols}
		}
		if strings.HasSuffix(name, s.suffix+".bias") {
			return []int{s.rows}
		}
	}
	return nil
}

// A backend implementing Runner gets the whole forward (and CFG through
// it) unless a Hook asks for intermediates; the result is the kernels.CPU's.
func TestRunnerHook(t *testing.T) {
	cfg := Config{InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 32, Depth: 2, NumHeads: 4,
		NumClasses: 10, LearnSigma: true, MLPRatio: 4, NullClass: true}
	m := randomModel(t, cfg)
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 2*4*8*8)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	t2, y := []float64{10, 500}, []int{3, 10}
	ctx := context.Background()
	want, err := m.ForwardWithCFG(ctx, x, t2, y, 4, &Options{Backend: &kernels.CPU{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	r := &cpuRunner{CPU: kernels.CPU{Threads: 1}}
	got, err := m.ForwardWithCFG(ctx, x, t2, y, 4, &Options{Backend: r})
	if err != nil {
		t.Fatal(err)
	}
	if r.calls != 1 {
		t.Fatalf("RunDiT called %d times", r.calls)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("out[%d] = %v via Runner, %v op by op", i, got[i], want[i])
		}
	}
	hooked := 0
	if _, err := m.Forward(ctx, x, t2, y, &Options{Backend: r, Hook: func(string, []int, []float32) { hooked++ }}); err != nil {
		t.Fatal(err)
	}
	if r.calls != 1 || hooked == 0 {
		t.Fatalf("with a Hook: RunDiT calls %d, hook calls %d", r.calls, hooked)
	}
}
