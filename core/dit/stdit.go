package dit

import (
	"context"
	"fmt"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"math"
	"strconv"
	"strings"

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
	m.PosEmbed = opt("pos_embed", gh*gw*H, func() []float32 { return toF32(SinCos2D(H, gh, gw, ss)) })
	m.PosEmbedTemp = opt("pos_embed_temporal", gt*H, func() []float32 {
		out := make([]float64, gt*H)
		for f := 0; f < gt; f++ {
			sinCos1D(out[f*H:(f+1)*H], float64(f)/ts)
		}
		return toF32(out)
	})
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
	S := gh * gw
	if len(m.PosEmbed) != S*H || len(m.PosEmbedTemp) < gt*H {
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
	be := opt.backend()
	N := gt * S // tokens per sample
	rows := B * N

	// Patchify (Conv3d with kernel = stride = patch), tokens frame-major.
	pp := C * pt * ph * pw
	patches := make([]float32, rows*pp)
	for b := 0; b < B; b++ {
		for a := 0; a < gt; a++ {
			for i := 0; i < gh; i++ {
				for j := 0; j < gw; j++ {
					dst := patches[(b*N+(a*gh+i)*gw+j)*pp:]
					for c := 0; c < C; c++ {
						for qa := 0; qa < pt; qa++ {
							for pi := 0; pi < ph; pi++ {
								src := x[(((b*C+c)*Tl+a*pt+qa)*Hl+i*ph+pi)*Wl+j*pw:]
								copy(dst[((c*pt+qa)*ph+pi)*pw:][:pw], src[:pw])
							}
						}
					}
				}
			}
		}
	}
	h := make([]float32, rows*H)
	be.Linear(h, patches, rows, m.XEmbed.W, m.XEmbed.B)
	for r := 0; r < B*gt; r++ {
		add(h[r*S*H:(r+1)*S*H], m.PosEmbed)
	}

	// Timestep: t (raw, for the final layer) and t0 = t_block(t).
	dm := &Model{TMLP1: m.TMLP1, TMLP2: m.TMLP2}
	te := dm.timestep(be, t, opt)
	st := make([]float32, len(te))
	kernels.SiLU(st, te)
	t0 := make([]float32, B*6*H)
	be.Linear(t0, st, B, m.TBlock.W, m.TBlock.B)

	// Captions: y_proj, then pack each sample's valid tokens.
	yp := make([]float32, B*L*H)
	mlp(be, yp, y, B*L, m.YProj1, m.YProj2, make([]float32, B*L*H))
	lens := make([]int, B)
	if mask != nil {
		if len(mask)%L != 0 || B%(len(mask)/L) != 0 {
			return nil, nil, fmt.Errorf("stdit: mask has %d values, not [B, %d]", len(mask), L)
		}
		mb := len(mask) / L
		packed := make([]float32, len(yp))
		for b := 0; b < B; b++ {
			mr := mask[(b%mb)*L : (b%mb+1)*L]
			for l, v := range mr {
				if v != 0 {
					copy(packed[(b*L+lens[b])*H:][:H], yp[(b*L+l)*H:][:H])
					lens[b]++
				}
			}
		}
		yp = packed
	} else {
		for b := range lens {
			lens[b] = L
		}
	}

	mh := cfg.mlpHidden()
	s := newBlockScratch(rows, H, mh)
	mod := make([]float32, B*6*H)
	kv := make([]float32, B*L*2*H)
	tmp := make([]float32, rows*H)
	heads := cfg.NumHeads
	hd := H / heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	for bi := range m.Blocks {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		blk := &m.Blocks[bi]
		for b := 0; b < B; b++ {
			for k := 0; k < 6*H; k++ {
				mod[b*6*H+k] = blk.ScaleShift[k] + t0[b*6*H+k]
			}
		}
		// Spatial attention over [(B·T), S, H].
		be.LayerNormModulate(s.norm, h, rows, H, 1e-6, N, mod[0:], mod[H:], 6*H)
		selfAttn(be, s.proj, s.norm, B*gt, S, H, heads, blk.Attn, blk.AttnProj, s.qkv, s.att)
		gatedAdd(h, s.proj, mod[2*H:], 6*H, N, H)
		// Temporal attention over [(B·S), T, H]: no norm, no modulation;
		// block 0 adds pos_embed_temporal to its input only.
		for b := 0; b < B; b++ {
			for sp := 0; sp < S; sp++ {
				for f := 0; f < gt; f++ {
					dst := s.norm[((b*S+sp)*gt+f)*H:][:H]
					copy(dst, h[(b*N+f*S+sp)*H:][:H])
					if bi == 0 {
						add(dst, m.PosEmbedTemp[f*H:(f+1)*H])
					}
				}
			}
		}
		selfAttn(be, tmp, s.norm, B*S, gt, H, heads, blk.TempQKV, blk.TempProj, s.qkv, s.att)
		for b := 0; b < B; b++ {
			g := mod[b*6*H+2*H:][:H]
			for sp := 0; sp < S; sp++ {
				for f := 0; f < gt; f++ {
					src := tmp[((b*S+sp)*gt+f)*H:][:H]
					dst := h[(b*N+f*S+sp)*H:][:H]
					for i := range dst {
						dst[i] += g[i] * src[i]
					}
				}
			}
		}
		// Cross-attention to the packed caption tokens (no norm, no gate).
		be.Linear(s.att, h, rows, blk.CrossQ.W, blk.CrossQ.B)
		be.Linear(kv, yp, B*L, blk.CrossKV.W, blk.CrossKV.B)
		be.Attention(&kernels.AttnArgs{
			Out: tmp, OutStride: H,
			Q: s.att, QStride: H,
			K: kv, V: kv[H:], KVStride: 2 * H,
			Seqs: B, NQ: N, NK: L, KVLen: lens,
			Heads: heads, HeadDim: hd, Scale: scale,
		})
		be.Linear(s.proj, tmp, rows, blk.CrossProj.W, blk.CrossProj.B)
		add(h, s.proj)
		// MLP.
		be.LayerNormModulate(s.norm, h, rows, H, 1e-6, N, mod[3*H:], mod[4*H:], 6*H)
		mlp(be, s.fc2, s.norm, rows, blk.FC1, blk.FC2, s.fc1)
		gatedAdd(h, s.fc2, mod[5*H:], 6*H, N, H)
		opt.hook(fmt.Sprintf("block%d_out", bi), []int{B, N, H}, h)
		if y := opt.yield(); y != nil {
			y()
		}
	}
	// T2IFinalLayer with the raw t: shift = sst[0] + t, scale = sst[1] + t.
	fm := make([]float32, B*2*H)
	for b := 0; b < B; b++ {
		for k := 0; k < 2; k++ {
			for i := 0; i < H; i++ {
				fm[(b*2+k)*H+i] = m.FinalShift[k*H+i] + te[b*H+i]
			}
		}
	}
	be.LayerNormModulate(s.norm, h, rows, H, 1e-6, N, fm[0:], fm[H:], 2*H)
	Co := cfg.OutChannels()
	po := pt * ph * pw * Co
	fo := make([]float32, rows*po)
	be.Linear(fo, s.norm, rows, m.Final.W, m.Final.B)
	out := unpatchify(fo, B, gt, gh, gw, pt, ph, pw, Co)
	shape := []int{B, Co, Tl, Hl, Wl}
	opt.hook("out", shape, out)
	return out, shape, nil
}

// FLOPs estimates 2× the multiply-adds of one forward with batch n at the
// configured size.
func (m *STDiT) FLOPs(n int) float64 {
	cfg := m.Cfg
	gt, gh, gw := cfg.grid()
	S, T := float64(gh*gw), float64(gt)
	N := S * T
	H, mh := float64(cfg.HiddenSize), float64(cfg.mlpHidden())
	L := float64(cfg.ModelMaxLength)
	block := N*(8*H*H+2*H*mh+H*H) + L*2*H*H + 2*N*S*H + 2*N*T*H + 2*N*L*H
	return 2 * float64(n) * (float64(cfg.Depth)*block + L*(float64(cfg.CaptionChannels)*H+H*H))
}
