//go:build ignore

// gen_amd64.go writes vec_amd64.s: the AVX-512 helpers around the matmul
// tile (panel packing by 16×16 register transposes for F32/BF16/F16
// weights, GELU and SiLU, the softmax and LayerNorm passes, the few-row
// gemv) and the clock/FMA probes Peak uses. Generated because the
// transposes and the vector exp are long unrolled sequences:
//
//	go run gen_amd64.go -o vec_amd64.s
//
// (go generate runs that: see vec_amd64.go). The output is deterministic.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
)

var b strings.Builder

func w(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

// constant broadcasts float32(v) into zmm register z (clobbers AX).
func constant(z int, v float64, comment string) {
	w("\tMOVL $0x%08x, AX // %s\n\tVPBROADCASTD AX, Z%d\n", math.Float32bits(float32(v)), comment, z)
}

// transpose16 transposes the 16×16 block held in Z0–Z15 (row r in Zr) so
// that column c ends up in register out(c), using Z16–Z31 as scratch; it
// calls store(c, reg) for every column.
func transpose16(store func(c, reg int)) {
	// 1. unpack pairs of rows (32-bit elements).
	for i := 0; i < 8; i++ {
		w("\tVUNPCKLPS Z%d, Z%d, Z%d\n", 2*i+1, 2*i, 16+2*i)
		w("\tVUNPCKHPS Z%d, Z%d, Z%d\n", 2*i+1, 2*i, 17+2*i)
	}
	// 2. unpack pairs of those (64-bit elements): lane L of u[4g+c] holds
	// column 4L+c of rows 4g..4g+3.
	for g := 0; g < 4; g++ {
		t := 16 + 4*g
		w("\tVUNPCKLPD Z%d, Z%d, Z%d\n", t+2, t, 4*g)
		w("\tVUNPCKHPD Z%d, Z%d, Z%d\n", t+2, t, 4*g+1)
		w("\tVUNPCKLPD Z%d, Z%d, Z%d\n", t+3, t+1, 4*g+2)
		w("\tVUNPCKHPD Z%d, Z%d, Z%d\n", t+3, t+1, 4*g+3)
	}
	// 3. 4×4 transposes of 128-bit lanes across u[c], u[4+c], u[8+c], u[12+c].
	for c := 0; c < 4; c++ {
		w("\tVSHUFF32X4 $0x44, Z%d, Z%d, Z16\n", 4+c, c)
		w("\tVSHUFF32X4 $0x44, Z%d, Z%d, Z17\n", 12+c, 8+c)
		w("\tVSHUFF32X4 $0xee, Z%d, Z%d, Z18\n", 4+c, c)
		w("\tVSHUFF32X4 $0xee, Z%d, Z%d, Z19\n", 12+c, 8+c)
		w("\tVSHUFF32X4 $0x88, Z17, Z16, Z20\n")
		w("\tVSHUFF32X4 $0xdd, Z17, Z16, Z21\n")
		w("\tVSHUFF32X4 $0x88, Z19, Z18, Z22\n")
		w("\tVSHUFF32X4 $0xdd, Z19, Z18, Z23\n")
		store(c, 20)
		store(4+c, 21)
		store(8+c, 22)
		store(12+c, 23)
	}
}

// pack writes packT<name>(dst *float32, src unsafe.Pointer, ld int, kw int):
// for 16 source rows of row stride ld elements (of esize bytes) and
// columns kk < kw (kw a positive multiple of 16), dst[kk*32+j] = row j's
// element kk widened to float32 (the panel layout, 32 floats a row).
func pack(name string, esize int, load func(row int, addr string)) {
	w("\n// func packT%s(dst *float32, src unsafe.Pointer, ld int, kw int)\n", name)
	w("TEXT ·packT%s(SB), NOSPLIT, $0-32\n", name)
	w("\tMOVQ dst+0(FP), DI\n\tMOVQ src+8(FP), SI\n\tMOVQ ld+16(FP), R8\n")
	w("\tSHLQ $%d, R8\n", esize/2)
	w("\tMOVQ kw+24(FP), CX\n\tSHRQ $4, CX\n")
	w("\tLEAQ (R8)(R8*2), R9 // 3 rows\n")
	w("%s_loop:\n", name)
	// row pointers: SI + r*R8 for r < 16, via R10 (row 4g).
	w("\tMOVQ SI, R10\n")
	for r := 0; r < 16; r++ {
		if r > 0 && r%4 == 0 {
			w("\tLEAQ (R10)(R8*4), R10\n")
		}
		var addr string
		switch r % 4 {
		case 0:
			addr = "(R10)"
		case 1:
			addr = "(R10)(R8*1)"
		case 2:
			addr = "(R10)(R8*2)"
		case 3:
			addr = "(R10)(R9*1)"
		}
		load(r, addr)
	}
	transpose16(func(c, reg int) { w("\tVMOVUPS Z%d, %d(DI)\n", reg, 128*c) })
	w("\tADDQ $%d, SI\n", 16*esize)
	w("\tADDQ $2048, DI\n")
	w("\tDECQ CX\n\tJNZ %s_loop\n\tVZEROUPPER\n\tRET\n", name)
}

// expConsts loads the exp constants into Z20–Z31 (clobbers AX).
func expConsts() {
	constant(20, 1.44269504088896341, "log2(e)")
	constant(21, 0.693359375, "C1")
	constant(22, -2.12194440e-4, "C2")
	constant(23, 1.9875691500e-4, "p0")
	constant(24, 1.3981999507e-3, "p1")
	constant(25, 8.3334519073e-3, "p2")
	constant(26, 4.1665795894e-2, "p3")
	constant(27, 1.6666665459e-1, "p4")
	constant(28, 5.0000001201e-1, "p5")
	constant(29, 1, "1")
	constant(30, 88.3762626647949, "exp argument clamp")
	constant(31, -88.3762626647949, "exp argument clamp")
}

// exp replaces Z(x) by exp(x) (Cephes expf's reduction and polynomial,
// then VSCALEFPS), with n, z, y scratch registers.
func exp(x, n, z, y int) {
	w("\tVMINPS Z30, Z%d, Z%d\n", x, x)
	w("\tVMAXPS Z31, Z%d, Z%d\n", x, x)
	w("\tVMULPS Z20, Z%d, Z%d\n", x, n)
	w("\tVRNDSCALEPS $0, Z%d, Z%d\n", n, n)
	w("\tVFNMADD231PS Z21, Z%d, Z%d\n", n, x)
	w("\tVFNMADD231PS Z22, Z%d, Z%d\n", n, x)
	w("\tVMULPS Z%d, Z%d, Z%d\n", x, x, z)
	w("\tVMOVAPS Z23, Z%d\n", y)
	for c := 24; c <= 28; c++ {
		w("\tVFMADD213PS Z%d, Z%d, Z%d\n", c, x, y)
	}
	w("\tVFMADD213PS Z%d, Z%d, Z%d\n", x, z, y)
	w("\tVADDPS Z29, Z%d, Z%d\n", y, y)
	w("\tVSCALEFPS Z%d, Z%d, Z%d\n", n, y, x)
}

// sigmoidish writes f<name>(v *float32, n int) computing, in place for n a
// positive multiple of 16, v = v / (1 + exp(arg(v))) four vectors at a
// time then one: GELU (tanh) when arg = -2√(2/π)(v + 0.044715v³), SiLU
// when arg = -v.
func sigmoidish(name, doc string, gelu bool) {
	w("\n// func %s(v *float32, n int)\n// %s\n", name, doc)
	w("TEXT ·%s(SB), NOSPLIT, $0-16\n", name)
	w("\tMOVQ v+0(FP), DI\n\tMOVQ n+8(FP), CX\n")
	expConsts()
	if gelu {
		constant(18, -2*0.7978845608028654, "-2·√(2/π)")
		constant(19, -2*0.7978845608028654*0.044715, "-2·√(2/π)·0.044715")
	}
	one := func(u, x, n, z, y int, off int) {
		w("\tVMOVUPS %d(DI), Z%d\n", off, u)
		if gelu {
			w("\tVMULPS Z%d, Z%d, Z%d\n", u, u, x)
			w("\tVFMADD213PS Z18, Z19, Z%d\n", x)
			w("\tVMULPS Z%d, Z%d, Z%d\n", u, x, x)
		} else {
			w("\tVXORPS Z%d, Z%d, Z%d\n", x, x, x)
			w("\tVSUBPS Z%d, Z%d, Z%d\n", u, x, x)
		}
	}
	w("\tCMPQ CX, $64\n\tJLT %s_one\n", name)
	w("%s_four:\n", name)
	// four streams: u in Z0–Z3, x in Z4–Z7, n Z8–Z11, z Z12–Z15, y Z16/Z17 + reuse.
	for s := 0; s < 4; s++ {
		one(s, 4+s, 8+s, 12+s, 0, 64*s)
	}
	for s := 0; s < 4; s++ {
		y := 16 + s%2
		exp(4+s, 8+s, 12+s, y)
		w("\tVADDPS Z29, Z%d, Z%d\n", 4+s, 4+s)
		w("\tVDIVPS Z%d, Z%d, Z%d\n", 4+s, s, s)
		w("\tVMOVUPS Z%d, %d(DI)\n", s, 64*s)
	}
	w("\tADDQ $256, DI\n\tSUBQ $64, CX\n\tCMPQ CX, $64\n\tJGE %s_four\n", name)
	w("%s_one:\n\tTESTQ CX, CX\n\tJZ %s_done\n", name, name)
	one(0, 4, 8, 12, 16, 0)
	exp(4, 8, 12, 16)
	w("\tVADDPS Z29, Z4, Z4\n\tVDIVPS Z4, Z0, Z0\n\tVMOVUPS Z0, (DI)\n")
	w("\tADDQ $64, DI\n\tSUBQ $16, CX\n\tJMP %s_one\n", name)
	w("%s_done:\n\tVZEROUPPER\n\tRET\n", name)
}

// reduce16 stores the 16 lanes of Z0 to (DX).
func store16() { w("\tVMOVUPS Z0, (DX)\n\tVZEROUPPER\n\tRET\n") }

func softmaxParts() {
	w(`
// func scaleMax16(s *float32, n int, scale float32, out *[16]float32)
// s[i] *= scale for i < n (a positive multiple of 16); out gets the lane
// maxima.
TEXT ·scaleMax16(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS scale+16(FP), Z1
	MOVQ out+24(FP), DX
	MOVL $0xff800000, AX // -Inf
	VPBROADCASTD AX, Z0
scalemax_loop:
	VMULPS (DI), Z1, Z2
	VMOVUPS Z2, (DI)
	VMAXPS Z2, Z0, Z0
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ scalemax_loop
`)
	store16()
	w(`
// func expSum16(s *float32, n int, mx float32, out *[16]float32)
// s[i] = exp(s[i] - mx) for i < n (a positive multiple of 16); out gets
// the lane sums.
TEXT ·expSum16(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS mx+16(FP), Z1
	MOVQ out+24(FP), DX
`)
	expConsts()
	w("\tVXORPS Z0, Z0, Z0\n\tVXORPS Z2, Z2, Z2\n")
	w("\tCMPQ CX, $32\n\tJLT expsum_one\n")
	w("expsum_two:\n")
	w("\tVMOVUPS (DI), Z4\n\tVMOVUPS 64(DI), Z5\n\tVSUBPS Z1, Z4, Z4\n\tVSUBPS Z1, Z5, Z5\n")
	exp(4, 8, 12, 16)
	exp(5, 9, 13, 17)
	w("\tVMOVUPS Z4, (DI)\n\tVMOVUPS Z5, 64(DI)\n\tVADDPS Z4, Z0, Z0\n\tVADDPS Z5, Z2, Z2\n")
	w("\tADDQ $128, DI\n\tSUBQ $32, CX\n\tCMPQ CX, $32\n\tJGE expsum_two\n")
	w("expsum_one:\n\tTESTQ CX, CX\n\tJZ expsum_done\n")
	w("\tVMOVUPS (DI), Z4\n\tVSUBPS Z1, Z4, Z4\n")
	exp(4, 8, 12, 16)
	w("\tVMOVUPS Z4, (DI)\n\tVADDPS Z4, Z0, Z0\n")
	w("\tADDQ $64, DI\n\tSUBQ $16, CX\n\tJMP expsum_one\n")
	w("expsum_done:\n\tVADDPS Z2, Z0, Z0\n")
	store16()
	w(`
// func scale16(s *float32, n int, f float32)
// s[i] *= f for i < n (a positive multiple of 16).
TEXT ·scale16(SB), NOSPLIT, $0-20
	MOVQ s+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS f+16(FP), Z1
scale_loop:
	VMULPS (DI), Z1, Z2
	VMOVUPS Z2, (DI)
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ scale_loop
	VZEROUPPER
	RET
`)
}

func layerNormParts() {
	w(`
// func sum16(x *float32, n int, out *[16]float32)
// out gets the lane sums of x[:n] (n a positive multiple of 16).
TEXT ·sum16(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	MOVQ out+16(FP), DX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	CMPQ CX, $32
	JLT sum_one
sum_two:
	VADDPS (DI), Z0, Z0
	VADDPS 64(DI), Z1, Z1
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE sum_two
sum_one:
	TESTQ CX, CX
	JZ sum_done
	VADDPS (DI), Z0, Z0
sum_done:
	VADDPS Z1, Z0, Z0
`)
	store16()
	w(`
// func sqDiff16(x *float32, n int, mean float32, out *[16]float32)
// out gets the lane sums of (x[i]-mean)² for i < n (n a positive multiple
// of 16).
TEXT ·sqDiff16(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS mean+16(FP), Z3
	MOVQ out+24(FP), DX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	CMPQ CX, $32
	JLT sq_one
sq_two:
	VSUBPS (DI), Z3, Z4
	VSUBPS 64(DI), Z3, Z5
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z5, Z5, Z1
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE sq_two
sq_one:
	TESTQ CX, CX
	JZ sq_done
	VSUBPS (DI), Z3, Z4
	VFMADD231PS Z4, Z4, Z0
sq_done:
	VADDPS Z1, Z0, Z0
`)
	store16()
	w(`
// func normMod16(out, x *float32, n int, mean, rstd float32, shift, scale *float32)
// out[i] = (x[i]-mean)·rstd·(1+scale[i]) + shift[i] for i < n (a positive
// multiple of 16); shift nil: out[i] = (x[i]-mean)·rstd.
TEXT ·normMod16(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS mean+24(FP), Z1
	VBROADCASTSS rstd+28(FP), Z2
	MOVQ shift+32(FP), R8
	MOVQ scale+40(FP), R9
	TESTQ R8, R8
	JZ norm_plain
	MOVL $0x3f800000, AX
	VPBROADCASTD AX, Z3
norm_mod:
	VMOVUPS (SI), Z4
	VSUBPS Z1, Z4, Z4
	VMULPS Z2, Z4, Z4
	VADDPS (R9), Z3, Z5
	VMULPS Z5, Z4, Z4
	VADDPS (R8), Z4, Z4
	VMOVUPS Z4, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, R8
	ADDQ $64, R9
	SUBQ $16, CX
	JNZ norm_mod
	VZEROUPPER
	RET
norm_plain:
	VMOVUPS (SI), Z4
	VSUBPS Z1, Z4, Z4
	VMULPS Z2, Z4, Z4
	VMOVUPS Z4, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ norm_plain
	VZEROUPPER
	RET
`)
}

// gemv writes gemv<name>(w unsafe.Pointer, ldw int, rows int, k int, xs
// *[8]*float32, out *float32): for weight rows r < rows (row stride ldw
// elements of esize bytes) and the 8 activation rows xs[i] (k a positive
// multiple of 16), out[r*8+i] = Σ_k x_i[k]·W[r,k] in fp32 (16 lanes, then
// the lanes summed).
func gemv(name string, esize int, load func(addr string, z int)) {
	w("\n// func gemv%s(w unsafe.Pointer, ldw int, rows int, k int, xs *[8]*float32, out *float32)\n", name)
	w("TEXT ·gemv%s(SB), NOSPLIT, $0-48\n", name)
	w("\tMOVQ w+0(FP), SI\n\tMOVQ ldw+8(FP), R12\n\tSHLQ $%d, R12\n\tMOVQ rows+16(FP), R13\n\tMOVQ xs+32(FP), AX\n\tMOVQ out+40(FP), DX\n", esize/2)
	w("%s_row:\n", name)
	w("\tMOVQ k+24(FP), CX\n\tSHRQ $4, CX\n")
	for i := 0; i < 8; i++ {
		w("\tVXORPS Z%d, Z%d, Z%d\n", i, i, i)
	}
	w("\tMOVQ SI, DI\n\tXORQ R11, R11 // byte offset into the x rows\n")
	w("%s_k:\n", name)
	load("(DI)", 16)
	for i := 0; i < 8; i++ {
		w("\tMOVQ %d(AX), R10\n", 8*i)
		w("\tVFMADD231PS (R10)(R11*1), Z16, Z%d\n", i)
	}
	w("\tADDQ $%d, DI\n\tADDQ $64, R11\n\tDECQ CX\n\tJNZ %s_k\n", 16*esize, name)
	// horizontal sums of Z0–Z7 → 8 floats at (DX).
	for i := 0; i < 8; i++ {
		w("\tVEXTRACTF64X4 $1, Z%d, Y17\n\tVADDPS Y17, Y%d, Y%d\n", i, i, i)
		w("\tVEXTRACTF32X4 $1, Y%d, X17\n\tVADDPS X17, X%d, X%d\n", i, i, i)
		w("\tVHADDPS X%d, X%d, X%d\n\tVHADDPS X%d, X%d, X%d\n", i, i, i, i, i, i)
		w("\tVMOVSS X%d, %d(DX)\n", i, 4*i)
	}
	w("\tADDQ $32, DX\n\tADDQ R12, SI\n\tDECQ R13\n\tJNZ %s_row\n\tVZEROUPPER\n\tRET\n", name)
}

// tiles writes kern8x32pm: the AVX-512 8×32 FMA tile over packed
// activations, for a run of 8-row tiles (one call per panel), prefetching
// each next tile's output rows while the current one runs.
func tiles() {
	w(`
// func kern8x32pm(a *float32, b *float32, kw int, c *float32, ldc int, tiles int, init *float32)
// For t < tiles, the 8×32 tile at c + t·8·ldc (row stride ldc floats)
// += Σ_k a_t[k·32+r]·b[k·32+j] (r < 8, j < 32, k < kw ≥ 1), where a_t =
// a + (t/4)·32·kw + (t%4)·8: the rows of packed 32-row blocks (see
// packPanel), so a step's eight broadcasts read 32 consecutive bytes.
// With init non-nil the tiles are set to init[j] + the sum instead (the
// bias, on the first reduction block) and not read.
TEXT ·kern8x32pm(SB), NOSPLIT, $0-56
	MOVQ a+0(FP), R11
	MOVQ b+8(FP), R13
	MOVQ kw+16(FP), R14
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R10
	SHLQ $2, R10
	MOVQ tiles+40(FP), BX
	MOVQ R14, R15
	SHLQ $7, R15 // a block: 32·kw floats
	XORQ R12, R12 // (t%4)·32 bytes
	LEAQ (R10)(R10*2), R9 // 3·ldc
pm_tile:
	LEAQ (DX)(R10*8), AX // the next tile's rows
	LEAQ (AX)(R10*4), R8
`)
	for r := 0; r < 8; r++ {
		base := "AX"
		if r >= 4 {
			base = "R8"
		}
		idx := []string{"", "(R10*1)", "(R10*2)", "(R9*1)"}[r%4]
		w("\tPREFETCHT0 (%s)%s\n\tPREFETCHT0 64(%s)%s\n", base, idx, base, idx)
	}
	for i := 0; i < 16; i++ {
		w("\tVXORPS Z%d, Z%d, Z%d\n", i, i, i)
	}
	w("\tLEAQ (R11)(R12*1), SI\n\tMOVQ R13, DI\n\tMOVQ R14, CX\npm_loop:\n")
	w("\tVMOVUPS (DI), Z16\n\tVMOVUPS 64(DI), Z17\n")
	for r := 0; r < 8; r += 2 {
		w("\tVBROADCASTSS %d(SI), Z%d\n\tVBROADCASTSS %d(SI), Z%d\n", 4*r, 18+r, 4*r+4, 19+r)
		for _, rr := range []int{r, r + 1} {
			w("\tVFMADD231PS Z16, Z%d, Z%d\n\tVFMADD231PS Z17, Z%d, Z%d\n", 18+rr, 2*rr, 18+rr, 2*rr+1)
		}
	}
	w("\tADDQ $128, SI\n\tADDQ $128, DI\n\tDECQ CX\n\tJNZ pm_loop\n")
	w("\tMOVQ DX, AX\n\tMOVQ init+48(FP), CX\n\tTESTQ CX, CX\n\tJNZ pm_init\n")
	for r := 0; r < 8; r++ {
		w("\tVADDPS (AX), Z%d, Z%d\n\tVADDPS 64(AX), Z%d, Z%d\n", 2*r, 2*r, 2*r+1, 2*r+1)
		w("\tVMOVUPS Z%d, (AX)\n\tVMOVUPS Z%d, 64(AX)\n", 2*r, 2*r+1)
		if r < 7 {
			w("\tADDQ R10, AX\n")
		}
	}
	w("\tJMP pm_stored\npm_init:\n\tVMOVUPS (CX), Z16\n\tVMOVUPS 64(CX), Z17\n")
	for r := 0; r < 8; r++ {
		w("\tVADDPS Z16, Z%d, Z%d\n\tVADDPS Z17, Z%d, Z%d\n", 2*r, 2*r, 2*r+1, 2*r+1)
		w("\tVMOVUPS Z%d, (AX)\n\tVMOVUPS Z%d, 64(AX)\n", 2*r, 2*r+1)
		if r < 7 {
			w("\tADDQ R10, AX\n")
		}
	}
	w(`pm_stored:
	LEAQ (DX)(R10*8), DX
	ADDQ $32, R12
	CMPQ R12, $128
	JNE pm_next
	XORQ R12, R12
	ADDQ R15, R11
pm_next:
	DECQ BX
	JNZ pm_tile
	VZEROUPPER
	RET
`)
}

func prefetch() {
	w(`
// func prefetchL2(p unsafe.Pointer, n int)
// PREFETCHT1 of every 64-byte line of p[:n] (n > 0).
TEXT ·prefetchL2(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ (SI)(CX*1), CX
pf_loop:
	PREFETCHT1 (SI)
	ADDQ $64, SI
	CMPQ SI, CX
	JB pf_loop
	RET
`)
}

func probes() {
	w(`
// func addChain(n int)
// n iterations of 8 dependent register ADDQs: 8n cycles at one cycle each
// (the clock probe of Peak; register operands, since Golden Cove's renamer
// folds immediate adds).
TEXT ·addChain(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
	XORQ AX, AX
	MOVQ $1, BX
addloop:
`)
	for i := 0; i < 8; i++ {
		w("\tADDQ BX, AX\n")
	}
	w("\tDECQ CX\n\tJNZ addloop\n\tRET\n")
	w(`
// func fmaBurst(n int)
// n iterations of 24 independent 512-bit FMAs (24 accumulators hide the
// 4-cycle latency on two ports): the FMA-throughput probe of Peak.
TEXT ·fmaBurst(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
`)
	for i := 0; i < 24; i++ {
		w("\tVXORPS Z%d, Z%d, Z%d\n", i, i, i)
	}
	w("\tVXORPS Z30, Z30, Z30\n\tVXORPS Z31, Z31, Z31\nfmaloop:\n")
	for i := 0; i < 24; i++ {
		w("\tVFMADD231PS Z30, Z31, Z%d\n", i)
	}
	w("\tDECQ CX\n\tJNZ fmaloop\n\tVZEROUPPER\n\tRET\n")
}

func main() {
	out := flag.String("o", "", "output file (default: standard output)")
	flag.Parse()
	w("// Code generated by gen_amd64.go; DO NOT EDIT.\n\n")
	w("//go:build amd64 && !purego\n\n")
	w("#include \"textflag.h\"\n")
	pack("F32", 4, func(r int, addr string) { w("\tVMOVUPS %s, Z%d\n", addr, r) })
	pack("BF16", 2, func(r int, addr string) { w("\tVPMOVZXWD %s, Z%d\n\tVPSLLD $16, Z%d, Z%d\n", addr, r, r, r) })
	pack("F16", 2, func(r int, addr string) { w("\tVCVTPH2PS %s, Z%d\n", addr, r) })
	sigmoidish("gelu16", "v = GELU_tanh(v) = v / (1 + exp(-2√(2/π)(v + 0.044715v³))), n a positive multiple of 16.", true)
	sigmoidish("silu16", "v = SiLU(v) = v / (1 + exp(-v)), n a positive multiple of 16.", false)
	softmaxParts()
	layerNormParts()
	gemv("F32", 4, func(addr string, z int) { w("\tVMOVUPS %s, Z%d\n", addr, z) })
	gemv("BF16", 2, func(addr string, z int) { w("\tVPMOVZXWD %s, Z%d\n\tVPSLLD $16, Z%d, Z%d\n", addr, z, z, z) })
	gemv("F16", 2, func(addr string, z int) { w("\tVCVTPH2PS %s, Z%d\n", addr, z) })
	tiles()
	prefetch()
	probes()
	if *out == "" {
		os.Stdout.WriteString(b.String())
		return
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
