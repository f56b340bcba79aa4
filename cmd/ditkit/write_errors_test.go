//go:build linux

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// withFileSizeLimit runs fn with RLIMIT_FSIZE at n bytes: every write past
// n fails with EFBIG (Go ignores SIGXFSZ), as on a full disk.
func withFileSizeLimit(t *testing.T, n uint64, fn func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	lim := old
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	fn()
}

// Every command that writes through a temporary file names the user's
// output in its error, never the temporary file ("…/.x.safetensors.
// ditkit-569302186" or the unnamed file's placeholder): a write that
// fails midway (the file size limit standing in for a full disk), and an
// output that is a directory. Nothing is left behind, in either kind of
// temporary file.
func TestWriteErrorsNameTheOutput(t *testing.T) {
	ck, spec := fixtures.Path(t, "dit_A/ckpt_plain.pt"), specFile(t, "dit_A")
	ref := fixtures.Path(t, "dit_A/ref_sampler_ddim4.safetensors")
	dec, lat := fixtures.Path(t, "forward2/taesd/taesd_c4/taesd_decoder.safetensors"), fixtures.Path(t, "forward2/taesd/taesd_c4/ref_decode_a_fp32.safetensors")
	inputs := fixtures.Path(t, "dit_A/ref_forward_fp32.safetensors")
	commands := []struct {
		what  string
		args  func(out string) []string
		ext   string
		limit uint64 // bytes the write may take before failing (default 100)
	}{
		{"convert", func(o string) []string { return []string{"convert", ck, "-o", o} }, ".safetensors", 0},
		{"convert .pt", func(o string) []string { return []string{"convert", ck, "-o", o} }, ".pt", 0},
		{"convert .gguf", func(o string) []string { return []string{"convert", ck, "-o", o, "--quant", "Q8_0"} }, ".gguf", 0},
		{"forward", func(o string) []string { return []string{"forward", ck, "--spec", spec, "--inputs", inputs, "-o", o} }, ".safetensors", 0},
		{"sample", func(o string) []string { return []string{"sample", ck, "--spec", spec, "--steps", "2", "-o", o} }, ".png", 0},
		{"sample --latent-out", func(o string) []string {
			return []string{"sample", ck, "--spec", spec, "--steps", "2", "-o", o + ".png", "--latent-out", o}
		}, ".safetensors", 2000}, // the PNG (a few hundred bytes) fits; the latents do not
		{"preview", func(o string) []string { return []string{"preview", ck, "--spec", spec, "--steps", "2", "-o", o} }, ".png", 0},
		{"preview --latent", func(o string) []string { return []string{"preview", "--latent", ref, "-o", o} }, ".png", 0},
		{"decode", func(o string) []string { return []string{"decode", "--decoder", dec, "--latent", lat, "-o", o} }, ".png", 0},
		{"decode .safetensors", func(o string) []string { return []string{"decode", "--decoder", dec, "--latent", lat, "-o", o} }, ".safetensors", 0},
	}
	for _, anon := range []bool{true, false} {
		anonTemp = anon
		t.Cleanup(func() { anonTemp = true })
		for _, c := range commands {
			dir := t.TempDir()
			out := filepath.Join(dir, "out"+c.ext)
			check := func(how string, code int, errs string) {
				t.Helper()
				if lines := strings.SplitAfter(strings.TrimSuffix(errs, "\n"), "\n"); how != "a directory" {
					errs = lines[len(lines)-1] + "\n" // after the sampler's progress lines
				}
				if code != 2 || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "ditkit: "+out+": ") {
					t.Errorf("%s (%s, anon %v): exit %d, stderr %q; want one line naming %s", c.what, how, anon, code, errs, out)
				}
				for _, bad := range []string{".ditkit-", "(unnamed output)"} {
					if strings.Contains(errs, bad) {
						t.Errorf("%s (%s, anon %v): the error names the temporary file: %q", c.what, how, anon, errs)
					}
				}
			}
			var code int
			var errs string
			withFileSizeLimit(t, max(c.limit, 100), func() { code, _, errs = runCLI(t, c.args(out)...) })
			check("write fails", code, errs)
			if !strings.Contains(errs, "file too large") || !strings.Contains(errs, "nothing was written") {
				t.Errorf("%s (anon %v): %q does not say why or that nothing was written", c.what, anon, errs)
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 && !(c.what == "sample --latent-out" && len(left) == 1) {
				t.Errorf("%s (anon %v): left behind %v", c.what, anon, left)
			}
			os.RemoveAll(dir)
			os.MkdirAll(filepath.Join(out, "x"), 0o755) // the output is a directory
			code, _, errs = runCLI(t, c.args(out)...)
			check("a directory", code, errs)
			if !strings.Contains(errs, "is a directory") {
				t.Errorf("%s (anon %v): %q", c.what, anon, errs)
			}
		}
	}
}

// The cause of a failed write stays wrapped under the rewritten message.
func TestOutputErrorKeepsTheCause(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.safetensors")
	var err error
	withFileSizeLimit(t, 10, func() {
		err = writeSafetensors(out, []namedTensor{{"x", tensor.F32, []int{64}, make([]float32, 64)}}, nil)
	})
	if err == nil || !errors.Is(err, syscall.EFBIG) || strings.Contains(err.Error(), ".ditkit-") {
		t.Fatalf("error %v (EFBIG wrapped: %v)", err, errors.Is(err, syscall.EFBIG))
	}
}
