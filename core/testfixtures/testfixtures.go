// Package testfixtures finds what ditkit's tests check against and drive:
// the shared folder beside the module (../shared: fixtures/ written by real
// PyTorch, docs/ with exact key lists) and tools such as a python3 with
// torch. It imports nothing of ditkit, so tests in every package, core's
// included, use it; loader/fixtures builds its manifest readers on it.
//
// It is the one place a test goes when something it needs is missing
// (Missing): on a developer's machine the test skips, saying what is
// missing and where it was looked for; when CI is set, or
// DITKIT_REQUIRE_FIXTURES=1, the test fails instead, so CI never passes by
// testing nothing.
package testfixtures

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Required reports whether missing fixtures and tools fail tests rather
// than skip them: CI is set (to anything but "", "0" or "false"), or
// DITKIT_REQUIRE_FIXTURES=1.
func Required() bool {
	switch os.Getenv("CI") {
	case "", "0", "false":
	default:
		return true
	}
	return os.Getenv("DITKIT_REQUIRE_FIXTURES") == "1"
}

// Missing ends the test for want of a fixture or a tool: it skips with
// the message, or fails with it where Required. Every test that cannot run
// for want of something outside the repository goes through here.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("missing: %s (CI or DITKIT_REQUIRE_FIXTURES=1 is set: tests fail rather than skip)", msg)
	} else {
		t.Skip("missing: " + msg)
	}
}

// SharedRoot is the shared folder: $DITKIT_SHARED, else the parent of
// $DITKIT_FIXTURES, else "shared" beside the module root (the folder
// holding go.mod, found by walking up from the working directory).
func SharedRoot(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("DITKIT_SHARED"); d != "" {
		return exists(t, d, "the shared folder ($DITKIT_SHARED)")
	}
	if d := os.Getenv("DITKIT_FIXTURES"); d != "" {
		return filepath.Dir(exists(t, d, "the shared fixtures ($DITKIT_FIXTURES)"))
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above %s: cannot place ../shared", dir)
		}
		dir = parent
	}
	return exists(t, filepath.Join(filepath.Dir(dir), "shared"), "the shared folder (../shared beside the module: fixtures/ written by PyTorch, docs/)")
}

// Root is the fixtures folder: $DITKIT_FIXTURES, else ../shared/fixtures.
func Root(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("DITKIT_FIXTURES"); d != "" {
		return exists(t, d, "the shared fixtures ($DITKIT_FIXTURES)")
	}
	return exists(t, filepath.Join(SharedRoot(t), "fixtures"), "the shared fixtures written by PyTorch")
}

// Path is rel (e.g. "dit_A/ckpt_plain.pt") under the fixtures folder; the
// file or folder must exist.
func Path(t testing.TB, rel string) string {
	t.Helper()
	return exists(t, filepath.Join(Root(t), filepath.FromSlash(rel)), "fixture "+rel)
}

// DocsRoot is the shared docs folder (key lists, param counts).
func DocsRoot(t testing.TB) string {
	t.Helper()
	return exists(t, filepath.Join(SharedRoot(t), "docs"), "the shared docs")
}

// Doc is rel (e.g. "keys/DiT-XL_2_256.txt") under the docs folder; it
// must exist.
func Doc(t testing.TB, rel string) string {
	t.Helper()
	return exists(t, filepath.Join(DocsRoot(t), filepath.FromSlash(rel)), "shared doc "+rel)
}

// TorchPython is a python3 that imports torch: $DITKIT_TORCH_PYTHON, else
// /usr/bin/python3 (Debian's python3-torch, which build.sh test installs).
func TorchPython(t testing.TB) string {
	t.Helper()
	for _, py := range []string{os.Getenv("DITKIT_TORCH_PYTHON"), "/usr/bin/python3"} {
		if py == "" {
			continue
		}
		if err := exec.Command(py, "-c", "import torch").Run(); err == nil {
			return py
		}
	}
	Missing(t, "a python3 that imports torch (tried $DITKIT_TORCH_PYTHON and /usr/bin/python3; build.sh test installs Debian's python3-torch)")
	return ""
}

// exists returns path, or ends the test through Missing naming what and where.
func exists(t testing.TB, path, what string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		abs, _ := filepath.Abs(path)
		Missing(t, "%s: %s not found", what, abs)
	}
	return path
}
