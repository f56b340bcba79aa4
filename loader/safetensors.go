package loader

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"

	"github.com/ditkit/ditkit/core/tensor"
)

// MaxSafetensorsHeader is the format's own limit on the JSON header.
const MaxSafetensorsHeader = 100_000_000

type stEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// openSafetensors validates the header by every rule of the format and
// returns tensors ordered by data offset (file order).
func openSafetensors(r io.ReaderAt, size int64, name string) (*Checkpoint, error) {
	var hb [8]byte
	if _, err := r.ReadAt(hb[:], 0); err != nil {
		return nil, ferr(name, ErrTruncated, "offset 0", "cannot read the 8-byte header length")
	}
	n := binary.LittleEndian.Uint64(hb[:])
	if n > MaxSafetensorsHeader {
		return nil, ferr(name, ErrLimit, "offset 0", "safetensors header length %d exceeds the format's limit of %d", n, MaxSafetensorsHeader)
	}
	if int64(n) > size-8 {
		return nil, ferr(name, ErrTruncated, "offset 8", "safetensors header of %d bytes runs past the end of the %d-byte file", n, size)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, ferr(name, ErrTruncated, "offset 8", "cannot read the %d-byte header: %v", n, err)
	}
	if !utf8.Valid(hdr) {
		return nil, ferr(name, ErrCorrupt, "header", "safetensors header is not valid UTF-8")
	}
	if len(bytes.TrimSpace(hdr)) == 0 || bytes.TrimLeft(hdr, " ")[0] != '{' {
		return nil, ferr(name, ErrCorrupt, "header", "safetensors header is not a JSON object")
	}
	// Decode keeping the order and catching duplicates.
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, ferr(name, ErrCorrupt, "header", "safetensors header is not a JSON object")
	}
	ck := &Checkpoint{Format: FormatSafetensors, HeaderSHA256: sha256Hex(hdr)}
	seen := map[string]bool{}
	dataStart := int64(8 + n)
	type item struct {
		t          *Tensor
		begin, end int64
	}
	var items []item
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, ferr(name, ErrCorrupt, "header", "bad JSON: %v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, ferr(name, ErrCorrupt, fmt.Sprintf("tensor %q", key), "duplicate name in the header")
		}
		seen[key] = true
		if key == "__metadata__" {
			var md map[string]any
			if err := dec.Decode(&md); err != nil {
				return nil, ferr(name, ErrCorrupt, "__metadata__", "must be an object of strings: %v", err)
			}
			ck.Metadata = map[string]string{}
			for k, v := range md {
				s, ok := v.(string)
				if !ok {
					return nil, ferr(name, ErrCorrupt, "__metadata__", "value of %q is not a string", k)
				}
				ck.Metadata[k] = s
			}
			continue
		}
		var e stEntry
		if err := dec.Decode(&e); err != nil {
			return nil, ferr(name, ErrCorrupt, fmt.Sprintf("tensor %q", key), "bad entry: %v", err)
		}
		where := fmt.Sprintf("tensor %q", key)
		dt, err := tensor.ParseDType(e.DType)
		if err != nil || dt.IsQuantized() {
			return nil, ferr(name, ErrUnsupported, where, "dtype %q is not supported", e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, ferr(name, ErrCorrupt, where, "data_offsets must be [begin, end]")
		}
		shape := make([]int, len(e.Shape))
		for i, d := range e.Shape {
			if d < 0 || d > 1<<53 {
				return nil, ferr(name, ErrCorrupt, where, "bad dimension %d", d)
			}
			shape[i] = int(d)
		}
		nb, err := tensor.NBytes(dt, shape)
		if err != nil {
			return nil, ferr(name, ErrCorrupt, where, "%v", err)
		}
		b, en := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || en < b {
			return nil, ferr(name, ErrCorrupt, where, "invalid data_offsets [%d, %d]", b, en)
		}
		if en-b != nb {
			return nil, ferr(name, ErrCorrupt, where, "data_offsets [%d, %d] hold %d bytes but %v %v needs %d", b, en, en-b, dt, e.Shape, nb)
		}
		t := &Tensor{Name: key, DType: dt, Shape: shape, Strides: tensor.ContiguousStrides(shape),
			Storage: &Storage{Key: key, DType: dt, Off: dataStart + b, Size: nb}}
		items = append(items, item{t, b, en})
	}
	if _, err := dec.Token(); err != nil {
		return nil, ferr(name, ErrCorrupt, "header", "bad JSON: %v", err)
	}
	if rest := bytes.TrimSpace(hdr[dec.InputOffset():]); len(rest) > 0 {
		return nil, ferr(name, ErrCorrupt, "header", "trailing bytes after the JSON object")
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].begin != items[j].begin {
			return items[i].begin < items[j].begin
		}
		return items[i].end < items[j].end
	})
	pos := int64(0)
	for _, it := range items {
		if it.begin != pos {
			if it.begin < pos {
				return nil, ferr(name, ErrCorrupt, fmt.Sprintf("tensor %q", it.t.Name), "data_offsets [%d, %d] overlap the previous tensor (which ends at %d)", it.begin, it.end, pos)
			}
			return nil, ferr(name, ErrCorrupt, fmt.Sprintf("tensor %q", it.t.Name), "gap in the data buffer: previous tensor ends at %d, this one begins at %d", pos, it.begin)
		}
		pos = it.end
		ck.Tensors = append(ck.Tensors, it.t)
	}
	bufLen := size - dataStart
	switch {
	case pos > bufLen:
		return nil, ferr(name, ErrTruncated, fmt.Sprintf("offset %d", dataStart+bufLen), "the header declares %d data bytes but the file holds %d", pos, bufLen)
	case pos < bufLen:
		// Lenient: real files carry trailing bytes; say so, never silently.
		ck.Notes = append(ck.Notes, fmt.Sprintf("%d trailing bytes after the data buffer (offset %d) are ignored; a strict reader refuses this file", bufLen-pos, dataStart+pos))
	}
	return ck, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
