package dit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// goExchange is an Exchange between goroutines standing in for workers:
// each posts its buffer, waits for all, copies the others' columns, and
// waits again before its buffer may change.
type goExchange struct {
	mu      sync.Mutex
	cond    *sync.Cond
	n, seen int
	gen     int
	bufs    [][]float32
	abort   bool
}

func newGoExchange(n int) *goExchange {
	x := &goExchange{n: n, bufs: make([][]float32, n)}
	x.cond = sync.NewCond(&x.mu)
	return x
}

func (x *goExchange) barrier() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.abort {
		return dit.ErrShardAborted
	}
	g := x.gen
	if x.seen++; x.seen == x.n {
		x.seen = 0
		x.gen++
		x.cond.Broadcast()
		return nil
	}
	for g == x.gen && !x.abort {
		x.cond.Wait()
	}
	if x.abort {
		return dit.ErrShardAborted
	}
	return nil
}

type rank struct {
	x *goExchange
	i int
}

func (r rank) AllGather(buf []float32, rows, stride int, bounds []int) error {
	r.x.mu.Lock()
	r.x.bufs[r.i] = buf
	r.x.mu.Unlock()
	if err := r.x.barrier(); err != nil {
		return err
	}
	for j := range r.x.n {
		if j == r.i {
			continue
		}
		src := r.x.bufs[j]
		for row := 0; row < rows; row++ {
			copy(buf[row*stride+bounds[j]:row*stride+bounds[j+1]], src[row*stride+bounds[j]:row*stride+bounds[j+1]])
		}
	}
	return r.x.barrier()
}

// shardedForward runs fwd on n workers built from src (each holding its
// shard) and returns worker 0's output, checking that every worker got
// the same and that the workers held the weights once between them.
func shardedForward(t *testing.T, src tensor.Source, r *spec.Resolution, n int, fwd func(net dit.Net, opt *dit.Options) ([]float32, error)) []float32 {
	t.Helper()
	whole, err := dit.Build(src, r, dit.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x := newGoExchange(n)
	outs := make([][]float32, n)
	errs := make([]error, n)
	var held int64
	var wg sync.WaitGroup
	for i := range n {
		net, err := dit.Build(src, r, dit.BuildOptions{Shard: &dit.Shard{Index: i, Count: n}})
		if err != nil {
			t.Fatal(err)
		}
		held += net.WeightBytes()
		wg.Add(1)
		go func() {
			defer wg.Done()
			be := &dit.Sharded{CPU: &kernels.CPU{Threads: 1}, Shard: dit.Shard{Index: i, Count: n}, X: rank{x, i}}
			errs[i] = dit.RunSharded(func() error {
				var err error
				outs[i], err = fwd(net, &dit.Options{Backend: be})
				return err
			})
			if errs[i] != nil {
				x.mu.Lock()
				x.abort = true
				x.cond.Broadcast()
				x.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d of %d: %v", i, n, err)
		}
	}
	for i := 1; i < n; i++ {
		for j := range outs[0] {
			if math.Float32bits(outs[i][j]) != math.Float32bits(outs[0][j]) {
				t.Fatalf("%d workers: worker %d element %d = %v, worker 0 %v", n, i, j, outs[i][j], outs[0][j])
			}
		}
	}
	skel, err := dit.Build(src, r, dit.BuildOptions{Skeleton: true})
	if err != nil {
		t.Fatal(err)
	}
	// The shards hold each weight once (plus every worker's tables and
	// biases, which the skeleton holds too).
	if want := whole.WeightBytes() + int64(n-1)*skel.WeightBytes(); held != want {
		t.Errorf("%d workers hold %d bytes of weights, want %d (whole %d, skeleton %d)", n, held, want, whole.WeightBytes(), skel.WeightBytes())
	}
	return outs[0]
}

// TestShardedIdentical runs DiT configurations (heads not dividing the
// workers, hidden sizes of a few panels, CFG batches) and the STDiT
// fixture (captions, masks, temporal attention) on 2, 3 and 5 workers,
// and PixArtMS and STDiT3 on 2: the outputs must equal the unsharded
// forward bit for bit.
func TestShardedIdentical(t *testing.T) {
	cfgs := []dit.Config{
		{InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 96, Depth: 2, NumHeads: 3, NumClasses: 5, LearnSigma: true, MLPRatio: 4, NullClass: true},
		{InputSize: 6, PatchSize: 1, InChannels: 3, HiddenSize: 40, Depth: 1, NumHeads: 5, NumClasses: 7, LearnSigma: true, MLPRatio: 2, NullClass: true},
	}
	for ci, cfg := range cfgs {
		w := randomDiT(cfg, uint64(ci+3), true)
		r := &spec.Resolution{Spec: specOf(t, cfg)}
		whole, err := dit.Build(tensor.Map(w), r, dit.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, uint64(ci)))
		x := make([]float32, 2*cfg.InChannels*cfg.InputSize*cfg.InputSize)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		fwd := func(net dit.Net, opt *dit.Options) ([]float32, error) {
			shape := append([]int{2}, net.Latent()...)
			out, _, err := dit.ForwardWithCFG(context.Background(), net, x, shape, []float64{5, 5}, &dit.Cond{Labels: []int{1, cfg.NumClasses}}, 4, opt)
			return out, err
		}
		ref, err := fwd(whole, &dit.Options{Backend: &kernels.CPU{Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{2, 3, 5} {
			t.Run(fmt.Sprintf("dit%d/workers%d", ci, n), func(t *testing.T) {
				got := shardedForward(t, tensor.Map(w), r, n, fwd)
				for i := range ref {
					if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
						t.Fatalf("element %d = %v sharded, %v whole", i, got[i], ref[i])
					}
				}
			})
		}
	}
	// The newer families: PixArtMS (micro-conditions, KV compression off),
	// STDiT3 (RoPE, RMS qk-norm, x_mask).
	for _, c := range []struct {
		name, dir, family, ckpt, ref string
		extra                        map[string]any
	}{
		{"pixartms", "forward2/pixartms_alpha_1024", "pixart-alpha", "ckpt.pth", "ref_caption_mask_fp32", map[string]any{"micro_condition": true}},
		{"stdit3", "forward2/stdit3_v12", "stdit3", "model.safetensors", "ref_caption_mask_xmask_fp32", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(fixtures.Root(t), c.dir)
			var sp *spec.Spec
			var err error
			if c.family == "stdit3" {
				sp = stdit3Spec(t, c.dir, c.family)
			} else if sp, err = spec.Parse(fixtures.Forward2Spec(t, filepath.Base(c.dir), c.family, c.extra)); err != nil {
				t.Fatal(err)
			}
			w := fixtures.ReadAll(t, filepath.Join(dir, c.ckpt))
			r, err := spec.Resolve(tensor.Map(w).Infos(), spec.Request{Target: sp})
			if err != nil {
				t.Fatal(err)
			}
			whole, err := dit.Build(tensor.Map(w), r, dit.BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			in, err := dit.ReadInputs(whole, fixtures.ReadAll(t, filepath.Join(dir, c.ref+".safetensors")), c.ref)
			if err != nil {
				t.Fatal(err)
			}
			fwd := func(net dit.Net, opt *dit.Options) ([]float32, error) {
				out, _, err := net.Forward(context.Background(), in.X, in.Shape, in.T, in.Cond, opt)
				return out, err
			}
			want, err := fwd(whole, &dit.Options{Backend: &kernels.CPU{Threads: 1}})
			if err != nil {
				t.Fatal(err)
			}
			got := shardedForward(t, tensor.Map(w), r, 2, fwd)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("element %d = %v sharded, %v whole", i, got[i], want[i])
				}
			}
		})
	}
	t.Run("stdit", func(t *testing.T) {
		dir := filepath.Join(fixtures.Root(t), "stdit_tiny")
		w := fixtures.ReadAll(t, filepath.Join(dir, "ckpt_plain.pt"))
		ref := fixtures.ReadAll(t, filepath.Join(dir, "ref_forward_masked_fp32.safetensors"))
		r, err := spec.Resolve(tensor.Map(w).Infos(), spec.Request{Set: map[string]any{"num_heads": 4}})
		if err != nil {
			t.Fatal(err)
		}
		fwd := func(net dit.Net, opt *dit.Options) ([]float32, error) {
			out, _, err := net.Forward(context.Background(), f32s(t, ref["x"]), ref["x"].Shape, f64s(t, ref["t"]), &dit.Cond{Caption: f32s(t, ref["y"]), Mask: ints(t, ref["mask"])}, opt)
			return out, err
		}
		whole, err := dit.Build(tensor.Map(w), r, dit.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := fwd(whole, &dit.Options{Backend: &kernels.CPU{Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{2, 3} {
			got := shardedForward(t, tensor.Map(w), r, n, fwd)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%d workers: element %d = %v sharded, %v whole", n, i, got[i], want[i])
				}
			}
		}
	})
}

// failExchange fails its second all-gather.
type failExchange struct{ calls int }

func (f *failExchange) AllGather(buf []float32, rows, stride int, bounds []int) error {
	if f.calls++; f.calls == 2 {
		return fmt.Errorf("worker 1: %w", dit.ErrShardAborted)
	}
	return nil
}

// TestShardedAbort: a failed exchange comes back from RunSharded as an
// error (not a panic), and a shard cut to another worker's rows is refused.
func TestShardedAbort(t *testing.T) {
	cfg := dit.Config{InputSize: 4, PatchSize: 2, InChannels: 4, HiddenSize: 64, Depth: 1, NumHeads: 2, NumClasses: 3, LearnSigma: true, MLPRatio: 4, NullClass: true}
	w := randomDiT(cfg, 9, true)
	r := &spec.Resolution{Spec: specOf(t, cfg)}
	net, err := dit.Build(tensor.Map(w), r, dit.BuildOptions{Shard: &dit.Shard{Index: 0, Count: 2}})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 4*4*4)
	run := func(be dit.Backend) error {
		return dit.RunSharded(func() error {
			_, _, err := net.Forward(context.Background(), x, []int{1, 4, 4, 4}, []float64{1}, &dit.Cond{Labels: []int{0}}, &dit.Options{Backend: be})
			return err
		})
	}
	if err := run(&dit.Sharded{CPU: &kernels.CPU{Threads: 1}, Shard: dit.Shard{Index: 0, Count: 2}, X: &failExchange{}}); !errors.Is(err, dit.ErrShardAborted) {
		t.Errorf("failed exchange: err = %v", err)
	}
	if err := run(&dit.Sharded{CPU: &kernels.CPU{Threads: 1}, Shard: dit.Shard{Index: 1, Count: 2}, X: &failExchange{}}); err == nil {
		t.Error("shard 0's weights run as shard 1: no error")
	}
	if _, err := dit.Build(tensor.Map(w), r, dit.BuildOptions{Shard: &dit.Shard{Index: 2, Count: 2}}); err == nil {
		t.Error("shard 2 of 2 accepted")
	}
}

// quantSource is a tensor.Map whose 2-D weights are also handed out
// quantized (quant.StoredSource), as a GGUF or fp8 checkpoint's are.
type quantSource struct {
	tensor.Map
	q map[string]*quant.Stored
}

func (s quantSource) ReadStored(name string) (*quant.Stored, error) { return s.q[name], nil }

// quantize makes w's 2-D weights whose rows fill whole blocks of qt (or
// every 2-D weight as fp8 e4m3 with one scale per row when fp8) stored.
func quantize(t testing.TB, w map[string]*tensor.Dense, qt quant.Type, fp8 bool) quantSource {
	t.Helper()
	s := quantSource{Map: w, q: map[string]*quant.Stored{}}
	for name, d := range w {
		if len(d.Shape) != 2 || !strings.HasSuffix(name, ".weight") {
			continue
		}
		v, err := d.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		rows, cols := d.Shape[0], d.Shape[1]
		st := &quant.Stored{Shape: d.Shape}
		if fp8 {
			st.FP8, st.Data, st.Scale = tensor.F8_E4M3, make([]byte, len(v)), make([]float32, rows)
			scaled := make([]float32, len(v))
			for r := range rows {
				st.Scale[r] = 0.01 * float32(r+1)
				for c := range cols {
					scaled[r*cols+c] = v[r*cols+c] / st.Scale[r]
				}
			}
			if err := tensor.EncodeFloat32(tensor.F8_E4M3, scaled, st.Data); err != nil {
				t.Fatal(err)
			}
		} else {
			if cols%qt.BlockSize() != 0 {
				continue
			}
			nb, _ := qt.Bytes(int64(len(v)))
			st.Type, st.Data = qt, make([]byte, nb)
			if err := quant.Quantize(qt, v, st.Data); err != nil {
				t.Fatal(err)
			}
		}
		s.q[name] = st
	}
	if len(s.q) == 0 {
		t.Fatal("nothing quantized")
	}
	return s
}

// TestShardedQuantized: workers holding shards of quantized weights (the
// shards' blocks, still quantized) compute the unsharded forward on the
// same quantized weights bit for bit, and hold each weight once.
func TestShardedQuantized(t *testing.T) {
	cfg := dit.Config{InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 96, Depth: 2, NumHeads: 3, NumClasses: 5, LearnSigma: true, MLPRatio: 4, NullClass: true}
	w := randomDiT(cfg, 7, true)
	r := &spec.Resolution{Spec: specOf(t, cfg)}
	x := make([]float32, 2*cfg.InChannels*cfg.InputSize*cfg.InputSize)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	fwd := func(net dit.Net, opt *dit.Options) ([]float32, error) {
		shape := append([]int{2}, net.Latent()...)
		out, _, err := net.Forward(context.Background(), x, shape, []float64{3, 700}, &dit.Cond{Labels: []int{1, 4}}, opt)
		return out, err
	}
	for _, c := range []struct {
		name string
		src  quantSource
	}{{"Q8_0", quantize(t, w, quant.Q8_0, false)}, {"F8_E4M3 scaled", quantize(t, w, 0, true)}} {
		whole, err := dit.Build(c.src, r, dit.BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := dit.Build(tensor.Map(w), r, dit.BuildOptions{})
		if whole.WeightBytes() >= plain.WeightBytes()/2 {
			t.Fatalf("%s: %d weight bytes, F32 %d: not kept quantized", c.name, whole.WeightBytes(), plain.WeightBytes())
		}
		want, err := fwd(whole, &dit.Options{Backend: &kernels.CPU{Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		got := shardedForward(t, c.src, r, 3, fwd)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s: element %d = %v sharded, %v whole", c.name, i, got[i], want[i])
			}
		}
	}
}
