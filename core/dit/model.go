package dit

import (
	"context"
	"fmt"

	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// Linear is a weight matrix with an optional float32 bias.
type Linear struct {
	W *kernels.Weight
	B []float32
}

// Block is one adaLN-Zero DiT block.
type Block struct {
	AdaLN, QKV, Proj, FC1, FC2 Linear
}

// ditWeights are the weights of a facebookresearch/DiT model, which Latte
// shares.
type ditWeights struct {
	PosEmbed []float32       // [T, H]
	XEmbed   Linear          // [H, C·p·p]
	TMLP1    Linear          // [H, 256]
	TMLP2    Linear          // [H, H]
	YTable   *kernels.Weight // [K+1, H] (nil without labels)
	Blocks   []Block
	FinalAda Linear // [2H, H]
	Final    Linear // [p²·Cout, H]
}

// read reads them (the label table when labels); pos_embed is computed
// with the upstream formula when the checkpoint lacks it.
func (w *ditWeights) read(r *reader, cfg Config, labels bool) {
	H, p, C, mh := cfg.HiddenSize, cfg.PatchSize, cfg.InChannels, cfg.MLPHidden()
	r.linear(&w.XEmbed, "x_embedder.proj", H, C*p*p)
	r.timestepEmbedder(&w.TMLP1, &w.TMLP2, "t_embedder", H)
	if labels {
		var yt Linear
		rows := cfg.NumClasses
		if cfg.NullClass {
			rows++
		}
		r.matrix(&yt, "y_embedder.embedding_table", rows, H)
		w.YTable = yt.W
	}
	w.Blocks = make([]Block, cfg.Depth)
	for i := range w.Blocks {
		b, pre := &w.Blocks[i], fmt.Sprintf("blocks.%d.", i)
		r.linear(&b.AdaLN, pre+"adaLN_modulation.1", 6*H, H)
		r.linear(&b.QKV, pre+"attn.qkv", 3*H, H)
		r.linear(&b.Proj, pre+"attn.proj", H, H)
		r.linear(&b.FC1, pre+"mlp.fc1", mh, H)
		r.linear(&b.FC2, pre+"mlp.fc2", H, mh)
	}
	r.linear(&w.FinalAda, "final_layer.adaLN_modulation.1", 2*H, H)
	r.linear(&w.Final, "final_layer.linear", p*p*cfg.OutChannels(), H)
	w.PosEmbed = r.table("pos_embed", cfg.Tokens()*H)
}

func (w *ditWeights) linears() []*Linear {
	ls := []*Linear{&w.XEmbed, &w.TMLP1, &w.TMLP2, &w.FinalAda, &w.Final}
	for i := range w.Blocks {
		b := &w.Blocks[i]
		ls = append(ls, &b.AdaLN, &b.QKV, &b.Proj, &b.FC1, &b.FC2)
	}
	return ls
}

// labelRows writes the label table's rows of labels into [N, H].
func (w *ditWeights) labelRows(labels []int, H int) ([]float32, error) {
	ye := make([]float32, len(labels)*H)
	for n, l := range labels {
		if l < 0 || l >= w.YTable.Rows {
			return nil, fmt.Errorf("label %d outside [0, %d]", l, w.YTable.Rows-1)
		}
		w.YTable.Row(l, ye[n*H:(n+1)*H])
	}
	return ye, nil
}

// Model is a loaded DiT (a Net).
type Model struct {
	Cfg  Config
	spec *spec.Spec
	ditWeights

	progs programs
}

// buildDiT reads a facebookresearch/DiT model; pos_embed is computed with
// the upstream formula when the checkpoint lacks it.
func buildDiT(s *spec.Spec, r *reader) (Net, error) {
	cfg, err := ditConfig(s)
	if err != nil {
		return nil, err
	}
	m := &Model{Cfg: cfg, spec: s}
	m.read(r, cfg, true)
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// WeightBytes implements Net.
func (m *Model) WeightBytes() int64 {
	return m.YTable.Bytes() + int64(len(m.PosEmbed))*4 + linearBytes(m.linears())
}

func linearBytes(ls []*Linear) int64 {
	var n int64
	for _, l := range ls {
		n += l.W.Bytes() + int64(len(l.B))*4
	}
	return n
}

func convertWeights(ls []*Linear, dt tensor.DType) {
	for _, l := range ls {
		l.W = l.W.ToDType(dt)
	}
}

// Forward runs model(x, t, y): x is [N, C, S, S] (S = InputSize), t holds
// N timesteps, c.Labels N labels (NumClasses = null). It returns the
// output [N, Cout, S, S]: patchify, the token program, unpatchify.
func (m *Model) Forward(ctx context.Context, x []float32, shape []int, t []float64, c *Cond, opt *Options) ([]float32, []int, error) {
	cfg := m.Cfg
	N := len(t)
	H, p, C, S := cfg.HiddenSize, cfg.PatchSize, cfg.InChannels, cfg.InputSize
	g := S / p
	var y []int
	if c != nil {
		y = c.Labels
	}
	if len(y) != N || len(x) != N*C*S*S || !tensor.EqualShape(shape, []int{N, C, S, S}) {
		return nil, nil, fmt.Errorf("dit: forward wants x [%d, %d, %d, %d] (got %v, %d values) and %d labels (got %d)", N, C, S, S, shape, len(x), N, len(y))
	}
	ye, err := m.labelRows(y, H)
	if err != nil {
		return nil, nil, fmt.Errorf("dit: %w", err)
	}
	patches := patchify(x, N, C, 1, S, S, 1, p, p)
	feed := &Feed{F32: [][]float32{patches, TimestepEmbedding(t, TimestepFreqs), ye}}
	fo, err := run(ctx, m.Program(N), feed, opt)
	if err != nil {
		return nil, nil, err
	}
	oshape := []int{N, cfg.OutChannels(), S, S}
	out := unpatchify(fo, N, 1, g, g, 1, p, p, cfg.OutChannels())
	opt.hook("out", oshape, out)
	return out, oshape, nil
}

// Spec implements Net.
func (m *Model) Spec() *spec.Spec { return m.spec }

// Latent implements Net: [C, S, S].
func (m *Model) Latent() []int {
	return []int{m.Cfg.InChannels, m.Cfg.InputSize, m.Cfg.InputSize}
}

// OutChannels implements Net.
func (m *Model) OutChannels() int { return m.Cfg.OutChannels() }

// LearnSigma implements Net.
func (m *Model) LearnSigma() bool { return m.Cfg.LearnSigma }

// Classes implements Net.
func (m *Model) Classes() int { return m.Cfg.NumClasses }

// Guided implements Net: forward_with_cfg guides the first 3 channels.
func (m *Model) Guided() int { return m.Cfg.cfgChannels() }

// Null implements Net: the null label for every sample.
func (m *Model) Null(n int) (*Cond, error) {
	if !m.Cfg.NullClass {
		return nil, fmt.Errorf("the label table has no null class: classifier-free guidance is impossible (use a guidance scale of 1)")
	}
	y := make([]int, n)
	for i := range y {
		y[i] = m.Cfg.NullLabel()
	}
	return &Cond{Labels: y}, nil
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
	s := ditScratch{mod: b.buf(n * 6 * H), norm: b.buf(rows * H), qkv: b.buf(rows * 3 * H), att: b.buf(rows * H),
		proj: b.buf(rows * H), fc1: b.buf(rows * mh), fc2: b.buf(rows * H)}
	fm, fo := b.buf(n*2*H), b.buf(rows*po)

	// 1–2. Patch embedding, then the positional embedding.
	b.linear(h, patches, rows, &m.XEmbed)
	b.tap("x_embed", h, n, T, H)
	b.op(&AddOp{Dst: h, Src: pos, Rows: rows, Cols: H, Mod: T})
	b.tap("x_embed_pos", h, n, T, H)
	// 3–5. Conditioning c = t_embedder(t) + y_embedder(y), then SiLU(c).
	b.tap("t_freq", tfreq, n, TimestepFreqs)
	b.siluMLP(c, tfreq, t0, t1, n, &m.TMLP1, &m.TMLP2)
	b.tap("t_emb", c, n, H)
	b.tap("y_emb", yemb, n, H)
	b.op(&AddOp{Dst: c, Src: yemb, Rows: n, Cols: H})
	b.tap("c", c, n, H)
	b.op(&SiLUOp{Dst: sc, Src: c, N: n * H})
	// 6. Blocks.
	for i := range m.Blocks {
		b.ditBlock(&m.Blocks[i], h, sc, s, n, rows, n, T, T, H, cfg.NumHeads, func(part string) string {
			return fmt.Sprintf("block%d_%s", i, part)
		})
		b.op(&BlockOp{Index: i})
	}
	// 7. Final layer.
	b.linear(fm, sc, n, &m.FinalAda)
	b.tap("final_adaLN", fm, n, 2*H)
	b.op(&NormOp{Dst: s.norm, Src: h, Mod: fm, Rows: rows, Cols: H, Eps: 1e-6, Group: T, Stride: 2 * H, Shift: 0, Scale: H})
	b.linear(fo, s.norm, rows, &m.Final)
	b.tap("final_out", fo, n, T, po)
	b.p.Out = fo
	return b.p
}

// ditScratch are a DiT block's activation buffers: mod [n, 6H], norm,
// att, proj, fc2 [rows, H], qkv [rows, 3H], fc1 [rows, mlp hidden].
type ditScratch struct{ mod, norm, qkv, att, proj, fc1, fc2 Buf }

// ditBlock appends one adaLN-Zero DiT block on h [rows, H]: mod =
// adaLN_modulation(sc) for n conditionings (one per group of rows),
// attention over seqs sequences of seqLen tokens, then the MLP. name
// names the taps of its parts (adaLN, attn, mlp, out; "" for none).
func (b *builder) ditBlock(bl *Block, h, sc Buf, s ditScratch, n, rows, seqs, seqLen, group, H, heads int, name func(part string) string) {
	tap := func(part string, src Buf, shape ...int) {
		if nm := name(part); nm != "" {
			b.tap(nm, src, shape...)
		}
	}
	tokens := []int{seqs, seqLen, H}
	// mod = shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
	b.linear(s.mod, sc, n, &bl.AdaLN)
	tap("adaLN", s.mod, n, 6*H)
	b.op(&NormOp{Dst: s.norm, Src: h, Mod: s.mod, Rows: rows, Cols: H, Eps: 1e-6, Group: group, Stride: 6 * H, Shift: 0, Scale: H})
	b.selfAttn(s.proj, s.norm, s.qkv, s.att, seqs, seqLen, H, heads, &bl.QKV, &bl.Proj)
	tap("attn", s.proj, tokens...)
	b.op(&GateOp{Dst: h, Src: s.proj, Gate: s.mod, Rows: rows, Cols: H, Group: group, Stride: 6 * H, Off: 2 * H})
	b.op(&NormOp{Dst: s.norm, Src: h, Mod: s.mod, Rows: rows, Cols: H, Eps: 1e-6, Group: group, Stride: 6 * H, Shift: 3 * H, Scale: 4 * H})
	b.mlp(s.fc2, s.norm, s.fc1, rows, &bl.FC1, &bl.FC2)
	tap("mlp", s.fc2, tokens...)
	b.op(&GateOp{Dst: h, Src: s.fc2, Gate: s.mod, Rows: rows, Cols: H, Group: group, Stride: 6 * H, Off: 5 * H})
	tap("out", h, tokens...)
}

// FLOPs is 2× the multiply-adds of one forward with batch n.
func (m *Model) FLOPs(n int) float64 { return m.Program(n).FLOPs() }

// ConvertWeights converts every Linear weight of the model (embedders,
// blocks, final layer) to dt, rounding like torch. The label table and
// positional embeddings are untouched.
func (m *Model) ConvertWeights(dt tensor.DType) {
	convertWeights(m.linears(), dt)
	m.progs.reset()
}
