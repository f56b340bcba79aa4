package kernels

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
)

// PeakInfo is the fp32 FMA peak of this machine, for benchmarks that
// report the share of it they reach.
type PeakInfo struct {
	Cores       int     // GOMAXPROCS
	GHz         float64 // core clock, measured (a chain of dependent adds)
	FMAPerCycle float64 // vector FMAs retired per cycle, measured (24 independent chains)
	Lanes       int     // fp32 lanes of the vector (16 with AVX-512)
	GFLOPs      float64 // Cores × FMA units × Lanes × 2 × GHz (0 when unknown)
}

func (p PeakInfo) String() string {
	if p.GFLOPs == 0 {
		return "FMA peak unknown (no AVX-512 probe on this CPU/build)"
	}
	return fmt.Sprintf("fp32 FMA peak %.0f GFLOP/s = %d cores × %d FMA units (%.2f FMA/cycle measured) × %d lanes × 2 flop × %.2f GHz (measured)",
		p.GFLOPs, p.Cores, int(math.Round(p.FMAPerCycle)), p.FMAPerCycle, p.Lanes, p.GHz)
}

// Peak measures the clock and the FMA throughput of one core (about 50
// ms, once) and returns the fp32 FMA peak of GOMAXPROCS such cores: the
// number of FMA units is the measured FMAs per cycle rounded, the clock
// the one a dependent chain of adds runs at (each probe the fastest of 20
// runs, so other processes only make it slower, never faster).
func Peak() PeakInfo { return peakOnce() }

var peakOnce = sync.OnceValue(func() PeakInfo {
	if !hasAVX512() {
		return PeakInfo{Cores: runtime.GOMAXPROCS(0)}
	}
	best := func(f func(int), n int) time.Duration {
		b := time.Duration(math.MaxInt64)
		for i := 0; i < 20; i++ {
			s := time.Now()
			f(n)
			if d := time.Since(s); d < b {
				b = d
			}
		}
		return b
	}
	const adds, fmas = 1 << 18, 1 << 16
	ghz := float64(8*adds) / best(addChain, adds).Seconds() / 1e9
	perCycle := float64(24*fmas) / best(fmaBurst, fmas).Seconds() / 1e9 / ghz
	p := PeakInfo{Cores: runtime.GOMAXPROCS(0), GHz: ghz, FMAPerCycle: perCycle, Lanes: 16}
	p.GFLOPs = float64(p.Cores) * math.Max(1, math.Round(perCycle)) * float64(p.Lanes) * 2 * ghz
	return p
})
