//go:build amd64 && !purego

package kernels

import "github.com/ditkit/ditkit/core/quant"

//go:noescape
func deqQ8_0(dst *float32, src *byte, blocks int, f16 *float32)

//go:noescape
func deqQ4K(dst *float32, qs *byte, dm *[16]float32)

// deqVec dequantizes whole blocks of Q8_0 and Q4_K with the AVX-512
// dequantizers where vecOn (false: use core/quant's Go loop).
func deqVec(t quant.Type, src []byte, dst []float32) bool {
	if !vecOn() || len(dst) == 0 {
		return false
	}
	switch t {
	case quant.Q8_0:
		n := len(dst) / 32
		_, _ = src[n*34-1], dst[n*32-1]
		deqQ8_0(&dst[0], &src[0], n, &f16Table[0])
		return true
	case quant.Q4_K:
		var dm [16]float32
		for len(dst) >= quant.QK_K {
			b := src[:144]
			quant.Q4KScales(b, &dm)
			_ = dst[quant.QK_K-1]
			deqQ4K(&dst[0], &b[16], &dm)
			src, dst = src[144:], dst[quant.QK_K:]
		}
		return true
	}
	return false
}
