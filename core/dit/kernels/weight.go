package kernels

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// Weight is a 2-D matrix [Rows, Cols] kept in its stored dtype: F32 weights
// in F32, BF16/F16 weights as raw 16-bit patterns (half the bytes), and
// quantized weights (quant.go: GGUF blocks, fp8 with scales) as stored in Q.
// Kernels widen them to float32 on the fly. F64 weights are narrowed to
// F32 at load.
//
// A shard (sharded CPU execution: dit.Shard) holds only rows [Lo, Hi) of
// the matrix: Rows stays the whole matrix's, F32/U16 start at row Lo, and
// CPU.Linear computes only output columns [Lo, Hi). Hi == 0 means every
// row (not a shard).
type Weight struct {
	// DType is F32, BF16 or F16; F8_E4M3 or F8_E5M2 for fp8 (Q, Scale);
	// Invalid for ggml blocks (GGML, Q).
	DType      tensor.DType
	Rows, Cols int
	F32        []float32 // DType == F32
	U16        []uint16  // DType == BF16 or F16
	// GGML is a GGUF weight's block type (Q8_0, Q4_K …, GGML.Quantized()).
	GGML quant.Type
	// Q holds a quantized weight's bytes for the held rows: the ggml
	// blocks of elements (r-Lo)·Cols + c in order, or one fp8 byte each.
	Q []byte
	// Scale is an fp8 weight's scale: nil (1), one, or one per held row
	// (a shard's rows only).
	Scale  []float32
	Lo, Hi int // a shard's rows (Hi == 0: every row)
}

// Bytes is the memory the weight holds.
func (w *Weight) Bytes() int64 {
	return int64(len(w.F32))*4 + int64(len(w.U16))*2 + int64(len(w.Q)) + int64(len(w.Scale))*4
}

// Held returns the rows the weight holds: [0, Rows), or a shard's [Lo, Hi).
func (w *Weight) Held() (lo, hi int) {
	if w.Hi == 0 {
		return 0, w.Rows
	}
	return w.Lo, w.Hi
}

// IsShard reports whether the weight holds only some rows.
func (w *Weight) IsShard() bool { return w.Hi != 0 }

// offset is the index in F32/U16 of element (r, c).
func (w *Weight) offset(r, c int) int { return (r-w.Lo)*w.Cols + c }

// Row widens row r into dst (len Cols). A shard panics on rows it lacks.
func (w *Weight) Row(r int, dst []float32) {
	if lo, hi := w.Held(); r < lo || r >= hi {
		panic(fmt.Sprintf("kernels: row %d of a weight shard holding rows [%d, %d)", r, lo, hi))
	}
	w.Widen(w.offset(r, 0), dst)
}

// Shard returns rows [lo, hi) of w as a shard (a copy: w can be dropped).
func (w *Weight) Shard(lo, hi int) *Weight {
	if w.IsShard() {
		panic("kernels: sharding a shard")
	}
	if w.Quantized() {
		return w.shardQuantized(lo, hi)
	}
	s := &Weight{DType: w.DType, Rows: w.Rows, Cols: w.Cols, Lo: lo, Hi: hi}
	if lo == hi {
		s.Lo, s.Hi = w.Rows, w.Rows // holds nothing (Hi != 0 still marks a shard)
	}
	if w.DType == tensor.F32 {
		s.F32 = append([]float32(nil), w.F32[lo*w.Cols:hi*w.Cols]...)
	} else {
		s.U16 = append([]uint16(nil), w.U16[lo*w.Cols:hi*w.Cols]...)
	}
	return s
}

// Widen widens len(dst) consecutive stored elements starting at index off
// of F32/U16 (element (r, c) is at (r-Lo)·Cols + c); quantized weights are
// dequantized (see widenQuantized).
func (w *Weight) Widen(off int, dst []float32) {
	switch w.DType {
	case tensor.Invalid, tensor.F8_E4M3, tensor.F8_E5M2:
		w.widenQuantized(off, dst)
	case tensor.F32:
		copy(dst, w.F32[off:off+len(dst)])
	case tensor.BF16:
		src := w.U16[off : off+len(dst)]
		for i, b := range src {
			dst[i] = tensor.BF16ToF32(b)
		}
	case tensor.F16:
		src := w.U16[off : off+len(dst)]
		for i, b := range src {
			dst[i] = f16ToF32(b)
		}
	}
}

// Float32s returns the stored rows widened to float32 (a copy for 16-bit
// and quantized weights; a shard's rows only).
func (w *Weight) Float32s() []float32 {
	if w.DType == tensor.F32 {
		return w.F32
	}
	lo, hi := w.Held()
	out := make([]float32, (hi-lo)*w.Cols)
	w.Widen(0, out)
	return out
}

// f16 lookup table: 256 KiB, exact widening without branches.
var f16Table = func() []float32 {
	t := make([]float32, 1<<16)
	for i := range t {
		t[i] = tensor.F16ToF32(uint16(i))
	}
	return t
}()

func f16ToF32(h uint16) float32 { return f16Table[h] }

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// NewWeight wraps a dense tensor of any rank ≥ 1 as a [shape[0], rest]
// matrix without copying when the dtype is kept (F32/BF16/F16 on a
// little-endian machine with aligned data); F64 is narrowed to F32.
func NewWeight(d *tensor.Dense) (*Weight, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	if len(d.Shape) == 0 {
		return nil, fmt.Errorf("scalar weight")
	}
	rows := d.Shape[0]
	cols := 1
	for _, s := range d.Shape[1:] {
		cols *= s
	}
	w := &Weight{DType: d.DType, Rows: rows, Cols: cols}
	n := rows * cols
	switch d.DType {
	case tensor.F32:
		if littleEndian && n > 0 && uintptr(unsafe.Pointer(&d.Data[0]))%4 == 0 {
			w.F32 = unsafe.Slice((*float32)(unsafe.Pointer(&d.Data[0])), n)
		} else {
			w.F32 = make([]float32, n)
			if err := tensor.DecodeFloat32(d.DType, d.Data, w.F32); err != nil {
				return nil, err
			}
		}
	case tensor.BF16, tensor.F16:
		if littleEndian && n > 0 && uintptr(unsafe.Pointer(&d.Data[0]))%2 == 0 {
			w.U16 = unsafe.Slice((*uint16)(unsafe.Pointer(&d.Data[0])), n)
		} else {
			w.U16 = make([]uint16, n)
			for i := range w.U16 {
				w.U16[i] = binary.LittleEndian.Uint16(d.Data[2*i:])
			}
		}
	case tensor.F64:
		w.DType = tensor.F32
		w.F32 = make([]float32, n)
		if err := tensor.DecodeFloat32(d.DType, d.Data, w.F32); err != nil {
			return nil, err
		}
	case tensor.F8_E4M3, tensor.F8_E5M2: // plain fp8 (a scaled one comes through NewStoredWeight)
		w.Q = d.Data[:n]
	default:
		return nil, fmt.Errorf("weight dtype %v is not a float type", d.DType)
	}
	return w, nil
}

// WeightFromFloat32 builds an F32 weight from values (tests, benchmarks).
func WeightFromFloat32(v []float32, rows, cols int) *Weight {
	return &Weight{DType: tensor.F32, Rows: rows, Cols: cols, F32: v}
}

// ToDType converts the weight to F32, BF16 or F16 (rounding like torch).
// Quantized weights are returned as they are: they stay quantized in
// memory (Precision BF16 rounds their values to bf16 as they are packed).
func (w *Weight) ToDType(dt tensor.DType) *Weight {
	if dt == w.DType || w.Quantized() {
		return w
	}
	src := w.Float32s()
	out := &Weight{DType: dt, Rows: w.Rows, Cols: w.Cols, Lo: w.Lo, Hi: w.Hi}
	switch dt {
	case tensor.F32:
		out.F32 = src
	case tensor.BF16:
		out.U16 = make([]uint16, len(src))
		for i, v := range src {
			out.U16[i] = tensor.F32ToBF16(v)
		}
	case tensor.F16:
		out.U16 = make([]uint16, len(src))
		for i, v := range src {
			out.U16[i] = tensor.F32ToF16(v)
		}
	}
	return out
}

// prefetchRows asks for rows [r0, r1), columns [c0, c0+cw) of the stored
// weight to be brought into L2 (vecOn only; a no-op past the held rows).
func (w *Weight) prefetchRows(r0, r1, c0, cw int) {
	lo, hi := w.Held()
	r0, r1 = max(r0, lo), min(r1, hi)
	for r := r0; r < r1; r++ {
		off := w.offset(r, c0)
		switch {
		case w.DType == tensor.F32:
			prefetchL2(unsafe.Pointer(&w.F32[off]), 4*cw)
		case len(w.U16) > 0:
			prefetchL2(unsafe.Pointer(&w.U16[off]), 2*cw)
		case len(w.Q) > 0:
			if b0, b1 := w.qRange(off, cw); b1 > b0 {
				prefetchL2(unsafe.Pointer(&w.Q[b0]), b1-b0)
			}
		}
	}
}
