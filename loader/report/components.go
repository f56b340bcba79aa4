package report

import (
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/loader"
)

// Components lists the networks bundled beside the detected one in the
// checkpoint's weights (ComfyUI / SAI single files carry text encoders and
// the VAE).
func Components(ck *loader.Checkpoint) []spec.Component {
	return spec.Detect(ck.Infos()).Components
}
