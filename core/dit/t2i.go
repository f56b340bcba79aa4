package dit

// Pieces PixArt's adaLN-single blocks share with Open-Sora's STDiT (the
// T2I block and final layer): mod = scale_shift_table[None] + t0 and
// x·(1 + scale) + shift modulation per sample (group rows each).

// t2iWeights are a T2I model's embedders and final layer (PixArt,
// Open-Sora's STDiT and STDiT3): x_embedder, t_embedder, t_block,
// y_embedder and T2IFinalLayer.
type t2iWeights struct {
	XEmbed       Linear    // x_embedder.proj [H, C·patch volume]
	TMLP1, TMLP2 Linear    // t_embedder.mlp.0, mlp.2
	TBlock       Linear    // t_block.1 [6H, H]
	YProj1       Linear    // y_embedder.y_proj.fc1 [H, Ct]
	YProj2       Linear    // y_embedder.y_proj.fc2 [H, H]
	YEmbedding   []float32 // y_embedder.y_embedding: the null caption [L, Ct] (nil when not saved)
	FinalShift   []float32 // final_layer.scale_shift_table [2, H]
	Final        Linear    // final_layer.linear
}

// readEmbedders reads x_embedder (patchIn inputs per token), t_embedder,
// t_block and y_embedder.y_proj (Ct caption channels).
func (w *t2iWeights) readEmbedders(r *reader, H, patchIn, Ct int) {
	r.linear(&w.XEmbed, "x_embedder.proj", H, patchIn)
	r.timestepEmbedder(&w.TMLP1, &w.TMLP2, "t_embedder", H)
	r.linear(&w.TBlock, "t_block.1", 6*H, H)
	r.linear(&w.YProj1, "y_embedder.y_proj.fc1", H, Ct)
	r.linear(&w.YProj2, "y_embedder.y_proj.fc2", H, H)
}

// readNullCaption reads the optional null caption y_embedder.y_embedding.
func (w *t2iWeights) readNullCaption(r *reader, L, Ct int) {
	w.YEmbedding = r.vec("y_embedder.y_embedding", L*Ct, true)
}

// readFinal reads T2IFinalLayer (out outputs per token).
func (w *t2iWeights) readFinal(r *reader, H, out int) {
	w.FinalShift = r.vec("final_layer.scale_shift_table", 2*H, false)
	r.linear(&w.Final, "final_layer.linear", out, H)
}

func (w *t2iWeights) linears() []*Linear {
	return []*Linear{&w.XEmbed, &w.TMLP1, &w.TMLP2, &w.TBlock, &w.YProj1, &w.YProj2, &w.Final}
}

// t2iCross is the end of a T2I block (PixArtBlock, Open-Sora's STDiT
// blocks): cross-attention to the caption (MultiHeadCrossAttention) and
// the MLP.
type t2iCross struct {
	CrossQ, CrossKV, CrossProj Linear
	FC1, FC2                   Linear
}

// read reads pre+"cross_attn.*" and pre+"mlp.*" (H wide, MLP hidden mh).
func (c *t2iCross) read(r *reader, pre string, H, mh int) {
	r.linear(&c.CrossQ, pre+"cross_attn.q_linear", H, H)
	r.linear(&c.CrossKV, pre+"cross_attn.kv_linear", 2*H, H)
	r.linear(&c.CrossProj, pre+"cross_attn.proj", H, H)
	r.linear(&c.FC1, pre+"mlp.fc1", mh, H)
	r.linear(&c.FC2, pre+"mlp.fc2", H, mh)
}

func (c *t2iCross) linears() []*Linear {
	return []*Linear{&c.CrossQ, &c.CrossKV, &c.CrossProj, &c.FC1, &c.FC2}
}

// siluMLP appends out = l2(SiLU(l1(in))) over rows (a TimestepEmbedder's
// or SizeEmbedder's mlp), with a and s [rows, l1 out] as scratch.
func (b *builder) siluMLP(out, in, a, s Buf, rows int, l1, l2 *Linear) {
	b.linear(a, in, rows, l1)
	b.op(&SiLUOp{Dst: s, Src: a, N: rows * l1.W.Rows})
	b.linear(out, s, rows, l2)
}

// t2iMod appends mod [B, 6H] = t0 [B, 6H] + scale_shift_table [6H].
func (b *builder) t2iMod(mod, t0 Buf, sst []float32, B, H int) {
	b.op(&AddOp{Dst: mod, Src: t0, Rows: B, Cols: 6 * H, Set: true})
	b.op(&AddOp{Dst: mod, Src: b.constant(sst), Rows: B, Cols: 6 * H, Mod: 1})
}

// t2iMLP appends h += gate_mlp · mlp(t2i_modulate(norm2(h), shift_mlp,
// scale_mlp)) over rows of H, with norm, fc1 and fc2 as scratch.
func (b *builder) t2iMLP(h, mod, norm, fc1, fc2 Buf, rows, group, H int, l1, l2 *Linear) {
	b.op(&NormOp{Dst: norm, Src: h, Mod: mod, Rows: rows, Cols: H, Eps: 1e-6, Group: group, Stride: 6 * H, Shift: 3 * H, Scale: 4 * H})
	b.mlp(fc2, norm, fc1, rows, l1, l2)
	b.op(&GateOp{Dst: h, Src: fc2, Gate: mod, Rows: rows, Cols: H, Group: group, Stride: 6 * H, Off: 5 * H})
}

// t2iFinal appends T2IFinalLayer: shift, scale = scale_shift_table + t
// (te [B, H]), fo = linear(t2i_modulate(norm(h), shift, scale)), with fm
// [B, 2H] and norm as scratch.
func (b *builder) t2iFinal(fo, h, te, fm, norm Buf, sst []float32, B, rows, group, H int, l *Linear) {
	b.op(&AddOp{Dst: fm, Src: te, Rows: 2 * B, Cols: H, Div: 2, Set: true})
	b.op(&AddOp{Dst: fm, Src: b.constant(sst), Rows: 2 * B, Cols: H, Mod: 2})
	b.op(&NormOp{Dst: norm, Src: h, Mod: fm, Rows: rows, Cols: H, Eps: 1e-6, Group: group, Stride: 2 * H, Shift: 0, Scale: H})
	b.linear(fo, norm, rows, l)
}
