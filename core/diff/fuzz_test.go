package diff_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// FuzzErrorText: any pasted text parses or fails cleanly, and a parsed one
// diffs against a checkpoint without panicking.
func FuzzErrorText(f *testing.F) {
	var lm map[string]struct {
		Error string `json:"error"`
	}
	if b, err := os.ReadFile(fixtures.Path(f, "dit_A/load_matrix.json")); err == nil {
		json.Unmarshal(b, &lm)
	}
	for _, c := range lm {
		if c.Error != "" {
			f.Add(c.Error)
		}
	}
	f.Add("size mismatch for a: copying a param with shape torch.Size([1, 2]) from checkpoint, the shape in current model is torch.Size([2, 1]).")
	f.Add(`Missing key(s) in state_dict: "a", "b\"c". Unexpected key(s) in state_dict: "d".`)
	ws := []tensor.Info{{Name: "a", DType: tensor.F32, Shape: []int{2, 1}}, {Name: "pos_embed", DType: tensor.F32, Shape: []int{1, 4, 8}}}
	f.Fuzz(func(t *testing.T, text string) {
		tg, err := diff.ErrorTextTarget(text, ws, nil)
		if err != nil {
			return
		}
		if _, err := diff.Diff(ws, tg, diff.Options{}); err != nil {
			t.Logf("diff: %v", err)
		}
	})
}
