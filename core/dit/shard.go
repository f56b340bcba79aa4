package dit

import (
	"errors"
	"fmt"

	"github.com/ditkit/ditkit/core/dit/kernels"
)

// Sharded CPU execution runs one model on Count workers (the page's Web
// Workers: each its own Go wasm instance and memory) that all run the
// same Program op by op:
//
//   - each worker holds Shard Index of every Linear weight: a contiguous
//     range of output rows, in whole panels of 32 (BuildOptions.Shard), so
//     the weights are split, not copied;
//   - a LinearOp computes the worker's output columns, and an attention
//     op its heads (Shard.Heads); an Exchange then all-gathers the other
//     workers' columns into every worker's buffer;
//   - everything else (norms, gates, adds, the embeddings' gathers) is
//     cheap and runs on every worker alike.
//
// Every output element is computed by the same operations in the same
// order as on one worker, so the results are identical to unsharded
// execution. The coordinator (the page) holds no Linear weights at all
// (BuildOptions.Skeleton): it keeps the model's shapes, tables and
// biases to describe it and to prepare inputs.

// Shard is worker Index of Count.
type Shard struct{ Index, Count int }

// Valid reports whether the shard is one of Count ≥ 1.
func (s Shard) Valid() bool { return s.Count >= 1 && s.Index >= 0 && s.Index < s.Count }

// Rows is the shard's range of n output rows: whole panels of 32 split as
// evenly as possible (the last shards get none when n has fewer panels
// than there are shards).
func (s Shard) Rows(n int) (lo, hi int) {
	p := (n + 31) / 32
	lo = min(n, 32*(p*s.Index/s.Count))
	hi = min(n, 32*(p*(s.Index+1)/s.Count))
	return lo, hi
}

// Heads is the shard's range of h attention heads.
func (s Shard) Heads(h int) (lo, hi int) {
	return h * s.Index / s.Count, h * (s.Index + 1) / s.Count
}

// bounds returns the Count+1 boundaries of f's ranges over n.
func (s Shard) bounds(n int, f func(Shard, int) (int, int)) []int {
	b := make([]int, s.Count+1)
	for i := 0; i < s.Count; i++ {
		_, b[i+1] = f(Shard{i, s.Count}, n)
	}
	return b
}

// Exchange all-gathers the columns the workers computed: buf holds rows
// rows of stride floats, and worker i computed columns [bounds[i],
// bounds[i+1]) of each; afterwards every worker's buf holds all columns
// [bounds[0], bounds[Count]). Every worker calls it with the same
// arguments, in the same order.
type Exchange interface {
	AllGather(buf []float32, rows, stride int, bounds []int) error
}

// ErrShardAborted is wrapped by an Exchange whose run another worker (or
// the coordinator) aborted.
var ErrShardAborted = errors.New("dit: sharded run aborted")

// Sharded is the Backend of one worker: the CPU kernels on its shard, with
// the all-gathers. A failed exchange panics with a *ShardError (the
// Backend methods return nothing); RunSharded turns it into an error.
type Sharded struct {
	CPU   *kernels.CPU
	Shard Shard
	X     Exchange
}

var _ Backend = (*Sharded)(nil)

// ShardError is a failed exchange, as RunSharded returns it.
type ShardError struct{ Err error }

func (e *ShardError) Error() string { return e.Err.Error() }
func (e *ShardError) Unwrap() error { return e.Err }

func (s *Sharded) gather(buf []float32, rows, stride int, bounds []int) {
	if err := s.X.AllGather(buf, rows, stride, bounds); err != nil {
		panic(&ShardError{err})
	}
}

func (s *Sharded) linear(y, x []float32, m int, w *kernels.Weight, b []float32, gelu bool) {
	if gelu {
		s.CPU.LinearGELU(y, x, m, w, b)
	} else {
		s.CPU.Linear(y, x, m, w, b)
	}
	if !w.IsShard() { // a weight every worker holds whole: computed by all
		return
	}
	if lo, hi := w.Held(); lo != hi {
		if l, h := s.Shard.Rows(w.Rows); l != lo || h != hi {
			panic(&ShardError{fmt.Errorf("dit: a weight shard holds rows [%d, %d), shard %d of %d should hold [%d, %d)", lo, hi, s.Shard.Index, s.Shard.Count, l, h)})
		}
	}
	s.gather(y, m, w.Rows, s.Shard.bounds(w.Rows, Shard.Rows))
}

// Linear implements Backend.
func (s *Sharded) Linear(y, x []float32, m int, w *kernels.Weight, b []float32) {
	s.linear(y, x, m, w, b, false)
}

// LinearGELU implements Backend.
func (s *Sharded) LinearGELU(y, x []float32, m int, w *kernels.Weight, b []float32) {
	s.linear(y, x, m, w, b, true)
}

// Attention implements Backend: the shard's heads, then an all-gather of
// the output columns.
func (s *Sharded) Attention(a *kernels.AttnArgs) {
	h0, h1 := s.Shard.Heads(a.Heads)
	s.CPU.AttentionHeads(a, h0, h1)
	b := s.Shard.bounds(a.Heads, Shard.Heads)
	for i := range b {
		b[i] *= a.HeadDim
	}
	s.gather(a.Out, a.Seqs*a.NQ, a.OutStride, b)
}

// LayerNormModulate implements Backend (every worker alike).
func (s *Sharded) LayerNormModulate(out, x []float32, rows, h int, eps float32, groupRows int, shift, scale []float32, stride int) {
	s.CPU.LayerNormModulate(out, x, rows, h, eps, groupRows, shift, scale, stride)
}

// RunSharded runs fn (a Forward with Options{Backend: s}) and returns a
// failed exchange as its error instead of a panic.
func RunSharded(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if se, ok := p.(*ShardError); ok {
				err = se
				return
			}
			panic(p)
		}
	}()
	return fn()
}
