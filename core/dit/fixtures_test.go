package dit_test

import (
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func getter(m map[string]*tensor.Dense) dit.Getter {
	return func(name string) (*tensor.Dense, error) { return m[name], nil }
}

func infos(m map[string]*tensor.Dense) []tensor.Info {
	var out []tensor.Info
	for k, v := range m {
		out = append(out, tensor.Info{Name: k, DType: v.DType, Shape: v.Shape})
	}
	return out
}

func f32s(t testing.TB, d *tensor.Dense) []float32 {
	t.Helper()
	v, err := d.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func f64s(t testing.TB, d *tensor.Dense) []float64 {
	t.Helper()
	v, err := d.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ints(t testing.TB, d *tensor.Dense) []int {
	t.Helper()
	v, err := d.Int64s()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// relErr is max|a−b| / max|ref|.
func relErr(a []float32, ref []float64) float64 {
	var md, mr float64
	for i := range ref {
		d := float64(a[i]) - ref[i]
		if d < 0 {
			d = -d
		}
		md = max(md, d)
		r := ref[i]
		if r < 0 {
			r = -r
		}
		mr = max(mr, r)
	}
	if mr == 0 {
		return md
	}
	return md / mr
}

// loadDiT loads a dit_A checkpoint.
func loadDiT(t testing.TB, file string) *dit.Model {
	t.Helper()
	w := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), "dit_A", file))
	cfg, err := dit.ConfigFromShapes(infos(w), 4)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dit.Load(cfg, getter(w))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
