package scan_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/pickletest"
	"github.com/ditkit/ditkit/loader/scan"
)

func npy(header string, data []byte) []byte { return pickletest.NPY(header, data) }

const objHeader = pickletest.NPYObjectHeader

// An object array carries a pickle that numpy.load(allow_pickle=True)
// runs: scanned, in a bare .npy and in a (deflated) .npz; numeric arrays
// hold no code.
func TestScanNumPy(t *testing.T) {
	evil := pickletest.OSSystem(3)
	ints := npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", make([]byte, 48))
	for name, c := range map[string]struct {
		file []byte
		want string
	}{
		"evil.npy":       {npy(objHeader, evil), scan.VerdictDangerous},
		"struct.npy":     {npy("{'descr': [('a', '<f4'), ('b', '|O')], 'fortran_order': False, 'shape': (1,), }", evil), scan.VerdictDangerous},
		"ints.npy":       {ints, scan.VerdictSafe},
		"fieldnamed.npy": {npy("{'descr': [('O', '<f4')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)), scan.VerdictSafe},
		"evil.npz": {pickletest.BuildZip([]pickletest.Entry{
			{Name: "a.npy", Data: ints, Method: 8},
			{Name: "b.npy", Data: npy(objHeader, evil), Method: 8},
		}, nil, nil), scan.VerdictDangerous},
		"ints.npz": {pickletest.BuildZip([]pickletest.Entry{{Name: "a.npy", Data: ints, Method: 8}, {Name: "b.npy", Data: ints}}, nil, nil), scan.VerdictSafe},
	} {
		rep, err := scanBytes(t, c.file, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if rep.Verdict != c.want {
			t.Errorf("%s: verdict %s, want %s: %v", name, rep.Verdict, c.want, rep.Findings)
		}
		if strings.HasSuffix(name, ".npz") && rep.Format != "npz" || strings.HasSuffix(name, ".npy") && rep.Format != "npy" {
			t.Errorf("%s: format %s", name, rep.Format)
		}
		for _, f := range rep.Findings {
			if strings.Contains(f.Message, "deflate") {
				t.Errorf("%s: deflate is normal in an .npz: %v", name, f)
			}
		}
	}
	// loader.Open says which format it does not read
	b := npy(objHeader, evil)
	if _, err := loader.Open(bytes.NewReader(b), int64(len(b)), "a.npy"); err == nil || !errors.Is(err, loader.ErrUnsupported) || !strings.Contains(err.Error(), "NumPy .npy") {
		t.Errorf("Open: %v", err)
	}
}

// Bad NumPy input: one error naming the file and where, or a finding for
// an entry inside an archive; never a panic.
func TestScanNumPyBadInput(t *testing.T) {
	for name, b := range map[string][]byte{
		"version.npy":   append([]byte("\x93NUMPY\x09\x00"), 0, 0, 0, 0),
		"headerlen.npy": append([]byte("\x93NUMPY\x01\x00"), 0xff, 0x7f, '{'),
		"notadict.npy":  npy("[1, 2]", nil),
		"nodescr.npy":   npy("{'shape': (1,)}", nil),
		"garbage.npy":   npy("{'descr': '|O', 'shape': (1,), ", nil),
		"notpickle.npy": npy(objHeader, []byte("plain bytes, not a pickle")),
		"empty.npy":     npy(objHeader, nil),
	} {
		rep, err := scanBytes(t, b, name)
		if err == nil && rep.Verdict != scan.VerdictUnknown {
			t.Errorf("%s: verdict %s, no error", name, rep.Verdict)
			continue
		}
		if err != nil && (!strings.Contains(err.Error(), name) || strings.Contains(err.Error(), "malformed input")) {
			t.Errorf("%s: %v", name, err)
		}
	}
	z := pickletest.BuildZip([]pickletest.Entry{{Name: "a.npy", Data: npy("{'descr': oops}", nil)}}, nil, nil)
	rep, err := scanBytes(t, z, "bad.npz")
	if err != nil || rep.Verdict != scan.VerdictUnknown {
		t.Errorf("bad.npz: %v %+v", err, rep)
	}
}

// Formats ditkit does not read are refused by name.
func TestScanRefusesForeignFormats(t *testing.T) {
	for name, b := range map[string][]byte{
		"model.h5":  []byte("\x89HDF\r\n\x1a\n" + strings.Repeat("\x00", 64)),
		"model.gz":  []byte("\x1f\x8b\x08\x00" + strings.Repeat("\x00", 64)),
		"image.png": []byte("\x89PNG\r\n\x1a\n"),
	} {
		_, err := scanBytes(t, b, name)
		if err == nil || !errors.Is(err, loader.ErrUnsupported) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not a format ditkit reads") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
