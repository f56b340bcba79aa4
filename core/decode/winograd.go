package decode

import "sync"

// The CPU's 3×3 convolution is Winograd's F(2×2, 3×3) (Lavin & Gray): a
// 2×2 output tile costs 16 multiplies per input channel instead of 36.
// With U = G·g·Gᵀ (per output/input channel pair, computed once), V =
// Bᵀ·d·B (per input channel and 4×4 input tile) and M = Σ_ci U ⊙ V, the
// tile is Aᵀ·M·A:
//
//	Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
//	G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 −1 −1]
//
// The transforms add and subtract (G halves), so the result stays within
// float32 rounding of the direct sum. The sum over input channels is 16
// small matrix products per segment of tiles, run with a 4×4 register
// tile.

// segTiles is how many tiles along a row one work item transforms.
const segTiles = 64

// wino is a conv's weights in the Winograd domain: u[ξ][co/4][ci][4]
// (output channels padded to a multiple of 4 with zeros).
type wino struct {
	u     []float32
	coPad int
}

var winoCache sync.Map // *Conv → *wino

func (k *Conv) wino() *wino {
	if w, ok := winoCache.Load(k); ok {
		return w.(*wino)
	}
	coPad := (k.Cout + 3) &^ 3
	u := make([]float32, 16*coPad*k.Cin)
	for co := range k.Cout {
		for ci := range k.Cin {
			g := k.W[(co*k.Cin+ci)*9:][:9]
			// Gg (4×3), then (Gg)Gᵀ (4×4).
			var gg [4][3]float32
			for c := range 3 {
				g0, g1, g2 := g[c], g[3+c], g[6+c]
				gg[0][c] = g0
				gg[1][c] = (g0 + g1 + g2) / 2
				gg[2][c] = (g0 - g1 + g2) / 2
				gg[3][c] = g2
			}
			for r := range 4 {
				g0, g1, g2 := gg[r][0], gg[r][1], gg[r][2]
				row := [4]float32{g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2}
				for c := range 4 {
					xi := r*4 + c
					u[((xi*coPad/4+co/4)*k.Cin+ci)*4+co%4] = row[c]
				}
			}
		}
	}
	w := &wino{u: u, coPad: coPad}
	actual, _ := winoCache.LoadOrStore(k, w)
	return actual.(*wino)
}

// ForgetWeights drops the CPU's transformed copies of d's weights (they
// are kept per *Conv for the life of the process otherwise).
func (d *Decoder) ForgetWeights() {
	for _, k := range d.convs {
		winoCache.Delete(k)
	}
}

type winoScratch struct{ v, m []float32 }

var scratchPool = sync.Pool{New: func() any { return new(winoScratch) }}

// convWinograd computes rows [out.Lo, out.Hi) of the convolution (the
// arguments as Backend.Conv3x3, already checked).
func (c *CPU) convWinograd(out, in, res Band, h int, k *Conv, relu bool) {
	wk := k.wino()
	o, s := out.Buf.([]float32), in.Buf.([]float32)
	var r []float32
	if res.Buf != nil {
		r = res.Buf.([]float32)
	}
	W, cin, coPad := out.W, k.Cin, wk.coPad
	tileRows := (out.Hi - out.Lo + 1) / 2
	segs := (W + 2*segTiles - 1) / (2 * segTiles)
	inLo, inHi := max(0, in.Lo), min(h, in.Hi)
	grain := max(1, 8/cin)
	c.parallel(tileRows*segs, grain, func(lo, hi int) {
		sc := scratchPool.Get().(*winoScratch)
		defer scratchPool.Put(sc)
		if n := 16 * cin * segTiles; len(sc.v) < n {
			sc.v = make([]float32, n)
		}
		if n := 16 * coPad * segTiles; len(sc.m) < n {
			sc.m = make([]float32, n)
		}
		for item := lo; item < hi; item++ {
			y0 := out.Lo + 2*(item/segs)
			x0 := 2 * segTiles * (item % segs)
			nt := min(segTiles, (W-x0+1)/2)
			ntp := (nt + 1) &^ 1 // v holds pairs of tiles
			v, m := sc.v[:16*cin*ntp], sc.m[:16*coPad*ntp]
			if ntp != nt {
				for xi := range 16 { // the padding tile
					for ci := range cin {
						v[xi*cin*ntp+(nt-1)*cin+2*ci+1] = 0
					}
				}
			}
			// Input transform: v[ξ][t/2][ci][t%2].
			for ci := range cin {
				var rows [4][]float32
				for i := range 4 {
					if y := y0 - 1 + i; y >= inLo && y < inHi {
						rows[i] = s[in.Off(ci, y):][:W]
					}
				}
				for t := range nt {
					var d [4][4]float32
					xs := x0 + 2*t - 1
					for i, row := range rows {
						if row == nil {
							continue
						}
						if xs >= 0 && xs+4 <= W {
							q := row[xs : xs+4]
							d[i] = [4]float32{q[0], q[1], q[2], q[3]}
							continue
						}
						for j := range 4 {
							if x := xs + j; x >= 0 && x < W {
								d[i][j] = row[x]
							}
						}
					}
					// Bᵀd
					var b [4][4]float32
					for j := range 4 {
						b[0][j] = d[0][j] - d[2][j]
						b[1][j] = d[1][j] + d[2][j]
						b[2][j] = d[2][j] - d[1][j]
						b[3][j] = d[1][j] - d[3][j]
					}
					// (Bᵀd)B
					for i := range 4 {
						p := b[i]
						base := i*4*cin*ntp + (t&^1)*cin + 2*ci + t&1
						v[base] = p[0] - p[2]
						v[base+cin*ntp] = p[1] + p[2]
						v[base+2*cin*ntp] = p[2] - p[1]
						v[base+3*cin*ntp] = p[1] - p[3]
					}
				}
			}
			// m[ξ][co][t] = Σ_ci u[ξ][co][ci] v[ξ][ci][t]
			for xi := range 16 {
				gemm(m[xi*coPad*ntp:(xi+1)*coPad*ntp], wk.u[xi*coPad*cin:(xi+1)*coPad*cin], v[xi*cin*ntp:(xi+1)*cin*ntp], coPad, cin, ntp)
			}
			// Output transform, bias, residual, ReLU.
			for co := range k.Cout {
				var bias float32
				if k.B != nil {
					bias = k.B[co]
				}
				for dy := range 2 {
					y := y0 + dy
					if y >= out.Hi {
						break
					}
					dst := o[out.Off(co, y):][:W]
					var rr []float32
					if r != nil {
						rr = r[res.Off(co, y):][:W]
					}
					for t := range nt {
						at := func(xi int) float32 { return m[(xi*coPad+co)*ntp+t] }
						// row dy of Aᵀ applied to M's rows
						var q [4]float32
						for j := range 4 {
							if dy == 0 {
								q[j] = at(j) + at(4+j) + at(8+j)
							} else {
								q[j] = at(4+j) - at(8+j) - at(12+j)
							}
						}
						x := x0 + 2*t
						vals := [2]float32{q[0] + q[1] + q[2], q[1] - q[2] - q[3]}
						for dx := range 2 {
							if x+dx >= W {
								break
							}
							val := vals[dx] + bias
							if rr != nil {
								val += rr[x+dx]
							}
							if relu && !(val > 0) {
								val = 0
							}
							dst[x+dx] = val
						}
					}
				}
			}
		}
	})
}

// gemm sets m[co][t] = Σ_k u[co/4][k][co%4] · v[t/2][k][t%2] for co <
// coPad (a multiple of 4), k < K, t < n (even), in 4×2 register tiles
// (the most the Go compiler keeps in the 16 SSE registers without
// spilling) reading u and v in order.
func gemm(m, u, v []float32, coPad, K, n int) {
	for cb := 0; cb < coPad; cb += 4 {
		ub := u[cb*K : (cb+4)*K]
		mr0 := m[cb*n : (cb+1)*n]
		mr1 := m[(cb+1)*n : (cb+2)*n]
		mr2 := m[(cb+2)*n : (cb+3)*n]
		mr3 := m[(cb+3)*n : (cb+4)*n]
		for t := 0; t+2 <= n; t += 2 {
			vb := v[t*K : (t+2)*K]
			var c00, c01, c10, c11, c20, c21, c30, c31 float32
			for k := range K {
				a := ub[4*k : 4*k+4 : 4*k+4]
				b := vb[2*k : 2*k+2 : 2*k+2]
				b0, b1 := b[0], b[1]
				a0 := a[0]
				c00 += a0 * b0
				c01 += a0 * b1
				a1 := a[1]
				c10 += a1 * b0
				c11 += a1 * b1
				a2 := a[2]
				c20 += a2 * b0
				c21 += a2 * b1
				a3 := a[3]
				c30 += a3 * b0
				c31 += a3 * b1
			}
			mr0[t], mr0[t+1] = c00, c01
			mr1[t], mr1[t+1] = c10, c11
			mr2[t], mr2[t+1] = c20, c21
			mr3[t], mr3[t+1] = c30, c31
		}
	}
}
