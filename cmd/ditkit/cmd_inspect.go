package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/convert"
	"github.com/ditkit/ditkit/loader/report"
)

func init() {
	register(&command{
		name:    "inspect",
		usage:   "FILE [--json] [--root PATH] [--sha256]",
		summary: "Show a checkpoint's format, weights root, tensors, detected architecture and safety verdict (reads metadata only).",
		run:     runInspect,
	})
}

func openCheckpoint(path, root string) (*loader.Checkpoint, io.Closer, error) {
	ck, f, err := loader.OpenPath(path)
	if err != nil {
		return nil, nil, err
	}
	if root != "" {
		if err := ck.SetWeightsRoot(root); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return ck, f, nil
}

func runInspect(args []string, stdout, stderr io.Writer) int {
	c := commands["inspect"]
	fs := newFlags(c, stdout, stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	root := fs.String("root", "", "use this container path as the weights root (e.g. model, ema)")
	hashes := fs.Bool("sha256", false, "also hash every tensor's bytes (reads all the data; the metadata-only inspect reads a few KB)")
	file, code, ok := parseOne(fs, c, args, stderr, "need exactly one FILE")
	if !ok {
		return code
	}
	ck, f, err := openCheckpoint(file, *root)
	if err != nil {
		return fail(stderr, err)
	}
	defer f.Close()
	rep := report.BuildInspect(ck)
	if *hashes {
		sums, err := convert.HashTensors(ck, ck.Tensors)
		if err != nil {
			return fail(stderr, err)
		}
		for i := range rep.Tensors {
			rep.Tensors[i].SHA256 = sums[i]
		}
	}
	if err := emit(stdout, *asJSON, rep, printInspect); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

// rootText names a weights root for the terminal ("(top level)" for "").
func rootText(root string) string {
	if root == "" {
		return "(top level)"
	}
	return term(root)
}

func printInspect(w io.Writer, r *report.Inspect) {
	fmt.Fprintf(w, "file:         %s (%s)\n", term(r.File), humanBytes(r.Size))
	fmt.Fprintf(w, "format:       %s\n", r.Format)
	if g := r.GGUF; g != nil {
		printGGUF(w, g)
	}
	fmt.Fprintf(w, "weights root: %s", rootText(r.WeightsRoot))
	if len(r.Alternatives) > 0 {
		alts := make([]string, len(r.Alternatives))
		for i, a := range r.Alternatives {
			alts[i] = rootText(a)
		}
		fmt.Fprintf(w, "   (also: %s; pick with --root)", strings.Join(alts, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "tensors:      %d in the file, %s parameters (%s in the weights root)\n", r.TensorCount, humanCount(r.Params), humanCount(r.WeightParams))
	for _, k := range sortedKeys(r.BytesByDType) {
		fmt.Fprintf(w, "  %-5s %s\n", k, humanBytes(r.BytesByDType[k]))
	}
	fmt.Fprintf(w, "safety:       %s — %s\n", strings.ToUpper(r.Safety.Verdict), term(r.Safety.Summary))
	for _, g := range r.Safety.Globals {
		if g.Verdict != loader.VerdictSafe {
			fmt.Fprintf(w, "  %-9s %s (%s at offset %d of %s)\n", g.Verdict, term(g.FullName()), g.Opcode, g.Offset, term(g.Pickle))
		}
	}
	for _, f := range r.Safety.Findings {
		fmt.Fprintf(w, "  finding: %s\n", term(f))
	}
	if f := r.FP8; f != nil {
		fmt.Fprintf(w, "fp8:          %s layout, %s, %d with weight scales\n", f.Layout, diff.Plural(f.FP8Tensors, "fp8 tensor"), f.ScaledLayers)
		for _, e := range append(f.Evidence, f.Unsupported...) {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note:         %s\n", term(n))
	}
	if r.Detected != nil {
		printDetected(w, r.Detected)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hashed := len(r.Tensors) > 0 && r.Tensors[0].SHA256 != ""
	if hashed {
		fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tPARAMS\tSHA256")
	} else {
		fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tPARAMS")
	}
	var evidence []string
	for _, t := range r.Tensors {
		n, _ := tensor.Numel(t.Shape)
		if t.GGUFType != "" { // GGUF: the stored type (dense reads give DType)
			t.DType = t.GGUFType
		}
		if t.ShapeEvidence != "" {
			evidence = append(evidence, t.Name+": "+t.ShapeEvidence)
		}
		if hashed {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", term(t.Name), t.DType, tensor.FormatShape(t.Shape), n, t.SHA256)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", term(t.Name), t.DType, tensor.FormatShape(t.Shape), n)
		}
	}
	tw.Flush()
	for _, e := range evidence {
		fmt.Fprintf(w, "shape: %s\n", e)
	}
}

// printGGUF prints a GGUF file's header line.
func printGGUF(w io.Writer, g *report.GGUFInfo) {
	arch := g.Architecture
	if arch == "" || strings.IndexFunc(arch, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		arch = strconv.Quote(arch)
	}
	fmt.Fprintf(w, "gguf:         v%d, alignment %d, %s; architecture %s: %s\n", g.Version, g.Alignment, diff.Plural(len(g.KV), "KV pair"), arch, g.ArchitectureName)
	for _, k := range sortedKeys(g.BytesByType) {
		fmt.Fprintf(w, "  %-5s %s stored\n", k, humanBytes(g.BytesByType[k]))
	}
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func printDetected(w io.Writer, d *report.Detected) {
	name := d.Family
	if d.Version != "" {
		name += " — " + d.Version
	}
	fmt.Fprintf(w, "detected:     %s", name)
	if d.Preset != "" {
		fmt.Fprintf(w, " (preset %s)", d.Preset)
	} else if d.ClosestPreset != "" {
		fmt.Fprintf(w, " (closest preset %s)", d.ClosestPreset)
	}
	fmt.Fprintln(w)
	if d.Variant != "" || d.Layout != "" {
		fmt.Fprintf(w, "  variant: %s  layout: %s\n", orDash(d.Variant), orDash(d.Layout))
	}
	for _, c := range d.Components {
		fmt.Fprintf(w, "  bundled: %s (%q, %s)\n", c.What, c.Prefix, diff.Plural(c.Tensors, "tensor"))
	}
	if len(d.Packed) > 0 {
		fmt.Fprintf(w, "  packed: %s stored packed 4-bit (%s)\n", diff.Plural(len(d.Packed), "weight"), d.PackedFormat)
	}
	if len(d.Params) > 0 {
		fmt.Fprintf(w, "  spec: %s\n", term(string(d.Params)))
	}
	for _, e := range d.Evidence {
		fmt.Fprintf(w, "  evidence:  %s\n", term(e))
	}
	for _, a := range d.Ambiguous {
		fmt.Fprintf(w, "  ambiguous: %s\n", term(a))
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func humanBytes(n int64) string { return report.HumanBytes(n) }

func humanCount(n int64) string { return report.HumanCount(n) }
