package quant

import (
	"fmt"
	"math"

	"github.com/ditkit/ditkit/core/tensor"
)

// Quantize converts float32 values (src) into whole blocks of type t
// (dst), bit for bit as one call of ggml's quantize_row_<t>_ref(src, dst,
// len(src)) does (what ggml_quantize_chunk does without an importance
// matrix). F32, F16 and BF16 rows are converted as ggml_fp32_to_fp16_row
// and ggml_fp32_to_bf16_row_ref do. len(src) must be a multiple of t's
// block size and len(dst) the matching number of bytes.
func Quantize(t Type, src []float32, dst []byte) error {
	f := quantizers[t]
	if f == nil {
		return fmt.Errorf("quantize: %v is not supported", t)
	}
	bs, bb := t.BlockSize(), t.BlockBytes()
	if len(src)%bs != 0 || len(dst) != len(src)/bs*bb {
		return fmt.Errorf("quantize %v: %d elements into %d bytes (blocks of %d elements in %d bytes)", t, len(src), len(dst), bs, bb)
	}
	f(src, dst)
	return nil
}

var quantizers = map[Type]func(src []float32, dst []byte){
	F32:  quantF32,
	F16:  quantF16,
	BF16: quantBF16,
	Q4_0: quantQ4_0,
	Q4_1: quantQ4_1,
	Q5_0: quantQ5_0,
	Q5_1: quantQ5_1,
	Q8_0: quantQ8_0,
	Q2_K: quantQ2_K,
	Q3_K: quantQ3_K,
	Q4_K: quantQ4_K,
	Q5_K: quantQ5_K,
	Q6_K: quantQ6_K,
}

func quantF32(src []float32, dst []byte) {
	for i, v := range src {
		le.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

// quantF16 is ggml's fp32 → fp16 (round to nearest even, overflow to inf,
// NaN to 0x7e00 with the sign), the same rounding as c10's.
func quantF16(src []float32, dst []byte) {
	for i, v := range src {
		le.PutUint16(dst[2*i:], tensor.F32ToF16(v))
	}
}

func quantBF16(src []float32, dst []byte) {
	for i, v := range src {
		le.PutUint16(dst[2*i:], F32ToBF16GGML(v))
	}
}

// F32ToBF16GGML is ggml's fp32 → bf16 (GGML_FP32_TO_BF16): round to
// nearest even; a NaN keeps its sign and top payload bits and is forced
// quiet. (c10 instead turns every NaN into 0x7fc0.)
func F32ToBF16GGML(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + (u>>16)&1)) >> 16)
}

// cvtt is C's float → int conversion as gcc compiles it for x86-64
// (cvttss2si): truncation toward zero, and 0x80000000 for NaN and values
// out of the int32 range (the C standard leaves those undefined; the
// reference fixtures were made on x86-64). Narrower C integer types take
// the low bits of this result.
func cvtt(f float32) int32 {
	if !(f > -2147483904 && f < 2147483648) { // also catches NaN
		return math.MinInt32
	}
	return int32(f)
}

// roundCvtt is (int)roundf(x) as gcc compiles it for x86-64: round half
// away from zero, then cvtt (0x80000000 out of range and for NaN). In
// float64, x ± 0.5 is exact for every float32 in the int32 range, and
// the conversion truncates toward zero: no branch on the fraction.
func roundCvtt(x float32) int32 {
	if !(x > -2147483904 && x < 2147483648) { // also catches NaN
		return math.MinInt32
	}
	f := float64(x)
	return int32(f + math.Copysign(0.5, f))
}

// nearestInt is ggml's nearest_int: round to nearest even through the
// float adder (valid for |f| ≤ 4194303; other inputs give ggml's bits too).
// Callers pass products through float32() so no add is fused into them.
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

func clamp(l, lo, hi int32) int32 { return max(lo, min(hi, l)) }

func absf(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ 0x80000000) }

// absMaxSigned returns the element of largest magnitude (the first one
// among equals), as the Q4_0/Q5_0 quantizers pick it (and Q3_K/Q6_K their
// largest scale).
func absMaxSigned(x []float32) float32 {
	var amax, m float32
	for _, v := range x {
		if a := absf(v); amax < a {
			amax, m = a, v
		}
	}
	return m
}

// inverse is the reference quantizers' `d ? 1.0f/d : 0.0f` (a NaN d is
// not zero, so it gives NaN).
func inverse(d float32) float32 {
	if d != 0 {
		return 1 / d
	}
	return 0
}

func putHalf(b []byte, f float32) { le.PutUint16(b, tensor.F32ToF16(f)) }

func quantQ8_0(src []float32, dst []byte) {
	for len(src) > 0 {
		x, b := src[:32], dst[:34]
		var amax float32
		for _, v := range x {
			if a := absf(v); !(amax > a) { // MAX(amax, fabsf(v)): a NaN propagates
				amax = a
			}
		}
		d := amax / 127
		id := inverse(d)
		putHalf(b, d)
		for j, v := range x {
			x0 := v * id
			b[2+j] = byte(roundCvtt(x0))
		}
		src, dst = src[32:], dst[34:]
	}
}

func quantQ4_0(src []float32, dst []byte) {
	for len(src) > 0 {
		x, b := src[:32], dst[:18]
		d := absMaxSigned(x) / -8
		id := inverse(d)
		putHalf(b, d)
		for j := range 16 {
			x0, x1 := float32(x[j]*id), float32(x[j+16]*id)
			xi0 := uint8(min(15, int32(int8(cvtt(x0+8.5)))))
			xi1 := uint8(min(15, int32(int8(cvtt(x1+8.5)))))
			b[2+j] = xi0 | xi1<<4
		}
		src, dst = src[32:], dst[18:]
	}
}

func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return
}

func quantQ4_1(src []float32, dst []byte) {
	for len(src) > 0 {
		x, b := src[:32], dst[:20]
		lo, hi := minMax(x)
		d := (hi - lo) / 15
		id := inverse(d)
		putHalf(b, d)
		putHalf(b[2:], lo)
		for j := range 16 {
			x0, x1 := float32((x[j]-lo)*id), float32((x[j+16]-lo)*id)
			xi0 := uint8(min(15, int32(int8(cvtt(x0+0.5)))))
			xi1 := uint8(min(15, int32(int8(cvtt(x1+0.5)))))
			b[4+j] = xi0 | xi1<<4
		}
		src, dst = src[32:], dst[20:]
	}
}

func quantQ5_0(src []float32, dst []byte) {
	for len(src) > 0 {
		x, b := src[:32], dst[:22]
		d := absMaxSigned(x) / -16
		id := inverse(d)
		putHalf(b, d)
		var qh uint32
		for j := range 16 {
			x0, x1 := float32(x[j]*id), float32(x[j+16]*id)
			xi0 := uint8(min(31, int32(int8(cvtt(x0+16.5)))))
			xi1 := uint8(min(31, int32(int8(cvtt(x1+16.5)))))
			b[6+j] = xi0&0xf | (xi1&0xf)<<4
			qh |= uint32(xi0&0x10) >> 4 << uint(j)
			qh |= uint32(xi1&0x10) >> 4 << uint(j+16)
		}
		le.PutUint32(b[2:], qh)
		src, dst = src[32:], dst[22:]
	}
}

func quantQ5_1(src []float32, dst []byte) {
	for len(src) > 0 {
		x, b := src[:32], dst[:24]
		lo, hi := minMax(x)
		d := (hi - lo) / 31
		id := inverse(d)
		putHalf(b, d)
		putHalf(b[2:], lo)
		var qh uint32
		for j := range 16 {
			x0, x1 := float32((x[j]-lo)*id), float32((x[j+16]-lo)*id)
			xi0 := uint8(cvtt(x0 + 0.5))
			xi1 := uint8(cvtt(x1 + 0.5))
			b[8+j] = xi0&0xf | (xi1&0xf)<<4
			qh |= uint32(xi0&0x10) >> 4 << uint(j)
			qh |= uint32(xi1&0x10) >> 4 << uint(j+16)
		}
		le.PutUint32(b[4:], qh)
		src, dst = src[32:], dst[24:]
	}
}

// groupMaxEps is ggml's GROUP_MAX_EPS: groups below it quantize to zero.
const groupMaxEps = 1e-15

// makeQX is ggml's make_qx_quants for qw == NULL and rmse_type 1 (the
// only use the reference quantizers make: Q6_K): L gets q + nmax.
func makeQX(nmax int32, x []float32, L []int8) float32 {
	var amax, max float32
	for _, v := range x {
		if a := absf(v); a > amax {
			amax, max = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	fn := float32(nmax)
	iscale := -fn / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := float32(v * v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for is := int32(-9); is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fn + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for _, v := range x {
			l := clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1)
			w := float32(v * v)
			fl := float32(l)
			sumlx += float32(float32(w*v) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// makeQ3 is ggml's make_q3_quants with do_rmse = true: L gets q + nmax.
func makeQ3(nmax int32, x []float32, L []int8) float32 {
	var amax, max float32
	for _, v := range x {
		if a := absf(v); a > amax {
			amax, max = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	iscale := -float32(nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l)
		w := float32(v * v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := float32(v * v)
			li := float32(L[i])
			slx := sumlx - float32(float32(w*v)*li)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*li)*li)
				nl := clamp(nearestInt(float32(float32(v*sl2)/slx)), -nmax, nmax-1)
				if nl != int32(L[i]) {
					fl := float32(nl)
					slx += float32(float32(w*v) * fl)
					sl2 += float32(float32(w*fl) * fl)
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = int8(nl)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQKX2 is ggml's make_qkx2_quants: an affine fit x ≈ scale·L − min
// over a small search of scales; it returns scale and the (positive) min.
func makeQKX2(nmax int32, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int32, useMAD bool) (float32, float32) {
	n := len(x)
	weights, L, Laux = weights[:n], L[:n], Laux[:n] // one bounds check here, none in the loops
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		clear(L)
		return 0, -lo
	}
	fn := float32(nmax)
	iscale := fn / (hi - lo)
	scale := 1 / iscale
	var best float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale*(v-lo))), 0, nmax)
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + lo - v
		if useMAD {
			diff = absf(diff)
		} else {
			diff = float32(diff * diff)
		}
		best += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -lo
	}
	for is := int32(0); is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fn) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clamp(nearestInt(float32(iscale*(v-lo))), 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			wl := float32(w * fl)
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var cur float32
			for i, v := range x {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - v
				if useMAD {
					diff = absf(diff)
				} else {
					diff = float32(diff * diff)
				}
				cur += float32(weights[i] * diff)
			}
			if cur < best {
				copy(L, Laux)
				best, scale, lo = cur, thisScale, thisMin
			}
		}
	}
	return scale, -lo
}

func quantQ2_K(src []float32, dst []byte) {
	var L [QK_K]uint8
	var Laux [16]uint8
	var weights, mins, scales [16]float32
	const q4scale = 15
	for len(src) > 0 {
		x, b := src[:QK_K], dst[:84]
		ys, qs := b[:16], b[16:80]
		var maxScale, maxMin float32
		for j := range 16 {
			g := x[16*j : 16*j+16]
			for l, v := range g {
				weights[l] = absf(v)
			}
			scales[j], mins[j] = makeQKX2(3, g, weights[:], L[16*j:16*j+16], Laux[:], -0.5, 0.1, 15, true)
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := range 16 {
				ys[j] = uint8(nearestInt(float32(iscale * scales[j])))
			}
			putHalf(b[80:], maxScale/q4scale)
		} else {
			clear(ys)
			putHalf(b[80:], 0)
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := range 16 {
				ys[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
			}
			putHalf(b[82:], maxMin/q4scale)
		} else {
			putHalf(b[82:], 0)
		}
		dd, dm := half(b[80:]), half(b[82:])
		for j := range 16 {
			d := dd * float32(ys[j]&0xf)
			if d == 0 {
				continue
			}
			m := dm * float32(ys[j]>>4)
			for ii := range 16 {
				L[16*j+ii] = uint8(clamp(nearestInt((x[16*j+ii]+m)/d), 0, 3))
			}
		}
		for j := 0; j < QK_K; j += 128 {
			for l := range 32 {
				qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
			}
		}
		src, dst = src[QK_K:], dst[84:]
	}
}

func quantQ3_K(src []float32, dst []byte) {
	var L [QK_K]int8
	var scales [16]float32
	for len(src) > 0 {
		x, b := src[:QK_K], dst[:110]
		hmask, qs, ys := b[:32], b[32:96], b[96:108]
		for j := range 16 {
			scales[j] = makeQ3(4, x[16*j:16*j+16], L[16*j:16*j+16])
		}
		maxScale := absMaxSigned(scales[:])
		clear(ys)
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := range 16 {
				l := int8(nearestInt(float32(iscale * scales[j])))
				l = int8(clamp(int32(l), -32, 31)) + 32
				if j < 8 {
					ys[j] = uint8(l) & 0xf
				} else {
					ys[j-8] |= (uint8(l) & 0xf) << 4
				}
				l >>= 4
				ys[j%4+8] |= uint8(l) << uint(2*(j/4))
			}
			putHalf(b[108:], 1/iscale)
		} else {
			putHalf(b[108:], 0)
		}
		dAll := half(b[108:])
		for j := range 16 {
			var sc int8
			if j < 8 {
				sc = int8(ys[j] & 0xf)
			} else {
				sc = int8(ys[j-8] >> 4)
			}
			sc = int8(uint8(sc)|((ys[8+j%4]>>uint(2*(j/4)))&3)<<4) - 32
			d := dAll * float32(sc)
			if d == 0 {
				continue
			}
			for ii := range 16 {
				L[16*j+ii] = int8(clamp(nearestInt(x[16*j+ii]/d), -4, 3) + 4)
			}
		}
		clear(hmask)
		m, hm := 0, uint8(1)
		for j := range QK_K {
			if L[j] > 3 {
				hmask[m] |= hm
				L[j] -= 4
			}
			if m++; m == QK_K/8 {
				m, hm = 0, hm<<1
			}
		}
		for j := 0; j < QK_K; j += 128 {
			for l := range 32 {
				qs[j/4+l] = uint8(L[j+l]) | uint8(L[j+l+32])<<2 | uint8(L[j+l+64])<<4 | uint8(L[j+l+96])<<6
			}
		}
		src, dst = src[QK_K:], dst[110:]
	}
}

// quantK45 is the shared scale/min search of Q4_K and Q5_K: 8 groups of
// 32, weights av_x + |x|, 6-bit scales and mins packed into sc[12].
// It fills L with the final quants (0 … nmax) and writes d, dmin and sc.
func quantK45(x []float32, b []byte, L *[QK_K]uint8, nmax int32, rmin float32, nstep int32) {
	var Laux [32]uint8
	var mins, scales [8]float32
	var w32 [32]float32
	var maxScale, maxMin float32
	for j := range 8 {
		g := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range g {
			sumX2 += float32(v * v)
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range g {
			w32[l] = avX + absf(v)
		}
		scales[j], mins[j] = makeQKX2(nmax, g, w32[:], L[32*j:32*j+32], Laux[:], rmin, 0.1, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := b[4:16]
	for j := range 8 {
		ls := min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm := min(63, uint8(nearestInt(float32(invMin*mins[j]))))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putHalf(b, maxScale/63)
	putHalf(b[2:], maxMin/63)
	dd, dm := half(b), half(b[2:])
	for j := range 8 {
		s, m := scaleMinK4(j, sc)
		d := dd * float32(s)
		if d == 0 {
			continue
		}
		mm := dm * float32(m)
		for ii := range 32 {
			L[32*j+ii] = uint8(clamp(nearestInt((x[32*j+ii]+mm)/d), 0, nmax))
		}
	}
}

func quantQ4_K(src []float32, dst []byte) {
	var L [QK_K]uint8
	for len(src) > 0 {
		x, b := src[:QK_K], dst[:144]
		quantK45(x, b, &L, 15, -1, 20)
		q := b[16:144]
		for j := 0; j < QK_K; j += 64 {
			for l := range 32 {
				q[l] = L[j+l] | L[j+l+32]<<4
			}
			q = q[32:]
		}
		src, dst = src[QK_K:], dst[144:]
	}
}

func quantQ5_K(src []float32, dst []byte) {
	var L [QK_K]uint8
	for len(src) > 0 {
		x, b := src[:QK_K], dst[:176]
		quantK45(x, b, &L, 31, -0.5, 15)
		qh, ql := b[16:48], b[48:176]
		clear(qh)
		m1, m2 := uint8(1), uint8(2)
		for n := 0; n < QK_K; n += 64 {
			for j := range 32 {
				l1, l2 := L[n+j], L[n+j+32]
				if l1 > 15 {
					l1 -= 16
					qh[j] |= m1
				}
				if l2 > 15 {
					l2 -= 16
					qh[j] |= m2
				}
				ql[j] = l1 | l2<<4
			}
			m1 <<= 2
			m2 <<= 2
			ql = ql[32:]
		}
		src, dst = src[QK_K:], dst[176:]
	}
}

func quantQ6_K(src []float32, dst []byte) {
	var L [QK_K]int8
	var scales [16]float32
	for len(src) > 0 {
		x, b := src[:QK_K], dst[:210]
		ql, qh, ys := b[:128], b[128:192], b[192:208]
		for ib := range 16 {
			scales[ib] = makeQX(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		}
		maxScale := absMaxSigned(scales[:])
		if absf(maxScale) < groupMaxEps {
			clear(b)
			src, dst = src[QK_K:], dst[210:]
			continue
		}
		iscale := -128 / maxScale
		putHalf(b[208:], 1/iscale)
		for ib := range 16 {
			ys[ib] = uint8(min(127, nearestInt(float32(iscale*scales[ib]))))
		}
		dd := half(b[208:])
		for j := range 16 {
			d := dd * float32(int8(ys[j]))
			if d == 0 {
				continue
			}
			for ii := range 16 {
				L[16*j+ii] = int8(clamp(nearestInt(x[16*j+ii]/d), -32, 31) + 32)
			}
		}
		for j := 0; j < QK_K; j += 128 {
			for l := range 32 {
				a, b2, c, e := uint8(L[j+l]), uint8(L[j+l+32]), uint8(L[j+l+64]), uint8(L[j+l+96])
				ql[l] = a&0xf | (c&0xf)<<4
				ql[l+32] = b2&0xf | (e&0xf)<<4
				qh[l] = a>>4 | (b2>>4)<<2 | (c>>4)<<4 | (e>>4)<<6
			}
			ql, qh = ql[64:], qh[32:]
		}
		src, dst = src[QK_K:], dst[210:]
	}
}
