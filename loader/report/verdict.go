package report

import (
	"fmt"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

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
