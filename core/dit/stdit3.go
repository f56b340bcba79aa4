package dit

import (
	"context"
	"fmt"
	"math"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// STDiT3Config holds the hyperparameters of Open-Sora 1.2's STDiT3
// (family "stdit3") and Open-Sora 1.3's STDiT-v4 ("stdit3-v4").
type STDiT3Config struct {
	// InputSize is the latent (T, H, W) when the spec fixes it; nil when
	// it is dynamic (upstream's (None, None, None)): Latent then reports
	// DefaultSTDiT3Latent.
	InputSize       []int
	PatchSize       []int // (pt, ph, pw)
	InChannels      int
	HiddenSize      int
	Depth           int
	NumHeads        int
	MLPRatio        float64
	PredSigma       bool
	CaptionChannels int
	ModelMaxLength  int
	QKNorm          bool    // per-head LlamaRMSNorm on q and k
	InputSqSize     float64 // PositionEmbedding2D scale = √(height·width)/InputSqSize
	V4              bool    // Open-Sora 1.3 (stdit3-v4)
	SkipTemporal    bool    // v1.3: no temporal blocks
	// KernelSize (v1.3) windows the temporal blocks' attention over the
	// token grid (H, W, T), −1 meaning the whole axis; set, RoPE turns
	// three head-dim thirds by frame, row and column. nil: no windows.
	KernelSize  []int
	SpatialRoPE bool // v1.3 use_spatial_rope: 3-axis RoPE in the spatial blocks too
}

// DefaultSTDiT3Latent is the latent frames, height and width STDiT3 samples
// at when neither the spec nor the caller fixes them: 17 frames of 128×128
// px through Open-Sora's VAEs (5 latent frames, 16×16).
var DefaultSTDiT3Latent = []int{5, 16, 16}

// OutChannels is 2·InChannels with pred_sigma.
func (c STDiT3Config) OutChannels() int { return outChannels(c.InChannels, c.PredSigma) }

func (c STDiT3Config) headDim() int { return c.HiddenSize / c.NumHeads }

// ropeDim is the rotary dimension: the head (v1.2), a third of it with
// the 3-axis split (v1.3 kernel_size).
func (c STDiT3Config) ropeDim() int {
	if c.KernelSize != nil {
		return c.headDim() / 3
	}
	return c.headDim()
}

// stdit3Config is the runnable configuration of a "stdit3" / "stdit3-v4" spec.
func stdit3Config(s *spec.Spec) (STDiT3Config, error) {
	c := STDiT3Config{
		PatchSize: s.Ints("patch_size"), InChannels: s.Int("in_channels"),
		HiddenSize: s.Int("hidden_size"), Depth: s.Int("depth"), NumHeads: s.Int("num_heads"),
		MLPRatio: s.Float("mlp_ratio"), PredSigma: s.Bool("pred_sigma"),
		CaptionChannels: s.Int("caption_channels"), ModelMaxLength: s.Int("model_max_length"),
		QKNorm: s.Bool("qk_norm"), InputSqSize: 512, V4: s.Family == "stdit3-v4",
	}
	f := s.Family
	if v, ok := s.Get("input_sq_size"); ok && v != nil {
		n, isNum := v.(float64)
		if !isNum || n <= 0 {
			return c, fmt.Errorf("%s: input_sq_size %v: want a positive number", f, v)
		}
		c.InputSqSize = n
	}
	if v, ok := s.Get("input_size"); ok && v != nil {
		var err error
		if c.InputSize, err = fixedSize(v); err != nil {
			return c, fmt.Errorf("%s: input_size: %w", f, err)
		}
	}
	if c.V4 {
		c.SkipTemporal = s.Bool("skip_temporal")
		c.KernelSize = s.Ints("kernel_size")
		c.SpatialRoPE = s.Bool("use_spatial_rope")
	}
	switch {
	case len(c.PatchSize) != 3:
		return c, fmt.Errorf("%s: patch_size needs 3 entries", f)
	case c.NumHeads <= 0 || c.HiddenSize%c.NumHeads != 0:
		return c, fmt.Errorf("%s: hidden size %d not divisible by %d heads", f, c.HiddenSize, c.NumHeads)
	case c.HiddenSize%4 != 0:
		return c, fmt.Errorf("%s: hidden size %d: PositionEmbedding2D needs a multiple of 4", f, c.HiddenSize)
	case c.KernelSize != nil && len(c.KernelSize) != 3:
		return c, fmt.Errorf("%s: kernel_size needs 3 entries (H, W, T)", f)
	case c.SpatialRoPE && c.KernelSize == nil:
		return c, fmt.Errorf("%s: use_spatial_rope requires kernel_size (upstream assertion)", f)
	}
	for i, k := range c.KernelSize {
		if k == 0 || k < -1 || (i < 2 && k < 0) {
			return c, fmt.Errorf("%s: kernel_size %v: want positive window sides (−1, the whole axis, for T only)", f, c.KernelSize)
		}
	}
	if c.KernelSize != nil {
		if hd := c.headDim(); 2*(c.ropeDim()/2) > hd-2*((hd+2)/3) {
			return c, fmt.Errorf("%s: head dim %d: the 3-axis RoPE split (torch.chunk into thirds) does not fit (upstream asserts)", f, hd)
		}
	}
	return c, nil
}

// fixedSize reads an input_size of three integers; nulls (a dynamic size)
// give nil.
func fixedSize(v any) ([]int, error) {
	a, ok := v.([]any)
	if !ok {
		if ints, ok := v.([]int); ok && len(ints) == 3 {
			return ints, nil
		}
		return nil, fmt.Errorf("%v: want [T, H, W] or [null, null, null]", v)
	}
	if len(a) != 3 {
		return nil, fmt.Errorf("%v: want 3 entries", v)
	}
	out := make([]int, 3)
	for i, e := range a {
		if e == nil {
			return nil, nil
		}
		f, ok := e.(float64)
		if !ok || f != math.Trunc(f) || f < 1 {
			return nil, fmt.Errorf("%v: want positive integers or nulls", v)
		}
		out[i] = int(f)
	}
	return out, nil
}

// STDiT3Block is one STDiT3 block (spatial or temporal: the same weights).
type STDiT3Block struct {
	ScaleShift   []float32 // [6, H]
	QKV, Proj    Linear
	QNorm, KNorm []float32 // [head dim]; nil without qk_norm
	t2iCross               // cross_attn, mlp
}

// STDiT3 is a loaded Open-Sora 1.2 STDiT3 or 1.3 STDiT-v4 (a Net).
type STDiT3 struct {
	Cfg        STDiT3Config
	spec       *spec.Spec
	RoPEFreqs  []float32 // rope.freqs
	t2iWeights           // embedders, final layer
	FPS1, FPS2 Linear    // fps_embedder
	Spatial    []STDiT3Block
	Temporal   []STDiT3Block // nil with skip_temporal

	progs programs
}

// buildSTDiT3 reads an Open-Sora 1.2/1.3 STDiT3 (the v1.3 i2v embedders
// x_embedder_cond* are not read: text-to-video does not use them).
func buildSTDiT3(s *spec.Spec, r *reader) (Net, error) {
	cfg, err := stdit3Config(s)
	if err != nil {
		return nil, err
	}
	H, hd, mh := cfg.HiddenSize, cfg.headDim(), mlpHidden(cfg.HiddenSize, cfg.MLPRatio)
	p := cfg.PatchSize
	m := &STDiT3{Cfg: cfg, spec: s}
	m.RoPEFreqs = r.table("rope.freqs", cfg.ropeDim()/2)
	m.readEmbedders(r, H, cfg.InChannels*p[0]*p[1]*p[2], cfg.CaptionChannels)
	r.timestepEmbedder(&m.FPS1, &m.FPS2, "fps_embedder", H)
	m.readNullCaption(r, cfg.ModelMaxLength, cfg.CaptionChannels)
	readBlocks := func(stack string) []STDiT3Block {
		bs := make([]STDiT3Block, cfg.Depth)
		for i := range bs {
			b, pre := &bs[i], fmt.Sprintf("%s.%d.", stack, i)
			b.ScaleShift = r.vec(pre+"scale_shift_table", 6*H, false)
			r.linear(&b.QKV, pre+"attn.qkv", 3*H, H)
			if cfg.QKNorm {
				b.QNorm = r.vec(pre+"attn.q_norm.weight", hd, false)
				b.KNorm = r.vec(pre+"attn.k_norm.weight", hd, false)
			}
			r.linear(&b.Proj, pre+"attn.proj", H, H)
			b.t2iCross.read(r, pre, H, mh)
		}
		return bs
	}
	m.Spatial = readBlocks("spatial_blocks")
	if !cfg.SkipTemporal {
		m.Temporal = readBlocks("temporal_blocks")
	}
	m.readFinal(r, H, p[0]*p[1]*p[2]*cfg.OutChannels())
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// stdit3Shape is one forward's geometry: batch, caption length, token grid
// (gt·gh·gw after padding the latent to the patch) and, with kernel_size,
// the temporal attention windows.
type stdit3Shape struct {
	B, L       int
	gt, gh, gw int
	xmask      bool // some frame takes the t = 0 modulation
	// windows (kernel_size): window sides (kh, kw, kt), windows per sample
	// along each axis and tokens per window.
	kh, kw, kt int
	nh, nw, nt int
}

// shape is the geometry of B samples of a Tx×Hx×Wx latent (L unset).
func (m *STDiT3) shape(B, Tx, Hx, Wx int) stdit3Shape {
	p := m.Cfg.PatchSize
	g := stdit3Shape{B: B, gt: ceilDiv(Tx, p[0]), gh: ceilDiv(Hx, p[1]), gw: ceilDiv(Wx, p[2])}
	if k := m.Cfg.KernelSize; k != nil && !m.Cfg.SkipTemporal {
		side := func(k, n int) int {
			if k < 0 {
				return n
			}
			return k
		}
		g.kh, g.kw, g.kt = side(k[0], g.gh), side(k[1], g.gw), side(k[2], g.gt)
		g.nh, g.nw, g.nt = ceilDiv(g.gh, g.kh), ceilDiv(g.gw, g.kw), ceilDiv(g.gt, g.kt)
	}
	return g
}

func (g stdit3Shape) windowed() bool { return g.kh > 0 }
func (g stdit3Shape) nWin() int      { return g.nh * g.nw * g.nt }
func (g stdit3Shape) winTokens() int { return g.kh * g.kw * g.kt }

// Forward runs STDiT3(x, t, y, mask, x_mask, fps, height, width): x is
// [B, C, T, H, W] (padded to the patch as PatchEmbed3D does and cropped
// back), c.Caption the caption embeddings [B, 1, L, Ct] (nil: the model's
// own null caption), c.Mask [B', L], c.XMask [B', T] (frames marked false
// take the t = 0 modulation), c.FPS (one or B values) and c.Height /
// c.Width (pixels; the first entry, as upstream). It returns
// [B, Cout, T, H, W] and its shape.
func (m *STDiT3) Forward(ctx context.Context, x []float32, xShape []int, t []float64, c *Cond, opt *Options) ([]float32, []int, error) {
	if c == nil {
		c = &Cond{}
	}
	cfg := m.Cfg
	fam := m.spec.Family
	C := cfg.InChannels
	pt, ph, pw := cfg.PatchSize[0], cfg.PatchSize[1], cfg.PatchSize[2]
	B := len(t)
	if B == 0 || len(xShape) != 5 || xShape[0] != B || xShape[1] != C {
		return nil, nil, fmt.Errorf("%s: x has shape %v, want [%d, %d, T, H, W]", fam, xShape, B, C)
	}
	Tx, Hx, Wx := xShape[2], xShape[3], xShape[4]
	if Tx < 1 || Hx < 1 || Wx < 1 || len(x) != B*C*Tx*Hx*Wx {
		return nil, nil, fmt.Errorf("%s: x has %d values for shape %v", fam, len(x), xShape)
	}
	g := m.shape(B, Tx, Hx, Wx)
	cp, err := packCaption(fam, c.Caption, c.Mask, m.YEmbedding, B, cfg.CaptionChannels, cfg.ModelMaxLength)
	if err != nil {
		return nil, nil, err
	}
	g.L = cp.L
	fps, err := perSample(fam, "fps", c.FPS, B)
	if err != nil {
		return nil, nil, err
	}
	if len(c.Height) == 0 || len(c.Width) == 0 {
		return nil, nil, fmt.Errorf("%s: needs the video's height and width in pixels (inputs height, width)", fam)
	}
	scale := math.Sqrt(c.Height[0]*c.Width[0]) / cfg.InputSqSize
	if !(scale > 0) || math.IsInf(scale, 0) {
		return nil, nil, fmt.Errorf("%s: height %g × width %g: want positive sizes", fam, c.Height[0], c.Width[0])
	}
	frameT, err := frameRows(fam, c.XMask, B, g.gt)
	if err != nil {
		return nil, nil, err
	}
	S := g.gh * g.gw
	full := [3]int{g.gt * pt, g.gh * ph, g.gw * pw}
	xp := resizeVideo(x, B*C, [3]int{Tx, Hx, Wx}, full)
	tAll := append(append([]float64(nil), t...), make([]float64, B)...) // t, then t0 = 0 (x_mask)
	f32 := [][]float32{
		patchify(xp, B, C, full[0], full[1], full[2], pt, ph, pw),
		TimestepEmbedding(tAll, TimestepFreqs),
		TimestepEmbedding(fps, TimestepFreqs),
		cp.Y,
		PositionEmbedding2D(cfg.HiddenSize, g.gh, g.gw, scale, int(math.Round(math.Sqrt(float64(S))))),
		m.temporalRoPE(g, scale),
	}
	if cfg.SpatialRoPE {
		f32 = append(f32, m.spatialRoPE(g, scale))
	}
	ints := map[string][]int{"caption_rows": cp.Rows, "caption_len": cp.Lens, "frame_t": frameT}
	if zero := finalZero(frameT, B, S); zero != nil {
		g.xmask, ints["final_zero"] = true, zero
	}
	if g.windowed() {
		ints["window_rows"], ints["window_len"], ints["window_inv"] = g.windowIndex()
	}
	fo, err := run(ctx, m.Program(g), &Feed{F32: f32, Ints: ints}, opt)
	if err != nil {
		return nil, nil, err
	}
	Co := cfg.OutChannels()
	out := unpatchify(fo, B, g.gt, g.gh, g.gw, pt, ph, pw, Co)
	out = resizeVideo(out, B*Co, full, [3]int{Tx, Hx, Wx})
	shape := []int{B, Co, Tx, Hx, Wx}
	opt.hook("out", shape, out)
	return out, shape, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// perSample expands a per-batch micro-condition (one value, or one per
// sample) to B values.
func perSample(family, name string, v []float64, B int) ([]float64, error) {
	switch len(v) {
	case 0:
		return nil, fmt.Errorf("%s: needs %s (one value or one per sample)", family, name)
	case 1:
		out := make([]float64, B)
		for i := range out {
			out[i] = v[0]
		}
		return out, nil
	case B:
		return v, nil
	}
	return nil, fmt.Errorf("%s: %s has %d values for a batch of %d", family, name, len(v), B)
}

// frameRows is the modulation row of every (sample, frame): b (the real t)
// or B+b (t = 0) where x_mask [B', T] is false; rows repeat as torch's
// repeat does when B' < B.
func frameRows(family string, xm []bool, B, T int) ([]int, error) {
	if xm != nil && (len(xm) == 0 || len(xm)%T != 0 || B%(len(xm)/T) != 0) {
		return nil, fmt.Errorf("%s: x_mask has %d values, not [B, %d] for a batch of %d", family, len(xm), T, B)
	}
	out := make([]int, B*T)
	for b := 0; b < B; b++ {
		for f := 0; f < T; f++ {
			out[b*T+f] = b
			if xm != nil && !xm[(b%(len(xm)/T))*T+f] {
				out[b*T+f] = B + b
			}
		}
	}
	return out, nil
}

// finalZero is, for the final layer, the token row of every token of a
// frame that takes t = 0 (−1 elsewhere); nil when no frame does.
func finalZero(frameT []int, B, S int) []int {
	var out []int
	for f, r := range frameT {
		if r >= B && out == nil {
			out = make([]int, len(frameT)*S)
			for i := range out {
				out[i] = -1
			}
		}
		if r >= B {
			for s := 0; s < S; s++ {
				out[f*S+s] = f*S + s
			}
		}
	}
	return out
}

// resizeVideo copies the corner common to src [BC, s…] and a zero
// [BC, d…] video (each [T, H, W]): PatchEmbed3D's right padding to the
// patch, and unpatchify's unpad; src itself when the sizes agree.
func resizeVideo(src []float32, BC int, s, d [3]int) []float32 {
	if s == d {
		return src
	}
	out := make([]float32, BC*d[0]*d[1]*d[2])
	T, H, W := min(s[0], d[0]), min(s[1], d[1]), min(s[2], d[2])
	for bc := 0; bc < BC; bc++ {
		for f := 0; f < T; f++ {
			for i := 0; i < H; i++ {
				copy(out[((bc*d[0]+f)*d[1]+i)*d[2]:][:W], src[((bc*s[0]+f)*s[1]+i)*s[2]:][:W])
			}
		}
	}
	return out
}

// PositionEmbedding2D is Open-Sora's PositionEmbedding2D(dim)(x, h, w,
// scale, base_size): [h·w, dim] rows in row-major (h, w) order, each
// [sin(u·f), cos(u·f), sin(v·f), cos(v·f)] with f_k = 1/10000^(4k/dim) and,
// as upstream's meshgrid names them, u the column and v the row
// coordinate, both i/scale·base_size/n; in float32 as upstream.
func PositionEmbedding2D(dim, h, w int, scale float64, baseSize int) []float32 {
	half := dim / 2
	q := half / 2
	inv := make([]float32, q)
	for k := range inv {
		e := float32(2*k) / float32(half)
		inv[k] = 1 / float32(math.Pow(10000, float64(e)))
	}
	grid := func(n int) []float32 {
		g := make([]float32, n)
		s, f := float32(scale), float32(float64(baseSize)/float64(n))
		for i := range g {
			g[i] = float32(i) / s * f
		}
		return g
	}
	gh, gw := grid(h), grid(w)
	out := make([]float32, h*w*dim)
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			row := out[(i*w+j)*dim:][:dim]
			for part, u := range [2]float32{gw[j], gh[i]} {
				for k, f := range inv {
					a := float64(u * f)
					row[part*half+k] = float32(math.Sin(a))
					row[part*half+q+k] = float32(math.Cos(a))
				}
			}
		}
	}
	return out
}

// ropeAxes are the table sections: one axis over the first 2·len(freqs)
// dims (1-D RoPE), or torch.chunk(3)'s thirds of the head — frame, row,
// column — each turning its first 2·len(freqs) dims (rotate_3d).
func (m *STDiT3) ropeAxes() []RoPEAxis {
	if m.Cfg.KernelSize == nil {
		return []RoPEAxis{{Start: 0, Freqs: m.RoPEFreqs}}
	}
	cs := (m.Cfg.headDim() + 2) / 3
	return []RoPEAxis{{0, m.RoPEFreqs}, {cs, m.RoPEFreqs}, {2 * cs, m.RoPEFreqs}}
}

// ropePos is get_seq_pos: arange(n)/scale in float32.
func ropePos(i int, scale float64) float32 { return float32(i) / float32(scale) }

// temporalRoPE is the temporal blocks' rotary table: [gt, hd] by frame
// (1-D), or one row per window slot [nWin·tokens, hd] with the frame, row
// and column inside the window (rotate_3d, rows and columns divided by
// the position-embedding scale).
func (m *STDiT3) temporalRoPE(g stdit3Shape, scale float64) []float32 {
	hd := m.Cfg.headDim()
	if !g.windowed() {
		return RoPETable(g.gt, hd, m.ropeAxes(), func(r int, p []float32) { p[0] = float32(r) })
	}
	rows, _, _ := g.windowSlots()
	return RoPETable(len(rows), hd, m.ropeAxes(), func(r int, p []float32) {
		s := rows[r]
		p[0], p[1], p[2] = float32(s.t), ropePos(s.h, scale), ropePos(s.w, scale)
	})
}

// spatialRoPE is the spatial blocks' table (use_spatial_rope): [S, hd]
// by row and column of the whole grid, frame position 0.
func (m *STDiT3) spatialRoPE(g stdit3Shape, scale float64) []float32 {
	return RoPETable(g.gh*g.gw, m.Cfg.headDim(), m.ropeAxes(), func(r int, p []float32) {
		p[0], p[1], p[2] = 0, ropePos(r/g.gw, scale), ropePos(r%g.gw, scale)
	})
}

// winSlot is one slot of one sample's windows: its position inside the
// window and the token it holds (−1: padding).
type winSlot struct {
	h, w, t int
	tok     int
}

// windowSlots lays one sample's tokens out window by window, each window's
// real tokens first (softmax does not care about key order; the rotary
// table carries each slot's position), padding after; it returns the slots,
// the real tokens per window and each token's slot.
func (g stdit3Shape) windowSlots() (slots []winSlot, lens []int, slotOf []int) {
	n := g.winTokens()
	slots = make([]winSlot, 0, g.nWin()*n)
	lens = make([]int, 0, g.nWin())
	slotOf = make([]int, g.gt*g.gh*g.gw)
	var pad []winSlot
	for ih := 0; ih < g.nh; ih++ {
		for iw := 0; iw < g.nw; iw++ {
			for it := 0; it < g.nt; it++ {
				k := 0
				pad = pad[:0]
				for a := 0; a < g.kh; a++ {
					for b := 0; b < g.kw; b++ {
						for d := 0; d < g.kt; d++ {
							h, w, t := ih*g.kh+a, iw*g.kw+b, it*g.kt+d
							s := winSlot{h: a, w: b, t: d, tok: -1}
							if h < g.gh && w < g.gw && t < g.gt {
								s.tok = (t*g.gh+h)*g.gw + w
								slotOf[s.tok] = len(slots)
								slots = append(slots, s)
								k++
							} else {
								pad = append(pad, s)
							}
						}
					}
				}
				slots = append(slots, pad...)
				lens = append(lens, k)
			}
		}
	}
	return slots, lens, slotOf
}

// windowIndex is the windows' integer inputs for the whole batch:
// window_rows (token row per slot, −1 padding), window_len (real tokens
// per window) and window_inv (slot row of every token row).
func (g stdit3Shape) windowIndex() (rows, lens, inv []int) {
	slots, wl, slotOf := g.windowSlots()
	N := g.gt * g.gh * g.gw
	for b := 0; b < g.B; b++ {
		for _, s := range slots {
			if s.tok < 0 {
				rows = append(rows, -1)
			} else {
				rows = append(rows, b*N+s.tok)
			}
		}
		lens = append(lens, wl...)
		for _, s := range slotOf {
			inv = append(inv, b*len(slots)+s)
		}
	}
	return rows, lens, inv
}

// Program is the STDiT3 token computation for one geometry: inputs the
// patches [B·N, C·pt·ph·pw], timestep features [2B, 256] (t, then t = 0),
// fps features [B, 256], captions [B·L, Ct], the position table [S, H],
// the temporal rotary table and, with use_spatial_rope, the spatial one;
// integer inputs caption_rows/caption_len (packed caption), frame_t (the
// modulation row of each frame: x_mask) and, with windows,
// window_rows/window_len/window_inv; out final_layer [B·N, pt·ph·pw·Cout].
func (m *STDiT3) Program(g stdit3Shape) *Program {
	return m.progs.get(g, func() *Program { return m.program(g) })
}

func (m *STDiT3) program(g stdit3Shape) *Program {
	cfg := m.Cfg
	B, L := g.B, g.L
	H, Ct, mh := cfg.HiddenSize, cfg.CaptionChannels, mlpHidden(cfg.HiddenSize, cfg.MLPRatio)
	heads, hd := cfg.NumHeads, cfg.headDim()
	S := g.gh * g.gw
	N := g.gt * S
	rows, frames := B*N, B*g.gt
	b := newBuilder()
	patches := b.input("patches", rows*m.XEmbed.W.Cols)
	tfreq := b.input("t_freq", 2*B*TimestepFreqs)
	ffreq := b.input("fps_freq", B*TimestepFreqs)
	caption := b.input("caption", B*L*Ct)
	pos := b.input("pos_emb", S*H)
	ropeRowsT := g.gt
	if g.windowed() {
		ropeRowsT = g.nWin() * g.winTokens()
	}
	ropeT := b.input("rope_temporal", ropeRowsT*hd)
	ropeS := NoBuf
	if cfg.SpatialRoPE {
		ropeS = b.input("rope_spatial", S*hd)
	}
	h := b.buf(rows * H)
	t1a, t1b, te, st, tm := b.buf(2*B*H), b.buf(2*B*H), b.buf(2*B*H), b.buf(2*B*H), b.buf(2*B*6*H)
	f1a, f1b, fe := b.buf(B*H), b.buf(B*H), b.buf(B*H)
	teF, tmF, mod := b.buf(frames*H), b.buf(frames*6*H), b.buf(frames*6*H)
	yp, yhid, ypk, kv := b.buf(B*L*H), b.buf(B*L*H), b.buf(B*L*H), b.buf(B*L*2*H)
	norm, qkv, att, tmp, proj := b.buf(rows*H), b.buf(rows*3*H), b.buf(rows*H), b.buf(rows*H), b.buf(rows*H)
	fc1, fc2 := b.buf(rows*mh), b.buf(rows*H)
	fm, fo := b.buf(2*frames*H), b.buf(rows*m.Final.W.Rows)
	var wRows int
	var wIn, wQKV, wAtt Buf
	if g.windowed() {
		wRows = B * g.nWin() * g.winTokens()
		wIn, wQKV, wAtt = b.buf(wRows*H), b.buf(wRows*3*H), b.buf(wRows*H)
	}

	// Patch embedding, then the 2-D position table on every frame.
	b.linear(h, patches, rows, &m.XEmbed)
	b.tap("x_embedder", h, B, N, H)
	b.tap("pos_emb", pos, 1, S, H)
	b.op(&AddOp{Dst: h, Src: pos, Rows: rows, Cols: H, Mod: S})
	// Timesteps t and t0 = 0 (rows B…2B−1), each plus the fps embedding;
	// t_block of both; then the modulation row of every frame (x_mask).
	b.siluMLP(te, tfreq, t1a, t1b, 2*B, &m.TMLP1, &m.TMLP2)
	b.tap("t_embedder", te, B, H)
	b.siluMLP(fe, ffreq, f1a, f1b, B, &m.FPS1, &m.FPS2)
	b.tap("fps_embedder", fe, B, H)
	b.op(&AddOp{Dst: te, Src: fe, Rows: 2 * B, Cols: H, Mod: B})
	b.op(&SiLUOp{Dst: st, Src: te, N: 2 * B * H})
	b.linear(tm, st, 2*B, &m.TBlock)
	b.tap("t_block", tm, B, 6*H)
	b.op(&GatherOp{Dst: teF, Src: te, Cols: H, Index: "frame_t"})
	b.op(&GatherOp{Dst: tmF, Src: tm, Cols: 6 * H, Index: "frame_t"})
	// Captions: y_proj, then each sample's valid tokens packed first.
	b.mlp(yp, caption, yhid, B*L, &m.YProj1, &m.YProj2)
	b.tap("y_embedder", yp, B, 1, L, H)
	b.op(&GatherOp{Dst: ypk, Src: yp, Cols: H, Index: "caption_rows"})

	// qkNorm normalises q and k of n rows of a qkv buffer per head.
	qkNorm := func(buf Buf, n int, bl *STDiT3Block) {
		if bl.QNorm == nil {
			return
		}
		b.op(&RMSNormOp{X: buf, Weight: b.constant(bl.QNorm), Rows: n, Stride: 3 * H, Off: 0, Groups: heads, Dim: hd, Eps: 1e-6})
		b.op(&RMSNormOp{X: buf, Weight: b.constant(bl.KNorm), Rows: n, Stride: 3 * H, Off: H, Groups: heads, Dim: hd, Eps: 1e-6})
	}
	rope := func(buf, table Buf, n, mod int) {
		for _, off := range []int{0, H} {
			b.op(&RoPEOp{X: buf, Table: table, Rows: n, Stride: 3 * H, Off: off, Heads: heads, HeadDim: hd, Mod: mod})
		}
	}
	attn := func(dst, src Buf, seqs, n int, kvLen string) {
		b.op(&AttnOp{Dst: dst, Q: src, KV: src, OutStride: H, QStride: 3 * H, KOff: H, VOff: 2 * H, KVStride: 3 * H,
			Seqs: seqs, NQ: n, NK: n, Heads: heads, HeadDim: hd, Scale: attnScale(hd), KVLen: kvLen})
	}
	block := func(bl *STDiT3Block, temporal bool, name string, index int) {
		b.op(&AddOp{Dst: mod, Src: tmF, Rows: frames, Cols: 6 * H, Set: true})
		b.op(&AddOp{Dst: mod, Src: b.constant(bl.ScaleShift), Rows: frames, Cols: 6 * H, Mod: 1})
		b.op(&NormOp{Dst: norm, Src: h, Mod: mod, Rows: rows, Cols: H, Eps: 1e-6, Group: S, Stride: 6 * H, Shift: 0, Scale: H})
		switch {
		case !temporal: // over the S tokens of each frame
			b.linear(qkv, norm, rows, &bl.QKV)
			qkNorm(qkv, rows, bl)
			if ropeS != NoBuf {
				rope(qkv, ropeS, rows, S)
			}
			attn(att, qkv, B*g.gt, S, "")
			b.linear(proj, att, rows, &bl.Proj)
		case g.windowed(): // over the tokens of each (H, W, T) window
			b.op(&GatherOp{Dst: wIn, Src: norm, Cols: H, Index: "window_rows"})
			b.linear(wQKV, wIn, wRows, &bl.QKV)
			qkNorm(wQKV, wRows, bl)
			rope(wQKV, ropeT, wRows, g.nWin()*g.winTokens())
			attn(wAtt, wQKV, B*g.nWin(), g.winTokens(), "window_len")
			b.op(&GatherOp{Dst: tmp, Src: wAtt, Cols: H, Index: "window_inv"})
			b.linear(proj, tmp, rows, &bl.Proj)
		default: // over the frames of each position
			b.op(&SwapOp{Dst: tmp, Src: norm, Outer: B, A: g.gt, B: S, Cols: H})
			b.linear(qkv, tmp, rows, &bl.QKV)
			qkNorm(qkv, rows, bl)
			rope(qkv, ropeT, rows, g.gt)
			attn(att, qkv, B*S, g.gt, "")
			b.op(&SwapOp{Dst: tmp, Src: att, Outer: B, A: S, B: g.gt, Cols: H})
			b.linear(proj, tmp, rows, &bl.Proj)
		}
		b.op(&GateOp{Dst: h, Src: proj, Gate: mod, Rows: rows, Cols: H, Group: S, Stride: 6 * H, Off: 2 * H})
		b.captionCrossAttn(h, ypk, att, kv, tmp, proj, B, N, L, H, heads, &bl.CrossQ, &bl.CrossKV, &bl.CrossProj)
		b.op(&NormOp{Dst: norm, Src: h, Mod: mod, Rows: rows, Cols: H, Eps: 1e-6, Group: S, Stride: 6 * H, Shift: 3 * H, Scale: 4 * H})
		b.mlp(fc2, norm, fc1, rows, &bl.FC1, &bl.FC2)
		b.op(&GateOp{Dst: h, Src: fc2, Gate: mod, Rows: rows, Cols: H, Group: S, Stride: 6 * H, Off: 5 * H})
		b.tap(name, h, B, N, H)
		b.op(&BlockOp{Index: index})
	}
	for i := range m.Spatial {
		block(&m.Spatial[i], false, fmt.Sprintf("spatial_blocks_%d", i), 2*i)
		if m.Temporal != nil {
			block(&m.Temporal[i], true, fmt.Sprintf("temporal_blocks_%d", i), 2*i+1)
		}
	}
	// T2IFinalLayer with t (= t_emb + fps): shift, scale = sst + t. With
	// x_mask, upstream modulates the masked frames twice: x_zero =
	// modulate(norm(x_already_modulated), t0) (its x is reassigned first).
	sst := b.constant(m.FinalShift)
	b.op(&AddOp{Dst: fm, Src: te, Rows: 2 * frames, Cols: H, Div: 2 * g.gt, Set: true})
	b.op(&AddOp{Dst: fm, Src: sst, Rows: 2 * frames, Cols: H, Mod: 2})
	b.op(&NormOp{Dst: norm, Src: h, Mod: fm, Rows: rows, Cols: H, Eps: 1e-6, Group: S, Stride: 2 * H, Shift: 0, Scale: H})
	if g.xmask {
		b.op(&AddOp{Dst: fm, Src: teF, Rows: 2 * frames, Cols: H, Div: 2, Set: true})
		b.op(&AddOp{Dst: fm, Src: sst, Rows: 2 * frames, Cols: H, Mod: 2})
		b.op(&NormOp{Dst: tmp, Src: norm, Mod: fm, Rows: rows, Cols: H, Eps: 1e-6, Group: S, Stride: 2 * H, Shift: 0, Scale: H})
		b.op(&GatherOp{Dst: norm, Src: tmp, Cols: H, Index: "final_zero", Keep: true})
	}
	b.linear(fo, norm, rows, &m.Final)
	b.tap("final_layer", fo, B, N, m.Final.W.Rows)
	b.p.Out = fo
	return b.p
}

// Spec implements Net.
func (m *STDiT3) Spec() *spec.Spec { return m.spec }

// Latent implements Net: [C, T, H, W] — the spec's input_size, else
// DefaultSTDiT3Latent.
func (m *STDiT3) Latent() []int {
	if m.Cfg.InputSize != nil {
		return append([]int{m.Cfg.InChannels}, m.Cfg.InputSize...)
	}
	return append([]int{m.Cfg.InChannels}, DefaultSTDiT3Latent...)
}

// OutChannels implements Net.
func (m *STDiT3) OutChannels() int { return m.Cfg.OutChannels() }

// LearnSigma implements Net (pred_sigma).
func (m *STDiT3) LearnSigma() bool { return m.Cfg.PredSigma }

// Classes implements Net: a caption model has none.
func (m *STDiT3) Classes() int { return 0 }

// Guided implements Net: STDiT3 has no forward_with_cfg; its rectified
// flow sampler guides (core/sample).
func (m *STDiT3) Guided() int { return 0 }

// Null implements Net: the model's own null caption for every sample.
func (m *STDiT3) Null(n int) (*Cond, error) { return nullCaption(m.spec.Family, m.YEmbedding, n) }

// FLOPs is 2× the multiply-adds of one forward with batch n at Latent()
// and the configured caption length.
func (m *STDiT3) FLOPs(n int) float64 {
	return m.FLOPsAt(append([]int{n}, m.Latent()...))
}

// FLOPsAt is FLOPs for an input of shape [N, C, T, H, W] (the model's
// size is dynamic) with the configured caption length.
func (m *STDiT3) FLOPsAt(shape []int) float64 {
	if len(shape) != 5 {
		return 0
	}
	g := m.shape(shape[0], shape[2], shape[3], shape[4])
	g.L = m.Cfg.ModelMaxLength
	return m.Program(g).FLOPs()
}

func (m *STDiT3) linears() []*Linear {
	ls := append(m.t2iWeights.linears(), &m.FPS1, &m.FPS2)
	for _, stack := range [][]STDiT3Block{m.Spatial, m.Temporal} {
		for i := range stack {
			b := &stack[i]
			ls = append(append(ls, &b.QKV, &b.Proj), b.t2iCross.linears()...)
		}
	}
	return ls
}

// ConvertWeights converts every Linear weight to dt.
func (m *STDiT3) ConvertWeights(dt tensor.DType) {
	convertWeights(m.linears(), dt)
	m.progs.reset()
}

// WeightBytes implements Net.
func (m *STDiT3) WeightBytes() int64 {
	n := len(m.RoPEFreqs) + len(m.YEmbedding) + len(m.FinalShift)
	for _, stack := range [][]STDiT3Block{m.Spatial, m.Temporal} {
		for _, b := range stack {
			n += len(b.ScaleShift) + len(b.QNorm) + len(b.KNorm)
		}
	}
	return 4*int64(n) + linearBytes(m.linears())
}
