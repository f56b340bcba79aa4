package scan

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/loader/format"
)

// zipRec is one central-directory record, with what its local header says.
type zipRec struct {
	name          string
	flags, method uint16
	crc           uint32
	csize, usize  int64
	lh            int64 // local header offset as recorded (PyTorch/miniz view)
	at            int64 // where the local header really is (Python zipfile view: lh + concat)
	dataOff       int64 // first data byte; -1 when the local header is unusable
	end           int64 // data end plus any data descriptor
	lname         string
	peek          []byte // first data bytes, when the header read reached them
}

const (
	maxEOCDSearch = 65535 + 22
	zipGapPeek    = 1 << 20
)

// findEOCD returns the offset of the last end-of-central-directory record
// whose comment fits in the file (what Python's zipfile, miniz and Go use).
func findEOCD(r io.ReaderAt, size int64) (int64, []byte, bool) {
	if size < 22 {
		return 0, nil, false
	}
	n := min(size, maxEOCDSearch)
	buf := make([]byte, n)
	if got, _ := r.ReadAt(buf, size-n); int64(got) < n {
		return 0, nil, false
	}
	for i := len(buf) - 22; i >= 0; i-- {
		if buf[i] == 'P' && buf[i+1] == 'K' && buf[i+2] == 5 && buf[i+3] == 6 {
			return size - n + int64(i), buf[i:], true
		}
	}
	return 0, nil, false
}

// scanZip checks a zip's structure the way PyTorch's reader (miniz) and
// Python's zipfile each see it, and scans every pickle entry. container
// names an outer value for nested zips; primary is true when the zip is the
// file torch.load reads.
func (s *scanner) scanZip(r io.ReaderAt, size int64, container string, primary bool, depth int) {
	le := binary.LittleEndian
	prefix := ""
	if container != "" {
		prefix = container + " > "
	}
	wh := func(msg string, args ...any) string { return prefix + fmt.Sprintf(msg, args...) }
	eocd, rec, ok := findEOCD(r, size)
	if !ok {
		s.setFatal(format.Errorf(s.file, format.ErrCorrupt, wh("zip"), "no end-of-central-directory record: truncated or not a zip"))
		return
	}
	entries := int64(le.Uint16(rec[10:]))
	cdSize := int64(le.Uint32(rec[12:]))
	cdOff := int64(le.Uint32(rec[16:]))
	commentLen := int64(le.Uint16(rec[20:]))
	if le.Uint16(rec[4:]) != 0 || le.Uint16(rec[6:]) != 0 {
		s.add(SeveritySuspicious, wh("offset %d", eocd), "multi-disk (split) zip")
	}
	if tail := size - (eocd + 22 + commentLen); tail > 0 {
		at := eocd + 22 + commentLen
		s.add(SeveritySuspicious, wh("offset %d", at), "%d bytes after the end of the zip archive: a polyglot or appended payload that some readers see and others ignore", tail)
		if container == "" && primary {
			var h [2]byte
			if n, _ := r.ReadAt(h[:], at); n == 2 && format.PickleStart(h[:]) {
				s.scanAt(r, size, at, fmt.Sprintf("trailer@%d", at), false, 16<<20)
			}
		}
	} else if tail < 0 {
		s.add(SeveritySuspicious, wh("offset %d", eocd), "the zip comment claims %d bytes, the file holds %d", commentLen, size-eocd-22)
	}
	cdEnd := eocd // where the central directory should end
	if eocd >= 20 {
		var loc [20]byte
		if n, _ := r.ReadAt(loc[:], eocd-20); n == 20 && le.Uint32(loc[:]) == 0x07064b50 {
			recOff := int64(le.Uint64(loc[8:]))
			real := eocd - 20 - 56
			var z [56]byte
			if n, _ := r.ReadAt(z[:], real); n < 56 || le.Uint32(z[:]) != 0x06064b50 {
				s.setFatal(format.Errorf(s.file, format.ErrCorrupt, wh("offset %d", real), "ZIP64 end-of-central-directory record missing"))
				return
			}
			if recOff != real {
				s.add(SeveritySuspicious, wh("offset %d", eocd-20), "the ZIP64 locator points to offset %d but the record is at %d: readers disagree", recOff, real)
			}
			entries = int64(le.Uint64(z[32:]))
			cdSize = int64(le.Uint64(z[40:]))
			cdOff = int64(le.Uint64(z[48:]))
			cdEnd = real
		}
	}
	if entries > int64(MaxZipEntries) || entries < 0 {
		s.setFatal(format.Errorf(s.file, format.ErrLimit, wh("zip"), "%d entries exceed the limit of %d", entries, MaxZipEntries))
		return
	}
	if cdSize < 0 || cdSize > cdEnd || cdOff < 0 {
		s.setFatal(format.Errorf(s.file, format.ErrCorrupt, wh("zip"), "central directory of %d bytes at offset %d does not fit before offset %d", cdSize, cdOff, cdEnd))
		return
	}
	cdAt := cdEnd - cdSize
	concat := cdAt - cdOff // Python's zipfile shifts every offset by this
	if concat != 0 {
		sev := SeveritySuspicious
		if primary {
			sev = SeverityDangerous
		}
		s.add(sev, wh("offset %d", cdAt), "the central directory says it starts at %d but sits at %d: %d bytes are prepended or inserted, so Python's zipfile (which shifts every offset) and PyTorch's reader (which does not) look for entries in different places", cdOff, cdAt, concat)
	}
	if commentLen > 0 && eocd+22+commentLen <= size {
		var c [4]byte
		if n, _ := r.ReadAt(c[:], eocd+22); n >= 2 && (format.PickleStart(c[:n]) && c[0] == 0x80 || string(c[:n]) == "PK\x03\x04") {
			s.add(SeveritySuspicious, wh("offset %d", eocd+22), "the zip comment (%d bytes) starts like a pickle or a zip", commentLen)
		}
	}
	if cdSize > 256<<20 || cdSize > size {
		s.setFatal(format.Errorf(s.file, format.ErrLimit, wh("zip"), "central directory of %d bytes", cdSize))
		return
	}
	cd := make([]byte, cdSize)
	if n, _ := r.ReadAt(cd, cdAt); int64(n) < cdSize {
		s.setFatal(format.Errorf(s.file, format.ErrTruncated, wh("offset %d", cdAt), "central directory truncated"))
		return
	}
	var recs []*zipRec
	p := 0
	for p+46 <= len(cd) && le.Uint32(cd[p:]) == 0x02014b50 {
		if len(recs) >= MaxZipEntries {
			s.setFatal(format.Errorf(s.file, format.ErrLimit, wh("zip"), "more than %d entries", MaxZipEntries))
			return
		}
		nl, xl, cl := int(le.Uint16(cd[p+28:])), int(le.Uint16(cd[p+30:])), int(le.Uint16(cd[p+32:]))
		if p+46+nl+xl+cl > len(cd) {
			s.setFatal(format.Errorf(s.file, format.ErrCorrupt, wh("offset %d", cdAt+int64(p)), "central directory record runs past the directory"))
			return
		}
		e := &zipRec{
			flags: le.Uint16(cd[p+8:]), method: le.Uint16(cd[p+10:]), crc: le.Uint32(cd[p+16:]),
			csize: int64(le.Uint32(cd[p+20:])), usize: int64(le.Uint32(cd[p+24:])), lh: int64(le.Uint32(cd[p+42:])),
			name: string(cd[p+46 : p+46+nl]), dataOff: -1,
		}
		extra := cd[p+46+nl : p+46+nl+xl]
		for len(extra) >= 4 {
			id, sz := le.Uint16(extra), int(le.Uint16(extra[2:]))
			if 4+sz > len(extra) {
				break
			}
			if id == 1 {
				f := extra[4 : 4+sz]
				take := func(v *int64) {
					if *v == 0xffffffff && len(f) >= 8 {
						*v = int64(le.Uint64(f))
						f = f[8:]
					}
				}
				take(&e.usize)
				take(&e.csize)
				take(&e.lh)
			}
			extra = extra[4+sz:]
		}
		recs = append(recs, e)
		p += 46 + nl + xl + cl
	}
	if int64(len(recs)) != entries {
		s.add(SeveritySuspicious, wh("offset %d", cdAt), "the end record announces %d entries, the central directory holds %d: readers that trust one or the other disagree", entries, len(recs))
	}
	if p != len(cd) {
		s.add(SeveritySuspicious, wh("offset %d", cdAt+int64(p)), "%d unexplained bytes inside the central directory", len(cd)-p)
	}

	// per-entry checks
	seen := map[string]int{}
	root := ""
	if len(recs) > 0 {
		root, _, _ = strings.Cut(recs[0].name, "/")
	}
	dataPkls := 0
	for _, e := range recs {
		seen[e.name]++
		if path.Base(e.name) == "data.pkl" {
			dataPkls++
		}
	}
	for name, k := range seen {
		if k > 1 {
			sev := SeveritySuspicious
			if strings.HasSuffix(name, ".pkl") || primary {
				sev = SeverityDangerous
			}
			s.add(sev, wh("entry %q", name), "appears %d times: Python's zipfile uses the last copy, PyTorch's reader may use another, so a scanner and torch.load can read different pickles", k)
		}
	}
	if primary && dataPkls > 1 {
		s.add(SeveritySuspicious, wh("zip"), "%d data.pkl entries; PyTorch reads only %s/data.pkl", dataPkls, root)
	}
	for _, e := range recs {
		where := wh("entry %q", e.name)
		if strings.ContainsAny(e.name, "\x00\\") || strings.HasPrefix(e.name, "/") || strings.Contains("/"+e.name+"/", "/../") {
			s.add(SeveritySuspicious, where, "unsafe entry name (absolute, parent directory, backslash or NUL)")
		}
		if e.flags&0x41 != 0 || e.flags&0x2000 != 0 {
			s.add(SeveritySuspicious, where, "flagged as encrypted (flag bits 0x%04x): Python's zipfile refuses to read it, so scanners built on it skip it; scanned here as stored", e.flags)
		} else if odd := e.flags &^ (0x0008 | 0x0800 | 0x0006); odd != 0 {
			s.add(SeveritySuspicious, where, "unusual general-purpose flag bits 0x%04x", odd)
		}
		switch e.method {
		case 0:
		case 8:
			s.add(SeveritySuspicious, where, "compressed (deflate): torch.save never compresses, and compression hides a pickle's bytes from simple scanners")
		default:
			s.add(SeveritySuspicious, where, "compression method %d: PyTorch cannot read it and it is not scanned", e.method)
		}
		e.at = e.lh + concat
		s.localHeader(r, size, e, where)
		if concat != 0 && e.dataOff >= 0 {
			// what PyTorch's reader finds at the unshifted offset
			alt := &zipRec{name: e.name, flags: e.flags, method: e.method, csize: e.csize, usize: e.usize, lh: e.lh, at: e.lh, dataOff: -1}
			sub := &scanner{file: s.file, rep: &Report{}}
			sub.localHeader(r, size, alt, where)
			if alt.dataOff >= 0 {
				s.add(SeverityDangerous, where, "a different local entry %q sits at the unshifted offset %d", alt.lname, alt.lh)
				s.scanEntry(r, alt, wh("%s (unshifted)", e.name), false, depth, where)
			}
		}
	}
	if primary {
		s.classifyZip(recs, root)
	}
	for _, e := range recs {
		if e.dataOff < 0 {
			continue
		}
		loaded := primary && (e.name == root+"/data.pkl" || e.name == root+"/constants.pkl")
		s.scanEntry(r, e, prefix+e.name, loaded, depth, wh("entry %q", e.name))
	}
	s.zipGaps(r, size, recs, cdAt, cdEnd, eocd, primary || container != "", prefix, depth)
}

// classifyZip sets the format of the file's own zip.
func (s *scanner) classifyZip(recs []*zipRec, root string) {
	has := map[string]bool{}
	for _, e := range recs {
		has[e.name] = true
	}
	switch {
	case has[root+"/data.pkl"]:
		s.rep.Format = format.TorchZip
		for _, e := range recs {
			if strings.HasPrefix(e.name, root+"/code/") && !strings.HasSuffix(e.name, ".debug_pkl") {
				s.add(SeveritySuspicious, fmt.Sprintf("entry %q", e.name), "TorchScript code: torch.jit.load compiles and runs it")
				s.rep.Format = format.TorchScript
				break
			}
		}
	case has[root+"/constants.pkl"]:
		s.rep.Format = format.TorchScript
		s.add(SeveritySuspicious, "zip", "a TorchScript archive (torch.jit.save): torch.jit.load runs its code/ entries, which are not scanned")
	default:
		s.rep.Format = format.Zip
		s.add(SeverityInfo, "zip", "no %s/data.pkl: torch.load cannot read this zip", root)
	}
}

// localHeader reads and cross-checks the entry's local header.
func (s *scanner) localHeader(r io.ReaderAt, size int64, e *zipRec, where string) {
	le := binary.LittleEndian
	if e.at < 0 || e.at > size-30 {
		s.add(SeveritySuspicious, where, "local header offset %d is outside the file", e.at)
		s.setFatal(format.Errorf(s.file, format.ErrCorrupt, where, "local header offset %d is outside the file", e.at))
		return
	}
	// one read for the header, its name, a typical extra field and the
	// first data bytes (the browser reads a Blob range per ReadAt)
	buf := make([]byte, min(int64(30+len(e.name)+160), size-e.at))
	got, _ := r.ReadAt(buf, e.at)
	buf = buf[:got]
	h := buf
	if got < 30 || le.Uint32(h[:]) != 0x04034b50 {
		s.add(SeveritySuspicious, where, "no local header at offset %d", e.at)
		s.setFatal(format.Errorf(s.file, format.ErrCorrupt, where, "no local header at offset %d", e.at))
		return
	}
	flags, method := le.Uint16(h[6:]), le.Uint16(h[8:])
	nl, xl := int64(le.Uint16(h[26:])), int64(le.Uint16(h[28:]))
	if e.at+30+nl+xl > size {
		s.setFatal(format.Errorf(s.file, format.ErrTruncated, where, "local header runs past the end of the file"))
		return
	}
	if int64(len(buf)) >= 30+nl {
		e.lname = string(buf[30 : 30+nl])
	} else {
		nb := make([]byte, nl)
		r.ReadAt(nb, e.at+30)
		e.lname = string(nb)
	}
	if p := 30 + nl + xl; int64(len(buf)) >= p+4 {
		e.peek = append([]byte(nil), buf[p:p+4]...)
	}
	if e.lname != e.name {
		s.add(SeverityDangerous, where, "the local header names it %q: readers that trust the local header (streaming unzip, some scanners) and those that trust the central directory (PyTorch, Python) see different files", e.lname)
	}
	if method != e.method {
		s.add(SeverityDangerous, where, "the local header says compression method %d, the central directory %d", method, e.method)
	}
	if (flags^e.flags)&0x0049 != 0 {
		s.add(SeveritySuspicious, where, "local and central flag bits differ (0x%04x vs 0x%04x)", flags, e.flags)
	}
	if flags&0x8 == 0 && e.flags&0x8 == 0 {
		lc, lu := int64(le.Uint32(h[18:])), int64(le.Uint32(h[22:]))
		if (lc != e.csize && lc != 0xffffffff) || (lu != e.usize && lu != 0xffffffff) || le.Uint32(h[14:]) != e.crc {
			s.add(SeveritySuspicious, where, "local header sizes or CRC (%d/%d) differ from the central directory's (%d/%d)", lc, lu, e.csize, e.usize)
		}
	}
	data := e.at + 30 + nl + xl
	if e.csize < 0 || e.csize > size-data {
		s.add(SeveritySuspicious, where, "claims %d bytes at offset %d, past the end of the %d-byte file", e.csize, data, size)
		s.setFatal(format.Errorf(s.file, format.ErrTruncated, where, "claims %d bytes at offset %d, past the end of the %d-byte file", e.csize, data, size))
		return
	}
	if e.method == 0 && e.csize != e.usize {
		s.add(SeveritySuspicious, where, "stored entry with compressed size %d but uncompressed size %d", e.csize, e.usize)
	}
	e.dataOff = data
	e.end = data + e.csize
	// a data descriptor (flag bit 3) of up to 24 bytes may follow: gaps
	// that small are not read (see zipGaps)
}

// entryReader returns the entry's (inflated) bytes, at most limit.
// An entry flagged encrypted is read as if it were not: a reader that
// ignores the flag (or a crafted one) would, and a flag must not hide a pickle.
func (s *scanner) entryBytes(r io.ReaderAt, e *zipRec, limit int64) ([]byte, error) {
	sec := io.NewSectionReader(r, e.dataOff, e.csize)
	switch e.method {
	case 0:
		if e.csize > limit {
			return nil, fmt.Errorf("%d bytes exceed the limit of %d", e.csize, limit)
		}
		b := make([]byte, e.csize)
		if _, err := io.ReadFull(sec, b); err != nil {
			return nil, err
		}
		return b, nil
	case 8:
		fr := flate.NewReader(sec)
		defer fr.Close()
		b, err := io.ReadAll(io.LimitReader(fr, limit+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > limit {
			return nil, fmt.Errorf("inflates past %d bytes", limit)
		}
		return b, nil
	}
	return nil, fmt.Errorf("compression method %d", e.method)
}

// scanEntry scans a zip entry that is, or may be, a pickle or a zip.
func (s *scanner) scanEntry(r io.ReaderAt, e *zipRec, label string, loaded bool, depth int, where string) {
	isPkl := strings.HasSuffix(e.name, ".pkl") || loaded
	if !isPkl {
		// peek: anything not named .pkl is scanned when it starts like a
		// protocol-2+ pickle or a zip (wrong-extension tricks)
		var h [4]byte
		if e.method != 0 || e.csize < 4 {
			if e.method == 0 {
				return
			}
			b, err := s.entryBytes(r, e, 4096)
			if err != nil && len(b) < 4 {
				return
			}
			copy(h[:], b)
		} else if len(e.peek) == 4 {
			copy(h[:], e.peek)
		} else if n, _ := r.ReadAt(h[:], e.dataOff); n < 4 {
			return
		}
		isZip := string(h[:]) == "PK\x03\x04"
		if !(h[0] == 0x80 && h[1] >= 2 && h[1] <= 5) && !isZip {
			return
		}
		if !isZip && e.method == 0 && e.csize > 64<<10 {
			// most storages that happen to start with 0x80 fail within a few bytes
			pre := make([]byte, 64<<10)
			if n, _ := r.ReadAt(pre, e.dataOff); n == len(pre) {
				if _, err := newPickleScan(pre, s.file, label, &PickleReport{}).runProto(0); err != nil && !format.IsTruncation(err) {
					return
				}
			}
		}
		b, err := s.entryBytes(r, e, 64<<20)
		if err != nil {
			return
		}
		if isZip {
			if depth >= MaxNestedDepth {
				s.add(SeveritySuspicious, where, "zip nested too deep to scan")
				return
			}
			if n, ok := s.mergeNestedZip(b, label, depth+1); ok {
				s.add(SeveritySuspicious, where, "a zip inside the zip (%d globals in it)", n)
			}
			return
		}
		tmp := &PickleReport{}
		ps := newPickleScan(b, s.file, label, tmp)
		if _, err := ps.runProto(0); err != nil {
			return // storage bytes that happen to start with 0x80
		}
		s.add(SeverityWarning, where, "holds a pickle although its name does not end in .pkl")
		s.scanBytes(b, label, 0, false, true)
		return
	}
	b, err := s.entryBytes(r, e, MaxPickleInflate)
	if err != nil {
		s.add(SeveritySuspicious, where, "pickle entry cannot be scanned: %v", err)
		if loaded {
			s.setFatal(format.Errorf(s.file, format.ErrCorrupt, where, "cannot read the pickle: %v", err))
		}
		return
	}
	n, err := s.scanBytes(b, label, 0, loaded, false)
	if err != nil {
		if loaded {
			s.setFatal(err)
		} else {
			s.add(SeveritySuspicious, where, "malformed pickle: %v", err)
		}
		return
	}
	if n < len(b) {
		rest := b[n:]
		tmp := &PickleReport{}
		if _, err := newPickleScan(rest, s.file, label, tmp).runProto(int64(n)); err == nil {
			s.add(SeveritySuspicious, where, "a second pickle follows the first one's STOP at offset %d (readers that keep reading run it)", n)
			s.scanBytes(rest, label+"#1", int64(n), false, true)
		} else {
			s.add(SeverityInfo, where, "%d bytes after the pickle's STOP are ignored", len(rest))
		}
	}
}

// zipGaps reports bytes that no central-directory entry accounts for, and
// scans local entries hidden there.
func (s *scanner) zipGaps(r io.ReaderAt, size int64, recs []*zipRec, cdAt, cdEnd, eocd int64, ownsStart bool, prefix string, depth int) {
	type span struct{ a, b int64 }
	var spans []span
	for _, e := range recs {
		if e.dataOff >= 0 {
			spans = append(spans, span{e.at, e.end})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].a < spans[j].a })
	for i := 1; i < len(spans); i++ {
		if spans[i].a < spans[i-1].b {
			s.add(SeveritySuspicious, prefix+fmt.Sprintf("offset %d", spans[i].a), "zip entries overlap (a zip-bomb and reader-confusion technique)")
			break
		}
	}
	spans = append(spans, span{cdAt, cdEnd}, span{cdEnd, eocd})
	pos := int64(0)
	if !ownsStart && len(spans) > 0 {
		pos = spans[0].a // the bytes before an appended zip were scanned as the file's own content
	}
	check := func(a, b int64) {
		if b-a <= 24 {
			return // a data descriptor, or too small for a local header
		}
		n := min(b-a, zipGapPeek)
		buf := make([]byte, n)
		got, _ := r.ReadAt(buf, a)
		buf = buf[:got]
		if i := bytes.Index(buf, []byte("PK\x03\x04")); i >= 0 {
			hid := &zipRec{at: a + int64(i), dataOff: -1}
			var h [30]byte
			r.ReadAt(h[:], hid.at)
			le := binary.LittleEndian
			hid.flags, hid.method = le.Uint16(h[6:]), le.Uint16(h[8:])
			hid.csize, hid.usize = int64(le.Uint32(h[18:])), int64(le.Uint32(h[22:]))
			nl, xl := int64(le.Uint16(h[26:])), int64(le.Uint16(h[28:]))
			nb := make([]byte, min(nl, 4096))
			r.ReadAt(nb, hid.at+30)
			hid.name = string(nb)
			s.add(SeverityDangerous, prefix+fmt.Sprintf("offset %d", hid.at), "a local zip entry %q that the central directory does not list: streaming readers and some scanners see it, PyTorch does not", hid.name)
			hid.dataOff = hid.at + 30 + nl + xl
			if hid.dataOff+hid.csize <= size && hid.flags&0x8 == 0 {
				s.scanEntry(r, hid, prefix+hid.name+" (unlisted)", false, depth, prefix+fmt.Sprintf("offset %d", hid.at))
			}
			return
		}
		if format.PickleStart(buf) && buf[0] == 0x80 {
			s.add(SeveritySuspicious, prefix+fmt.Sprintf("offset %d", a), "%d bytes between zip structures start like a pickle", b-a)
			s.scanBytes(buf, prefix+fmt.Sprintf("gap@%d", a), a, false, true)
			return
		}
		{
			s.add(SeverityInfo, prefix+fmt.Sprintf("offset %d", a), "%d bytes between zip structures belong to no entry", b-a)
		}
	}
	for _, sp := range spans {
		if sp.a > pos {
			check(pos, sp.a)
		}
		pos = max(pos, sp.b)
	}
}

// mergeNestedZip scans a zip archive held inside the file (a bytes value,
// a zip entry) with a scanner of its own and merges its globals, findings
// and pickles (marked nested) into s. It returns how many globals the
// archive names; ok is false when it could not be read at all.
func (s *scanner) mergeNestedZip(data []byte, label string, depth int) (n int, ok bool) {
	sub := &scanner{file: s.file, rep: &Report{}}
	sub.scanZip(bytes.NewReader(data), int64(len(data)), label, false, depth)
	if sub.fatal != nil && len(sub.acc.Globals) == 0 {
		return 0, false
	}
	s.acc.Globals = append(s.acc.Globals, sub.acc.Globals...)
	for _, f := range sub.acc.Issues {
		s.acc.AddFinding(f)
	}
	for _, p := range sub.rep.Pickles {
		p.Nested = true
		s.rep.Pickles = append(s.rep.Pickles, p)
	}
	return len(sub.acc.Globals), true
}
