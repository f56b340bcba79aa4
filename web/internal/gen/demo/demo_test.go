package demo

import (
	"bytes"
	"slices"
	"testing"

	"github.com/ditkit/ditkit/loader"
)

func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Write(&a); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two runs wrote different bytes")
	}
}

// The demo shows the famous mismatch: a 2-D patch embedding.
func TestDemoHasTheTwoDPatchEmbedding(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf); err != nil {
		t.Fatal(err)
	}
	ck, err := loader.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), FileName)
	if err != nil {
		t.Fatal(err)
	}
	w := ck.Tensor("x_embedder.proj.weight")
	if w == nil || !slices.Equal(w.Shape, []int{64, 4, 2, 2}) {
		t.Fatalf("x_embedder.proj.weight = %+v, want shape [64 4 2 2]", w)
	}
	if ck.Pickle.Verdict() != loader.VerdictSafe {
		t.Fatalf("verdict %s", ck.Pickle.Verdict())
	}
	if len(ck.Tensors) != 32 {
		t.Fatalf("%d tensors, want 32 like dit_A", len(ck.Tensors))
	}
}
