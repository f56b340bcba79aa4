package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// F16ToF32 widens an IEEE binary16 bit pattern exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// subnormal: normalise
	e := uint32(113)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// F32ToF16 rounds to nearest even exactly as PyTorch's c10::Half does
// (fp16_ieee_from_fp32_value): overflow to ±inf, gradual underflow to
// subnormals, NaN to the canonical quiet NaN 0x7E00 with the sign kept.
func F32ToF16(f float32) uint16 {
	w := math.Float32bits(f)
	sign := uint16(w>>16) & 0x8000
	exp := int(w>>23) & 0xff
	mant := w & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 31 {
		return sign | 0x7c00
	}
	if e >= 1 {
		h := uint32(e)<<10 | mant>>13
		rem := mant & 0x1fff
		if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
			h++ // may carry into the exponent, up to infinity: correct
		}
		return sign | uint16(h)
	}
	if exp == 0 { // f32 zero or subnormal: far below the f16 range
		return sign
	}
	m := mant | 0x800000
	shift := uint(14 - e)
	if shift >= 25 {
		return sign
	}
	h := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

// BF16ToF32 widens a bfloat16 bit pattern exactly.
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// F32ToBF16 rounds to nearest even as c10::BFloat16 does; NaN becomes 0x7FC0.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return 0x7fc0
	}
	return uint16((u + (u>>16)&1 + 0x7fff) >> 16)
}

// DecodeFloat32 converts src (little-endian elements of dt) into dst.
// Integer and bool types convert by value; quantized and complex types are refused.
func DecodeFloat32(dt DType, src []byte, dst []float32) error {
	sz := dt.Size()
	if sz == 0 || len(src) != sz*len(dst) {
		return fmt.Errorf("decode %v: %d bytes for %d elements", dt, len(src), len(dst))
	}
	le := binary.LittleEndian
	switch dt {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(le.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(le.Uint16(src[2*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	case F8_E4M3:
		for i := range dst {
			dst[i] = math.Float32frombits(f8e4m3fnBits[src[i]])
		}
	case F8_E5M2:
		for i := range dst {
			dst[i] = math.Float32frombits(f8e5m2Bits[src[i]])
		}
	default:
		tmp := make([]float64, len(dst))
		if err := DecodeFloat64(dt, src, tmp); err != nil {
			return err
		}
		for i, v := range tmp {
			dst[i] = float32(v)
		}
	}
	return nil
}

// DecodeFloat64 converts src into float64 values (exact for every float type).
func DecodeFloat64(dt DType, src []byte, dst []float64) error {
	sz := dt.Size()
	if sz == 0 || len(src) != sz*len(dst) {
		return fmt.Errorf("decode %v: %d bytes for %d elements", dt, len(src), len(dst))
	}
	le := binary.LittleEndian
	switch dt {
	case F64:
		for i := range dst {
			dst[i] = math.Float64frombits(le.Uint64(src[8*i:]))
		}
	case F32, F16, BF16, F8_E4M3, F8_E5M2:
		tmp := make([]float32, len(dst))
		if err := DecodeFloat32(dt, src, tmp); err != nil {
			return err
		}
		for i, v := range tmp {
			dst[i] = float64(v)
		}
	case I64, U64, I32, U32, I16, U16, I8, U8, BOOL:
		tmp := make([]int64, len(dst))
		if err := DecodeInt64(dt, src, tmp); err != nil {
			return err
		}
		for i, v := range tmp {
			if dt == U64 {
				dst[i] = float64(uint64(v))
			} else {
				dst[i] = float64(v)
			}
		}
	default:
		return fmt.Errorf("cannot convert %v to float", dt)
	}
	return nil
}

// DecodeInt64 converts integer or bool elements to int64.
func DecodeInt64(dt DType, src []byte, dst []int64) error {
	sz := dt.Size()
	if sz == 0 || len(src) != sz*len(dst) {
		return fmt.Errorf("decode %v: %d bytes for %d elements", dt, len(src), len(dst))
	}
	le := binary.LittleEndian
	for i := range dst {
		switch dt {
		case I64, U64:
			dst[i] = int64(le.Uint64(src[8*i:]))
		case I32:
			dst[i] = int64(int32(le.Uint32(src[4*i:])))
		case U32:
			dst[i] = int64(le.Uint32(src[4*i:]))
		case I16:
			dst[i] = int64(int16(le.Uint16(src[2*i:])))
		case U16:
			dst[i] = int64(le.Uint16(src[2*i:]))
		case I8:
			dst[i] = int64(int8(src[i]))
		case U8, BOOL:
			dst[i] = int64(src[i])
		default:
			return fmt.Errorf("%v is not an integer type", dt)
		}
	}
	return nil
}

// EncodeFloat32 writes float32 values as dt (F32, F16, BF16, F64, F8_E4M3
// or F8_E5M2) into dst, rounding as PyTorch does.
func EncodeFloat32(dt DType, src []float32, dst []byte) error {
	if dt.Size() == 0 || len(dst) != dt.Size()*len(src) {
		return fmt.Errorf("encode %v: %d bytes for %d elements", dt, len(dst), len(src))
	}
	le := binary.LittleEndian
	switch dt {
	case F32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], F32ToBF16(v))
		}
	case F64:
		for i, v := range src {
			le.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
	case F8_E4M3, F8_E5M2:
		encodeF8(dt, src, dst)
	default:
		return fmt.Errorf("cannot encode floats as %v", dt)
	}
	return nil
}

// CanCast reports whether Cast supports from → to. Only floating types
// among F64/F32/F16/BF16/F8_E4M3/F8_E5M2 are cast; integers and bools
// never are.
func CanCast(from, to DType) bool {
	ok := func(d DType) bool {
		return d == F64 || d == F32 || d == F16 || d == BF16 || d == F8_E4M3 || d == F8_E5M2
	}
	return from == to || (ok(from) && ok(to))
}

// Cast converts src (elements of from) into dst (elements of to) bit-exactly
// as torch's Tensor.to(dtype) does on the CPU: F64 narrows through F32 for
// F16/BF16/fp8 like c10 does, widening is exact (fp8 → any wider float
// included), and F16/BF16 → fp8 widen to F32 first as c10 does.
func Cast(from, to DType, src, dst []byte) error {
	if !CanCast(from, to) {
		return fmt.Errorf("cannot cast %v to %v", from, to)
	}
	n := len(src) / from.Size()
	if len(src) != n*from.Size() || len(dst) != n*to.Size() {
		return fmt.Errorf("cast %v→%v: %d source bytes, %d destination bytes", from, to, len(src), len(dst))
	}
	if from == to {
		copy(dst, src)
		return nil
	}
	le := binary.LittleEndian
	switch {
	case from == F32 && to == BF16:
		done := castF32ToBF16Vec(src, dst, n)
		src, dst, n = src[4*done:], dst[2*done:], n-done
		if s32, d16, ok := words32to16(src, dst, n); ok {
			for i, u := range s32 {
				if u&0x7fffffff > 0x7f800000 {
					d16[i] = 0x7fc0
				} else {
					d16[i] = uint16((u + (u>>16)&1 + 0x7fff) >> 16)
				}
			}
			return nil
		}
		for i := 0; i < n; i++ {
			le.PutUint16(dst[2*i:], F32ToBF16(math.Float32frombits(le.Uint32(src[4*i:]))))
		}
		return nil
	case from == F32 && to == F16:
		done := castF32ToF16Vec(src, dst, n)
		src, dst, n = src[4*done:], dst[2*done:], n-done
		for i := 0; i < n; i++ {
			le.PutUint16(dst[2*i:], F32ToF16(math.Float32frombits(le.Uint32(src[4*i:]))))
		}
		return nil
	case from == BF16 && to == F32:
		for i := 0; i < n; i++ {
			le.PutUint32(dst[4*i:], uint32(le.Uint16(src[2*i:]))<<16)
		}
		return nil
	case (from == F8_E4M3 || from == F8_E5M2) && (to == F32 || to == BF16):
		tab := &f8e4m3fnBits
		if from == F8_E5M2 {
			tab = &f8e5m2Bits
		}
		if to == BF16 { // every fp8 value is a bf16 value (NaN becomes c10's 0x7fc0)
			for i, b := range src {
				le.PutUint16(dst[2*i:], F32ToBF16(math.Float32frombits(tab[b])))
			}
			return nil
		}
		for i, b := range src {
			le.PutUint32(dst[4*i:], tab[b])
		}
		return nil
	case from == F32 && (to == F8_E4M3 || to == F8_E5M2):
		enc := F32ToF8E4M3FN
		if to == F8_E5M2 {
			enc = F32ToF8E5M2
		}
		for i := range dst {
			dst[i] = enc(math.Float32frombits(le.Uint32(src[4*i:])))
		}
		return nil
	}
	if from == F64 && to == F32 {
		for i := 0; i < n; i++ {
			le.PutUint32(dst[4*i:], math.Float32bits(float32(math.Float64frombits(le.Uint64(src[8*i:])))))
		}
		return nil
	}
	const chunk = 4096
	buf := make([]float32, min(n, chunk))
	for off := 0; off < n; off += chunk {
		m := min(chunk, n-off)
		if err := DecodeFloat32(from, src[off*from.Size():(off+m)*from.Size()], buf[:m]); err != nil {
			return err
		}
		if to == F64 && from != F64 {
			for i := 0; i < m; i++ {
				le.PutUint64(dst[(off+i)*8:], math.Float64bits(float64(buf[i])))
			}
			continue
		}
		if err := EncodeFloat32(to, buf[:m], dst[off*to.Size():(off+m)*to.Size()]); err != nil {
			return err
		}
	}
	return nil
}

// words32to16 views aligned little-endian buffers as words, so hot cast
// loops skip per-element byte assembly. Every platform ditkit builds for
// (amd64, arm64, wasm) is little-endian; misaligned buffers take the
// portable path.
func words32to16(src, dst []byte, n int) ([]uint32, []uint16, bool) {
	if n == 0 || uintptr(unsafe.Pointer(&src[0]))%4 != 0 || uintptr(unsafe.Pointer(&dst[0]))%2 != 0 || !littleEndian {
		return nil, nil, false
	}
	return unsafe.Slice((*uint32)(unsafe.Pointer(&src[0])), n), unsafe.Slice((*uint16)(unsafe.Pointer(&dst[0])), n), true
}

var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()
