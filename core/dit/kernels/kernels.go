package kernels

import (
	"math"

	"github.com/ditkit/ditkit/core/tensor"
)

// Blocking parameters of the matmul: a panel holds nr output columns
// (= nr weight rows) over kc reduction steps, widened to float32.
const (
	nr = 32
	kc = 256
	// gemvRows: products with at most this many rows skip packing.
	gemvRows = 8
)

// Linear implements Backend.
func (c *CPU) Linear(y, x []float32, m int, w *Weight, b []float32) {
	c.linear(y, x, m, w, b, false)
}

// LinearGELU implements Backend: Linear followed by GELU (tanh), applied
// to each panel while it is hot in cache.
func (c *CPU) LinearGELU(y, x []float32, m int, w *Weight, b []float32) {
	c.linear(y, x, m, w, b, true)
}

func (c *CPU) linear(y, x []float32, m int, w *Weight, b []float32, gelu bool) {
	if c != nil && c.Precision == BF16 {
		c.linearBF16(y, x, m, w, b, gelu)
		return
	}
	c.linearF32(y, x, m, w, b, gelu, false)
}

// linearF32 is the fp32-activation product; roundW rounds the weights to
// bf16 values as they are widened (the bf16 emulation, see linearBF16).
func (c *CPU) linearF32(y, x []float32, m int, w *Weight, b []float32, gelu, roundW bool) {
	n, k := w.Rows, w.Cols
	if m == 0 || n == 0 {
		return
	}
	_ = x[m*k-1]
	_ = y[m*n-1]
	if m <= gemvRows {
		c.parallel(n, max(1, 1<<14/k), func(lo, hi int) { gemv(y, x, m, w, b, lo, hi, roundW) })
		if gelu {
			geluTanh(y[:m*n])
		}
		return
	}
	panels := (n + nr - 1) / nr
	// Rough work per panel decides the grain so tiny problems stay inline.
	grain := max(1, 1<<16/(m*min(k, kc)+1))
	c.parallel(panels, grain, func(lo, hi int) {
		buf := getPanel()
		linearPanels(y, x, m, w, b, lo, hi, buf, roundW)
		if gelu {
			n0, n1 := lo*nr, min(n, hi*nr)
			for i := 0; i < m; i++ {
				geluTanh(y[i*n+n0 : i*n+n1])
			}
		}
		putPanel(buf)
	})
}

// initColumns starts columns [n0, n0+nw) of the m×n output y at the bias
// (zero without one), before the panels accumulate into them.
func initColumns(y, b []float32, m, n, n0, nw int) {
	for i := 0; i < m; i++ {
		row := y[i*n+n0 : i*n+n0+nw]
		if b != nil {
			copy(row, b[n0:n0+nw])
		} else {
			clear(row)
		}
	}
}

// linearPanels computes output columns [lo*nr, hi*nr) for all m rows;
// roundW rounds the packed weights to bf16 values.
func linearPanels(y, x []float32, m int, w *Weight, b []float32, lo, hi int, panel []float32, roundW bool) {
	n, k := w.Rows, w.Cols
	for p := lo; p < hi; p++ {
		n0 := p * nr
		nw := min(nr, n-n0)
		initColumns(y, b, m, n, n0, nw)
		for k0 := 0; k0 < k; k0 += kc {
			kw := min(kc, k-k0)
			packPanel(panel, w, n0, nw, k0, kw)
			pp := panel[:kw*nr]
			if roundW {
				roundSliceBF16(pp)
			}
			i := 0
			for ; i+microMR <= m; i += microMR {
				microKernel(y, n, x, k, i, k0, kw, pp, n0, nw)
			}
			for ; i+4 <= m; i += 4 {
				microKernelGeneric(y, n, x, k, i, k0, kw, pp, n0, nw)
			}
			for ; i < m; i++ {
				microKernel1(y[i*n+n0:i*n+n0+nw], x[i*k+k0:i*k+k0+kw], pp, nw)
			}
		}
	}
}

// packPanel writes panel[kk*nr+j] = W[n0+j, k0+kk], zero for j ≥ nw,
// widening 16-bit weights; four weight rows at a time so the writes are
// contiguous runs.
func packPanel(panel []float32, w *Weight, n0, nw, k0, kw int) {
	j := 0
	for ; j+4 <= nw; j += 4 {
		off := (n0+j)*w.Cols + k0
		c := w.Cols
		switch w.DType {
		case tensor.F32:
			r0, r1, r2, r3 := w.F32[off:off+kw], w.F32[off+c:off+c+kw], w.F32[off+2*c:off+2*c+kw], w.F32[off+3*c:off+3*c+kw]
			for kk := range r0 {
				p := panel[kk*nr+j : kk*nr+j+4 : kk*nr+j+4]
				p[0], p[1], p[2], p[3] = r0[kk], r1[kk], r2[kk], r3[kk]
			}
		case tensor.BF16:
			r0, r1, r2, r3 := w.U16[off:off+kw], w.U16[off+c:off+c+kw], w.U16[off+2*c:off+2*c+kw], w.U16[off+3*c:off+3*c+kw]
			for kk := range r0 {
				p := panel[kk*nr+j : kk*nr+j+4 : kk*nr+j+4]
				p[0] = math.Float32frombits(uint32(r0[kk]) << 16)
				p[1] = math.Float32frombits(uint32(r1[kk]) << 16)
				p[2] = math.Float32frombits(uint32(r2[kk]) << 16)
				p[3] = math.Float32frombits(uint32(r3[kk]) << 16)
			}
		default:
			r0, r1, r2, r3 := w.U16[off:off+kw], w.U16[off+c:off+c+kw], w.U16[off+2*c:off+2*c+kw], w.U16[off+3*c:off+3*c+kw]
			for kk := range r0 {
				p := panel[kk*nr+j : kk*nr+j+4 : kk*nr+j+4]
				p[0], p[1], p[2], p[3] = f16Table[r0[kk]], f16Table[r1[kk]], f16Table[r2[kk]], f16Table[r3[kk]]
			}
		}
	}
	var tmp [kc]float32
	for ; j < nr; j++ {
		if j >= nw {
			for kk := 0; kk < kw; kk++ {
				panel[kk*nr+j] = 0
			}
			continue
		}
		w.Widen((n0+j)*w.Cols+k0, tmp[:kw])
		for kk, v := range tmp[:kw] {
			panel[kk*nr+j] = v
		}
	}
}

// gemv computes y[i,n] = x[i,:]·W[n,:] + b[n] for output rows [lo, hi)
// directly from the stored weight rows (no packing): the path for the
// few-row products (adaLN modulation, embedders). roundW rounds the
// widened weights to bf16 values.
func gemv(y, x []float32, m int, w *Weight, b []float32, lo, hi int, roundW bool) {
	k := w.Cols
	var row [kc]float32
	for n := lo; n < hi; n++ {
		var acc [8]float32
		for k0 := 0; k0 < k; k0 += kc {
			kw := min(kc, k-k0)
			wr := row[:kw]
			w.Widen(n*k+k0, wr)
			if roundW {
				roundSliceBF16(wr)
			}
			for i := 0; i < m; i++ {
				xr := x[i*k+k0 : i*k+k0+kw]
				var s0, s1, s2, s3 float32
				kk := 0
				for ; kk+4 <= kw; kk += 4 {
					s0 += xr[kk] * wr[kk]
					s1 += xr[kk+1] * wr[kk+1]
					s2 += xr[kk+2] * wr[kk+2]
					s3 += xr[kk+3] * wr[kk+3]
				}
				for ; kk < kw; kk++ {
					s0 += xr[kk] * wr[kk]
				}
				acc[i] += (s0 + s1) + (s2 + s3)
			}
		}
		for i := 0; i < m; i++ {
			v := acc[i]
			if b != nil {
				v += b[n]
			}
			y[i*w.Rows+n] = v
		}
	}
}

// microKernel1 accumulates one row: y[j] += Σ_k x[k]·panel[k*nr+j].
func microKernel1(y, x, panel []float32, nw int) {
	var acc [nr]float32
	for kk, a := range x {
		p := panel[kk*nr : kk*nr+nr]
		for j := range acc {
			acc[j] += a * p[j]
		}
	}
	for j := 0; j < nw; j++ {
		y[j] += acc[j]
	}
}

// microKernelGeneric accumulates a 4×nr tile of y from 4 rows of x and a
// packed panel, 4 columns at a time in 16 scalar accumulators.
func microKernelGeneric(y []float32, ldy int, x []float32, ldx, i, k0, kw int, panel []float32, n0, nw int) {
	x0 := x[i*ldx+k0 : i*ldx+k0+kw]
	x1 := x[(i+1)*ldx+k0 : (i+1)*ldx+k0+kw]
	x2 := x[(i+2)*ldx+k0 : (i+2)*ldx+k0+kw]
	x3 := x[(i+3)*ldx+k0 : (i+3)*ldx+k0+kw]
	for jg := 0; jg < nw; jg += 4 {
		var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
		for kk := 0; kk < kw; kk++ {
			p := panel[kk*nr+jg : kk*nr+jg+4]
			b0, b1, b2, b3 := p[0], p[1], p[2], p[3]
			a := x0[kk]
			c00 += a * b0
			c01 += a * b1
			c02 += a * b2
			c03 += a * b3
			a = x1[kk]
			c10 += a * b0
			c11 += a * b1
			c12 += a * b2
			c13 += a * b3
			a = x2[kk]
			c20 += a * b0
			c21 += a * b1
			c22 += a * b2
			c23 += a * b3
			a = x3[kk]
			c30 += a * b0
			c31 += a * b1
			c32 += a * b2
			c33 += a * b3
		}
		acc := [4][4]float32{{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}
		for r := 0; r < 4; r++ {
			row := y[(i+r)*ldy+n0+jg:]
			for j := 0; j < 4 && jg+j < nw; j++ {
				row[j] += acc[r][j]
			}
		}
	}
}

// Attention implements Backend: per (sequence, head) it forms S = Q·Kᵀ with
// the blocked matmul, applies a max-subtracted softmax and multiplies by V.
func (c *CPU) Attention(a *AttnArgs) {
	tasks := a.Seqs * a.Heads
	grain := max(1, 1<<15/(a.NQ*a.NK*a.HeadDim+1))
	c.parallel(tasks, grain, func(lo, hi int) {
		buf := getPanel()
		defer putPanel(buf)
		var q, kt, vt, s, o []float32
		for task := lo; task < hi; task++ {
			seq, h := task/a.Heads, task%a.Heads
			nk := a.NK
			if a.KVLen != nil {
				nk = min(a.KVLen[seq], a.NK)
			}
			nq, hd := a.NQ, a.HeadDim
			q = grow(q, nq*hd)
			kt = grow(kt, nk*hd)
			vt = grow(vt, nk*hd)
			s = grow(s, nq*nk)
			o = grow(o, nq*hd)
			for r := 0; r < nq; r++ {
				copy(q[r*hd:(r+1)*hd], a.Q[(seq*a.NQ+r)*a.QStride+h*hd:])
			}
			for r := 0; r < nk; r++ {
				base := (seq*a.NK+r)*a.KVStride + h*hd
				copy(kt[r*hd:(r+1)*hd], a.K[base:base+hd])
				vr := a.V[base : base+hd]
				for d, v := range vr {
					vt[d*nk+r] = v
				}
			}
			if nk == 0 {
				clear(o)
			} else {
				kw := &Weight{DType: tensor.F32, Rows: nk, Cols: hd, F32: kt}
				linearPanels(s, q, nq, kw, nil, 0, (nk+nr-1)/nr, buf, false)
				for r := 0; r < nq; r++ {
					softmaxScaled(s[r*nk:(r+1)*nk], a.Scale)
				}
				vw := &Weight{DType: tensor.F32, Rows: hd, Cols: nk, F32: vt}
				linearPanels(o, s, nq, vw, nil, 0, (hd+nr-1)/nr, buf, false)
			}
			for r := 0; r < nq; r++ {
				copy(a.Out[(seq*a.NQ+r)*a.OutStride+h*hd:][:hd], o[r*hd:(r+1)*hd])
			}
		}
	})
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// softmaxScaled replaces s with softmax(scale·s), numerically stable.
func softmaxScaled(s []float32, scale float32) {
	mx := float32(math.Inf(-1))
	for i := range s {
		s[i] *= scale
		mx = max(mx, s[i])
	}
	var sum float32
	for i, v := range s {
		e := expf(v - mx)
		s[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range s {
		s[i] *= inv
	}
}

// LayerNormModulate implements Backend.
func (c *CPU) LayerNormModulate(out, x []float32, rows, h int, eps float32, groupRows int, shift, scale []float32, stride int) {
	c.parallel(rows, max(1, 4096/h), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*h : (r+1)*h]
			or := out[r*h : (r+1)*h]
			var sum float64
			for _, v := range xr {
				sum += float64(v)
			}
			mean := sum / float64(h)
			var sq float64
			for _, v := range xr {
				d := float64(v) - mean
				sq += d * d
			}
			rstd := float32(1 / math.Sqrt(sq/float64(h)+float64(eps)))
			m := float32(mean)
			if shift == nil {
				for i, v := range xr {
					or[i] = (v - m) * rstd
				}
				continue
			}
			g := r / groupRows
			sh := shift[g*stride : g*stride+h]
			sc := scale[g*stride : g*stride+h]
			for i, v := range xr {
				or[i] = (v-m)*rstd*(1+sc[i]) + sh[i]
			}
		}
	})
}

// expf is a float32 exp accurate to about 2 ulp (Cephes expf).
func expf(x float32) float32 {
	if x > 88.72283 {
		return float32(math.Inf(1))
	}
	if x < -103.97 {
		return 0
	}
	if x < -87.33 { // subnormal results: rare, be exact
		return float32(math.Exp(float64(x)))
	}
	const log2e = 1.44269504088896341
	fx := float32(math.Floor(float64(log2e*x + 0.5)))
	xr := x - fx*0.693359375
	xr -= fx * -2.12194440e-4
	z := xr * xr
	y := ((((1.9875691500e-4*xr+1.3981999507e-3)*xr+8.3334519073e-3)*xr+4.1665795894e-2)*xr+1.6666665459e-1)*xr + 5.0000001201e-1
	y = y*z + xr + 1
	n := int32(fx)
	if n > 127 {
		return y * math.Float32frombits(uint32(127+127)<<23) * math.Float32frombits(uint32(n-127+127)<<23)
	}
	return y * math.Float32frombits(uint32(n+127)<<23)
}

// geluTanh applies GELU with the tanh approximation in place.
func geluTanh(v []float32) {
	const c = 0.7978845608028654 // √(2/π)
	for i, u := range v {
		z := float32(c) * (u + 0.044715*u*u*u)
		// tanh(z) = 1 - 2/(exp(2z)+1)
		t := 1 - 2/(expf(2*z)+1)
		v[i] = 0.5 * u * (1 + t)
	}
}

// SiLU writes x·σ(x) for each element of x into dst (float32, the
// Cephes-accurate exp the GELU uses).
func SiLU(dst, x []float32) {
	for i, v := range x {
		dst[i] = v / (1 + expf(-v))
	}
}
