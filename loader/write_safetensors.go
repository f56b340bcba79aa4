package loader

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"
)

// WriteSafetensors writes srcs as a spec-conformant safetensors file in one
// streaming pass: tensors sorted by dtype alignment (descending) then name,
// the header padded with spaces to a multiple of 8, metadata under
// __metadata__.
func WriteSafetensors(w io.Writer, srcs []Source, metadata map[string]string) error {
	order := make([]int, len(srcs))
	seen := map[string]bool{}
	for i := range srcs {
		order[i] = i
		if seen[srcs[i].Name] {
			return fmt.Errorf("tensor %q: duplicate name", srcs[i].Name)
		}
		if srcs[i].Name == "__metadata__" {
			return fmt.Errorf("a tensor may not be named __metadata__")
		}
		if !utf8.ValidString(srcs[i].Name) {
			// JSON would write U+FFFD instead: the name would change silently.
			return fmt.Errorf("tensor %q: name is not valid UTF-8, which a safetensors (JSON) header cannot hold; convert to .pt to keep it", srcs[i].Name)
		}
		seen[srcs[i].Name] = true
	}
	sort.SliceStable(order, func(a, b int) bool {
		sa, sb := &srcs[order[a]], &srcs[order[b]]
		if sa.DType.Size() != sb.DType.Size() {
			return sa.DType.Size() > sb.DType.Size()
		}
		return sa.Name < sb.Name
	})
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			hdr.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		comma()
		hdr.WriteString(`"__metadata__":`)
		keys := sortedKeys(metadata)
		hdr.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				hdr.WriteByte(',')
			}
			writeJSONString(&hdr, k)
			hdr.WriteByte(':')
			writeJSONString(&hdr, metadata[k])
		}
		hdr.WriteByte('}')
	}
	off := int64(0)
	for _, i := range order {
		s := &srcs[i]
		if s.DType.Size() == 0 || s.DType.IsQuantized() {
			return fmt.Errorf("tensor %q: dtype %v cannot be written to safetensors", s.Name, s.DType)
		}
		nb, err := s.NBytes()
		if err != nil {
			return fmt.Errorf("tensor %q: %w", s.Name, err)
		}
		comma()
		writeJSONString(&hdr, s.Name)
		fmt.Fprintf(&hdr, `:{"dtype":"%s","shape":[`, s.DType)
		for j, d := range s.Shape {
			if j > 0 {
				hdr.WriteByte(',')
			}
			fmt.Fprint(&hdr, d)
		}
		fmt.Fprintf(&hdr, `],"data_offsets":[%d,%d]}`, off, off+nb)
		off += nb
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	cw := &countWriter{w: w}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(hdr.Len()))
	cw.Write(lenb[:])
	cw.Write(hdr.Bytes())
	if cw.err != nil {
		return cw.err
	}
	for _, i := range order {
		if err := writeSource(cw, &srcs[i]); err != nil {
			return err
		}
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}
