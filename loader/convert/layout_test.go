package convert

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/loader/report"
)

// tensorPrint is what "the same tensor" means for the layout tests: name,
// dtype, shape and the sha256 of its bytes.
type tensorPrint struct{ name, dtype, shape, sha string }

func prints(t *testing.T, ck *loader.Checkpoint) []tensorPrint {
	t.Helper()
	ws := ck.Weights()
	hs, err := HashTensors(ck, ws)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]tensorPrint, len(ws))
	for i, w := range ws {
		out[i] = tensorPrint{w.Name, w.DType.String(), fmt.Sprint(w.Shape), hs[i]}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func openFixture(t *testing.T, rel string) *loader.Checkpoint {
	t.Helper()
	p := fixtures.Path(t, rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture %s: %v", rel, err)
	}
	ck, f, err := loader.OpenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return ck
}

// familyTinyLayouts lists each tiny fixture's files by layout.
func familyTinyLayouts(t *testing.T) map[string]map[string]string {
	root := fixtures.Path(t, "families/tiny")
	out := map[string]map[string]string{}
	files, _ := filepath.Glob(filepath.Join(root, "*", "*.safetensors"))
	for _, f := range files {
		rel, _ := filepath.Rel(fixtures.Root(t), f)
		base := filepath.Base(f)
		for _, l := range []string{"original", "diffusers", "comfyui"} {
			suffix := "." + l + ".safetensors"
			if len(base) > len(suffix) && base[len(base)-len(suffix):] == suffix {
				key := filepath.Join(filepath.Base(filepath.Dir(f)), base[:len(base)-len(suffix)])
				if out[key] == nil {
					out[key] = map[string]string{}
				}
				out[key][l] = rel
			}
		}
	}
	if len(out) < 7 {
		t.Fatalf("only %d tiny fixtures under %s", len(out), root)
	}
	return out
}

// `convert --layout` of every tiny fixture into each other layout that
// upstream wrote equals that file tensor for tensor and byte for byte
// (names, dtypes, shapes, sha256), through the real convert path.
func TestConvertLayoutMatchesUpstreamFiles(t *testing.T) {
	for name, files := range familyTinyLayouts(t) {
		for from, src := range files {
			for to, dst := range files {
				if from == to {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s-to-%s", name, from, to), func(t *testing.T) {
					ck := openFixture(t, src)
					var out bytes.Buffer
					rep, err := Run(ck, report.TargetRequest{Layout: to}, Options{Format: "safetensors", Fixes: []string{"auto"}, OutputName: "out.safetensors"}, &out)
					if err != nil {
						t.Fatal(err)
					}
					if rep.Clean == nil || !*rep.Clean {
						t.Fatalf("not clean against its own %s layout: %v", to, rep.Remaining)
					}
					data := out.Bytes()
					oc, err := loader.Open(bytes.NewReader(data), int64(len(data)), "out.safetensors")
					if err != nil {
						t.Fatal(err)
					}
					got, want := prints(t, oc), prints(t, openFixture(t, dst))
					if len(got) != len(want) {
						t.Fatalf("%d tensors, upstream's %s file has %d", len(got), to, len(want))
					}
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("tensor %d: got %+v, upstream %+v", i, got[i], want[i])
						}
					}
				})
			}
		}
	}
}
