package scan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"

	"github.com/ditkit/ditkit/loader/format"
)

// tarMember is one regular file of a tar archive.
type tarMember struct {
	name      string
	off, size int64
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// tarMembers lists the regular files of a tar (ustar, pax and GNU long names).
func (s *scanner) tarMembers(r io.ReaderAt, size int64) []tarMember {
	var out []tarMember
	var h [512]byte
	pos := int64(0)
	longName := ""
	for pos+512 <= size {
		if len(out) >= MaxZipEntries {
			s.setFatal(format.Errorf(s.file, format.ErrLimit, "tar", "more than %d members", MaxZipEntries))
			return out
		}
		if n, _ := r.ReadAt(h[:], pos); n < 512 {
			break
		}
		if bytes.Count(h[:], []byte{0}) == 512 {
			break
		}
		if !format.TarChecksumOK(h[:]) {
			s.setFatal(format.Errorf(s.file, format.ErrCorrupt, fmt.Sprintf("offset %d", pos), "bad tar header checksum"))
			return out
		}
		sz, ok := format.TarOctal(h[124:136])
		if !ok || sz > size-pos-512 {
			s.setFatal(format.Errorf(s.file, format.ErrTruncated, fmt.Sprintf("offset %d", pos), "tar member of %d bytes runs past the end of the file", sz))
			return out
		}
		name := cstr(h[0:100])
		if string(h[257:262]) == "ustar" {
			if p := cstr(h[345:500]); p != "" {
				name = p + "/" + name
			}
		}
		data := pos + 512
		switch h[156] {
		case 'x', 'L':
			b := make([]byte, min(sz, 1<<20))
			r.ReadAt(b, data)
			if h[156] == 'L' {
				longName = cstr(b)
			} else {
				for _, rec := range strings.Split(string(b), "\n") {
					if _, kv, ok := strings.Cut(rec, " "); ok {
						if v, ok := strings.CutPrefix(kv, "path="); ok {
							longName = v
						}
					}
				}
			}
		case '0', 0, '7':
			if longName != "" {
				name, longName = longName, ""
			}
			out = append(out, tarMember{name: name, off: data, size: sz})
		default:
			longName = ""
		}
		pos = data + (sz+511)/512*512
	}
	return out
}

// scanTar walks a torch ≤ 0.1 tar checkpoint: sys_info and pickle are one
// pickle each; storages and tensors interleave pickles with raw records.
func (s *scanner) scanTar(r io.ReaderAt, size int64) {
	members := s.tarMembers(r, size)
	names := map[string]bool{}
	for _, m := range members {
		names[m.name] = true
	}
	torch := names["pickle"] && names["sys_info"]
	if !torch {
		s.add(SeveritySuspicious, "tar", "a tar archive that is not a torch.save checkpoint; its pickle-like members are scanned")
	} else {
		s.add(SeverityWarning, "tar", "legacy tar checkpoint (PyTorch ≤ 0.1): torch.load(weights_only=True) refuses it")
	}
	for _, m := range members {
		sec := io.NewSectionReader(r, m.off, m.size)
		where := fmt.Sprintf("member %q", m.name)
		switch {
		case torch && (m.name == "pickle" || m.name == "sys_info"):
			if _, err := s.scanAt(sec, m.size, 0, m.name, true, MaxPickleBytes); err != nil {
				s.setFatal(err)
			}
		case torch && (m.name == "tensors" || m.name == "storages"):
			s.scanTarRecords(sec, m.size, m.name, where)
		default:
			var hb [4]byte
			n, _ := sec.ReadAt(hb[:], 0)
			if n >= 2 && format.PickleStart(hb[:n]) {
				before := len(s.rep.Pickles)
				s.scanAt(sec, m.size, 0, m.name, false, 16<<20)
				if len(s.rep.Pickles) > before {
					s.add(SeverityWarning, where, "a member that holds a pickle")
				}
			} else if n == 4 && string(hb[:]) == "PK\x03\x04" {
				s.add(SeveritySuspicious, where, "a zip archive inside the tar")
				sub := &scanner{file: s.file, rep: &Report{}}
				sub.scanZip(sec, m.size, m.name, false, 1)
				s.acc.Globals = append(s.acc.Globals, sub.acc.Globals...)
				for _, f := range sub.acc.Issues {
					s.acc.AddFinding(f)
				}
				s.rep.Pickles = append(s.rep.Pickles, sub.rep.Pickles...)
			}
		}
	}
}

// scanTarRecords walks the "tensors" or "storages" member: a count pickle,
// then per record a pickle and raw bytes whose length the record gives.
func (s *scanner) scanTarRecords(r io.ReaderAt, size int64, name, where string) {
	pos := int64(0)
	for k := 0; pos < size; k++ {
		if k > MaxZipEntries {
			s.add(SeveritySuspicious, where, "too many records; the rest is not scanned")
			return
		}
		label := fmt.Sprintf("%s#%d", name, k)
		before := len(s.acc.Globals)
		data, err := s.scanAt(r, size, pos, label, true, MaxPickleBytes)
		if err != nil {
			s.setFatal(err)
			return
		}
		pos += int64(len(data))
		if k == 0 {
			continue // the record count
		}
		var b [8]byte
		if name == "tensors" {
			if n, _ := r.ReadAt(b[:8], pos); n < 8 {
				s.setFatal(format.Errorf(s.file, format.ErrTruncated, where, "tensor record truncated"))
				return
			}
			ndim := int64(int32(binary.LittleEndian.Uint32(b[:])))
			if ndim < 0 || ndim > 64 {
				s.setFatal(format.Errorf(s.file, format.ErrCorrupt, where, "tensor record with %d dimensions", ndim))
				return
			}
			pos += 8 + ndim*16 + 8
			continue
		}
		es := int64(0)
		for _, g := range s.acc.Globals[before:] {
			if dt, ok := StorageDType(g.Name); ok && g.Module == "torch" {
				es = int64(dt.Size())
			}
		}
		if es == 0 {
			es = int64(tensor.U8.Size())
			s.add(SeveritySuspicious, where, "storage record %d names no torch storage type", k)
		}
		if n, _ := r.ReadAt(b[:], pos); n < 8 {
			s.setFatal(format.Errorf(s.file, format.ErrTruncated, where, "storage record truncated"))
			return
		}
		cnt := int64(binary.LittleEndian.Uint64(b[:]))
		if cnt < 0 || cnt > (size-pos-8)/es {
			s.setFatal(format.Errorf(s.file, format.ErrTruncated, where, "storage of %d elements runs past the member", cnt))
			return
		}
		pos += 8 + cnt*es
	}
}
