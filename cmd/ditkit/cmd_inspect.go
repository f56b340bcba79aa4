package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

func init() {
	register(&command{
		name:    "inspect",
		usage:   "FILE [--json] [--root PATH]",
		summary: "Show a checkpoint's format, weights root, tensors, detected architecture and safety verdict (reads metadata only).",
		run:     runInspect,
	})
}

// inspectJSON is the --json output of inspect.
type inspectJSON struct {
	File         string            `json:"file"`
	Size         int64             `json:"size"`
	Format       string            `json:"format"`
	WeightsRoot  string            `json:"weights_root"`
	Alternatives []string          `json:"weights_root_alternatives"`
	TensorCount  int               `json:"tensor_count"`
	Params       int64             `json:"params"`
	WeightParams int64             `json:"weights_params"`
	BytesByDType map[string]int64  `json:"bytes_by_dtype"`
	Tensors      []tensorJSON      `json:"tensors"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	Safety       safetyJSON        `json:"safety"`
	Notes        []string          `json:"notes,omitempty"`
	Detected     any               `json:"detected,omitempty"`
}

type tensorJSON struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

type safetyJSON struct {
	Verdict  string          `json:"verdict"`
	Summary  string          `json:"summary"`
	Globals  []loader.Global `json:"globals"`
	Findings []string        `json:"findings,omitempty"`
}

func safetyOf(ck *loader.Checkpoint) safetyJSON {
	s := safetyJSON{Verdict: loader.VerdictSafe, Globals: []loader.Global{}}
	if ck.Pickle != nil {
		s.Verdict = ck.Pickle.Verdict()
		s.Globals = ck.Pickle.UniqueGlobals()
		s.Findings = ck.Pickle.Findings
		if s.Globals == nil {
			s.Globals = []loader.Global{}
		}
	}
	s.Summary = verdictSummary(ck.Format, s.Verdict)
	return s
}

func verdictSummary(format, v string) string {
	if format == loader.FormatSafetensors {
		return "safetensors holds no code"
	}
	switch v {
	case loader.VerdictSafe:
		return "every global the pickle names is on PyTorch's weights_only allow-list"
	case loader.VerdictBenign:
		return "plain data classes only, but torch.load(weights_only=True) refuses them; ditkit reads them without executing anything"
	case loader.VerdictDangerous:
		return "DANGEROUS: the pickle names callables that run code in torch.load(weights_only=False); ditkit never executes them — convert to safetensors to use the weights safely"
	}
	return "the pickle names classes outside every allow-list: treat as suspicious"
}

func buildInspect(ck *loader.Checkpoint) *inspectJSON {
	out := &inspectJSON{
		File: ck.Name, Size: ck.Size, Format: ck.Format, WeightsRoot: ck.WeightsRoot,
		Alternatives: ck.Alternatives, TensorCount: len(ck.Tensors), BytesByDType: map[string]int64{},
		Metadata: ck.Metadata, Safety: safetyOf(ck), Notes: ck.Notes, Tensors: make([]tensorJSON, 0, len(ck.Tensors)),
	}
	if out.Alternatives == nil {
		out.Alternatives = []string{}
	}
	for _, t := range ck.Tensors {
		out.Tensors = append(out.Tensors, tensorJSON{Name: t.Name, DType: t.DType.String(), Shape: t.Shape})
		out.Params += t.Numel()
		out.BytesByDType[t.DType.String()] += t.NBytes()
	}
	for _, t := range ck.Weights() {
		out.WeightParams += t.Numel()
	}
	out.Detected = detectFor(ck)
	return out
}

// detectFor is replaced once architecture detection exists.
var detectFor = func(ck *loader.Checkpoint) any { return nil }

func openCheckpoint(path, root string) (*loader.Checkpoint, io.Closer, error) {
	ck, f, err := loader.OpenFile(path)
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
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "ditkit inspect: need exactly one FILE (see ditkit inspect --help)")
		return exitError
	}
	ck, f, err := openCheckpoint(pos[0], *root)
	if err != nil {
		return fail(stderr, err)
	}
	defer f.Close()
	rep := buildInspect(ck)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		if err := enc.Encode(rep); err != nil {
			return fail(stderr, err)
		}
		return exitOK
	}
	printInspect(stdout, rep)
	return exitOK
}

func printInspect(w io.Writer, r *inspectJSON) {
	fmt.Fprintf(w, "file:         %s (%s)\n", r.File, humanBytes(r.Size))
	fmt.Fprintf(w, "format:       %s\n", r.Format)
	root := r.WeightsRoot
	if root == "" {
		root = "(top level)"
	}
	fmt.Fprintf(w, "weights root: %s", root)
	if len(r.Alternatives) > 0 {
		alts := make([]string, len(r.Alternatives))
		for i, a := range r.Alternatives {
			alts[i] = a
			if a == "" {
				alts[i] = "(top level)"
			}
		}
		fmt.Fprintf(w, "   (also: %s; pick with --root)", strings.Join(alts, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "tensors:      %d in the file, %s parameters (%s in the weights root)\n", r.TensorCount, humanCount(r.Params), humanCount(r.WeightParams))
	dts := make([]string, 0, len(r.BytesByDType))
	for k := range r.BytesByDType {
		dts = append(dts, k)
	}
	sort.Strings(dts)
	for _, k := range dts {
		fmt.Fprintf(w, "  %-5s %s\n", k, humanBytes(r.BytesByDType[k]))
	}
	fmt.Fprintf(w, "safety:       %s — %s\n", strings.ToUpper(r.Safety.Verdict), r.Safety.Summary)
	for _, g := range r.Safety.Globals {
		if g.Verdict != loader.VerdictSafe {
			fmt.Fprintf(w, "  %-9s %s (%s at offset %d of %s)\n", g.Verdict, g.FullName(), g.Opcode, g.Offset, g.Pickle)
		}
	}
	for _, f := range r.Safety.Findings {
		fmt.Fprintf(w, "  finding: %s\n", f)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note:         %s\n", n)
	}
	if r.Detected != nil {
		printDetected(w, r.Detected)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tPARAMS")
	for _, t := range r.Tensors {
		n, _ := tensor.Numel(t.Shape)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.Name, t.DType, tensor.FormatShape(t.Shape), n)
	}
	tw.Flush()
}

// printDetected is replaced once architecture detection exists.
var printDetected = func(w io.Writer, d any) {}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
