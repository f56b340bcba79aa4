package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
)

// modes runs fn on the vector kernels (where this CPU has them) and on the
// portable ones.
func modes(t *testing.T, fn func(t *testing.T, portable bool)) {
	defer SetPortableKernels(false)
	for _, portable := range []bool{false, true} {
		SetPortableKernels(portable)
		if !portable && !vecOn() {
			continue
		}
		t.Run(fmt.Sprintf("portable=%v", portable), func(t *testing.T) { fn(t, portable) })
	}
}

// TestPackPanelExact checks the transposing packers bit for bit against
// the portable path, for every weight dtype, ragged rows and columns, and
// a shard.
func TestPackPanelExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	rows, cols := 75, 300
	v := randNorm(r, rows*cols, 1)
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
		full := WeightFromFloat32(v, rows, cols).ToDType(dt)
		for _, w := range []*Weight{full, full.Shard(7, 70)} {
			lo, hi := w.Held()
			for _, c := range [][4]int{{lo, 32, 0, 256}, {lo + 1, 17, 3, 100}, {lo, 5, 0, 15}, {lo + 2, 31, 44, 33}, {hi - 16, 16, 0, 16}} {
				n0, nw, k0, kw := c[0], c[1], c[2], c[3]
				nw = min(nw, hi-n0)
				got := make([]float32, kw*nr)
				want := make([]float32, kw*nr)
				for i := range got {
					got[i], want[i] = 7, 7
				}
				SetPortableKernels(false)
				packPanel(got, w, n0, nw, k0, kw)
				SetPortableKernels(true)
				packPanel(want, w, n0, nw, k0, kw)
				SetPortableKernels(false)
				for kk := 0; kk < kw; kk++ {
					for j := 0; j < nr; j++ {
						ref := float32(0)
						if j < nw {
							ref = w.Float32s()[(n0+j-lo)*cols+k0+kk]
						}
						g := got[kk*nr+j]
						if math.Float32bits(g) != math.Float32bits(ref) || math.Float32bits(want[kk*nr+j]) != math.Float32bits(ref) {
							t.Fatalf("%v shard [%d,%d) n0 %d nw %d k0 %d kw %d: panel[%d,%d] = %v (vector), %v (portable), want %v", dt, lo, hi, n0, nw, k0, kw, kk, j, g, want[kk*nr+j], ref)
						}
					}
				}
			}
		}
	}
}

// TestElementwise checks GELU, SiLU, softmax and LayerNorm(+modulation)
// against float64, on lengths with and without a vector tail.
func TestElementwise(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range []int{1, 15, 16, 17, 64, 100, 1152} {
			x := randNorm(r, n, 3)
			x[0] = 40 // the exp's clamps
			if n > 1 {
				x[1] = -40
			}
			g := append([]float32(nil), x...)
			geluTanh(g)
			s := make([]float32, n)
			SiLU(s, x)
			for i, u := range x {
				uf := float64(u)
				if d := math.Abs(float64(g[i]) - gelu64(uf)); d > 4e-7*(1+math.Abs(uf)) {
					t.Fatalf("n %d: gelu(%v) = %v, want %v", n, u, g[i], gelu64(uf))
				}
				if want := uf / (1 + math.Exp(-uf)); math.Abs(float64(s[i])-want) > 4e-7*(1+math.Abs(uf)) {
					t.Fatalf("n %d: silu(%v) = %v, want %v", n, u, s[i], want)
				}
			}
			sm := append([]float32(nil), x...)
			softmaxScaled(sm, 0.3)
			mx := math.Inf(-1)
			for _, u := range x {
				mx = math.Max(mx, 0.3*float64(u))
			}
			var sum float64
			for _, u := range x {
				sum += math.Exp(0.3*float64(u) - mx)
			}
			for i, u := range x {
				want := math.Exp(0.3*float64(u)-mx) / sum
				if d := math.Abs(float64(sm[i]) - want); d > 4e-6*want+1e-9 {
					t.Fatalf("n %d: softmax[%d] = %v, want %v", n, i, sm[i], want)
				}
			}
			sh, sc := randNorm(r, n, 0.5), randNorm(r, n, 0.5)
			out := make([]float32, n)
			for _, mod := range []bool{false, true} {
				if mod {
					layerNormRow(out, x, 1e-6, sh, sc)
				} else {
					layerNormRow(out, x, 1e-6, nil, nil)
				}
				var mean, sq float64
				for _, u := range x {
					mean += float64(u)
				}
				mean /= float64(n)
				for _, u := range x {
					sq += (float64(u) - mean) * (float64(u) - mean)
				}
				rstd := 1 / math.Sqrt(sq/float64(n)+1e-6)
				for i, u := range x {
					want := (float64(u) - mean) * rstd
					if mod {
						want = want*(1+float64(sc[i])) + float64(sh[i])
					}
					if d := math.Abs(float64(out[i]) - want); d > 2e-6*(1+math.Abs(want)) {
						t.Fatalf("n %d mod %v: ln[%d] = %v, want %v", n, mod, i, out[i], want)
					}
				}
			}
		}
	})
}

// TestLinearF32 checks Linear/LinearGELU at Precision FP32 against
// float64 on odd sizes (gemv rows, ragged tiles, K across kc), every
// weight dtype, whole weights and shards (which write only their columns).
func TestLinearF32(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, sz := range [][3]int{{1, 5, 3}, {2, 70, 300}, {8, 33, 17}, {9, 64, 16}, {13, 45, 77}, {40, 96, 257}, {67, 97, 515}} {
			m, n, k := sz[0], sz[1], sz[2]
			x := randNorm(r, m*k, 1)
			wv := randNorm(r, n*k, 1/math.Sqrt(float64(k)))
			bias := randNorm(r, n, 0.1)
			for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
				full := WeightFromFloat32(wv, n, k).ToDType(dt)
				wr := full.Float32s()
				for _, shard := range [][2]int{{0, 0}, {0, min(n, 32)}, {min(n, 32), n}, {n, n}} {
					w := full
					if shard[1] > 0 || shard[0] > 0 {
						w = full.Shard(shard[0], shard[1])
					}
					lo, hi := w.Held()
					for _, gelu := range []bool{false, true} {
						y := make([]float32, m*n)
						for i := range y {
							y[i] = -99
						}
						cpu := &CPU{Threads: 2}
						if gelu {
							cpu.LinearGELU(y, x, m, w, bias)
						} else {
							cpu.Linear(y, x, m, w, bias)
						}
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								got := float64(y[i*n+j])
								if j < lo || j >= hi {
									if got != -99 {
										t.Fatalf("%dx%dx%d %v shard [%d,%d): y[%d,%d] written (%v)", m, n, k, dt, lo, hi, i, j, got)
									}
									continue
								}
								var ref, mag float64
								for kk := 0; kk < k; kk++ {
									p := float64(x[i*k+kk]) * float64(wr[j*k+kk])
									ref += p
									mag += math.Abs(p)
								}
								ref += float64(bias[j])
								if gelu {
									ref = gelu64(ref)
								}
								if d := math.Abs(got - ref); d > 1e-6*(mag+1)+1e-7*float64(k)*(mag+1) {
									t.Fatalf("%dx%dx%d %v shard [%d,%d) gelu=%v: y[%d,%d] = %v, want %v", m, n, k, dt, lo, hi, gelu, i, j, got, ref)
								}
							}
						}
					}
				}
			}
		}
	})
}

// TestAttention checks Attention (and AttentionHeads on a subset of heads)
// against float64 on ragged sizes, strided operands and key lengths.
func TestAttention(t *testing.T) {
	modes(t, func(t *testing.T, portable bool) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, c := range []struct{ seqs, nq, nk, heads, hd int }{{1, 5, 3, 1, 8}, {2, 40, 70, 3, 72}, {1, 64, 64, 2, 16}, {2, 33, 300, 2, 40}} {
			H := c.heads * c.hd
			q := randNorm(r, c.seqs*c.nq*3*H, 1)
			kv := randNorm(r, c.seqs*c.nk*2*H+5, 1)
			lens := []int{c.nk, max(0, c.nk-7)}[:c.seqs]
			for _, masked := range []bool{false, true} {
				for _, heads := range [][2]int{{0, c.heads}, {c.heads - 1, c.heads}} {
					out := make([]float32, c.seqs*c.nq*(H+3))
					for i := range out {
						out[i] = -99
					}
					a := &AttnArgs{Out: out, OutStride: H + 3, Q: q[H:], QStride: 3 * H, K: kv, V: kv[H:], KVStride: 2 * H,
						Seqs: c.seqs, NQ: c.nq, NK: c.nk, Heads: c.heads, HeadDim: c.hd, Scale: 1 / float32(math.Sqrt(float64(c.hd)))}
					if masked {
						a.KVLen = lens
					}
					(&CPU{Threads: 2}).AttentionHeads(a, heads[0], heads[1])
					for s := 0; s < c.seqs; s++ {
						nk := c.nk
						if masked {
							nk = lens[s]
						}
						for h := 0; h < c.heads; h++ {
							for i := 0; i < c.nq; i++ {
								row := out[(s*c.nq+i)*(H+3)+h*c.hd:][:c.hd]
								if h < heads[0] || h >= heads[1] {
									for _, v := range row {
										if v != -99 {
											t.Fatalf("%+v: head %d written outside [%d,%d)", c, h, heads[0], heads[1])
										}
									}
									continue
								}
								sc := make([]float64, nk)
								mx := math.Inf(-1)
								for j := range sc {
									for d := 0; d < c.hd; d++ {
										sc[j] += float64(a.Q[(s*c.nq+i)*a.QStride+h*c.hd+d]) * float64(a.K[(s*c.nk+j)*a.KVStride+h*c.hd+d])
									}
									sc[j] *= float64(a.Scale)
									mx = math.Max(mx, sc[j])
								}
								var sum float64
								for j := range sc {
									sc[j] = math.Exp(sc[j] - mx)
									sum += sc[j]
								}
								for d := 0; d < c.hd; d++ {
									var want float64
									for j := range sc {
										want += sc[j] / sum * float64(a.V[(s*c.nk+j)*a.KVStride+h*c.hd+d])
									}
									if got := float64(row[d]); math.Abs(got-want) > 2e-6*(1+math.Abs(want)) {
										t.Fatalf("%+v masked %v: out[seq %d, head %d, row %d, dim %d] = %v, want %v", c, masked, s, h, i, d, got, want)
									}
								}
							}
						}
					}
				}
			}
		}
	})
}
