package fix

import (
	"fmt"

	"github.com/ditkit/ditkit/core/tensor"
)

// Tensor is one entry of a virtual state dict.
type Tensor struct {
	Name  string
	DType tensor.DType
	Shape []int
	Data  Data
}

// Info returns the tensor's metadata.
func (t Tensor) Info() tensor.Info { return tensor.Info{Name: t.Name, DType: t.DType, Shape: t.Shape} }

// FromInfos builds a virtual state dict that reads every tensor whole from
// the source (the starting point of every plan).
func FromInfos(infos []tensor.Info) ([]Tensor, error) {
	out := make([]Tensor, len(infos))
	for i, in := range infos {
		nb, err := tensor.NBytes(in.DType, in.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", in.Name, err)
		}
		out[i] = Tensor{Name: in.Name, DType: in.DType, Shape: append([]int(nil), in.Shape...), Data: Src{Name: in.Name, N: nb}}
	}
	return out, nil
}

// Infos lists the metadata of a virtual state dict.
func Infos(ts []Tensor) []tensor.Info {
	out := make([]tensor.Info, len(ts))
	for i, t := range ts {
		out[i] = t.Info()
	}
	return out
}

// find is the position of key in ts (a linear scan: one lookup costs less
// than building an index).
func find(ts []Tensor, key string) (int, bool) {
	for i := range ts {
		if ts[i].Name == key {
			return i, true
		}
	}
	return 0, false
}

// indexOf maps the wanted keys to their positions in ts.
func indexOf(ts []Tensor, keys []string) map[string]int {
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	m := make(map[string]int, len(keys))
	for i, t := range ts {
		if want[t.Name] {
			if _, dup := m[t.Name]; !dup {
				m[t.Name] = i
			}
		}
	}
	return m
}
