package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/testfixtures"
)

// static/vugu-render.js must be the script vugu's domrender would eval (the
// CSP forbids eval, so the page loads it as a file instead). A vugu upgrade
// that changes the script fails here until the file is refreshed.
func TestVuguHelperMatchesModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/vugu/vugu").Output()
	if err != nil {
		testfixtures.Missing(t, "the vugu module source (go list -m github.com/vugu/vugu: %v)", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "domrender", "renderer-js-script.go")
	f, err := parser.ParseFile(token.NewFileSet(), src, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && vs.Names[0].Name == "jsHelperScript" {
			want, _ = strconv.Unquote(vs.Values[0].(*ast.BasicLit).Value)
		}
		return true
	})
	if want == "" {
		t.Fatalf("%s: no jsHelperScript", src)
	}
	got, err := os.ReadFile("static/vugu-render.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(got), "\n"+want) {
		t.Fatalf("static/vugu-render.js differs from %s's jsHelperScript: refresh it", src)
	}
}
