package scan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ditkit/ditkit/loader/format"
)

// maxStackedPickle bounds how many consecutive pickles a stream may hold.
const maxStackedPickle = 1000

// Report is what a static safety scan of a file found: every global any
// pickle in it names, zip- and pickle-level findings, and the pickles read.
type Report struct {
	File     string          `json:"file"`
	Size     int64           `json:"size"`
	Format   string          `json:"format"`
	Verdict  string          `json:"verdict"`
	Summary  string          `json:"summary"`
	Globals  []Global        `json:"globals"`
	Findings []Finding       `json:"findings"`
	Pickles  []ScannedPickle `json:"pickles"`
}

// ScannedPickle is one pickle the scan walked.
type ScannedPickle struct {
	Name     string `json:"name"`             // zip entry, legacy part, "pickle 1", "<parent> > bytes@123"
	Offset   int64  `json:"offset"`           // in the file, or in its container entry / parent value
	Size     int64  `json:"size"`             // bytes through STOP
	Protocol int    `json:"protocol"`         // highest PROTO seen
	Globals  int    `json:"globals"`          // globals it names
	Loaded   bool   `json:"loaded"`           // torch.load unpickles it
	Error    string `json:"error,omitempty"`  // why the walk stopped early
	Nested   bool   `json:"nested,omitempty"` // found inside a bytes/str value or an inner archive
}

// PickleReport returns the scan as the pickle report inspect shows.
func (r *Report) PickleReport() *PickleReport {
	pr := &PickleReport{Globals: r.Globals}
	for _, f := range r.Findings {
		pr.AddFinding(f)
	}
	for _, p := range r.Pickles {
		pr.Protocol = max(pr.Protocol, p.Protocol)
	}
	return pr
}

// Summary says in words what a verdict means for a user of a file of the
// given format. `ditkit scan`, inspect and the page all use these words.
func Summary(form, v string) string {
	switch v {
	case VerdictSafe:
		switch form {
		case format.Safetensors:
			return "safetensors holds no code"
		case format.GGUF:
			return "GGUF holds no code"
		case format.NPY, format.NPZ:
			return "NumPy arrays with no pickled objects, or only objects on the allow-list; nothing runs code"
		}
		return "every global is on PyTorch's weights_only allow-list and nothing in the file's structure is suspicious"
	case VerdictBenign:
		return "plain data classes or opcodes that torch.load(weights_only=True) refuses, but nothing that runs code"
	case VerdictDangerous:
		return "torch.load(weights_only=False) on this file can run code or exhaust the machine; ditkit never executes it — convert to safetensors to use the weights safely"
	}
	return "names or structures outside every allow-list: treat as suspicious, do not torch.load it"
}

type scanner struct {
	file  string
	rep   *Report
	acc   PickleReport // globals and findings of every part
	fatal error        // the first reason the file itself is unreadable
}

func (s *scanner) add(sev, where, msg string, args ...any) {
	s.acc.AddFinding(Finding{Severity: sev, Where: where, Message: fmt.Sprintf(msg, args...)})
}

func (s *scanner) setFatal(err error) {
	if s.fatal == nil {
		s.fatal = err
	}
}

// Scan walks every pickle of a checkpoint (or of any pickle, zip, tar or
// NumPy file) statically — no object is built and nothing is executed — and
// judges the globals they name and the container's structure. It returns an
// error only when the file is unreadable (or a format ditkit does not
// scan) and nothing in what could be read is already suspicious.
func Scan(r io.ReaderAt, size int64, name string) (rep *Report, err error) {
	s := &scanner{file: name, rep: &Report{File: name, Size: size}}
	defer func() {
		if p := recover(); p != nil {
			rep, err = nil, format.Errorf(name, format.ErrCorrupt, "", "scanner failed on malformed input: %v", p)
		}
	}()
	if size <= 0 {
		return nil, format.Errorf(name, format.ErrFormat, "", "empty file")
	}
	kind, h := format.Sniff(r, size)
	switch {
	case kind == nil:
		if !s.scanEmbeddedZip(r, size) {
			return nil, format.Errorf(name, format.ErrFormat, "offset 0", "not a PyTorch zip, PyTorch legacy pickle, pickle, NumPy or safetensors file (starts with %q)", head16(h.B))
		}
		s.rep.Format = format.Zip
	case kind.Refuse != "":
		return nil, kind.Refusal(name)
	case kind.Name == format.Zip:
		s.rep.Format = format.Zip
		s.scanZip(r, size, "", true, 0)
	case kind.Name == format.SevenZip:
		s.rep.Format = format.SevenZip
		s.add(SeveritySuspicious, "offset 0", "a 7-Zip archive: its contents cannot be scanned, and 7z archives are a known way to smuggle pickles past scanners")
	case kind.Name == format.TorchTar:
		s.rep.Format = format.TorchTar
		s.scanTar(r, size)
	case kind.Name == format.Safetensors:
		s.rep.Format = format.Safetensors
		s.scanSafetensors(r, size)
	case kind.Name == format.GGUF:
		s.rep.Format = format.GGUF
		s.scanGGUF(r, size)
	case kind.Name == format.NPY:
		s.rep.Format = format.NPY
		s.scanNPY(r, size, "", true)
	case kind.Name == format.Pickle:
		s.rep.Format = format.Pickle
		s.scanStream(r, size)
	default:
		return nil, format.Errorf(name, format.ErrUnsupported, "", "%s: not a format ditkit scans", kind.What)
	}
	if f := s.rep.Format; f == format.Pickle || f == format.TorchLegacy || f == format.TorchTar || f == format.SevenZip || f == format.NPY {
		// A zip appended to a pickle or tar: torch.load reads the file one
		// way, zip-aware tools and scanners the other.
		s.scanEmbeddedZip(r, size)
	}
	s.rep.Globals = s.acc.Globals
	if s.rep.Globals == nil {
		s.rep.Globals = []Global{}
	}
	s.rep.Findings = s.acc.Issues
	if s.rep.Findings == nil {
		s.rep.Findings = []Finding{}
	}
	if s.rep.Pickles == nil {
		s.rep.Pickles = []ScannedPickle{}
	}
	s.rep.Verdict = s.acc.Verdict()
	if s.fatal != nil {
		if v := s.rep.Verdict; v != VerdictDangerous && v != VerdictUnknown {
			return nil, s.fatal
		}
		s.add(SeveritySuspicious, "", "the file is also malformed: %v", s.fatal)
		s.rep.Findings = s.acc.Issues
	}
	s.rep.Summary = Summary(s.rep.Format, s.rep.Verdict)
	return s.rep, nil
}

// head16 is at most the first 16 bytes, for "starts with" messages.
func head16(b []byte) []byte { return b[:min(len(b), 16)] }

// scanEmbeddedZip looks for a zip end-of-central-directory record in the tail
// of a file that does not start with a zip, and scans that zip as well.
func (s *scanner) scanEmbeddedZip(r io.ReaderAt, size int64) bool {
	if _, _, ok := findEOCD(r, size); !ok {
		return false
	}
	sub := &scanner{file: s.file, rep: &Report{}}
	sub.scanZip(r, size, "", false, 0)
	if sub.fatal != nil && len(sub.acc.Globals) == 0 {
		return false
	}
	s.add(SeveritySuspicious, "", "a polyglot: the file holds a zip archive as well as its %s content; torch.load reads one, zip tools and scanners may read the other", s.rep.Format)
	s.acc.Globals = append(s.acc.Globals, sub.acc.Globals...)
	for _, f := range sub.acc.Issues {
		s.acc.AddFinding(f)
	}
	s.rep.Pickles = append(s.rep.Pickles, sub.rep.Pickles...)
	return true
}

// legacyMagicLE is the little-endian payload of the pickled legacy magic number.
var legacyMagicLE = []byte{0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

var legacyParts = []string{"magic number", "protocol version", "sys_info", "object", "storage keys"}

// scanStream walks consecutive pickles from offset 0: a legacy torch.save
// stream (five pickles, then raw storages) or bare stacked pickles.
func (s *scanner) scanStream(r io.ReaderAt, size int64) {
	pos := int64(0)
	legacy := false
	for i := 0; pos < size; i++ {
		label := fmt.Sprintf("pickle %d", i)
		if legacy {
			label = legacyParts[i]
		}
		if i >= maxStackedPickle {
			s.add(SeveritySuspicious, fmt.Sprintf("offset %d", pos), "more than %d stacked pickles; the rest is not scanned", maxStackedPickle)
			return
		}
		loaded := i == 0 || legacy
		limit := MaxPickleBytes
		if !loaded {
			limit = 16 << 20
		}
		data, err := s.scanAt(r, size, pos, label, loaded, limit)
		if err != nil {
			if loaded {
				s.setFatal(err)
			} else {
				s.add(SeverityInfo, fmt.Sprintf("offset %d", pos), "%d bytes after the last pickle are not a pickle (never unpickled)", size-pos)
			}
			return
		}
		if i == 0 && bytes.Contains(data, legacyMagicLE) && len(data) < 32 {
			legacy = true
			s.rep.Format = format.TorchLegacy
			s.rep.Pickles[len(s.rep.Pickles)-1].Name = legacyParts[0]
			relabel(&s.acc, label, legacyParts[0])
		}
		pos += int64(len(data))
		if legacy && i == len(legacyParts)-1 {
			return // raw storage bytes follow
		}
		if !legacy && i == 0 && pos < size {
			s.add(SeverityInfo, fmt.Sprintf("offset %d", pos), "%d bytes follow the first pickle; torch.load reads only the first (and fails after running it: no torch.save magic number)", size-pos)
		}
	}
}

func relabel(p *PickleReport, from, to string) {
	for i := range p.Globals {
		if p.Globals[i].Pickle == from {
			p.Globals[i].Pickle = to
		}
	}
	for i := range p.Issues {
		p.Issues[i].Where = strings.Replace(p.Issues[i].Where, "pickle "+from+" ", "pickle "+to+" ", 1)
		p.Findings[i] = p.Issues[i].String()
	}
}

// scanAt reads and walks the pickle starting at pos, growing its window
// until the pickle's STOP is inside it. It returns the pickle's bytes.
func (s *scanner) scanAt(r io.ReaderAt, size, pos int64, label string, loaded bool, limit int64) ([]byte, error) {
	win := min(int64(4<<10), size-pos)
	for {
		buf := make([]byte, win)
		if n, err := r.ReadAt(buf, pos); int64(n) < win {
			return nil, format.Errorf(s.file, format.ErrTruncated, fmt.Sprintf("offset %d", pos), "read %s: %v", label, err)
		}
		tmp := &PickleReport{}
		ps := walk(buf, s.file, label, tmp)
		n, err := ps.runProto(pos)
		if err != nil && format.IsTruncation(err) && pos+win < size && win < limit {
			win = min(win*4, size-pos, limit)
			continue
		}
		if err != nil {
			if loaded {
				// what ran before the error still ran: keep it
				s.merge(tmp, ps, label, pos, 0, loaded, err, false)
			}
			return nil, err
		}
		s.merge(tmp, ps, label, pos, n, loaded, nil, false)
		return buf[:n], nil
	}
}

// merge adds one walked pickle to the scan and scans the values in it that
// are themselves pickles or zips.
func (s *scanner) merge(tmp *PickleReport, ps *pickleScan, label string, off int64, n int, loaded bool, err error, nested bool) {
	sp := ScannedPickle{Name: label, Offset: off, Size: int64(n), Protocol: tmp.Protocol, Globals: len(tmp.Globals), Loaded: loaded, Nested: nested}
	if err != nil {
		sp.Error = err.Error()
	}
	s.rep.Pickles = append(s.rep.Pickles, sp)
	s.acc.Globals = append(s.acc.Globals, tmp.Globals...)
	for _, f := range tmp.Issues {
		s.acc.AddFinding(f)
	}
	for _, b := range ps.nested {
		s.scanNested(b, label, 1)
	}
}

// scanNested scans a bytes/str value that looks like a pickle or a zip, as a
// loader would see it if it unpickled the value (pickle.loads,
// torch.storage._load_from_bytes, torch.load of a BytesIO).
func (s *scanner) scanNested(b nestedBlob, parent string, depth int) {
	where := fmt.Sprintf("pickle %s offset %d", parent, b.off)
	label := fmt.Sprintf("%s > bytes@%d", parent, b.off)
	if depth > MaxNestedDepth {
		s.add(SeveritySuspicious, where, "values nested more than %d levels deep are not scanned", MaxNestedDepth)
		return
	}
	if bytes.HasPrefix(b.data, []byte("PK\x03\x04")) {
		if n, ok := s.mergeNestedZip(b.data, label, depth); ok {
			s.add(SeverityInfo, where, "a bytes value holds a zip archive (%d bytes) that torch.load would read; scanned: %d globals", len(b.data), n)
		}
		return
	}
	pos := 0
	for k := 0; pos < len(b.data) && k < maxStackedPickle; k++ {
		lab := label
		if k > 0 {
			lab = fmt.Sprintf("%s#%d", label, k)
		}
		tmp := &PickleReport{}
		ps := walk(b.data[pos:], s.file, lab, tmp)
		n, err := ps.runProto(int64(pos))
		if err != nil || (b.data[pos] != 0x80 && len(tmp.Globals) == 0) {
			return // not (or no longer) a pickle: plain data
		}
		if k == 0 {
			s.add(SeverityInfo, where, "a bytes value of %d bytes is itself a pickle; a loader that unpickles it (pickle.loads, torch.storage._load_from_bytes) would run it: scanned as %q", len(b.data), lab)
		}
		sp := ScannedPickle{Name: lab, Offset: int64(pos), Size: int64(n), Protocol: tmp.Protocol, Globals: len(tmp.Globals), Nested: true}
		s.rep.Pickles = append(s.rep.Pickles, sp)
		s.acc.Globals = append(s.acc.Globals, tmp.Globals...)
		for _, f := range tmp.Issues {
			s.acc.AddFinding(f)
		}
		for _, nb := range ps.nested {
			s.scanNested(nb, lab, depth+1)
		}
		pos += n
	}
}

// scanBytes walks a pickle stream held in memory (a zip entry, a tar member).
// It returns how many bytes the pickles covered.
func (s *scanner) scanBytes(data []byte, label string, base int64, loaded bool, stacked bool) (int, error) {
	pos := 0
	for k := 0; pos < len(data); k++ {
		lab := label
		if k > 0 {
			lab = fmt.Sprintf("%s#%d", label, k)
		}
		tmp := &PickleReport{}
		ps := walk(data[pos:], s.file, lab, tmp)
		n, err := ps.runProto(base + int64(pos))
		if err != nil {
			if k == 0 {
				if loaded {
					s.merge(tmp, ps, lab, base, 0, loaded, err, false)
				}
				return 0, err
			}
			return pos, nil
		}
		s.merge(tmp, ps, lab, base+int64(pos), n, loaded && k == 0, nil, false)
		pos += n
		if !stacked || k >= maxStackedPickle {
			break
		}
	}
	return pos, nil
}

// maxSafetensorsHeader is the safetensors format's own limit on its header.
const maxSafetensorsHeader = 100_000_000

// scanSafetensors reads the header only as far as it needs to know where
// the data buffer ends (loader.Open checks every other rule of the format):
// safetensors holds no code, but a file can carry a pickle or zip after
// its data buffer.
func (s *scanner) scanSafetensors(r io.ReaderAt, size int64) {
	var hb [8]byte
	if n, _ := r.ReadAt(hb[:], 0); n < 8 {
		s.setFatal(format.Errorf(s.file, format.ErrTruncated, "offset 0", "cannot read the 8-byte header length"))
		return
	}
	n := binary.LittleEndian.Uint64(hb[:])
	switch {
	case n > maxSafetensorsHeader && n < uint64(size):
		s.setFatal(format.Errorf(s.file, format.ErrLimit, "offset 0", "safetensors header length %d exceeds the format's limit of %d", n, maxSafetensorsHeader))
		return
	case n >= uint64(size) || n > uint64(size)-8:
		s.setFatal(format.Errorf(s.file, format.ErrTruncated, "offset 0", "safetensors header length %d exceeds the file size %d", n, size))
		return
	}
	hdr := make([]byte, n)
	if got, _ := r.ReadAt(hdr, 8); uint64(got) < n {
		s.setFatal(format.Errorf(s.file, format.ErrTruncated, "offset 8", "cannot read the %d-byte header", n))
		return
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &entries); err != nil {
		s.setFatal(format.Errorf(s.file, format.ErrCorrupt, "header", "safetensors header is not a JSON object: %v", err))
		return
	}
	base := 8 + int64(n)
	end := base
	for k, v := range entries {
		var t struct {
			Offsets []int64 `json:"data_offsets"`
		}
		if k == "__metadata__" || json.Unmarshal(v, &t) != nil || len(t.Offsets) != 2 {
			continue
		}
		if t.Offsets[1] < 0 || t.Offsets[1] > size-base {
			s.setFatal(format.Errorf(s.file, format.ErrTruncated, fmt.Sprintf("tensor %q", k), "data ends at offset %d, past the end of the %d-byte file", base+t.Offsets[1], size))
			return
		}
		end = max(end, base+t.Offsets[1])
	}
	if end < size {
		s.trailer(r, end, size, fmt.Sprintf("offset %d", end), "the data buffer", "a strict reader refuses this file")
	}
}

// trailer reports the bytes from at to size that the format's readers do
// not use: suspicious when they start like a pickle or a zip (a payload
// some other reader may find), otherwise an info line saying what readers
// do with them.
func (s *scanner) trailer(r io.ReaderAt, at, size int64, where, after, fate string) {
	var b [4]byte
	n, _ := r.ReadAt(b[:], at)
	if n >= 2 && (format.PickleStart(b[:n]) || bytes.HasPrefix(b[:n], []byte("PK"))) {
		s.add(SeveritySuspicious, where, "%d bytes after %s start like a pickle or zip", size-at, after)
	} else {
		s.add(SeverityInfo, where, "%d bytes after %s: %s", size-at, after, fate)
	}
}
