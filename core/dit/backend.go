package dit

import "github.com/ditkit/ditkit/core/dit/kernels"

// Backend runs the heavy kernels op by op: kernels.CPU (the default; Go and
// amd64 assembly) or a device's per-op kernels (WebGPU). Weights are
// kernels.Weight, kept in their stored dtype.
type Backend interface {
	// Linear computes y[i,:] = x[i,:]·Wᵀ + b for i < m, with x [m, W.Cols]
	// and y [m, W.Rows] row-major. b may be nil.
	Linear(y, x []float32, m int, w *kernels.Weight, b []float32)
	// LinearGELU is Linear followed by GELU with the tanh approximation.
	LinearGELU(y, x []float32, m int, w *kernels.Weight, b []float32)
	// Attention runs multi-head scaled-dot-product attention (see
	// kernels.AttnArgs).
	Attention(a *kernels.AttnArgs)
	// LayerNormModulate writes out = LN(x)·(1+scale)+shift for each row of
	// x [rows, h] (LayerNorm without affine, eps). Row r uses the
	// modulation vectors of group r/groupRows: shift[g*stride:], scale[g*stride:].
	// shift/scale may be nil (plain LayerNorm).
	LayerNormModulate(out, x []float32, rows, h int, eps float32, groupRows int, shift, scale []float32, stride int)
}

var _ Backend = (*kernels.CPU)(nil)
