package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Counts agree with their nouns ("1 finding", "1 step", "1 tensor", "1
// finding remains"), never "(s)"; the verdict line comes first, in
// core/diff's words; inspect prints the detected spec as JSON.
func TestWordingPlurals(t *testing.T) {
	dir := t.TempDir()
	ck := fixtures.Path(t, "dit_A/ckpt_plain.pt")
	errText, other := filepath.Join(dir, "err.txt"), filepath.Join(dir, "err1152.txt")
	os.WriteFile(errText, []byte(stditError), 0o644)
	os.WriteFile(other, []byte(stditError1152), 0o644)

	var all []string
	_, out, _ := runCLI(t, "diff", ck, "--error-text", errText)
	all = append(all, out)
	for _, want := range []string{"\n1 finding: 1 shape mismatch\n", "\n[shape mismatch] 1 key\n", "\nplan (1 step; "} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(out, "partial: the error text lists only 1 key") {
		t.Errorf("diff does not start with the verdict: %q", out[:min(len(out), 80)])
	}

	code, out, errs := runCLI(t, "convert", ck, "--error-text", other, "-o", filepath.Join(dir, "w.safetensors"))
	all = append(all, out)
	if code != 0 || !strings.HasPrefix(out, "wrong file: this error was produced by a different checkpoint") || !strings.Contains(out, ": 1 finding remains (see ditkit diff on the output)") {
		t.Errorf("convert with another checkpoint's error: exit %d, %q %q", code, out, errs)
	}

	one := filepath.Join(dir, "one.safetensors")
	if err := writeSafetensors(one, []namedTensor{{"w", tensor.F32, []int{2, 3}, make([]float32, 6)}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, out, errs := runCLI(t, "convert", one, "-o", filepath.Join(dir, "one.pt")); !strings.Contains(out, "(pt, 1 tensor, ") {
		t.Errorf("convert of one tensor: %q %q", out, errs)
	}

	_, out, _ = runCLI(t, "inspect", fixtures.Path(t, "dit_A/ckpt_stdit_layout.pt"))
	if !strings.Contains(out, `  spec: {"family":"dit",`) {
		t.Errorf("inspect does not print the detected spec as JSON:\n%s", out)
	}
	for _, o := range append(all, out) {
		if strings.Contains(o, "(s)") {
			t.Errorf("a count with (s): %s", o)
		}
	}
}
