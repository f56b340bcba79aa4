package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// dit_A → diffusers layout → original layout gives back the same tensors
// (pos_embed is regenerated: equal to the formula, which the EMA'd copy in
// ckpt_plain.pt is within an ulp of).
func TestDiffusersRoundTrip(t *testing.T) {
	dir := t.TempDir()
	diffSpec := filepath.Join(dir, "dit_diffusers.json")
	os.WriteFile(diffSpec, []byte(`{"family":"dit-diffusers","num_attention_heads":4,"attention_head_dim":16,"in_channels":4,"out_channels":8,"num_layers":2,"sample_size":8,"patch_size":2,"num_embeds_ada_norm":10}`), 0o644)
	ditSpec := specFile(t, "dit_A")
	mid := filepath.Join(dir, "diffusers.safetensors")
	back := filepath.Join(dir, "back.pt")
	if code, _, errs := runCLI(t, "convert", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", diffSpec, "-o", mid); code != 0 {
		t.Fatalf("to diffusers: %s", errs)
	}
	if code, out, _ := runCLI(t, "diff", mid, "--spec", diffSpec); code != 0 {
		t.Fatalf("diffusers output is not clean:\n%s", out)
	}
	ck, f, err := loader.OpenFile(mid)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Tensor("transformer_blocks.1.norm1.emb.class_embedder.embedding_table.weight") == nil || ck.Tensor("transformer_blocks.0.attn1.to_v.weight") == nil {
		t.Fatal("diffusers layout lacks the per-block embedders or split attention")
	}
	f.Close()
	if code, _, errs := runCLI(t, "convert", mid, "--spec", ditSpec, "-o", back); code != 0 {
		t.Fatalf("back to DiT: %s", errs)
	}
	a, fa, _ := loader.OpenFile(fixtures.Path(t, "dit_A/ckpt_plain.pt"))
	b, fb, err := loader.OpenFile(back)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	defer fb.Close()
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors back, %d originally", len(b.Tensors), len(a.Tensors))
	}
	for i, ta := range a.Tensors {
		tb := b.Tensors[i]
		if tb.Name != ta.Name {
			t.Fatalf("order: %s vs %s", tb.Name, ta.Name)
		}
		if ta.Name == "pos_embed" {
			continue
		}
		da, _ := a.ReadTensor(ta)
		db, _ := b.ReadTensor(tb)
		if !bytes.Equal(da, db) {
			t.Errorf("%s differs after the round trip", ta.Name)
		}
	}
}

// Diverged per-block copies are refused, not silently deduplicated.
func TestDedupeRefusesDivergedCopies(t *testing.T) {
	dir := t.TempDir()
	diffSpec := filepath.Join(dir, "dit_diffusers.json")
	os.WriteFile(diffSpec, []byte(`{"family":"dit-diffusers","num_attention_heads":4,"attention_head_dim":16,"in_channels":4,"out_channels":8,"num_layers":2,"sample_size":8,"patch_size":2,"num_embeds_ada_norm":10}`), 0o644)
	mid := filepath.Join(dir, "diffusers.safetensors")
	if code, _, errs := runCLI(t, "convert", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", diffSpec, "-o", mid); code != 0 {
		t.Fatalf("to diffusers: %s", errs)
	}
	ck, f, err := loader.OpenFile(mid)
	if err != nil {
		t.Fatal(err)
	}
	var srcs []loader.Source
	for _, tt := range ck.Tensors {
		b, _ := ck.ReadTensor(tt)
		if tt.Name == "transformer_blocks.1.norm1.emb.class_embedder.embedding_table.weight" {
			b[0] ^= 1 // fine-tuned: block 1's copy diverged
		}
		srcs = append(srcs, loader.BytesSource(tt.Name, tt.DType, tt.Shape, b))
	}
	f.Close()
	in := filepath.Join(dir, "diverged.safetensors")
	w, _ := os.Create(in)
	if err := loader.WriteSafetensors(w, srcs, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	code, _, errs := runCLI(t, "convert", in, "--spec", specFile(t, "dit_A"), "-o", filepath.Join(dir, "out.pt"))
	if code != 2 || !bytes.Contains([]byte(errs), []byte("diverged")) {
		t.Fatalf("exit %d: %s", code, errs)
	}
}
