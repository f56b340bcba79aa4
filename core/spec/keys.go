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
