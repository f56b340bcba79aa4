// Package web serves ditkit's page — index.html, its script, wasm_exec.js and
// the wasm binary (pre-compressed) — as one http.Handler with strict security
// headers and no endpoint that accepts uploads. The same handler runs in the
// native `ditkit serve` and in the Cloudflare Worker.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

// CSP allows only this origin; wasm needs 'wasm-unsafe-eval' to compile.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; " +
	"connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type asset struct {
	body, gz, br []byte
	etag         string
	ctype        string
}

// Handler serves the files of fsys (rooted so that index.html is at its top).
type Handler struct {
	fsys   fs.FS
	once   sync.Once
	assets map[string]*asset
	err    error
}

// New returns a handler over the embedded static folder (empty in the
// Worker build, where wrangler serves the assets).
func New() *Handler {
	sub, _ := fs.Sub(embedded, "static")
	return NewFS(sub)
}

// NewFS returns a handler over any file system (used by tests and the Worker).
func NewFS(fsys fs.FS) *Handler { return &Handler{fsys: fsys} }

func (h *Handler) load() {
	h.assets = map[string]*asset{}
	h.err = fs.WalkDir(h.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if p == "." && errors.Is(err, fs.ErrNotExist) {
			return fs.SkipAll // no assets (the Worker build: wrangler serves them)
		}
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(h.fsys, p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".gz") || strings.HasSuffix(p, ".br") {
			return nil
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: contentType(p)}
		if br, err := fs.ReadFile(h.fsys, p+".br"); err == nil {
			a.br = br // pre-compressed by build.sh when brotli is installed
		}
		if gz, err := fs.ReadFile(h.fsys, p+".gz"); err == nil {
			a.gz = gz
		} else if len(body) > 1024 && compressible(a.ctype) {
			var b bytes.Buffer
			w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			w.Write(body)
			w.Close()
			a.gz = b.Bytes()
		}
		h.assets["/"+p] = a
		return nil
	})
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".wasm":
		return "application/wasm"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func compressible(ct string) bool {
	return strings.HasPrefix(ct, "text/") || ct == "application/wasm" || ct == "application/json"
}

// SecurityHeaders sets the headers every response carries.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Embedder-Policy", "require-corp")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.load)
	SecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: this page never receives uploads; files stay in your browser", http.StatusMethodNotAllowed)
		return
	}
	if h.err != nil {
		http.Error(w, "assets: "+h.err.Error(), http.StatusInternalServerError)
		return
	}
	p := r.URL.Path
	if p == "/" {
		p = "/index.html"
	}
	a := h.assets[p]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	hd.Set("Vary", "Accept-Encoding")
	if p == "/index.html" {
		hd.Set("Cache-Control", "no-cache")
	} else {
		hd.Set("Cache-Control", "public, max-age=0, must-revalidate")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	switch {
	case a.br != nil && accepts(r, "br"):
		hd.Set("Content-Encoding", "br")
		body = a.br
	case a.gz != nil && accepts(r, "gzip"):
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hd.Set("Content-Length", itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// accepts reports whether the request accepts the content coding.
func accepts(r *http.Request, coding string) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		q = strings.TrimSpace(q)
		if strings.TrimSpace(enc) == coding && q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000" {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
