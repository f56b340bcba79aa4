package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ditkit/ditkit/core/testfixtures"
	"github.com/ditkit/ditkit/web"
)

// The page as a Cloudflare Worker, run locally (offline) with wrangler dev:
// assets come with the handler's security headers, the wasm as
// application/wasm, and what no asset matches reaches the Go handler
// (syumai/workers), which refuses uploads. Then Chromium loads the page
// from the Worker and the wasm starts.
func TestWorkerWithWranglerDev(t *testing.T) {
	wrangler := filepath.Join(repoRoot, "web", "worker", "node_modules", ".bin", "wrangler")
	if _, err := os.Stat(wrangler); err != nil {
		testfixtures.Missing(t, "wrangler at %s (./build.sh worker or ./build.sh test runs npm ci in web/worker)", wrangler)
	}
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		testfixtures.Missing(t, "node (wrangler runs on it): %v", err)
	}
	var major int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "v%d", &major); err != nil || major < 20 {
		testfixtures.Missing(t, "node >= 20 for wrangler 4.86, found %s", strings.TrimSpace(string(out)))
	}
	dir := t.TempDir()
	build := filepath.Join(dir, "build")
	tool := exec.Command("go", "tool", "workers-assets-gen", "-mode=go", "-o", build)
	tool.Dir = repoRoot
	if out, err := tool.CombinedOutput(); err != nil {
		t.Fatalf("workers-assets-gen: %v\n%s", err, out)
	}
	if err := goCmd([]string{"GOOS=js", "GOARCH=wasm"}, "build", "-trimpath", "-tags", "ditkit_noassets", "-ldflags", "-s -w",
		"-o", filepath.Join(build, "app.wasm"), "./web/worker"); err != nil {
		t.Fatal(err)
	}
	assets := filepath.Join(build, "assets")
	if err := os.CopyFS(assets, os.DirFS(siteDir)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(assets, "ditkit.wasm.gz"))
	os.Remove(filepath.Join(assets, "ditkit.wasm.br"))
	os.WriteFile(filepath.Join(assets, "_headers"), []byte(web.HeadersFile()), 0o644)
	cfg, err := os.ReadFile(filepath.Join(repoRoot, "web", "worker", "wrangler.jsonc"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "wrangler.jsonc"), cfg, 0o644)

	port := freePort(t)
	var logs bytes.Buffer
	cmd := exec.Command(wrangler, "dev", "--ip", "127.0.0.1", "--port", fmt.Sprint(port), "--local", "--show-interactive-dev-session=false")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WRANGLER_SEND_METRICS=false", "CI=true", "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("wrangler dev did not answer in 90 s:\n%s", logs.String())
		}
		time.Sleep(300 * time.Millisecond)
	}

	get := func(method, path string) (*http.Response, []byte) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(""))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	checkHeaders := func(what string, h http.Header) {
		if h.Get("Content-Security-Policy") != web.CSP || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Cross-Origin-Embedder-Policy") != "require-corp" || h.Get("Cross-Origin-Opener-Policy") != "same-origin" {
			t.Errorf("%s: security headers missing: %v", what, h)
		}
	}
	resp, body := get("GET", "/")
	checkHeaders("GET /", resp.Header)
	if !bytes.Contains(body, []byte(`<main id="app">`)) {
		t.Errorf("GET /: not the page: %.200s", body)
	}
	resp, body = get("GET", "/ditkit.wasm")
	checkHeaders("GET /ditkit.wasm", resp.Header)
	want, _ := os.ReadFile(filepath.Join(siteDir, "ditkit.wasm"))
	if ct := resp.Header.Get("Content-Type"); ct != "application/wasm" || !bytes.Equal(body, want) {
		t.Errorf("GET /ditkit.wasm: %s, %d bytes (want application/wasm, %d bytes)", ct, len(body), len(want))
	}
	resp, body = get("POST", "/upload")
	checkHeaders("POST /upload", resp.Header)
	if resp.StatusCode != http.StatusMethodNotAllowed || !bytes.Contains(body, []byte("never receives uploads")) {
		t.Errorf("POST /upload: %d %q (want the Go handler's 405)", resp.StatusCode, body)
	}
	resp, _ = get("GET", "/no-such-file")
	checkHeaders("GET /no-such-file", resp.Header)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /no-such-file: %d", resp.StatusCode)
	}
	if skipReason == "" {
		ctx := pageAt(t, base+"/")
		js[bool](t, ctx, `(document.getElementById("demo").click(), true)`)
		waitJS(t, ctx, `[...document.querySelectorAll("#tensors td")].some(td => td.textContent === "x_embedder.proj.weight")`, "the demo report from the Worker")
		shot(t, ctx, "worker-demo")
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
