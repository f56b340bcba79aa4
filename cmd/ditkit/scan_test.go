package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

var hostileDir = filepath.Join("..", "..", "loader", "testdata", "hostile")

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
