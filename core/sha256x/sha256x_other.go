//go:build !amd64 || purego

package sha256x

const hasSHA = false

func blocks1(h *[8]uint32, p *byte, n int)           { panic("sha256x: no SHA extensions") }
func blocks2(ha, hb *[8]uint32, pa, pb *byte, n int) { panic("sha256x: no SHA extensions") }
