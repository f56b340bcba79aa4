package kernels

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/ditkit/ditkit/core/tensor"
)

// The element-wise passes and the packing, each with an AVX-512 path (the
// generated helpers of vec_amd64.s, over whole vectors of 16) and the
// portable Go one (the tails, wasm, purego, SetPortableKernels).

// packPanel writes panel[kk*nr+j] = W[n0+j, k0+kk] for kk < kw, zero for
// j ≥ nw, widening 16-bit weights: 16 rows × 16 columns at a time by
// register transposes where vecOn, four rows at a time in Go otherwise
// (contiguous runs of the panel), then the leftovers one row at a time.
// Quantized weights are dequantized first (packQuantized).
func packPanel(panel []float32, w *Weight, n0, nw, k0, kw int) {
	_ = panel[kw*nr-1]
	if w.Quantized() {
		packQuantized(panel, w, n0, nw, k0, kw)
		return
	}
	j, k16 := 0, 0
	if vecOn() && kw >= 16 && widenable(w.DType) {
		k16 = kw &^ 15
		for ; j+16 <= nw; j += 16 {
			off := w.offset(n0+j, k0)
			last := off + 15*w.Cols + k16 - 1
			dst := &panel[j]
			switch w.DType {
			case tensor.F32:
				_ = w.F32[last]
				packTF32(dst, unsafe.Pointer(&w.F32[off]), w.Cols, k16)
			case tensor.BF16:
				_ = w.U16[last]
				packTBF16(dst, unsafe.Pointer(&w.U16[off]), w.Cols, k16)
			default:
				_ = w.U16[last]
				packTF16(dst, unsafe.Pointer(&w.U16[off]), w.Cols, k16)
			}
		}
		// Columns [k16, kw) of the rows packed so far.
		packRows(panel, w, n0, 0, j, k0, k16, kw)
	} else if j4, k8 := nw&^3, kw&^7; AccelOn() && j4 > 0 && k8 > 0 &&
		(w.DType == tensor.BF16 && accel.PackBF16 != nil || w.DType == tensor.F32 && accel.PackF32 != nil) {
		off := w.offset(n0, k0)
		end := off + (j4-1)*w.Cols + k8
		if w.DType == tensor.BF16 {
			accel.PackBF16(panel, w.U16[off:end], w.Cols, j4, k8)
		} else {
			accel.PackF32(panel, w.F32[off:end], w.Cols, j4, k8)
		}
		packRows(panel, w, n0, 0, j4, k0, k8, kw)
		j = j4
	}
	packRows(panel, w, n0, j, nw, k0, 0, kw)
	for j := nw; j < nr; j++ {
		for kk := 0; kk < kw; kk++ {
			panel[kk*nr+j] = 0
		}
	}
}

// packRows packs rows [j0, j1) of the panel, columns [c0, c1).
func packRows(panel []float32, w *Weight, n0, j0, j1, k0, c0, c1 int) {
	if c0 >= c1 {
		return
	}
	kw := c1 - c0
	j := j0
	c := w.Cols
	for ; j+4 <= j1; j += 4 {
		off := w.offset(n0+j, k0+c0)
		switch w.DType {
		case tensor.F32:
			r0, r1, r2, r3 := w.F32[off:off+kw], w.F32[off+c:off+c+kw], w.F32[off+2*c:off+2*c+kw], w.F32[off+3*c:off+3*c+kw]
			for kk := range r0 {
				p := panel[(c0+kk)*nr+j : (c0+kk)*nr+j+4 : (c0+kk)*nr+j+4]
				p[0], p[1], p[2], p[3] = r0[kk], r1[kk], r2[kk], r3[kk]
			}
		case tensor.BF16:
			r0, r1, r2, r3 := w.U16[off:off+kw], w.U16[off+c:off+c+kw], w.U16[off+2*c:off+2*c+kw], w.U16[off+3*c:off+3*c+kw]
			for kk := range r0 {
				p := panel[(c0+kk)*nr+j : (c0+kk)*nr+j+4 : (c0+kk)*nr+j+4]
				p[0] = math.Float32frombits(uint32(r0[kk]) << 16)
				p[1] = math.Float32frombits(uint32(r1[kk]) << 16)
				p[2] = math.Float32frombits(uint32(r2[kk]) << 16)
				p[3] = math.Float32frombits(uint32(r3[kk]) << 16)
			}
		case tensor.F16:
			r0, r1, r2, r3 := w.U16[off:off+kw], w.U16[off+c:off+c+kw], w.U16[off+2*c:off+2*c+kw], w.U16[off+3*c:off+3*c+kw]
			for kk := range r0 {
				p := panel[(c0+kk)*nr+j : (c0+kk)*nr+j+4 : (c0+kk)*nr+j+4]
				p[0], p[1], p[2], p[3] = f16Table[r0[kk]], f16Table[r1[kk]], f16Table[r2[kk]], f16Table[r3[kk]]
			}
		default:
			panic(fmt.Sprintf("kernels: packing a %s weight", w.Format()))
		}
	}
	var tmp [kc]float32
	for ; j < j1; j++ {
		w.Widen(w.offset(n0+j, k0+c0), tmp[:kw])
		for kk, v := range tmp[:kw] {
			panel[(c0+kk)*nr+j] = v
		}
	}
}

// geluTanh applies GELU with the tanh approximation in place.
func geluTanh(v []float32) {
	if n := len(v) &^ 15; vecOn() && n > 0 {
		gelu16(&v[0], n)
		v = v[n:]
	}
	const c = 0.7978845608028654 // √(2/π)
	for i, u := range v {
		// 0.5u(1 + tanh(z)) = u / (1 + exp(-2z))
		z := float32(c) * (u + 0.044715*u*u*u)
		v[i] = u / (1 + expf(-2*z))
	}
}

// geluRows applies geluTanh to rows of cols values, stride apart.
func geluRows(v []float32, rows, cols, stride int) {
	if rows == 0 || cols == 0 {
		return
	}
	c4 := 0
	if AccelOn() && accel.GELU != nil {
		c4 = cols &^ 3
		if c4 > 0 {
			_ = v[(rows-1)*stride+c4-1]
			accel.GELU(v, rows, c4, stride)
		}
	}
	for i := 0; i < rows; i++ {
		geluTanh(v[i*stride+c4 : i*stride+cols])
	}
}

// softmaxRows applies softmaxScaled to rows of n values, stride apart.
func softmaxRows(v []float32, rows, n, stride int, scale float32) {
	if rows == 0 || n == 0 {
		return
	}
	if AccelOn() && accel.Softmax != nil && n%4 == 0 {
		_ = v[(rows-1)*stride+n-1]
		accel.Softmax(v, rows, n, stride, scale)
		return
	}
	for i := 0; i < rows; i++ {
		softmaxScaled(v[i*stride:i*stride+n], scale)
	}
}

// SiLU writes x·σ(x) for each element of x into dst (float32, the
// Cephes-accurate exp the GELU uses).
func SiLU(dst, x []float32) {
	dst = dst[:len(x)]
	copy(dst, x)
	if n := len(dst) &^ 15; vecOn() && n > 0 {
		silu16(&dst[0], n)
		dst = dst[n:]
	}
	for i, v := range dst {
		dst[i] = v / (1 + expf(-v))
	}
}

// softmaxScaled replaces s with softmax(scale·s), numerically stable.
func softmaxScaled(s []float32, scale float32) {
	if len(s) == 0 {
		return
	}
	n := 0
	if vecOn() {
		n = len(s) &^ 15
	}
	var lanes [16]float32
	mx := float32(math.Inf(-1))
	if n > 0 {
		scaleMax16(&s[0], n, scale, &lanes)
		for _, v := range lanes {
			mx = max(mx, v)
		}
	}
	for i := n; i < len(s); i++ {
		s[i] *= scale
		mx = max(mx, s[i])
	}
	var sum float32
	if n > 0 {
		expSum16(&s[0], n, mx, &lanes)
		for _, v := range lanes {
			sum += v
		}
	}
	for i := n; i < len(s); i++ {
		e := expf(s[i] - mx)
		s[i] = e
		sum += e
	}
	inv := 1 / sum
	if n > 0 {
		scale16(&s[0], n, inv)
	}
	for i := n; i < len(s); i++ {
		s[i] *= inv
	}
}

// layerNormRow writes or = LN(xr)·(1+sc)+sh (sh nil: LN(xr)) for one row.
func layerNormRow(or, xr []float32, eps float32, sh, sc []float32) {
	h := len(xr)
	n := 0
	if vecOn() {
		n = h &^ 15
	}
	var lanes [16]float32
	var sum float64
	if n > 0 {
		sum16(&xr[0], n, &lanes)
		for _, v := range lanes {
			sum += float64(v)
		}
	}
	for _, v := range xr[n:] {
		sum += float64(v)
	}
	mean := sum / float64(h)
	var sq float64
	if n > 0 {
		sqDiff16(&xr[0], n, float32(mean), &lanes)
		for _, v := range lanes {
			sq += float64(v)
		}
	}
	for _, v := range xr[n:] {
		d := float64(v) - mean
		sq += d * d
	}
	rstd := float32(1 / math.Sqrt(sq/float64(h)+float64(eps)))
	m := float32(mean)
	if n > 0 {
		if sh == nil {
			normMod16(&or[0], &xr[0], n, m, rstd, nil, nil)
		} else {
			_, _ = sh[n-1], sc[n-1]
			normMod16(&or[0], &xr[0], n, m, rstd, &sh[0], &sc[0])
		}
	}
	if sh == nil {
		for i := n; i < h; i++ {
			or[i] = (xr[i] - m) * rstd
		}
		return
	}
	for i := n; i < h; i++ {
		or[i] = (xr[i]-m)*rstd*(1+sc[i]) + sh[i]
	}
}

// gemvAccel is gemv on SetAccel's kernels (BF16/F32 weights, roundW
// false, m ≤ 8): output rows [lo, hi), k in whole 8s (the tail in Go).
func gemvAccel(y, x []float32, m int, w *Weight, b []float32, lo, hi int) bool {
	k := w.Cols
	k8 := k &^ 7
	if k8 == 0 || !AccelOn() || (w.DType == tensor.BF16 && accel.GemvBF16 == nil) || (w.DType == tensor.F32 && accel.GemvF32 == nil) ||
		(w.DType != tensor.BF16 && w.DType != tensor.F32) {
		return false
	}
	_ = x[(m-1)*k+k8-1]
	var out [8 * 8]float32
	var tail [8]float32
	for n0 := lo; n0 < hi; n0 += 8 {
		rows := min(8, hi-n0)
		off := w.offset(n0, 0)
		if w.DType == tensor.BF16 {
			accel.GemvBF16(w.U16[off:off+(rows-1)*k+k8], k, rows, k8, x, k, m, out[:])
		} else {
			accel.GemvF32(w.F32[off:off+(rows-1)*k+k8], k, rows, k8, x, k, m, out[:])
		}
		for r := 0; r < rows; r++ {
			n := n0 + r
			t := tail[:k-k8]
			w.Widen(w.offset(n, k8), t)
			for i := 0; i < m; i++ {
				v := out[r*8+i]
				for kk, wv := range t {
					v += x[i*k+k8+kk] * wv
				}
				if b != nil {
					v += b[n]
				}
				y[i*w.Rows+n] = v
			}
		}
	}
	return true
}

// gemvVec is gemv's AVX-512 path for F32/BF16/F16 weights, roundW false
// and m ≤ 8: output rows [lo, hi), whole 16-vectors of k (the tail of
// each dot product in Go).
func gemvVec(y, x []float32, m int, w *Weight, b []float32, lo, hi int) {
	k := w.Cols
	k16 := k &^ 15
	var xs [8]*float32
	for i := range xs {
		xs[i] = &x[min(i, m-1)*k]
	}
	_ = x[(m-1)*k+k16-1]
	var out [8 * 8]float32
	for n0 := lo; n0 < hi; n0 += 8 {
		rows := min(8, hi-n0)
		off := w.offset(n0, 0)
		last := off + (rows-1)*k + k16 - 1
		switch w.DType {
		case tensor.F32:
			_ = w.F32[last]
			gemvF32(unsafe.Pointer(&w.F32[off]), k, rows, k16, &xs, &out[0])
		case tensor.BF16:
			_ = w.U16[last]
			gemvBF16(unsafe.Pointer(&w.U16[off]), k, rows, k16, &xs, &out[0])
		default:
			_ = w.U16[last]
			gemvF16(unsafe.Pointer(&w.U16[off]), k, rows, k16, &xs, &out[0])
		}
		var tail [kc]float32
		for r := 0; r < rows; r++ {
			n := n0 + r
			if k16 < k {
				t := tail[:k-k16]
				w.Widen(w.offset(n, k16), t)
				for i := 0; i < m; i++ {
					xr := x[i*k+k16 : (i+1)*k]
					for kk, v := range t {
						out[r*8+i] += xr[kk] * v
					}
				}
			}
			for i := 0; i < m; i++ {
				v := out[r*8+i]
				if b != nil {
					v += b[n]
				}
				y[i*w.Rows+n] = v
			}
		}
	}
}

// widenable reports the weight dtypes the vector packers and gemv read.
func widenable(dt tensor.DType) bool {
	return dt == tensor.F32 || dt == tensor.BF16 || dt == tensor.F16
}

// packedTiles accumulates the 8-row tiles t < tiles of y's columns [n0,
// n0+nw) from a packed activation block (ap: 32-row blocks, see
// packActivations) and a panel: one kern8x32pm call for full panels. With
// init non-nil (nr values: the bias or zeros) the tiles are set to init +
// the product instead.
func packedTiles(y []float32, ldy int, ap []float32, tiles, kw int, panel []float32, n0, nw int, init []float32) {
	if tiles == 0 {
		return
	}
	_ = ap[((tiles-1)/4)*32*kw+(kw-1)*32+((tiles-1)%4)*8+7]
	_ = panel[kw*nr-1]
	var ip *float32
	if init != nil {
		_ = init[nr-1]
		ip = &init[0]
	}
	if nw == nr {
		_ = y[(8*tiles-1)*ldy+n0+nr-1]
		kern8x32pm(&ap[0], &panel[0], kw, &y[n0], ldy, tiles, ip)
		return
	}
	var tile [8 * nr]float32
	for t := 0; t < tiles; t++ {
		kern8x32pm(&ap[(t/4)*32*kw+(t%4)*8], &panel[0], kw, &tile[0], nr, 1, &zeros[0])
		for r := 0; r < 8; r++ {
			row := y[(8*t+r)*ldy+n0:][:nw]
			if init != nil {
				for j, v := range tile[r*nr:][:nw] {
					row[j] = init[j] + v
				}
				continue
			}
			for j, v := range tile[r*nr:][:nw] {
				row[j] += v
			}
		}
	}
}

var zeros [nr]float32

// packActivations packs x [m, k] for packedTiles: per reduction block
// k0 (of kc), rows [0, m8) (m8 a multiple of 8) in 32-row blocks laid out
// like panels, at ap[k0·m32 + g·32·kw] with m32 = m8 rounded up to 32.
func (c *CPU) packActivations(ap, x []float32, m, k, m8 int) []float32 {
	m32 := (m8 + 31) &^ 31
	ap = grow(ap, m32*k)
	xm := &Weight{DType: tensor.F32, Rows: m, Cols: k, F32: x}
	kb := (k + kc - 1) / kc
	groups := m32 / 32
	c.parallel(kb*groups, max(1, 1<<14/(32*min(k, kc))), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			k0, g := (t/groups)*kc, t%groups
			kw := min(kc, k-k0)
			packPanel(ap[k0*m32+g*32*kw:], xm, 32*g, min(32, m8-32*g), k0, kw)
		}
	})
	return ap
}
