package kernels

import (
	"sync"

	"github.com/ditkit/ditkit/core/tensor"
)

// Attention implements Backend: every head of every sequence.
func (c *CPU) Attention(a *AttnArgs) { c.AttentionHeads(a, 0, a.Heads) }

// AttentionHeads runs heads [h0, h1) of every sequence, writing only their
// output columns (sharded execution splits the heads across workers).
// Per (sequence, head): Kᵀ packed into panels, V copied into panels, and
// blocks of attnRows query rows at a time: S = Q·Kᵀ with the matmul tiles
// (Q read in place), softmax(scale·S) row by row, O = S·V written in place.
func (c *CPU) AttentionHeads(a *AttnArgs, h0, h1 int) {
	heads := h1 - h0
	if heads <= 0 || a.Seqs <= 0 {
		return
	}
	tasks := a.Seqs * heads
	grain := max(1, 1<<15/(a.NQ*a.NK*a.HeadDim+1))
	c.parallel(tasks, grain, func(lo, hi int) {
		sc := attnPool.Get().(*attnScratch)
		for task := lo; task < hi; task++ {
			attnHead(a, task/heads, h0+task%heads, sc)
		}
		attnPool.Put(sc)
	})
}

// attnRows is the query rows of one S block (attnRows × keys in cache).
const attnRows = 32

type attnScratch struct{ kt, vt, s []float32 }

var attnPool = sync.Pool{New: func() any { return new(attnScratch) }}

func attnHead(a *AttnArgs, seq, h int, sc *attnScratch) {
	nq, hd := a.NQ, a.HeadDim
	nk := a.NK
	if a.KVLen != nil {
		nk = min(a.KVLen[seq], a.NK)
	}
	out := a.Out[seq*nq*a.OutStride+h*hd:]
	for r := 0; r < nq; r++ {
		clear(out[r*a.OutStride : r*a.OutStride+hd])
	}
	if nk <= 0 {
		return
	}
	kPanels := (nk + nr - 1) / nr
	dPanels := (hd + nr - 1) / nr
	sc.kt = grow(sc.kt, kPanels*hd*nr)
	sc.vt = grow(sc.vt, dPanels*nk*nr)
	sc.s = grow(sc.s, attnRows*nk)
	kt, vt, s := sc.kt, sc.vt, sc.s
	// Kᵀ panels: panel p holds [hd][nr] = K[key p·nr+j, dim kk].
	kv := seq * a.NK * a.KVStride
	kmat := &Weight{DType: tensor.F32, Rows: nk, Cols: a.KVStride, F32: a.K[kv+h*hd:]}
	for p := 0; p < kPanels; p++ {
		n0, nw := p*nr, min(nr, nk-p*nr)
		for k0 := 0; k0 < hd; k0 += kc {
			packPanel(kt[(p*hd+k0)*nr:], kmat, n0, nw, k0, min(kc, hd-k0))
		}
	}
	// V panels: panel d holds [nk][nr] = V[key, d·nr+j] (zero past hd).
	for d := 0; d < dPanels; d++ {
		d0, dw := d*nr, min(nr, hd-d*nr)
		vp := vt[d*nk*nr:]
		for key := 0; key < nk; key++ {
			row := vp[key*nr : key*nr+nr]
			src := a.V[kv+key*a.KVStride+h*hd+d0:][:dw]
			copy(row, src)
			clear(row[dw:])
		}
	}
	q := a.Q[seq*nq*a.QStride+h*hd:]
	for r0 := 0; r0 < nq; r0 += attnRows {
		rows := min(attnRows, nq-r0)
		qb := q[r0*a.QStride:]
		sb := s[:rows*nk]
		clear(sb)
		for p := 0; p < kPanels; p++ {
			n0, nw := p*nr, min(nr, nk-p*nr)
			for k0 := 0; k0 < hd; k0 += kc {
				kw := min(kc, hd-k0)
				tileRows(sb, nk, qb, a.QStride, 0, rows, k0, kw, kt[(p*hd+k0)*nr:][:kw*nr], n0, nw)
			}
		}
		softmaxRows(sb, rows, nk, nk, a.Scale)
		ob := out[r0*a.OutStride:]
		for d := 0; d < dPanels; d++ {
			d0, dw := d*nr, min(nr, hd-d*nr)
			for k0 := 0; k0 < nk; k0 += kc {
				kw := min(kc, nk-k0)
				tileRows(ob, a.OutStride, sb, nk, 0, rows, k0, kw, vt[(d*nk+k0)*nr:][:kw*nr], d0, dw)
			}
		}
	}
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
