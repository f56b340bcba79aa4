package web

import (
	"net/http"
	"sort"
	"strings"
)

// HeadersFile renders SecurityHeaders as a Cloudflare `_headers` file, so
// that assets served by wrangler carry exactly the headers this handler
// sets.
func HeadersFile() string {
	h := http.Header{}
	SecurityHeaders(h)
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# generated from web.SecurityHeaders by ./build.sh worker; do not edit\n/*\n")
	for _, k := range keys {
		b.WriteString("  " + k + ": " + h.Get(k) + "\n")
	}
	b.WriteString("/\n  Cache-Control: no-cache\n/index.html\n  Cache-Control: no-cache\n")
	return b.String()
}
