package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/spec"
)

func init() {
	register(&command{
		name:    "specs",
		usage:   "[--json]",
		summary: "List the architecture families (with their spec JSON fields) and the named presets.",
		run:     runSpecs,
	})
	register(&command{
		name:    "spec",
		usage:   "PRESET|SPEC.json [--keys] [--json]",
		summary: "Show one architecture: its spec JSON, or with --keys its state-dict key list (name<TAB>[d0, d1, ...]).",
		run:     runSpec,
	})
}

type specsJSON struct {
	Families []familyJSON      `json:"families"`
	Presets  []spec.PresetInfo `json:"presets"`
	Fixes    []fix.OpInfo      `json:"fix_ops"`
}

type familyJSON struct {
	ID          string      `json:"id"`
	Description string      `json:"description"`
	Params      []paramJSON `json:"params"`
}

type paramJSON struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Default any    `json:"default"`
	Doc     string `json:"doc,omitempty"`
}

func runSpecs(args []string, stdout, stderr io.Writer) int {
	c := commands["specs"]
	fs := newFlags(c, stdout, stderr)
	asJSON := fs.Bool("json", false, "print one JSON object")
	if _, code, ok := parseFlags(fs, args); !ok {
		return code
	}
	out := specsJSON{Presets: spec.Presets(), Fixes: fix.Ops()}
	for _, f := range spec.Families() {
		fj := familyJSON{ID: f.ID, Description: f.Description}
		for _, p := range f.Params {
			fj.Params = append(fj.Params, paramJSON{Name: p.Name, Type: p.Kind.String(), Default: p.Default, Doc: p.Doc})
		}
		out.Families = append(out.Families, fj)
	}
	if err := emit(stdout, *asJSON, out, printSpecs); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

func printSpecs(w io.Writer, out specsJSON) {
	fmt.Fprintln(w, "Families (spec JSON: {\"family\": ID, field: value, ...}; missing fields take the defaults):")
	for _, f := range out.Families {
		fmt.Fprintf(w, "\n  %s — %s\n", f.ID, f.Description)
		var ps []string
		for _, p := range f.Params {
			if p.Default != nil {
				ps = append(ps, fmt.Sprintf("%s=%v", p.Name, jsonish(p.Default)))
			} else {
				ps = append(ps, p.Name)
			}
		}
		fmt.Fprintf(w, "    %s\n", strings.Join(ps, " "))
	}
	fmt.Fprintln(w, "\nPresets (--arch NAME):")
	for _, p := range out.Presets {
		fmt.Fprintf(w, "  %-40s %-14s %s\n", p.Name, p.Family, p.Description)
	}
	fmt.Fprintln(w, "\nFix operations:")
	for _, o := range out.Fixes {
		fmt.Fprintf(w, "  %-13s %s\n", o.Name, o.Doc)
	}
}

func jsonish(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// loadSpec reads a preset name or a spec JSON file.
func loadSpec(arg string) (*spec.Spec, error) {
	if strings.HasSuffix(arg, ".json") || strings.ContainsAny(arg, "/\\") {
		if _, err := os.Stat(arg); err == nil {
			b, err := readArg(arg)
			if err != nil {
				return nil, err
			}
			s, err := spec.Parse(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", arg, err)
			}
			return s, nil
		}
	}
	return spec.Preset(arg)
}

func runSpec(args []string, stdout, stderr io.Writer) int {
	c := commands["spec"]
	fs := newFlags(c, stdout, stderr)
	keys := fs.Bool("keys", false, "print the state-dict key list in the reference keys/*.txt format (docs/keys/2026's for today's families)")
	asJSON := fs.Bool("json", false, "with --keys: a JSON array of {name, shape, buffer, fixed}")
	arg, code, ok := parseOne(fs, c, args, stderr, "need exactly one PRESET or SPEC.json (ditkit specs lists the presets)")
	if !ok {
		return code
	}
	s, err := loadSpec(arg)
	if err != nil {
		return fail(stderr, err)
	}
	if !*keys {
		b, _ := json.MarshalIndent(s, "", " ")
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	es, err := s.Keys()
	if err != nil {
		return fail(stderr, err)
	}
	if *asJSON {
		type ej struct {
			Name   string `json:"name"`
			Shape  []int  `json:"shape"`
			Buffer bool   `json:"buffer"`
			Fixed  bool   `json:"fixed"`
		}
		out := make([]ej, len(es))
		for i, e := range es {
			out[i] = ej{e.Name, e.Shape, e.Buffer, e.Fixed}
		}
		if err := writeJSON(stdout, out); err != nil {
			return fail(stderr, err)
		}
		return exitOK
	}
	if err := spec.WriteSpecKeys(stdout, s, es); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}
