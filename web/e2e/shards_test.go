package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Several files dropped at once: a *.index.json with its two shards opens
// as one checkpoint, and the report equals `ditkit inspect --json INDEX`.
func TestDropShardedSet(t *testing.T) {
	ctx := page(t)
	dir := t.TempDir()
	ck, f, err := loader.OpenFile(fixtures.Path(t, "dit_A/ckpt.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	weightMap := map[string]string{}
	var shards [2][]loader.Source
	for i, w := range ck.Tensors {
		b, err := ck.ReadTensor(w)
		if err != nil {
			t.Fatal(err)
		}
		n := i * 2 / len(ck.Tensors)
		shards[n] = append(shards[n], loader.BytesSource(w.Name, w.DType, w.Shape, b))
		weightMap[w.Name] = []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[n]
	}
	paths := []string{filepath.Join(dir, "model.safetensors.index.json")}
	for i, name := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		var b bytes.Buffer
		if err := loader.WriteSafetensors(&b, shards[i], nil); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
		paths = append(paths, filepath.Join(dir, name))
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	os.WriteFile(paths[0], idx, 0o644)

	drop(t, ctx, paths[1], paths[0], paths[2]) // any order
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "model.safetensors.index.json"`, "the set's report")
	if got := text(t, ctx, "#format"); got != "sharded" {
		t.Errorf("format %q", got)
	}
	if n := js[int](t, ctx, `document.querySelectorAll("#files button").length`); n != 3 {
		t.Errorf("%d files listed, want 3", n)
	}
	want, stderr, code := cli(t, dir, "inspect", "--json", "model.safetensors.index.json")
	if code != 0 {
		t.Fatalf("cli: %d %s", code, stderr)
	}
	var w struct {
		TensorCount int `json:"tensor_count"`
	}
	json.Unmarshal([]byte(want), &w)
	if got := text(t, ctx, "#report dl.facts dd:nth-of-type(4)"); got != "32" || w.TensorCount != 32 {
		t.Errorf("page shows %q tensors, CLI %d", got, w.TensorCount)
	}
	shot(t, ctx, "sharded")
}
