//go:build !ditkit_noassets

package web

import "embed"

//go:embed static
var embedded embed.FS
