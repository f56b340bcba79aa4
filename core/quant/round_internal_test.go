package quant

import (
	"math"
	"math/rand"
	"testing"
)

// roundCvtt equals cvtt(roundf(x)) (roundf = math.Round) on halves,
// their neighbours, ±0, the 2^23 and int32 boundaries, infinities, NaN
// and random bit patterns.
func TestRoundCvtt(t *testing.T) {
	check := func(x float32) {
		want := cvtt(float32(math.Round(float64(x))))
		if got := roundCvtt(x); got != want {
			t.Fatalf("roundCvtt(%v) = %d, want %d", x, got, want)
		}
	}
	for i := -600; i <= 600; i++ {
		h := float32(i) / 2
		check(h)
		check(math.Nextafter32(h, float32(math.Inf(1))))
		check(math.Nextafter32(h, float32(math.Inf(-1))))
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), 8388607.5, 8388608, -8388607.5, 4194303.5, 1e30, -1e30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.SmallestNonzeroFloat32, 0.49999997, -0.49999997,
		2147483520, -2147483648, 2147483648, -2147483904, 2147483520.5} {
		check(x)
	}
	rng := rand.New(rand.NewSource(1))
	for range 2000000 {
		check(math.Float32frombits(rng.Uint32()))
		check(float32(rng.NormFloat64() * 200))
	}
}
