package fix_test

import (
	"math"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Regenerated tables equal what upstream saved in the fixtures.
func TestTablesMatchSavedBuffers(t *testing.T) {
	dit := ditSpec(t)
	// DiT's EMA update touches pos_embed (an nn.Parameter) and moves some
	// values by an ulp, so the raw model of the training checkpoint is the
	// formula's ground truth.
	cases := []struct {
		ckpt string
		s    *spec.Spec
		key  string
	}{
		{"dit_A/ckpt_train.pt", dit, "model/pos_embed"},
		{"stdit_tiny/ckpt_plain.pt", stditSpec(t), "pos_embed"},
		{"stdit_tiny/ckpt_plain.pt", stditSpec(t), "pos_embed_temporal"},
	}
	for _, c := range cases {
		ck, f, err := loader.OpenFile(fixtures.Path(t, c.ckpt))
		if err != nil {
			t.Fatal(err)
		}
		d, err := ck.ReadDense(ck.Tensor(c.key))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := d.Float32s()
		got, shape, _, err := fix.Table(c.s, strings.TrimPrefix(c.key, "model/"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || shape[1] != d.Shape[1] {
			t.Fatalf("%s %s: %d values %v, saved %d %v", c.ckpt, c.key, len(got), shape, len(want), d.Shape)
		}
		diff := 0
		maxd := 0.0
		for i := range got {
			if got[i] != want[i] {
				diff++
				maxd = math.Max(maxd, math.Abs(float64(got[i]-want[i])))
			}
		}
		if diff != 0 {
			t.Errorf("%s %s: %d of %d values differ (max %g)", c.ckpt, c.key, diff, len(got), maxd)
		}
	}
}
