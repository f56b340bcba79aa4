package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// writeShards splits dit_A into two shards of the given format with an index.
func writeShards(t *testing.T, dir, ext string) string {
	t.Helper()
	ck, f, err := loader.OpenFile(fixtures.Path(t, "dit_A/ckpt_plain.pt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var parts [2][]loader.Source
	wm := map[string]string{}
	for i, tt := range ck.Tensors {
		b, _ := ck.ReadTensor(tt)
		k := i * 2 / len(ck.Tensors)
		parts[k] = append(parts[k], loader.BytesSource(tt.Name, tt.DType, tt.Shape, b))
		wm[tt.Name] = "model-0000" + string(rune('1'+k)) + "-of-00002" + ext
	}
	for k, srcs := range parts {
		out, _ := os.Create(filepath.Join(dir, "model-0000"+string(rune('1'+k))+"-of-00002"+ext))
		if ext == ".safetensors" {
			err = loader.WriteSafetensors(out, srcs, nil)
		} else {
			err = loader.WriteTorch(out, srcs, loader.TorchOptions{})
		}
		out.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	idx := filepath.Join(dir, map[string]string{".safetensors": "model.safetensors.index.json", ".bin": "pytorch_model.bin.index.json"}[ext])
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 732800}, "weight_map": wm})
	os.WriteFile(idx, b, 0o644)
	return idx
}

func TestShardedSets(t *testing.T) {
	m := fixtures.ReadManifest(t, "dit_A/ckpt_plain.pt")
	for _, ext := range []string{".safetensors", ".bin"} {
		dir := t.TempDir()
		idx := writeShards(t, dir, ext)
		code, out, errs := runCLI(t, "inspect", idx, "--json")
		if code != 0 {
			t.Fatalf("%s: %s", ext, errs)
		}
		var ins struct {
			Format  string `json:"format"`
			Tensors []struct {
				Name string `json:"name"`
			} `json:"tensors"`
		}
		json.Unmarshal([]byte(out), &ins)
		if ins.Format != "sharded" || len(ins.Tensors) != len(m.Tensors) {
			t.Fatalf("%s: format %q, %d tensors", ext, ins.Format, len(ins.Tensors))
		}
		// one file out, bytes as the manifest says
		one := filepath.Join(dir, "one.safetensors")
		if code, _, errs := runCLI(t, "convert", idx, "-o", one, "--spec", specFile(t, "dit_A")); code != 0 {
			t.Fatalf("%s convert: %s", ext, errs)
		}
		if code, _, _ := runCLI(t, "diff", one, "--spec", specFile(t, "dit_A")); code != 0 {
			t.Errorf("%s: merged file is not clean", ext)
		}
		// a broken set: a shard missing, and an index that lies
		os.Remove(filepath.Join(dir, "model-00002-of-00002"+ext))
		code, _, errs = runCLI(t, "inspect", idx)
		if code != 2 || !strings.Contains(errs, "model-00002-of-00002") {
			t.Errorf("%s missing shard: exit %d %q", ext, code, errs)
		}
	}
	dir := t.TempDir()
	idx := writeShards(t, dir, ".safetensors")
	b, _ := os.ReadFile(idx)
	os.WriteFile(idx, []byte(strings.Replace(string(b), `"pos_embed":"model-00001`, `"pos_embed":"model-00002`, 1)), 0o644)
	if code, _, errs := runCLI(t, "inspect", idx); code != 2 || !strings.Contains(errs, "pos_embed") {
		t.Errorf("lying index: exit %d %q", code, errs)
	}
	os.WriteFile(idx, []byte(`{"weight_map":{"a":"../../etc/passwd"}}`), 0o644)
	if code, _, errs := runCLI(t, "inspect", idx); code != 2 || !strings.Contains(errs, "plain relative name") {
		t.Errorf("escaping index: exit %d %q", code, errs)
	}
}

// forward (and so sample and preview) opens a sharded set as diff,
// inspect and convert do: through its index.
func TestForwardShardedSet(t *testing.T) {
	idx := writeShards(t, t.TempDir(), ".safetensors")
	ref := fixtures.Path(t, "dit_A/ref_forward_fp32.safetensors")
	out := filepath.Join(t.TempDir(), "out.safetensors")
	if code, _, errs := runCLI(t, "forward", idx, "--spec", specFile(t, "dit_A"), "--inputs", ref, "-o", out); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if e := relErr(t, readF64(t, out, "out"), readF64(t, ref, "out")); e > 1e-5 {
		t.Errorf("max rel error %.3g", e)
	}
}
