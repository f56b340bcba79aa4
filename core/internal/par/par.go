// Package par runs a loop's range in chunks on goroutines: the one
// parallel-for core's CPU backends (the decoder's, the DiT kernels') share.
package par

import (
	"runtime"
	"sync"
)

// Threads is n, or GOMAXPROCS when n ≤ 0.
func Threads(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// For splits [0, n) into chunks of at least grain and runs fn on them
// over threads goroutines (Threads(threads)). With one thread, or n ≤
// grain, it runs inline: in one call when yield is nil, else in chunks
// of max(grain, n/8) with yield called after each (so a browser page
// stays responsive).
func For(threads, n, grain int, yield func(), fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	th := Threads(threads)
	if th <= 1 || n <= grain {
		if yield == nil {
			fn(0, n)
			return
		}
		step := max(grain, n/8)
		for lo := 0; lo < n; lo += step {
			fn(lo, min(n, lo+step))
			yield()
		}
		return
	}
	chunks := min(th*4, (n+grain-1)/grain)
	step := (n + chunks - 1) / chunks
	var wg sync.WaitGroup
	next := make(chan int, chunks)
	for lo := 0; lo < n; lo += step {
		next <- lo
	}
	close(next)
	for range min(th, chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				fn(lo, min(n, lo+step))
			}
		}()
	}
	wg.Wait()
}
