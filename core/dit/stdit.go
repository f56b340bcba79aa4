package dit

import (
	"context"
	"fmt"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// STDiTConfig holds Open-Sora 1.0 STDiT hyperparameters.
type STDiTConfig struct {
	InputSize       []int // latent (T, H, W)
	PatchSize       []int // (pt, ph, pw)
	InChannels      int
	HiddenSize      int
	Depth           int
	NumHeads        int
	MLPRatio        float64
	PredSigma       bool
	CaptionChannels int
	ModelMaxLength  int
	SpaceScale      float64 // only used to regenerate a missing pos_embed
	TimeScale       float64 // only used to regenerate a missing pos_embed_temporal
}

// OutChannels is 2·InChannels with pred_sigma.
func (c STDiTConfig) OutChannels() int { return outChannels(c.InChannels, c.PredSigma) }

func (c STDiTConfig) mlpHidden() int { return mlpHidden(c.HiddenSize, c.MLPRatio) }

func (c STDiTConfig) grid() (gt, gh, gw int) {
	return c.InputSize[0] / c.PatchSize[0], c.InputSize[1] / c.PatchSize[1], c.InputSize[2] / c.PatchSize[2]
}

// stditConfig is the runnable configuration of an "stdit" spec.
func stditConfig(s *spec.Spec) (STDiTConfig, error) {
	c := STDiTConfig{
		InputSize: s.Ints("input_size"), PatchSize: s.Ints("patch_size"), InChannels: s.Int("in_channels"),
		HiddenSize: s.Int("hidden_size"), Depth: s.Int("depth"), NumHeads: s.Int("num_heads"),
		MLPRatio: s.Float("mlp_ratio"), PredSigma: s.Bool("pred_sigma"),
		CaptionChannels: s.Int("caption_channels"), ModelMaxLength: s.Int("model_max_length"),
		SpaceScale: s.Float("space_scale"), TimeScale: s.Float("time_scale"),
	}
	if len(c.InputSize) != 3 || len(c.PatchSize) != 3 {
		return c, fmt.Errorf("stdit: input_size and patch_size need 3 entries")
	}
	if c.NumHeads <= 0 || c.HiddenSize%c.NumHeads != 0 {
		return c, fmt.Errorf("stdit: hidden size %d not divisible by %d heads", c.HiddenSize, c.NumHeads)
	}
	return c, nil
}

// STDiTBlock is one spatial-temporal block.
type STDiTBlock struct {
	ScaleShift        []float32 // [6, H]
	Attn, AttnProj    Linear
	TempQKV, TempProj Linear
	t2iCross          // cross_attn, mlp
}

// STDiT is a loaded Open-Sora 1.0 STDiT (a Net).
type STDiT struct {
	Cfg          STDiTConfig
	spec         *spec.Spec
	PosEmbed     []float32 // [S, H]
	PosEmbedTemp []float32 // [T, H]
	t2iWeights             // embedders, final layer
	Blocks       []STDiTBlock

	progs programs
}

// buildSTDiT reads an Open-Sora 1.0 STDiT; the position tables are
// computed with the upstream formula when the checkpoint lacks them.
func buildSTDiT(s *spec.Spec, r *reader) (Net, error) {
	cfg, err := stditConfig(s)
	if err != nil {
		return nil, err
	}
	H := cfg.HiddenSize
	pt, ph, pw := cfg.PatchSize[0], cfg.PatchSize[1], cfg.PatchSize[2]
	gt, gh, gw := cfg.grid()
	mh := cfg.mlpHidden()
	m := &STDiT{Cfg: cfg, spec: s}
	m.readEmbedders(r, H, cfg.InChannels*pt*ph*pw, cfg.CaptionChannels)
	m.Blocks = make([]STDiTBlock, cfg.Depth)
	for i := range m.Blocks {
		b, pre := &m.Blocks[i], fmt.Sprintf("blocks.%d.", i)
		b.ScaleShift = r.vec(pre+"scale_shift_table", 6*H, false)
		r.linear(&b.Attn, pre+"attn.qkv", 3*H, H)
		r.linear(&b.AttnProj, pre+"attn.proj", H, H)
		r.linear(&b.TempQKV, pre+"attn_temp.qkv", 3*H, H)
		r.linear(&b.TempProj, pre+"attn_temp.proj", H, H)
		b.t2iCross.read(r, pre, H, mh)
	}
	m.readFinal(r, H, pt*ph*pw*cfg.OutChannels())
	m.PosEmbed = r.table("pos_embed", gh*gw*H)
	m.PosEmbedTemp = r.table("pos_embed_temporal", gt*H)
	m.readNullCaption(r, cfg.ModelMaxLength, cfg.CaptionChannels)
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// Forward runs STDiT(x, t, y, mask). x is [B, C, T, H, W] (xShape);
// c.Caption holds the caption embeddings [B, 1, L, Ct] (nil = every sample
// uses the model's own null caption y_embedder.y_embedding), c.Mask [B', L]
// with B divisible by B' (nil = all tokens). It returns [B, Cout, T, H, W]
// and its shape.
func (m *STDiT) Forward(ctx context.Context, x []float32, xShape []int, t []float64, c *Cond, opt *Options) ([]float32, []int, error) {
	var y []float32
	var mask []int
	if c != nil {
		y, mask = c.Caption, c.Mask
	}
	cfg := m.Cfg
	H, C := cfg.HiddenSize, cfg.InChannels
	pt, ph, pw := cfg.PatchSize[0], cfg.PatchSize[1], cfg.PatchSize[2]
	B := len(t)
	if len(xShape) != 5 || xShape[0] != B || xShape[1] != C {
		return nil, nil, fmt.Errorf("stdit: x has shape %v, want [%d, %d, T, H, W]", xShape, B, C)
	}
	Tl, Hl, Wl := xShape[2], xShape[3], xShape[4]
	if Tl%pt != 0 || Hl%ph != 0 || Wl%pw != 0 {
		return nil, nil, fmt.Errorf("stdit: latent %d×%d×%d is not a multiple of the patch %v (padding is not implemented)", Tl, Hl, Wl, cfg.PatchSize)
	}
	gt, gh, gw := Tl/pt, Hl/ph, Wl/pw
	if len(m.PosEmbed) != gh*gw*H || len(m.PosEmbedTemp) < gt*H {
		return nil, nil, fmt.Errorf("stdit: latent grid %d×%d×%d does not match the position tables (%d spatial, %d temporal)", gt, gh, gw, len(m.PosEmbed)/H, len(m.PosEmbedTemp)/H)
	}
	if len(x) != B*C*Tl*Hl*Wl {
		return nil, nil, fmt.Errorf("stdit: x has %d values for shape %v", len(x), xShape)
	}
	cp, err := packCaption("stdit", y, mask, m.YEmbedding, B, cfg.CaptionChannels, cfg.ModelMaxLength)
	if err != nil {
		return nil, nil, err
	}
	L := cp.L
	feed := &Feed{
		F32:  [][]float32{patchify(x, B, C, Tl, Hl, Wl, pt, ph, pw), TimestepEmbedding(t, TimestepFreqs), cp.Y},
		Ints: map[string][]int{"caption_rows": cp.Rows, "caption_len": cp.Lens},
	}
	fo, err := run(ctx, m.Program(B, gt, gh, gw, L), feed, opt)
	if err != nil {
		return nil, nil, err
	}
	Co := cfg.OutChannels()
	out := unpatchify(fo, B, gt, gh, gw, pt, ph, pw, Co)
	shape := []int{B, Co, Tl, Hl, Wl}
	opt.hook("out", shape, out)
	return out, shape, nil
}

// Program is the STDiT token computation for B samples of a gt×gh×gw token
// grid with L caption tokens: inputs the patches [B·T, C·pt·ph·pw],
// timestep features [B, 256] and captions [B·L, Ct]; integer inputs
// caption_rows (each sample's valid caption rows packed first, −1 after)
// and caption_len (valid tokens per sample); out final_out.
func (m *STDiT) Program(B, gt, gh, gw, L int) *Program {
	return m.progs.get([5]int{B, gt, gh, gw, L}, func() *Program { return m.program(B, gt, gh, gw, L) })
}

func (m *STDiT) program(B, gt, gh, gw, L int) *Program {
	cfg := m.Cfg
	H, S, Ct, mh := cfg.HiddenSize, gh*gw, cfg.CaptionChannels, cfg.mlpHidden()
	N := gt * S // tokens per sample
	rows := B * N
	heads := cfg.NumHeads
	b := newBuilder()
	patches := b.input("patches", rows*m.XEmbed.W.Cols)
	tfreq := b.input("t_freq", B*TimestepFreqs)
	caption := b.input("caption", B*L*Ct)
	pos, posT := b.constant(m.PosEmbed), b.constant(m.PosEmbedTemp[:gt*H])
	h, t1a, t1b, te, st, t0 := b.buf(rows*H), b.buf(B*H), b.buf(B*H), b.buf(B*H), b.buf(B*H), b.buf(B*6*H)
	yp, yhid, ypk, kv := b.buf(B*L*H), b.buf(B*L*H), b.buf(B*L*H), b.buf(B*L*2*H)
	mod, norm, qkv, att := b.buf(B*6*H), b.buf(rows*H), b.buf(rows*3*H), b.buf(rows*H)
	proj, tmp, tmp2, fc1, fc2 := b.buf(rows*H), b.buf(rows*H), b.buf(rows*H), b.buf(rows*mh), b.buf(rows*H)
	fm, fo := b.buf(B*2*H), b.buf(rows*m.Final.W.Rows)

	b.linear(h, patches, rows, &m.XEmbed)
	b.op(&AddOp{Dst: h, Src: pos, Rows: rows, Cols: H, Mod: S})
	// Timestep: te (raw, for the final layer) and t0 = t_block(te).
	b.tap("t_freq", tfreq, B, TimestepFreqs)
	b.siluMLP(te, tfreq, t1a, t1b, B, &m.TMLP1, &m.TMLP2)
	b.tap("t_emb", te, B, H)
	b.op(&SiLUOp{Dst: st, Src: te, N: B * H})
	b.linear(t0, st, B, &m.TBlock)
	// Captions: y_proj, then each sample's valid tokens packed first.
	b.mlp(yp, caption, yhid, B*L, &m.YProj1, &m.YProj2)
	b.op(&GatherOp{Dst: ypk, Src: yp, Cols: H, Index: "caption_rows"})
	for bi := range m.Blocks {
		blk := &m.Blocks[bi]
		b.t2iMod(mod, t0, blk.ScaleShift, B, H)
		// Spatial attention over [(B·T), S, H].
		b.op(&NormOp{Dst: norm, Src: h, Mod: mod, Rows: rows, Cols: H, Eps: 1e-6, Group: N, Stride: 6 * H, Shift: 0, Scale: H})
		b.selfAttn(proj, norm, qkv, att, B*gt, S, H, heads, &blk.Attn, &blk.AttnProj)
		b.op(&GateOp{Dst: h, Src: proj, Gate: mod, Rows: rows, Cols: H, Group: N, Stride: 6 * H, Off: 2 * H})
		// Temporal attention over [(B·S), T, H]: no norm, no modulation;
		// block 0 adds pos_embed_temporal to its input only.
		b.op(&SwapOp{Dst: norm, Src: h, Outer: B, A: gt, B: S, Cols: H})
		if bi == 0 {
			b.op(&AddOp{Dst: norm, Src: posT, Rows: rows, Cols: H, Mod: gt})
		}
		b.selfAttn(tmp, norm, qkv, att, B*S, gt, H, heads, &blk.TempQKV, &blk.TempProj)
		b.op(&SwapOp{Dst: tmp2, Src: tmp, Outer: B, A: S, B: gt, Cols: H})
		b.op(&GateOp{Dst: h, Src: tmp2, Gate: mod, Rows: rows, Cols: H, Group: N, Stride: 6 * H, Off: 2 * H})
		// Cross-attention to the packed caption tokens (no norm, no gate).
		b.captionCrossAttn(h, ypk, att, kv, tmp, proj, B, N, L, H, heads, &blk.CrossQ, &blk.CrossKV, &blk.CrossProj)
		b.t2iMLP(h, mod, norm, fc1, fc2, rows, N, H, &blk.FC1, &blk.FC2)
		b.tap(fmt.Sprintf("block%d_out", bi), h, B, N, H)
		b.op(&BlockOp{Index: bi})
	}
	// T2IFinalLayer with the raw t: shift = sst[0] + t, scale = sst[1] + t.
	b.t2iFinal(fo, h, te, fm, norm, m.FinalShift, B, rows, N, H, &m.Final)
	b.p.Out = fo
	return b.p
}

// Spec implements Net.
func (m *STDiT) Spec() *spec.Spec { return m.spec }

// Latent implements Net: [C, T, H, W].
func (m *STDiT) Latent() []int {
	return append([]int{m.Cfg.InChannels}, m.Cfg.InputSize...)
}

// OutChannels implements Net.
func (m *STDiT) OutChannels() int { return m.Cfg.OutChannels() }

// LearnSigma implements Net (pred_sigma).
func (m *STDiT) LearnSigma() bool { return m.Cfg.PredSigma }

// Classes implements Net: a caption model has none.
func (m *STDiT) Classes() int { return 0 }

// Guided implements Net: Open-Sora 1.0's STDiT has no forward_with_cfg.
func (m *STDiT) Guided() int { return 0 }

// Null implements Net: the model's own null caption for every sample.
func (m *STDiT) Null(n int) (*Cond, error) { return nullCaption("stdit", m.YEmbedding, n) }

// FLOPs is 2× the multiply-adds of one forward with batch n at the
// configured size and caption length.
func (m *STDiT) FLOPs(n int) float64 {
	gt, gh, gw := m.Cfg.grid()
	return m.Program(n, gt, gh, gw, m.Cfg.ModelMaxLength).FLOPs()
}

func (m *STDiT) linears() []*Linear {
	ls := m.t2iWeights.linears()
	for i := range m.Blocks {
		b := &m.Blocks[i]
		ls = append(append(ls, &b.Attn, &b.AttnProj, &b.TempQKV, &b.TempProj), b.t2iCross.linears()...)
	}
	return ls
}

// ConvertWeights converts every Linear weight of the STDiT to dt.
func (m *STDiT) ConvertWeights(dt tensor.DType) {
	convertWeights(m.linears(), dt)
	m.progs.reset()
}

// WeightBytes implements Net.
func (m *STDiT) WeightBytes() int64 {
	n := 4 * int64(len(m.PosEmbed)+len(m.PosEmbedTemp)+len(m.YEmbedding)+len(m.FinalShift)+6*m.Cfg.HiddenSize*len(m.Blocks))
	return n + linearBytes(m.linears())
}

// captionCrossAttn appends Open-Sora's MultiHeadCrossAttention with its
// residual: h += proj(MHA(q(h), kv(ypk))) where each of the B samples'
// N query rows attends to the first caption_len[b] of its L packed caption
// rows (xformers' BlockDiagonalMask); q [B·N, H], kv [B·L, 2H], att and
// proj [B·N, H] are scratch.
func (b *builder) captionCrossAttn(h, ypk, q, kv, att, proj Buf, B, N, L, H, heads int, ql, kvl, pl *Linear) {
	hd := H / heads
	b.linear(q, h, B*N, ql)
	b.linear(kv, ypk, B*L, kvl)
	b.op(&AttnOp{Dst: att, Q: q, KV: kv, OutStride: H, QStride: H, KOff: 0, VOff: H, KVStride: 2 * H,
		Seqs: B, NQ: N, NK: L, Heads: heads, HeadDim: hd, Scale: attnScale(hd), KVLen: "caption_len"})
	b.linear(proj, att, B*N, pl)
	b.op(&AddOp{Dst: h, Src: proj, Rows: B * N, Cols: H})
}

// captionPack is a batch's caption input for a program: the embeddings
// [B·L, Ct] (the model's null caption where none was given), each
// sample's valid rows packed first (Rows, −1 after) and their count (Lens):
// what xformers' BlockDiagonalMask over the packed tokens attends to.
type captionPack struct {
	Y          []float32
	Rows, Lens []int
	L          int
}

// packCaption checks a caption y [B, 1, L, Ct] (nil: null [L, Ct] for
// every sample) and its mask [B', L] (B divisible by B', rows repeated as
// torch's mask.repeat; nil: every token) and packs it.
func packCaption(family string, y []float32, mask []int, null []float32, B, Ct, L int) (*captionPack, error) {
	if y == nil {
		if null == nil {
			return nil, fmt.Errorf("%s: no caption given and the checkpoint has no y_embedder.y_embedding", family)
		}
		y = make([]float32, B*len(null))
		for b := 0; b < B; b++ {
			copy(y[b*len(null):], null)
		}
		L = len(null) / Ct
	} else {
		if B == 0 || len(y)%(B*Ct) != 0 || len(y) == 0 {
			return nil, fmt.Errorf("%s: caption has %d values, not [%d, 1, L, %d]", family, len(y), B, Ct)
		}
		L = len(y) / (B * Ct)
	}
	if mask != nil {
		if len(mask) == 0 || len(mask)%L != 0 || B%(len(mask)/L) != 0 {
			return nil, fmt.Errorf("%s: mask has %d values, not [B, %d] for a batch of %d", family, len(mask), L, B)
		}
	}
	p := &captionPack{Y: y, Rows: make([]int, B*L), Lens: make([]int, B), L: L}
	for i := range p.Rows {
		p.Rows[i] = -1
	}
	for b := 0; b < B; b++ {
		for l := 0; l < L; l++ {
			if mask == nil || mask[(b%(len(mask)/L))*L+l] != 0 {
				p.Rows[b*L+p.Lens[b]] = b*L + l
				p.Lens[b]++
			}
		}
	}
	return p, nil
}

// nullCaption is the conditioning of n samples with a model's own null
// caption (y_embedder.y_embedding), as T5Encoder.null builds it.
func nullCaption(family string, emb []float32, n int) (*Cond, error) {
	if emb == nil {
		return nil, fmt.Errorf("%s: the checkpoint has no y_embedder.y_embedding (null caption)", family)
	}
	y := make([]float32, 0, n*len(emb))
	for range n {
		y = append(y, emb...)
	}
	return &Cond{Caption: y}, nil
}
