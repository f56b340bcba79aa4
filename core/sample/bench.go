package sample

import (
	"math/rand/v2"

	"github.com/ditkit/ditkit/core/dit"
)

// BenchInput is one model call of a sampler step as the benchmarks time
// it (window.ditkit.bench, `./build.sh bench_preview` natively): batch
// samples of latent shape lat (nil: the model's own size) with random
// normal values (the samplers' generator, seed 7) at t = 500; class
// labels 0, 1, … for class-conditional models; no caption (the model's own null caption, at its full token count);
// Open-Sora's fps and pixel size from a video latent (models without
// them ignore them).
func BenchInput(n dit.Net, batch int, lat []int) (x []float32, shape []int, t []float64, c *dit.Cond) {
	if lat == nil {
		lat = n.Latent()
	}
	shape = append([]int{batch}, lat...)
	size := 1
	for _, d := range shape {
		size *= d
	}
	x = make([]float32, size)
	rng := rand.New(rand.NewPCG(7, noiseStream)) // as the samplers draw noise
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	t = make([]float64, batch)
	for i := range t {
		t[i] = 500
	}
	c = &dit.Cond{}
	if k := n.Classes(); k > 0 {
		c.Labels = make([]int, batch)
		for i := range c.Labels {
			c.Labels[i] = i % k
		}
	}
	if len(lat) == 4 {
		v := Video{}.VideoFor(RFlowRelease(n.Spec().Family), lat)
		c.FPS, c.Height, c.Width = []float64{v.FPS}, []float64{v.Height}, []float64{v.Width}
	}
	return x, shape, t, c
}
