//go:build amd64 && !purego

package tensor

import "github.com/ditkit/ditkit/core/internal/cpu"

//go:noescape
func f32ToBF16AVX2(src, dst *byte, n int)

//go:noescape
func f32ToF16F16C(src, dst *byte, n int)

// vectorCasts reports whether the AVX2 / F16C loops run; tests switch them
// off to compare with the portable loops.
var vectorCasts = cpu.AVX2

// castF32ToBF16Vec casts the leading multiple of 16 elements of src into dst
// and returns how many it did.
func castF32ToBF16Vec(src, dst []byte, n int) int {
	m := n &^ 15
	if !vectorCasts || m == 0 {
		return 0
	}
	_, _ = src[4*m-1], dst[2*m-1]
	f32ToBF16AVX2(&src[0], &dst[0], m)
	return m
}

// castF32ToF16Vec is castF32ToBF16Vec for binary16.
func castF32ToF16Vec(src, dst []byte, n int) int {
	m := n &^ 15
	if !vectorCasts || !cpu.F16C || m == 0 {
		return 0
	}
	_, _ = src[4*m-1], dst[2*m-1]
	f32ToF16F16C(&src[0], &dst[0], m)
	return m
}
