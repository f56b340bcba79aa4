package loader

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// FormatSharded names a set opened through its *.index.json.
const FormatSharded = "sharded"

// MaxIndexJSON bounds an index file.
const MaxIndexJSON = 64 << 20

// IsIndexName reports whether name looks like a shard index
// (model.safetensors.index.json, pytorch_model.bin.index.json).
func IsIndexName(name string) bool { return strings.HasSuffix(strings.ToLower(name), ".index.json") }

// OpenFunc opens one shard named in an index, relative to the index.
type OpenFunc func(name string) (io.ReaderAt, int64, error)

// OpenSharded reads a shard index (`weight_map`: tensor → file) and every
// shard it names, and returns one checkpoint whose tensors are those of the
// index in the order of the shards. Every tensor the index names must be
// in the shard it names.
func OpenSharded(index []byte, name string, open OpenFunc) (*Checkpoint, error) {
	var idx struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if len(index) > MaxIndexJSON {
		return nil, ferr(name, ErrLimit, "", "index of %d bytes is larger than %d", len(index), MaxIndexJSON)
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, ferr(name, ErrCorrupt, "", "not a shard index (JSON with weight_map): %v", err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, ferr(name, ErrFormat, "weight_map", "the index names no tensors")
	}
	var files []string
	want := map[string]map[string]bool{}
	for t, f := range idx.WeightMap {
		if f == "" || strings.Contains(f, "..") || path.IsAbs(f) || strings.ContainsAny(f, "\\\x00") {
			return nil, ferr(name, ErrCorrupt, fmt.Sprintf("weight_map[%q]", t), "shard file name %q is not a plain relative name", f)
		}
		if want[f] == nil {
			want[f] = map[string]bool{}
			files = append(files, f)
		}
		want[f][t] = true
	}
	sort.Strings(files)
	ck := &Checkpoint{Format: FormatSharded, Name: name, Pickle: &PickleReport{}}
	seen := map[string]string{}
	for _, f := range files {
		r, size, err := open(f)
		if err != nil {
			return nil, fmt.Errorf("%s: shard %s: %w", name, f, err)
		}
		sh, err := Open(r, size, f)
		if err != nil {
			return nil, err
		}
		mergePickle(ck.Pickle, sh.Pickle)
		shard := &Shard{Name: f, R: r, Size: size}
		for _, t := range sh.Weights() {
			if !want[f][t.Name] {
				ck.Notes = append(ck.Notes, fmt.Sprintf("%s holds %q, which the index does not list: ignored", f, t.Name))
				continue
			}
			if prev, dup := seen[t.Name]; dup {
				return nil, ferr(name, ErrCorrupt, fmt.Sprintf("tensor %q", t.Name), "in both %s and %s", prev, f)
			}
			seen[t.Name] = f
			st := *t.Storage
			st.Shard = shard
			t.Storage = &st
			ck.Tensors = append(ck.Tensors, t)
		}
		ck.Size += size
		ck.Notes = append(ck.Notes, sh.Notes...)
	}
	for t, f := range idx.WeightMap {
		if seen[t] == "" {
			return nil, ferr(name, ErrCorrupt, fmt.Sprintf("tensor %q", t), "the index puts it in %s, which does not hold it", f)
		}
	}
	ck.chooseWeightsRoot()
	return ck, nil
}

// mergePickle adds r's globals and findings into into.
func mergePickle(into, r *PickleReport) {
	if r == nil {
		return
	}
	into.Globals = append(into.Globals, r.Globals...)
	into.Findings = append(into.Findings, r.Findings...)
	into.Protocol = max(into.Protocol, r.Protocol)
}
