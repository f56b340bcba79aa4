package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMain lets tests run the CLI as a child process: the test binary
// acts as ditkit when DITKIT_TEST_CLI=1.
func TestMain(m *testing.M) {
	if os.Getenv("DITKIT_TEST_CLI") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// A conversion interrupted mid-write (SIGINT) removes its temporary file,
// says so and exits 130: nothing is left beside OUT.
func TestConvertInterruptedLeavesNothing(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	lines := convertAndSignal(t, os.Interrupt, 130)
	if last := lines[len(lines)-1]; !strings.Contains(last, "interrupted") || !strings.Contains(last, "nothing was written") {
		t.Fatalf("last stderr line %q does not say the write was interrupted and dropped", last)
	}
}

// Killed outright (SIGKILL: no handler runs), a conversion still leaves
// nothing where the output is an unnamed O_TMPFILE file until commit.
func TestConvertKilledLeavesNothing(t *testing.T) {
	f, err := openAnon(t.TempDir())
	if err != nil {
		t.Skipf("no unnamed temporary files here (%v): a killed conversion leaves its hidden temp file", err)
	}
	f.Close()
	convertAndSignal(t, os.Kill, -1)
}

// convertAndSignal converts a 3 GB sparse checkpoint in a child process,
// sends sig at its first progress line, checks the exit code (-1: killed
// by the signal) and that the output directory stayed empty; it returns
// the child's stderr lines.
func convertAndSignal(t *testing.T, sig os.Signal, wantCode int) []string {
	dir := t.TempDir()
	in := filepath.Join(dir, "big.safetensors")
	// One 3 GB F32 tensor in a sparse file: its data reads as zero pages.
	const n = 750_000_000
	hdr := `{"w":{"dtype":"F32","shape":[750000000],"data_offsets":[0,3000000000]}}`
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	binary.Write(f, binary.LittleEndian, uint64(len(hdr)))
	f.WriteString(hdr)
	if err := f.Truncate(int64(8 + len(hdr) + 4*n)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o755)
	cmd := exec.Command(os.Args[0], "convert", in, "-o", filepath.Join(outDir, "x.safetensors"), "--dtype", "bf16")
	cmd.Env = append(os.Environ(), "DITKIT_TEST_CLI=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var lines []string
	signalled := false
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if !signalled && strings.Contains(sc.Text(), "%") { // the first progress line: mid-write
			cmd.Process.Signal(sig)
			signalled = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !signalled || !errors.As(err, &ee) || ee.ExitCode() != wantCode {
		t.Fatalf("signalled=%v, exit: %v; stderr:\n%s", signalled, err, strings.Join(lines, "\n"))
	}
	if left, _ := os.ReadDir(outDir); len(left) != 0 {
		t.Fatalf("files left behind: %v", left)
	}
	return lines
}
