package kernels

import (
	"fmt"
	"sync"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// Quantized weights stay as the checkpoint stores them: GGUF ggml blocks
// (Q8_0, Q4_K and every block type core/quant dequantizes) or fp8 bytes
// with their scales, in Weight.Q. The kernels dequantize them a few rows
// at a time into a float32 scratch, bit for bit as core/quant does, and
// run the F32 paths on that: a packed panel (packPanel: 32 rows × 256
// columns) or eight rows for the few-row products (gemv). No dequantized
// copy of the weight is ever kept, so a forward on quantized weights is
// the forward of the dequantized model computed by the same kernels in
// the same order: equal bit for bit.

// Quantized reports whether the weight is stored quantized (ggml blocks or fp8).
func (w *Weight) Quantized() bool {
	return w.GGML.Quantized() || w.DType == tensor.F8_E4M3 || w.DType == tensor.F8_E5M2
}

// Format names the weight's storage: "F32", "BF16", "F16", the ggml type
// ("Q8_0", "Q4_K" …) or the fp8 dtype ("F8_E4M3", "F8_E4M3 scaled").
func (w *Weight) Format() string {
	switch {
	case w.GGML.Quantized():
		return w.GGML.String()
	case w.Quantized() && w.Scale != nil:
		return w.DType.String() + " scaled"
	}
	return w.DType.String()
}

// NewStoredWeight wraps a quantized tensor of any rank ≥ 1 as a [shape[0],
// rest] matrix, keeping its bytes (no copy): ggml blocks or fp8 with scales.
func NewStoredWeight(s *quant.Stored) (*Weight, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	if len(s.Shape) == 0 {
		return nil, fmt.Errorf("scalar weight")
	}
	cols := 1
	for _, d := range s.Shape[1:] {
		cols *= d
	}
	w := &Weight{Rows: s.Shape[0], Cols: cols, Q: s.Data}
	if s.FP8 != tensor.Invalid {
		w.DType, w.Scale = s.FP8, s.Scale
		return w, nil
	}
	if s.Type.BlockSize() > quant.QK_K {
		return nil, fmt.Errorf("ggml type %v: blocks of %d elements (at most %d run)", s.Type, s.Type.BlockSize(), quant.QK_K)
	}
	w.DType, w.GGML = tensor.Invalid, s.Type
	return w, nil
}

// fp8 decoding tables (exact: c10's fp8 → float32).
var fp8E4M3, fp8E5M2 = func() (a, b [256]float32) {
	for i := range a {
		a[i] = tensor.F8E4M3FNToF32(uint8(i))
		b[i] = tensor.F8E5M2ToF32(uint8(i))
	}
	return
}()

// widenQuantized is Widen for quantized weights: ggml blocks dequantized
// with core/quant's own functions (whole blocks at once, a partial block
// through a scratch block), fp8 as fp8 value × the row's scale in f32, as
// quant.DequantizeFP8 computes it.
func (w *Weight) widenQuantized(off int, dst []float32) {
	if w.DType != tensor.Invalid {
		w.widenFP8(off, dst)
		return
	}
	deq := w.GGML.Dequantizer()
	if deq == nil {
		panic(fmt.Sprintf("kernels: a weight of ggml type %v", w.GGML))
	}
	bs, bb := w.GGML.BlockSize(), w.GGML.BlockBytes()
	for len(dst) > 0 {
		b, in := off/bs, off%bs
		if in == 0 && len(dst) >= bs {
			n := len(dst) / bs
			if src := w.Q[b*bb : (b+n)*bb]; !deqVec(w.GGML, src, dst[:n*bs]) {
				deq(src, dst[:n*bs])
			}
			off, dst = off+n*bs, dst[n*bs:]
			continue
		}
		var tmp [quant.QK_K]float32
		deq(w.Q[b*bb:(b+1)*bb], tmp[:bs])
		n := copy(dst, tmp[in:bs])
		off, dst = off+n, dst[n:]
	}
}

func (w *Weight) widenFP8(off int, dst []float32) {
	tab := &fp8E4M3
	if w.DType == tensor.F8_E5M2 {
		tab = &fp8E5M2
	}
	q := w.Q[off : off+len(dst)]
	if len(w.Scale) <= 1 {
		s := float32(1)
		if len(w.Scale) == 1 {
			s = w.Scale[0]
		}
		for i, b := range q {
			dst[i] = tab[b] * s
		}
		return
	}
	r, c := off/w.Cols, off%w.Cols // Scale[r]: held row r
	for len(q) > 0 {
		n := min(len(q), w.Cols-c)
		s := w.Scale[r]
		for i, b := range q[:n] {
			dst[i] = tab[b] * s
		}
		q, dst, r, c = q[n:], dst[n:], r+1, 0
	}
}

// qRange is the byte range of Q holding elements [off, off+n).
func (w *Weight) qRange(off, n int) (b0, b1 int) {
	if !w.GGML.Quantized() {
		return off, off + n
	}
	bs, bb := w.GGML.BlockSize(), w.GGML.BlockBytes()
	return off / bs * bb, (off + n + bs - 1) / bs * bb
}

// shardQuantized is Shard for quantized weights: the shard's blocks (a
// copy) when its rows start and end on block boundaries, else its rows
// dequantized to F32.
func (w *Weight) shardQuantized(lo, hi int) *Weight {
	s := &Weight{DType: w.DType, Rows: w.Rows, Cols: w.Cols, GGML: w.GGML, Lo: lo, Hi: hi}
	if lo == hi {
		s.Lo, s.Hi = w.Rows, w.Rows
		return s
	}
	if len(w.Scale) == 1 {
		s.Scale = w.Scale
	}
	e0, e1 := lo*w.Cols, hi*w.Cols
	if !w.GGML.Quantized() {
		s.Q = append([]byte(nil), w.Q[e0:e1]...)
		if len(w.Scale) > 1 {
			s.Scale = append([]float32(nil), w.Scale[lo:hi]...)
		}
		return s
	}
	if bs := w.GGML.BlockSize(); e0%bs != 0 || e1%bs != 0 {
		d := &Weight{DType: tensor.F32, Rows: w.Rows, Cols: w.Cols, Lo: lo, Hi: hi, F32: make([]float32, e1-e0)}
		w.Widen(e0, d.F32)
		return d
	}
	b0, b1 := w.qRange(e0, e1-e0)
	s.Q = append([]byte(nil), w.Q[b0:b1]...)
	return s
}

// deqScratch is a float32 scratch of dequantized rows and the F32 weight
// viewing it.
type deqScratch struct {
	buf  []float32
	view Weight
}

var deqPool = sync.Pool{New: func() any { return new(deqScratch) }}

// rows dequantizes rows [r0, r0+n), columns [c0, c0+cw) of w into the
// scratch and returns it as an F32 weight: the whole matrix's Rows, the
// rows held as a shard [r0, r0+n) of cw columns.
func (d *deqScratch) rows(w *Weight, r0, n, c0, cw int) *Weight {
	d.buf = grow(d.buf, n*cw)
	for j := 0; j < n; j++ {
		w.Widen(w.offset(r0+j, c0), d.buf[j*cw:(j+1)*cw])
	}
	d.view = Weight{DType: tensor.F32, Rows: w.Rows, Cols: cw, F32: d.buf, Lo: r0, Hi: r0 + n}
	return &d.view
}

// packQuantized is packPanel for quantized weights: the panel's rows
// dequantized, then packed as F32 (AVX-512 transposes, wasm SIMD or Go).
func packQuantized(panel []float32, w *Weight, n0, nw, k0, kw int) {
	d := deqPool.Get().(*deqScratch)
	packPanel(panel, d.rows(w, n0, nw, k0, kw), n0, nw, 0, kw)
	deqPool.Put(d)
}

// gemvQuantized is gemv for quantized weights: eight rows at a time
// dequantized, then the F32 gemv (roundW: rounded to bf16 values first).
func gemvQuantized(y, x []float32, m int, w *Weight, b []float32, lo, hi int, roundW bool) {
	d := deqPool.Get().(*deqScratch)
	for n0 := lo; n0 < hi; n0 += gemvRows {
		n := min(gemvRows, hi-n0)
		v := d.rows(w, n0, n, 0, w.Cols)
		if roundW {
			roundSliceBF16(v.F32)
		}
		gemv(y, x, m, v, b, n0, n0+n, false)
	}
	deqPool.Put(d)
}
