package spec

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
)

// WriteKeys writes entries in the reference keys/*.txt format:
// "name<TAB>[d0, d1, ...]" per line, then a "# tensors=N elements=M" footer.
func WriteKeys(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriter(w)
	var total int64
	for _, e := range entries {
		fmt.Fprintf(bw, "%s\t%s\n", e.Name, tensor.FormatShape(e.Shape))
		total += e.Numel()
	}
	fmt.Fprintf(bw, "# tensors=%d elements=%d\n", len(entries), total)
	return bw.Flush()
}

// ReadKeys parses the keys/*.txt format written by WriteKeys (comment
// lines starting with '#' and blank lines are skipped). Buffer and Fixed
// are not recorded in that format and come back false.
func ReadKeys(r io.Reader) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var out []Entry
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, shape, ok := strings.Cut(t, "\t")
		if !ok {
			return nil, fmt.Errorf("keys line %d: no tab between name and shape", line)
		}
		dims, err := tensor.ParseShape(shape)
		if err != nil {
			return nil, fmt.Errorf("keys line %d: %w", line, err)
		}
		out = append(out, Entry{Name: strings.TrimSpace(name), Shape: dims})
	}
	return out, sc.Err()
}

// TotalElements sums the element counts of entries.
func TotalElements(entries []Entry) int64 {
	var n int64
	for _, e := range entries {
		n += e.Numel()
	}
	return n
}

// HeaderFormat reports whether a spec's key list is printed in the 2026
// reference format (docs/keys/2026: "#" header lines naming the source
// and arguments, then "# tensors: N  total_params: P", then the keys)
// rather than the older one with a "# tensors=N elements=M" footer.
func HeaderFormat(s *Spec) bool {
	switch Group(s.Family) {
	case "dit", "pixart", "latte", "stdit", "stdit2", "stdit3", "mmdit", "":
		return false
	}
	return true
}

// WriteSpecKeys writes a spec's entries in the format of the reference
// key lists for its family (see HeaderFormat).
func WriteSpecKeys(w io.Writer, s *Spec, entries []Entry) error {
	if !HeaderFormat(s) {
		return WriteKeys(w, entries)
	}
	js, err := s.MarshalJSON()
	if err != nil {
		return err
	}
	header := []string{}
	if s.preset != "" {
		for _, p := range presets {
			if p.Name == s.preset {
				header = append(header, fmt.Sprintf("ditkit preset %s: %s", p.Name, p.Description))
			}
		}
	}
	header = append(header, "spec: "+string(js))
	return WriteKeysHeader(w, header, entries)
}

// WriteKeysHeader writes entries in the docs/keys/2026 format: header
// lines (each prefixed "# "), "# tensors: N  total_params: P", then
// "name<TAB>[d0, d1, ...]" per line.
func WriteKeysHeader(w io.Writer, header []string, entries []Entry) error {
	bw := bufio.NewWriter(w)
	for _, h := range header {
		fmt.Fprintf(bw, "# %s\n", strings.ReplaceAll(h, "\n", " "))
	}
	fmt.Fprintf(bw, "# tensors: %d  total_params: %d\n", len(entries), TotalElements(entries))
	for _, e := range entries {
		fmt.Fprintf(bw, "%s\t%s\n", e.Name, tensor.FormatShape(e.Shape))
	}
	return bw.Flush()
}
