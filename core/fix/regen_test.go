package fix_test

import (
	"encoding/binary"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Regenerated tables equal what upstream saved in the fixtures.
func TestTablesMatchSavedBuffers(t *testing.T) {
	dit := ditSpec(t)
	// DiT's EMA update touches pos_embed (an nn.Parameter) and moves some
	// values by an ulp, so the raw model of the training checkpoint is the
	// formula's ground truth.
	cases := []struct {
		ckpt string
		s    *spec.Spec
		key  string
	}{
		{"dit_A/ckpt_train.pt", dit, "model/pos_embed"},
		{"stdit_tiny/ckpt_plain.pt", stditSpec(t), "pos_embed"},
		{"stdit_tiny/ckpt_plain.pt", stditSpec(t), "pos_embed_temporal"},
	}
	for _, c := range cases {
		ck, f, err := loader.OpenFile(fixtures.Path(t, c.ckpt))
		if err != nil {
			t.Fatal(err)
		}
		d, err := ck.ReadDense(ck.Tensor(c.key))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := d.Float32s()
		got, shape, _, err := fix.Table(c.s, strings.TrimPrefix(c.key, "model/"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || shape[1] != d.Shape[1] {
			t.Fatalf("%s %s: %d values %v, saved %d %v", c.ckpt, c.key, len(got), shape, len(want), d.Shape)
		}
		diff := 0
		maxd := 0.0
		for i := range got {
			if got[i] != want[i] {
				diff++
				maxd = math.Max(maxd, math.Abs(float64(got[i]-want[i])))
			}
		}
		if diff != 0 {
			t.Errorf("%s %s: %d of %d values differ (max %g)", c.ckpt, c.key, diff, len(got), maxd)
		}
	}
}

// PixArt's tables equal upstream's get_2d_sincos_pos_embed (PixArt_blocks.py,
// transcribed in numpy below: float32 grid divided by g/base_size and by
// lewei_scale / pe_interpolation, float64 frequencies) for the scales the
// released models use.
func TestPixArtTablesMatchNumpy(t *testing.T) {
	py := fixtures.TorchPython(t) // Debian's python3-torch brings numpy
	const script = `
import sys, numpy as np
def get_2d_sincos_pos_embed(embed_dim, grid_size, lewei_scale=1.0, base_size=16):
    grid_h = np.arange(grid_size, dtype=np.float32) / (grid_size / base_size) / lewei_scale
    grid_w = np.arange(grid_size, dtype=np.float32) / (grid_size / base_size) / lewei_scale
    grid = np.meshgrid(grid_w, grid_h)
    grid = np.stack(grid, axis=0).reshape([2, 1, grid_size, grid_size])
    emb_h = get_1d(embed_dim // 2, grid[0])
    emb_w = get_1d(embed_dim // 2, grid[1])
    return np.concatenate([emb_h, emb_w], axis=1)
def get_1d(embed_dim, pos):
    omega = np.arange(embed_dim // 2, dtype=np.float64)
    omega /= embed_dim / 2.0
    omega = 1.0 / 10000 ** omega
    pos = pos.reshape(-1)
    out = np.einsum("m,d->md", pos, omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)
h, g, scale = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
sys.stdout.buffer.write(get_2d_sincos_pos_embed(h, g, scale, g).astype(np.float32).tobytes())
`
	cases := []struct {
		preset string
		scale  string
	}{
		{"PixArt-XL_2-256_alpha", "1"},
		{"PixArt-XL_2-512_alpha", "1"},
		{"PixArt-Sigma-XL_2-256", "0.5"},
		{"PixArt-Sigma-XL_2-1024-MS", "2"},
	}
	for _, c := range cases {
		s, err := spec.Preset(c.preset)
		if err != nil {
			t.Fatal(err)
		}
		if s, err = s.With("hidden_size", 96); err != nil { // small width, same grid and scale
			t.Fatal(err)
		}
		if s, err = s.With("num_heads", 6); err != nil {
			t.Fatal(err)
		}
		got, shape, formula, err := fix.Table(s, "pos_embed")
		if err != nil {
			t.Fatal(err)
		}
		g := s.Int("input_size") / s.Int("patch_size")
		out, err := exec.Command(py, "-c", script, "96", strconv.Itoa(g), c.scale).Output()
		if err != nil {
			t.Fatalf("%s: numpy: %v", c.preset, err)
		}
		if len(out) != 4*len(got) || shape[1] != g*g {
			t.Fatalf("%s: numpy gave %d bytes, ditkit %d values %v", c.preset, len(out), len(got), shape)
		}
		diff := 0
		for i, v := range got {
			if math.Float32bits(v) != binary.LittleEndian.Uint32(out[4*i:]) {
				diff++
			}
		}
		if diff != 0 || !strings.Contains(formula, c.scale) {
			t.Errorf("%s (%s): %d of %d values differ from numpy", c.preset, formula, diff, len(got))
		}
	}
}
