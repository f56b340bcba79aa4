// Package pickletest writes pickles, zips, tars and legacy torch streams
// opcode by opcode for tests, and the corpus of hostile checkpoints (one or
// more per published bypass family, ../shared/docs/formats-and-safety.md)
// that loader/scan/testdata/hostile holds. TestHostileCorpusCommitted
// (loader/scan) checks the committed files still match what Hostile writes
// (regenerate with DITKIT_WRITE_HOSTILE=1 go test -run
// TestHostileCorpusCommitted ./loader/scan/). None of them is ever
// unpickled by anything: the payloads only echo.
package pickletest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
)

// P writes a pickle opcode by opcode.
type P struct{ B bytes.Buffer }

// NewP starts a pickle; protocol 2 and later begin with PROTO.
func NewP(proto byte) *P {
	p := &P{}
	if proto >= 2 {
		p.B.Write([]byte{0x80, proto})
	}
	return p
}

func (p *P) Op(ops ...byte) *P              { p.B.Write(ops); return p }
func (p *P) Raw(s string) *P                { p.B.WriteString(s); return p }
func (p *P) Global(mod, name string) *P     { return p.Raw("c" + mod + "\n" + name + "\n") }
func (p *P) Inst(mod, name string) *P       { return p.Raw("i" + mod + "\n" + name + "\n") }
func (p *P) Str(s string) *P                { p.U32Op('X', len(s)); p.B.WriteString(s); return p }
func (p *P) Short(s string) *P              { p.Op(0x8c, byte(len(s))); p.B.WriteString(s); return p }
func (p *P) Bytes(b []byte) *P              { p.U32Op('B', len(b)); p.B.Write(b); return p }
func (p *P) Put(i byte) *P                  { return p.Op('q', i) }
func (p *P) Get(i byte) *P                  { return p.Op('h', i) }
func (p *P) Stop() []byte                   { p.B.WriteByte('.'); return p.B.Bytes() }
func (p *P) Call1(mod, name, arg string) *P { return p.Global(mod, name).Str(arg).Op(0x85, 'R') }
func (p *P) U32Op(op byte, n int) {
	p.B.WriteByte(op)
	binary.Write(&p.B, binary.LittleEndian, uint32(n))
}

const Echo = "echo ditkit-hostile-test"

// benignPklHand is the data.pkl torch.save writes for an OrderedDict of a
// 2×2 and a 2-element float tensor, written by hand so the committed corpus
// does not depend on loader.WriteTorch.
func BenignPkl() []byte {
	p := NewP(2).Global("collections", "OrderedDict").Op(')', 'R').Put(0).Op('(')
	for i, sh := range [][]byte{{2, 2}, {2}} {
		numel := byte(1)
		for _, d := range sh {
			numel *= d
		}
		p.Str([]string{"w", "b"}[i]).Global("torch._utils", "_rebuild_tensor_v2").Op('(')
		p.Op('(').Str("storage").Global("torch", "FloatStorage").Str(string(rune('0'+i))).Str("cpu").Op('K', numel, 't', 'Q')
		p.Op('K', 0)
		if len(sh) == 2 {
			p.Op('K', 2, 'K', 2, 0x86, 'K', 2, 'K', 1, 0x86)
		} else {
			p.Op('K', 2, 0x85, 'K', 1, 0x85)
		}
		p.Op(0x89).Global("collections", "OrderedDict").Op(')', 'R', 't', 'R')
	}
	return p.Op('u').Stop()
}

// benignEntries are the entries of a small valid torch.save zip.
func BenignEntries() []Entry {
	return []Entry{
		{Name: "archive/data.pkl", Data: BenignPkl()},
		{Name: "archive/byteorder", Data: []byte("little")},
		{Name: "archive/data/0", Data: make([]byte, 16)},
		{Name: "archive/data/1", Data: make([]byte, 8)},
		{Name: "archive/version", Data: []byte("3\n")},
	}
}

// Entry is one zip entry BuildZip writes.
type Entry struct {
	Name   string // central directory name
	LName  string // local header name ("" = Name)
	Data   []byte // uncompressed bytes
	Method uint16
	Flags  uint16
	Hidden bool // local entry only, not in the central directory
}

// buildZip writes entries without data descriptors; offsets in the central
// directory are relative to the zip's own start (as `cat a b.zip` leaves them).
func BuildZip(ents []Entry, prepend, trailer []byte) []byte {
	le := binary.LittleEndian
	var z bytes.Buffer
	type cdrec struct {
		e        Entry
		off      int
		csz, crc uint32
	}
	var cds []cdrec
	for _, e := range ents {
		body := e.Data
		if e.Method == 8 {
			var c bytes.Buffer
			fw, _ := flate.NewWriter(&c, flate.BestCompression)
			fw.Write(e.Data)
			fw.Close()
			body = c.Bytes()
		}
		crc := crc32.ChecksumIEEE(e.Data)
		ln := e.LName
		if ln == "" {
			ln = e.Name
		}
		off := z.Len()
		for _, v := range []any{uint32(0x04034b50), uint16(20), e.Flags, e.Method, uint16(0), uint16(0x21), crc,
			uint32(len(body)), uint32(len(e.Data)), uint16(len(ln)), uint16(0)} {
			binary.Write(&z, le, v)
		}
		z.WriteString(ln)
		z.Write(body)
		if !e.Hidden {
			cds = append(cds, cdrec{e, off, uint32(len(body)), crc})
		}
	}
	cdOff := z.Len()
	for _, c := range cds {
		for _, v := range []any{uint32(0x02014b50), uint16(20), uint16(20), c.e.Flags, c.e.Method, uint16(0), uint16(0x21), c.crc,
			c.csz, uint32(len(c.e.Data)), uint16(len(c.e.Name)), uint16(0), uint16(0), uint16(0), uint16(0), uint32(0), uint32(c.off)} {
			binary.Write(&z, le, v)
		}
		z.WriteString(c.e.Name)
	}
	cdSize := z.Len() - cdOff
	for _, v := range []any{uint32(0x06054b50), uint16(0), uint16(0), uint16(len(cds)), uint16(len(cds)), uint32(cdSize), uint32(cdOff), uint16(0)} {
		binary.Write(&z, le, v)
	}
	return append(append(append([]byte(nil), prepend...), z.Bytes()...), trailer...)
}

// withDataPkl returns the benign torch zip's entries with data.pkl replaced.
func WithDataPkl(pkl []byte) []Entry {
	ents := BenignEntries()
	for i := range ents {
		if ents[i].Name == "archive/data.pkl" {
			ents[i].Data = pkl
		}
	}
	return ents
}

// prefixed puts payload ops (which must leave nothing on the stack) before
// the benign state dict, keeping its memo indices free.
func Prefixed(payload func(p *P)) []byte {
	b := BenignPkl()
	p := NewP(2)
	payload(p)
	p.B.Write(b[2:]) // the benign pickle without its PROTO
	return p.B.Bytes()
}

func OSSystem(proto byte) []byte {
	return NewP(proto).Call1("os", "system", Echo).Stop()
}

// legacyStream writes a pre-1.6 torch.save stream with the given object pickle.
func LegacyStream(sysInfo, obj []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e})
	b.Write([]byte{0x80, 0x02, 'M', 0xe9, 0x03, '.'})
	b.Write(sysInfo)
	b.Write(obj)
	b.Write([]byte{0x80, 0x02, ']', '.'}) // no storages
	return b.Bytes()
}

func SysInfo() []byte {
	return NewP(2).Op('}', '(').Str("protocol_version").Op('M', 0xe9, 0x03).Str("little_endian").Op(0x88).Op('u').Stop()
}

func TarMember(name string, data []byte) []byte {
	var h [512]byte
	copy(h[:], name)
	copy(h[100:], "0000644\x00")
	copy(h[108:], "0000000\x00")
	copy(h[116:], "0000000\x00")
	copy(h[124:], []byte(octal(len(data), 11)+"\x00"))
	copy(h[136:], "00000000000\x00")
	h[156] = '0'
	copy(h[257:], "ustar\x0000")
	copy(h[148:], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], []byte(octal(sum, 6)+"\x00 "))
	out := append(h[:], data...)
	if pad := (512 - len(data)%512) % 512; pad > 0 {
		out = append(out, make([]byte, pad)...)
	}
	return out
}

func octal(v, width int) string {
	s := ""
	for i := 0; i < width; i++ {
		s = string(rune('0'+v%8)) + s
		v /= 8
	}
	return s
}

// Hostile returns every hostile file by name.
func Hostile() map[string][]byte {
	c := map[string][]byte{}
	zipWith := func(pkl []byte) []byte { return BuildZip(WithDataPkl(pkl), nil, nil) }

	// plain GLOBAL + REDUCE of code-running callables
	c["global_os_system.pkl"] = OSSystem(2)
	c["global_os_system_proto0.pkl"] = []byte("cos\nsystem\n(S'" + Echo + "'\ntR.")
	c["global_posix_system.pt"] = zipWith(Prefixed(func(p *P) { p.Call1("posix", "system", Echo).Op('0') }))
	c["global_nt_system.pt"] = zipWith(Prefixed(func(p *P) { p.Call1("nt", "system", Echo).Op('0') }))
	c["global_builtins_eval.pt"] = zipWith(Prefixed(func(p *P) { p.Call1("builtins", "eval", "__import__('os').system('"+Echo+"')").Op('0') }))
	c["global_builtins_exec.pkl"] = NewP(2).Call1("builtins", "exec", "import os; os.system('"+Echo+"')").Stop()
	c["global_py2_builtin_eval.pkl"] = []byte("c__builtin__\neval\n(S'1+1'\ntR.")
	c["global_subprocess_popen.pt"] = zipWith(Prefixed(func(p *P) {
		p.Global("subprocess", "Popen").Op('(').Str("echo").Str("ditkit").Op('l', 0x85, 'R', '0')
	}))
	c["global_runpy_run_path.pkl"] = NewP(2).Call1("runpy", "_run_code", "print(1)").Stop()

	// STACK_GLOBAL with names from the memo, and memo confusion
	c["stackglobal_memoize.pt"] = zipWith(Prefixed(func(p *P) {
		p.Short("os").Op(0x94, '0').Short("system").Op(0x94, '0')
		p.Op('h', 0, 'h', 1, 0x93).Str(Echo).Op(0x85, 'R', '0')
	}))
	c["stackglobal_binput.pkl"] = NewP(4).Short("subprocess").Put(7).Op('0').Short("check_output").Op('r', 9, 1, 0, 0).Op('0').
		Get(7).Op('j', 9, 1, 0, 0).Op(0x93).Op(']').Str("echo").Op('a', 0x85, 'R').Stop()
	// BINPUT 1 then MEMOIZE: Python stores the MEMOIZE at len(memo) == 1,
	// overwriting "collections"; a scanner counting MEMOIZEs reads
	// "collections.system" where Python imports os.system.
	c["stackglobal_memo_confusion.pkl"] = NewP(4).Short("collections").Put(1).Op('0').
		Short("os").Op(0x94, '0').Short("system").Put(2).Op('0').Get(1).Get(2).Op(0x93).Str(Echo).Op(0x85, 'R').Stop()
	// module name built at load time by a call: the callable is unresolved
	c["stackglobal_built_name.pkl"] = NewP(4).Global("builtins", "str").Short("os").Op(0x85, 'R').Short("system").Op(0x93).Str(Echo).Op(0x85, 'R').Stop()
	c["stackglobal_getattr_join.pt"] = zipWith(Prefixed(func(p *P) {
		p.Global("builtins", "getattr").Short("").Short("join").Op(0x86, 'R') // "".join
		p.Short("o").Short("s").Op(0x86, 0x85, 'R')                           // -> "os"
		p.Short("system").Op(0x93).Str(Echo).Op(0x85, 'R', '0')
	}))
	c["stackglobal_escaped_strings.pkl"] = []byte("S'o\\x73'\nVsy\\u0073tem\n\x93(S'" + Echo + "'\ntR.")
	c["stackglobal_dunder_path.pkl"] = NewP(4).Short("collections").Short("OrderedDict.__init__.__globals__").Op(0x93).Stop()
	c["stackglobal_dotted_path.pkl"] = NewP(4).Short("torch").Short("serialization.os.system").Op(0x93).Str(Echo).Op(0x85, 'R').Stop()

	// INST / OBJ / NEWOBJ hide calls; POP and POP_MARK discard their results
	c["inst_os_system.pkl"] = []byte("(S'" + Echo + "'\nios\nsystem\n.")
	c["inst_hidden_before_state.pt"] = zipWith(Prefixed(func(p *P) { p.Op('(').Str(Echo).Inst("os", "system").Op('0') }))
	c["obj_subprocess.pt"] = zipWith(Prefixed(func(p *P) { p.Op('(').Global("subprocess", "getoutput").Str(Echo).Op('o', '0') }))
	c["newobj_ex_popen.pkl"] = NewP(4).Global("subprocess", "Popen").Op(']').Str("echo").Op('a', 0x85, '}', 0x92).Stop()
	c["pop_mark_hidden_call.pt"] = zipWith(Prefixed(func(p *P) { p.Op('(').Call1("os", "system", Echo).Op('1') }))
	c["reduce_unresolved_callable.pkl"] = NewP(2).Global("builtins", "getattr").Global("os", "path").Str("join").Op(0x86, 'R').Str("a").Op(0x85, 'R').Stop()
	c["build_monkeypatch_class.pkl"] = NewP(2).Global("collections", "OrderedDict").Op('N', '}').Str("__reduce__").Global("os", "system").Op('s', 0x86, 'b').Stop()

	// pickles nested in bytes that a loader unpickles
	inner := OSSystem(2)
	c["nested_pickle_loads.pt"] = zipWith(Prefixed(func(p *P) { p.Global("pickle", "loads").Bytes(inner).Op(0x85, 'R', '0') }))
	c["nested_load_from_bytes_zip.pt"] = zipWith(Prefixed(func(p *P) {
		p.Global("torch.storage", "_load_from_bytes").Bytes(BuildZip(WithDataPkl(inner), nil, nil)).Op(0x85, 'R', '0')
	}))
	latin := ""
	for _, c := range inner {
		latin += string(rune(c))
	}
	c["nested_codecs_latin1.pt"] = zipWith(Prefixed(func(p *P) {
		p.Global("_pickle", "loads").Global("_codecs", "encode").Str(latin).Str("latin1").Op(0x86, 'R', 0x85, 'R', '0')
	}))

	// zip tricks
	ents := BenignEntries()
	c["zip_extra_pkl_entry.pt"] = BuildZip(append(append([]Entry{}, ents...), Entry{Name: "archive/extra.pkl", Data: inner}), nil, nil)
	dup := append([]Entry{}, ents...)
	dup = append(dup, Entry{Name: "archive/data.pkl", Data: Prefixed(func(p *P) { p.Call1("os", "system", Echo).Op('0') })})
	c["zip_duplicate_data_pkl.pt"] = BuildZip(dup, nil, nil)
	mis := append([]Entry{}, ents...)
	mis[0].LName = "archive/data.pk_"
	c["zip_local_name_mismatch.pt"] = BuildZip(mis, nil, nil)
	def := WithDataPkl(Prefixed(func(p *P) { p.Call1("os", "system", Echo).Op('0') }))
	def[0].Method = 8
	c["zip_deflated_data_pkl.pt"] = BuildZip(def, nil, nil)
	enc := WithDataPkl(Prefixed(func(p *P) { p.Call1("os", "system", Echo).Op('0') }))
	enc[0].Flags = 0x0001
	c["zip_encrypted_flag.pt"] = BuildZip(enc, nil, nil)
	odd := append([]Entry{}, ents...)
	odd[0].Flags = 0x0010 | 0x0020
	c["zip_odd_flag_bits.pt"] = BuildZip(odd, nil, nil)
	c["zip_data_after_eocd.pt"] = BuildZip(ents, nil, OSSystem(2))
	c["zip_prepended_pickle.pt"] = BuildZip(ents, OSSystem(2), nil)
	hid := append([]Entry{{Name: "archive/evil.pkl", Data: inner, Hidden: true}}, ents...)
	c["zip_hidden_local_entry.pt"] = BuildZip(hid, nil, nil)
	wrong := append(append([]Entry{}, ents...), Entry{Name: "archive/data/99", Data: inner})
	c["zip_pickle_wrong_extension.pt"] = BuildZip(wrong, nil, nil)
	c["zip_inside_zip.pt"] = BuildZip(append(append([]Entry{}, ents...), Entry{Name: "archive/extra/model.pt", Data: BuildZip(WithDataPkl(inner), nil, nil)}), nil, nil)
	c["zip_second_pickle_after_stop.pt"] = zipWith(append(BenignPkl(), OSSystem(2)...))

	// protocol 4/5 opcodes torch.save never writes
	c["proto4_frame_stackglobal.pkl"] = func() []byte {
		body := NewP(0).Short("os").Op(0x94).Short("system").Op(0x94, 0x93).Short(Echo).Op(0x85, 'R').Stop()
		p := NewP(4).Op(0x95)
		binary.Write(&p.B, binary.LittleEndian, uint64(len(body)))
		p.B.Write(body)
		return p.B.Bytes()
	}()
	c["proto5_next_buffer.pt"] = zipWith(Prefixed(func(p *P) { p.Op(0x97, 0x98, '0') }))
	c["proto5_bytearray8_eval.pkl"] = func() []byte {
		p := NewP(5).Global("builtins", "eval").Short("1+1").Op(0x85, 'R', '0').Op(0x96)
		binary.Write(&p.B, binary.LittleEndian, uint64(3))
		p.Raw("abc")
		return p.Stop()
	}()

	// legacy format with a malicious pickle
	c["legacy_malicious_object.pt"] = LegacyStream(SysInfo(), NewP(2).Op('}').Str("model").Call1("os", "system", Echo).Op('s').Stop())
	c["legacy_malicious_sys_info.pt"] = LegacyStream(OSSystem(2), NewP(2).Op('}').Stop())

	// polyglots
	c["polyglot_pickle_then_zip.pt"] = append(OSSystem(2), BuildZip(BenignEntries(), nil, nil)...)
	var tb bytes.Buffer
	tb.Write(TarMember("sys_info", SysInfo()))
	tb.Write(TarMember("pickle", NewP(2).Call1("os", "system", Echo).Stop()))
	tb.Write(TarMember("storages", NewP(2).Op('K', 0).Stop()))
	tb.Write(TarMember("tensors", NewP(2).Op('K', 0).Stop()))
	tb.Write(make([]byte, 1024))
	c["polyglot_legacy_tar.pt"] = tb.Bytes()
	var tz bytes.Buffer
	tz.Write(TarMember("model.pkl", inner))
	tz.Write(make([]byte, 1024))
	c["polyglot_tar_with_pickle.tar"] = tz.Bytes()
	c["polyglot_7z_header.7z"] = append([]byte("7z\xbc\xaf\x27\x1c\x00\x04"), make([]byte, 24)...)

	// readers that disagree on FRAME boundaries; amplification; NumPy
	c["frame_boundary_divergence.pkl"] = FrameDivergence()
	c["frame_boundary_divergence.pt"] = zipWith(FrameDivergence())
	c["billion_laughs.pt"] = zipWith(LaughsPkl())
	c["npy_object_array_system.npy"] = NPY(NPYObjectHeader, OSSystem(3))
	c["npz_object_array_system.npz"] = BuildZip([]Entry{{Name: "w.npy", Data: NPY(NPYObjectHeader, OSSystem(3)), Method: 8}}, nil, nil)
	return c
}

// FrameDivergence is fickling's FRAME-boundary bypass (trailofbits/fickling
// test/test_bypasses.py test_frame_boundary_divergence), byte for byte but
// for the command: a FRAME of 2 bytes whose BINBYTES length runs past it.
// CPython's unpickler reading a file (torch.load's data.pkl) drops the
// frame's last byte, reads the length as 1 and runs the hidden
// os.system; a reader of bytes sees one 263-byte bytes value.
func FrameDivergence() []byte {
	hidden := []byte("cos\nsystem\nV" + Echo + "\n\x85R(")
	for len(hidden) < 256+5 {
		hidden = append(hidden, 'N')
	}
	p := NewP(5).Op('N', 'V').Raw(string(bytes.Repeat([]byte("a"), 8192*16-17))).Raw("\n0(").Op(0x95)
	binary.Write(&p.B, binary.LittleEndian, uint64(2))
	p.Raw("B\x07\x01\x00\x00\x00\x00").Raw(string(hidden))
	return p.Op('1').Stop()
}

// DupLaughs is coldwaterq's globalLaughs pattern: levels × (MARK ...
// DUP×dups LIST), each list holding dups+1 references to the one below
// ((dups+1)^levels elements from a few hundred bytes).
func DupLaughs(levels, dups int) *P {
	p := NewP(4)
	for i := 0; i < levels; i++ {
		p.Op('(')
	}
	p.Short("lol")
	for i := 0; i < levels; i++ {
		p.Op(bytes.Repeat([]byte{'2'}, dups)...).Op('l')
	}
	return p
}

// LaughsPkl is the benign state dict with one more entry, "laughs": a
// 10^9-element DupLaughs list.
func LaughsPkl() []byte {
	pkl := BenignPkl()
	laughs := DupLaughs(9, 9).B.Bytes()[2:] // without PROTO
	p := &P{}
	p.B.Write(pkl[:len(pkl)-2]) // before SETITEMS, STOP
	p.Str("laughs").Raw(string(laughs))
	return p.Op('u').Stop()
}

// NPYObjectHeader is the header dict numpy.save writes for a 1-element
// object array.
const NPYObjectHeader = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"

// NPY writes a version-1 .npy file with the given header dict and data.
func NPY(header string, data []byte) []byte {
	h := header + string(bytes.Repeat([]byte(" "), (64-(10+len(header)+1)%64)%64)) + "\n"
	out := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(append(out, h...), data...)
}
