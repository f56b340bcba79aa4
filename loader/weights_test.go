package loader_test

import (
	"bytes"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
)

// A checkpoint is a tensor.Source over its weights root: names relative to
// the root (DiT's train dict: ema), reads equal to ReadDense, absent names
// (nil, nil), and the root switch honoured.
func TestCheckpointAsSource(t *testing.T) {
	ck, _ := openFixture(t, "dit_A/ckpt_train.pt")
	var src tensor.Source = ck
	infos := src.Infos()
	if len(infos) != len(ck.Weights()) || ck.WeightsRoot != "ema" {
		t.Fatalf("%d infos, root %q", len(infos), ck.WeightsRoot)
	}
	for i, w := range ck.Weights() {
		if infos[i].Name != w.Name || !tensor.EqualShape(infos[i].Shape, w.Shape) {
			t.Fatalf("info %d: %+v vs %s", i, infos[i], w.Name)
		}
	}
	d, err := src.Read("pos_embed")
	if err != nil || d == nil {
		t.Fatalf("pos_embed: %v %v", d, err)
	}
	want, _ := ck.ReadDense(ck.Tensor("ema/pos_embed"))
	if !bytes.Equal(d.Data, want.Data) {
		t.Error("Read differs from ReadDense")
	}
	if d, err := src.Read("no.such.tensor"); d != nil || err != nil {
		t.Errorf("absent tensor: %v %v", d, err)
	}
	if err := ck.SetWeightsRoot("model"); err != nil {
		t.Fatal(err)
	}
	m, _ := src.Read("pos_embed")
	if m == nil || !tensor.EqualShape(m.Shape, d.Shape) {
		t.Errorf("model/pos_embed after SetWeightsRoot: %v", m)
	}
}
