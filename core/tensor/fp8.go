package tensor

import "math"

// The float8 codecs below follow PyTorch's c10 conversions
// (c10/util/Float8_e4m3fn.h, Float8_e5m2.h) statement for statement, so
// Tensor.to(torch.float8_*) and ditkit write the same bytes for every one
// of the 2^32 float32 inputs (checked against the fixtures' exhaustive
// checksum). bf16 and f16 sources widen to float32 exactly first, as c10
// does.

// F32ToF8E4M3FN rounds to float8_e4m3fn as c10 does: round to nearest
// even; no infinities, so |f| ≥ 480 (the first value past the top binade
// once rounded), ±inf and NaN all become NaN (0x7f, sign kept): there is
// no saturation. Values in (464, 480) round up to 0x7f too; 464 is the tie
// and goes to 448.
func F32ToF8E4M3FN(f float32) uint8 {
	const fp8Max = uint32(1087) << 20    // 480.0f
	const denormMask = uint32(141) << 23 // ((127 - 7) + (23 - 3) + 1) << 23
	w := math.Float32bits(f)
	sign := w & 0x80000000
	w ^= sign
	var r uint8
	switch {
	case w >= fp8Max:
		r = 0x7f
	case w < uint32(121)<<23: // below 2^-6, the smallest normal: subnormal or zero
		// The float add rounds the mantissa to nearest even at the
		// subnormal's precision (the FPU's default rounding).
		w = math.Float32bits(math.Float32frombits(w) + math.Float32frombits(denormMask))
		r = uint8(w - denormMask)
	default:
		odd := (w >> 20) & 1
		w += 0xc407ffff // (uint32)(7-127)<<23 rebiases the exponent, + 0x7ffff: rounding bias part 1
		w += odd        // part 2: ties to even
		r = uint8(w >> 20)
	}
	return r | uint8(sign>>24)
}

// F32ToF8E5M2 rounds to float8_e5m2 as c10 does: round to nearest even;
// values ≥ 61440 (the tie above 57344, which rounds to even) and ±inf give
// ±inf (0x7c), NaN gives 0x7f with the sign kept.
func F32ToF8E5M2(f float32) uint8 {
	const fp32Inf = uint32(255) << 23
	const fp8Max = uint32(143) << 23     // 65536.0f
	const denormMask = uint32(134) << 23 // ((127 - 15) + (23 - 2) + 1) << 23
	w := math.Float32bits(f)
	sign := w & 0x80000000
	w ^= sign
	var r uint8
	switch {
	case w >= fp8Max:
		if w > fp32Inf {
			r = 0x7f
		} else {
			r = 0x7c
		}
	case w < uint32(113)<<23: // below 2^-14
		w = math.Float32bits(math.Float32frombits(w) + math.Float32frombits(denormMask))
		r = uint8(w - denormMask)
	default:
		odd := (w >> 21) & 1
		w += 0xc80fffff // (uint32)(15-127)<<23 + 0xfffff
		w += odd
		r = uint8(w >> 21)
	}
	return r | uint8(sign>>24)
}

// F8E4M3FNToF32 widens float8_e4m3fn exactly. 0x7f/0xff are NaN with the
// bits c10 gives (0x7ff00000 / 0xfff00000).
func F8E4M3FNToF32(b uint8) float32 { return math.Float32frombits(f8e4m3fnBits[b]) }

// F8E5M2ToF32 widens float8_e5m2 (the top byte of an IEEE f16) exactly.
// NaN bytes give quiet NaNs with the bits x86 produces in c10's path
// (0x7d → 0x7fe00000), on every platform.
func F8E5M2ToF32(b uint8) float32 { return math.Float32frombits(f8e5m2Bits[b]) }

var f8e4m3fnBits, f8e5m2Bits = func() (a, b [256]uint32) {
	for i := range 256 {
		a[i] = f8e4m3fnDecode(uint8(i))
		w := math.Float32bits(F16ToF32(uint16(i) << 8))
		if w&0x7fffffff > 0x7f800000 {
			w |= 0x00400000 // c10 multiplies through the FPU, which quiets a signalling NaN
		}
		b[i] = w
	}
	return
}()

// f8e4m3fnDecode is c10's fp8e4m3fn_to_fp32_value: integer operations only.
func f8e4m3fnDecode(x uint8) uint32 {
	w := uint32(x) << 24
	sign := w & 0x80000000
	nonsign := w & 0x7fffffff
	shift := uint32(0)
	if nonsign != 0 {
		for nonsign<<shift&0x80000000 == 0 {
			shift++
		}
	} else {
		shift = 32
	}
	if shift > 4 {
		shift -= 4
	} else {
		shift = 0
	}
	infNaN := uint32((int32(nonsign+0x01000000) >> 8) & 0x7f800000)
	zero := uint32(int32(nonsign-1) >> 31)
	return sign | (((nonsign<<shift>>4)+((0x78-shift)<<23))|infNaN)&^zero
}

// encodeF8 writes float32 values as one of the fp8 types.
func encodeF8(dt DType, src []float32, dst []byte) {
	if dt == F8_E4M3 {
		for i, v := range src {
			dst[i] = F32ToF8E4M3FN(v)
		}
		return
	}
	for i, v := range src {
		dst[i] = F32ToF8E5M2(v)
	}
}
