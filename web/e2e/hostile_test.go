package e2e

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostilePickleZip is a torch zip whose pickle calls posix.system("id") when
// torch.load(weights_only=False) opens it. ditkit never runs it.
func hostilePickleZip(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	pk := []byte("\x80\x02}q\x00(X\x04\x00\x00\x00evilq\x01cposix\nsystem\nq\x02X\x02\x00\x00\x00idq\x03\x85q\x04Rq\x05u.")
	for _, e := range []struct {
		name string
		data []byte
	}{{"hostile/data.pkl", pk}, {"hostile/byteorder", []byte("little")}, {"hostile/version", []byte("3\n")}} {
		w, err := z.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A plain pickle (no checkpoint) that calls os.system: the page refuses to
// read it, says why in the CLI's words, and shows the red banner with the
// verdict worded as `ditkit scan` words it. A benign plain pickle gets its
// verdict shown without the banner.
func TestPlainPickleBanner(t *testing.T) {
	ctx := page(t)
	dir := t.TempDir()
	evil := filepath.Join(dir, "payload.pkl")
	// PROTO 2, GLOBAL os.system, BINUNICODE "echo ditkit", TUPLE1, REDUCE, STOP
	pk := []byte("\x80\x02cos\nsystem\nX\x0b\x00\x00\x00echo ditkit\x85R.")
	if err := os.WriteFile(evil, pk, 0o644); err != nil {
		t.Fatal(err)
	}
	drop(t, ctx, evil)
	waitJS(t, ctx, `!!document.querySelector("#danger")`, "the danger banner")
	banner := text(t, ctx, "#danger")
	out, _, code := cli(t, dir, "scan", "payload.pkl")
	var verdict string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "verdict:  "); ok {
			verdict = v
		}
	}
	if code != 1 || verdict == "" || !strings.HasPrefix(banner, verdict) {
		t.Errorf("banner %q does not open with `ditkit scan`'s verdict %q (exit %d)", banner, verdict, code)
	}
	if !strings.Contains(banner, "os.system") || strings.Contains(banner, "DANGEROUS — DANGEROUS") || strings.Contains(banner, ");") || strings.HasSuffix(banner, ";") {
		t.Errorf("banner %q", banner)
	}
	waitJS(t, ctx, `document.querySelector("#error:not([hidden])")?.textContent.includes("payload.pkl")`, "the reader's error")
	_, stderr, _ := cli(t, dir, "inspect", "payload.pkl")
	if got := text(t, ctx, "#error"); got != strings.TrimSpace(stderr) {
		t.Errorf("page error %q, CLI %q", got, stderr)
	}
	shot(t, ctx, "plain-pickle-banner")

	benign := filepath.Join(dir, "list.pkl")
	os.WriteFile(benign, []byte("\x80\x02]q\x00(K\x01K\x02e."), 0o644)
	drop(t, ctx, benign)
	waitJS(t, ctx, `document.querySelector("#scan-verdict")?.textContent.startsWith("safety: SAFE")`, "the benign pickle's verdict")
	if js[bool](t, ctx, `!!document.querySelector("#danger")`) {
		t.Errorf("a benign pickle shows the danger banner")
	}
}
