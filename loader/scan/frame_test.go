package scan_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/pickletest"
	"github.com/ditkit/ditkit/loader/scan"
)

func u64(n int) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(n)) }
func u32(n int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(n)) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// framed is PROTO 5, a FRAME declaring n bytes, then body.
func framed(body []byte, n int) []byte {
	return cat([]byte{0x80, 5, 0x95}, u64(n), body)
}

// hiddenCall is GLOBAL os.system + UNICODE + TUPLE1 + REDUCE.
var hiddenCall = []byte("cos\nsystem\nV" + pickletest.Echo + "\n\x85R")

func frameKinds(rep *scan.Report) (dangerous, suspicious int) {
	for _, f := range rep.Findings {
		if f.Kind != scan.KindFrame {
			continue
		}
		switch f.Severity {
		case scan.SeverityDangerous:
			dangerous++
		case scan.SeveritySuspicious:
			suspicious++
		}
	}
	return
}

// The FRAME-boundary bypass: flagged, and the call only torch.load's
// reader runs is reported as the global it is.
func TestScanFrameBoundaryDivergence(t *testing.T) {
	b := pickletest.FrameDivergence()
	rep, err := scanBytes(t, b, "frame.pkl")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := frameKinds(rep); rep.Verdict != scan.VerdictDangerous || d == 0 {
		t.Fatalf("verdict %s, findings %v", rep.Verdict, rep.Findings)
	}
	found := false
	for _, g := range rep.Globals {
		if g.FullName() == "os.system" && g.Called && g.Verdict == scan.VerdictDangerous && strings.Contains(g.Pickle, "file reader") {
			found = true
		}
	}
	if !found {
		t.Errorf("the hidden os.system is not reported: %+v", rep.Globals)
	}
	// in a .pt, where torch.load reads data.pkl from a BytesIO: flagged, and
	// Open refuses the pickle rather than show one reader's view
	pt := pickletest.BuildZip(pickletest.WithDataPkl(b), nil, nil)
	rep, err = scanBytes(t, pt, "frame.pt")
	if err != nil || rep.Verdict != scan.VerdictDangerous {
		t.Fatalf("pt: %v %+v", err, rep)
	}
	if _, err := loader.Open(bytes.NewReader(pt), int64(len(pt)), "frame.pt"); err == nil || !errors.Is(err, loader.ErrCorrupt) || !strings.Contains(err.Error(), "FRAME") {
		t.Errorf("Open: %v", err)
	}
}

// fickling's test_frame_boundary_straddle_variants: every opcode that
// crosses its frame is flagged; where CPython's readers really part (all
// but BINBYTES, whose payload the file reader reads on from the file) the
// finding is dangerous.
func TestScanFrameStraddleVariants(t *testing.T) {
	for _, c := range []struct {
		name    string
		pickle  []byte
		diverge bool
	}{
		{"BINBYTES", framed(cat([]byte{'B'}, u32(20), bytes.Repeat([]byte("A"), 20)), 5), false},
		{"SHORT_BINUNICODE", framed(cat([]byte{0x8c, 0x14}, bytes.Repeat([]byte("A"), 20)), 3), true},
		{"GLOBAL module", framed([]byte("cmacos\nsystem\n"), 4), true},
		{"UNICODE", framed([]byte("Vhello world\n"), 5), true},
		{"BININT", framed(cat([]byte{'J'}, u32(7)), 2), true},
	} {
		rep, err := scanBytes(t, append(c.pickle, '.'), c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		d, s := frameKinds(rep)
		if c.diverge && (d == 0 || rep.Verdict != scan.VerdictDangerous) || !c.diverge && (s == 0 || d != 0) {
			t.Errorf("%s: verdict %s, %d dangerous and %d suspicious frame findings: %v", c.name, rep.Verdict, d, s, rep.Findings)
		}
	}
	// GLOBAL module: where a bytes reader sees macos.system, the file
	// reader drops "mac" with the frame and imports os.system
	rep, _ := scanBytes(t, append(framed([]byte("cmacos\nsystem\n"), 4), '.'), "g")
	seen := false
	for _, g := range rep.Globals {
		seen = seen || g.FullName() == "os.system" && g.Verdict == scan.VerdictDangerous
	}
	if !seen {
		t.Errorf("the file reader's global is not reported: %+v", rep.Globals)
	}
	// a frame opened inside another, and a frame past STOP, are flagged too
	nested := cat([]byte{0x80, 5, 0x95}, u64(11), []byte("N"), []byte{0x95}, u64(2), []byte("N."))
	if rep, err := scanBytes(t, nested, "nested"); err != nil || rep.Verdict != scan.VerdictDangerous {
		t.Errorf("nested frame: %v %+v", err, rep)
	}
	past := append(framed([]byte("N."), 4), "NN"...)
	if rep, err := scanBytes(t, past, "past"); err != nil || rep.Verdict != scan.VerdictDangerous {
		t.Errorf("frame past STOP: %v %+v", err, rep)
	}
}

// cpythonFramer writes ops as CPython's protocol-4 pickler does: whole
// opcodes grouped into frames of at most 64 KiB, large payloads outside
// any frame.
func cpythonFramer(ops [][]byte) []byte {
	out := []byte{0x80, 4}
	var cur []byte
	flush := func() {
		if len(cur) > 0 {
			out = append(append(append(out, 0x95), u64(len(cur))...), cur...)
			cur = nil
		}
	}
	for _, op := range ops {
		if len(op) > 64<<10 {
			flush()
			out = append(out, op...)
			continue
		}
		if len(cur)+len(op) > 64<<10 {
			flush()
		}
		cur = append(cur, op...)
	}
	flush()
	return out
}

// Well-formed frames (fickling's test_well_formed_frames_are_not_flagged,
// written as CPython's framer writes them): no frame finding.
func TestScanWellFormedFrames(t *testing.T) {
	big := cat([]byte{'B'}, u32(100000), bytes.Repeat([]byte("y"), 100000))
	var many [][]byte
	many = append(many, []byte{']', 0x94, '('})
	for i := 0; i < 200000; i++ {
		many = append(many, cat([]byte{'J'}, u32(i)))
		if i%1000 == 999 {
			many = append(many, []byte{'e', '('})
		}
	}
	many = append(many, []byte{'e', '.'})
	for name, ops := range map[string][][]byte{
		"small list":   {{']', 0x94, '(', 'K', 1, 'K', 2, 'e', '.'}},
		"large bytes":  {big, {0x94, '.'}},
		"interleaved":  {{']', 0x94, '(', 'K', 1}, big, {0x94, 'K', 2, 'e', '.'}},
		"several full": many,
	} {
		rep, err := scanBytes(t, cpythonFramer(ops), name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if d, s := frameKinds(rep); d+s != 0 {
			t.Errorf("%s: frame findings %v", name, rep.Findings)
		}
	}
}
