package ui

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// Restoration is one GGUF tensor whose torch shape is not its stored
// dims read in reverse, with the evidence (as inspect and diff list it).
type Restoration struct {
	Name, Type, Stored, Shape, Evidence string
}

// restorations lists the report's restored GGUF shapes.
func (c *Root) restorations() []Restoration {
	var out []Restoration
	for _, t := range c.Rep.Tensors {
		if t.ShapeEvidence == "" {
			continue
		}
		dims := make([]string, len(t.GGUFDims))
		for i, d := range t.GGUFDims {
			dims[i] = fmt.Sprint(d)
		}
		out = append(out, Restoration{Name: t.Name, Type: t.GGUFType, Stored: "[" + strings.Join(dims, ", ") + "]",
			Shape: tensor.FormatShape(t.Shape), Evidence: t.ShapeEvidence})
	}
	return out
}

// ggufText is the GGUF header line of the facts.
func (c *Root) ggufText() string {
	g := c.Rep.GGUF
	arch := "none"
	if g.Architecture != "" {
		name, known := loader.GGUFArchitectureName(g.Architecture)
		arch = fmt.Sprintf("%q (%s)", g.Architecture, name)
		if !known {
			arch = fmt.Sprintf("%q (not a diffusion architecture ditkit knows)", g.Architecture)
		}
	}
	var types []string
	for k, v := range g.BytesByType {
		types = append(types, k+" "+HumanBytes(v))
	}
	sort.Strings(types)
	return fmt.Sprintf("v%d, alignment %d, %d KV pairs, general.architecture %s; stored as %s", g.Version, g.Alignment, len(g.KV), arch, strings.Join(types, ", "))
}

// fp8Text is the fp8 layout line of the facts.
func (c *Root) fp8Text() string {
	f := c.Rep.FP8
	s := fmt.Sprintf("%s fp8: %d fp8 tensors, %d with scales", f.Layout, f.FP8Tensors, f.ScaledLayers)
	if f.Marker != "" {
		s += ", marker " + f.Marker
	}
	if len(f.Evidence) > 0 {
		s += " (" + strings.Join(f.Evidence, "; ") + ")"
	}
	return s
}
