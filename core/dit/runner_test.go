package dit

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/tensor"
)

// cpuRunner is a Runner that runs the program op by op on the CPU, as a
// device's runner falls back to.
type cpuRunner struct {
	CPU   kernels.CPU
	calls int
	progs map[*Program]bool
}

func (r *cpuRunner) Run(ctx context.Context, p *Program, f *Feed) ([]float32, error) {
	r.calls++
	r.progs[p] = true
	return Eager(ctx, p, f, &Options{Backend: &r.CPU})
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

// Options.Runner runs the whole program (and CFG through it), reusing one
// program per batch size; the result is the op-by-op one. A Hook with a
// Runner is refused, never silently ignored.
func TestRunnerOption(t *testing.T) {
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
	r := &cpuRunner{CPU: kernels.CPU{Threads: 1}, progs: map[*Program]bool{}}
	for range 2 {
		got, err := m.ForwardWithCFG(ctx, x, t2, y, 4, &Options{Runner: r})
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("out[%d] = %v via Runner, %v op by op", i, got[i], want[i])
			}
		}
	}
	if r.calls != 2 || len(r.progs) != 1 {
		t.Fatalf("Run called %d times with %d programs", r.calls, len(r.progs))
	}
	_, err = m.Forward(ctx, x, t2, y, &Options{Runner: r, Hook: func(string, []int, []float32) {}})
	if !errors.Is(err, ErrHookNeedsEager) || r.calls != 2 {
		t.Fatalf("Hook with a Runner: %v (%d calls)", err, r.calls)
	}
	if f := m.FLOPs(2); f != m.Program(2).FLOPs() || f <= 0 {
		t.Errorf("FLOPs %v", f)
	}
}
