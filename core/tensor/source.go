package tensor

import "sort"

// Source is a set of named tensors read on demand: a checkpoint's weights
// root (loader.Checkpoint), an in-memory map (Map), or generated weights.
// Model builders read through it, so core never depends on file formats.
type Source interface {
	// Infos lists the tensors (names as stored, wrapper prefixes included).
	Infos() []Info
	// Read returns the named tensor's values, or (nil, nil) when there is
	// no such tensor.
	Read(name string) (*Dense, error)
}

// Map is a Source over tensors held in memory.
type Map map[string]*Dense

// Infos implements Source (sorted by name).
func (m Map) Infos() []Info {
	out := make([]Info, 0, len(m))
	for k, d := range m {
		out = append(out, Info{Name: k, DType: d.DType, Shape: d.Shape})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Read implements Source.
func (m Map) Read(name string) (*Dense, error) { return m[name], nil }
