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

// wino returns k's weights in the Winograd domain, computed on first use
// and kept with k.
func (k *Conv) wino() *wino {
	k.winoOnce.Do(func() { k.winoW = k.transform() })
	return k.winoW
}

func (k *Conv) transform() *wino {
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
	return &wino{u: u, coPad: coPad}
}

type winoScratch struct {
	v, m []float32
	pad  [4][]float32 // one padded input row per tile row
}

// bRow writes the row (q0 … q3)·B of the transformed tile at v[o],
// v[o+cs], v[o+2cs], v[o+3cs].
func bRow(v []float32, o, cs int, q0, q1, q2, q3 float32) {
	v[o] = q0 - q2
	v[o+cs] = q1 + q2
	v[o+2*cs] = q2 - q1
	v[o+3*cs] = q1 - q3
}

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
		for i := range sc.pad {
			if len(sc.pad[i]) < 2*segTiles+2 {
				sc.pad[i] = make([]float32, 2*segTiles+2)
			}
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
			// Input transform: v[ξ][t/2][ci][t%2], from the tile rows
			// copied with their zero padding (columns x0−1 … x0+2·nt).
			cs := cin * ntp
			for ci := range cin {
				for i := range 4 {
					pr := sc.pad[i][:2*nt+2]
					clear(pr)
					if y := y0 - 1 + i; y >= inLo && y < inHi {
						row := s[in.Off(ci, y):][:W]
						a, b := max(0, x0-1), min(W, x0+2*nt+1)
						copy(pr[a-(x0-1):], row[a:b])
					}
				}
				p0, p1, p2, p3 := sc.pad[0][:2*nt+2], sc.pad[1][:2*nt+2], sc.pad[2][:2*nt+2], sc.pad[3][:2*nt+2]
				for t := range nt {
					d0, d1, d2, d3 := p0[2*t:2*t+4:2*t+4], p1[2*t:2*t+4:2*t+4], p2[2*t:2*t+4:2*t+4], p3[2*t:2*t+4:2*t+4]
					base := (t&^1)*cin + 2*ci + t&1
					vv := v[base : base+15*cs+1 : base+15*cs+1]
					// Row i of Bᵀd, then that row times B: v[4i … 4i+3].
					bRow(vv, 0, cs, d0[0]-d2[0], d0[1]-d2[1], d0[2]-d2[2], d0[3]-d2[3])
					bRow(vv, 4*cs, cs, d1[0]+d2[0], d1[1]+d2[1], d1[2]+d2[2], d1[3]+d2[3])
					bRow(vv, 8*cs, cs, d2[0]-d1[0], d2[1]-d1[1], d2[2]-d1[2], d2[3]-d1[3])
					bRow(vv, 12*cs, cs, d1[0]-d3[0], d1[1]-d3[1], d1[2]-d3[2], d1[3]-d3[3])
				}
			}
			// m[ξ][co][t] = Σ_ci u[ξ][co][ci] v[ξ][ci][t]
			for xi := range 16 {
				gemm(m[xi*coPad*ntp:(xi+1)*coPad*ntp], wk.u[xi*coPad*cin:(xi+1)*coPad*cin], v[xi*cin*ntp:(xi+1)*cin*ntp], coPad, cin, ntp)
			}
			// Output transform (Aᵀ·M·A per tile), bias, residual, ReLU.
			rows := min(2, out.Hi-y0)
			for co := range k.Cout {
				var bias float32
				if k.B != nil {
					bias = k.B[co]
				}
				var mx [16][]float32
				for xi := range 16 {
					mx[xi] = m[(xi*coPad+co)*ntp:][:nt]
				}
				var dst, rr [2][]float32
				for dy := range rows {
					dst[dy] = o[out.Off(co, y0+dy)+x0:][:min(2*nt, W-x0)]
					if r != nil {
						rr[dy] = r[res.Off(co, y0+dy)+x0:][:len(dst[dy])]
					}
				}
				for t := range nt {
					var s0, s1 [4]float32
					for j := range 4 {
						m1, m2 := mx[4+j][t], mx[8+j][t]
						s0[j] = mx[j][t] + m1 + m2
						s1[j] = m1 - m2 - mx[12+j][t]
					}
					y := [2][2]float32{
						{s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3]},
						{s1[0] + s1[1] + s1[2], s1[1] - s1[2] - s1[3]},
					}
					for dy := range rows {
						for dx := range min(2, len(dst[dy])-2*t) {
							val := y[dy][dx] + bias
							if r != nil {
								val += rr[dy][2*t+dx]
							}
							if relu && !(val > 0) {
								val = 0
							}
							dst[dy][2*t+dx] = val
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
