package scan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ditkit/ditkit/loader/format"
)

// Limits on what one pickle may declare. They bound the memory and time a
// hostile pickle can cost before anything is unpickled.
var (
	MaxPickleBytes    int64 = 256 << 20 // one pickle stream
	MaxPickleStack          = 1 << 20   // stack items
	MaxPickleDepth          = 10000     // nested MARKs
	MaxPickleMemo           = 1 << 22   // memo entries
	MaxPickleOps            = 1 << 26   // opcodes
	MaxPickleObjects        = 1 << 23   // values pushed (each one an object the unpickler would build)
	MaxPickleString   int64 = 1 << 28   // one string/bytes argument
	MaxPickleLongSize       = 1 << 12   // LONG1/LONG4 bytes (PyTorch never needs more than 8)
	MaxNestedDepth          = 4         // pickles inside bytes inside pickles (or zips)
	MaxZipEntries           = 1 << 20   // entries of one zip (members of one tar)
	MaxPickleInflate  int64 = 256 << 20 // cap for a (suspicious) deflated pickle entry
)

// Global is one callable or class a pickle names.
type Global struct {
	Module  string `json:"module"`
	Name    string `json:"name"`
	Opcode  string `json:"opcode"`  // GLOBAL, STACK_GLOBAL, INST
	Offset  int64  `json:"offset"`  // byte offset of the opcode within its pickle
	Pickle  string `json:"pickle"`  // which pickle (zip entry or legacy stream index)
	Verdict string `json:"verdict"` // safe, benign, dangerous, unknown
	Called  bool   `json:"called"`  // used by REDUCE/NEWOBJ/OBJ/INST/BUILD
}

// FullName is "module.name".
func (g Global) FullName() string { return g.Module + "." + g.Name }

// PickleReport is what a static pass over a checkpoint's pickles found.
type PickleReport struct {
	Globals  []Global  `json:"globals"`
	Findings []string  `json:"findings,omitempty"` // Issues as one-line strings
	Issues   []Finding `json:"issues,omitempty"`   // unresolved names, odd opcodes, zip tricks
	Protocol int       `json:"protocol"`
}

// Finding severities, from least to most serious.
const (
	SeverityInfo       = "info"       // no effect on the verdict
	SeverityWarning    = "warning"    // harmless, but torch.load(weights_only=True) refuses it: verdict at least benign
	SeveritySuspicious = "suspicious" // nothing PyTorch writes; cannot be vouched for: verdict at least unknown
	SeverityDangerous  = "dangerous"  // a known way to run code or to hide code from scanners
)

// Finding is one observation of a scan, in plain words.
type Finding struct {
	Severity string `json:"severity"`
	Kind     string `json:"kind,omitempty"`  // KindDoS, KindFrame; empty for the rest
	Where    string `json:"where,omitempty"` // "entry a/data.pkl offset 12", "offset 4096", ...
	Message  string `json:"message"`
}

// Finding kinds that callers may want to tell apart.
const (
	KindDoS   = "dos"   // the load would exhaust time or memory (billion laughs)
	KindFrame = "frame" // CPython's readers disagree on a FRAME boundary
)

// Verdict is the file verdict a finding implies on its own.
func (f Finding) Verdict() string {
	switch f.Severity {
	case SeverityWarning:
		return VerdictBenign
	case SeveritySuspicious:
		return VerdictUnknown
	case SeverityDangerous:
		return VerdictDangerous
	}
	return VerdictSafe
}

func (f Finding) String() string {
	if f.Where == "" {
		return f.Severity + ": " + f.Message
	}
	return f.Severity + ": " + f.Where + ": " + f.Message
}

// AddFinding records a finding in both the structured and the string list.
func (r *PickleReport) AddFinding(f Finding) {
	r.Issues = append(r.Issues, f)
	r.Findings = append(r.Findings, f.String())
}

// symbolic stack values of the static scanner
type symKind uint8

const (
	symOther symKind = iota
	symStr
	symGlobal
)

type sym struct {
	kind symKind
	s    string // string value, or "module.name" for globals
	gi   int    // index into report.Globals for symGlobal
	node int32  // the container in the object graph (0: a scalar)
}

// nestedBlob is a bytes or str value that may itself be a pickle or a zip.
type nestedBlob struct {
	off  int64 // offset of the opcode that pushed it
	data []byte
}

type pickleScan struct {
	data    []byte
	pos     int // next byte the unpickler reads
	stack   []sym
	marks   []int
	memo    map[int64]sym
	report  *PickleReport
	label   string
	file    string
	ops     int
	objects int
	proto   int
	trace   uint64 // hash of the (offset, opcode) sequence, to compare readers
	// collect bytes/str values that could be nested pickles, and build the
	// object graph (Scan only)
	collect    bool
	nested     []nestedBlob
	nestedN    int64 // bytes held by nested
	refused    map[byte]bool
	graph      *graph
	unhashable bool // reported once
	// strict rejects valid but odd encodings the unpickler (gopickle) cannot
	// take; Scan stays lenient so that nothing Python accepts stops it early
	strict bool

	// frames (see pickleread.go)
	frameEnd    int  // end of the current FRAME in the bytes view
	straddle    int  // first read that crossed a frame's end, -1 when none
	nestedFrame int  // first FRAME opened inside another, -1 when none
	fileView    bool // read as the C unpickler reads a file
	bufEnd      int  // file view: end of the buffered frame
	filePos     int  // file view: the file position
}

// CheckPickle walks one pickle statically, without building any objects,
// from data[0] to its STOP opcode, as a reader does before it unpickles:
// strictly (valid encodings the unpickler cannot take are refused, and so
// is a stream CPython's readers would read differently). It returns the
// length of the pickle (through STOP), checking every length and limit on
// the way, and appends the globals it names to rep.
func CheckPickle(data []byte, file, label string, base int64, rep *PickleReport) (int, error) {
	s := newPickleScan(data, file, label, rep)
	s.strict = true
	return s.runProto(base)
}

func newPickleScan(data []byte, file, label string, rep *PickleReport) *pickleScan {
	return &pickleScan{data: data, memo: map[int64]sym{}, report: rep, label: label, file: file, straddle: -1, nestedFrame: -1}
}

// walk is newPickleScan for the scanner: nested values are collected and
// the object graph is built.
func walk(data []byte, file, label string, rep *PickleReport) *pickleScan {
	s := newPickleScan(data, file, label, rep)
	s.collect = true
	s.graph = newGraph()
	return s
}

func (s *pickleScan) runProto(base int64) (int, error) {
	n, err := s.run(base)
	if s.report.Protocol < s.proto {
		s.report.Protocol = s.proto
	}
	if !s.fileView && s.frameTrouble() && (err == nil || !format.IsTruncation(err)) {
		if s.strict {
			return 0, s.frameError(base)
		}
		s.compareFileView(base, err)
	}
	return n, err
}

// frameError is the strict reader's refusal of a stream CPython's readers
// read differently.
func (s *pickleScan) frameError(base int64) error {
	switch {
	case s.straddle >= 0:
		return format.Errorf(s.file, format.ErrCorrupt, s.where(base+int64(s.straddle)), "an opcode's argument crosses the end of its FRAME: CPython's readers disagree on what follows (see ditkit scan)")
	case s.nestedFrame >= 0:
		return format.Errorf(s.file, format.ErrCorrupt, s.where(base+int64(s.nestedFrame)), "a FRAME begins inside another FRAME: CPython's readers disagree on what follows (see ditkit scan)")
	}
	return format.Errorf(s.file, format.ErrCorrupt, s.where(base+int64(s.pos)), "a FRAME runs %d bytes past the pickle's STOP", s.frameEnd-s.pos)
}

// compareFileView walks the pickle again as torch.load's file reader does
// and reports where the two readers part, with what only the file reader
// runs. bytesErr is how the bytes view ended.
func (s *pickleScan) compareFileView(base int64, bytesErr error) {
	if bytesErr == nil && s.frameEnd > s.pos {
		s.frameFinding(SeverityDangerous, base+int64(s.pos), "a FRAME runs %d bytes past the pickle's STOP: a reader that buffers the frame resumes after it, one that does not resumes right after STOP, so the next pickle of the stream differs", s.frameEnd-s.pos)
	}
	tmp := &PickleReport{}
	fv := newPickleScan(s.data, s.file, s.label+" (as a file reader)", tmp)
	fv.collect, fv.fileView = s.collect, true
	if s.graph != nil {
		fv.graph = newGraph()
	}
	_, err := fv.run(base)
	agree := fv.trace == s.trace && (err == nil) == (bytesErr == nil)
	switch {
	case s.straddle >= 0 && agree:
		s.frameFinding(SeveritySuspicious, base+int64(s.straddle), "an opcode starts inside a FRAME and ends after it: no pickler writes this, and CPython's readers differ on such streams (here they happen to agree)")
	case s.straddle >= 0:
		s.frameFinding(SeverityDangerous, base+int64(s.straddle), "an opcode's argument crosses the end of its FRAME: CPython's unpickler reading a file (pickle.load, torch.load) drops the rest of the frame and reads on after it, while pickle.loads, PyTorch's weights_only reader and scanners read straight through; CPython ≥ 3.13 refuses the stream")
	case s.nestedFrame >= 0:
		sev := SeverityDangerous
		if agree {
			sev = SeveritySuspicious
		}
		s.frameFinding(sev, base+int64(s.nestedFrame), "a FRAME begins before the previous one ends: CPython's unpickler reading a file may drop the rest of the first frame, other readers do not")
	}
	if agree {
		return
	}
	seen := map[string]bool{}
	for _, g := range s.report.Globals {
		seen[fmt.Sprint(g.Offset, g.FullName())] = true
	}
	var only []string
	for _, g := range tmp.Globals {
		if !seen[fmt.Sprint(g.Offset, g.FullName())] {
			s.report.Globals = append(s.report.Globals, g)
			only = append(only, fmt.Sprintf("%s at offset %d", g.FullName(), g.Offset))
		}
	}
	for _, f := range tmp.Issues {
		if f.Verdict() == VerdictDangerous || f.Verdict() == VerdictUnknown {
			s.report.AddFinding(f)
		}
	}
	have := map[int64]bool{}
	for _, b := range s.nested {
		have[b.off] = true
	}
	for _, b := range fv.nested {
		if !have[b.off] {
			s.nested = append(s.nested, b)
		}
	}
	msg := "the file reader (torch.load) runs other opcodes than the bytes reader from here on"
	if len(only) > 0 {
		msg += "; only it imports " + strings.Join(only, ", ")
	}
	if err != nil {
		msg += fmt.Sprintf("; it then fails (%v), after running what came before", err)
	}
	s.frameFinding(SeverityDangerous, base+int64(max(s.straddle, s.nestedFrame, 0)), "%s", msg)
}

func (s *pickleScan) frameFinding(sev string, at int64, msg string, args ...any) {
	s.report.AddFinding(Finding{Severity: sev, Kind: KindFrame, Where: s.where(at), Message: fmt.Sprintf(msg, args...)})
}

func (s *pickleScan) where(at int64) string {
	return fmt.Sprintf("pickle %s offset %d", s.label, at)
}

func (s *pickleScan) errf(base int64, sentinel error, msg string, args ...any) error {
	return format.Errorf(s.file, sentinel, s.where(base+int64(s.pos)), msg, args...)
}

func (s *pickleScan) finding(sev string, at int64, msg string, args ...any) {
	s.report.AddFinding(Finding{Severity: sev, Where: s.where(at), Message: fmt.Sprintf(msg, args...)})
}

func (s *pickleScan) push(v sym, base int64) error {
	if len(s.stack) >= MaxPickleStack {
		return s.errf(base, format.ErrLimit, "stack exceeds %d items", MaxPickleStack)
	}
	s.objects++
	if s.objects > MaxPickleObjects {
		return s.errf(base, format.ErrLimit, "more than %d objects", MaxPickleObjects)
	}
	s.stack = append(s.stack, v)
	return nil
}

func (s *pickleScan) pop(base int64, n int) ([]sym, error) {
	lo := 0
	if len(s.marks) > 0 {
		lo = s.marks[len(s.marks)-1]
	}
	if len(s.stack)-lo < n {
		return nil, s.errf(base, format.ErrCorrupt, "stack underflow")
	}
	v := s.stack[len(s.stack)-n:]
	s.stack = s.stack[:len(s.stack)-n]
	return v, nil // valid until the next push
}

func (s *pickleScan) popMark(base int64) ([]sym, error) {
	if len(s.marks) == 0 {
		return nil, s.errf(base, format.ErrCorrupt, "no MARK on the stack")
	}
	m := s.marks[len(s.marks)-1]
	s.marks = s.marks[:len(s.marks)-1]
	out := s.stack[m:]
	s.stack = s.stack[:m]
	return out, nil // valid until the next push
}

// top is the value APPEND, SETITEM, BUILD ... change (the stack's last).
func (s *pickleScan) top() sym {
	if len(s.stack) == 0 {
		return sym{}
	}
	return s.stack[len(s.stack)-1]
}

func (s *pickleScan) global(mod, name, op string, at int64) sym {
	s.report.Globals = append(s.report.Globals, Global{Module: mod, Name: name, Opcode: op, Offset: at, Pickle: s.label, Verdict: GlobalVerdict(mod, name)})
	return sym{kind: symGlobal, s: mod + "." + name, gi: len(s.report.Globals) - 1}
}

// called marks the global a callable symbol refers to as called. A call of
// anything but a named global (the result of another call, a value fetched
// from a container) is how scanners are bypassed: the callable cannot be
// resolved statically, so it is dangerous.
func (s *pickleScan) called(v sym, op string, at int64) {
	if v.kind != symGlobal {
		s.finding(SeverityDangerous, at, "%s calls a value that is not a named global (built at load time, e.g. by getattr): the callable cannot be known without running the pickle", op)
		return
	}
	if v.gi >= 0 && v.gi < len(s.report.Globals) {
		s.report.Globals[v.gi].Called = true
	}
}

func (s *pickleScan) memoPut(idx int64, base int64) error {
	if len(s.stack) == 0 || (len(s.marks) > 0 && s.marks[len(s.marks)-1] == len(s.stack)) {
		return s.errf(base, format.ErrCorrupt, "memo put on an empty stack")
	}
	if idx < 0 {
		return s.errf(base, format.ErrCorrupt, "negative memo index %d", idx)
	}
	if _, ok := s.memo[idx]; !ok && len(s.memo) >= MaxPickleMemo {
		return s.errf(base, format.ErrLimit, "memo exceeds %d entries", MaxPickleMemo)
	}
	s.memo[idx] = s.stack[len(s.stack)-1]
	return nil
}

func (s *pickleScan) memoGet(idx int64, base int64) error {
	v, ok := s.memo[idx]
	if !ok {
		return s.errf(base, format.ErrCorrupt, "memo get of missing entry %d", idx)
	}
	return s.push(v, base)
}

// blob records a bytes/str value that may be a nested pickle or zip.
func (s *pickleScan) blob(at int64, b []byte, unicode bool) {
	if !s.collect || len(b) < 4 || s.nestedN+int64(len(b)) > MaxPickleBytes {
		return
	}
	if unicode && utf8.Valid(b) {
		// protocol 2 pickles bytes as _codecs.encode(str, 'latin1'):
		// undo that so "\u0080\u0002..." is seen as b"\x80\x02...".
		if l, ok := latin1(b); ok {
			b = l
		}
	}
	if !looksLikePickleOrZip(b) {
		return
	}
	s.nested = append(s.nested, nestedBlob{off: at, data: b})
	s.nestedN += int64(len(b))
}

func latin1(b []byte) ([]byte, bool) {
	wide := false
	for _, c := range b {
		if c >= 0x80 {
			wide = true
			break
		}
	}
	if !wide {
		return b, true
	}
	out := make([]byte, 0, len(b))
	for _, r := range string(b) {
		if r > 0xff {
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}

// looksLikePickleOrZip is a cheap filter before a full nested scan: a zip, a
// protocol 2+ pickle, or a protocol 0/1 pickle that names a global.
func looksLikePickleOrZip(b []byte) bool {
	if bytes.HasPrefix(b, []byte("PK\x03\x04")) || b[0] == 0x80 && b[1] <= 5 {
		return true
	}
	return bytes.IndexByte(b, '.') > 0 && (bytes.IndexByte(b, 'c') >= 0 || bytes.IndexByte(b, 'i') >= 0 || bytes.IndexByte(b, 0x93) >= 0)
}

// counted is the length prefix of a counted string or bytes opcode: 1, 4
// or 8 bytes, little-endian; signed for BINSTRING.
func (s *pickleScan) counted(op byte, base int64) (int64, error) {
	le := binary.LittleEndian
	switch op {
	case opShortBinString, opShortBinBytes, opShortBinUnicode:
		b, err := s.readN(1, base, "length")
		if err != nil {
			return 0, err
		}
		return int64(b[0]), nil
	case opBinString:
		b, err := s.readN(4, base, "length")
		if err != nil {
			return 0, err
		}
		return int64(int32(le.Uint32(b))), nil
	case opBinUnicode, opBinBytes:
		b, err := s.readN(4, base, "length")
		if err != nil {
			return 0, err
		}
		return int64(le.Uint32(b)), nil
	}
	b, err := s.readN(8, base, "length")
	if err != nil {
		return 0, err
	}
	return int64(min(le.Uint64(b), math.MaxInt64)), nil
}

func (s *pickleScan) run(base int64) (int, error) {
	le := binary.LittleEndian
	for {
		if s.pos >= len(s.data) && (!s.fileView || s.filePos >= len(s.data)) {
			return 0, s.errf(base, format.ErrTruncated, "pickle ends without STOP")
		}
		s.ops++
		if s.ops > MaxPickleOps {
			return 0, s.errf(base, format.ErrLimit, "more than %d opcodes", MaxPickleOps)
		}
		opb, err := s.readN(1, base, "opcode")
		if err != nil {
			return 0, err
		}
		op := opb[0]
		opStart, opFrameEnd := s.pos-1, s.frameEnd
		at := base + int64(opStart)
		if !weightsOnlyOps[op] && opNames[op] != "" {
			if s.refused == nil {
				s.refused = map[byte]bool{}
			}
			if !s.refused[op] {
				s.refused[op] = true
				if op == opNextBuffer || op == opReadOnlyBuffer {
					s.finding(SeveritySuspicious, at, "protocol-5 out-of-band buffer opcode %s: torch.save never writes it and torch.load cannot supply the buffer", opNames[op])
				} else {
					s.finding(SeverityWarning, at, "opcode %s: torch.save does not write it and PyTorch's weights_only unpickler refuses it", opNames[op])
				}
			}
		}
		switch op {
		case opStop:
			if s.frameEnd > s.pos && !s.fileView && s.strict {
				return 0, s.frameError(base)
			}
			if s.graph != nil {
				s.expansion(s.top(), at)
			}
			if s.fileView {
				return s.filePos, nil
			}
			return s.pos, nil
		case opProto:
			var b []byte
			if b, err = s.readN(1, base, "PROTO"); err == nil {
				s.proto = int(b[0])
				if s.proto > 5 {
					return 0, s.errf(base, format.ErrUnsupported, "pickle protocol %d", s.proto)
				}
			}
		case opFrame:
			var b []byte
			if b, err = s.readN(8, base, "FRAME"); err == nil {
				err = s.frame(le.Uint64(b), int(at-base), base)
			}
		case opMark:
			if len(s.marks) >= MaxPickleDepth {
				return 0, s.errf(base, format.ErrLimit, "more than %d nested MARKs", MaxPickleDepth)
			}
			s.marks = append(s.marks, len(s.stack))
		case opNone, opNewTrue, opNewFalse:
			err = s.push(sym{}, base)
		case opEmptyTuple:
			err = s.push(s.node(kindTuple, at), base)
		case opEmptyList:
			err = s.push(s.node(kindList, at), base)
		case opEmptyDict:
			err = s.push(s.node(kindDict, at), base)
		case opEmptySet:
			err = s.push(s.node(kindSet, at), base)
		case opInt, opLong, opFloat:
			if _, err = s.readLine(base, int64(MaxPickleLongSize)*3); err == nil {
				err = s.push(sym{}, base)
			}
		case opBinInt, opBinInt1, opBinInt2, opBinFloat:
			if _, err = s.readN(fixedArg[op], base, "argument"); err == nil {
				err = s.push(sym{}, base)
			}
		case opLong1, opLong4:
			var n int64
			var b []byte
			if op == opLong1 {
				if b, err = s.readN(1, base, "LONG1"); err == nil {
					n = int64(b[0])
				}
			} else if b, err = s.readN(4, base, "LONG4"); err == nil {
				n = int64(int32(le.Uint32(b)))
			}
			if err == nil {
				if n == 0 && s.strict {
					return 0, s.errf(base, format.ErrUnsupported, "zero-length LONG (torch.save never writes one)")
				}
				if n < 0 || n > int64(MaxPickleLongSize) {
					return 0, s.errf(base, format.ErrLimit, "LONG of %d bytes exceeds the limit of %d", n, MaxPickleLongSize)
				}
				if _, err = s.readN(n, base, "LONG"); err == nil {
					err = s.push(sym{}, base)
				}
			}
		case opString, opUnicode:
			var b []byte
			if b, err = s.readLine(base, MaxPickleString); err == nil {
				var v string
				if op == opString {
					v = pyEscapeDecode(b)
				} else {
					v = pyRawUnicodeEscape(b)
				}
				s.blob(at, []byte(v), op == opUnicode)
				err = s.push(sym{kind: symStr, s: v}, base)
			}
		case opBinString, opShortBinString, opBinUnicode, opShortBinUnicode, opBinUnicode8, opBinBytes, opShortBinBytes, opBinBytes8, opByteArray8:
			var n int64
			if n, err = s.counted(op, base); err == nil {
				var b []byte
				if op == opBinBytes || op == opShortBinBytes || op == opBinBytes8 || op == opByteArray8 {
					b, err = s.readInto(n, base, "bytes")
				} else {
					b, err = s.readN(n, base, "string")
				}
				if err == nil {
					v := sym{}
					unicode := op == opBinUnicode || op == opShortBinUnicode || op == opBinUnicode8
					if unicode || op == opBinString || op == opShortBinString {
						v = sym{kind: symStr, s: string(b)}
					}
					s.blob(at, b, unicode)
					err = s.push(v, base)
				}
			}
		case opNextBuffer:
			err = s.push(sym{}, base)
		case opReadOnlyBuffer:
			if len(s.stack) == 0 {
				return 0, s.errf(base, format.ErrCorrupt, "READONLY_BUFFER on an empty stack")
			}
		case opGlobal, opInst:
			var m, n []byte
			if m, err = s.readLine(base, 4096); err == nil {
				if n, err = s.readLine(base, 4096); err == nil {
					if op == opGlobal {
						err = s.push(s.global(string(m), string(n), "GLOBAL", at), base)
					} else {
						g := s.global(string(m), string(n), "INST", at)
						s.called(g, "INST", at)
						var args []sym
						if args, err = s.popMark(base); err == nil {
							err = s.push(s.node(kindObject, at, args...), base)
						}
					}
				}
			}
		case opStackGlobal:
			var v []sym
			if v, err = s.pop(base, 2); err == nil {
				if v[0].kind == symStr && v[1].kind == symStr {
					err = s.push(s.global(v[0].s, v[1].s, "STACK_GLOBAL", at), base)
				} else {
					s.report.Globals = append(s.report.Globals, Global{Module: "?", Name: "?", Opcode: "STACK_GLOBAL", Offset: at, Pickle: s.label, Verdict: VerdictDangerous})
					s.finding(SeverityDangerous, at, "STACK_GLOBAL with a module or name that is not a plain string (built at load time): a known way to hide a callable")
					err = s.push(sym{kind: symGlobal, s: "?.?", gi: len(s.report.Globals) - 1}, base)
				}
			}
		case opExt1, opExt2, opExt4:
			if _, err = s.readN(fixedArg[op], base, "EXT"); err == nil {
				s.report.Globals = append(s.report.Globals, Global{Module: "?", Name: "copyreg extension", Opcode: opNames[op], Offset: at, Pickle: s.label, Verdict: VerdictUnknown})
				err = s.push(sym{kind: symGlobal, s: "?.copyreg extension", gi: len(s.report.Globals) - 1}, base)
			}
		case opPersID:
			if _, err = s.readLine(base, MaxPickleString); err == nil {
				err = s.push(s.node(kindObject, at), base)
			}
		case opBinPersID:
			var v []sym
			if v, err = s.pop(base, 1); err == nil {
				err = s.push(s.node(kindObject, at, v...), base)
			}
		case opReduce, opNewObj:
			var v []sym
			if v, err = s.pop(base, 2); err == nil {
				s.called(v[0], opCallName(op), at)
				err = s.push(s.node(kindObject, at, v[1]), base)
			}
		case opNewObjEx:
			var v []sym
			if v, err = s.pop(base, 3); err == nil {
				s.called(v[0], "NEWOBJ_EX", at)
				err = s.push(s.node(kindObject, at, v[1], v[2]), base)
			}
		case opObj:
			var v []sym
			if v, err = s.popMark(base); err == nil {
				if len(v) == 0 {
					return 0, s.errf(base, format.ErrCorrupt, "OBJ without a class")
				}
				s.called(v[0], "OBJ", at)
				err = s.push(s.node(kindObject, at, v[1:]...), base)
			}
		case opBuild:
			var v []sym
			if v, err = s.pop(base, 1); err == nil {
				if len(s.stack) == 0 {
					return 0, s.errf(base, format.ErrCorrupt, "stack underflow")
				}
				if t := s.top(); t.kind == symGlobal {
					// BUILD on a class or function itself sets its attributes:
					// monkey-patching, never an instance's state.
					s.report.Globals[t.gi].Called = true
					s.finding(SeverityDangerous, at, "BUILD sets attributes on %s itself, not on an instance: it rewrites code other objects use", t.s)
				}
				s.hold(s.top(), v[0])
			}
		case opPop:
			if len(s.stack) > 0 && (len(s.marks) == 0 || s.marks[len(s.marks)-1] < len(s.stack)) {
				s.stack = s.stack[:len(s.stack)-1]
			} else if len(s.marks) > 0 {
				s.marks = s.marks[:len(s.marks)-1]
			} else {
				return 0, s.errf(base, format.ErrCorrupt, "POP on an empty stack")
			}
		case opPopMark:
			_, err = s.popMark(base)
		case opDup:
			if len(s.stack) == 0 {
				return 0, s.errf(base, format.ErrCorrupt, "DUP on an empty stack")
			}
			err = s.push(s.top(), base)
		case opAppend:
			var v []sym
			if v, err = s.pop(base, 1); err == nil {
				s.hold(s.top(), v[0])
			}
		case opAppends, opAddItems:
			if op == opAddItems && s.strict {
				// gopickle keeps sets in Go maps: an unhashable item ([]byte) panics
				return 0, s.errf(base, format.ErrUnsupported, "protocol-4 set opcodes (ADDITEMS) are not supported by the reader; torch.save never writes them")
			}
			var v []sym
			if v, err = s.popMark(base); err == nil {
				if op == opAddItems {
					s.hash(at, v...)
				}
				s.hold(s.top(), v...)
			}
		case opList, opTuple, opFrozenSet:
			if op == opFrozenSet && s.strict {
				return 0, s.errf(base, format.ErrUnsupported, "protocol-4 set opcodes (FROZENSET) are not supported by the reader; torch.save never writes them")
			}
			var v []sym
			if v, err = s.popMark(base); err == nil {
				kind := kindList
				switch op {
				case opTuple:
					kind = kindTuple
				case opFrozenSet:
					kind = kindFrozenSet
					s.hash(at, v...)
				}
				err = s.push(s.node(kind, at, v...), base)
			}
		case opDict:
			var v []sym
			if v, err = s.popMark(base); err == nil {
				if len(v)%2 != 0 {
					return 0, s.errf(base, format.ErrCorrupt, "DICT with an odd number of items")
				}
				s.hashKeys(at, v)
				err = s.push(s.node(kindDict, at, v...), base)
			}
		case opTuple1, opTuple2, opTuple3:
			var v []sym
			if v, err = s.pop(base, int(op-opTuple1)+1); err == nil {
				err = s.push(s.node(kindTuple, at, v...), base)
			}
		case opSetItem:
			var v []sym
			if v, err = s.pop(base, 2); err == nil {
				s.hashKeys(at, v)
				s.hold(s.top(), v...)
			}
		case opSetItems:
			var v []sym
			if v, err = s.popMark(base); err == nil {
				if len(v)%2 != 0 {
					return 0, s.errf(base, format.ErrCorrupt, "SETITEMS with an odd number of items")
				}
				s.hashKeys(at, v)
				s.hold(s.top(), v...)
			}
		case opGet, opPut:
			var b []byte
			if b, err = s.readLine(base, 64); err == nil {
				idx, ok := pyInt(b)
				if !ok {
					return 0, s.errf(base, format.ErrCorrupt, "bad memo index %q", b)
				}
				if op == opGet {
					err = s.memoGet(idx, base)
				} else {
					err = s.memoPut(idx, base)
				}
			}
		case opBinGet, opBinPut:
			var b []byte
			if b, err = s.readN(1, base, "memo index"); err == nil {
				if op == opBinGet {
					err = s.memoGet(int64(b[0]), base)
				} else {
					err = s.memoPut(int64(b[0]), base)
				}
			}
		case opLongBinGet, opLongBinPut:
			var b []byte
			if b, err = s.readN(4, base, "memo index"); err == nil {
				if op == opLongBinGet {
					err = s.memoGet(int64(le.Uint32(b)), base)
				} else {
					err = s.memoPut(int64(le.Uint32(b)), base)
				}
			}
		case opMemoize: // Python stores at len(memo), whatever PUTs came before
			err = s.memoPut(int64(len(s.memo)), base)
		default:
			return 0, s.errf(base, format.ErrCorrupt, "unknown opcode 0x%02x", op)
		}
		if err != nil {
			return 0, err
		}
		s.crossed(opStart, opFrameEnd)
	}
}

// hashKeys records the keys of key/value pairs as hashed.
func (s *pickleScan) hashKeys(at int64, kv []sym) {
	if s.graph == nil {
		return
	}
	for i := 0; i+1 < len(kv); i += 2 {
		s.hash(at, kv[i])
	}
}

func opCallName(op byte) string {
	if op == opReduce {
		return "REDUCE"
	}
	return "NEWOBJ"
}

// fixedArg is the argument size of opcodes with a fixed-size argument.
var fixedArg = [256]int64{opBinInt: 4, opBinInt1: 1, opBinInt2: 2, opBinFloat: 8, opExt1: 1, opExt2: 2, opExt4: 4}

// pyInt parses a memo index as Python's int() does: surrounding whitespace,
// a sign, and underscores between digits are allowed.
func pyInt(b []byte) (int64, bool) {
	t := strings.TrimSpace(string(b))
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if t == "" || t[0] == '_' || t[len(t)-1] == '_' || strings.Contains(t, "__") {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(t, "_", ""), 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// pyEscapeDecode undoes the quoting of a protocol-0 STRING argument as
// Python's unpickler does (codecs.escape_decode inside matching quotes).
func pyEscapeDecode(b []byte) string {
	if len(b) >= 2 && b[0] == b[len(b)-1] && (b[0] == '\'' || b[0] == '"') {
		b = b[1 : len(b)-1]
	}
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 >= len(b) {
			out = append(out, c)
			continue
		}
		i++
		switch e := b[i]; e {
		case '\\', '\'', '"':
			out = append(out, e)
		case 'a':
			out = append(out, 7)
		case 'b':
			out = append(out, 8)
		case 'f':
			out = append(out, 12)
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, 11)
		case '\n':
		case 'x':
			if i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
				v, _ := strconv.ParseUint(string(b[i+1:i+3]), 16, 8)
				out = append(out, byte(v))
				i += 2
			} else {
				out = append(out, '\\', 'x')
			}
		default:
			if e >= '0' && e <= '7' {
				v := int(e - '0')
				for k := 0; k < 2 && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '7'; k++ {
					i++
					v = v*8 + int(b[i]-'0')
				}
				out = append(out, byte(v))
			} else {
				out = append(out, '\\', e)
			}
		}
	}
	return string(out)
}

// pyRawUnicodeEscape decodes a protocol-0 UNICODE argument: bytes are
// latin-1 code points, \uXXXX and \UXXXXXXXX escapes after an odd number of
// backslashes are decoded.
func pyRawUnicodeEscape(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' {
			sb.WriteRune(rune(c))
			i++
			continue
		}
		j := i
		for j < len(b) && b[j] == '\\' {
			j++
		}
		n := j - i
		if n%2 == 0 || j >= len(b) || (b[j] != 'u' && b[j] != 'U') {
			sb.WriteString(strings.Repeat("\\", n))
			i = j
			continue
		}
		sb.WriteString(strings.Repeat("\\", n-1))
		w := 4
		if b[j] == 'U' {
			w = 8
		}
		if j+1+w > len(b) {
			sb.WriteString("\\")
			i = j
			continue
		}
		v, err := strconv.ParseUint(string(b[j+1:j+1+w]), 16, 32)
		if err != nil || v > unicode.MaxRune {
			sb.WriteString("\\")
			i = j
			continue
		}
		sb.WriteRune(rune(v))
		i = j + 1 + w
	}
	return sb.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
