package dit

import (
	"context"
	"fmt"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// LatteConfig holds the hyperparameters of a Vchitect/Latte model
// (models/latte.py Latte).
type LatteConfig struct {
	Config        // the DiT hyperparameters (NumClasses, NullClass: extras 2)
	NumFrames int // temp_embed length
	// Extras is Latte's conditioning: 1 none, 2 class labels
	// (y_embedder), 78 a CLIP text embedding [77, 768]
	// (text_embedding_projection).
	Extras int
}

// latteText is extras 78's text embedding size: 77 CLIP tokens of 768.
const latteText = 77 * 768

// Latte is a loaded Latte (a Net): DiT blocks alternating spatial (over
// each frame's tokens) and temporal (over each token's frames). Its x is
// upstream's [N, F, C, H, W], frames before channels (ChannelAxis 2).
type Latte struct {
	Cfg  LatteConfig
	spec *spec.Spec
	// DiT's weights (the label table with extras 2); Blocks alternate
	// spatial (even) and temporal (odd).
	ditWeights
	TempEmbed []float32 // [F, H]
	TextProj  Linear    // text_embedding_projection.1 [H, 77·768] (extras 78)

	progs programs
}

// buildLatte reads a Latte; pos_embed and temp_embed are computed with
// the upstream formula when the checkpoint lacks them.
func buildLatte(s *spec.Spec, r *reader) (Net, error) {
	dc, err := ditConfig(s)
	if err != nil {
		return nil, err
	}
	cfg := LatteConfig{Config: dc, NumFrames: s.Int("num_frames"), Extras: s.Int("extras")}
	if cfg.Depth%2 != 0 {
		return nil, fmt.Errorf("latte: depth %d must be even (blocks alternate spatial/temporal)", cfg.Depth)
	}
	H := cfg.HiddenSize
	m := &Latte{Cfg: cfg, spec: s}
	m.read(r, cfg.Config, cfg.Extras == 2)
	if cfg.Extras == 78 {
		r.linear(&m.TextProj, "text_embedding_projection.1", H, latteText)
	}
	m.TempEmbed = r.table("temp_embed", cfg.NumFrames*H)
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// Forward runs Latte(x, t, y) as upstream: x is [N, F, C, S, S] (F ≤
// num_frames; S = input_size), t holds N timesteps, c.Labels N labels
// (extras 2; NumClasses = null) or c.Caption the text embeddings [N, 77,
// 768] (extras 78). It returns [N, F, Cout, S, S].
func (m *Latte) Forward(ctx context.Context, x []float32, shape []int, t []float64, c *Cond, opt *Options) ([]float32, []int, error) {
	cfg := m.Cfg
	N := len(t)
	H, p, C, S := cfg.HiddenSize, cfg.PatchSize, cfg.InChannels, cfg.InputSize
	if len(shape) != 5 || shape[0] != N || shape[2] != C || shape[3] != S || shape[4] != S || shape[1] < 1 || shape[1] > cfg.NumFrames {
		return nil, nil, fmt.Errorf("latte: x has shape %v, want [%d, F ≤ %d, %d, %d, %d] (frames before channels, as Latte)", shape, N, cfg.NumFrames, C, S, S)
	}
	F := shape[1]
	if len(x) != N*F*C*S*S {
		return nil, nil, fmt.Errorf("latte: x has %d values for shape %v", len(x), shape)
	}
	feed := &Feed{F32: [][]float32{patchify(x, N*F, C, 1, S, S, 1, p, p), TimestepEmbedding(t, TimestepFreqs)}}
	var cond Cond
	if c != nil {
		cond = *c
	}
	switch cfg.Extras {
	case 2:
		if len(cond.Labels) != N {
			return nil, nil, fmt.Errorf("latte: %d class labels for %d samples", len(cond.Labels), N)
		}
		ye, err := m.labelRows(cond.Labels, H)
		if err != nil {
			return nil, nil, fmt.Errorf("latte: %w", err)
		}
		feed.F32 = append(feed.F32, ye)
	case 78:
		if len(cond.Caption) != N*latteText {
			return nil, nil, fmt.Errorf("latte: the text embedding has %d values, want [%d, 77, 768]", len(cond.Caption), N)
		}
		feed.F32 = append(feed.F32, cond.Caption)
	}
	fo, err := run(ctx, m.Program(N, F), feed, opt)
	if err != nil {
		return nil, nil, err
	}
	Co := cfg.OutChannels()
	out := unpatchify(fo, N*F, 1, S/p, S/p, 1, p, p, Co)
	oshape := []int{N, F, Co, S, S}
	opt.hook("out", oshape, out)
	return out, oshape, nil
}

// Program is the Latte token computation for N videos of F frames. Inputs:
// patches [N·F·T, C·p·p] (frame-major), timestep features [N, 256], and
// the label rows [N, H] (extras 2) or text embeddings [N, 77·768] (extras
// 78); out final_layer [N·F·T, p²·Cout]. Taps carry the reference
// fixtures' names: x_embedder, t_embedder, y_embedder, blocks_{i} (even:
// [(N·F), T, H]; odd: [(N·T), F, H]), final_layer.
func (m *Latte) Program(N, F int) *Program {
	return m.progs.get([2]int{N, F}, func() *Program { return m.program(N, F) })
}

func (m *Latte) program(N, F int) *Program {
	cfg := m.Cfg
	H, T, mh := cfg.HiddenSize, cfg.Tokens(), cfg.MLPHidden()
	rows := N * F * T
	po := m.Final.W.Rows
	b := newBuilder()
	patches := b.input("patches", rows*m.XEmbed.W.Cols)
	tfreq := b.input("t_freq", N*TimestepFreqs)
	pos, temp := b.constant(m.PosEmbed), b.constant(m.TempEmbed[:F*H])
	h, h2, t0, t1, c, sc, cf := b.buf(rows*H), b.buf(rows*H), b.buf(N*H), b.buf(N*H), b.buf(N*H), b.buf(N*H), b.buf(N*H)
	s := ditScratch{mod: b.buf(N * 6 * H), norm: b.buf(rows * H), qkv: b.buf(rows * 3 * H), att: b.buf(rows * H),
		proj: b.buf(rows * H), fc1: b.buf(rows * mh), fc2: b.buf(rows * H)}
	fm, fo := b.buf(N*2*H), b.buf(rows*po)

	b.linear(h, patches, rows, &m.XEmbed)
	b.tap("x_embedder", h, N*F, T, H)
	b.op(&AddOp{Dst: h, Src: pos, Rows: rows, Cols: H, Mod: T})
	b.tap("t_freq", tfreq, N, TimestepFreqs)
	b.siluMLP(c, tfreq, t0, t1, N, &m.TMLP1, &m.TMLP2)
	b.tap("t_embedder", c, N, H)
	// The blocks' c: t + y (extras 2) or t + text projection (extras 78);
	// the final layer's: t + y (extras 2), else t alone.
	final := sc
	switch cfg.Extras {
	case 2:
		yemb := b.input("y_emb", N*H)
		b.tap("y_embedder", yemb, N, H)
		b.op(&AddOp{Dst: c, Src: yemb, Rows: N, Cols: H})
	case 78:
		text := b.input("text", N*latteText)
		st, tp := b.buf(N*latteText), b.buf(N*H)
		b.op(&SiLUOp{Dst: cf, Src: c, N: N * H}) // the final layer's SiLU(t)
		final = cf
		b.op(&SiLUOp{Dst: st, Src: text, N: N * latteText})
		b.linear(tp, st, N, &m.TextProj)
		b.op(&AddOp{Dst: c, Src: tp, Rows: N, Cols: H})
	}
	b.op(&SiLUOp{Dst: sc, Src: c, N: N * H})
	for i := 0; i < len(m.Blocks); i += 2 {
		// Spatial block over each frame's T tokens.
		b.ditBlock(&m.Blocks[i], h, sc, s, N, rows, N*F, T, F*T, H, cfg.NumHeads, latteTap(i))
		b.op(&BlockOp{Index: i})
		// '(b f) t d -> (b t) f d', temp_embed before the first temporal block.
		b.op(&SwapOp{Dst: h2, Src: h, Outer: N, A: F, B: T, Cols: H})
		if i == 0 {
			b.op(&AddOp{Dst: h2, Src: temp, Rows: rows, Cols: H, Mod: F})
		}
		b.ditBlock(&m.Blocks[i+1], h2, sc, s, N, rows, N*T, F, F*T, H, cfg.NumHeads, latteTap(i+1))
		b.op(&BlockOp{Index: i + 1})
		b.op(&SwapOp{Dst: h, Src: h2, Outer: N, A: T, B: F, Cols: H})
	}
	b.linear(fm, final, N, &m.FinalAda)
	b.op(&NormOp{Dst: s.norm, Src: h, Mod: fm, Rows: rows, Cols: H, Eps: 1e-6, Group: F * T, Stride: 2 * H, Shift: 0, Scale: H})
	b.linear(fo, s.norm, rows, &m.Final)
	b.tap("final_layer", fo, N*F, T, po)
	b.p.Out = fo
	return b.p
}

// latteTap names block i's output as the reference fixtures do.
func latteTap(i int) func(string) string {
	return func(part string) string {
		if part == "out" {
			return fmt.Sprintf("blocks_%d", i)
		}
		return ""
	}
}

// ChannelAxis is 2: Latte's x and output are [N, F, C, H, W].
func (m *Latte) ChannelAxis() int { return 2 }

// Spec implements Net.
func (m *Latte) Spec() *spec.Spec { return m.spec }

// Latent implements Net: [F, C, S, S] (frames before channels).
func (m *Latte) Latent() []int {
	return []int{m.Cfg.NumFrames, m.Cfg.InChannels, m.Cfg.InputSize, m.Cfg.InputSize}
}

// OutChannels implements Net.
func (m *Latte) OutChannels() int { return m.Cfg.OutChannels() }

// LearnSigma implements Net.
func (m *Latte) LearnSigma() bool { return m.Cfg.LearnSigma }

// Classes implements Net: the class count with extras 2, else 0.
func (m *Latte) Classes() int {
	if m.Cfg.Extras == 2 {
		return m.Cfg.NumClasses
	}
	return 0
}

// Guided implements Net: Latte's forward_with_cfg guides channels [:4]
// (model_out[:, :, :4]) for class labels; 0 for the others (no null).
func (m *Latte) Guided() int {
	if m.Cfg.Extras != 2 {
		return 0
	}
	return min(4, m.Cfg.InChannels)
}

// Null implements Net: the null class for every sample (extras 2).
func (m *Latte) Null(n int) (*Cond, error) {
	switch {
	case m.Cfg.Extras != 2:
		return nil, fmt.Errorf("latte: extras %d has no null conditioning in the checkpoint", m.Cfg.Extras)
	case !m.Cfg.NullClass:
		return nil, fmt.Errorf("the label table has no null class: classifier-free guidance is impossible (use a guidance scale of 1)")
	}
	y := make([]int, n)
	for i := range y {
		y[i] = m.Cfg.NullLabel()
	}
	return &Cond{Labels: y}, nil
}

// FLOPs is 2× the multiply-adds of one forward with batch n at num_frames.
func (m *Latte) FLOPs(n int) float64 { return m.Program(n, m.Cfg.NumFrames).FLOPs() }

// FLOPsAt is FLOPs for an input [N, F, C, H, W] of F ≤ num_frames frames:
// dit.FLOPsAt.
func (m *Latte) FLOPsAt(shape []int) float64 {
	if len(shape) != 5 || shape[1] < 1 || shape[1] > m.Cfg.NumFrames {
		return 0
	}
	return m.Program(shape[0], shape[1]).FLOPs()
}

func (m *Latte) linears() []*Linear {
	ls := m.ditWeights.linears()
	if m.Cfg.Extras == 78 {
		ls = append(ls, &m.TextProj)
	}
	return ls
}

// ConvertWeights converts every Linear weight to dt (the label table and
// the position tables are untouched).
func (m *Latte) ConvertWeights(dt tensor.DType) {
	convertWeights(m.linears(), dt)
	m.progs.reset()
}

// WeightBytes implements Net.
func (m *Latte) WeightBytes() int64 {
	n := 4*int64(len(m.PosEmbed)+len(m.TempEmbed)) + linearBytes(m.linears())
	if m.YTable != nil {
		n += m.YTable.Bytes()
	}
	return n
}
