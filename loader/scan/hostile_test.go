package scan_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/pickletest"
	"github.com/ditkit/ditkit/loader/scan"
)

var hostileDir = filepath.Join("testdata", "hostile")

// The committed corpus is exactly what the generators write.
func TestHostileCorpusCommitted(t *testing.T) {
	c := pickletest.Hostile()
	if os.Getenv("DITKIT_WRITE_HOSTILE") == "1" {
		os.RemoveAll(hostileDir)
		if err := os.MkdirAll(hostileDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range c {
			if err := os.WriteFile(filepath.Join(hostileDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	des, err := os.ReadDir(hostileDir)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, d := range des {
		onDisk = append(onDisk, d.Name())
		want, ok := c[d.Name()]
		if !ok {
			t.Errorf("%s is committed but no generator writes it", d.Name())
			continue
		}
		got, _ := os.ReadFile(filepath.Join(hostileDir, d.Name()))
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its generator (regenerate with DITKIT_WRITE_HOSTILE=1)", d.Name())
		}
	}
	if len(onDisk) != len(c) {
		t.Errorf("%d files committed, %d generated", len(onDisk), len(c))
	}
}

// honestlyUnknown are hostile files whose honest verdict is unknown (they
// are still flagged: scan exits 1): nothing in them names code, but nothing
// PyTorch writes looks like them either.
var honestlyUnknown = map[string]bool{
	"proto5_next_buffer.pt": true, // out-of-band buffers torch.load cannot supply
	"polyglot_7z_header.7z": true, // contents cannot be scanned
	"zip_odd_flag_bits.pt":  true, // flag bits that no reader agrees on
}

// Every hostile file is flagged (dangerous, or unknown where that is the
// honest verdict), by Scan and by Open's report when Open can read it.
func TestHostileCorpusFlagged(t *testing.T) {
	des, err := os.ReadDir(hostileDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range des {
		names = append(names, d.Name())
	}
	sort.Strings(names)
	if len(names) < 40 {
		t.Fatalf("only %d hostile files", len(names))
	}
	for _, name := range names {
		b, _ := os.ReadFile(filepath.Join(hostileDir, name))
		rep, err := scanBytes(t, b, name)
		if err != nil {
			t.Errorf("%s: scan failed: %v", name, err)
			continue
		}
		want := scan.VerdictDangerous
		if honestlyUnknown[name] {
			want = scan.VerdictUnknown
		}
		if rep.Verdict != want {
			t.Errorf("%s: verdict %s, want %s\n  globals %v\n  findings %v", name, rep.Verdict, want, rep.Globals, rep.Findings)
		}
		if ck, err := loader.Open(bytes.NewReader(b), int64(len(b)), name); err == nil {
			if v := ck.Pickle.Verdict(); v != rep.Verdict {
				t.Errorf("%s: Open's verdict %s, scan's %s", name, v, rep.Verdict)
			}
		}
	}
}

// The hand-written benign zip is a checkpoint Open reads, and safe.
func TestHostileBaseIsBenign(t *testing.T) {
	b := pickletest.BuildZip(pickletest.BenignEntries(), nil, nil)
	ck, err := loader.Open(bytes.NewReader(b), int64(len(b)), "base.pt")
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.Tensors) != 2 || ck.Pickle.Verdict() != scan.VerdictSafe {
		t.Fatalf("%d tensors, verdict %s, findings %v", len(ck.Tensors), ck.Pickle.Verdict(), ck.Pickle.Findings)
	}
}
