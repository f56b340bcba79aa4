package dit

import (
	"math"
	"sync"
)

// TimestepFreqs is the size of the sinusoidal timestep features.
const TimestepFreqs = 256

// TimestepEmbedding writes DiT's 256 sinusoidal features for each t:
// [cos(t·f_k), sin(t·f_k)], f_k = exp(−ln(10000)·k/128), in float32 as
// upstream computes them.
func TimestepEmbedding(t []float64, dim int) []float32 {
	half := dim / 2
	freqs := make([]float32, half)
	c := float32(-math.Log(10000))
	for k := range freqs {
		freqs[k] = float32(math.Exp(float64(c * float32(k) / float32(half))))
	}
	out := make([]float32, len(t)*dim)
	for n, tv := range t {
		row := out[n*dim : (n+1)*dim]
		for k, f := range freqs {
			a := float32(tv) * f
			row[k] = float32(math.Cos(float64(a)))
			row[half+k] = float32(math.Sin(float64(a)))
		}
	}
	return out
}

// patchify gathers x [N, C, D, H, W] into patch rows [N·(gt·gh·gw),
// C·pt·ph·pw] in Conv3d weight order (Conv2d's with pt = 1), tokens
// frame-major: what a kernel = stride = patch convolution multiplies.
func patchify(x []float32, N, C, D, Hh, W, pt, ph, pw int) []float32 {
	gt, gh, gw := D/pt, Hh/ph, W/pw
	T := gt * gh * gw
	pp := C * pt * ph * pw
	out := make([]float32, N*T*pp)
	for n := 0; n < N; n++ {
		for a := 0; a < gt; a++ {
			for i := 0; i < gh; i++ {
				for j := 0; j < gw; j++ {
					dst := out[(n*T+(a*gh+i)*gw+j)*pp:]
					for c := 0; c < C; c++ {
						for qa := 0; qa < pt; qa++ {
							for pi := 0; pi < ph; pi++ {
								src := x[(((n*C+c)*D+a*pt+qa)*Hh+i*ph+pi)*W+j*pw:]
								copy(dst[((c*pt+qa)*ph+pi)*pw:][:pw], src[:pw])
							}
						}
					}
				}
			}
		}
	}
	return out
}

// unpatchify maps tokens [N, (gt·gh·gw), (pt·ph·pw·Co)] to [N, Co, gt·pt, gh·ph, gw·pw].
func unpatchify(fo []float32, N, gt, gh, gw, pt, ph, pw, Co int) []float32 {
	T := gt * gh * gw
	po := pt * ph * pw * Co
	D, Hh, W := gt*pt, gh*ph, gw*pw
	out := make([]float32, N*Co*D*Hh*W)
	for n := 0; n < N; n++ {
		for a := 0; a < gt; a++ {
			for i := 0; i < gh; i++ {
				for j := 0; j < gw; j++ {
					tok := fo[(n*T+(a*gh+i)*gw+j)*po:]
					for qa := 0; qa < pt; qa++ {
						for pi := 0; pi < ph; pi++ {
							for pj := 0; pj < pw; pj++ {
								v := tok[((qa*ph+pi)*pw+pj)*Co:]
								for co := 0; co < Co; co++ {
									out[(((n*Co+co)*D+a*pt+qa)*Hh+i*ph+pi)*W+j*pw+pj] = v[co]
								}
							}
						}
					}
				}
			}
		}
	}
	return out
}

func attnScale(headDim int) float32 { return float32(1 / math.Sqrt(float64(headDim))) }

// gatedAdd does h[r] += gate[g]·v[r] with g = r/groupRows.
func gatedAdd(h, v, gate []float32, stride, groupRows, H int) {
	rows := len(h) / H
	for r := 0; r < rows; r++ {
		g := gate[(r/groupRows)*stride:][:H]
		hr := h[r*H : (r+1)*H]
		vr := v[r*H : (r+1)*H]
		for i := range hr {
			hr[i] += g[i] * vr[i]
		}
	}
}

// programs caches a model's programs by shape key, so a device that
// compiles a program once (keyed by its pointer) reuses it every step.
type programs struct {
	mu sync.Mutex
	m  map[any]*Program
}

func (c *programs) get(key any, build func() *Program) *Program {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.m[key]; p != nil {
		return p
	}
	if c.m == nil {
		c.m = map[any]*Program{}
	}
	p := build()
	c.m[key] = p
	return p
}

// reset drops the cached programs (after the weights changed).
func (c *programs) reset() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}
