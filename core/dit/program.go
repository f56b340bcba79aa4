package dit

import (
	"context"
	"errors"
	"fmt"

	"github.com/ditkit/ditkit/core/dit/kernels"
)

// Buf names an activation buffer of a Program: an index into Sizes.
type Buf int

// NoBuf marks an absent operand (a LayerNorm without modulation).
const NoBuf Buf = -1

// Program is one forward pass of a model at one batch and size, as a flat
// list of ops over float32 buffers: the single description of the wiring
// that every backend runs. Eager interprets it op by op on a Backend's
// kernels (the CPU, or a device's per-op kernels) and shows every TapOp to
// Options.Hook; a Runner (WebGPU) compiles it once into device dispatches
// that keep the activations resident, and runs it for every sampler step.
//
// The exact gathers stay with the caller (patchify, timestep sinusoids,
// label rows, caption packing indices) and reach the program as Inputs;
// unpatchify reads Out. An op never writes a buffer it reads (devices bind
// each operand separately), and never writes Inputs or Consts.
type Program struct {
	Sizes  []int             // float32 count of each buffer
	Inputs []Buf             // filled on each run from Feed.F32, in this order
	Names  []string          // Names[i] describes Inputs[i] (error messages)
	Consts map[Buf][]float32 // model constants (position tables, shift tables)
	Ops    []Op
	Out    Buf
}

// Feed holds one run's inputs: F32[i] fills Program.Inputs[i]; Ints holds
// the integer inputs ops name (AttnOp.KVLen, GatherOp.Index).
type Feed struct {
	F32  [][]float32
	Ints map[string][]int
}

// Runner runs whole Programs on a device that keeps the activations
// resident (WebGPU): Options.Runner. It returns the Out buffer's values.
type Runner interface {
	Run(ctx context.Context, p *Program, f *Feed) ([]float32, error)
}

// Op is one step of a Program: one of the *Op types below.
type Op interface{ isOp() }

// LinearOp: Dst[Rows, W.Rows] = Src[Rows, W.Cols]·Wᵀ + b, then GELU (tanh)
// when GELU is set.
type LinearOp struct {
	Dst, Src Buf
	Rows     int
	L        *Linear
	GELU     bool
}

// AddOp is a broadcast add over rows of Cols values: for r < Rows,
// Dst[r·Cols+i] = (Set ? 0 : Dst[r·Cols+i]) + Src[((r/Div) mod Mod)·Cols+i].
// Div 0 means 1, Mod 0 means no wrap.
type AddOp struct {
	Dst, Src   Buf
	Rows, Cols int
	Div, Mod   int
	Set        bool
}

// SiLUOp: Dst[i] = Src[i]·σ(Src[i]) for i < N.
type SiLUOp struct {
	Dst, Src Buf
	N        int
}

// NormOp: each row r < Rows of Src (Cols wide) is layer-normalised without
// affine (Eps) and modulated: Dst[r] = LN(Src[r])·(1+scale)+shift with
// shift = Mod[(r/Group)·Stride+Shift:][:Cols] and scale at Scale likewise.
// Mod NoBuf is a plain LayerNorm.
type NormOp struct {
	Dst, Src, Mod Buf
	Rows, Cols    int
	Eps           float32
	Group, Stride int
	Shift, Scale  int
}

// AttnOp is multi-head scaled-dot-product attention (kernels.AttnArgs over
// buffers): query rows of Q from element QOff with stride QStride, keys and
// values of KV from KOff and VOff with stride KVStride, output rows into
// Dst with stride OutStride. KVLen, when set, names the Feed.Ints entry
// limiting the keys of each sequence.
type AttnOp struct {
	Dst, Q, KV                   Buf
	OutStride                    int
	QOff, QStride                int
	KOff, VOff, KVStride         int
	Seqs, NQ, NK, Heads, HeadDim int
	Scale                        float32
	KVLen                        string
}

// GateOp is a gated residual add: for r < Rows,
// Dst[r·Cols+i] += Gate[(r/Group)·Stride+Off+i] · Src[r·Cols+i].
type GateOp struct {
	Dst, Src, Gate                 Buf
	Rows, Cols, Group, Stride, Off int
}

// SwapOp reorders token rows: Src viewed as [Outer, A, B, Cols] is written
// to Dst as [Outer, B, A, Cols] (video tokens frame-major ↔ position-major).
type SwapOp struct {
	Dst, Src          Buf
	Outer, A, B, Cols int
}

// GatherOp copies rows: Dst[r] = Src[idx[r]] (Cols values; zeros where
// idx[r] < 0, or Dst[r] unchanged with Keep) for the Feed.Ints entry Index
// (one index per Dst row).
type GatherOp struct {
	Dst, Src Buf
	Cols     int
	Index    string
	Keep     bool
}

// TapOp shows buffer Src (shaped Shape) to Options.Hook under Name (the
// reference fixtures' intermediate names).
type TapOp struct {
	Name  string
	Src   Buf
	Shape []int
}

// BlockOp ends transformer block Index: op-by-op execution checks the
// context and yields here; a device may flush its uploads.
type BlockOp struct{ Index int }

func (*LinearOp) isOp() {}
func (*AddOp) isOp()    {}
func (*SiLUOp) isOp()   {}
func (*NormOp) isOp()   {}
func (*AttnOp) isOp()   {}
func (*GateOp) isOp()   {}
func (*SwapOp) isOp()   {}
func (*GatherOp) isOp() {}
func (*TapOp) isOp()    {}
func (*BlockOp) isOp()  {}

// FLOPs is 2× the multiply-adds of the program's matmuls and attention
// products (every key counted).
func (p *Program) FLOPs() float64 {
	var f float64
	for _, op := range p.Ops {
		switch o := op.(type) {
		case *LinearOp:
			f += 2 * float64(o.Rows) * float64(o.L.W.Rows) * float64(o.L.W.Cols)
		case *AttnOp:
			f += 4 * float64(o.Seqs) * float64(o.Heads) * float64(o.NQ) * float64(o.NK) * float64(o.HeadDim)
		}
	}
	return f
}

// Bytes is the memory a device holding the program needs: the weights
// (each once; quantized ones as the F32 a device dequantizes them to)
// with their biases and the constants, and the activations.
func (p *Program) Bytes() (weights, activations int64) {
	seen := map[*kernels.Weight]bool{}
	for _, op := range p.Ops {
		if o, ok := op.(*LinearOp); ok && !seen[o.L.W] {
			seen[o.L.W] = true
			wb := o.L.W.Bytes()
			if o.L.W.Quantized() {
				lo, hi := o.L.W.Held()
				wb = 4 * int64(hi-lo) * int64(o.L.W.Cols)
			}
			weights += wb + 4*int64(len(o.L.B))
		}
	}
	for b, n := range p.Sizes {
		if _, ok := p.Consts[Buf(b)]; ok {
			weights += 4 * int64(n)
		} else {
			activations += 4 * int64(n)
		}
	}
	return weights, activations
}

// builder assembles a Program.
type builder struct{ p *Program }

func newBuilder() *builder { return &builder{p: &Program{Consts: map[Buf][]float32{}}} }

func (b *builder) buf(n int) Buf {
	b.p.Sizes = append(b.p.Sizes, n)
	return Buf(len(b.p.Sizes) - 1)
}

func (b *builder) input(name string, n int) Buf {
	x := b.buf(n)
	b.p.Inputs = append(b.p.Inputs, x)
	b.p.Names = append(b.p.Names, name)
	return x
}

func (b *builder) constant(v []float32) Buf {
	x := b.buf(len(v))
	b.p.Consts[x] = v
	return x
}

func (b *builder) op(o Op) { b.p.Ops = append(b.p.Ops, o) }

func (b *builder) linear(dst, src Buf, rows int, l *Linear) {
	b.op(&LinearOp{Dst: dst, Src: src, Rows: rows, L: l})
}

func (b *builder) tap(name string, src Buf, shape ...int) {
	b.op(&TapOp{Name: name, Src: src, Shape: shape})
}

// selfAttn appends proj(MHA(z)) for z [seqs·T, H] into out, using qkv [rows, 3H] and att [rows, H] as scratch.
func (b *builder) selfAttn(out, z, qkv, att Buf, seqs, T, H, heads int, qkvL, projL *Linear) {
	rows := seqs * T
	hd := H / heads
	b.linear(qkv, z, rows, qkvL)
	b.op(&AttnOp{Dst: att, Q: qkv, KV: qkv, OutStride: H, QStride: 3 * H, KOff: H, VOff: 2 * H, KVStride: 3 * H,
		Seqs: seqs, NQ: T, NK: T, Heads: heads, HeadDim: hd, Scale: attnScale(hd)})
	b.linear(out, att, rows, projL)
}

// mlp appends fc2(GELU_tanh(fc1(z))) into out, with hid [rows, fc1.W.Rows] as scratch.
func (b *builder) mlp(out, z, hid Buf, rows int, fc1, fc2 *Linear) {
	b.op(&LinearOp{Dst: hid, Src: z, Rows: rows, L: fc1, GELU: true})
	b.linear(out, hid, rows, fc2)
}

// Eager runs p op by op on opt.Backend (the CPU kernels when nil),
// showing TapOps to opt.Hook, checking ctx and calling opt.Yield after
// every block. It returns the Out buffer.
func Eager(ctx context.Context, p *Program, f *Feed, opt *Options) ([]float32, error) {
	if len(f.F32) != len(p.Inputs) {
		return nil, fmt.Errorf("dit: program wants %d inputs, got %d", len(p.Inputs), len(f.F32))
	}
	be := opt.backend()
	bufs := make([][]float32, len(p.Sizes))
	for b, v := range p.Consts {
		bufs[b] = v
	}
	for i, b := range p.Inputs {
		if len(f.F32[i]) != p.Sizes[b] {
			return nil, fmt.Errorf("dit: input %s has %d values, want %d", p.Names[i], len(f.F32[i]), p.Sizes[b])
		}
		bufs[b] = f.F32[i]
	}
	for b, n := range p.Sizes {
		if bufs[b] == nil {
			bufs[b] = make([]float32, n)
		}
	}
	for _, op := range p.Ops {
		switch o := op.(type) {
		case *LinearOp:
			y, x := bufs[o.Dst][:o.Rows*o.L.W.Rows], bufs[o.Src][:o.Rows*o.L.W.Cols]
			if o.GELU {
				be.LinearGELU(y, x, o.Rows, o.L.W, o.L.B)
			} else {
				be.Linear(y, x, o.Rows, o.L.W, o.L.B)
			}
		case *AddOp:
			addRows(bufs[o.Dst], bufs[o.Src], o)
		case *SiLUOp:
			kernels.SiLU(bufs[o.Dst][:o.N], bufs[o.Src][:o.N])
		case *NormOp:
			var sh, sc []float32
			if o.Mod != NoBuf {
				sh, sc = bufs[o.Mod][o.Shift:], bufs[o.Mod][o.Scale:]
			}
			be.LayerNormModulate(bufs[o.Dst], bufs[o.Src], o.Rows, o.Cols, o.Eps, o.Group, sh, sc, o.Stride)
		case *AttnOp:
			var lens []int
			if o.KVLen != "" {
				if lens = f.Ints[o.KVLen]; len(lens) < o.Seqs {
					return nil, fmt.Errorf("dit: integer input %s has %d values, want %d", o.KVLen, len(lens), o.Seqs)
				}
			}
			kv := bufs[o.KV]
			be.Attention(&kernels.AttnArgs{Out: bufs[o.Dst], OutStride: o.OutStride,
				Q: bufs[o.Q][o.QOff:], QStride: o.QStride, K: kv[o.KOff:], V: kv[o.VOff:], KVStride: o.KVStride,
				Seqs: o.Seqs, NQ: o.NQ, NK: o.NK, KVLen: lens, Heads: o.Heads, HeadDim: o.HeadDim, Scale: o.Scale})
		case *GateOp:
			gatedAdd(bufs[o.Dst][:o.Rows*o.Cols], bufs[o.Src], bufs[o.Gate][o.Off:], o.Stride, o.Group, o.Cols)
		case *SwapOp:
			swapRows(bufs[o.Dst], bufs[o.Src], o)
		case *LayerNormOp:
			layerNormAffine(bufs[o.Dst], bufs[o.Src], bufs[o.W], bufs[o.B], o)
		case *CopyOp:
			copyRows(bufs[o.Dst], bufs[o.Src], o)
		case *GatherOp:
			idx := f.Ints[o.Index]
			dst, src := bufs[o.Dst], bufs[o.Src]
			if len(idx)*o.Cols > len(dst) {
				return nil, fmt.Errorf("dit: integer input %s has %d rows, the buffer %d", o.Index, len(idx), len(dst)/o.Cols)
			}
			for r, i := range idx {
				row := dst[r*o.Cols : (r+1)*o.Cols]
				switch {
				case i < 0 && o.Keep:
				case i < 0:
					clear(row)
				default:
					copy(row, src[i*o.Cols:(i+1)*o.Cols])
				}
			}
		case *RMSNormOp:
			rmsNormRows(bufs[o.X], bufs[o.Weight], o)
		case *RoPEOp:
			ropeRows(bufs[o.X], bufs[o.Table], o)
		case *TapOp:
			if opt != nil && opt.Hook != nil {
				n := 1
				for _, s := range o.Shape {
					n *= s
				}
				opt.Hook(o.Name, o.Shape, bufs[o.Src][:n])
			}
		case *BlockOp:
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if y := opt.yield(); y != nil {
				y()
			}
		default:
			return nil, fmt.Errorf("dit: unknown op %T", op)
		}
	}
	return bufs[p.Out][:p.Sizes[p.Out]], nil
}

// ErrHookNeedsEager is returned when Options.Hook is set with a Runner:
// intermediates are only visible op by op.
var ErrHookNeedsEager = errors.New("dit: Options.Hook needs op-by-op execution (Options.Backend); a Runner runs the whole program on its device")

// run executes p as opt says: on opt.Runner when set, else op by op.
func run(ctx context.Context, p *Program, f *Feed, opt *Options) ([]float32, error) {
	if opt != nil && opt.Runner != nil {
		if opt.Hook != nil {
			return nil, ErrHookNeedsEager
		}
		return opt.Runner.Run(ctx, p, f)
	}
	return Eager(ctx, p, f, opt)
}

func addRows(dst, src []float32, o *AddOp) {
	div, C := max(o.Div, 1), o.Cols
	for r := 0; r < o.Rows; r++ {
		sr := r / div
		if o.Mod > 0 {
			sr %= o.Mod
		}
		d, s := dst[r*C:(r+1)*C], src[sr*C:(sr+1)*C]
		if o.Set {
			copy(d, s)
			continue
		}
		for i := range d {
			d[i] += s[i]
		}
	}
}

func swapRows(dst, src []float32, o *SwapOp) {
	C := o.Cols
	for n := 0; n < o.Outer; n++ {
		for a := 0; a < o.A; a++ {
			for b := 0; b < o.B; b++ {
				copy(dst[((n*o.B+b)*o.A+a)*C:][:C], src[((n*o.A+a)*o.B+b)*C:][:C])
			}
		}
	}
}
