package dit

import (
	"context"
	"fmt"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// PixArtConfig holds the hyperparameters of a PixArt-α / PixArt-Σ model
// (PixArt-alpha's and PixArt-sigma's diffusion/model/nets PixArt.py and
// PixArtMS.py).
type PixArtConfig struct {
	InputSize, PatchSize, InChannels int
	HiddenSize, Depth, NumHeads      int
	MLPRatio                         float64
	PredSigma                        bool
	CaptionChannels, ModelMaxLength  int
	// Sigma is PixArt-Σ (pe_interpolation, qk_norm); otherwise α
	// (lewei_scale).
	Sigma bool
	// PEScale is lewei_scale (α) or pe_interpolation (Σ): position
	// coordinates are i / (grid/base_size) / PEScale.
	PEScale float64
	// QKNorm: Σ's q_norm/k_norm (LayerNorm(H) with affine, eps 1e-5) on
	// the self-attention's q and k.
	QKNorm bool
	// MicroCondition: PixArtMS's csize/ar embedders (α's PixArtMS always,
	// Σ's PixArtMS when micro_condition=True).
	MicroCondition bool
	// CFGChannels is how many output channels forward_with_cfg guides
	// (upstream hard-codes 3). 0 means 3.
	CFGChannels int
	// KV is Σ's KV compression (kv_compress_config): the blocks whose
	// self-attention keys and values are downsampled.
	KV spec.KVCompress
}

// OutChannels is 2·InChannels with pred_sigma.
func (c PixArtConfig) OutChannels() int { return outChannels(c.InChannels, c.PredSigma) }

// BaseSize is PixArt's base_size = input_size // patch_size: the grid the
// position coordinates are normalised to.
func (c PixArtConfig) BaseSize() int { return c.InputSize / c.PatchSize }

// pixartConfig is the runnable configuration of a "pixart-alpha" or
// "pixart-sigma" spec.
func pixartConfig(s *spec.Spec) (PixArtConfig, error) {
	c := PixArtConfig{
		InputSize: s.Int("input_size"), PatchSize: s.Int("patch_size"), InChannels: s.Int("in_channels"),
		HiddenSize: s.Int("hidden_size"), Depth: s.Int("depth"), NumHeads: s.Int("num_heads"),
		MLPRatio: s.Float("mlp_ratio"), PredSigma: s.Bool("pred_sigma"),
		CaptionChannels: s.Int("caption_channels"), ModelMaxLength: s.Int("model_max_length"),
		Sigma: s.Family == "pixart-sigma", MicroCondition: s.Bool("micro_condition"),
	}
	if c.Sigma {
		c.PEScale, c.QKNorm = s.Float("pe_interpolation"), s.Bool("qk_norm")
		kv, err := spec.PixArtKVCompress(s)
		if err != nil {
			return c, err
		}
		c.KV = kv
	} else {
		c.PEScale = s.Float("lewei_scale")
	}
	switch {
	case c.PatchSize <= 0 || c.InputSize < c.PatchSize:
		return c, fmt.Errorf("%s: input size %d and patch size %d", s.Family, c.InputSize, c.PatchSize)
	case c.NumHeads <= 0 || c.HiddenSize%c.NumHeads != 0:
		return c, fmt.Errorf("%s: hidden size %d not divisible by %d heads", s.Family, c.HiddenSize, c.NumHeads)
	case c.MicroCondition && c.HiddenSize%3 != 0:
		return c, fmt.Errorf("%s: hidden size %d must be divisible by 3 for micro-conditions", s.Family, c.HiddenSize)
	case c.PEScale <= 0:
		return c, fmt.Errorf("%s: position scale %v must be positive", s.Family, c.PEScale)
	}
	return c, nil
}

// PixArtBlock is one PixArtBlock / PixArtMSBlock (adaLN-single).
type PixArtBlock struct {
	ScaleShift   []float32 // scale_shift_table [6, H]
	QKV, Proj    Linear
	QNorm, KNorm [2][]float32 // qk_norm weight, bias [H] (nil without)
	SR           [2][]float32 // KV compression "conv": attn.sr weight [H·s·s], bias [H]
	SRNorm       [2][]float32 // and attn.norm weight, bias [H]
	t2iCross                  // cross_attn, mlp
}

// PixArt is a loaded PixArt-α or PixArt-Σ, plain (PixArt) or multi-scale
// (PixArtMS) (a Net).
type PixArt struct {
	Cfg        PixArtConfig
	spec       *spec.Spec
	PosEmbed   []float32 // the pos_embed buffer [base², H] (nil when not saved)
	t2iWeights           // embedders, final layer
	CSize, AR  [2]Linear // micro-conditions: csize_embedder / ar_embedder mlp.0, mlp.2
	Blocks     []PixArtBlock

	progs programs
}

// buildPixArt reads a PixArt-α/Σ model (PixArt or PixArtMS).
func buildPixArt(s *spec.Spec, r *reader) (Net, error) {
	cfg, err := pixartConfig(s)
	if err != nil {
		return nil, err
	}
	H, p, C := cfg.HiddenSize, cfg.PatchSize, cfg.InChannels
	mh := mlpHidden(H, cfg.MLPRatio)
	m := &PixArt{Cfg: cfg, spec: s}
	m.readEmbedders(r, H, C*p*p, cfg.CaptionChannels)
	if cfg.MicroCondition {
		for i, pre := range []string{"csize_embedder", "ar_embedder"} {
			l := []*[2]Linear{&m.CSize, &m.AR}[i]
			r.timestepEmbedder(&l[0], &l[1], pre, H/3)
		}
	}
	m.Blocks = make([]PixArtBlock, cfg.Depth)
	for i := range m.Blocks {
		b, pre := &m.Blocks[i], fmt.Sprintf("blocks.%d.", i)
		b.ScaleShift = r.vec(pre+"scale_shift_table", 6*H, false)
		r.linear(&b.QKV, pre+"attn.qkv", 3*H, H)
		r.linear(&b.Proj, pre+"attn.proj", H, H)
		if cfg.KV.On(i) && cfg.KV.Sampling == "conv" {
			k := cfg.KV.Ratio
			b.SR[0] = r.vec(pre+"attn.sr.weight", H*k*k, false)
			b.SR[1] = r.vec(pre+"attn.sr.bias", H, false)
			b.SRNorm[0] = r.vec(pre+"attn.norm.weight", H, false)
			b.SRNorm[1] = r.vec(pre+"attn.norm.bias", H, false)
		}
		if cfg.QKNorm {
			for j, n := range []string{"q_norm", "k_norm"} {
				nb := []*[2][]float32{&b.QNorm, &b.KNorm}[j]
				nb[0] = r.vec(pre+"attn."+n+".weight", H, false)
				nb[1] = r.vec(pre+"attn."+n+".bias", H, false)
			}
		}
		b.t2iCross.read(r, pre, H, mh)
	}
	m.readFinal(r, H, p*p*cfg.OutChannels())
	g := cfg.BaseSize()
	m.PosEmbed = r.vec("pos_embed", g*g*H, true)
	m.readNullCaption(r, cfg.ModelMaxLength, cfg.CaptionChannels)
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// PixArtPosEmbed is PixArt's get_2d_sincos_pos_embed(dim, (gh, gw),
// scale, base_size) for a gh×gw token grid: coordinates
// np.arange(n, float32) / (n/base) / scale, frequencies and sin/cos in
// float64, the table cast to float32. α passes lewei_scale as a 1-tuple
// (`self.lewei_scale = lewei_scale,`), so its last division runs in
// float64; Σ's stays in float32 (alpha selects α's).
func PixArtPosEmbed(dim, gh, gw, base int, scale float64, alpha bool) []float32 {
	coords := func(n int) []float64 {
		out := make([]float64, n)
		step := float32(float64(n) / float64(base))
		for i := range out {
			v := float32(i) / step
			if alpha {
				out[i] = float64(v) / scale
			} else {
				out[i] = float64(v / float32(scale))
			}
		}
		return out
	}
	return fix.SinCos2DAt(dim, coords(gh), coords(gw))
}

// posEmbed is the position table for a gh×gw grid: the checkpoint's
// pos_embed buffer at the construction grid (PixArt reads it; PixArtMS
// computes the same values there), computed per grid otherwise (as
// PixArtMS.forward does; α's PixArtMS always computes it).
func (m *PixArt) posEmbed(gh, gw int) []float32 {
	g := m.Cfg.BaseSize()
	if gh == g && gw == g && m.PosEmbed != nil && (m.Cfg.Sigma || !m.Cfg.MicroCondition) {
		return m.PosEmbed
	}
	return PixArtPosEmbed(m.Cfg.HiddenSize, gh, gw, g, m.Cfg.PEScale, !m.Cfg.Sigma)
}

// microCond returns the sinusoid features of PixArtMS's micro-conditions
// for B samples: csize [B·2, 256] (img_hw: height, width in pixels) and
// ar [B, 256] (aspect ratio height/width), from c (rows repeated over the
// batch as SizeEmbedder does) or, when absent, from the latent: img_hw
// = 8·(H, W), ar = H/W.
func (m *PixArt) microCond(c *Cond, B, Hl, Wl int) (cs, ar []float32, err error) {
	hw := []float64{float64(8 * Hl), float64(8 * Wl)}
	r := []float64{float64(float32(Hl) / float32(Wl))}
	if c != nil && c.ImgHW != nil {
		hw = c.ImgHW
	}
	if c != nil && c.AspectRatio != nil {
		r = c.AspectRatio
	}
	if len(hw) == 0 || len(hw)%2 != 0 || B%(len(hw)/2) != 0 {
		return nil, nil, fmt.Errorf("%s: img_hw has %d values, not [B', 2] with %d samples divisible by B'", m.spec.Family, len(hw), B)
	}
	if len(r) == 0 || B%len(r) != 0 {
		return nil, nil, fmt.Errorf("%s: aspect_ratio has %d values, not [B', 1] with %d samples divisible by B'", m.spec.Family, len(r), B)
	}
	hs, rs := make([]float64, 2*B), make([]float64, B)
	for b := 0; b < B; b++ {
		k := b % (len(hw) / 2)
		hs[2*b], hs[2*b+1] = hw[2*k], hw[2*k+1]
		rs[b] = r[b%len(r)]
	}
	return TimestepEmbedding(hs, TimestepFreqs), TimestepEmbedding(rs, TimestepFreqs), nil
}

// Forward runs PixArt(x, t, y, mask, data_info). x is [B, C, H, W] (any
// multiple of the patch: the table is computed for other grids as
// PixArtMS does); c.Caption holds the caption embeddings [B, 1, L, Ct]
// (nil: the model's own null caption y_embedder.y_embedding for every
// sample), c.Mask [B', L] (nil: every token), and for PixArtMS c.ImgHW
// [B', 2] and c.AspectRatio [B', 1] (nil: from the latent's size). It
// returns [B, Cout, H, W].
func (m *PixArt) Forward(ctx context.Context, x []float32, shape []int, t []float64, c *Cond, opt *Options) ([]float32, []int, error) {
	cfg := m.Cfg
	fam := m.spec.Family
	B, C, p := len(t), cfg.InChannels, cfg.PatchSize
	if len(shape) != 4 || shape[0] != B || shape[1] != C {
		return nil, nil, fmt.Errorf("%s: x has shape %v, want [%d, %d, H, W]", fam, shape, B, C)
	}
	Hl, Wl := shape[2], shape[3]
	if Hl%p != 0 || Wl%p != 0 || Hl <= 0 || Wl <= 0 {
		return nil, nil, fmt.Errorf("%s: latent %d×%d is not a multiple of the patch %d", fam, Hl, Wl, p)
	}
	if len(x) != B*C*Hl*Wl {
		return nil, nil, fmt.Errorf("%s: x has %d values for shape %v", fam, len(x), shape)
	}
	var y []float32
	var mask []int
	if c != nil {
		y, mask = c.Caption, c.Mask
	}
	cp, err := packCaption(fam, y, mask, m.YEmbedding, B, cfg.CaptionChannels, cfg.ModelMaxLength)
	if err != nil {
		return nil, nil, err
	}
	L := cp.L
	gh, gw := Hl/p, Wl/p
	feed := &Feed{
		F32:  [][]float32{patchify(x, B, C, 1, Hl, Wl, 1, p, p), TimestepEmbedding(t, TimestepFreqs), cp.Y},
		Ints: map[string][]int{"caption_rows": cp.Rows, "caption_len": cp.Lens},
	}
	if err := m.kvRows(feed.Ints, B, gh, gw); err != nil {
		return nil, nil, err
	}
	if cfg.MicroCondition {
		cs, ar, err := m.microCond(c, B, Hl, Wl)
		if err != nil {
			return nil, nil, err
		}
		feed.F32 = append(feed.F32, cs, ar)
	}
	fo, err := run(ctx, m.Program(B, gh, gw, L), feed, opt)
	if err != nil {
		return nil, nil, err
	}
	Co := cfg.OutChannels()
	out := unpatchify(fo, B, 1, gh, gw, 1, p, p, Co)
	oshape := []int{B, Co, Hl, Wl}
	opt.hook("out", oshape, out)
	return out, oshape, nil
}

// Program is the PixArt token computation for B samples of a gh×gw grid
// with L caption tokens. Inputs: patches [B·T, C·p·p], timestep features
// [B, 256], captions [B·L, Ct], and with micro-conditions the csize
// [B·2, 256] and ar [B, 256] features; integer inputs caption_rows and
// caption_len (see captionRows); out final_layer [B·T, p²·Cout]. Taps
// carry the reference fixtures' names: x_embedder, t_embedder,
// csize_embedder, ar_embedder, t_block, y_embedder, blocks_{i},
// final_layer.
func (m *PixArt) Program(B, gh, gw, L int) *Program {
	return m.progs.get([4]int{B, gh, gw, L}, func() *Program { return m.program(B, gh, gw, L) })
}

func (m *PixArt) program(B, gh, gw, L int) *Program {
	cfg := m.Cfg
	H, T, Ct := cfg.HiddenSize, gh*gw, cfg.CaptionChannels
	mh := mlpHidden(H, cfg.MLPRatio)
	rows := B * T
	heads := cfg.NumHeads
	hd := H / heads
	po := m.Final.W.Rows
	b := newBuilder()
	patches := b.input("patches", rows*m.XEmbed.W.Cols)
	tfreq := b.input("t_freq", B*TimestepFreqs)
	caption := b.input("caption", B*L*Ct)
	pos := b.constant(m.posEmbed(gh, gw))
	h, t1a, t1b, te, st, t0 := b.buf(rows*H), b.buf(B*H), b.buf(B*H), b.buf(B*H), b.buf(B*H), b.buf(B*6*H)
	yp, yhid, ypk, kv := b.buf(B*L*H), b.buf(B*L*H), b.buf(B*L*H), b.buf(B*L*2*H)
	mod, norm, qkv, att := b.buf(B*6*H), b.buf(rows*H), b.buf(rows*3*H), b.buf(rows*H)
	proj, fc1, fc2 := b.buf(rows*H), b.buf(rows*mh), b.buf(rows*H)
	fm, fo := b.buf(B*2*H), b.buf(rows*po)

	// Patch embedding (Conv2d as a matmul over patches), then pos_embed.
	b.linear(h, patches, rows, &m.XEmbed)
	b.tap("x_embedder", h, B, T, H)
	b.op(&AddOp{Dst: h, Src: pos, Rows: rows, Cols: H, Mod: T})
	// t = t_embedder(t) (+ cat(csize_embedder(img_hw), ar_embedder(ar))).
	b.tap("t_freq", tfreq, B, TimestepFreqs)
	b.siluMLP(te, tfreq, t1a, t1b, B, &m.TMLP1, &m.TMLP2)
	b.tap("t_embedder", te, B, H)
	if cfg.MicroCondition {
		m.microProgram(b, te, B)
	}
	// t0 = t_block(t) = Linear(SiLU(t)).
	b.op(&SiLUOp{Dst: st, Src: te, N: B * H})
	b.linear(t0, st, B, &m.TBlock)
	b.tap("t_block", t0, B, 6*H)
	// Captions: y_proj, then each sample's valid tokens packed first.
	b.mlp(yp, caption, yhid, B*L, &m.YProj1, &m.YProj2)
	b.tap("y_embedder", yp, B, 1, L, H)
	b.op(&GatherOp{Dst: ypk, Src: yp, Cols: H, Index: "caption_rows"})
	var qkvn Buf = NoBuf
	if cfg.QKNorm {
		qkvn = b.buf(rows * 3 * H)
	}
	for bi := range m.Blocks {
		blk := &m.Blocks[bi]
		// shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp =
		// scale_shift_table[None] + t0.reshape(B, 6, -1).
		b.t2iMod(mod, t0, blk.ScaleShift, B, H)
		// Self-attention (q_norm/k_norm on the full-width q and k for Σ).
		b.op(&NormOp{Dst: norm, Src: h, Mod: mod, Rows: rows, Cols: H, Eps: 1e-6, Group: T, Stride: 6 * H, Shift: 0, Scale: H})
		b.linear(qkv, norm, rows, &blk.QKV)
		src := qkv
		if cfg.QKNorm {
			for j, nw := range [][2][]float32{blk.QNorm, blk.KNorm} {
				b.op(&LayerNormOp{Dst: qkvn, Src: qkv, W: b.constant(nw[0]), B: b.constant(nw[1]), Rows: rows, Cols: H,
					SrcOff: j * H, SrcStride: 3 * H, DstOff: j * H, DstStride: 3 * H, Eps: 1e-5})
			}
			b.op(&CopyOp{Dst: qkvn, Src: qkv, Rows: rows, Cols: H, SrcOff: 2 * H, SrcStride: 3 * H, DstOff: 2 * H, DstStride: 3 * H})
			src = qkvn
		}
		kvs, nk := src, T
		if cfg.KV.On(bi) {
			kvs, nk = m.kvProgram(b, blk, src, B, gh, gw)
		}
		b.op(&AttnOp{Dst: att, Q: src, KV: kvs, OutStride: H, QStride: 3 * H, KOff: H, VOff: 2 * H, KVStride: 3 * H,
			Seqs: B, NQ: T, NK: nk, Heads: heads, HeadDim: hd, Scale: attnScale(hd)})
		b.linear(proj, att, rows, &blk.Proj)
		b.op(&GateOp{Dst: h, Src: proj, Gate: mod, Rows: rows, Cols: H, Group: T, Stride: 6 * H, Off: 2 * H})
		// Cross-attention to the packed caption tokens (no norm, no gate).
		b.captionCrossAttn(h, ypk, att, kv, norm, proj, B, T, L, H, heads, &blk.CrossQ, &blk.CrossKV, &blk.CrossProj)
		b.t2iMLP(h, mod, norm, fc1, fc2, rows, T, H, &blk.FC1, &blk.FC2)
		b.tap(fmt.Sprintf("blocks_%d", bi), h, B, T, H)
		b.op(&BlockOp{Index: bi})
	}
	// T2IFinalLayer with t (after the micro-conditions).
	b.t2iFinal(fo, h, te, fm, norm, m.FinalShift, B, rows, T, H, &m.Final)
	b.tap("final_layer", fo, B, T, po)
	b.p.Out = fo
	return b.p
}

// kvGrid is the key/value grid of a KV-compressed block for a gh×gw
// token grid (AttentionKVCompress.downsample_2d): int(H/s)×int(W/s), or
// for uniform_every N//s tokens in one row; an error where upstream's
// reshape fails (uniform, uniform_every on sizes s does not divide).
func (c PixArtConfig) kvGrid(gh, gw int) (nh, nw int, err error) {
	s := c.KV.Ratio
	switch c.KV.Sampling {
	case "uniform_every":
		if (gh*gw)%s != 0 {
			return 0, 0, fmt.Errorf("pixart-sigma: KV compression uniform_every needs the %d tokens divisible by %d", gh*gw, s)
		}
		return 1, gh * gw / s, nil
	case "uniform":
		if gh%s != 0 || gw%s != 0 {
			return 0, 0, fmt.Errorf("pixart-sigma: KV compression uniform needs the %d×%d token grid divisible by %d", gh, gw, s)
		}
	}
	if gh < s || gw < s {
		return 0, 0, fmt.Errorf("pixart-sigma: the %d×%d token grid is smaller than the KV compression %d", gh, gw, s)
	}
	return gh / s, gw / s, nil
}

// kvRows adds the gathers of the KV-compressed blocks to ints: for conv,
// kv_tap_{k} (the token under kernel tap k = a·s+b of each output
// position), else kv_rows (the kept tokens: every s-th row and column for
// ave (nearest, scale 1/s) and uniform, every s-th token for
// uniform_every), each for B samples.
func (m *PixArt) kvRows(ints map[string][]int, B, gh, gw int) error {
	kv := m.Cfg.KV
	if kv.Ratio <= 1 || len(kv.Layers) == 0 {
		return nil
	}
	nh, nw, err := m.Cfg.kvGrid(gh, gw)
	if err != nil {
		return err
	}
	s, T, n := kv.Ratio, gh*gw, nh*nw
	rows := func(tap func(i, j int) int) []int {
		out := make([]int, 0, B*n)
		for b := 0; b < B; b++ {
			for i := 0; i < nh; i++ {
				for j := 0; j < nw; j++ {
					out = append(out, b*T+tap(i, j))
				}
			}
		}
		return out
	}
	switch kv.Sampling {
	case "conv":
		for a := 0; a < s; a++ {
			for c := 0; c < s; c++ {
				ints[fmt.Sprintf("kv_tap_%d", a*s+c)] = rows(func(i, j int) int { return (i*s+a)*gw + j*s + c })
			}
		}
	case "uniform_every":
		ints["kv_rows"] = rows(func(_, j int) int { return j * s })
	default: // ave, uniform
		ints["kv_rows"] = rows(func(i, j int) int { return (i*s)*gw + j*s })
	}
	return nil
}

// kvProgram appends a block's KV compression of the keys and values in
// src (qkv rows [B·T, 3H]) and returns the buffer holding the compressed
// rows (k at H, v at 2H) and their count per sample. conv is the
// depthwise Conv2d(kernel = stride = s) as the bias plus s² gathered taps
// times their weights, then LayerNorm(H) on k and on v.
func (m *PixArt) kvProgram(b *builder, blk *PixArtBlock, src Buf, B, gh, gw int) (Buf, int) {
	H := m.Cfg.HiddenSize
	nh, nw, _ := m.Cfg.kvGrid(gh, gw) // checked by kvRows
	n := nh * nw
	rows := B * n
	kvc := b.buf(rows * 3 * H)
	if m.Cfg.KV.Sampling != "conv" {
		b.op(&GatherOp{Dst: kvc, Src: src, Cols: 3 * H, Index: "kv_rows"})
		return kvc, n
	}
	s := m.Cfg.KV.Ratio
	bias := make([]float32, 3*H)
	copy(bias[H:], blk.SR[1])
	copy(bias[2*H:], blk.SR[1])
	w := make([]float32, s*s*3*H) // tap k: [0 (q) | w[:, k] (k) | w[:, k] (v)]
	for k := 0; k < s*s; k++ {
		for c := 0; c < H; c++ {
			w[k*3*H+H+c] = blk.SR[0][c*s*s+k]
			w[k*3*H+2*H+c] = blk.SR[0][c*s*s+k]
		}
	}
	wc, tap, kvn := b.constant(w), b.buf(rows*3*H), b.buf(rows*3*H)
	b.op(&AddOp{Dst: kvc, Src: b.constant(bias), Rows: rows, Cols: 3 * H, Mod: 1, Set: true})
	for k := 0; k < s*s; k++ {
		b.op(&GatherOp{Dst: tap, Src: src, Cols: 3 * H, Index: fmt.Sprintf("kv_tap_%d", k)})
		b.op(&GateOp{Dst: kvc, Src: tap, Gate: wc, Rows: rows, Cols: 3 * H, Group: rows, Off: k * 3 * H})
	}
	nw0, nb := b.constant(blk.SRNorm[0]), b.constant(blk.SRNorm[1])
	for j := 1; j <= 2; j++ {
		b.op(&LayerNormOp{Dst: kvn, Src: kvc, W: nw0, B: nb, Rows: rows, Cols: H,
			SrcOff: j * H, SrcStride: 3 * H, DstOff: j * H, DstStride: 3 * H, Eps: 1e-5})
	}
	return kvn, n
}

// microProgram appends t += cat([csize_embedder(img_hw), ar_embedder(ar)])
// (SizeEmbedder: each value's sinusoid through the MLP, the values of a
// sample side by side) for B samples; its inputs follow the program's
// first three.
func (m *PixArt) microProgram(b *builder, te Buf, B int) {
	H := m.Cfg.HiddenSize
	h3 := H / 3
	csf := b.input("csize_freq", 2*B*TimestepFreqs)
	arf := b.input("ar_freq", B*TimestepFreqs)
	mc := b.buf(B * H)
	for i, in := range []struct {
		freq Buf
		n    int
		l    *[2]Linear
		name string
	}{{csf, 2 * B, &m.CSize, "csize_embedder"}, {arf, B, &m.AR, "ar_embedder"}} {
		a, s, o := b.buf(in.n*h3), b.buf(in.n*h3), b.buf(in.n*h3)
		b.siluMLP(o, in.freq, a, s, in.n, &in.l[0], &in.l[1])
		w := in.n / B * h3 // a sample's embedding: 2·H/3 (csize), H/3 (ar)
		b.tap(in.name, o, B, w)
		b.op(&CopyOp{Dst: mc, Src: o, Rows: B, Cols: w, SrcStride: w, DstOff: i * 2 * h3, DstStride: H})
	}
	b.op(&AddOp{Dst: te, Src: mc, Rows: B, Cols: H})
}

// Spec implements Net.
func (m *PixArt) Spec() *spec.Spec { return m.spec }

// Latent implements Net: [C, S, S] at the configured input_size (PixArtMS
// takes other sizes too).
func (m *PixArt) Latent() []int {
	return []int{m.Cfg.InChannels, m.Cfg.InputSize, m.Cfg.InputSize}
}

// OutChannels implements Net.
func (m *PixArt) OutChannels() int { return m.Cfg.OutChannels() }

// LearnSigma implements Net (pred_sigma).
func (m *PixArt) LearnSigma() bool { return m.Cfg.PredSigma }

// Classes implements Net: a caption model has none.
func (m *PixArt) Classes() int { return 0 }

// Guided implements Net: forward_with_cfg guides the first 3 channels.
func (m *PixArt) Guided() int {
	if m.Cfg.CFGChannels > 0 {
		return min(m.Cfg.CFGChannels, m.Cfg.InChannels)
	}
	return min(3, m.Cfg.InChannels)
}

// Null implements Net: the model's own null caption for every sample.
func (m *PixArt) Null(n int) (*Cond, error) { return nullCaption(m.spec.Family, m.YEmbedding, n) }

// CFGCond is the conditioning forward_with_cfg hands to forward: α's
// PixArtMS.forward_with_cfg calls forward(combined, t, y,
// data_info=data_info) and so drops the caption mask (an upstream quirk
// kept as is); PixArt and Σ's PixArtMS pass it.
func (m *PixArt) CFGCond(c *Cond) *Cond {
	if c == nil || m.Cfg.Sigma || !m.Cfg.MicroCondition || c.Mask == nil {
		return c
	}
	d := *c
	d.Mask = nil
	return &d
}

// FLOPs is 2× the multiply-adds of one forward with batch n at the
// configured size and caption length.
func (m *PixArt) FLOPs(n int) float64 {
	g := m.Cfg.BaseSize()
	return m.Program(n, g, g, m.Cfg.ModelMaxLength).FLOPs()
}

// FLOPsAt is FLOPs for an input [N, C, H, W] of any size (PixArtMS):
// dit.FLOPsAt.
func (m *PixArt) FLOPsAt(shape []int) float64 {
	p := m.Cfg.PatchSize
	if len(shape) != 4 || shape[2] < p || shape[3] < p {
		return 0
	}
	return m.Program(shape[0], shape[2]/p, shape[3]/p, m.Cfg.ModelMaxLength).FLOPs()
}

func (m *PixArt) linears() []*Linear {
	ls := m.t2iWeights.linears()
	if m.Cfg.MicroCondition {
		ls = append(ls, &m.CSize[0], &m.CSize[1], &m.AR[0], &m.AR[1])
	}
	for i := range m.Blocks {
		b := &m.Blocks[i]
		ls = append(append(ls, &b.QKV, &b.Proj), b.t2iCross.linears()...)
	}
	return ls
}

// ConvertWeights converts every Linear weight to dt.
func (m *PixArt) ConvertWeights(dt tensor.DType) {
	convertWeights(m.linears(), dt)
	m.progs.reset()
}

// WeightBytes implements Net.
func (m *PixArt) WeightBytes() int64 {
	H := m.Cfg.HiddenSize
	n := int64(len(m.PosEmbed)+len(m.YEmbedding)+len(m.FinalShift)) + int64(6*H*len(m.Blocks))
	if m.Cfg.QKNorm {
		n += int64(4 * H * len(m.Blocks))
	}
	for i := range m.Blocks {
		b := &m.Blocks[i]
		n += int64(len(b.SR[0]) + len(b.SR[1]) + len(b.SRNorm[0]) + len(b.SRNorm[1]))
	}
	return 4*n + linearBytes(m.linears())
}
