package convert

import (
	"fmt"
	"strings"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// componentSteps keep only one bundled network, under its own names.
func componentSteps(virt []fix.Tensor, prefix string) []*fix.Step {
	var drop, keep []string
	for _, t := range virt {
		if strings.HasPrefix(t.Name, prefix) {
			keep = append(keep, t.Name)
		} else {
			drop = append(drop, t.Name)
		}
	}
	var steps []*fix.Step
	if len(drop) > 0 {
		steps = append(steps, fix.Drop("not-"+strings.TrimSuffix(prefix, "."), "not part of the bundled network written to this file", drop))
	}
	s := fix.StripPrefix(prefix, keep)
	for _, k := range keep {
		s.Produces = append(s.Produces, strings.TrimPrefix(k, prefix))
	}
	return append(steps, s)
}

// splitStep leaves the bundled networks still in virt out of the main
// output (convert --split-components writes each to its own file).
func splitStep(virt []fix.Tensor, cs []spec.Component) *fix.Step {
	var drop []string
	for _, t := range virt {
		for _, c := range cs {
			if strings.HasPrefix(t.Name, c.Prefix) {
				drop = append(drop, t.Name)
				break
			}
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return fix.Drop("components", "bundled text encoders / VAE, written to files of their own (--split-components)", drop)
}

// noTargetVerdict is convert's verdict when no target was given: nothing
// was compared, the weights are written as they are.
func noTargetVerdict(infos []tensor.Info) diff.Verdict {
	d := spec.Detect(infos)
	src := "an unrecognised architecture"
	switch {
	case d.Preset != "":
		src = d.Preset
	case d.Variant != "":
		src = d.Variant
	case d.Family != "":
		src = spec.ArchName(d.Family)
	}
	return diff.Verdict{Kind: diff.VerdictClean, Source: src,
		Summary: fmt.Sprintf("clean: no target given — the %s are written as they are", diff.Plural(len(infos), "tensor"))}
}
