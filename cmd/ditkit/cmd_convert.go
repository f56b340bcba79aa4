package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/convert"
	"github.com/ditkit/ditkit/loader/report"
)

func init() {
	register(&command{
		name: "convert",
		usage: "FILE -o OUT [--arch PRESET | --spec SPEC.json | --error-text ERR.txt | --layout original|diffusers|comfyui] [--split-components] [--fix auto|none|ID,ID…] " +
			"[--dtype keep|fp32|fp16|bf16|fp8_e4m3|fp8_e5m2] [--fp8-scaled] [--quant TYPE] [--quant-threshold N] [--keep-nonweights] [--keep-unexpected] [--wrap KEY] [--root PATH] [--json]",
		summary: "Write fixed weights (.safetensors, .gguf, or torch-loadable .pt/.pth/.bin/.ckpt by OUT's extension) in one streaming pass, then verify them.",
		run:     runConvert,
	})
}

func runConvert(args []string, stdout, stderr io.Writer) int {
	c := commands["convert"]
	fs := newFlags(c, stdout, stderr)
	tf := addTargetFlags(fs)
	outPath := fs.String("o", "", "output file; its extension picks the format")
	fixes := fs.String("fix", "auto", "auto (the whole plan), none, or plan step ids/ops separated by commas (see ditkit diff)")
	dtype := fs.String("dtype", "", "keep, fp32, fp16, bf16 (floating-point tensors; rounding as torch), or fp8_e4m3 / fp8_e5m2 (2-D Linear weights; see --fp8-scaled); default keep, bf16 for a GGUF input")
	qf := addQuantFlags(fs)
	keepNon := fs.Bool("keep-nonweights", false, "also write tensors outside the weights root (optimizer state...) under their full names")
	keepUnexp := fs.Bool("keep-unexpected", false, "keep keys the target lacks instead of dropping them")
	keepDT := fs.String("keep-dtype", "", "with --dtype: tensors to leave in their stored dtype, comma-separated (\"fixed\" = the target's fixed tables such as sin-cos pos_embed and rope.freqs); default: cast every float tensor, like torch's model.to(dtype)")
	wrap := fs.String("wrap", "", ".pt only: nest the state dict under this key (e.g. ema, state_dict, model)")
	asJSON := fs.Bool("json", false, "print the conversion report as JSON")
	noVerify := fs.Bool("no-verify", false, "skip re-reading the output to verify it")
	split := fs.Bool("split-components", false, "write the text encoders / VAE bundled in a single file to files of their own (OUT's name with .NAME before the extension) instead of leaving them out")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *outPath == "" {
		return usageError(stderr, c, "need FILE and -o OUT")
	}
	format, err := convert.FormatFor(*outPath)
	if err != nil {
		return fail(stderr, err)
	}
	if *wrap != "" && format != "pt" {
		return fail(stderr, fmt.Errorf("--wrap applies to .pt outputs only"))
	}
	dt, err := report.ParseConvertDType(*dtype)
	if err != nil {
		return fail(stderr, err)
	}
	req, err := tf.request()
	if err != nil {
		return fail(stderr, err)
	}
	src, err := filepath.Abs(pos[0])
	if err != nil {
		return fail(stderr, err)
	}
	dst, err := filepath.Abs(*outPath)
	if err != nil {
		return fail(stderr, err)
	}
	if src == dst {
		return fail(stderr, fmt.Errorf("%s: refusing to overwrite the input", *outPath))
	}
	ck, f, err := openCheckpoint(pos[0], *tf.root)
	if err != nil {
		return fail(stderr, err)
	}
	defer f.Close()
	convert.Version = version
	opt := convert.Options{Format: format, Fixes: report.ParseFixes(*fixes), DType: dt, KeepNonWeights: *keepNon,
		KeepUnexpected: *keepUnexp, KeepDType: splitList(*keepDT), Wrap: *wrap, OutputName: *outPath, SplitComponents: *split}
	notes, err := qf.apply(&opt, *dtype, ck)
	if err != nil {
		return fail(stderr, err)
	}
	rep, err := writeConverted(ck, req, opt, *outPath, *noVerify, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	rep.Notes = append(notes, rep.Notes...)
	if *split {
		for _, c := range report.Components(ck) {
			copt := opt
			copt.Component, copt.SplitComponents, copt.Fixes = c.Prefix, false, nil
			copt.OutputName = componentPath(*outPath, c.Name)
			crep, err := writeConverted(ck, report.TargetRequest{}, copt, copt.OutputName, *noVerify, stderr)
			if err != nil {
				return fail(stderr, err)
			}
			rep.Components = append(rep.Components, crep)
		}
	}
	if err := emit(stdout, *asJSON, rep, printConvert); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

func printConvert(w io.Writer, r *report.Convert) {
	if r.Target != "" && r.Verdict.Summary != "" {
		fmt.Fprintln(w, term(r.Verdict.Summary))
	}
	fmt.Fprintf(w, "wrote %s (%s, %s, %s", term(r.Output), r.Format, diff.Plural(len(r.Tensors), "tensor"), humanBytes(r.Bytes))
	if r.WriteSeconds > 0 {
		fmt.Fprintf(w, " in %.2f s", r.WriteSeconds)
	}
	fmt.Fprintln(w, ")")
	if r.Safety.Verdict == "dangerous" || r.Safety.Verdict == "unknown" {
		fmt.Fprintf(w, "warning: the source is %s — %s\n", strings.ToUpper(r.Safety.Verdict), term(r.Safety.Summary))
	}
	if len(r.Applied) == 0 {
		fmt.Fprintln(w, "fixes: none")
	}
	for _, s := range r.Applied {
		fmt.Fprintf(w, "fixed: %s — %s\n", term(s.ID), term(s.Description))
	}
	for _, id := range r.Skipped {
		fmt.Fprintf(w, "not applied (not selected with --fix): %s\n", term(id))
	}
	printQuantConvert(w, r)
	if r.Clean != nil {
		if *r.Clean && r.Verdict.Kind == diff.VerdictPartial {
			fmt.Fprintf(w, "target %s: the keys the error text lists now match; the rest were not in the text, so whether they load is unknown\n", term(r.Target))
		} else if *r.Clean {
			fmt.Fprintf(w, "target %s: the output loads with strict=True (clean diff)\n", term(r.Target))
		} else {
			fmt.Fprintf(w, "target %s: %s (see ditkit diff on the output)\n", term(r.Target), diff.FindingsRemain(len(r.Remaining)))
		}
	}
	if r.Verified {
		fmt.Fprint(w, "verified: "+r.Verification)
		if r.VerifySeconds > 0 {
			fmt.Fprintf(w, " (%.2f s)", r.VerifySeconds)
		}
		fmt.Fprintln(w)
	}
	for _, c := range r.Components {
		fmt.Fprintf(w, "bundled component: ")
		printConvert(w, c)
	}
}

// progress prints conversion progress on stderr: a bar on a terminal,
// plain lines otherwise, only for outputs over a few hundred MB.
type progress struct {
	w     io.Writer
	name  string
	start time.Time
	tty   bool
	shown bool
	lastP int
}

func newProgress(w io.Writer, name string) *progress {
	tty := false
	f, ok := w.(*os.File)
	if g, guarded := w.(*termGuard); guarded {
		f, ok = g.file()
	}
	if ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, name: term(name), start: time.Now(), tty: tty, lastP: -1}
}

func (p *progress) update(done, total int64) {
	if total < 256<<20 || total == 0 {
		return
	}
	pct := int(done * 100 / total)
	secs := time.Since(p.start).Seconds()
	rate := float64(done) / 1e6 / max(secs, 1e-9)
	if p.tty {
		bar := strings.Repeat("#", pct/4) + strings.Repeat(".", 25-pct/4)
		fmt.Fprintf(p.w, "\r%s [%s] %3d%% %.0f MB/s", p.name, bar, pct, rate)
		p.shown = true
		return
	}
	if pct/10 != p.lastP/10 {
		p.lastP = pct
		fmt.Fprintf(p.w, "%s: %d%% (%s of %s, %.0f MB/s)\n", p.name, pct, humanBytes(done), humanBytes(total), rate)
	}
}

func (p *progress) done() {
	if p.shown {
		fmt.Fprintln(p.w)
	}
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// componentPath names a bundled network's file beside OUT: out.vae.safetensors.
func componentPath(out, name string) string {
	ext := filepath.Ext(out)
	return strings.TrimSuffix(out, ext) + "." + name + ext
}

// writeConverted writes one output: to a temporary file beside it, then
// renamed after verification, so a failed or interrupted write never
// leaves a partial file behind.
func writeConverted(ck *loader.Checkpoint, req report.TargetRequest, opt convert.Options, outPath string, noVerify bool, stderr io.Writer) (*report.Convert, error) {
	dst, _ := filepath.Abs(outPath)
	tmp, err := createTemp(outPath, stderr)
	if err != nil {
		return nil, err
	}
	defer tmp.discard()
	prog := newProgress(stderr, filepath.Base(dst))
	opt.Progress = prog.update
	if !noVerify {
		opt.ReadBack = tmp.File // written tensors are re-read while the rest is written
	}
	start := time.Now()
	rep, err := convert.Run(ck, req, opt, tmp.File)
	prog.done()
	if err != nil {
		return nil, tmp.fail(err, " (nothing was written)")
	}
	rep.WriteSeconds = time.Since(start).Seconds()
	if !noVerify {
		start = time.Now()
		st, _ := tmp.Stat()
		if err := convert.Verify(tmp.File, st.Size(), rep); err != nil {
			return nil, tmp.fail(fmt.Errorf("verification failed: %w", err), " (nothing was written)")
		}
		rep.Verified = true
		rep.VerifySeconds = time.Since(start).Seconds()
		rep.Verification = "re-read with ditkit's reader: every tensor's name, dtype, shape and sha256 match what was written"
	}
	if err := tmp.commit(); err != nil {
		return nil, err
	}
	return rep, nil
}
