package dit

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
)

// Config holds the hyperparameters of a facebookresearch/DiT model.
type Config struct {
	InputSize  int // latent side (32 for 256 px)
	PatchSize  int
	InChannels int
	HiddenSize int
	Depth      int
	NumHeads   int
	NumClasses int  // real classes; the label table has NumClasses+1 rows when NullClass
	LearnSigma bool // output 2·InChannels channels
	MLPRatio   float64
	// NullClass reports whether the label table has the extra null row
	// (class_dropout_prob > 0, as in every released DiT).
	NullClass bool
	// CFGChannels is how many output channels forward_with_cfg guides
	// (upstream hard-codes 3). 0 means 3.
	CFGChannels int
}

// DiTXL2 is DiT-XL/2 at 256 px.
func DiTXL2() Config {
	return Config{InputSize: 32, PatchSize: 2, InChannels: 4, HiddenSize: 1152, Depth: 28, NumHeads: 16,
		NumClasses: 1000, LearnSigma: true, MLPRatio: 4, NullClass: true}
}

// OutChannels is 2·InChannels with learned sigma, else InChannels.
func (c Config) OutChannels() int {
	if c.LearnSigma {
		return 2 * c.InChannels
	}
	return c.InChannels
}

// MLPHidden is int(HiddenSize·MLPRatio) as timm computes it.
func (c Config) MLPHidden() int {
	r := c.MLPRatio
	if r == 0 {
		r = 4
	}
	return int(float64(c.HiddenSize) * r)
}

// Tokens is the number of patch tokens (input_size/p)².
func (c Config) Tokens() int { g := c.InputSize / c.PatchSize; return g * g }

// NullLabel is the label index of the null class used by CFG.
func (c Config) NullLabel() int { return c.NumClasses }

func (c Config) cfgChannels() int {
	n := c.CFGChannels
	if n <= 0 {
		n = 3
	}
	return min(n, c.InChannels)
}

// Validate checks the hyperparameters are consistent.
func (c Config) Validate() error {
	switch {
	case c.PatchSize <= 0 || c.InputSize <= 0 || c.InputSize%c.PatchSize != 0:
		return fmt.Errorf("dit: input size %d is not a multiple of patch size %d", c.InputSize, c.PatchSize)
	case c.HiddenSize <= 0 || c.NumHeads <= 0 || c.HiddenSize%c.NumHeads != 0:
		return fmt.Errorf("dit: hidden size %d is not divisible by %d heads", c.HiddenSize, c.NumHeads)
	case c.Depth <= 0 || c.InChannels <= 0:
		return fmt.Errorf("dit: depth %d / in_channels %d must be positive", c.Depth, c.InChannels)
	}
	return nil
}

// headsByHidden are the head counts of the registered DiT configs.
var headsByHidden = map[int]int{1152: 16, 1024: 16, 768: 12, 384: 6}

// ConfigFromShapes derives a DiT config from state-dict shapes. The head
// count cannot be read from shapes: heads > 0 sets it; otherwise the
// registered DiT sizes (S/B/L/XL) are used and anything else is an error.
func ConfigFromShapes(infos []tensor.Info, heads int) (Config, error) {
	by := map[string][]int{}
	for _, in := range infos {
		by[in.Name] = in.Shape
	}
	var c Config
	c.MLPRatio = 4
	xw := by["x_embedder.proj.weight"]
	if len(xw) == 5 && xw[2] == 1 {
		xw = []int{xw[0], xw[1], xw[3], xw[4]}
	}
	if len(xw) != 4 || xw[2] != xw[3] {
		return c, fmt.Errorf("dit: x_embedder.proj.weight has shape %v, want [H, C, p, p]", by["x_embedder.proj.weight"])
	}
	c.HiddenSize, c.InChannels, c.PatchSize = xw[0], xw[1], xw[2]
	for name := range by {
		if rest, ok := strings.CutPrefix(name, "blocks."); ok {
			if i := strings.IndexByte(rest, '.'); i > 0 {
				if n, err := strconv.Atoi(rest[:i]); err == nil && n+1 > c.Depth {
					c.Depth = n + 1
				}
			}
		}
	}
	if pe := by["pos_embed"]; len(pe) == 3 {
		g := int(math.Round(math.Sqrt(float64(pe[1]))))
		if g*g != pe[1] {
			return c, fmt.Errorf("dit: pos_embed has %d tokens, not a square grid", pe[1])
		}
		c.InputSize = g * c.PatchSize
	}
	if yt := by["y_embedder.embedding_table.weight"]; len(yt) == 2 {
		c.NumClasses = yt[0] - 1
		c.NullClass = true
	} else {
		return c, fmt.Errorf("dit: no y_embedder.embedding_table.weight (not a class-conditional DiT)")
	}
	if fw := by["final_layer.linear.weight"]; len(fw) == 2 {
		cout := fw[0] / (c.PatchSize * c.PatchSize)
		c.LearnSigma = cout == 2*c.InChannels
	}
	if f1 := by["blocks.0.mlp.fc1.weight"]; len(f1) == 2 && c.HiddenSize > 0 {
		c.MLPRatio = float64(f1[0]) / float64(c.HiddenSize)
	}
	c.NumHeads = heads
	if c.NumHeads <= 0 {
		c.NumHeads = headsByHidden[c.HiddenSize]
		if c.NumHeads == 0 {
			return c, fmt.Errorf("dit: hidden size %d is not a registered DiT size: the head count must be given", c.HiddenSize)
		}
	}
	return c, nil
}
