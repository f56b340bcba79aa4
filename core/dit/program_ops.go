package dit

import "math"

// LayerNormOp is nn.LayerNorm(Cols, eps=Eps) with its affine weight W and
// bias B (constant buffers of Cols values) over rows that may sit inside
// wider ones: for r < Rows,
// Dst[r·DstStride+DstOff:][:Cols] = LN(Src[r·SrcStride+SrcOff:][:Cols])·W + B.
// PixArt-Σ's q_norm/k_norm run it on the q and k columns of the qkv rows.
type LayerNormOp struct {
	Dst, Src, W, B    Buf
	Rows, Cols        int
	SrcOff, SrcStride int
	DstOff, DstStride int
	Eps               float32
}

// CopyOp copies Cols-wide rows between strided layouts: for r < Rows,
// Dst[r·DstStride+DstOff+i] = Src[r·SrcStride+SrcOff+i] (i < Cols). It
// joins column blocks (PixArt's micro-conditions cat([csize, ar])) and
// carries the columns a strided op leaves alone (v beside a normed q, k).
type CopyOp struct {
	Dst, Src          Buf
	Rows, Cols        int
	SrcOff, SrcStride int
	DstOff, DstStride int
}

func (*LayerNormOp) isOp() {}
func (*CopyOp) isOp()      {}

// layerNormAffine runs o on float32 buffers: mean and variance accumulated
// in float64 (as kernels.CPU.LayerNormModulate), then (x−μ)·rstd·w + b.
func layerNormAffine(dst, src, w, b []float32, o *LayerNormOp) {
	n := o.Cols
	for r := 0; r < o.Rows; r++ {
		x := src[r*o.SrcStride+o.SrcOff:][:n]
		y := dst[r*o.DstStride+o.DstOff:][:n]
		var sum float64
		for _, v := range x {
			sum += float64(v)
		}
		mean := sum / float64(n)
		var sq float64
		for _, v := range x {
			d := float64(v) - mean
			sq += d * d
		}
		rstd := float32(1 / math.Sqrt(sq/float64(n)+float64(o.Eps)))
		m := float32(mean)
		for i, v := range x {
			y[i] = (v-m)*rstd*w[i] + b[i]
		}
	}
}

func copyRows(dst, src []float32, o *CopyOp) {
	for r := 0; r < o.Rows; r++ {
		copy(dst[r*o.DstStride+o.DstOff:][:o.Cols], src[r*o.SrcStride+o.SrcOff:][:o.Cols])
	}
}
