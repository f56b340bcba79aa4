//go:build !amd64 || purego

package kernels

import "unsafe"

// This build has no vector helpers: vecOn is false and these are never
// called.

func vecOn() bool { return false }

func packTF32(dst *float32, src unsafe.Pointer, ld int, kw int)  { panic("unreachable") }
func packTBF16(dst *float32, src unsafe.Pointer, ld int, kw int) { panic("unreachable") }
func packTF16(dst *float32, src unsafe.Pointer, ld int, kw int)  { panic("unreachable") }
func gelu16(v *float32, n int)                                   { panic("unreachable") }
func silu16(v *float32, n int)                                   { panic("unreachable") }
func scaleMax16(s *float32, n int, scale float32, out *[16]float32) {
	panic("unreachable")
}
func expSum16(s *float32, n int, mx float32, out *[16]float32) { panic("unreachable") }
func scale16(s *float32, n int, f float32)                     { panic("unreachable") }
func sum16(x *float32, n int, out *[16]float32)                { panic("unreachable") }
func sqDiff16(x *float32, n int, mean float32, out *[16]float32) {
	panic("unreachable")
}
func normMod16(out, x *float32, n int, mean, rstd float32, shift, scale *float32) {
	panic("unreachable")
}
func gemvF32(w unsafe.Pointer, ldw int, rows int, k int, xs *[8]*float32, out *float32) {
	panic("unreachable")
}
func gemvBF16(w unsafe.Pointer, ldw int, rows int, k int, xs *[8]*float32, out *float32) {
	panic("unreachable")
}
func gemvF16(w unsafe.Pointer, ldw int, rows int, k int, xs *[8]*float32, out *float32) {
	panic("unreachable")
}

func addChain(n int) { panic("unreachable") }
func fmaBurst(n int) { panic("unreachable") }

func prefetchL2(p unsafe.Pointer, n int) { panic("unreachable") }

func kern8x32pm(a *float32, b *float32, kw int, c *float32, ldc int, tiles int, init *float32) {
	panic("unreachable")
}
