package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/pickletest"
)

// evilName would set the terminal title, clear the screen and forge a
// line if it reached a terminal raw; the bidi override and the invalid
// byte would reorder or garble what follows.
const evilName = "blocks.0\x1b]0;X\x07\x1b[2J\nFAKE LINE: safety SAFE\u202e\xff"

// rawTerminalBytes reports the first thing in out a terminal must not
// receive raw: a control character other than a line break or tab, a bidi
// control, invalid UTF-8, or the forged line at the start of a line.
func rawTerminalBytes(out string) string {
	for i, r := range out {
		if r == '\n' || r == '\t' {
			continue
		}
		if unsafeRune(r) || r == 0xfffd && strings.HasPrefix(out[i:], "\xff") {
			return out[max(0, i-20):min(len(out), i+20)]
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "FAKE LINE") {
			return l
		}
	}
	return ""
}

// A tensor name full of escape sequences prints escaped in inspect, diff,
// convert and scan; --json keeps it exact.
func TestTerminalEscapes(t *testing.T) {
	dir := t.TempDir()
	var st bytes.Buffer
	srcs := []loader.Source{
		loader.BytesSource(evilName, tensor.F32, []int{2}, make([]byte, 8)),
		loader.BytesSource("y_embedder.weight", tensor.F32, []int{2}, make([]byte, 8)),
	}
	// A safetensors header is JSON: the invalid byte can only arrive as
	// U+FFFD (the writer refuses names that are not UTF-8).
	stSrcs := []loader.Source{
		loader.BytesSource(strings.ToValidUTF8(evilName, "\ufffd"), tensor.F32, []int{2}, make([]byte, 8)),
		srcs[1],
	}
	if err := loader.WriteSafetensors(&st, stSrcs, map[string]string{"note\x1b[2J": "value\nFAKE LINE"}); err != nil {
		t.Fatal(err)
	}
	sf := filepath.Join(dir, "evil.safetensors")
	os.WriteFile(sf, st.Bytes(), 0o644)
	var pt bytes.Buffer
	if err := loader.WriteTorch(&pt, srcs, loader.TorchOptions{}); err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(dir, "evil.pt")
	os.WriteFile(pf, pt.Bytes(), 0o644)
	// a pickle naming a global and a zip entry with escapes in them
	pk := pickletest.NewP(2).Global("os\x1b[2J", "system\nFAKE LINE: safety SAFE").Str("x").Op(0x85, 'R').Stop()
	zf := filepath.Join(dir, "evil-global.pt")
	os.WriteFile(zf, pickletest.BuildZip(append(pickletest.BenignEntries(), pickletest.Entry{Name: "archive/\x1b[2Jx.pkl", Data: pk}), nil, nil), 0o644)

	for _, args := range [][]string{
		{"inspect", sf}, {"inspect", pf}, {"inspect", zf},
		{"diff", "--arch", "DiT-XL/2", sf}, {"diff", "--arch", "DiT-XL/2", pf},
		{"convert", sf, "-o", filepath.Join(dir, "out.safetensors"), "--fix", "none"},
		{"convert", pf, "-o", filepath.Join(dir, "out2.safetensors"), "--fix", "auto", "--arch", "DiT-XL/2"},
		{"scan", zf}, {"scan", pf},
		{"inspect", filepath.Join(dir, "missing\x1b[2J.pt")},
	} {
		code, out, errs := runCLI(t, args...)
		if bad := rawTerminalBytes(out + errs); bad != "" {
			t.Errorf("%v (exit %d): raw %q reaches the terminal", args[0], code, bad)
		}
		// (safetensors headers are JSON: the invalid byte arrives as U+FFFD)
		if args[0] == "inspect" && code == 0 && args[1] != zf && !strings.Contains(out, `blocks.0\x1b]0;X\x07\x1b[2J\nFAKE LINE: safety SAFE\u202e`) {
			t.Errorf("inspect does not show the name escaped:\n%s", out)
		}
	}
	// --json: the exact name, after JSON decoding
	code, out, _ := runCLI(t, "inspect", "--json", pf)
	var rep struct {
		Tensors []struct{ Name string } `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	found := false
	for _, tt := range rep.Tensors {
		// encoding/json writes invalid UTF-8 as U+FFFD
		found = found || tt.Name == strings.ToValidUTF8(evilName, "\ufffd")
	}
	if !found || rawTerminalBytes(out) != "" {
		t.Errorf("--json lost the name or let raw bytes through: %+v", rep.Tensors)
	}
}

// The guard keeps a rune split across writes whole.
func TestTermGuardSplitRune(t *testing.T) {
	var b bytes.Buffer
	g := newTermGuard(&b)
	s := "é\u202e→"
	for i := 0; i < len(s); i++ {
		g.Write([]byte{s[i]})
	}
	g.Flush()
	if got := b.String(); got != `é\u202e→` {
		t.Errorf("%q", got)
	}
}
