package dit

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ditkit/ditkit/core/fix"
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
func (c STDiTConfig) OutChannels() int {
	if c.PredSigma {
		return 2 * c.InChannels
	}
	return c.InChannels
}

func (c STDiTConfig) mlpHidden() int {
	r := c.MLPRatio
	if r == 0 {
		r = 4
	}
	return int(float64(c.HiddenSize) * r)
}

func (c STDiTConfig) grid() (gt, gh, gw int) {
	return c.InputSize[0] / c.PatchSize[0], c.InputSize[1] / c.PatchSize[1], c.InputSize[2] / c.PatchSize[2]
}

// STDiTConfigFromShapes derives the config from state-dict shapes (heads
// as for ConfigFromShapes: given, or 16 for H=1152).
func STDiTConfigFromShapes(infos []tensor.Info, heads int) (STDiTConfig, error) {
	by := map[string][]int{}
	for _, in := range infos {
		by[in.Name] = in.Shape
	}
	c := STDiTConfig{MLPRatio: 4, SpaceScale: 1, TimeScale: 1}
	xw := by["x_embedder.proj.weight"]
	if len(xw) != 5 {
		return c, fmt.Errorf("stdit: x_embedder.proj.weight has shape %v, want [H, C, pt, ph, pw]", xw)
	}
	c.HiddenSize, c.InChannels, c.PatchSize = xw[0], xw[1], []int{xw[2], xw[3], xw[4]}
	for name := range by {
		if rest, ok := strings.CutPrefix(name, "blocks."); ok {
			if i := strings.IndexByte(rest, '.'); i > 0 {
				if n, err := strconv.Atoi(rest[:i]); err == nil && n+1 > c.Depth {
					c.Depth = n + 1
				}
			}
		}
	}
	pe, pt := by["pos_embed"], by["pos_embed_temporal"]
	if len(pe) != 3 || len(pt) != 3 {
		return c, fmt.Errorf("stdit: pos_embed / pos_embed_temporal missing: give the architecture (--arch/--spec)")
	}
	g := int(math.Round(math.Sqrt(float64(pe[1]))))
	if g*g != pe[1] {
		return c, fmt.Errorf("stdit: pos_embed has %d tokens, not a square grid", pe[1])
	}
	c.InputSize = []int{pt[1] * c.PatchSize[0], g * c.PatchSize[1], g * c.PatchSize[2]}
	if ye := by["y_embedder.y_embedding"]; len(ye) == 2 {
		c.ModelMaxLength, c.CaptionChannels = ye[0], ye[1]
	} else if f1 := by["y_embedder.y_proj.fc1.weight"]; len(f1) == 2 {
		c.CaptionChannels, c.ModelMaxLength = f1[1], 120
	}
	if fw := by["final_layer.linear.weight"]; len(fw) == 2 {
		c.PredSigma = fw[0]/(c.PatchSize[0]*c.PatchSize[1]*c.PatchSize[2]) == 2*c.InChannels
	}
	if f1 := by["blocks.0.mlp.fc1.weight"]; len(f1) == 2 {
		c.MLPRatio = float64(f1[0]) / float64(c.HiddenSize)
	}
	c.NumHeads = heads
	if c.NumHeads <= 0 {
		c.NumHeads = headsByHidden[c.HiddenSize]
		if c.NumHeads == 0 {
			return c, fmt.Errorf("stdit: hidden size %d is not a published size: the head count must be given", c.HiddenSize)
		}
	}
	return c, nil
}

// STDiTBlock is one spatial-temporal block.
type STDiTBlock struct {
	ScaleShift                 []float32 // [6, H]
	Attn, AttnProj             Linear
	TempQKV, TempProj          Linear
	CrossQ, CrossKV, CrossProj Linear
	FC1, FC2                   Linear
}

// STDiT is a loaded Open-Sora 1.0 STDiT.
type STDiT struct {
	Cfg          STDiTConfig
	PosEmbed     []float32 // [S, H]
	PosEmbedTemp []float32 // [T, H]
	XEmbed       Linear    // [H, C·pt·ph·pw]
	TMLP1, TMLP2 Linear
	TBlock       Linear    // [6H, H]
	YProj1       Linear    // [H, Ct]
	YProj2       Linear    // [H, H]
	YEmbedding   []float32 // null caption [L, Ct]
	Blocks       []STDiTBlock
	FinalShift   []float32 // scale_shift_table [2, H]
	Final        Linear

	progs programs
}

// LoadSTDiT builds an STDiT from a state dict.
func LoadSTDiT(cfg STDiTConfig, get Getter) (*STDiT, error) {
	if len(cfg.InputSize) != 3 || len(cfg.PatchSize) != 3 {
		return nil, fmt.Errorf("stdit: input_size and patch_size need 3 entries")
	}
	H := cfg.HiddenSize
	if cfg.NumHeads <= 0 || H%cfg.NumHeads != 0 {
		return nil, fmt.Errorf("stdit: hidden size %d not divisible by %d heads", H, cfg.NumHeads)
	}
	pt, ph, pw := cfg.PatchSize[0], cfg.PatchSize[1], cfg.PatchSize[2]
	m := &STDiT{Cfg: cfg}
	var err error
	ld := func(dst *Linear, name string, rows, cols int) {
		if err == nil {
			*dst, err = loadLinear(get, name, rows, cols)
		}
	}
	vec := func(name string, n int) []float32 {
		if err != nil {
			return nil
		}
		var d *tensor.Dense
		if d, err = get(name); err != nil {
			return nil
		}
		if d == nil {
			err = fmt.Errorf("stdit: missing %s", name)
			return nil
		}
		if d.Numel() != n {
			err = fmt.Errorf("stdit: %s has shape %v, want %d values", name, d.Shape, n)
			return nil
		}
		var v []float32
		v, err = d.Float32s()
		return v
	}
	mh := cfg.mlpHidden()
	ld(&m.XEmbed, "x_embedder.proj", H, cfg.InChannels*pt*ph*pw)
	ld(&m.TMLP1, "t_embedder.mlp.0", H, TimestepFreqs)
	ld(&m.TMLP2, "t_embedder.mlp.2", H, H)
	ld(&m.TBlock, "t_block.1", 6*H, H)
	ld(&m.YProj1, "y_embedder.y_proj.fc1", H, cfg.CaptionChannels)
	ld(&m.YProj2, "y_embedder.y_proj.fc2", H, H)
	for i := 0; i < cfg.Depth && err == nil; i++ {
		var b STDiTBlock
		pre := fmt.Sprintf("blocks.%d.", i)
		b.ScaleShift = vec(pre+"scale_shift_table", 6*H)
		ld(&b.Attn, pre+"attn.qkv", 3*H, H)
		ld(&b.AttnProj, pre+"attn.proj", H, H)
		ld(&b.TempQKV, pre+"attn_temp.qkv", 3*H, H)
		ld(&b.TempProj, pre+"attn_temp.proj", H, H)
		ld(&b.CrossQ, pre+"cross_attn.q_linear", H, H)
		ld(&b.CrossKV, pre+"cross_attn.kv_linear", 2*H, H)
		ld(&b.CrossProj, pre+"cross_attn.proj", H, H)
		ld(&b.FC1, pre+"mlp.fc1", mh, H)
		ld(&b.FC2, pre+"mlp.fc2", H, mh)
		m.Blocks = append(m.Blocks, b)
	}
	m.FinalShift = vec("final_layer.scale_shift_table", 2*H)
	ld(&m.Final, "final_layer.linear", pt*ph*pw*cfg.OutChannels(), H)
	if err != nil {
		return nil, err
	}
	gt, gh, gw := cfg.grid()
	opt := func(name string, n int, gen func() []float32) []float32 {
		if err != nil {
			return nil
		}
		d, e := get(name)
		if e != nil {
			err = e
			return nil
		}
		if d == nil {
			return gen()
		}
		return vec(name, n)
	}
	ss, ts := cfg.SpaceScale, cfg.TimeScale
	if ss == 0 {
		ss = 1
	}
	if ts == 0 {
		ts = 1
	}
	m.PosEmbed = opt("pos_embed", gh*gw*H, func() []float32 { return fix.SinCos2D(H, gh, gw, ss) })
	m.PosEmbedTemp = opt("pos_embed_temporal", gt*H, func() []float32 { return fix.SinCos1D(H, gt, ts) })
	m.YEmbedding = opt("y_embedder.y_embedding", cfg.ModelMaxLength*cfg.CaptionChannels, func() []float32 { return nil })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Forward runs STDiT(x, t, y, mask). x is [B, C, T, H, W] (xShape), y the
// caption embeddings [B, 1, L, Ct] (nil = every sample uses the model's
// own null caption y_embedder.y_embedding), mask [B', L] with B divisible
// by B' (nil = all tokens). It returns [B, Cout, T, H, W] and its shape.
func (m *STDiT) Forward(ctx context.Context, x []float32, xShape []int, t []float64, y []float32, mask []int, opt *Options) ([]float32, []int, error) {
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
	Ct := cfg.CaptionChannels
	L := cfg.ModelMaxLength
	if y == nil {
		if m.YEmbedding == nil {
			return nil, nil, fmt.Errorf("stdit: no caption given and the checkpoint has no y_embedder.y_embedding")
		}
		y = make([]float32, B*L*Ct)
		for b := 0; b < B; b++ {
			copy(y[b*L*Ct:], m.YEmbedding)
		}
	} else {
		if len(y)%(B*Ct) != 0 {
			return nil, nil, fmt.Errorf("stdit: caption has %d values, not [%d, 1, L, %d]", len(y), B, Ct)
		}
		L = len(y) / (B * Ct)
	}
	if len(x) != B*C*Tl*Hl*Wl {
		return nil, nil, fmt.Errorf("stdit: x has %d values for shape %v", len(x), xShape)
	}
	// Each sample's valid caption tokens packed to the front of its L rows
	// (the rest zero and never attended).
	lens, rows := make([]int, B), make([]int, B*L)
	for i := range rows {
		rows[i] = -1
	}
	if mask != nil {
		if len(mask)%L != 0 || B%(len(mask)/L) != 0 {
			return nil, nil, fmt.Errorf("stdit: mask has %d values, not [B, %d]", len(mask), L)
		}
	}
	for b := 0; b < B; b++ {
		for l := 0; l < L; l++ {
			if mask == nil || mask[(b%(len(mask)/L))*L+l] != 0 {
				rows[b*L+lens[b]] = b*L + l
				lens[b]++
			}
		}
	}
	feed := &Feed{
		F32:  [][]float32{patchify(x, B, C, Tl, Hl, Wl, pt, ph, pw), TimestepEmbedding(t, TimestepFreqs), y},
		Ints: map[string][]int{"caption_rows": rows, "caption_len": lens},
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
	hd := H / heads
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
	b.linear(t1a, tfreq, B, &m.TMLP1)
	b.op(&SiLUOp{Dst: t1b, Src: t1a, N: B * H})
	b.linear(te, t1b, B, &m.TMLP2)
	b.tap("t_emb", te, B, H)
	b.op(&SiLUOp{Dst: st, Src: te, N: B * H})
	b.linear(t0, st, B, &m.TBlock)
	// Captions: y_proj, then each sample's valid tokens packed first.
	b.mlp(yp, caption, yhid, B*L, &m.YProj1, &m.YProj2)
	b.op(&GatherOp{Dst: ypk, Src: yp, Cols: H, Index: "caption_rows"})
	for bi := range m.Blocks {
		blk := &m.Blocks[bi]
		b.op(&AddOp{Dst: mod, Src: t0, Rows: B, Cols: 6 * H, Set: true})
		b.op(&AddOp{Dst: mod, Src: b.constant(blk.ScaleShift), Rows: B, Cols: 6 * H, Mod: 1})
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
		b.linear(att, h, rows, &blk.CrossQ)
		b.linear(kv, ypk, B*L, &blk.CrossKV)
		b.op(&AttnOp{Dst: tmp, Q: att, KV: kv, OutStride: H, QStride: H, KOff: 0, VOff: H, KVStride: 2 * H,
			Seqs: B, NQ: N, NK: L, Heads: heads, HeadDim: hd, Scale: attnScale(hd), KVLen: "caption_len"})
		b.linear(proj, tmp, rows, &blk.CrossProj)
		b.op(&AddOp{Dst: h, Src: proj, Rows: rows, Cols: H})
		// MLP.
		b.op(&NormOp{Dst: norm, Src: h, Mod: mod, Rows: rows, Cols: H, Eps: 1e-6, Group: N, Stride: 6 * H, Shift: 3 * H, Scale: 4 * H})
		b.mlp(fc2, norm, fc1, rows, &blk.FC1, &blk.FC2)
		b.op(&GateOp{Dst: h, Src: fc2, Gate: mod, Rows: rows, Cols: H, Group: N, Stride: 6 * H, Off: 5 * H})
		b.tap(fmt.Sprintf("block%d_out", bi), h, B, N, H)
		b.op(&BlockOp{Index: bi})
	}
	// T2IFinalLayer with the raw t: shift = sst[0] + t, scale = sst[1] + t.
	b.op(&AddOp{Dst: fm, Src: te, Rows: 2 * B, Cols: H, Div: 2, Set: true})
	b.op(&AddOp{Dst: fm, Src: b.constant(m.FinalShift), Rows: 2 * B, Cols: H, Mod: 2})
	b.op(&NormOp{Dst: norm, Src: h, Mod: fm, Rows: rows, Cols: H, Eps: 1e-6, Group: N, Stride: 2 * H, Shift: 0, Scale: H})
	b.linear(fo, norm, rows, &m.Final)
	b.p.Out = fo
	return b.p
}

// FLOPs is 2× the multiply-adds of one forward with batch n at the
// configured size and caption length.
func (m *STDiT) FLOPs(n int) float64 {
	gt, gh, gw := m.Cfg.grid()
	return m.Program(n, gt, gh, gw, m.Cfg.ModelMaxLength).FLOPs()
}

// ConvertWeights converts every Linear weight of the STDiT to dt.
func (m *STDiT) ConvertWeights(dt tensor.DType) {
	ls := []*Linear{&m.XEmbed, &m.TMLP1, &m.TMLP2, &m.TBlock, &m.YProj1, &m.YProj2, &m.Final}
	for i := range m.Blocks {
		b := &m.Blocks[i]
		ls = append(ls, &b.Attn, &b.AttnProj, &b.TempQKV, &b.TempProj, &b.CrossQ, &b.CrossKV, &b.CrossProj, &b.FC1, &b.FC2)
	}
	for _, l := range ls {
		l.W = l.W.ToDType(dt)
	}
	m.progs.reset()
}
