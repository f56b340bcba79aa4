//go:build amd64 && !purego

package sha256x

import "github.com/ditkit/ditkit/core/internal/cpu"

//go:generate sh -c "go run gen_amd64.go > sha256x_amd64.s"

//go:noescape
func blocks1(h *[8]uint32, p *byte, n int)

//go:noescape
func blocks2(ha, hb *[8]uint32, pa, pb *byte, n int)

// hasSHA: the kernels use the SHA extensions, SSSE3/SSE4.1 and AVX.
var hasSHA = cpu.SHA && cpu.AVX2
