package ui

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
	js "github.com/vugu/vugu/js"
)

// Source is one checkpoint the user gave the page: a dropped or picked File,
// or the built-in demo. R reads byte ranges of it; nothing is copied whole.
type Source struct {
	Name string
	Size int64
	R    io.ReaderAt
	// Open, when set, opens the source instead of loader.Open (a shard
	// index opens the set with the shards dropped beside it).
	Open func() (*loader.Checkpoint, error)
}

// linkShards gives every *.index.json among srcs an Open that reads the
// shards it names from all (matched by base name), and returns the index
// of the first index in srcs (-1 if none).
func linkShards(srcs, all []*Source) int {
	first := -1
	for i, s := range srcs {
		if !loader.IsIndexName(s.Name) {
			continue
		}
		if first < 0 {
			first = i
		}
		idx := s
		idx.Open = func() (*loader.Checkpoint, error) {
			if idx.Size > loader.MaxIndexJSON {
				return nil, fmt.Errorf("%s: index of %d bytes is larger than %d", idx.Name, idx.Size, loader.MaxIndexJSON)
			}
			b := make([]byte, idx.Size)
			if _, err := idx.R.ReadAt(b, 0); err != nil && err != io.EOF {
				return nil, fmt.Errorf("%s: %w", idx.Name, err)
			}
			return loader.OpenSharded(b, idx.Name, func(name string) (io.ReaderAt, int64, error) {
				base := path.Base(name)
				for _, sh := range all {
					if sh.Name == base {
						return sh.R, sh.Size, nil
					}
				}
				return nil, 0, fmt.Errorf("shard %s was not dropped with %s: drop the index and every shard together", name, idx.Name)
			})
		}
	}
	return first
}

// Host is what the page needs from its environment. The wasm entry point
// implements it over JS Blobs; native tests implement it over files.
type Host interface {
	// Files turns a FileList (from a drop or the file picker) into sources.
	Files(list js.Value) []*Source
	// Demo loads the built-in demo checkpoint. It may block (a fetch): it is
	// only called from a goroutine.
	Demo() (*Source, error)
}

// CLIError words an error as the CLI prints it (`ditkit: ...` on one line).
func CLIError(err error) string {
	return "ditkit: " + strings.ReplaceAll(err.Error(), "\n", " ")
}

// Param is one derived hyperparameter. Guess marks a value nothing
// published backs (spec.Ambiguity.Guess): Source and Reason say where it
// came from and why shapes cannot tell, for the page to highlight it.
type Param struct {
	Name, Value, Doc string
	Guess            bool
	Source, Reason   string
}

// Detected is the page's view of spec.Detect over the weights root.
type Detected struct {
	Family, Version, Prefix string
	Preset, ClosestPreset   string
	Variant, Layout         string
	Hidden, Depth           int // spec.Size: 0 when not known
	Confidence              string
	Params                  []Param
	Evidence, Ambiguous     []string
	Ambiguities             []spec.Ambiguity // Ambiguous, structured (value, source, guess)
	Missing, Unexpected     []string
	ShapeMismatch           []string
}

// Detect runs architecture detection on the checkpoint's weights root.
func Detect(ck *loader.Checkpoint) *Detected {
	d := spec.Detect(ck.Infos())
	out := &Detected{
		Family: d.Family, Version: d.Version, Prefix: d.Prefix, Preset: d.Preset, ClosestPreset: d.ClosestPreset,
		Variant: d.Variant, Layout: d.Layout,
		Confidence: fmt.Sprintf("%.0f%%", d.Confidence*100),
		Evidence:   d.Evidence, Ambiguous: d.Ambiguous, Ambiguities: d.Ambiguities,
		Missing: d.Missing, Unexpected: d.Unexpected, ShapeMismatch: d.ShapeMismatch,
	}
	out.Hidden, out.Depth = spec.Size(d.Params)
	if d.Params != nil {
		for _, f := range spec.Families() {
			if f.ID != d.Family {
				continue
			}
			for _, p := range f.Params {
				if v, ok := d.Params.Get(p.Name); ok && v != nil {
					q := Param{Name: p.Name, Value: formatValue(v), Doc: p.Doc}
					for _, a := range d.Ambiguities {
						if a.Param == p.Name {
							q.Guess, q.Source, q.Reason = a.Guess, a.Source, a.Reason
						}
					}
					out.Params = append(out.Params, q)
				}
			}
		}
	}
	return out
}

func formatValue(v any) string {
	switch t := v.(type) {
	case []int:
		return tensor.FormatShape(t)
	case float64:
		return fmt.Sprintf("%g", t)
	}
	return fmt.Sprint(v)
}

// TensorRow is one row of the tensor table, preformatted.
type TensorRow struct {
	Name, DType, Shape, Params string
	lower                      string
}

func tensorRows(rep *report.Inspect) []TensorRow {
	rows := make([]TensorRow, len(rep.Tensors))
	for i, t := range rep.Tensors {
		n, _ := tensor.Numel(t.Shape)
		rows[i] = TensorRow{Name: t.Name, DType: t.DType, Shape: tensor.FormatShape(t.Shape),
			Params: humanCount(n), lower: strings.ToLower(t.Name + " " + t.DType + " " + tensor.FormatShape(t.Shape))}
	}
	return rows
}

// filterRows returns the rows matching every word of query, at most limit,
// and the total number of matches.
func filterRows(rows []TensorRow, query string, limit int) ([]TensorRow, int) {
	words := strings.Fields(strings.ToLower(query))
	var out []TensorRow
	total := 0
next:
	for i := range rows {
		for _, w := range words {
			if !strings.Contains(rows[i].lower, w) {
				continue next
			}
		}
		total++
		if len(out) < limit {
			out = append(out, rows[i])
		}
	}
	return out, total
}

// HumanBytes formats a byte count like the CLI.
func HumanBytes(n int64) string { return report.HumanBytes(n) }

func humanCount(n int64) string { return report.HumanCount(n) }

func rootLabel(r string) string {
	if r == "" {
		return "(top level)"
	}
	return r
}

// paramClass highlights a guessed hyperparameter in the detected table.
func paramClass(p Param) string {
	if p.Guess {
		return "guess"
	}
	return ""
}

// paramValue marks a guessed value as a guess.
func paramValue(p Param) string {
	if p.Guess {
		return p.Value + " (a guess)"
	}
	return p.Value
}

// paramDoc is the meaning of a parameter and, for a value the shapes do
// not decide, why and where the value came from.
func paramDoc(p Param) string {
	switch {
	case p.Guess:
		return p.Doc + " — a guess: " + p.Reason + " (the preview's field below takes the right value)"
	case p.Reason != "":
		return p.Doc + " — " + p.Source + " (" + p.Reason + ")"
	}
	return p.Doc
}
