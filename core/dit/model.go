// Package dit runs the forward pass of facebookresearch/DiT and Open-Sora 1.0
// STDiT models on the CPU (natively and in WebAssembly), with weights kept
// in their stored dtype (F32, BF16 or F16) and float32 compute.
//
// The wiring follows the reference code top to bottom: patchify → embed →
// blocks → final layer → unpatchify. The middle is a Program (an op list)
// that Options.Backend runs op by op or Options.Runner runs on a device.
package dit

import (
	"context"
	"fmt"

	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/tensor"
)

// Getter returns a state-dict tensor by name, or (nil, nil) when absent.
type Getter func(name string) (*tensor.Dense, error)

// Linear is a weight matrix with an optional float32 bias.
type Linear struct {
	W *kernels.Weight
	B []float32
}

// Block is one adaLN-Zero DiT block.
type Block struct {
	AdaLN, QKV, Proj, FC1, FC2 Linear
}

// Model is a loaded DiT.
type Model struct {
	Cfg      Config
	PosEmbed []float32       // [T, H]
	XEmbed   Linear          // [H, C·p·p]
	TMLP1    Linear          // [H, 256]
	TMLP2    Linear          // [H, H]
	YTable   *kernels.Weight // [K+1, H]
	Blocks   []Block
	FinalAda Linear // [2H, H]
	Final    Linear // [p²·Cout, H]

	progs programs
}

// loadLinear reads name.weight (and name.bias when present) checking shapes.
func loadLinear(get Getter, name string, rows, cols int) (Linear, error) {
	d, err := get(name + ".weight")
	if err != nil {
		return Linear{}, err
	}
	if d == nil {
		return Linear{}, fmt.Errorf("dit: missing %s.weight", name)
	}
	w, err := kernels.NewWeight(d)
	if err != nil {
		return Linear{}, fmt.Errorf("dit: %s.weight: %w", name, err)
	}
	if w.Rows != rows || w.Cols != cols {
		return Linear{}, fmt.Errorf("dit: %s.weight has shape %v, want [%d, %d]", name, d.Shape, rows, cols)
	}
	l := Linear{W: w}
	b, err := get(name + ".bias")
	if err != nil {
		return l, err
	}
	if b != nil {
		if b.Numel() != rows {
			return l, fmt.Errorf("dit: %s.bias has shape %v, want [%d]", name, b.Shape, rows)
		}
		if l.B, err = b.Float32s(); err != nil {
			return l, err
		}
	}
	return l, nil
}

// Load builds a DiT from a state dict. pos_embed is regenerated with the
// upstream formula when the checkpoint lacks it.
func Load(cfg Config, get Getter) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	H, p, C := cfg.HiddenSize, cfg.PatchSize, cfg.InChannels
	m := &Model{Cfg: cfg}
	var err error
	if m.XEmbed, err = loadLinear(get, "x_embedder.proj", H, C*p*p); err != nil {
		return nil, err
	}
	if m.TMLP1, err = loadLinear(get, "t_embedder.mlp.0", H, TimestepFreqs); err != nil {
		return nil, err
	}
	if m.TMLP2, err = loadLinear(get, "t_embedder.mlp.2", H, H); err != nil {
		return nil, err
	}
	yt, err := loadLinear(get, "y_embedder.embedding_table", cfg.NumClasses+b2i(cfg.NullClass), H)
	if err != nil {
		return nil, err
	}
	m.YTable = yt.W
	mh := cfg.MLPHidden()
	for i := 0; i < cfg.Depth; i++ {
		var b Block
		pre := fmt.Sprintf("blocks.%d.", i)
		for _, l := range []struct {
			dst        *Linear
			name       string
			rows, cols int
		}{
			{&b.AdaLN, "adaLN_modulation.1", 6 * H, H},
			{&b.QKV, "attn.qkv", 3 * H, H},
			{&b.Proj, "attn.proj", H, H},
			{&b.FC1, "mlp.fc1", mh, H},
			{&b.FC2, "mlp.fc2", H, mh},
		} {
			if *l.dst, err = loadLinear(get, pre+l.name, l.rows, l.cols); err != nil {
				return nil, err
			}
		}
		m.Blocks = append(m.Blocks, b)
	}
	if m.FinalAda, err = loadLinear(get, "final_layer.adaLN_modulation.1", 2*H, H); err != nil {
		return nil, err
	}
	if m.Final, err = loadLinear(get, "final_layer.linear", p*p*cfg.OutChannels(), H); err != nil {
		return nil, err
	}
	g := cfg.InputSize / p
	pe, err := get("pos_embed")
	if err != nil {
		return nil, err
	}
	if pe != nil {
		if pe.Numel() != g*g*H {
			return nil, fmt.Errorf("dit: pos_embed has shape %v, want [1, %d, %d]", pe.Shape, g*g, H)
		}
		if m.PosEmbed, err = pe.Float32s(); err != nil {
			return nil, err
		}
	} else {
		m.PosEmbed = fix.SinCos2D(H, g, g, 1)
	}
	return m, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// WeightBytes is the memory held by the weights.
func (m *Model) WeightBytes() int64 {
	n := m.YTable.Bytes() + int64(len(m.PosEmbed))*4
	for _, l := range m.linears() {
		n += l.W.Bytes() + int64(len(l.B))*4
	}
	return n
}

func (m *Model) linears() []*Linear {
	ls := []*Linear{&m.XEmbed, &m.TMLP1, &m.TMLP2, &m.FinalAda, &m.Final}
	for i := range m.Blocks {
		b := &m.Blocks[i]
		ls = append(ls, &b.AdaLN, &b.QKV, &b.Proj, &b.FC1, &b.FC2)
	}
	return ls
}

// Forward runs model(x, t, y). x is [N, C, S, S] (S = InputSize) row-major,
// t holds N timesteps, y N labels (NumClasses = null). It returns the
// output [N, Cout, S, S]: patchify, the token program, unpatchify.
func (m *Model) Forward(ctx context.Context, x []float32, t []float64, y []int, opt *Options) ([]float32, error) {
	cfg := m.Cfg
	N := len(t)
	H, p, C, S := cfg.HiddenSize, cfg.PatchSize, cfg.InChannels, cfg.InputSize
	g := S / p
	if len(y) != N || len(x) != N*C*S*S {
		return nil, fmt.Errorf("dit: forward wants x [%d, %d, %d, %d] (%d values, got %d), %d labels (got %d)", N, C, S, S, N*C*S*S, len(x), N, len(y))
	}
	ye := make([]float32, N*H)
	for n, l := range y {
		if l < 0 || l >= m.YTable.Rows {
			return nil, fmt.Errorf("dit: label %d outside [0, %d]", l, m.YTable.Rows-1)
		}
		m.YTable.Row(l, ye[n*H:(n+1)*H])
	}
	patches := patchify(x, N, C, 1, S, S, 1, p, p)
	feed := &Feed{F32: [][]float32{patches, TimestepEmbedding(t, TimestepFreqs), ye}}
	fo, err := run(ctx, m.Program(N), feed, opt)
	if err != nil {
		return nil, err
	}
	out := unpatchify(fo, N, 1, g, g, 1, p, p, cfg.OutChannels())
	opt.hook("out", []int{N, cfg.OutChannels(), S, S}, out)
	return out, nil
}

// Program is the DiT token computation for a batch of n: from the patches
// [n·T, C·p·p], timestep features [n, 256] and label rows [n, H] (its
// inputs, in that order) to final_out [n·T, p²·Cout].
func (m *Model) Program(n int) *Program {
	return m.progs.get(n, func() *Program { return m.program(n) })
}

func (m *Model) program(n int) *Program {
	cfg := m.Cfg
	H, T, mh := cfg.HiddenSize, cfg.Tokens(), cfg.MLPHidden()
	rows := n * T
	po := m.Final.W.Rows
	b := newBuilder()
	patches := b.input("patches", rows*m.XEmbed.W.Cols)
	tfreq := b.input("t_freq", n*TimestepFreqs)
	yemb := b.input("y_emb", n*H)
	pos := b.constant(m.PosEmbed)
	h, t0, t1, c, sc := b.buf(rows*H), b.buf(n*H), b.buf(n*H), b.buf(n*H), b.buf(n*H)
	mod, norm, qkv, att := b.buf(n*6*H), b.buf(rows*H), b.buf(rows*3*H), b.buf(rows*H)
	proj, fc1, fc2, fm, fo := b.buf(rows*H), b.buf(rows*mh), b.buf(rows*H), b.buf(n*2*H), b.buf(rows*po)

	// 1–2. Patch embedding, then the positional embedding.
	b.linear(h, patches, rows, &m.XEmbed)
	b.tap("x_embed", h, n, T, H)
	b.op(&AddOp{Dst: h, Src: pos, Rows: rows, Cols: H, Mod: T})
	b.tap("x_embed_pos", h, n, T, H)
	// 3–5. Conditioning c = t_embedder(t) + y_embedder(y), then SiLU(c).
	b.tap("t_freq", tfreq, n, TimestepFreqs)
	b.linear(t0, tfreq, n, &m.TMLP1)
	b.op(&SiLUOp{Dst: t1, Src: t0, N: n * H})
	b.linear(c, t1, n, &m.TMLP2)
	b.tap("t_emb", c, n, H)
	b.tap("y_emb", yemb, n, H)
	b.op(&AddOp{Dst: c, Src: yemb, Rows: n, Cols: H})
	b.tap("c", c, n, H)
	b.op(&SiLUOp{Dst: sc, Src: c, N: n * H})
	// 6. Blocks: mod = shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
	for i := range m.Blocks {
		bl := &m.Blocks[i]
		b.linear(mod, sc, n, &bl.AdaLN)
		b.tap(fmt.Sprintf("block%d_adaLN", i), mod, n, 6*H)
		b.op(&NormOp{Dst: norm, Src: h, Mod: mod, Rows: rows, Cols: H, Eps: 1e-6, Group: T, Stride: 6 * H, Shift: 0, Scale: H})
		b.selfAttn(proj, norm, qkv, att, n, T, H, cfg.NumHeads, &bl.QKV, &bl.Proj)
		b.tap(fmt.Sprintf("block%d_attn", i), proj, n, T, H)
		b.op(&GateOp{Dst: h, Src: proj, Gate: mod, Rows: rows, Cols: H, Group: T, Stride: 6 * H, Off: 2 * H})
		b.op(&NormOp{Dst: norm, Src: h, Mod: mod, Rows: rows, Cols: H, Eps: 1e-6, Group: T, Stride: 6 * H, Shift: 3 * H, Scale: 4 * H})
		b.mlp(fc2, norm, fc1, rows, &bl.FC1, &bl.FC2)
		b.tap(fmt.Sprintf("block%d_mlp", i), fc2, n, T, H)
		b.op(&GateOp{Dst: h, Src: fc2, Gate: mod, Rows: rows, Cols: H, Group: T, Stride: 6 * H, Off: 5 * H})
		b.tap(fmt.Sprintf("block%d_out", i), h, n, T, H)
		b.op(&BlockOp{Index: i})
	}
	// 7. Final layer.
	b.linear(fm, sc, n, &m.FinalAda)
	b.tap("final_adaLN", fm, n, 2*H)
	b.op(&NormOp{Dst: norm, Src: h, Mod: fm, Rows: rows, Cols: H, Eps: 1e-6, Group: T, Stride: 2 * H, Shift: 0, Scale: H})
	b.linear(fo, norm, rows, &m.Final)
	b.tap("final_out", fo, n, T, po)
	b.p.Out = fo
	return b.p
}

// ForwardWithCFG is DiT's forward_with_cfg: the first half of x is run
// twice (labels y = [class…, null…] as sample.py builds them), the first
// CFGChannels (3) output channels are guided, eps = u + s·(c − u), and
// written to both halves; the other channels pass through per half.
func (m *Model) ForwardWithCFG(ctx context.Context, x []float32, t []float64, y []int, scale float32, opt *Options) ([]float32, error) {
	N := len(t)
	if N%2 != 0 {
		return nil, fmt.Errorf("dit: forward_with_cfg needs an even batch, got %d", N)
	}
	half := len(x) / 2
	comb := make([]float32, len(x))
	copy(comb, x[:half])
	copy(comb[half:], x[:half])
	out, err := m.Forward(ctx, comb, t, y, opt)
	if err != nil {
		return nil, err
	}
	Co := m.Cfg.OutChannels()
	plane := len(out) / (N * Co)
	gc := m.Cfg.cfgChannels()
	for n := 0; n < N/2; n++ {
		for c := 0; c < gc; c++ {
			cond := out[(n*Co+c)*plane:][:plane]
			unc := out[((n+N/2)*Co+c)*plane:][:plane]
			for i := range cond {
				v := unc[i] + scale*(cond[i]-unc[i])
				cond[i], unc[i] = v, v
			}
		}
	}
	return out, nil
}

// FLOPs is 2× the multiply-adds of one forward with batch n.
func (m *Model) FLOPs(n int) float64 { return m.Program(n).FLOPs() }

// ConvertWeights converts every Linear weight of the model (embedders,
// blocks, final layer) to dt, rounding like torch. The label table and
// positional embeddings are untouched.
func (m *Model) ConvertWeights(dt tensor.DType) {
	for _, l := range m.linears() {
		l.W = l.W.ToDType(dt)
	}
	m.progs.reset()
}
