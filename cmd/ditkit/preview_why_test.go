package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// A family the CLI cannot preview gets one line saying why, the page's
// words (dit.WhyNotRunnable): Flux and Wan files hold no null caption and
// ditkit has no text encoder; given caption embeddings, the reason left
// is that ditkit does not run the family yet. Nothing is written.
func TestPreviewSaysWhyNotCLI(t *testing.T) {
	flux := fixtures.Path(t, "families/tiny/flux/dev.original.safetensors")
	wan := fixtures.Path(t, "families/tiny/wan/t2v.diffusers.safetensors")
	caption := fixtures.Path(t, "forward2/pixartms_sigma_1024/ref_caption_mask_fp32.safetensors")
	out := filepath.Join(t.TempDir(), "p.png")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"preview", flux, "-o", out}, "Flux.1 is conditioned on text-encoder embeddings (T5, CLIP …) that the file does not hold, and ditkit has no text encoder: it cannot be previewed from the file alone"},
		{[]string{"sample", wan, "-o", out}, "is conditioned on text-encoder embeddings"},
		{[]string{"preview", flux, "--caption", caption, "-o", out}, "ditkit cannot run Flux.1 yet (it runs DiT, "},
	} {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q (want exit 2 and one line with %q)", c.args[1:], code, stdout, stderr, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v wrote %s", c.args[1:], out)
		}
	}
}
