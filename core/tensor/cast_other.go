//go:build !amd64 || purego

package tensor

var vectorCasts = false

func castF32ToBF16Vec(src, dst []byte, n int) int { return 0 }
func castF32ToF16Vec(src, dst []byte, n int) int  { return 0 }
