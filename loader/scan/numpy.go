package scan

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/ditkit/ditkit/loader/format"
)

// maxNPYHeader bounds a .npy header (numpy.load itself refuses headers
// over 10,000 bytes unless told otherwise).
const maxNPYHeader = 1 << 20

// npyHeader is what a .npy file's header says.
type npyHeader struct {
	dataOff int64 // where the array data (or the object array's pickle) starts
	object  bool  // the dtype holds Python objects: the data is a pickle
	descr   string
}

// readNPYHeader parses the magic, version and header dict of a .npy file.
func readNPYHeader(r io.ReaderAt, size int64) (*npyHeader, error) {
	var pre [12]byte
	n, _ := r.ReadAt(pre[:], 0)
	if n < 10 || string(pre[:6]) != format.NPYMagic {
		return nil, fmt.Errorf("no .npy magic number")
	}
	major := pre[6]
	var hlen, hoff int64
	switch major {
	case 1:
		hlen, hoff = int64(binary.LittleEndian.Uint16(pre[8:])), 10
	case 2, 3:
		if n < 12 {
			return nil, fmt.Errorf("truncated .npy header length")
		}
		hlen, hoff = int64(binary.LittleEndian.Uint32(pre[8:])), 12
	default:
		return nil, fmt.Errorf(".npy format version %d.%d", major, pre[7])
	}
	if hlen > maxNPYHeader {
		return nil, fmt.Errorf(".npy header of %d bytes exceeds the limit of %d", hlen, maxNPYHeader)
	}
	if hoff+hlen > size {
		return nil, fmt.Errorf(".npy header of %d bytes runs past the end of the data", hlen)
	}
	hdr := make([]byte, hlen)
	if got, _ := r.ReadAt(hdr, hoff); int64(got) < hlen {
		return nil, fmt.Errorf("cannot read the .npy header")
	}
	v, err := parsePyLiteral(strings.TrimSpace(string(hdr)))
	if err != nil {
		return nil, fmt.Errorf(".npy header is not a Python literal: %v", err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf(".npy header is not a dict")
	}
	descr, ok := d["descr"]
	if !ok {
		return nil, fmt.Errorf(".npy header has no 'descr'")
	}
	return &npyHeader{dataOff: hoff + hlen, object: descrHasObject(descr), descr: fmt.Sprint(descr)}, nil
}

// descrHasObject reports whether a numpy dtype description (a type string
// such as '|O', or a list of (name, type[, shape]) fields) holds objects.
func descrHasObject(d any) bool {
	switch x := d.(type) {
	case string:
		t := strings.TrimLeft(x, "<>|=")
		return strings.HasPrefix(t, "O")
	case []any:
		for _, f := range x {
			fl, ok := f.([]any)
			if !ok || len(fl) < 2 {
				continue
			}
			if descrHasObject(fl[1]) {
				return true
			}
		}
	}
	return false
}

// scanNPY scans a .npy array: an object array's data is a pickle that
// numpy.load(allow_pickle=True) unpickles; other arrays hold no code.
// label names it inside a container ("" for the file itself).
func (s *scanner) scanNPY(r io.ReaderAt, size int64, label string, primary bool) {
	where := "offset 0"
	if label != "" {
		where = fmt.Sprintf("entry %q", label)
	}
	h, err := readNPYHeader(r, size)
	if err != nil {
		if primary {
			s.setFatal(format.Errorf(s.file, format.ErrCorrupt, where, "%v", err))
		} else {
			s.add(SeveritySuspicious, where, "a malformed .npy entry: %v", err)
		}
		return
	}
	if !h.object {
		return
	}
	pl := label
	if pl == "" {
		pl = "array"
	}
	pl += " (object array)"
	s.add(SeverityInfo, where, "an object array (dtype %s): its data is a pickle that numpy.load(allow_pickle=True) runs; scanned", h.descr)
	if h.dataOff >= size {
		s.add(SeveritySuspicious, where, "an object array with no data")
		return
	}
	sec := io.NewSectionReader(r, h.dataOff, size-h.dataOff)
	data, err := s.scanAt(sec, size-h.dataOff, 0, pl, true, MaxPickleBytes)
	if err != nil {
		if primary {
			s.setFatal(err)
		} else {
			s.add(SeveritySuspicious, where, "the object array's pickle is malformed: %v", err)
		}
		return
	}
	if end := h.dataOff + int64(len(data)); end < size {
		s.trailer(r, end, size, where, "the object array's pickle", "numpy.load ignores them")
	}
}

// parsePyLiteral parses the subset of Python literals a .npy header uses:
// dicts, lists, tuples, strings, numbers, True, False and None. Tuples
// come back as []any, numbers as their text.
func parsePyLiteral(s string) (any, error) {
	p := &pyLit{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q at %d", p.s[p.i:min(len(p.s), p.i+8)], p.i)
	}
	return v, nil
}

type pyLit struct {
	s string
	i int
}

func (p *pyLit) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyLit) value(depth int) (any, error) {
	if depth > 32 {
		return nil, fmt.Errorf("nested too deep")
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		m := map[string]any{}
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return m, nil
			}
			k, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("dict key is not a string")
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, fmt.Errorf("expected ':' at %d", p.i)
			}
			p.i++
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[ks] = v
			if err := p.sep('}'); err != nil {
				return nil, err
			}
		}
	case c == '[' || c == '(':
		end := byte(']')
		if c == '(' {
			end = ')'
		}
		p.i++
		var l []any
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == end {
				p.i++
				if l == nil {
					l = []any{}
				}
				return l, nil
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			if err := p.sep(end); err != nil {
				return nil, err
			}
		}
	case c == '\'' || c == '"':
		p.i++
		var b strings.Builder
		for p.i < len(p.s) && p.s[p.i] != c {
			if p.s[p.i] == '\\' && p.i+1 < len(p.s) {
				p.i++
			}
			b.WriteByte(p.s[p.i])
			p.i++
		}
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated string")
		}
		p.i++
		return b.String(), nil
	default:
		j := p.i
		for j < len(p.s) && strings.IndexByte(",:)]} \t\r\n", p.s[j]) < 0 {
			j++
		}
		if j == p.i {
			return nil, fmt.Errorf("unexpected %q at %d", c, p.i)
		}
		w := p.s[p.i:j]
		p.i = j
		switch w {
		case "True":
			return true, nil
		case "False":
			return false, nil
		case "None":
			return nil, nil
		}
		for _, r := range w {
			if !strings.ContainsRune("0123456789+-.eExXabcdefABCDEFLjJ_", r) {
				return nil, fmt.Errorf("unexpected %q", w)
			}
		}
		return w, nil
	}
}

// sep consumes a ',' or sees the closing bracket.
func (p *pyLit) sep(end byte) error {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ',' {
		p.i++
		return nil
	}
	if p.i < len(p.s) && p.s[p.i] == end {
		return nil
	}
	return fmt.Errorf("expected ',' or %q at %d", end, p.i)
}
