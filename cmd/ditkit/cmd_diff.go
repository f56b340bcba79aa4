package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/loader/report"
)

func init() {
	register(&command{
		name:    "diff",
		usage:   "FILE (--arch PRESET | --spec SPEC.json | --error-text ERR.txt | --layout original|diffusers|comfyui) [--json] [--root PATH] [--dtype keep|fp16|bf16|fp32] [--keep-unexpected]",
		summary: "Diff a checkpoint's weights against a target architecture: missing, unexpected, shape and dtype findings, each explained, and the fix plan. Exit 0 clean, 1 findings, 2 error.",
		run:     runDiff,
	})
}

// targetFlags are the flags every command that takes a target shares.
type targetFlags struct {
	arch, specPath, errPath, root, layout *string
}

func addTargetFlags(fs interface {
	String(name, value, usage string) *string
}) *targetFlags {
	return &targetFlags{
		arch:     fs.String("arch", "", "target preset (see ditkit specs)"),
		specPath: fs.String("spec", "", "target spec JSON file ({\"family\":...}; see ditkit specs)"),
		errPath:  fs.String("error-text", "", "file holding PyTorch's load_state_dict error text (- for stdin)"),
		root:     fs.String("root", "", "weights root inside the checkpoint (e.g. model, ema)"),
		layout:   fs.String("layout", "", "target the checkpoint's own architecture in another layout: original, diffusers or comfyui (no other target)"),
	}
}

func (t *targetFlags) request() (report.TargetRequest, error) {
	req := report.TargetRequest{Arch: *t.arch, Layout: *t.layout}
	if *t.specPath != "" {
		b, err := readArg(*t.specPath)
		if err != nil {
			return req, err
		}
		req.Spec = b
	}
	if *t.errPath != "" {
		b, err := readArg(*t.errPath)
		if err != nil {
			return req, err
		}
		req.ErrorText = string(b)
		if strings.TrimSpace(req.ErrorText) == "" {
			return req, fmt.Errorf("%s: the error text is empty", *t.errPath)
		}
	}
	return req, nil
}

// readArg reads a small input file (or stdin for "-"), capped.
func readArg(path string) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, diff.MaxErrorText+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > diff.MaxErrorText {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, diff.MaxErrorText)
	}
	return b, nil
}

func runDiff(args []string, stdout, stderr io.Writer) int {
	c := commands["diff"]
	fs := newFlags(c, stdout, stderr)
	tf := addTargetFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object")
	dtype := fs.String("dtype", "keep", "plan a cast of floating-point tensors: keep, fp32, fp16, bf16")
	keep := fs.Bool("keep-unexpected", false, "do not plan to drop keys the target lacks")
	file, code, ok := parseOne(fs, c, args, stderr, "need exactly one FILE")
	if !ok {
		return code
	}
	req, err := tf.request()
	if err != nil {
		return fail(stderr, err)
	}
	dt, err := report.ParseDType(*dtype)
	if err != nil {
		return fail(stderr, err)
	}
	ck, f, err := openCheckpoint(file, *tf.root)
	if err != nil {
		return fail(stderr, err)
	}
	defer f.Close()
	d, _, err := report.BuildDiff(ck, req, report.DiffOptions{DType: dt, KeepUnexpected: *keep})
	if err != nil {
		return fail(stderr, err)
	}
	if err := emit(stdout, *asJSON, d, printDiff); err != nil {
		return fail(stderr, err)
	}
	if d.Clean {
		return exitOK
	}
	return exitFindings
}

func printDiff(w io.Writer, d *report.Diff) {
	fmt.Fprintln(w, d.Verdict.Summary)
	fmt.Fprintf(w, "file:    %s (weights root %s)\ntarget:  %s\n", term(d.File), rootText(d.WeightsRoot), term(d.Target))
	if d.Detected != nil {
		fmt.Fprintf(w, "checkpoint looks like: %s", d.Detected.Family)
		if d.Detected.Version != "" {
			fmt.Fprintf(w, " — %s", d.Detected.Version)
		}
		fmt.Fprintln(w)
	}
	if d.Safety.Verdict != "safe" {
		fmt.Fprintf(w, "safety:  %s — %s\n", strings.ToUpper(d.Safety.Verdict), term(d.Safety.Summary))
	}
	printQuantDiff(w, d)
	if d.Clean {
		fmt.Fprintln(w, "\nclean: the checkpoint's weights match the target exactly.")
		return
	}
	fmt.Fprintf(w, "\n%s\n", diff.CountsText(d.Findings))
	defer printRemaining(w, d)
	printFindings(w, d.Findings)
	if len(d.Plan) > 0 {
		fmt.Fprintf(w, "\nplan (%s; ditkit convert applies it):\n", diff.Plural(len(d.Plan), "step"))
		for i, s := range d.Plan {
			lossy := ""
			if s.Lossy {
				lossy = " [drops data]"
			}
			fmt.Fprintf(w, "  %d. %s — %s%s\n", i+1, term(s.ID), term(s.Description), lossy)
		}
	}
}

func printRemaining(w io.Writer, d *report.Diff) {
	if len(d.Remaining) == 0 {
		if d.Verdict.Kind == diff.VerdictPartial {
			fmt.Fprintln(w, "\nafter the plan: the keys the error text lists match; the others were not in it (unknown).")
			return
		}
		fmt.Fprintln(w, "\nafter the plan: clean.")
		return
	}
	fmt.Fprintf(w, "\nafter the plan: %s", diff.FindingsRemain(len(d.Remaining)))
	if len(d.NeedsTraining) > 0 {
		fmt.Fprintf(w, "; %s must be trained (no conversion can supply them)", diff.Plural(len(d.NeedsTraining), "tensor"))
	}
	fmt.Fprintln(w, ":")
	printFindings(w, d.Remaining)
}

// printFindings groups findings that share a kind and explanation
// (diff.GroupByCause, as the page shows them).
func printFindings(w io.Writer, findings []diff.Finding) {
	for _, g := range diff.GroupByCause(findings) {
		fmt.Fprintf(w, "\n[%s] %s\n", diff.KindLabel(g.Kind), diff.Plural(len(g.Lines), "key"))
		show := g.Lines
		if len(show) > 8 {
			show = show[:6]
		}
		for _, l := range show {
			fmt.Fprintf(w, "  %s\n", term(l))
		}
		if len(g.Lines) > len(show) {
			fmt.Fprintf(w, "  … and %d more\n", len(g.Lines)-len(show))
		}
		fmt.Fprintf(w, "  why: %s\n", term(g.Explain))
		fmt.Fprintf(w, "  fix: %s\n", term(g.FixText()))
	}
}
