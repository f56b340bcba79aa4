package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

var hostileDir = filepath.Join("..", "..", "loader", "scan", "testdata", "hostile")

func TestScanExitCodes(t *testing.T) {
	for _, rel := range fixtures.Checkpoints(t) {
		code, out, errs := runCLI(t, "scan", fixtures.Path(t, rel))
		if code != 0 {
			t.Errorf("%s: exit %d\n%s%s", rel, code, out, errs)
		}
		want := "SAFE"
		if strings.HasSuffix(rel, "ckpt_train.pt") {
			want = "BENIGN"
		}
		if !strings.Contains(out, "verdict:  "+want) {
			t.Errorf("%s: want %s:\n%s", rel, want, out)
		}
	}
	des, err := os.ReadDir(hostileDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range des {
		p := filepath.Join(hostileDir, d.Name())
		code, out, errs := runCLI(t, "scan", p)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s%s", d.Name(), code, out, errs)
		}
	}
	dir := t.TempDir()
	bad := map[string][]byte{"empty.pt": nil, "text.pt": []byte("hello world, not a checkpoint\n"), "trunc.pt": []byte("PK\x03\x04\x14\x00")}
	for name, b := range bad {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		code, out, errs := runCLI(t, "scan", p, "--json")
		if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, name) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", name, code, out, errs)
		}
	}
	if code, _, _ := runCLI(t, "scan", filepath.Join(dir, "missing.pt")); code != 2 {
		t.Errorf("missing file: exit %d", code)
	}
	if code, _, _ := runCLI(t, "scan"); code != 2 {
		t.Errorf("no file: exit %d", code)
	}
}

func TestScanJSON(t *testing.T) {
	code, out, errs := runCLI(t, "scan", "--json", filepath.Join(hostileDir, "zip_extra_pkl_entry.pt"))
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		File    string `json:"file"`
		Format  string `json:"format"`
		Verdict string `json:"verdict"`
		Globals []struct {
			Module, Name, Opcode, Pickle, Verdict string
			Offset                                int64
			Called                                bool
		} `json:"globals"`
		Findings []struct{ Severity, Message string } `json:"findings"`
		Pickles  []struct{ Name string }              `json:"pickles"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Format != "torch-zip" || got.Verdict != "dangerous" || len(got.Pickles) != 2 || got.File == "" {
		t.Fatalf("%+v", got)
	}
	found := false
	for _, g := range got.Globals {
		if g.Module == "os" && g.Name == "system" && g.Called && g.Pickle == "archive/extra.pkl" && g.Verdict == "dangerous" && g.Opcode == "GLOBAL" {
			found = true
		}
	}
	if !found {
		t.Errorf("os.system in archive/extra.pkl not reported: %+v", got.Globals)
	}
	// inspect reads the weights and shows the same verdict
	code, out, _ = runCLI(t, "inspect", filepath.Join(hostileDir, "zip_extra_pkl_entry.pt"))
	if code != 0 || !strings.Contains(out, "safety:       DANGEROUS") {
		t.Errorf("inspect: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "inspect", filepath.Join(hostileDir, "zip_local_name_mismatch.pt"))
	if code != 0 || !strings.Contains(out, "safety:       DANGEROUS") || !strings.Contains(out, "local header names it") {
		t.Errorf("inspect of a zip trick: exit %d\n%s", code, out)
	}
}

// Every truncation point and seeded random mutations of small files of each
// format go through inspect and scan: no panic, no hang, and a rejection is
// exit 2 with one line naming the file.
func TestCLISweep(t *testing.T) {
	seeds := map[string][]byte{}
	for _, name := range []string{"zip_extra_pkl_entry.pt", "legacy_malicious_object.pt", "polyglot_legacy_tar.pt", "global_os_system.pkl"} {
		b, err := os.ReadFile(filepath.Join(hostileDir, name))
		if err != nil {
			t.Fatal(err)
		}
		seeds[name] = b
	}
	var st bytes.Buffer
	if err := loader.WriteSafetensors(&st, []loader.Source{loader.BytesSource("w", tensor.F32, []int{2}, make([]byte, 8))}, nil); err != nil {
		t.Fatal(err)
	}
	seeds["tiny.safetensors"] = st.Bytes()
	dir := t.TempDir()
	p := filepath.Join(dir, "sweep.pt")
	check := func(what string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"inspect", "scan"} {
			start := time.Now()
			code, _, errs := runCLI(t, cmd, p)
			if d := time.Since(start); d > hangGuard {
				t.Fatalf("%s %s: %v", cmd, what, d)
			}
			if code < 0 || code > 2 || (code == 2 && (strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "sweep.pt"))) {
				t.Fatalf("%s %s: exit %d, stderr %q", cmd, what, code, errs)
			}
		}
	}
	r := rand.New(rand.NewSource(7))
	nMut := 400
	if testing.Short() {
		nMut = 40
	}
	for _, name := range []string{"global_os_system.pkl", "legacy_malicious_object.pt", "polyglot_legacy_tar.pt", "tiny.safetensors", "zip_extra_pkl_entry.pt"} {
		orig := seeds[name]
		step := 1
		if testing.Short() {
			step = 13
		}
		for cut := 0; cut < len(orig); cut += step {
			check(fmt.Sprintf("%s cut at %d", name, cut), orig[:cut])
		}
		for i := 0; i < nMut; i++ {
			b := bytes.Clone(orig)
			for k := 1 + r.Intn(4); k > 0; k-- {
				b[r.Intn(len(b))] = byte(r.Intn(256))
			}
			check(fmt.Sprintf("%s mutation %d", name, i), b)
		}
	}
}

// hangGuard catches a command that loops or blows up on damaged input; it
// is not a speed target (those live in benchmarks).
const hangGuard = 30 * time.Second
