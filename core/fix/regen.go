package fix

import (
	"errors"
	"fmt"
	"math"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// ErrNoFormula is returned for tables ditkit cannot recompute.
var ErrNoFormula = errors.New("no formula to regenerate this tensor")

// Regenerate returns a step that writes the target's own value of a fixed
// table (sin-cos position embeddings) for the spec's sizes, stored as dt.
func Regenerate(s *spec.Spec, key string, dt tensor.DType) (*Step, error) {
	vals, shape, formula, err := Table(s, key)
	if err != nil {
		return nil, err
	}
	desc := fmt.Sprintf("regenerate %s %s from its formula (%s)", key, tensor.FormatShape(shape), formula)
	return Put("regenerate", key, desc, dt, shape, vals)
}

// Table computes a fixed table of spec s: its values, shape and the formula's name.
func Table(s *spec.Spec, key string) ([]float32, []int, string, error) {
	h := s.Int("hidden_size")
	switch s.Family + "/" + key {
	case "dit/pos_embed", "latte/pos_embed":
		g := s.Int("input_size") / s.Int("patch_size")
		return SinCos2D(h, g, g, 1), []int{1, g * g, h}, fmt.Sprintf("DiT 2-D sin-cos, %d×%d grid", g, g), nil
	case "latte/temp_embed":
		n := s.Int("num_frames")
		return SinCos1D(h, n, 1), []int{1, n, h}, fmt.Sprintf("1-D sin-cos over %d frames", n), nil
	case "pixart-alpha/pos_embed", "pixart-sigma/pos_embed":
		g := s.Int("input_size") / s.Int("patch_size")
		name := "lewei_scale"
		if s.Family == "pixart-sigma" {
			name = "pe_interpolation"
		}
		sc := s.Float(name)
		return SinCos2D(h, g, g, sc), []int{1, g * g, h}, fmt.Sprintf("PixArt 2-D sin-cos, %d×%d grid, %s %g — the target's setting; a model built with another %s computes another table", g, g, name, sc, name), nil
	case "stdit/pos_embed":
		in, p := s.Ints("input_size"), s.Ints("patch_size")
		gh, gw := in[1]/p[1], in[2]/p[2]
		sc := s.Float("space_scale")
		return SinCos2D(h, gh, gw, sc), []int{1, gh * gw, h}, fmt.Sprintf("Open-Sora 2-D sin-cos, %d×%d grid, space_scale %g", gh, gw, sc), nil
	case "stdit/pos_embed_temporal":
		in, p := s.Ints("input_size"), s.Ints("patch_size")
		n := in[0] / p[0]
		sc := s.Float("time_scale")
		return SinCos1D(h, n, sc), []int{1, n, h}, fmt.Sprintf("Open-Sora 1-D sin-cos over %d frames, time_scale %g", n, sc), nil
	case "stdit3/rope.freqs", "stdit3-v4/rope.freqs":
		dim := h / s.Int("num_heads")
		if s.Family == "stdit3-v4" && s.Ints("kernel_size") != nil {
			dim /= 3
		}
		f := RoPEFreqs(dim, 10000)
		return f, []int{len(f)}, fmt.Sprintf("rotary-embedding-torch 'lang' frequencies over %d dims, θ 10000", dim), nil
	}
	return nil, nil, "", fmt.Errorf("%s %s: %w", s.Family, key, ErrNoFormula)
}

// RoPEFreqs is rotary-embedding-torch's RotaryEmbedding(dim).freqs ('lang'):
// 1/θ^(2i/dim) for i < dim/2, in float32 as torch computes it.
func RoPEFreqs(dim int, theta float64) []float32 {
	out := make([]float32, dim/2)
	for i := range out {
		e := float32(2*i) / float32(dim)
		out[i] = 1 / float32(math.Pow(theta, float64(e)))
	}
	return out
}

// SinCosGrid reports, for a 2-D sin-cos position table of spec s, its grid
// and coordinate scale (positions are i/scale); ok is false for other keys.
// Two tables with the same grid and scale hold the same values.
func SinCosGrid(s *spec.Spec, key string) (gh, gw int, scale float64, ok bool) {
	if key != "pos_embed" {
		return 0, 0, 0, false
	}
	switch s.Family {
	case "dit", "latte":
		g := s.Int("input_size") / s.Int("patch_size")
		return g, g, 1, true
	case "pixart-alpha":
		g := s.Int("input_size") / s.Int("patch_size")
		return g, g, s.Float("lewei_scale"), true
	case "pixart-sigma":
		g := s.Int("input_size") / s.Int("patch_size")
		return g, g, s.Float("pe_interpolation"), true
	case "stdit":
		in, p := s.Ints("input_size"), s.Ints("patch_size")
		return in[1] / p[1], in[2] / p[2], s.Float("space_scale"), true
	}
	return 0, 0, 0, false
}

// SinCos2D is upstream's get_2d_sincos_pos_embed (DiT, Latte, PixArt's
// with lewei_scale/pe_interpolation as scale at the construction-time
// grid, Open-Sora's with space_scale): positions are float32
// (np.arange(..., dtype=float32) / scale), frequencies and sin/cos float64,
// the result cast to float32. Row i·w+j holds the w coordinate j in the
// first half and the h coordinate i in the second (np.meshgrid(w, h)).
func SinCos2D(dim, h, w int, scale float64) []float32 {
	out := make([]float32, h*w*dim)
	half := dim / 2
	om := omegas(half)
	for i := 0; i < h; i++ {
		pi := float64(float32(float32(i) / float32(scale)))
		for j := 0; j < w; j++ {
			pj := float64(float32(float32(j) / float32(scale)))
			row := out[(i*w+j)*dim:]
			sinCosRow(row[:half], pj, om)
			sinCosRow(row[half:dim], pi, om)
		}
	}
	return out
}

// SinCos2DAt is get_2d_sincos_pos_embed_from_grid for the grid of
// coordinates ph (rows) × pw (columns), given in float64 as numpy holds
// them: row i·len(pw)+j holds the sin-cos of pw[j] in its first half and
// of ph[i] in its second (PixArt's per-size tables).
func SinCos2DAt(dim int, ph, pw []float64) []float32 {
	out := make([]float32, len(ph)*len(pw)*dim)
	half := dim / 2
	om := omegas(half)
	for i, pi := range ph {
		for j, pj := range pw {
			row := out[(i*len(pw)+j)*dim:]
			sinCosRow(row[:half], pj, om)
			sinCosRow(row[half:dim], pi, om)
		}
	}
	return out
}

// SinCos1D is get_1d_sincos_pos_embed(dim, n, scale): positions arange(n)/scale (float64).
func SinCos1D(dim, n int, scale float64) []float32 {
	out := make([]float32, n*dim)
	om := omegas(dim)
	for t := 0; t < n; t++ {
		sinCosRow(out[t*dim:(t+1)*dim], float64(t)/scale, om)
	}
	return out
}

// omegas are 1/10000^(k/(D/2)) for k < D/2, for a D-wide 1-D embedding.
func omegas(d int) []float64 {
	q := d / 2
	om := make([]float64, q)
	for k := range om {
		om[k] = 1 / math.Pow(10000, float64(k)/(float64(d)/2))
	}
	return om
}

func sinCosRow(dst []float32, pos float64, om []float64) {
	q := len(om)
	for k, w := range om {
		a := pos * w
		dst[k] = float32(math.Sin(a))
		dst[q+k] = float32(math.Cos(a))
	}
}
