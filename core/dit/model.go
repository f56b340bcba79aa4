// Package dit runs the forward pass of facebookresearch/DiT and Open-Sora 1.0
// STDiT models on the CPU (natively and in WebAssembly), with weights kept
// in their stored dtype (F32, BF16 or F16) and float32 compute.
//
// The wiring follows the reference code top to bottom: patchify → embed →
// blocks → final layer → unpatchify. Heavy kernels go through Backend.
package dit

import (
	"context"
	"fmt"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"math"

	"github.com/ditkit/ditkit/core/tensor"
)

// Getter returns a state-dict tensor by name, or (nil, nil) when absent.
type Getter func(name string) (*tensor.Dense, error)

// Options control one forward call.
type Options struct {
	Backend Backend // nil = CPU with all threads
	// Yield, when set, is called between blocks (and between kernel chunks
	// when the CPU backend runs single-threaded) so a browser can breathe.
	Yield func()
	// Hook, when set, receives every intermediate under the names of the
	// reference fixtures (t_freq, t_emb, y_emb, c, x_embed, x_embed_pos,
	// block{i}_adaLN, block{i}_attn, block{i}_mlp, block{i}_out,
	// final_adaLN, final_out, out). data must not be retained.
	Hook func(name string, shape []int, data []float32)
}

func (o *Options) backend() Backend {
	if o != nil && o.Backend != nil {
		return o.Backend
	}
	return &kernels.CPU{Yield: o.yield()}
}

func (o *Options) yield() func() {
	if o == nil {
		return nil
	}
	return o.Yield
}

func (o *Options) hook(name string, shape []int, data []float32) {
	if o != nil && o.Hook != nil {
		o.Hook(name, shape, data)
	}
}

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
}

// TimestepFreqs is the size of the sinusoidal timestep features.
const TimestepFreqs = 256

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
		m.PosEmbed = toF32(SinCos2D(H, g, g, 1))
	}
	return m, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
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

// SinCos2D is get_2d_sincos_pos_embed(dim, grid) computed in float64:
// row n = i·w + j holds [sin(j·ω), cos(j·ω), sin(i·ω), cos(i·ω)] with
// ω_k = 10000^(−k/(dim/4)) and positions divided by scale.
func SinCos2D(dim, h, w int, scale float64) []float64 {
	out := make([]float64, h*w*dim)
	half := dim / 2
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			row := out[(i*w+j)*dim:]
			sinCos1D(row[:half], float64(j)/scale)
			sinCos1D(row[half:dim], float64(i)/scale)
		}
	}
	return out
}

// sinCos1D writes [sin(pos·ω), cos(pos·ω)] with ω_k = 1/10000^(k/(D/2)).
func sinCos1D(dst []float64, pos float64) {
	q := len(dst) / 2
	for k := 0; k < q; k++ {
		omega := 1 / math.Pow(10000, float64(k)/float64(q))
		a := pos * omega
		dst[k] = math.Sin(a)
		dst[q+k] = math.Cos(a)
	}
}

// TimestepEmbedding writes DiT's 256 sinusoidal features for each t:
// [cos(t·f_k), sin(t·f_k)], f_k = exp(−ln(10000)·k/128), in float32 as
// upstream computes them.
func TimestepEmbedding(t []float64, dim int) []float32 {
	half := dim / 2
	freqs := make([]float32, half)
	c := float32(-math.Log(10000))
	for k := range freqs {
		freqs[k] = float32(math.Exp(float64(c * float32(k) / float32(half))))
	}
	out := make([]float32, len(t)*dim)
	for n, tv := range t {
		row := out[n*dim : (n+1)*dim]
		for k, f := range freqs {
			a := float32(tv) * f
			row[k] = float32(math.Cos(float64(a)))
			row[half+k] = float32(math.Sin(float64(a)))
		}
	}
	return out
}

// Forward runs model(x, t, y). x is [N, C, S, S] (S = InputSize) row-major,
// t holds N timesteps, y N labels (NumClasses = null). It returns the
// output [N, Cout, S, S].
func (m *Model) Forward(ctx context.Context, x []float32, t []float64, y []int, opt *Options) ([]float32, error) {
	cfg := m.Cfg
	N := len(t)
	H, p, C, S := cfg.HiddenSize, cfg.PatchSize, cfg.InChannels, cfg.InputSize
	g := S / p
	T := g * g
	if len(y) != N || len(x) != N*C*S*S {
		return nil, fmt.Errorf("dit: forward wants x [%d, %d, %d, %d] (%d values, got %d), %d labels (got %d)", N, C, S, S, N*C*S*S, len(x), N, len(y))
	}
	for _, l := range y {
		if l < 0 || l >= m.YTable.Rows {
			return nil, fmt.Errorf("dit: label %d outside [0, %d]", l, m.YTable.Rows-1)
		}
	}
	be := opt.backend()
	rows := N * T

	// 1. Patchify: Conv2d(k=p, s=p) as a matmul over gathered patches.
	pp := C * p * p
	patches := make([]float32, rows*pp)
	for n := 0; n < N; n++ {
		for i := 0; i < g; i++ {
			for j := 0; j < g; j++ {
				dst := patches[((n*T)+i*g+j)*pp:]
				for c := 0; c < C; c++ {
					for pi := 0; pi < p; pi++ {
						src := x[((n*C+c)*S+i*p+pi)*S+j*p:]
						copy(dst[(c*p+pi)*p:(c*p+pi)*p+p], src[:p])
					}
				}
			}
		}
	}
	if r, ok := be.(Runner); ok && (opt == nil || opt.Hook == nil) {
		return m.runOn(ctx, r, patches, t, y)
	}
	h := make([]float32, rows*H)
	be.Linear(h, patches, rows, m.XEmbed.W, m.XEmbed.B)
	opt.hook("x_embed", []int{N, T, H}, h)
	// 2. Positional embedding.
	for n := 0; n < N; n++ {
		add(h[n*T*H:(n+1)*T*H], m.PosEmbed)
	}
	opt.hook("x_embed_pos", []int{N, T, H}, h)

	// 3–5. Conditioning c = t_emb + y_emb.
	c := m.conditioning(be, t, y, opt)
	sc := make([]float32, len(c))
	kernels.SiLU(sc, c)

	// 6. Blocks.
	scratch := newBlockScratch(rows, H, cfg.MLPHidden())
	for i := range m.Blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.block(be, i, h, sc, N, T, scratch, opt)
		if y := opt.yield(); y != nil {
			y()
		}
	}

	// 7. Final layer.
	fm := make([]float32, N*2*H)
	be.Linear(fm, sc, N, m.FinalAda.W, m.FinalAda.B)
	opt.hook("final_adaLN", []int{N, 2 * H}, fm)
	norm := scratch.norm
	be.LayerNormModulate(norm, h, rows, H, 1e-6, T, fm[0:], fm[H:], 2*H)
	po := p * p * cfg.OutChannels()
	fo := make([]float32, rows*po)
	be.Linear(fo, norm, rows, m.Final.W, m.Final.B)
	opt.hook("final_out", []int{N, T, po}, fo)

	// 8. Unpatchify: [N, h, w, p, p, Cout] → [N, Cout, h·p, w·p].
	out := unpatchify(fo, N, 1, g, g, 1, p, p, cfg.OutChannels())
	opt.hook("out", []int{N, cfg.OutChannels(), S, S}, out)
	return out, nil
}

// unpatchify maps tokens [N, (gt·gh·gw), (pt·ph·pw·Co)] to [N, Co, gt·pt, gh·ph, gw·pw].
func unpatchify(fo []float32, N, gt, gh, gw, pt, ph, pw, Co int) []float32 {
	T := gt * gh * gw
	po := pt * ph * pw * Co
	D, Hh, W := gt*pt, gh*ph, gw*pw
	out := make([]float32, N*Co*D*Hh*W)
	for n := 0; n < N; n++ {
		for a := 0; a < gt; a++ {
			for i := 0; i < gh; i++ {
				for j := 0; j < gw; j++ {
					tok := fo[(n*T+(a*gh+i)*gw+j)*po:]
					for qa := 0; qa < pt; qa++ {
						for pi := 0; pi < ph; pi++ {
							for pj := 0; pj < pw; pj++ {
								v := tok[((qa*ph+pi)*pw+pj)*Co:]
								for co := 0; co < Co; co++ {
									out[(((n*Co+co)*D+a*pt+qa)*Hh+i*ph+pi)*W+j*pw+pj] = v[co]
								}
							}
						}
					}
				}
			}
		}
	}
	return out
}

// conditioning returns c = t_embedder(t) + y_embedder(y), [N, H].
func (m *Model) conditioning(be Backend, t []float64, y []int, opt *Options) []float32 {
	N, H := len(t), m.Cfg.HiddenSize
	te := m.timestep(be, t, opt)
	ye := make([]float32, N*H)
	for n, l := range y {
		m.YTable.Row(l, ye[n*H:(n+1)*H])
	}
	opt.hook("y_emb", []int{N, H}, ye)
	c := make([]float32, N*H)
	for i := range c {
		c[i] = te[i] + ye[i]
	}
	opt.hook("c", []int{N, H}, c)
	return c
}

// timestep runs TimestepEmbedder: mlp.2(SiLU(mlp.0(sinusoid(t)))).
func (m *Model) timestep(be Backend, t []float64, opt *Options) []float32 {
	N, H := len(t), m.TMLP1.W.Rows
	tf := TimestepEmbedding(t, TimestepFreqs)
	opt.hook("t_freq", []int{N, TimestepFreqs}, tf)
	t1 := make([]float32, N*H)
	be.Linear(t1, tf, N, m.TMLP1.W, m.TMLP1.B)
	kernels.SiLU(t1, t1)
	te := make([]float32, N*m.TMLP2.W.Rows)
	be.Linear(te, t1, N, m.TMLP2.W, m.TMLP2.B)
	opt.hook("t_emb", []int{N, m.TMLP2.W.Rows}, te)
	return te
}

type blockScratch struct {
	norm, qkv, att, proj, fc1, fc2 []float32
	mod                            []float32
}

func newBlockScratch(rows, H, mh int) *blockScratch {
	return &blockScratch{
		norm: make([]float32, rows*H),
		qkv:  make([]float32, rows*3*H),
		att:  make([]float32, rows*H),
		proj: make([]float32, rows*H),
		fc1:  make([]float32, rows*mh),
		fc2:  make([]float32, rows*H),
	}
}

// block runs DiTBlock i on h [N·T, H] in place; sc = SiLU(c) [N, H].
func (m *Model) block(be Backend, i int, h, sc []float32, N, T int, s *blockScratch, opt *Options) {
	b := &m.Blocks[i]
	H := m.Cfg.HiddenSize
	rows := N * T
	s.mod = grow(s.mod, N*6*H)
	mod := s.mod
	be.Linear(mod, sc, N, b.AdaLN.W, b.AdaLN.B)
	opt.hook(fmt.Sprintf("block%d_adaLN", i), []int{N, 6 * H}, mod)
	// shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
	be.LayerNormModulate(s.norm, h, rows, H, 1e-6, T, mod[0:], mod[H:], 6*H)
	m.selfAttention(be, s.proj, s.norm, N, T, b, s)
	opt.hook(fmt.Sprintf("block%d_attn", i), []int{N, T, H}, s.proj)
	gatedAdd(h, s.proj, mod[2*H:], 6*H, T, H)
	be.LayerNormModulate(s.norm, h, rows, H, 1e-6, T, mod[3*H:], mod[4*H:], 6*H)
	mlp(be, s.fc2, s.norm, rows, b.FC1, b.FC2, s.fc1)
	opt.hook(fmt.Sprintf("block%d_mlp", i), []int{N, T, H}, s.fc2)
	gatedAdd(h, s.fc2, mod[5*H:], 6*H, T, H)
	opt.hook(fmt.Sprintf("block%d_out", i), []int{N, T, H}, h)
}

// selfAttention writes proj(MHA(z)) for z [N·T, H] into out.
func (m *Model) selfAttention(be Backend, out, z []float32, N, T int, b *Block, s *blockScratch) {
	H := m.Cfg.HiddenSize
	selfAttn(be, out, z, N, T, H, m.Cfg.NumHeads, b.QKV, b.Proj, s.qkv, s.att)
}

func selfAttn(be Backend, out, z []float32, seqs, T, H, heads int, qkvL, projL Linear, qkv, att []float32) {
	rows := seqs * T
	qkv = qkv[:rows*3*H]
	be.Linear(qkv, z, rows, qkvL.W, qkvL.B)
	hd := H / heads
	be.Attention(&kernels.AttnArgs{
		Out: att, OutStride: H,
		Q: qkv, QStride: 3 * H,
		K: qkv[H:], V: qkv[2*H:], KVStride: 3 * H,
		Seqs: seqs, NQ: T, NK: T,
		Heads: heads, HeadDim: hd,
		Scale: float32(1 / math.Sqrt(float64(hd))),
	})
	be.Linear(out, att[:rows*H], rows, projL.W, projL.B)
}

// mlp writes fc2(GELU_tanh(fc1(z))) into out.
func mlp(be Backend, out, z []float32, rows int, fc1, fc2 Linear, hid []float32) {
	hid = hid[:rows*fc1.W.Rows]
	be.LinearGELU(hid, z, rows, fc1.W, fc1.B)
	be.Linear(out, hid, rows, fc2.W, fc2.B)
}

// gatedAdd does h[r] += gate[g]·v[r] with g = r/groupRows.
func gatedAdd(h, v, gate []float32, stride, groupRows, H int) {
	rows := len(h) / H
	for r := 0; r < rows; r++ {
		g := gate[(r/groupRows)*stride:][:H]
		hr := h[r*H : (r+1)*H]
		vr := v[r*H : (r+1)*H]
		for i := range hr {
			hr[i] += g[i] * vr[i]
		}
	}
}

func add(dst, src []float32) {
	for i := range dst {
		dst[i] += src[i]
	}
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
func (m *Model) FLOPs(n int) float64 {
	cfg := m.Cfg
	T := float64(cfg.Tokens())
	H := float64(cfg.HiddenSize)
	mh := float64(cfg.MLPHidden())
	pp := float64(cfg.PatchSize * cfg.PatchSize)
	block := T*(4*H*H+2*H*mh) + 2*T*T*H + 6*H*H
	macs := float64(cfg.Depth)*block + T*H*pp*float64(cfg.InChannels) + T*H*pp*float64(cfg.OutChannels()) + 2*H*H + TimestepFreqs*H + H*H
	return 2 * float64(n) * macs
}

// ConvertWeights converts every Linear weight of the model (embedders,
// blocks, final layer) to dt, rounding like torch. The label table and
// positional embeddings are untouched.
func (m *Model) ConvertWeights(dt tensor.DType) {
	for _, l := range m.linears() {
		l.W = l.W.ToDType(dt)
	}
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
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
