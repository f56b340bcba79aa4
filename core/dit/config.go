package dit

import (
	"fmt"

	"github.com/ditkit/ditkit/core/spec"
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

// OutChannels is 2·InChannels with learned sigma, else InChannels.
func (c Config) OutChannels() int { return outChannels(c.InChannels, c.LearnSigma) }

// MLPHidden is int(HiddenSize·MLPRatio) as timm computes it.
func (c Config) MLPHidden() int { return mlpHidden(c.HiddenSize, c.MLPRatio) }

// outChannels is 2·in with learned (predicted) sigma, else in.
func outChannels(in int, sigma bool) int {
	if sigma {
		return 2 * in
	}
	return in
}

// mlpHidden is timm's int(hidden·ratio) (ratio 0: 4).
func mlpHidden(h int, ratio float64) int {
	if ratio == 0 {
		ratio = 4
	}
	return int(float64(h) * ratio)
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

// ditConfig is the runnable configuration of a "dit" spec.
func ditConfig(s *spec.Spec) (Config, error) {
	c := Config{
		InputSize: s.Int("input_size"), PatchSize: s.Int("patch_size"), InChannels: s.Int("in_channels"),
		HiddenSize: s.Int("hidden_size"), Depth: s.Int("depth"), NumHeads: s.Int("num_heads"),
		NumClasses: s.Int("num_classes"), LearnSigma: s.Bool("learn_sigma"), MLPRatio: s.Float("mlp_ratio"),
		NullClass: s.Float("class_dropout_prob") > 0,
	}
	return c, c.Validate()
}
