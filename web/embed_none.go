//go:build ditkit_noassets

package web

import "embed"

// The Cloudflare Worker is built with -tags ditkit_noassets: wrangler's
// assets serve the files (with HeadersFile's headers), so the Worker's own
// wasm stays small and the handler only answers what no asset matches.
var embedded embed.FS
