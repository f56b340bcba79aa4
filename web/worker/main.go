//go:build js && wasm

// Command worker is ditkit's page as a Cloudflare Worker: web's http.Handler
// through github.com/syumai/workers, with the static files served by
// wrangler's assets (see wrangler.jsonc; ./build.sh worker builds it).
package main

import (
	"github.com/syumai/workers"

	"github.com/ditkit/ditkit/web"
)

func main() { workers.Serve(web.New()) }
