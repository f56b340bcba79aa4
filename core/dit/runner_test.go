package dit

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/spec"
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

// Options.Runner runs the whole program (and CFG through it), reusing one
// program per batch size; the result is the op-by-op one. A Hook with a
// Runner is refused, never silently ignored.
func TestRunnerOption(t *testing.T) {
	s, err := spec.New("dit", map[string]any{"input_size": 8, "hidden_size": 32, "depth": 2, "num_heads": 4, "num_classes": 10})
	if err != nil {
		t.Fatal(err)
	}
	src, err := RandomWeights(s, tensor.F32, 1)
	if err != nil {
		t.Fatal(err)
	}
	net, err := Build(src, &spec.Resolution{Spec: s}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := net.(*Model)
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 2*4*8*8)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	shape, t2, c := []int{2, 4, 8, 8}, []float64{10, 500}, &Cond{Labels: []int{3, 10}}
	ctx := context.Background()
	want, _, err := ForwardWithCFG(ctx, m, x, shape, t2, c, 4, &Options{Backend: &kernels.CPU{Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	r := &cpuRunner{CPU: kernels.CPU{Threads: 1}, progs: map[*Program]bool{}}
	for range 2 {
		got, _, err := ForwardWithCFG(ctx, m, x, shape, t2, c, 4, &Options{Runner: r})
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
	_, _, err = m.Forward(ctx, x, shape, t2, c, &Options{Runner: r, Hook: func(string, []int, []float32) {}})
	if !errors.Is(err, ErrHookNeedsEager) || r.calls != 2 {
		t.Fatalf("Hook with a Runner: %v (%d calls)", err, r.calls)
	}
	if f := m.FLOPs(2); f != m.Program(2).FLOPs() || f <= 0 {
		t.Errorf("FLOPs %v", f)
	}
}
