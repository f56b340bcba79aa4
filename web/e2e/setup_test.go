// Package e2e drives the page in real headless Chromium (chromedp): it
// builds the wasm and the CLI from this checkout, serves the page with the
// same http.Handler as `ditkit serve`, drops fixture files on the drop zone
// and compares what the page shows and downloads with what the CLI prints
// and writes. Screenshots of every stage go to testdata-out/e2e/ (or
// $DITKIT_E2E_ARTIFACTS). Tests skip only when no Chromium can be found;
// ./build.sh test installs it when missing.
package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ditkit/ditkit/core/testfixtures"
	"github.com/ditkit/ditkit/web"
	"github.com/ditkit/ditkit/web/internal/gen/demo"
)

var (
	skipReason string // set when Chromium cannot be found
	siteURL    string
	siteDir    string // the built page (static files, wasm, demo)
	cliPath    string // the CLI built from this checkout
	repoRoot   string
	artifacts  string
	browserCtx context.Context
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	wd, _ := os.Getwd()
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	tmp, err := os.MkdirTemp("", "ditkit-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	site := filepath.Join(tmp, "site")
	siteDir = site
	if err := buildSite(site); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build the page:", err)
		return 1
	}
	cliPath = filepath.Join(tmp, "ditkit")
	if err := goCmd(nil, "build", "-o", cliPath, "./cmd/ditkit"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build the CLI:", err)
		return 1
	}
	srv := httptest.NewServer(web.NewFS(os.DirFS(site)))
	defer srv.Close()
	siteURL = srv.URL + "/"

	artifacts = os.Getenv("DITKIT_E2E_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(repoRoot, "testdata-out", "e2e")
	}
	os.MkdirAll(artifacts, 0o755)

	chrome := findChromium()
	if chrome == "" {
		skipReason = "no Chromium found (looked for $DITKIT_CHROMIUM, chromium, chromium-browser, google-chrome); ./build.sh test installs it"
		return m.Run()
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("enable-unsafe-webgpu", true), // SwiftShader WebGPU (webgpu_test.go)
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(filepath.Join(tmp, "profile")),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		fmt.Fprintln(os.Stderr, "e2e: start Chromium:", err)
		return 1
	}
	browserCtx = bctx
	return m.Run()
}

func findChromium() string {
	if p := os.Getenv("DITKIT_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

func goCmd(env []string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// buildSite assembles the page as build.sh does, from this checkout: the
// committed static files, a fresh ditkit.wasm (+ .gz), wasm_exec.js and the
// demo checkpoint.
func buildSite(dir string) error {
	static := filepath.Join(repoRoot, "web", "static")
	if err := os.CopyFS(dir, os.DirFS(static)); err != nil {
		return err
	}
	wasm := filepath.Join(dir, "ditkit.wasm")
	os.Remove(wasm + ".br") // build.sh's, of another build: the handler would prefer it
	if err := goCmd([]string{"GOOS=js", "GOARCH=wasm"}, "build", "-trimpath", "-ldflags", "-s -w", "-o", wasm, "./wasm"); err != nil {
		return err
	}
	raw, err := os.ReadFile(wasm)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(wasm+".gz", gz.Bytes(), 0o644); err != nil {
		return err
	}
	wexec, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), wexec, 0o644); err != nil {
		return err
	}
	demoPath := filepath.Join(dir, filepath.FromSlash(demo.FileName))
	os.MkdirAll(filepath.Dir(demoPath), 0o755)
	f, err := os.Create(demoPath)
	if err != nil {
		return err
	}
	if err := demo.Write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// page opens the page in a new tab and waits for window.ditkit.ready.
func page(t *testing.T) context.Context {
	t.Helper()
	return pageAt(t, siteURL)
}

func pageAt(t *testing.T, url string) context.Context {
	t.Helper()
	if skipReason != "" {
		testfixtures.Missing(t, "%s", skipReason)
	}
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelT)
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.ditkit.ready`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("ditkit.ready: %v", err)
	}
	waitJS(t, ctx, `!!document.querySelector("#drop")`, "the drop zone")
	return ctx
}

// js evaluates expr (awaiting a promise) and decodes the result into T.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitJS polls expr until it is true.
func waitJS(t *testing.T, ctx context.Context, expr, what string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			shot(t, ctx, "timeout-"+safeName(what))
			t.Fatalf("timed out waiting for %s (%s); status: %q, error: %q", what, expr,
				text(t, ctx, "#status"), text(t, ctx, "#error"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||""`, sel)))
	return s
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

// shot saves a full-page screenshot as an artifact.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(artifacts, safeName(t.Name())+"-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

// drop drops files on the drop zone the way a user's drag does: a DataTransfer
// holding real File objects (set through a file input the test adds) in a
// drop event on #drop.
func drop(t *testing.T, ctx context.Context, paths ...string) {
	t.Helper()
	js[bool](t, ctx, `(() => {
		if (!document.getElementById("e2e-src")) {
			const i = document.createElement("input");
			i.type = "file"; i.multiple = true; i.id = "e2e-src"; i.hidden = true;
			document.body.append(i);
		}
		return true })()`)
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#e2e-src"), paths)); err != nil {
		t.Fatal(err)
	}
	js[bool](t, ctx, `(() => {
		const dt = new DataTransfer();
		for (const f of document.getElementById("e2e-src").files) dt.items.add(f);
		const zone = document.getElementById("drop");
		zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
		zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		return true })()`)
}

// cli runs the CLI in dir (so that file names in messages match the page's).
func cli(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(cliPath, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func jsonEqual(a, b []byte) (bool, error) {
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, &y); err != nil {
		return false, err
	}
	ax, _ := json.Marshal(x)
	bx, _ := json.Marshal(y)
	return bytes.Equal(ax, bx), nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
