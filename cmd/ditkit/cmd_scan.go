package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/scan"
)

func init() {
	register(&command{
		name:    "scan",
		usage:   "FILE [--json]",
		summary: "Statically scan every pickle and the container structure of a checkpoint for code it would run in torch.load (exit 0 safe/benign, 1 dangerous/unknown, 2 unreadable).",
		run:     runScan,
	})
}

// scanFile scans a file on disk.
func scanFile(path string) (*scan.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &loader.FormatError{File: path, Detail: "is a directory", Err: loader.ErrFormat}
	}
	return scan.Scan(f, st.Size(), path)
}

// scanExit is the exit code for a verdict.
func scanExit(v string) int {
	if v == loader.VerdictDangerous || v == loader.VerdictUnknown {
		return exitFindings
	}
	return exitOK
}

func runScan(args []string, stdout, stderr io.Writer) int {
	c := commands["scan"]
	fs := newFlags(c, stdout, stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	file, code, ok := parseOne(fs, c, args, stderr, "need exactly one FILE")
	if !ok {
		return code
	}
	rep, err := scanFile(file)
	if err != nil {
		return fail(stderr, err)
	}
	if err := emit(stdout, *asJSON, rep, printScan); err != nil {
		return fail(stderr, err)
	}
	return scanExit(rep.Verdict)
}

func printScan(w io.Writer, r *scan.Report) {
	fmt.Fprintf(w, "file:     %s (%s)\n", term(r.File), humanBytes(r.Size))
	fmt.Fprintf(w, "format:   %s\n", r.Format)
	fmt.Fprintf(w, "verdict:  %s — %s\n", strings.ToUpper(r.Verdict), r.Summary)
	var names []string
	for _, p := range r.Pickles {
		s := p.Name
		if p.Error != "" {
			s += " (stopped: " + p.Error + ")"
		}
		names = append(names, term(s))
	}
	fmt.Fprintf(w, "pickles:  %d scanned", len(r.Pickles))
	if len(names) > 0 && len(names) <= 12 {
		fmt.Fprintf(w, ": %s", strings.Join(names, ", "))
	}
	fmt.Fprintln(w)
	pr := &scan.PickleReport{Globals: r.Globals}
	fmt.Fprintln(w, "globals:")
	for _, g := range pr.UniqueGlobals() {
		call := ""
		if g.Called {
			call = ", called"
		}
		fmt.Fprintf(w, "  %-9s %s (%s at offset %d of %s%s)\n", g.Verdict, term(g.FullName()), g.Opcode, g.Offset, term(g.Pickle), call)
	}
	if len(r.Globals) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(w, "findings:")
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  %-10s ", f.Severity)
			if f.Where != "" {
				fmt.Fprintf(w, "%s: ", term(f.Where))
			}
			fmt.Fprintln(w, term(f.Message))
		}
	}
}
