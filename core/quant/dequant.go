package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Dequantize converts whole blocks of type t (src) into float32 values
// (dst), bit for bit as ggml's dequantize_row_* does: len(dst) must be a
// multiple of t's block size and len(src) the matching number of bytes.
func Dequantize(t Type, src []byte, dst []float32) error {
	f := dequantizers[t]
	if f == nil {
		return fmt.Errorf("dequantize: %v is not supported", t)
	}
	bs, bb := t.BlockSize(), t.BlockBytes()
	if len(dst)%bs != 0 || len(src) != len(dst)/bs*bb {
		return fmt.Errorf("dequantize %v: %d bytes for %d elements (blocks of %d elements in %d bytes)", t, len(src), len(dst), bs, bb)
	}
	f(src, dst)
	return nil
}

var dequantizers = map[Type]func(src []byte, dst []float32){
	F32:  dequantF32,
	F16:  dequantF16,
	BF16: dequantBF16,
	Q4_0: dequantQ4_0,
	Q4_1: dequantQ4_1,
	Q5_0: dequantQ5_0,
	Q5_1: dequantQ5_1,
	Q8_0: dequantQ8_0,
	Q2_K: dequantQ2_K,
	Q3_K: dequantQ3_K,
	Q4_K: dequantQ4_K,
	Q5_K: dequantQ5_K,
	Q6_K: dequantQ6_K,
}

var le = binary.LittleEndian

// half reads an IEEE f16 at b[0:2] and widens it exactly (GGML_FP16_TO_FP32).
func half(b []byte) float32 { return f16ToF32(le.Uint16(b)) }

func dequantF32(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
	}
}

func dequantF16(src []byte, dst []float32) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = f16ToF32(le.Uint16(src[2*i:]))
	}
}

// f16ToF32 widens an f16 exactly, like tensor.F16ToF32, without a loop
// for subnormals: the f16 bits moved into an f32's place and scaled by
// 2^112 (a power of two, so exact) rebias normals and subnormals alike.
func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	if h&0x7c00 == 0x7c00 { // inf, NaN
		return math.Float32frombits(sign | 0x7f800000 | uint32(h&0x3ff)<<13)
	}
	v := math.Float32frombits(uint32(h&0x7fff)<<13) * 0x1p112
	return math.Float32frombits(sign | math.Float32bits(v))
}

func dequantBF16(src []byte, dst []float32) {
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(le.Uint16(src[2*i:])) << 16)
	}
}

// Q4_0: {f16 d; u8 qs[16]}: x = (q − 8)·d, low nibbles first.
func dequantQ4_0(src []byte, dst []float32) {
	for len(dst) > 0 {
		b, y := src[:18], dst[:32]
		d := half(b)
		qs := b[2:18]
		for j, q := range qs {
			y[j] = float32(int(q&0xf)-8) * d
			y[j+16] = float32(int(q>>4)-8) * d
		}
		src, dst = src[18:], dst[32:]
	}
}

// Q4_1: {f16 d, m; u8 qs[16]}: x = q·d + m.
func dequantQ4_1(src []byte, dst []float32) {
	for len(dst) > 0 {
		b, y := src[:20], dst[:32]
		d, m := half(b), half(b[2:])
		qs := b[4:20]
		for j, q := range qs {
			y[j] = float32(float32(q&0xf)*d) + m
			y[j+16] = float32(float32(q>>4)*d) + m
		}
		src, dst = src[20:], dst[32:]
	}
}

// Q5_0: {f16 d; u32 qh; u8 qs[16]}: x = (q − 16)·d, q's 5th bit in qh.
func dequantQ5_0(src []byte, dst []float32) {
	for len(dst) > 0 {
		b, y := src[:22], dst[:32]
		d := half(b)
		qh := le.Uint32(b[2:])
		qs := b[6:22]
		for j, q := range qs {
			h0 := (qh >> uint(j) << 4) & 0x10
			h1 := (qh >> uint(j+12)) & 0x10
			y[j] = float32(int32(uint32(q&0xf)|h0)-16) * d
			y[j+16] = float32(int32(uint32(q>>4)|h1)-16) * d
		}
		src, dst = src[22:], dst[32:]
	}
}

// Q5_1: {f16 d, m; u32 qh; u8 qs[16]}: x = q·d + m.
func dequantQ5_1(src []byte, dst []float32) {
	for len(dst) > 0 {
		b, y := src[:24], dst[:32]
		d, m := half(b), half(b[2:])
		qh := le.Uint32(b[4:])
		qs := b[8:24]
		for j, q := range qs {
			h0 := (qh >> uint(j) << 4) & 0x10
			h1 := (qh >> uint(j+12)) & 0x10
			y[j] = float32(float32(uint32(q&0xf)|h0)*d) + m
			y[j+16] = float32(float32(uint32(q>>4)|h1)*d) + m
		}
		src, dst = src[24:], dst[32:]
	}
}

// Q8_0: {f16 d; i8 qs[32]}: x = q·d.
func dequantQ8_0(src []byte, dst []float32) {
	for len(dst) > 0 {
		b, y := src[:34], dst[:32]
		d := half(b)
		for j, q := range b[2:34] {
			y[j] = float32(int8(q)) * d
		}
		src, dst = src[34:], dst[32:]
	}
}

// Q2_K: {u8 scales[16]; u8 qs[64]; f16 d, dmin}: 16 groups of 16,
// x = d·(sc&15)·q − dmin·(sc>>4), q two bits.
func dequantQ2_K(src []byte, dst []float32) {
	for len(dst) > 0 {
		b, y := src[:84], dst[:QK_K]
		scales, q := b[:16], b[16:80]
		d, min := half(b[80:]), half(b[82:])
		is := 0
		for n := 0; n < QK_K; n += 128 {
			shift := uint(0)
			for j := 0; j < 4; j++ {
				for h := 0; h < 2; h++ {
					sc := scales[is]
					is++
					dl := d * float32(sc&0xf)
					ml := min * float32(sc>>4)
					qq := q[16*h : 16*h+16]
					for l := range 16 {
						y[l] = float32(dl*float32((qq[l]>>shift)&3)) - ml
					}
					y = y[16:]
				}
				shift += 2
			}
			q = q[32:]
		}
		src, dst = src[84:], dst[QK_K:]
	}
}

// Q3_K: {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: 16 groups of 16
// with 6-bit scales, x = d·(sc − 32)·(q − 4·!hbit).
func dequantQ3_K(src []byte, dst []float32) {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	var sc [16]int8
	for len(dst) > 0 {
		b, y := src[:110], dst[:QK_K]
		hm, q := b[:32], b[32:96]
		dAll := half(b[108:])
		a0, a1, tmp := le.Uint32(b[96:]), le.Uint32(b[100:]), le.Uint32(b[104:])
		aux := [4]uint32{
			(a0 & kmask2) | (((tmp >> 0) & kmask1) << 4),
			(a1 & kmask2) | (((tmp >> 2) & kmask1) << 4),
			((a0 >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4),
			((a1 >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4),
		}
		for i := range 16 {
			sc[i] = int8(aux[i/4] >> (8 * uint(i%4)))
		}
		is := 0
		mbit := uint(0) // hmask bit of this group: 0 … 7
		for n := 0; n < QK_K; n += 128 {
			shift := uint(0)
			for j := 0; j < 4; j++ {
				for h := 0; h < 2; h++ {
					dl := dAll * float32(int(sc[is])-32)
					is++
					for l := 16 * h; l < 16*h+16; l++ {
						// q − 4 when the high bit is clear (branch-free)
						v := int((q[l]>>shift)&3) - 4 + 4*int((hm[l]>>mbit)&1)
						y[l-16*h] = dl * float32(v)
					}
					y = y[16:]
				}
				shift += 2
				mbit++
			}
			q = q[32:]
		}
		src, dst = src[110:], dst[QK_K:]
	}
}

// scaleMinK4 unpacks the j-th 6-bit scale and min of a Q4_K/Q5_K block
// (ggml's get_scale_min_k4).
func scaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return (q[j+4] & 0xf) | ((q[j-4] >> 6) << 4), (q[j+4] >> 4) | ((q[j] >> 6) << 4)
}

// Q4_K: {f16 d, dmin; u8 scales[12]; u8 qs[128]}: 8 groups of 32,
// x = d·sc·q − dmin·m.
func dequantQ4_K(src []byte, dst []float32) {
	for len(dst) > 0 {
		b, y := src[:144], dst[:QK_K]
		d, min := half(b), half(b[2:])
		scales, q := b[4:16], b[16:144]
		for is := 0; is < 8; is += 2 {
			sc, m := scaleMinK4(is, scales)
			d1, m1 := d*float32(sc), min*float32(m)
			sc, m = scaleMinK4(is+1, scales)
			d2, m2 := d*float32(sc), min*float32(m)
			qq := q[:32]
			for l, v := range qq {
				y[l] = float32(d1*float32(v&0xf)) - m1
				y[l+32] = float32(d2*float32(v>>4)) - m2
			}
			q, y = q[32:], y[64:]
		}
		src, dst = src[144:], dst[QK_K:]
	}
}

// Q5_K: {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}.
func dequantQ5_K(src []byte, dst []float32) {
	for len(dst) > 0 {
		b, y := src[:176], dst[:QK_K]
		d, min := half(b), half(b[2:])
		scales, qh, ql := b[4:16], b[16:48], b[48:176]
		for is := 0; is < 8; is += 2 {
			sc, m := scaleMinK4(is, scales)
			d1, m1 := d*float32(sc), min*float32(m)
			sc, m = scaleMinK4(is+1, scales)
			d2, m2 := d*float32(sc), min*float32(m)
			sh := uint(is) // the high bits of this pair: qh bits is and is+1
			for l, v := range ql[:32] {
				h := qh[l] >> sh // branch-free: the bits are random
				lo, hi := v&0xf|(h&1)<<4, v>>4|(h&2)<<3
				y[l] = float32(d1*float32(lo)) - m1
				y[l+32] = float32(d2*float32(hi)) - m2
			}
			ql, y = ql[32:], y[64:]
		}
		src, dst = src[176:], dst[QK_K:]
	}
}

// Q6_K: {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: 16 groups of 16,
// x = d·sc·(q − 32), q six bits.
func dequantQ6_K(src []byte, dst []float32) {
	for len(dst) > 0 {
		b, y := src[:210], dst[:QK_K]
		ql, qh, sc := b[:128], b[128:192], b[192:208]
		d := half(b[208:])
		for n := 0; n < 2; n++ {
			for l := range 32 {
				is := l / 16
				h := qh[l]
				q1 := int(ql[l]&0xf|(h>>0&3)<<4) - 32
				q2 := int(ql[l+32]&0xf|(h>>2&3)<<4) - 32
				q3 := int(ql[l]>>4|(h>>4&3)<<4) - 32
				q4 := int(ql[l+32]>>4|(h>>6&3)<<4) - 32
				y[l] = float32(d*float32(int8(sc[is]))) * float32(q1)
				y[l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
				y[l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
				y[l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
			}
			ql, qh, sc, y = ql[64:], qh[32:], sc[8:], y[128:]
		}
		src, dst = src[210:], dst[QK_K:]
	}
}
