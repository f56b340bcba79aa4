package testfixtures

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test would have ended.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Fatal(args ...any)            { r.failed = strings.TrimSpace(sprint(args)) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed = sprintf(f, args...) }
func (r *recorder) Skip(args ...any)             { r.skipped = strings.TrimSpace(sprint(args)) }
func (r *recorder) Skipf(f string, args ...any)  { r.skipped = sprintf(f, args...) }

func TestRequired(t *testing.T) {
	for _, c := range []struct {
		ci, req string
		want    bool
	}{{"", "", false}, {"true", "", true}, {"1", "", true}, {"false", "", false}, {"0", "", false}, {"", "1", true}, {"", "0", false}, {"false", "1", true}} {
		t.Setenv("CI", c.ci)
		t.Setenv("DITKIT_REQUIRE_FIXTURES", c.req)
		if got := Required(); got != c.want {
			t.Errorf("CI=%q DITKIT_REQUIRE_FIXTURES=%q: Required() = %v", c.ci, c.req, got)
		}
	}
}

// In a module with no shared folder beside it, the locator skips on a
// developer's machine and fails under CI, naming the path it looked at.
func TestMissingSharedFailsUnderCI(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "repo")
	if err := os.MkdirAll(filepath.Join(mod, "core"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(mod, "core"))
	t.Setenv("DITKIT_FIXTURES", "")
	t.Setenv("DITKIT_SHARED", "")
	want := filepath.Join(dir, "shared")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		t.Setenv("DITKIT_REQUIRE_FIXTURES", "")
		r := &recorder{TB: t}
		Root(r)
		msg := r.skipped
		if ci != "" {
			msg = r.failed
		}
		if msg == "" || (ci != "" && r.skipped != "") || (ci == "" && r.failed != "") {
			t.Fatalf("CI=%q: failed %q, skipped %q", ci, r.failed, r.skipped)
		}
		if !strings.Contains(msg, want) {
			t.Errorf("CI=%q: message %q does not name %s", ci, msg, want)
		}
	}
}

// A fixture that is absent is named, under a root that exists.
func TestPathNamesTheMissingFixture(t *testing.T) {
	root := t.TempDir()
	t.Setenv("DITKIT_FIXTURES", root)
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	if got := Path(r, "dit_A/nope.pt"); got != filepath.Join(root, "dit_A", "nope.pt") {
		t.Fatalf("Path = %q", got)
	}
	if !strings.Contains(r.failed, "fixture dit_A/nope.pt") || !strings.Contains(r.failed, filepath.Join(root, "dit_A", "nope.pt")) {
		t.Fatalf("failure %q", r.failed)
	}
}

func sprint(args []any) string             { return fmt.Sprintln(args...) }
func sprintf(f string, args ...any) string { return fmt.Sprintf(f, args...) }
