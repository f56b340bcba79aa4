package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/convert"
)

// previewFlags are what preview adds to sample's flags: the target flags
// diff and convert take, so the checkpoint a load error was about can be
// previewed as the fix plan converts it. Its help states its own defaults.
type previewFlags struct {
	errPath, layout *string
}

func addPreviewFlags(fs *flag.FlagSet) *previewFlags {
	// sample's texts end "default: the family's — …"; preview's defaults
	// are the families' quick previews (sample.Defaults).
	d, v := sample.DefaultsFor("dit"), sample.DefaultsFor("stdit3")
	for name, def := range map[string]string{
		"steps":   fmt.Sprintf("default: the family's quick preview — DiT, PixArt, Latte %d, STDiT3 %d", d.PreviewSteps, v.PreviewSteps),
		"sampler": fmt.Sprintf("default: the family's quick preview — DiT, PixArt, Latte %s, STDiT3 %s", d.PreviewSampler, v.PreviewSampler),
	} {
		if f := fs.Lookup(name); f != nil {
			if i := strings.Index(f.Usage, "default:"); i >= 0 {
				f.Usage = f.Usage[:i] + def
			}
		}
	}
	return &previewFlags{
		errPath: fs.String("error-text", "", "file holding PyTorch's load_state_dict error text (- for stdin): preview the weights as ditkit convert --error-text fixes them "+
			"(--arch/--spec size what the text does not show); refused when the verdict says no conversion can make the file load"),
		layout: fs.String("layout", "", "original: preview a diffusers or single-file (comfyui) checkpoint converted to the original layout, which is the one that runs"),
	}
}

// given says whether a target was given (nil-safe: sample has none).
func (p *previewFlags) given() bool {
	return p != nil && (*p.errPath != "" || *p.layout != "")
}

// convert applies the fix plan for the target to the checkpoint at path
// into an unnamed temporary file beside outPath (never committed) and
// points mf at the result: loadNet then builds the model from the
// converted weights and drops the file once they are read. The verdict
// line goes to stderr first; a verdict no conversion can satisfy is an
// error.
func (p *previewFlags) convert(path string, mf *modelFlags, outPath string, stderr io.Writer) error {
	if !p.given() {
		return nil
	}
	if _, err := kernels.ParsePrecision(mf.precision); err != nil {
		return nil // loadNet says why, before it would open anything
	}
	if *p.layout != "" {
		if *p.errPath != "" {
			return fmt.Errorf("give --error-text or --layout, not both")
		}
		if !strings.EqualFold(*p.layout, "original") {
			return fmt.Errorf("--layout %s: the preview runs the original layout: give --layout original (ditkit convert --layout %s writes that layout)", *p.layout, *p.layout)
		}
	}
	empty := ""
	tf := targetFlags{arch: &mf.arch, specPath: &mf.specPath, errPath: p.errPath, root: &empty, layout: p.layout}
	if *p.layout != "" {
		tf.arch, tf.specPath = &empty, &empty // --arch/--spec choose the model run, not the layout
	}
	req, err := tf.request()
	if err != nil {
		return err
	}
	ck, f, err := openCheckpoint(path, mf.root)
	if err != nil {
		return err
	}
	defer f.Close()
	tmp, err := createTemp(outPath, stderr)
	if err != nil {
		return err
	}
	rep, err := convert.Run(ck, req, convert.Options{Format: "safetensors", Fixes: []string{"auto"}, OutputName: path}, tmp.File)
	if err != nil {
		tmp.discard()
		return fmt.Errorf("%s: %w", path, err)
	}
	switch rep.Verdict.Kind {
	case diff.VerdictClean, diff.VerdictFixable, diff.VerdictPartial:
	default:
		tmp.discard()
		return fmt.Errorf("%s: %s; nothing to preview", path, rep.Verdict.Summary)
	}
	fmt.Fprintf(stderr, "ditkit preview: %s\n", term(rep.Verdict.Summary))
	st, err := tmp.Stat()
	if err == nil {
		mf.converted, err = loader.Open(tmp.File, st.Size(), path)
	}
	if err != nil {
		tmp.discard()
		return fmt.Errorf("%s: reading the converted weights back: %w", path, err)
	}
	mf.dropConverted, mf.root = tmp.discard, "" // the plan took the weights root out
	return nil
}

// open opens the checkpoint loadNet builds from: the file (or sharded
// set) at path under --root as every command opens it, or the converted
// weights preview prepared (closing drops them).
func (mf *modelFlags) open(path string) (*loader.Checkpoint, io.Closer, error) {
	if mf.converted != nil {
		ck, drop := mf.converted, mf.dropConverted
		mf.converted, mf.dropConverted = nil, nil
		return ck, closeFunc(drop), nil
	}
	return openCheckpoint(path, mf.root)
}

type closeFunc func()

func (c closeFunc) Close() error {
	c()
	return nil
}
