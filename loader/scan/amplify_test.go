package scan_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/pickletest"
	"github.com/ditkit/ditkit/loader/scan"
)

func dupLaughs(levels, dups int) *pickletest.P { return pickletest.DupLaughs(levels, dups) }

// memoLaughs is billionLaughsAlt: the same with BINPUT/BINGET instead of DUP.
func memoLaughs(levels, gets int) *pickletest.P {
	p := pickletest.NewP(4)
	for i := 0; i < levels; i++ {
		p.Op('(')
	}
	p.Short("lol")
	for i := 0; i < levels; i++ {
		p.Put(byte(i))
		for k := 0; k < gets; k++ {
			p.Get(byte(i))
		}
		p.Op('l')
	}
	return p
}

// orderedDictLaughs nests collections.OrderedDicts whose values are the
// dict one level down, under ten keys each: only allow-listed globals.
func orderedDictLaughs(levels int) *pickletest.P {
	p := pickletest.NewP(2).Short("lol").Put(0).Op('0')
	for i := 1; i <= levels; i++ {
		p.Global("collections", "OrderedDict").Op(')', 'R').Put(byte(i)).Op('(')
		for k := 0; k < 10; k++ {
			p.Op('K', byte(k)).Get(byte(i - 1))
		}
		p.Op('u', '0')
	}
	return p.Get(byte(levels))
}

func dosFindings(rep *scan.Report) int {
	n := 0
	for _, f := range rep.Findings {
		if f.Kind == scan.KindDoS && f.Severity == scan.SeverityDangerous {
			n++
		}
	}
	return n
}

// Billion laughs, by DUP, by memo, with OrderedDicts, as a bare pickle and
// as a .pt whose data.pkl also holds real tensors: a dos finding, verdict
// dangerous, found without building the value.
func TestScanBillionLaughs(t *testing.T) {
	cases := map[string][]byte{
		"dup.pkl":         dupLaughs(9, 9).Stop(),
		"memo.pkl":        memoLaughs(10, 9).Stop(),
		"ordereddict.pkl": orderedDictLaughs(9).Stop(),
	}
	cases["laughs.pt"] = pickletest.BuildZip(pickletest.WithDataPkl(pickletest.LaughsPkl()), nil, nil)
	for name, b := range cases {
		rep, err := scanBytes(t, b, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if rep.Verdict != scan.VerdictDangerous || dosFindings(rep) == 0 {
			t.Errorf("%s: verdict %s, findings %v", name, rep.Verdict, rep.Findings)
		}
	}
	// Open reads the .pt's tensors, in bounded time, and shows the finding
	b := cases["laughs.pt"]
	ck, err := loader.Open(bytes.NewReader(b), int64(len(b)), "laughs.pt")
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.Tensors) != 2 || ck.Pickle.Verdict() != scan.VerdictDangerous {
		t.Errorf("%d tensors, verdict %s", len(ck.Tensors), ck.Pickle.Verdict())
	}
}

// A tuple that expands to a billion elements used as a dict key: CPython
// hashes it inside pickle.load. Also when the key is built top-down (the
// containers exist before they are filled), which a running count misses.
func TestScanHashedKeyExpansion(t *testing.T) {
	p := pickletest.NewP(2).Op('}').Short("x")
	for i := 0; i < 9; i++ {
		p.Put(byte(i)).Op('0', '(')
		for k := 0; k < 10; k++ {
			p.Get(byte(i))
		}
		p.Op('t')
	}
	b := p.Op('N', 's').Stop()
	rep, err := scanBytes(t, b, "key.pkl")
	if err != nil {
		t.Fatal(err)
	}
	if dosFindings(rep) == 0 || !strings.Contains(strings.Join(rep.PickleReport().Findings, "\n"), "hash") {
		t.Errorf("findings %v", rep.Findings)
	}
	// top-down: nine empty lists, then each filled with ten references to
	// the next, the last with a string; the root is the first
	p = pickletest.NewP(2)
	for i := 0; i < 9; i++ {
		p.Op(']').Put(byte(i)).Op('0')
	}
	for i := 0; i < 9; i++ {
		p.Get(byte(i)).Op('(')
		for k := 0; k < 10; k++ {
			if i == 8 {
				p.Short("lol")
			} else {
				p.Get(byte(i + 1))
			}
		}
		p.Op('e', '0')
	}
	rep, err = scanBytes(t, p.Get(0).Stop(), "topdown.pkl")
	if err != nil || dosFindings(rep) == 0 {
		t.Errorf("top-down laughs: %v %v", err, rep.Findings)
	}
}

// Containers CPython cannot build (a dict as its own key, a set holding
// itself) and containers that hold themselves are findings, not benign.
func TestScanSelfReference(t *testing.T) {
	for name, c := range map[string]struct {
		pickle []byte
		want   string
	}{
		"dict own key":     {pickletest.NewP(2).Op('}').Put(0).Get(0).Op('N', 's').Stop(), "cannot hash"},
		"set holds itself": {pickletest.NewP(4).Op(0x8f).Put(0).Op('(').Get(0).Op(0x90).Stop(), "cannot hash"},
		"list holds itself": {func() []byte {
			p := pickletest.NewP(4).Op(']', 0x94)
			for i := 0; i < 60; i++ {
				p.Get(0).Op('a')
			}
			return p.Stop()
		}(), "holds itself"},
	} {
		rep, err := scanBytes(t, c.pickle, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if rep.Verdict != scan.VerdictUnknown || !strings.Contains(strings.Join(rep.PickleReport().Findings, "\n"), c.want) {
			t.Errorf("%s: verdict %s, findings %v", name, rep.Verdict, rep.Findings)
		}
	}
}

// Sharing that real checkpoints have — tensors viewing one storage, a
// memoized global used for every tensor, a list of a hundred numbers — is
// not amplification.
func TestScanNoFalseExpansion(t *testing.T) {
	p := pickletest.NewP(2).Op(']').Put(0).Op('(')
	for i := 0; i < 100; i++ {
		p.Op('K', byte(i))
	}
	b := p.Op('e').Stop()
	for name, b := range map[string][]byte{"list": b, "state dict": pickletest.BenignPkl()} {
		rep, err := scanBytes(t, b, name)
		if err != nil || rep.Verdict != scan.VerdictSafe || len(rep.Findings) != 0 {
			t.Errorf("%s: %v %+v", name, err, rep)
		}
	}
}
