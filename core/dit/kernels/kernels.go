package kernels

import (
	"math"
)

// Blocking parameters of the matmul: a panel holds nr output columns
// (= nr weight rows) over kc reduction steps, widened to float32.
const (
	nr = 32
	kc = 256
	// nc: the output columns linearPanels runs through all reduction
	// blocks at a time (the output block m × nc stays in L2).
	nc = 256
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
	lo, hi := w.Held()
	if m == 0 || lo >= hi {
		return
	}
	_ = x[m*k-1]
	_ = y[m*n-1]
	if m <= gemvRows {
		c.parallel(hi-lo, max(1, 1<<14/k), func(a, b2 int) { gemv(y, x, m, w, b, lo+a, lo+b2, roundW) })
		if gelu {
			geluRows(y[lo:], m, hi-lo, n)
		}
		return
	}
	// The accelerated GELU runs once over the whole output (one call).
	geluAfter := gelu && AccelOn() && accel.GELU != nil
	gelu = gelu && !geluAfter
	defer func() {
		if geluAfter {
			geluRows(y[lo:], m, hi-lo, n)
		}
	}()
	panels := (hi - lo + nr - 1) / nr
	// The vector kernels read the activations packed, once per call.
	m8 := 0
	var ap *[]float32
	if vecOn() {
		m8 = m &^ 7
		ap = apackPool.Get().(*[]float32)
		*ap = c.packActivations(*ap, x, m, k, m8)
		defer apackPool.Put(ap)
	}
	// Rough work per panel decides the grain so tiny problems stay inline.
	grain := max(1, 1<<16/(m*min(k, kc)+1))
	c.parallel(panels, grain, func(p0, p1 int) {
		buf := getPanel()
		var a []float32
		if ap != nil {
			a = *ap
		}
		linearPanels(y, x, m, w, b, lo+p0*nr, min(hi, lo+p1*nr), buf, a, m8, roundW)
		if gelu {
			n0, n1 := lo+p0*nr, min(hi, lo+p1*nr)
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

// linearPanels computes output columns [c0, c1) (panels of nr from c0)
// for all m rows; roundW rounds the packed weights to bf16 values. Rows
// [0, m8) read the activations packed (ap, see packActivations) in 8-row
// tiles, the bias added on the first reduction block; the others read x
// in place. The reduction blocks are the outer loop so that the
// activations' block (m × kc) stays in cache across the panels.
func linearPanels(y, x []float32, m int, w *Weight, b []float32, c0, c1 int, panel, ap []float32, m8 int, roundW bool) {
	initColumns(y[m8*w.Rows:], b, m-m8, w.Rows, c0, c1-c0)
	for g0 := c0; g0 < c1; g0 += nc {
		g1 := min(c1, g0+nc)
		linearGroup(y, x, m, w, b, g0, g1, panel, ap, m8, roundW)
	}
}

// linearGroup is linearPanels over one group of at most nc columns, so
// that its output block stays in cache across the reduction blocks.
func linearGroup(y, x []float32, m int, w *Weight, b []float32, c0, c1 int, panel, ap []float32, m8 int, roundW bool) {
	n, k := w.Rows, w.Cols
	m32 := (m8 + 31) &^ 31
	for k0 := 0; k0 < k; k0 += kc {
		kw := min(kc, k-k0)
		for n0 := c0; n0 < c1; n0 += nr {
			nw := min(nr, c1-n0)
			packPanel(panel, w, n0, nw, k0, kw)
			pp := panel[:kw*nr]
			if roundW {
				roundSliceBF16(pp)
			}
			// While the tiles run, the next panel's weights come into L2.
			pn, pk := n0+nr, k0
			if pn >= c1 {
				pn, pk = c0, k0+kc
			}
			if pk < k && m8 > 0 {
				w.prefetchRows(pn, min(c1, pn+nr), pk, min(kc, k-pk))
			}
			var init []float32
			if k0 == 0 {
				init = zeros[:]
				if b != nil {
					init = b[n0:]
					if nw < nr {
						var bb [nr]float32
						copy(bb[:], b[n0:n0+nw])
						init = bb[:]
					}
				}
			}
			packedTiles(y, n, ap[k0*m32:], m8/8, kw, pp, n0, nw, init)
			tileRows(y, n, x, k, m8, m, k0, kw, pp, n0, nw)
		}
	}
}

// tileRows accumulates y[i, n0:n0+nw] += x[i, k0:k0+kw]·panel for rows
// [r0, r1): register tiles of microMR rows, then 4, then single rows.
func tileRows(y []float32, ldy int, x []float32, ldx, r0, r1, k0, kw int, panel []float32, n0, nw int) {
	i := r0
	if nw == nr && accelTiles() {
		if n := (r1 - r0) / accel.Rows * accel.Rows; n > 0 {
			accel.Tiles(y[i*ldy+n0:], ldy, x[i*ldx+k0:], ldx, n, kw, panel)
			i += n
		}
	}
	for ; i+microMR <= r1; i += microMR {
		microKernel(y, ldy, x, ldx, i, k0, kw, panel, n0, nw)
	}
	for ; i+4 <= r1; i += 4 {
		microKernelGeneric(y, ldy, x, ldx, i, k0, kw, panel, n0, nw)
	}
	for ; i < r1; i++ {
		microKernel1(y[i*ldy+n0:i*ldy+n0+nw], x[i*ldx+k0:i*ldx+k0+kw], panel, nw)
	}
}

// gemv computes y[i,n] = x[i,:]·W[n,:] + b[n] for output rows [lo, hi)
// directly from the stored weight rows (no packing): the path for the
// few-row products (adaLN modulation, embedders). roundW rounds the
// widened weights to bf16 values.
func gemv(y, x []float32, m int, w *Weight, b []float32, lo, hi int, roundW bool) {
	k := w.Cols
	if w.Quantized() {
		gemvQuantized(y, x, m, w, b, lo, hi, roundW)
		return
	}
	if vecOn() && !roundW && k >= 16 && widenable(w.DType) {
		gemvVec(y, x, m, w, b, lo, hi)
		return
	}
	if !roundW && gemvAccel(y, x, m, w, b, lo, hi) {
		return
	}
	var row [kc]float32
	for n := lo; n < hi; n++ {
		var acc [gemvRows]float32
		for k0 := 0; k0 < k; k0 += kc {
			kw := min(kc, k-k0)
			wr := row[:kw]
			w.Widen(w.offset(n, k0), wr)
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

// LayerNormModulate implements Backend.
func (c *CPU) LayerNormModulate(out, x []float32, rows, h int, eps float32, groupRows int, shift, scale []float32, stride int) {
	c.parallel(rows, max(1, 4096/h), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*h : (r+1)*h]
			or := out[r*h : (r+1)*h]
			if shift == nil {
				layerNormRow(or, xr, eps, nil, nil)
				continue
			}
			g := r / groupRows
			layerNormRow(or, xr, eps, shift[g*stride:g*stride+h], scale[g*stride:g*stride+h])
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

// Accel replaces the portable Go loops (wasm, purego) with faster ones:
// the page's WebAssembly SIMD kernels. Nil fields keep Go's; where the
// AVX-512 kernels run, none is used.
type Accel struct {
	// Rows is the multiple of rows Tiles takes.
	Rows int
	// Tiles computes y[i][j] += Σ_{k<kw} x[i][k]·panel[k·32+j] for i <
	// rows, j < 32 (row strides ldy, ldx): full panels' register tiles.
	Tiles func(y []float32, ldy int, x []float32, ldx, rows, kw int, panel []float32)
	// GELU applies GELU (tanh) in place to rows of cols values (cols a
	// multiple of 4), stride apart.
	GELU func(v []float32, rows, cols, stride int)
	// Softmax replaces each of rows rows of n values (n a multiple of 4),
	// stride apart, by softmax(scale·row).
	Softmax func(v []float32, rows, n, stride int, scale float32)
	// GemvBF16 and GemvF32 set out[r·8+i] = Σ_{kk<k} W[r,kk]·x[i·ldx+kk]
	// for r < rows, i < m ≤ 8, k a multiple of 8 (W's rows ldw apart).
	GemvBF16 func(w []uint16, ldw, rows, k int, x []float32, ldx, m int, out []float32)
	GemvF32  func(w []float32, ldw, rows, k int, x []float32, ldx, m int, out []float32)
	// PackBF16 and PackF32 write panel[kk·32+j] = W[j, kk] for j < rows
	// (a multiple of 4) and kk < kw (a multiple of 8), W's rows ld apart.
	PackBF16 func(panel []float32, w []uint16, ld, rows, kw int)
	PackF32  func(panel []float32, w []float32, ld, rows, kw int)
}

var accel *Accel

// SetAccel installs a (nil: Go's loops everywhere).
func SetAccel(a *Accel) {
	if a != nil && (a.Tiles == nil || a.Rows <= 0) {
		a = &Accel{GELU: a.GELU, Softmax: a.Softmax, GemvBF16: a.GemvBF16, GemvF32: a.GemvF32, PackBF16: a.PackBF16, PackF32: a.PackF32}
	}
	accel = a
}

// AccelOn reports whether SetAccel's kernels are in use.
func AccelOn() bool { return accel != nil && !vecOn() }

func accelTiles() bool { return AccelOn() && accel.Tiles != nil }
