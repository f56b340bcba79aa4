package scan

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
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
	encrypted     bool   // flagged as encrypted
	scanned       bool   // its bytes were read as a pickle, array or zip
}

// zipGapPeek is how much of a gap between zip structures is searched for
// hidden entries.
const zipGapPeek = 1 << 20

// findEOCD returns the offset of the last end-of-central-directory record
// whose comment fits in the file (what Python's zipfile, miniz and Go use).
func findEOCD(r io.ReaderAt, size int64) (int64, []byte, bool) {
	if size < zipEndLen {
		return 0, nil, false
	}
	n := min(size, maxEOCDSearch)
	buf := make([]byte, n)
	if got, _ := r.ReadAt(buf, size-n); int64(got) < n {
		return 0, nil, false
	}
	for i := len(buf) - zipEndLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == zipEndSig {
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
	end := readZipEnd(rec)
	entries, cdSize, cdOff, commentLen := end.entries, end.cdSize, end.cdOff, end.commentLen
	if end.disk != 0 || end.cdDisk != 0 {
		s.add(SeveritySuspicious, wh("offset %d", eocd), "multi-disk (split) zip")
	}
	if tail := size - (eocd + zipEndLen + commentLen); tail > 0 {
		at := eocd + zipEndLen + commentLen
		s.add(SeveritySuspicious, wh("offset %d", at), "%d bytes after the end of the zip archive: a polyglot or appended payload that some readers see and others ignore", tail)
		if container == "" && primary {
			var h [2]byte
			if n, _ := r.ReadAt(h[:], at); n == 2 && format.PickleStart(h[:]) {
				s.scanAt(r, size, at, fmt.Sprintf("trailer@%d", at), false, 16<<20)
			}
		}
	} else if tail < 0 {
		s.add(SeveritySuspicious, wh("offset %d", eocd), "the zip comment claims %d bytes, the file holds %d", commentLen, size-eocd-zipEndLen)
	}
	cdEnd := eocd // where the central directory should end
	if locAt := eocd - zip64LocatorLen; locAt >= 0 {
		var lb [zip64LocatorLen]byte
		if n, _ := r.ReadAt(lb[:], locAt); n == zip64LocatorLen {
			if loc := readZip64Locator(lb[:]); loc.sig == zip64LocatorSig {
				real := locAt - zip64EndLen // the ZIP64 end record sits right before its locator
				var z [zip64EndLen]byte
				n, _ := r.ReadAt(z[:], real)
				sig, e64, sz64, off64 := readZip64End(z[:])
				if n < zip64EndLen || sig != zip64EndSig {
					s.setFatal(format.Errorf(s.file, format.ErrCorrupt, wh("offset %d", real), "ZIP64 end-of-central-directory record missing"))
					return
				}
				if loc.endOff != real {
					s.add(SeveritySuspicious, wh("offset %d", locAt), "the ZIP64 locator points to offset %d but the record is at %d: readers disagree", loc.endOff, real)
				}
				entries, cdSize, cdOff, cdEnd = e64, sz64, off64, real
			}
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
	if commentAt := eocd + zipEndLen; commentLen > 0 && commentAt+commentLen <= size {
		var c [4]byte
		if n, _ := r.ReadAt(c[:], commentAt); n >= 2 && (format.PickleStart(c[:n]) && c[0] == 0x80 || string(c[:n]) == format.ZipLocalMagic) {
			s.add(SeveritySuspicious, wh("offset %d", commentAt), "the zip comment (%d bytes) starts like a pickle or a zip", commentLen)
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
	for p+zipCentralLen <= len(cd) {
		c := readZipCentral(cd[p:])
		if c.sig != zipCentralSig {
			break
		}
		if len(recs) >= MaxZipEntries {
			s.setFatal(format.Errorf(s.file, format.ErrLimit, wh("zip"), "more than %d entries", MaxZipEntries))
			return
		}
		if p+c.size() > len(cd) {
			s.setFatal(format.Errorf(s.file, format.ErrCorrupt, wh("offset %d", cdAt+int64(p)), "central directory record runs past the directory"))
			return
		}
		name := cd[p+zipCentralLen : p+zipCentralLen+c.nameLen]
		e := &zipRec{flags: c.flags, method: c.method, crc: c.crc, csize: c.csize, usize: c.usize, lh: c.localOff, name: string(name), dataOff: -1}
		zip64Sizes(cd[p+zipCentralLen+c.nameLen:p+zipCentralLen+c.nameLen+c.extraLen], &e.usize, &e.csize, &e.lh)
		recs = append(recs, e)
		p += c.size()
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
	npz := isNPZ(recs)
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
		if e.flags&(zipFlagEncrypted|zipFlagStrongEnc|zipFlagMasked) != 0 {
			e.encrypted = true
		} else if odd := e.flags &^ (zipFlagDataDesc | zipFlagUTF8 | zipFlagDeflate); odd != 0 {
			s.add(SeveritySuspicious, where, "unusual general-purpose flag bits 0x%04x", odd)
		}
		switch e.method {
		case zipStore:
		case zipDeflate:
			if !npz {
				s.add(SeveritySuspicious, where, "compressed (deflate): torch.save never compresses, and compression hides a pickle's bytes from simple scanners")
			}
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
		s.classifyZip(recs, root, npz)
	}
	for _, e := range recs {
		if e.dataOff < 0 {
			continue
		}
		loaded := primary && (e.name == root+"/data.pkl" || e.name == root+"/constants.pkl")
		s.scanEntry(r, e, prefix+e.name, loaded, depth, wh("entry %q", e.name))
		s.encryptedEntry(e, wh("entry %q", e.name))
	}
	s.zipGaps(r, size, recs, cdAt, cdEnd, eocd, primary || container != "", prefix, depth)
}

// isNPZ reports whether a zip is what numpy.savez writes: .npy entries only.
func isNPZ(recs []*zipRec) bool {
	for _, e := range recs {
		if !strings.HasSuffix(e.name, ".npy") {
			return false
		}
	}
	return len(recs) > 0
}

// encryptedEntry judges an entry flagged as encrypted once its bytes have
// been scanned as if they were stored. torch.load (miniz) and Python's
// zipfile both refuse to open such an entry without a password, so it
// cannot run code in them; but an entry whose bytes are not a plain pickle
// or zip could not be scanned, and one whose bytes are (a flag with
// plaintext behind it) is read by the readers that ignore the flag.
func (s *scanner) encryptedEntry(e *zipRec, where string) {
	if !e.encrypted {
		return
	}
	if e.scanned {
		s.add(SeveritySuspicious, where, "flagged as encrypted (flag bits 0x%04x) but stored in plain text: torch.load and Python's zipfile refuse it, readers that ignore the flag read it; scanned here as stored", e.flags)
		return
	}
	s.add(SeverityWarning, where, "encrypted (flag bits 0x%04x): its contents cannot be scanned, and torch.load and Python's zipfile cannot open it without the password either, so it cannot run code there", e.flags)
}

// classifyZip sets the format of the file's own zip.
func (s *scanner) classifyZip(recs []*zipRec, root string, npz bool) {
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
	case npz:
		s.rep.Format = format.NPZ
	default:
		s.rep.Format = format.Zip
		s.add(SeverityInfo, "zip", "no %s/data.pkl: torch.load cannot read this zip", root)
	}
}

// localHeader reads and cross-checks the entry's local header.
func (s *scanner) localHeader(r io.ReaderAt, size int64, e *zipRec, where string) {
	if e.at < 0 || e.at > size-zipLocalLen {
		s.add(SeveritySuspicious, where, "local header offset %d is outside the file", e.at)
		s.setFatal(format.Errorf(s.file, format.ErrCorrupt, where, "local header offset %d is outside the file", e.at))
		return
	}
	// one read for the header, its name, a typical extra field and the
	// first data bytes (the browser reads a Blob range per ReadAt)
	buf := make([]byte, min(int64(zipLocalLen+len(e.name)+160), size-e.at))
	got, _ := r.ReadAt(buf, e.at)
	buf = buf[:got]
	var h zipLocal
	if got >= zipLocalLen {
		h = readZipLocal(buf)
	}
	if h.sig != zipLocalSig {
		s.add(SeveritySuspicious, where, "no local header at offset %d", e.at)
		s.setFatal(format.Errorf(s.file, format.ErrCorrupt, where, "no local header at offset %d", e.at))
		return
	}
	flags, method, nl, xl := h.flags, h.method, h.nameLen, h.extraLen
	if e.at+zipLocalLen+nl+xl > size {
		s.setFatal(format.Errorf(s.file, format.ErrTruncated, where, "local header runs past the end of the file"))
		return
	}
	if int64(len(buf)) >= zipLocalLen+nl {
		e.lname = string(buf[zipLocalLen : zipLocalLen+nl])
	} else {
		nb := make([]byte, nl)
		r.ReadAt(nb, e.at+zipLocalLen)
		e.lname = string(nb)
	}
	if p := zipLocalLen + nl + xl; int64(len(buf)) >= p+4 {
		e.peek = append([]byte(nil), buf[p:p+4]...)
	}
	if e.lname != e.name {
		s.add(SeverityDangerous, where, "the local header names it %q: readers that trust the local header (streaming unzip, some scanners) and those that trust the central directory (PyTorch, Python) see different files", e.lname)
	}
	if method != e.method {
		s.add(SeverityDangerous, where, "the local header says compression method %d, the central directory %d", method, e.method)
	}
	if (flags^e.flags)&(zipFlagEncrypted|zipFlagDataDesc|zipFlagStrongEnc) != 0 {
		s.add(SeveritySuspicious, where, "local and central flag bits differ (0x%04x vs 0x%04x)", flags, e.flags)
	}
	if flags&zipFlagDataDesc == 0 && e.flags&zipFlagDataDesc == 0 {
		lc, lu := h.csize, h.usize
		if (lc != e.csize && lc != zipMax32) || (lu != e.usize && lu != zipMax32) || h.crc != e.crc {
			s.add(SeveritySuspicious, where, "local header sizes or CRC (%d/%d) differ from the central directory's (%d/%d)", lc, lu, e.csize, e.usize)
		}
	}
	data := e.at + zipLocalLen + nl + xl
	if e.csize < 0 || e.csize > size-data {
		s.add(SeveritySuspicious, where, "claims %d bytes at offset %d, past the end of the %d-byte file", e.csize, data, size)
		s.setFatal(format.Errorf(s.file, format.ErrTruncated, where, "claims %d bytes at offset %d, past the end of the %d-byte file", e.csize, data, size))
		return
	}
	if e.method == zipStore && e.csize != e.usize && e.flags&(zipFlagEncrypted|zipFlagStrongEnc) == 0 {
		s.add(SeveritySuspicious, where, "stored entry with compressed size %d but uncompressed size %d", e.csize, e.usize)
	}
	e.dataOff = data
	e.end = data + e.csize
	// a data descriptor (flag bit 3) of up to 24 bytes may follow: gaps
	// that small are not read (see zipGaps)
}

// entryBytes returns the entry's (inflated) bytes, at most limit.
// An entry flagged encrypted is read as if it were not: a reader that
// ignores the flag (or a crafted one) would, and a flag must not hide a pickle.
func (s *scanner) entryBytes(r io.ReaderAt, e *zipRec, limit int64) ([]byte, error) {
	sec := io.NewSectionReader(r, e.dataOff, e.csize)
	switch e.method {
	case zipStore:
		if e.csize > limit {
			return nil, fmt.Errorf("%d bytes exceed the limit of %d", e.csize, limit)
		}
		b := make([]byte, e.csize)
		if _, err := io.ReadFull(sec, b); err != nil {
			return nil, err
		}
		return b, nil
	case zipDeflate:
		fr := flate.NewReader(sec)
		defer fr.Close()
		b, err := io.ReadAll(io.LimitReader(fr, limit+1))
		if int64(len(b)) > limit {
			return b[:limit], errEntryLimit
		}
		return b, err
	}
	return nil, fmt.Errorf("compression method %d", e.method)
}

var errEntryLimit = errors.New("inflates past the limit")

// scanEntry scans a zip entry that is, or may be, a pickle, a .npy array
// or a zip.
func (s *scanner) scanEntry(r io.ReaderAt, e *zipRec, label string, loaded bool, depth int, where string) {
	switch {
	case strings.HasSuffix(e.name, ".pkl") || loaded:
		s.scanPickleEntry(r, e, label, loaded, where)
	case strings.HasSuffix(e.name, ".npy"):
		s.scanNPYEntry(r, e, label, where)
	default:
		s.scanOtherEntry(r, e, label, depth, where)
	}
}

// scanPickleEntry scans an entry named .pkl (or the one torch.load reads).
func (s *scanner) scanPickleEntry(r io.ReaderAt, e *zipRec, label string, loaded bool, where string) {
	b, err := s.entryBytes(r, e, MaxPickleInflate)
	if err != nil {
		if e.encrypted {
			return // ciphertext: see encryptedEntry
		}
		s.add(SeveritySuspicious, where, "pickle entry cannot be scanned: %v", err)
		if loaded {
			s.setFatal(format.Errorf(s.file, format.ErrCorrupt, where, "cannot read the pickle: %v", err))
		}
		return
	}
	if e.encrypted {
		// scan what a reader that ignores the flag would unpickle, but only
		// when it is a pickle: ciphertext is not malformed plaintext
		if _, err := newPickleScan(b, s.file, label, &PickleReport{}).runProto(0); err != nil {
			return
		}
	}
	e.scanned = true
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

// scanNPYEntry scans a .npy entry (numpy.savez): numpy.load unpickles an
// object array's data. Deflated entries (savez_compressed) are normal here.
func (s *scanner) scanNPYEntry(r io.ReaderAt, e *zipRec, label, where string) {
	var ra io.ReaderAt
	var size int64
	if e.method == zipStore {
		ra, size = io.NewSectionReader(r, e.dataOff, e.csize), e.csize
	} else {
		// inflate the header first; the whole entry only when it is an
		// object array (a pickle), never a large numeric array
		b, err := s.entryBytes(r, e, 64<<10)
		if err != nil && err != errEntryLimit {
			if !e.encrypted {
				s.add(SeveritySuspicious, where, "a .npy entry that cannot be inflated: %v", err)
			}
			return
		}
		if h, herr := readNPYHeader(bytes.NewReader(b), int64(len(b))); herr == nil && !h.object {
			e.scanned = true
			return
		}
		if err == errEntryLimit {
			if b, err = s.entryBytes(r, e, MaxPickleInflate); err != nil {
				s.add(SeveritySuspicious, where, "a .npy entry that cannot be inflated: %v", err)
				return
			}
		}
		ra, size = bytes.NewReader(b), int64(len(b))
	}
	var magic [6]byte
	if n, _ := ra.ReadAt(magic[:], 0); n < 6 || string(magic[:]) != format.NPYMagic {
		if !e.encrypted {
			// not an array: scan it as any other entry would be
			s.scanOtherEntry(r, e, label, 0, where)
		}
		return
	}
	e.scanned = true
	s.scanNPY(ra, size, label, false)
}

// scanOtherEntry peeks at an entry that is neither .pkl nor .npy: it is
// scanned when it starts like a protocol-2+ pickle or a zip (wrong-extension
// tricks).
func (s *scanner) scanOtherEntry(r io.ReaderAt, e *zipRec, label string, depth int, where string) {
	var h [4]byte
	if e.method != zipStore || e.csize < 4 {
		if e.method == zipStore {
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
	isZip := string(h[:]) == format.ZipLocalMagic
	if !(h[0] == 0x80 && h[1] >= 2 && h[1] <= 5) && !isZip {
		return
	}
	if !isZip && e.method == zipStore && e.csize > 64<<10 {
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
			e.scanned = true
			s.add(SeveritySuspicious, where, "a zip inside the zip (%d globals in it)", n)
		}
		return
	}
	tmp := &PickleReport{}
	ps := newPickleScan(b, s.file, label, tmp)
	if _, err := ps.runProto(0); err != nil {
		return // storage bytes that happen to start with 0x80
	}
	e.scanned = true
	s.add(SeverityWarning, where, "holds a pickle although its name does not end in .pkl")
	s.scanBytes(b, label, 0, false, true)
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
		if b-a <= zipDescMaxLen {
			return // a data descriptor, or too small for a local header
		}
		n := min(b-a, zipGapPeek)
		buf := make([]byte, n)
		got, _ := r.ReadAt(buf, a)
		buf = buf[:got]
		if i := bytes.Index(buf, []byte(format.ZipLocalMagic)); i >= 0 {
			hid := &zipRec{at: a + int64(i), dataOff: -1}
			var hb [zipLocalLen]byte
			r.ReadAt(hb[:], hid.at)
			h := readZipLocal(hb[:])
			hid.flags, hid.method, hid.csize, hid.usize = h.flags, h.method, h.csize, h.usize
			nl, xl := h.nameLen, h.extraLen
			nb := make([]byte, min(nl, 4096))
			r.ReadAt(nb, hid.at+zipLocalLen)
			hid.name = string(nb)
			s.add(SeverityDangerous, prefix+fmt.Sprintf("offset %d", hid.at), "a local zip entry %q that the central directory does not list: streaming readers and some scanners see it, PyTorch does not", hid.name)
			hid.dataOff = hid.at + zipLocalLen + nl + xl
			if hid.dataOff+hid.csize <= size && hid.flags&zipFlagDataDesc == 0 {
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
