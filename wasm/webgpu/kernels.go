//go:build js && wasm

package webgpu

import (
	"fmt"
	"math"
	"syscall/js"

	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/tensor"
)

const (
	dtF32 = iota
	dtBF16
	dtF16
)

// gpuWeight is a weight matrix on the GPU as packed u32 words, split by
// rows into chunks no larger than the device allows in one binding.
type gpuWeight struct {
	dtype      int
	rows, cols int
	chunks     []wchunk
	bias       js.Value // f32 [rows], or undefined
	bytes      int64
}

type wchunk struct {
	buf        js.Value
	row0, rows int
}

func (w *gpuWeight) destroy() {
	for _, c := range w.chunks {
		c.buf.Call("destroy")
	}
	if w.bias.Type() == js.TypeObject {
		w.bias.Call("destroy")
	}
}

// upload creates the GPU copy of w (and its bias b, may be nil).
func (g *GPU) upload(w *kernels.Weight, b []float32) (*gpuWeight, error) {
	gw := &gpuWeight{rows: w.Rows, cols: w.Cols}
	var raw []byte
	es := int64(2)
	switch {
	case w.Quantized():
		// GGUF blocks and fp8 are dequantized to F32 here: the shaders
		// read F32/BF16/F16 (the CPU keeps them quantized).
		gw.dtype, es, raw = dtF32, 4, f32bytes(w.Float32s())
	case w.DType == tensor.F32:
		gw.dtype, es, raw = dtF32, 4, f32bytes(w.F32)
	case w.DType == tensor.BF16:
		gw.dtype, raw = dtBF16, u16bytes(w.U16)
	case w.DType == tensor.F16:
		gw.dtype, raw = dtF16, u16bytes(w.U16)
	default:
		return nil, fmt.Errorf("webgpu: weight dtype %v", w.DType)
	}
	rowBytes := int64(w.Cols) * es
	per := int((g.chunkLimit() - 3) / rowBytes)
	if per < 1 {
		return nil, fmt.Errorf("%w: one weight row of %d bytes exceeds the buffer limit (%s)", ErrUnavailable, rowBytes, g.Limits())
	}
	for r0 := 0; r0 < w.Rows; r0 += per {
		n := min(per, w.Rows-r0)
		part := raw[int64(r0)*rowBytes : int64(r0+n)*rowBytes]
		buf := g.buffer(int64(len(part)), usageStorage|usageCopyDst)
		g.write(buf, 0, part)
		gw.chunks = append(gw.chunks, wchunk{buf: buf, row0: r0, rows: n})
		gw.bytes += (int64(len(part)) + 3) &^ 3
	}
	if b != nil {
		gw.bias = g.buffer(int64(len(b))*4, usageStorage|usageCopyDst)
		g.write(gw.bias, 0, f32bytes(b))
		gw.bytes += int64(len(b)) * 4
	}
	return gw, nil
}

// linear records y[i, yOff+n] = x[i]·Wᵀ + b (+GELU) for i < m: the tiled
// kernel, or the few-row one when m ≤ 8; one dispatch per weight chunk.
func (g *GPU) linear(x js.Value, xOff, xStride int, w *gpuWeight, y js.Value, yOff, yStride, m int, gelu bool) ([]dispatch, error) {
	name := "matmul"
	switch {
	case m <= gemvMaxRows && g.directMatmul():
		name = "gemv"
	case m <= gemvMaxRows:
		name = "gemv_wg"
	case w.cols%4 == 0 && xOff%4 == 0 && xStride%4 == 0 && g.directMatmul():
		name = "matmul_direct"
	}
	pipe, err := g.pipeline(name, w.dtype)
	if err != nil {
		return nil, err
	}
	bias, hasBias := g.dummy, 0
	if w.bias.Type() == js.TypeObject {
		bias, hasBias = w.bias, 1
	}
	act := 0
	if gelu {
		act = 1
	}
	var ds []dispatch
	for _, c := range w.chunks {
		u := g.uniform([]uint32{uint32(m), uint32(c.rows), uint32(w.cols), uint32(xOff),
			uint32(xStride), uint32(yOff + c.row0), uint32(yStride), uint32(c.row0),
			uint32(hasBias), uint32(act), 0, 0})
		d := dispatch{pipe: pipe, owned: []js.Value{u}}
		d.group = g.bind(pipe, u, x, c.buf, bias, y)
		switch name {
		case "gemv":
			d.wg = [3]int{(c.rows + 63) / 64, 1, 1}
		case "gemv_wg":
			d.wg = [3]int{min(c.rows, maxWorkgroups), (c.rows + maxWorkgroups - 1) / maxWorkgroups, 1}
		case "matmul_direct":
			d.wg = [3]int{(c.rows + 31) / 32, (m + 31) / 32, 1}
		default:
			d.wg = [3]int{(c.rows + 63) / 64, (m + 63) / 64, 1}
		}
		if d.wg[0] > maxWorkgroups || d.wg[1] > maxWorkgroups {
			return nil, fmt.Errorf("%w: matmul of %d×%d too large for one dispatch", ErrUnavailable, m, c.rows)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// attnArgs locates Q, K, V and the output in GPU buffers (offsets and
// strides in float32 elements, as kernels.AttnArgs).
type attnArgs struct {
	q, kv, out              js.Value
	lens                    js.Value // u32 keys per sequence, or undefined (all NK)
	qOff, qStride           int
	kOff, vOff, kvStride    int
	oOff, oStride           int
	seqs, nq, nk, heads, hd int
	scale                   float32
}

func (g *GPU) attention(a attnArgs) (dispatch, error) {
	if a.hd > maxHeadDim {
		return dispatch{}, fmt.Errorf("%w: head dimension %d > %d", ErrUnavailable, a.hd, maxHeadDim)
	}
	name := "attention"
	if a.hd%4 == 0 {
		name = "attention4"
	}
	pipe, err := g.pipeline(name, 0)
	if err != nil {
		return dispatch{}, err
	}
	lens, hasLens := a.lens, uint32(1)
	if lens.Type() != js.TypeObject {
		lens, hasLens = g.dummy, 0
	}
	u := g.uniform([]uint32{uint32(a.seqs), uint32(a.nq), uint32(a.nk), uint32(a.hd),
		uint32(a.qOff), uint32(a.qStride), uint32(a.kOff), uint32(a.vOff),
		uint32(a.kvStride), uint32(a.oOff), uint32(a.oStride), math.Float32bits(a.scale), hasLens})
	return dispatch{pipe: pipe, owned: []js.Value{u}, group: g.bind(pipe, u, a.q, a.kv, a.out, lens),
		wg: [3]int{(a.nq + 63) / 64, a.heads, a.seqs}}, nil
}

// layerNorm records out = LN(x)·(1+scale)+shift (see dit.Backend); mods
// holds shift at shOff and scale at scOff (element offsets), or is nil.
func (g *GPU) layerNorm(x, out js.Value, rows, h int, eps float32, groupRows int, mods js.Value, shOff, scOff, stride int) (dispatch, error) {
	pipe, err := g.pipeline("layernorm", 0)
	if err != nil {
		return dispatch{}, err
	}
	hasMod := 1
	if mods.Type() != js.TypeObject {
		mods, hasMod = g.dummy, 0
	}
	u := g.uniform([]uint32{uint32(rows), uint32(h), uint32(max(groupRows, 1)), uint32(stride),
		uint32(shOff), uint32(scOff), uint32(hasMod), math.Float32bits(eps)})
	return dispatch{pipe: pipe, owned: []js.Value{u}, group: g.bind(pipe, u, x, mods, out),
		wg: [3]int{min(rows, maxWorkgroups), (rows + maxWorkgroups - 1) / maxWorkgroups, 1}}, nil
}

const (
	opAdd = iota
	opSiLU
	opGated
	opAddRows // AddOp with Div / Set
)

// elem records one element-wise op over n values (see elem.wgsl).
func (g *GPU) elem(op int, dst, src, gate js.Value, n, period, h, groupRows, stride, gOff int) (dispatch, error) {
	pipe, err := g.pipeline("elem", 0)
	if err != nil {
		return dispatch{}, err
	}
	if gate.Type() != js.TypeObject {
		gate = g.dummy
	}
	u := g.uniform([]uint32{uint32(n), uint32(op), uint32(max(period, 1)), uint32(max(h, 1)),
		uint32(max(groupRows, 1)), uint32(stride), uint32(gOff), 0})
	wgs := (n + 255) / 256
	return dispatch{pipe: pipe, owned: []js.Value{u}, group: g.bind(pipe, u, dst, src, gate),
		wg: [3]int{min(wgs, maxWorkgroups), (wgs + maxWorkgroups - 1) / maxWorkgroups, 1}}, nil
}
