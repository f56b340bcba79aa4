package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// Limits on what one pickle may declare. They bound the memory and time a
// hostile pickle can cost before anything is unpickled.
var (
	MaxPickleBytes    int64 = 1 << 30 // one pickle stream
	MaxPickleStack          = 1 << 20 // stack items
	MaxPickleDepth          = 10000   // nested MARKs
	MaxPickleMemo           = 1 << 22 // memo entries
	MaxPickleOps            = 1 << 26 // opcodes
	MaxPickleString   int64 = 1 << 28 // one string/bytes argument
	MaxPickleLongSize       = 1 << 12 // LONG1/LONG4 bytes (PyTorch never needs more than 8)
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
	Globals  []Global `json:"globals"`
	Findings []string `json:"findings,omitempty"` // unresolved names, odd opcodes
	Protocol int      `json:"protocol"`
}

// symbolic stack values of the static scanner
type symKind uint8

const (
	symOther symKind = iota
	symStr
	symGlobal
	symMark
)

type sym struct {
	kind symKind
	s    string // string value, or "module\x00name" for globals
}

type pickleScan struct {
	data   []byte
	pos    int
	stack  []sym
	marks  []int
	memo   map[uint64]sym
	report *PickleReport
	label  string
	file   string
	ops    int
	proto  int
	memoN  uint64
}

// scanPickle walks one pickle statically, without building any objects,
// from data[0] to its STOP opcode. It returns the length of the pickle
// (through STOP), checking every length and limit on the way, and appends the
// globals it names to rep.
func scanPickle(data []byte, file, label string, base int64, rep *PickleReport) (int, error) {
	s := &pickleScan{data: data, memo: map[uint64]sym{}, report: rep, label: label, file: file}
	n, err := s.run(base)
	if rep.Protocol < s.proto {
		rep.Protocol = s.proto
	}
	return n, err
}

func (s *pickleScan) errf(base int64, sentinel error, format string, args ...any) error {
	return ferr(s.file, sentinel, fmt.Sprintf("pickle %s offset %d", s.label, base+int64(s.pos)), format, args...)
}

func (s *pickleScan) need(n int64, base int64, what string) ([]byte, error) {
	if n < 0 || n > MaxPickleString {
		return nil, s.errf(base, ErrLimit, "%s of %d bytes exceeds the limit of %d", what, n, MaxPickleString)
	}
	if int64(len(s.data)-s.pos) < n {
		return nil, s.errf(base, ErrTruncated, "%s needs %d bytes, %d remain", what, n, len(s.data)-s.pos)
	}
	b := s.data[s.pos : s.pos+int(n)]
	s.pos += int(n)
	return b, nil
}

func (s *pickleScan) line(base int64) ([]byte, error) {
	i := bytes.IndexByte(s.data[s.pos:], '\n')
	if i < 0 {
		return nil, s.errf(base, ErrTruncated, "unterminated text argument")
	}
	if int64(i) > MaxPickleString {
		return nil, s.errf(base, ErrLimit, "text argument too long")
	}
	b := s.data[s.pos : s.pos+i]
	s.pos += i + 1
	return b, nil
}

func (s *pickleScan) push(v sym, base int64) error {
	if len(s.stack) >= MaxPickleStack {
		return s.errf(base, ErrLimit, "stack exceeds %d items", MaxPickleStack)
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
		return nil, s.errf(base, ErrCorrupt, "stack underflow")
	}
	v := s.stack[len(s.stack)-n:]
	out := append([]sym(nil), v...)
	s.stack = s.stack[:len(s.stack)-n]
	return out, nil
}

func (s *pickleScan) popMark(base int64) ([]sym, error) {
	if len(s.marks) == 0 {
		return nil, s.errf(base, ErrCorrupt, "no MARK on the stack")
	}
	m := s.marks[len(s.marks)-1]
	s.marks = s.marks[:len(s.marks)-1]
	out := append([]sym(nil), s.stack[m:]...)
	s.stack = s.stack[:m]
	return out, nil
}

func (s *pickleScan) global(mod, name, op string, at int64) sym {
	s.report.Globals = append(s.report.Globals, Global{Module: mod, Name: name, Opcode: op, Offset: at, Pickle: s.label, Verdict: Verdict(mod, name)})
	return sym{kind: symGlobal, s: mod + "\x00" + name}
}

// called marks the global a callable symbol refers to as called.
func (s *pickleScan) called(v sym, op string, at int64) {
	if v.kind != symGlobal {
		if op != "BUILD" {
			s.report.Findings = append(s.report.Findings, fmt.Sprintf("pickle %s offset %d: %s on a value that is not a named global", s.label, at, op))
		}
		return
	}
	for i := len(s.report.Globals) - 1; i >= 0; i-- {
		g := &s.report.Globals[i]
		if g.Pickle == s.label && g.Module+"\x00"+g.Name == v.s {
			g.Called = true
			return
		}
	}
}

func (s *pickleScan) memoPut(idx uint64, base int64) error {
	if len(s.stack) == 0 {
		return s.errf(base, ErrCorrupt, "memo put on an empty stack")
	}
	if _, ok := s.memo[idx]; !ok && len(s.memo) >= MaxPickleMemo {
		return s.errf(base, ErrLimit, "memo exceeds %d entries", MaxPickleMemo)
	}
	s.memo[idx] = s.stack[len(s.stack)-1]
	return nil
}

func (s *pickleScan) memoGet(idx uint64, base int64) error {
	v, ok := s.memo[idx]
	if !ok {
		return s.errf(base, ErrCorrupt, "memo get of missing entry %d", idx)
	}
	return s.push(v, base)
}

func (s *pickleScan) run(base int64) (int, error) {
	le := binary.LittleEndian
	for {
		if s.pos >= len(s.data) {
			return 0, s.errf(base, ErrTruncated, "pickle ends without STOP")
		}
		s.ops++
		if s.ops > MaxPickleOps {
			return 0, s.errf(base, ErrLimit, "more than %d opcodes", MaxPickleOps)
		}
		at := base + int64(s.pos)
		op := s.data[s.pos]
		s.pos++
		var err error
		switch op {
		case '.': // STOP
			return s.pos, nil
		case 0x80: // PROTO
			var b []byte
			if b, err = s.need(1, base, "PROTO"); err == nil {
				s.proto = int(b[0])
				if s.proto > 5 {
					return 0, s.errf(base, ErrUnsupported, "pickle protocol %d", s.proto)
				}
			}
		case 0x95: // FRAME
			_, err = s.need(8, base, "FRAME")
		case '(': // MARK
			if len(s.marks) >= MaxPickleDepth {
				return 0, s.errf(base, ErrLimit, "more than %d nested MARKs", MaxPickleDepth)
			}
			s.marks = append(s.marks, len(s.stack))
		case 'N', 0x88, 0x89, ')', ']', '}', 0x8f: // NONE NEWTRUE NEWFALSE EMPTY_TUPLE EMPTY_LIST EMPTY_DICT EMPTY_SET
			err = s.push(sym{}, base)
		case 'I', 'L', 'F': // INT LONG FLOAT (text)
			var b []byte
			if b, err = s.line(base); err == nil {
				if op == 'L' && len(b) > MaxPickleLongSize*3 {
					return 0, s.errf(base, ErrLimit, "LONG of %d digits", len(b))
				}
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
				if n < 0 || n > int64(MaxPickleLongSize) {
					return 0, s.errf(base, ErrLimit, "LONG of %d bytes exceeds the limit of %d", n, MaxPickleLongSize)
				}
				if _, err = s.need(n, base, "LONG"); err == nil {
					err = s.push(sym{}, base)
				}
			}
		case 'S', 'V': // STRING UNICODE (text)
			var b []byte
			if b, err = s.line(base); err == nil {
				v := string(b)
				if op == 'S' {
					if u, e := strconv.Unquote(v); e == nil {
						v = u
					} else if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
						v = v[1 : len(v)-1]
					}
				}
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
					if op == 'X' || op == 0x8c || op == 0x8d || op == 'T' || op == 'U' {
						v = sym{kind: symStr, s: string(b)}
					} else if bytes.HasPrefix(b, []byte{0x80}) || bytes.HasPrefix(b, []byte("PK\x03\x04")) {
						s.report.Findings = append(s.report.Findings, fmt.Sprintf("pickle %s offset %d: a bytes value of %d bytes looks like an embedded pickle or zip", s.label, at, n))
					}
					err = s.push(v, base)
				}
			}
		case 0x97, 0x98: // NEXT_BUFFER READONLY_BUFFER (out-of-band, protocol 5)
			s.report.Findings = append(s.report.Findings, fmt.Sprintf("pickle %s offset %d: protocol-5 out-of-band buffer opcode", s.label, at))
			if op == 0x97 {
				err = s.push(sym{}, base)
			}
		case 'c', 'i': // GLOBAL INST
			var m, n []byte
			if m, err = s.line(base); err == nil {
				if n, err = s.line(base); err == nil {
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
					s.report.Findings = append(s.report.Findings, fmt.Sprintf("pickle %s offset %d: STACK_GLOBAL with operands that are not plain strings (a known way to hide a callable)", s.label, at))
					err = s.push(sym{kind: symGlobal, s: "?\x00?"}, base)
				}
			}
		case 0x82, 0x83, 0x84: // EXT1 EXT2 EXT4
			sz := map[byte]int64{0x82: 1, 0x83: 2, 0x84: 4}[op]
			if _, err = s.need(sz, base, "EXT"); err == nil {
				s.report.Globals = append(s.report.Globals, Global{Module: "?", Name: "copyreg extension", Opcode: "EXT", Offset: at, Pickle: s.label, Verdict: VerdictUnknown})
				err = s.push(sym{kind: symGlobal, s: "?\x00copyreg extension"}, base)
			}
		case 'P': // PERSID
			if _, err = s.line(base); err == nil {
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
					return 0, s.errf(base, ErrCorrupt, "OBJ without a class")
				}
				s.called(v[0], "OBJ", at)
				err = s.push(sym{}, base)
			}
		case 'b': // BUILD
			var v []sym
			if v, err = s.pop(base, 1); err == nil && len(s.stack) > 0 {
				_ = v
				s.called(s.stack[len(s.stack)-1], "BUILD", at)
			} else if err == nil {
				return 0, s.errf(base, ErrCorrupt, "stack underflow")
			}
		case '0': // POP
			if len(s.stack) > 0 && (len(s.marks) == 0 || s.marks[len(s.marks)-1] < len(s.stack)) {
				s.stack = s.stack[:len(s.stack)-1]
			} else if len(s.marks) > 0 {
				s.marks = s.marks[:len(s.marks)-1]
			} else {
				return 0, s.errf(base, ErrCorrupt, "POP on an empty stack")
			}
		case '1': // POP_MARK
			_, err = s.popMark(base)
		case '2': // DUP
			if len(s.stack) == 0 {
				return 0, s.errf(base, ErrCorrupt, "DUP on an empty stack")
			}
			err = s.push(s.stack[len(s.stack)-1], base)
		case 'a': // APPEND
			_, err = s.pop(base, 1)
		case 'e', 0x90: // APPENDS ADDITEMS
			_, err = s.popMark(base)
		case 'l', 't', 'd', 0x91: // LIST TUPLE DICT FROZENSET
			if _, err = s.popMark(base); err == nil {
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
				return 0, s.errf(base, ErrCorrupt, "SETITEMS with an odd number of items")
			}
		case 'g', 'p': // GET PUT (text)
			var b []byte
			if b, err = s.line(base); err == nil {
				idx, e := strconv.ParseUint(string(b), 10, 63)
				if e != nil {
					return 0, s.errf(base, ErrCorrupt, "bad memo index %q", b)
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
					err = s.memoGet(uint64(b[0]), base)
				} else {
					err = s.memoPut(uint64(b[0]), base)
				}
			}
		case 'j', 'r':
			var b []byte
			if b, err = s.need(4, base, "memo index"); err == nil {
				if op == 'j' {
					err = s.memoGet(uint64(le.Uint32(b)), base)
				} else {
					err = s.memoPut(uint64(le.Uint32(b)), base)
				}
			}
		case 0x94: // MEMOIZE
			err = s.memoPut(s.memoN, base)
			s.memoN++
		default:
			return 0, s.errf(base, ErrCorrupt, "unknown opcode 0x%02x", op)
		}
		if err != nil {
			return 0, err
		}
	}
}
