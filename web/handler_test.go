package web

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":  {Data: []byte("<!doctype html><title>t</title>")},
		"ditkit.wasm": {Data: []byte("\x00asm" + strings.Repeat("\x01\x00", 4000))},
	}
}

func serve(h http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestEveryResponseCarriesSecurityHeaders(t *testing.T) {
	h := NewFS(testFS())
	for _, c := range []struct {
		method, path string
		code         int
	}{{"GET", "/", 200}, {"HEAD", "/ditkit.wasm", 200}, {"GET", "/nope", 404}, {"POST", "/", 405}, {"PUT", "/upload", 405}} {
		w := serve(h, c.method, c.path, nil)
		if w.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, w.Code, c.code)
		}
		if w.Header().Get("Content-Security-Policy") != CSP || w.Header().Get("X-Content-Type-Options") != "nosniff" ||
			w.Header().Get("Cross-Origin-Opener-Policy") != "same-origin" || w.Header().Get("Cross-Origin-Embedder-Policy") != "require-corp" {
			t.Errorf("%s %s: headers %v", c.method, c.path, w.Header())
		}
	}
}

func TestWasmIsCompressedTypedAndRevalidated(t *testing.T) {
	h := NewFS(testFS())
	w := serve(h, "GET", "/ditkit.wasm", map[string]string{"Accept-Encoding": "br, gzip"})
	if ct := w.Header().Get("Content-Type"); ct != "application/wasm" {
		t.Fatalf("Content-Type %q", ct)
	}
	if w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", w.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if string(body) != string(testFS()["ditkit.wasm"].Data) {
		t.Fatal("gzip body differs")
	}
	etag := w.Header().Get("ETag")
	if w2 := serve(h, "GET", "/ditkit.wasm", map[string]string{"If-None-Match": etag}); w2.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", w2.Code)
	}
}

func TestBrotliPreferredWhenPresent(t *testing.T) {
	fsys := testFS()
	fsys["ditkit.wasm.br"] = &fstest.MapFile{Data: []byte("brotli bytes")}
	h := NewFS(fsys)
	w := serve(h, "GET", "/ditkit.wasm", map[string]string{"Accept-Encoding": "gzip, deflate, br"})
	if w.Header().Get("Content-Encoding") != "br" || w.Body.String() != "brotli bytes" {
		t.Fatalf("%v %q", w.Header(), w.Body.String())
	}
	w = serve(h, "GET", "/ditkit.wasm", map[string]string{"Accept-Encoding": "gzip, br;q=0"})
	if w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("br;q=0 still got %q", w.Header().Get("Content-Encoding"))
	}
	if w := serve(h, "GET", "/ditkit.wasm.br", nil); w.Code != 404 {
		t.Fatalf("the .br file itself is served: %d", w.Code)
	}
}

// The Worker build has no embedded assets: the handler still answers, with
// 404/405 and the security headers, instead of failing.
func TestEmptyAssetsServeNotFound(t *testing.T) {
	h := NewFS(fstest.MapFS{})
	if w := serve(h, "GET", "/x", nil); w.Code != 404 || w.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
}

func TestHeadersFileMatchesHandler(t *testing.T) {
	f := HeadersFile()
	hd := http.Header{}
	SecurityHeaders(hd)
	for k := range hd {
		if !strings.Contains(f, "  "+k+": "+hd.Get(k)+"\n") {
			t.Errorf("_headers lacks %s", k)
		}
	}
}

// The favicon is served as SVG (a missing one is the page's only console
// error otherwise).
func TestFaviconIsSVG(t *testing.T) {
	fs := testFS()
	fs["favicon.svg"] = &fstest.MapFile{Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)}
	w := serve(NewFS(fs), "GET", "/favicon.svg", nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
	}
}
