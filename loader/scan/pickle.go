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
	Where    string `json:"where,omitempty"` // "entry a/data.pkl offset 12", "offset 4096", ...
	Message  string `json:"message"`
}

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
}

// nestedBlob is a bytes or str value that may itself be a pickle or a zip.
type nestedBlob struct {
	off  int64 // offset of the opcode that pushed it
	data []byte
}

type pickleScan struct {
	data    []byte
	pos     int
	stack   []sym
	marks   []int
	memo    map[int64]sym
	report  *PickleReport
	label   string
	file    string
	ops     int
	objects int
	proto   int
	// collect bytes/str values that could be nested pickles (Scan only)
	collect  bool
	nested   []nestedBlob
	nestedN  int64 // bytes held by nested
	refused  map[byte]bool
	frameEnd int // end of the furthest FRAME seen
	// strict rejects valid but odd encodings the unpickler (gopickle) cannot
	// take; Scan stays lenient so that nothing Python accepts stops it early
	strict bool
}

// CheckPickle walks one pickle statically, without building any objects,
// from data[0] to its STOP opcode, as a reader does before it unpickles:
// strictly (valid encodings the unpickler cannot take are refused). It
// returns the length of the pickle (through STOP), checking every length and
// limit on the way, and appends the globals it names to rep.
func CheckPickle(data []byte, file, label string, base int64, rep *PickleReport) (int, error) {
	s := newPickleScan(data, file, label, rep)
	s.strict = true
	return s.runProto(base)
}

func newPickleScan(data []byte, file, label string, rep *PickleReport) *pickleScan {
	return &pickleScan{data: data, memo: map[int64]sym{}, report: rep, label: label, file: file}
}

func (s *pickleScan) runProto(base int64) (int, error) {
	n, err := s.run(base)
	if s.report.Protocol < s.proto {
		s.report.Protocol = s.proto
	}
	return n, err
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

func (s *pickleScan) need(n int64, base int64, what string) ([]byte, error) {
	if n < 0 || n > MaxPickleString {
		return nil, s.errf(base, format.ErrLimit, "%s of %d bytes exceeds the limit of %d", what, n, MaxPickleString)
	}
	if int64(len(s.data)-s.pos) < n {
		return nil, s.errf(base, format.ErrTruncated, "%s needs %d bytes, %d remain", what, n, len(s.data)-s.pos)
	}
	b := s.data[s.pos : s.pos+int(n)]
	s.pos += int(n)
	return b, nil
}

func (s *pickleScan) line(base int64, limit int64) ([]byte, error) {
	rest := s.data[s.pos:]
	if int64(len(rest)) > limit+1 {
		rest = rest[:limit+1]
	}
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		if int64(len(rest)) > limit {
			return nil, s.errf(base, format.ErrLimit, "text argument longer than %d bytes", limit)
		}
		return nil, s.errf(base, format.ErrTruncated, "unterminated text argument")
	}
	b := s.data[s.pos : s.pos+i]
	s.pos += i + 1
	return b, nil
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
	out := append([]sym(nil), v...)
	s.stack = s.stack[:len(s.stack)-n]
	return out, nil
}

func (s *pickleScan) popMark(base int64) ([]sym, error) {
	if len(s.marks) == 0 {
		return nil, s.errf(base, format.ErrCorrupt, "no MARK on the stack")
	}
	m := s.marks[len(s.marks)-1]
	s.marks = s.marks[:len(s.marks)-1]
	out := append([]sym(nil), s.stack[m:]...)
	s.stack = s.stack[:m]
	return out, nil
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

// weightsOnlyOps are the opcodes PyTorch's weights_only unpickler accepts.
var weightsOnlyOps = func() [256]bool {
	var t [256]bool
	for _, c := range []byte("c\x81Rbaesu(t\x85\x86\x87N\x88\x89)]}\x8f\x90JKMGX\x8dB\x8eCUQqrhj\x8a\x80.") {
		t[c] = true
	}
	return t
}()

var opNames = map[byte]string{
	'0': "POP", '1': "POP_MARK", '2': "DUP", 'F': "FLOAT", 'I': "INT", 'L': "LONG", 'P': "PERSID", 'S': "STRING",
	'T': "BINSTRING", 'V': "UNICODE", 'd': "DICT", 'g': "GET", 'i': "INST", 'l': "LIST", 'o': "OBJ", 'p': "PUT",
	0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x8b: "LONG4", 0x8c: "SHORT_BINUNICODE", 0x91: "FROZENSET",
	0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8",
	0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
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

func (s *pickleScan) run(base int64) (int, error) {
	le := binary.LittleEndian
	for {
		if s.pos >= len(s.data) {
			return 0, s.errf(base, format.ErrTruncated, "pickle ends without STOP")
		}
		s.ops++
		if s.ops > MaxPickleOps {
			return 0, s.errf(base, format.ErrLimit, "more than %d opcodes", MaxPickleOps)
		}
		at := base + int64(s.pos)
		op := s.data[s.pos]
		s.pos++
		if !weightsOnlyOps[op] && opNames[op] != "" {
			if s.refused == nil {
				s.refused = map[byte]bool{}
			}
			if !s.refused[op] {
				s.refused[op] = true
				if op == 0x97 || op == 0x98 {
					s.finding(SeveritySuspicious, at, "protocol-5 out-of-band buffer opcode %s: torch.save never writes it and torch.load cannot supply the buffer", opNames[op])
				} else {
					s.finding(SeverityWarning, at, "opcode %s: torch.save does not write it and PyTorch's weights_only unpickler refuses it", opNames[op])
				}
			}
		}
		var err error
		switch op {
		case '.': // STOP
			if s.frameEnd > s.pos {
				return 0, s.errf(base, format.ErrCorrupt, "a FRAME runs %d bytes past the pickle's STOP", s.frameEnd-s.pos)
			}
			return s.pos, nil
		case 0x80: // PROTO
			var b []byte
			if b, err = s.need(1, base, "PROTO"); err == nil {
				s.proto = int(b[0])
				if s.proto > 5 {
					return 0, s.errf(base, format.ErrUnsupported, "pickle protocol %d", s.proto)
				}
			}
		case 0x95: // FRAME
			var b []byte
			if b, err = s.need(8, base, "FRAME"); err == nil {
				n := le.Uint64(b)
				if n > uint64(len(s.data)-s.pos) {
					// readers allocate the declared frame before reading it
					return 0, s.errf(base, format.ErrTruncated, "FRAME of %d bytes runs past the data (%d bytes remain)", n, len(s.data)-s.pos)
				}
				s.frameEnd = max(s.frameEnd, s.pos+int(n))
			}
		case '(': // MARK
			if len(s.marks) >= MaxPickleDepth {
				return 0, s.errf(base, format.ErrLimit, "more than %d nested MARKs", MaxPickleDepth)
			}
			s.marks = append(s.marks, len(s.stack))
		case 'N', 0x88, 0x89, ')', ']', '}', 0x8f: // NONE NEWTRUE NEWFALSE EMPTY_TUPLE EMPTY_LIST EMPTY_DICT EMPTY_SET
			err = s.push(sym{}, base)
		case 'I', 'L', 'F': // INT LONG FLOAT (text)
			if _, err = s.line(base, int64(MaxPickleLongSize)*3); err == nil {
				err = s.push(sym{}, base)
			}
		case 'J':
			if _, err = s.need(4, base, "BININT"); err == nil {
				err = s.push(sym{}, base)
			}
		case 'K':
			if _, err = s.need(1, base, "BININT1"); err == nil {
				err = s.push(sym{}, base)
			}
		case 'M':
			if _, err = s.need(2, base, "BININT2"); err == nil {
				err = s.push(sym{}, base)
			}
		case 'G':
			if _, err = s.need(8, base, "BINFLOAT"); err == nil {
				err = s.push(sym{}, base)
			}
		case 0x8a, 0x8b: // LONG1 LONG4
			var n int64
			if op == 0x8a {
				var b []byte
				if b, err = s.need(1, base, "LONG1"); err == nil {
					n = int64(b[0])
				}
			} else {
				var b []byte
				if b, err = s.need(4, base, "LONG4"); err == nil {
					n = int64(int32(le.Uint32(b)))
				}
			}
			if err == nil {
				if n == 0 && s.strict {
					return 0, s.errf(base, format.ErrUnsupported, "zero-length LONG (torch.save never writes one)")
				}
				if n < 0 || n > int64(MaxPickleLongSize) {
					return 0, s.errf(base, format.ErrLimit, "LONG of %d bytes exceeds the limit of %d", n, MaxPickleLongSize)
				}
				if _, err = s.need(n, base, "LONG"); err == nil {
					err = s.push(sym{}, base)
				}
			}
		case 'S', 'V': // STRING UNICODE (text)
			var b []byte
			if b, err = s.line(base, MaxPickleString); err == nil {
				var v string
				if op == 'S' {
					v = pyEscapeDecode(b)
				} else {
					v = pyRawUnicodeEscape(b)
				}
				s.blob(at, []byte(v), op == 'V')
				err = s.push(sym{kind: symStr, s: v}, base)
			}
		case 'T', 'X', 'B', 0x8c, 'U', 'C', 0x8d, 0x8e, 0x96: // counted strings and bytes
			var n int64
			var b []byte
			switch op {
			case 'U', 'C', 0x8c:
				if b, err = s.need(1, base, "length"); err == nil {
					n = int64(b[0])
				}
			case 'T':
				if b, err = s.need(4, base, "length"); err == nil {
					n = int64(int32(le.Uint32(b)))
				}
			case 'X', 'B':
				if b, err = s.need(4, base, "length"); err == nil {
					n = int64(le.Uint32(b))
				}
			default:
				if b, err = s.need(8, base, "length"); err == nil {
					u := le.Uint64(b)
					if u > math.MaxInt64 {
						u = math.MaxInt64
					}
					n = int64(u)
				}
			}
			if err == nil {
				if b, err = s.need(n, base, "string"); err == nil {
					v := sym{}
					str := op == 'X' || op == 0x8c || op == 0x8d || op == 'T' || op == 'U'
					if str {
						v = sym{kind: symStr, s: string(b)}
					}
					s.blob(at, b, op == 'X' || op == 0x8c || op == 0x8d)
					err = s.push(v, base)
				}
			}
		case 0x97: // NEXT_BUFFER
			err = s.push(sym{}, base)
		case 0x98: // READONLY_BUFFER
			if len(s.stack) == 0 {
				return 0, s.errf(base, format.ErrCorrupt, "READONLY_BUFFER on an empty stack")
			}
		case 'c', 'i': // GLOBAL INST
			var m, n []byte
			if m, err = s.line(base, 4096); err == nil {
				if n, err = s.line(base, 4096); err == nil {
					if op == 'c' {
						err = s.push(s.global(string(m), string(n), "GLOBAL", at), base)
					} else {
						g := s.global(string(m), string(n), "INST", at)
						s.called(g, "INST", at)
						if _, err = s.popMark(base); err == nil {
							err = s.push(sym{}, base)
						}
					}
				}
			}
		case 0x93: // STACK_GLOBAL
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
		case 0x82, 0x83, 0x84: // EXT1 EXT2 EXT4
			sz := map[byte]int64{0x82: 1, 0x83: 2, 0x84: 4}[op]
			if _, err = s.need(sz, base, "EXT"); err == nil {
				s.report.Globals = append(s.report.Globals, Global{Module: "?", Name: "copyreg extension", Opcode: opNames[op], Offset: at, Pickle: s.label, Verdict: VerdictUnknown})
				err = s.push(sym{kind: symGlobal, s: "?.copyreg extension", gi: len(s.report.Globals) - 1}, base)
			}
		case 'P': // PERSID
			if _, err = s.line(base, MaxPickleString); err == nil {
				err = s.push(sym{}, base)
			}
		case 'Q': // BINPERSID
			if _, err = s.pop(base, 1); err == nil {
				err = s.push(sym{}, base)
			}
		case 'R': // REDUCE
			var v []sym
			if v, err = s.pop(base, 2); err == nil {
				s.called(v[0], "REDUCE", at)
				err = s.push(sym{}, base)
			}
		case 0x81: // NEWOBJ
			var v []sym
			if v, err = s.pop(base, 2); err == nil {
				s.called(v[0], "NEWOBJ", at)
				err = s.push(sym{}, base)
			}
		case 0x92: // NEWOBJ_EX
			var v []sym
			if v, err = s.pop(base, 3); err == nil {
				s.called(v[0], "NEWOBJ_EX", at)
				err = s.push(sym{}, base)
			}
		case 'o': // OBJ
			var v []sym
			if v, err = s.popMark(base); err == nil {
				if len(v) == 0 {
					return 0, s.errf(base, format.ErrCorrupt, "OBJ without a class")
				}
				s.called(v[0], "OBJ", at)
				err = s.push(sym{}, base)
			}
		case 'b': // BUILD
			if _, err = s.pop(base, 1); err == nil {
				if len(s.stack) == 0 {
					return 0, s.errf(base, format.ErrCorrupt, "stack underflow")
				}
				if t := s.stack[len(s.stack)-1]; t.kind == symGlobal {
					// BUILD on a class or function itself sets its attributes:
					// monkey-patching, never an instance's state.
					s.report.Globals[t.gi].Called = true
					s.finding(SeverityDangerous, at, "BUILD sets attributes on %s itself, not on an instance: it rewrites code other objects use", t.s)
				}
			}
		case '0': // POP
			if len(s.stack) > 0 && (len(s.marks) == 0 || s.marks[len(s.marks)-1] < len(s.stack)) {
				s.stack = s.stack[:len(s.stack)-1]
			} else if len(s.marks) > 0 {
				s.marks = s.marks[:len(s.marks)-1]
			} else {
				return 0, s.errf(base, format.ErrCorrupt, "POP on an empty stack")
			}
		case '1': // POP_MARK
			_, err = s.popMark(base)
		case '2': // DUP
			if len(s.stack) == 0 {
				return 0, s.errf(base, format.ErrCorrupt, "DUP on an empty stack")
			}
			err = s.push(s.stack[len(s.stack)-1], base)
		case 'a': // APPEND
			_, err = s.pop(base, 1)
		case 'e', 0x90: // APPENDS ADDITEMS
			if op == 0x90 && s.strict {
				// gopickle keeps sets in Go maps: an unhashable item ([]byte) panics
				return 0, s.errf(base, format.ErrUnsupported, "protocol-4 set opcodes (ADDITEMS) are not supported by the reader; torch.save never writes them")
			}
			_, err = s.popMark(base)
		case 'l', 't', 0x91: // LIST TUPLE FROZENSET
			if op == 0x91 && s.strict {
				return 0, s.errf(base, format.ErrUnsupported, "protocol-4 set opcodes (FROZENSET) are not supported by the reader; torch.save never writes them")
			}
			if _, err = s.popMark(base); err == nil {
				err = s.push(sym{}, base)
			}
		case 'd': // DICT
			var v []sym
			if v, err = s.popMark(base); err == nil {
				if len(v)%2 != 0 {
					return 0, s.errf(base, format.ErrCorrupt, "DICT with an odd number of items")
				}
				err = s.push(sym{}, base)
			}
		case 0x85, 0x86, 0x87: // TUPLE1..3
			if _, err = s.pop(base, int(op-0x84)); err == nil {
				err = s.push(sym{}, base)
			}
		case 's': // SETITEM
			_, err = s.pop(base, 2)
		case 'u': // SETITEMS
			var v []sym
			if v, err = s.popMark(base); err == nil && len(v)%2 != 0 {
				return 0, s.errf(base, format.ErrCorrupt, "SETITEMS with an odd number of items")
			}
		case 'g', 'p': // GET PUT (text)
			var b []byte
			if b, err = s.line(base, 64); err == nil {
				idx, ok := pyInt(b)
				if !ok {
					return 0, s.errf(base, format.ErrCorrupt, "bad memo index %q", b)
				}
				if op == 'g' {
					err = s.memoGet(idx, base)
				} else {
					err = s.memoPut(idx, base)
				}
			}
		case 'h', 'q':
			var b []byte
			if b, err = s.need(1, base, "memo index"); err == nil {
				if op == 'h' {
					err = s.memoGet(int64(b[0]), base)
				} else {
					err = s.memoPut(int64(b[0]), base)
				}
			}
		case 'j', 'r':
			var b []byte
			if b, err = s.need(4, base, "memo index"); err == nil {
				if op == 'j' {
					err = s.memoGet(int64(le.Uint32(b)), base)
				} else {
					err = s.memoPut(int64(le.Uint32(b)), base)
				}
			}
		case 0x94: // MEMOIZE: Python stores at len(memo), whatever PUTs came before
			err = s.memoPut(int64(len(s.memo)), base)
		default:
			return 0, s.errf(base, format.ErrCorrupt, "unknown opcode 0x%02x", op)
		}
		if err != nil {
			return 0, err
		}
	}
}

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
