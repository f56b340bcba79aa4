package dit_test

import (
	"context"
	"errors"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
)

// TestYieldAndCancel checks the browser hooks: Yield is called between
// chunks on the single-threaded path, and a cancelled context stops the
// forward between blocks.
func TestYieldAndCancel(t *testing.T) {
	cfg := dit.Config{InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 64, Depth: 3, NumHeads: 4, NumClasses: 5, LearnSigma: true, MLPRatio: 4, NullClass: true}
	m := build(t, randomDiT(cfg, 3, true), specOf(t, cfg), 0)
	shape := []int{1, 4, 8, 8}
	x := make([]float32, 4*8*8)
	yields := 0
	opt := &dit.Options{Backend: &kernels.CPU{Threads: 1, Yield: func() { yields++ }}, Yield: func() { yields++ }}
	if _, _, err := m.Forward(context.Background(), x, shape, []float64{5}, &dit.Cond{Labels: []int{1}}, opt); err != nil {
		t.Fatal(err)
	}
	if yields < cfg.Depth {
		t.Errorf("yield called %d times", yields)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	opt.Yield = func() {
		if n++; n == 1 {
			cancel()
		}
	}
	if _, _, err := m.Forward(ctx, x, shape, []float64{5}, &dit.Cond{Labels: []int{1}}, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled forward returned %v", err)
	}
}
