package spec

// kb accumulates state-dict entries in order.
type kb struct{ e []Entry }

func (b *kb) param(name string, shape ...int) {
	b.e = append(b.e, Entry{Name: name, Shape: shape})
}

// fixedParam is an nn.Parameter with requires_grad=False holding a
// deterministic table (DiT pos_embed, Latte temp_embed, rope.freqs).
func (b *kb) fixedParam(name string, shape ...int) {
	b.e = append(b.e, Entry{Name: name, Shape: shape, Fixed: true})
}

func (b *kb) buffer(name string, fixed bool, shape ...int) {
	b.e = append(b.e, Entry{Name: name, Shape: shape, Buffer: true, Fixed: fixed})
}

// linear adds nn.Linear(in, out) keys: weight [out, in] and bias [out].
func (b *kb) linear(prefix string, out, in int, bias bool) {
	b.param(prefix+".weight", out, in)
	if bias {
		b.param(prefix+".bias", out)
	}
}

// conv adds ConvNd keys: weight [out, in, k...] and bias [out].
func (b *kb) conv(prefix string, out, in int, kernel ...int) {
	b.param(prefix+".weight", append([]int{out, in}, kernel...)...)
	b.param(prefix+".bias", out)
}

// timestepEmbedder: TimestepEmbedder / SizeEmbedder (mlp.0: 256→H, mlp.2: H→H).
func (b *kb) timestepEmbedder(prefix string, h int) {
	b.linear(prefix+".mlp.0", h, 256, true)
	b.linear(prefix+".mlp.2", h, h, true)
}

// embedding: diffusers TimestepEmbedding / PixArtAlphaTextProjection
// (linear_1: in→out, linear_2: out→out).
func (b *kb) embedding(prefix string, out, in int) {
	b.linear(prefix+".linear_1", out, in, true)
	b.linear(prefix+".linear_2", out, out, true)
}

// mlpEmbedder: BFL MLPEmbedder (in_layer: in→out, out_layer: out→out).
func (b *kb) mlpEmbedder(prefix string, out, in int) {
	b.linear(prefix+".in_layer", out, in, true)
	b.linear(prefix+".out_layer", out, out, true)
}

// ff: diffusers FeedForward (net.0.proj: h→m, net.2: m→h).
func (b *kb) ff(prefix string, h, m int) {
	b.linear(prefix+".net.0.proj", m, h, true)
	b.linear(prefix+".net.2", h, m, true)
}

// qkvo: a diffusers Attention's projections: to_q [inner, inner], to_k
// and to_v [inner, kv], to_out.0 [inner, inner].
func (b *kb) qkvo(prefix string, inner, kv int, bias, outBias bool) {
	b.linear(prefix+".to_q", inner, inner, bias)
	b.linear(prefix+".to_k", inner, kv, bias)
	b.linear(prefix+".to_v", inner, kv, bias)
	b.linear(prefix+".to_out.0", inner, inner, outBias)
}

// rmsNorms adds weight-only norms (RMSNorm) of width n named names under
// prefix.
func (b *kb) rmsNorms(prefix string, n int, names ...string) {
	for _, nm := range names {
		b.param(prefix+"."+nm+".weight", n)
	}
}

// timmMlp: timm Mlp fc1/fc2.
func (b *kb) timmMlp(prefix string, h, m int) {
	b.linear(prefix+".fc1", m, h, true)
	b.linear(prefix+".fc2", h, m, true)
}

// osAttention: timm / Open-Sora Attention: qkv, [q_norm, k_norm as
// LlamaRMSNorm(hd), weight only], proj.
func (b *kb) osAttention(prefix string, h, rmsHeadDim int) {
	b.linear(prefix+".qkv", 3*h, h, true)
	if rmsHeadDim > 0 {
		b.param(prefix+".q_norm.weight", rmsHeadDim)
		b.param(prefix+".k_norm.weight", rmsHeadDim)
	}
	b.linear(prefix+".proj", h, h, true)
}

// crossAttn: MultiHeadCrossAttention (q_linear, kv_linear, proj).
func (b *kb) crossAttn(prefix string, h int) {
	b.linear(prefix+".q_linear", h, h, true)
	b.linear(prefix+".kv_linear", 2*h, h, true)
	b.linear(prefix+".proj", h, h, true)
}

// captionEmbedder: y_embedding is the module's own persistent buffer, so
// it precedes y_proj in state_dict order.
func (b *kb) captionEmbedder(prefix string, h, ct, l int) {
	b.buffer(prefix+".y_embedding", false, l, ct)
	b.linear(prefix+".y_proj.fc1", h, ct, true)
	b.linear(prefix+".y_proj.fc2", h, h, true)
}

// t2iFinal: T2IFinalLayer: own scale_shift_table first, then linear.
func (b *kb) t2iFinal(prefix string, h, out int) {
	b.param(prefix+".scale_shift_table", 2, h)
	b.linear(prefix+".linear", out, h, true)
}

// ditFinal: DiT FinalLayer (linear, adaLN_modulation.1).
func (b *kb) ditFinal(prefix string, h, out int) {
	b.linear(prefix+".linear", out, h, true)
	b.linear(prefix+".adaLN_modulation.1", 2*h, h, true)
}

// ditBlock: DiTBlock (attn, mlp, adaLN_modulation.1).
func (b *kb) ditBlock(prefix string, h, m int) {
	b.osAttention(prefix+".attn", h, 0)
	b.timmMlp(prefix+".mlp", h, m)
	b.linear(prefix+".adaLN_modulation.1", 6*h, h, true)
}

func prod(xs []int) int {
	p := 1
	for _, x := range xs {
		p *= x
	}
	return p
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var buf [20]byte
	n := len(buf)
	neg := i < 0
	if neg {
		i = -i
	}
	for i > 0 {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		n--
		buf[n] = '-'
	}
	return string(buf[n:])
}
