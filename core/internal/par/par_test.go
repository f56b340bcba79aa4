package par

import (
	"sync/atomic"
	"testing"
)

// TestForCoversOnce: every index in [0, n) is handed to exactly one fn
// call, inline or on goroutines, and yield runs only when inline.
func TestForCoversOnce(t *testing.T) {
	for _, c := range []struct {
		threads, n, grain int
		yield             bool
	}{{1, 100, 7, false}, {1, 100, 7, true}, {4, 100, 7, false}, {4, 100, 7, true}, {3, 5, 10, true}, {8, 1, 0, false}, {2, 0, 4, true}} {
		seen := make([]int32, c.n)
		var yields atomic.Int32
		var yield func()
		if c.yield {
			yield = func() { yields.Add(1) }
		}
		For(c.threads, c.n, c.grain, yield, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&seen[i], 1)
			}
		})
		for i, v := range seen {
			if v != 1 {
				t.Fatalf("%+v: index %d visited %d times", c, i, v)
			}
		}
		inline := Threads(c.threads) <= 1 || c.n <= max(c.grain, 1)
		if got := yields.Load() > 0; got != (c.yield && inline && c.n > 0) {
			t.Errorf("%+v: yield called %d times", c, yields.Load())
		}
	}
}
