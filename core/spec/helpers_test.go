package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
)

// sharedDir locates /work/shared (../shared relative to the repo root;
// tests run in core/spec, so ../../../shared).
func sharedDir(t *testing.T, sub string) string {
	t.Helper()
	for _, base := range []string{"../../../shared", "../../shared", "../shared"} {
		p := filepath.Join(base, sub)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("shared folder %s not found (CI=true: missing ground truth fails)", sub)
	}
	t.Skipf("shared folder %s not found", sub)
	return ""
}

func readKeysFile(t *testing.T, path string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	es, err := ReadKeys(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return es
}

type manifest struct {
	Tensors []struct {
		Name             string `json:"name"`
		SafetensorsDType string `json:"safetensors_dtype"`
		Shape            []int  `json:"shape"`
	} `json:"tensors"`
}

// manifestInfos reads a fixture manifest as tensor infos; names of nested
// containers keep their '/'-joined form.
func manifestInfos(t *testing.T, path string) []tensor.Info {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := make([]tensor.Info, 0, len(m.Tensors))
	for _, x := range m.Tensors {
		dt, err := tensor.ParseDType(x.SafetensorsDType)
		if err != nil {
			dt = tensor.F32
		}
		out = append(out, tensor.Info{Name: x.Name, DType: dt, Shape: x.Shape})
	}
	return out
}

// subtree keeps the infos under container prefix ("ema/") and strips it.
func subtree(infos []tensor.Info, prefix string) []tensor.Info {
	var out []tensor.Info
	for _, in := range infos {
		if strings.HasPrefix(in.Name, prefix) {
			in.Name = strings.TrimPrefix(in.Name, prefix)
			out = append(out, in)
		}
	}
	return out
}

func entriesToInfos(es []Entry) []tensor.Info {
	out := make([]tensor.Info, len(es))
	for i, e := range es {
		out[i] = tensor.Info{Name: e.Name, DType: tensor.F32, Shape: e.Shape}
	}
	return out
}

// diffSets reports names missing from got, extra in got, and shape
// differences, as readable lines (empty when equal as sets).
func diffSets(want, got []Entry) []string {
	w := map[string][]int{}
	for _, e := range want {
		w[e.Name] = e.Shape
	}
	g := map[string][]int{}
	var out []string
	for _, e := range got {
		if _, dup := g[e.Name]; dup {
			out = append(out, "duplicate "+e.Name)
		}
		g[e.Name] = e.Shape
		ws, ok := w[e.Name]
		if !ok {
			out = append(out, "unexpected "+e.Name+" "+tensor.FormatShape(e.Shape))
		} else if !tensor.EqualShape(ws, e.Shape) {
			out = append(out, "shape "+e.Name+" want "+tensor.FormatShape(ws)+" got "+tensor.FormatShape(e.Shape))
		}
	}
	for _, e := range want {
		if _, ok := g[e.Name]; !ok {
			out = append(out, "missing "+e.Name+" "+tensor.FormatShape(e.Shape))
		}
	}
	return out
}

func names(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}
