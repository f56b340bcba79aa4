//go:build ignore

// gen_bf16_amd64.go writes micro_bf16_amd64.s. Go's assembler does not know
// the AVX512_BF16 and AMX instructions, so VDPBF16PS (EVEX) and the AMX
// tile instructions (VEX) are emitted as bytes:
//
//	go run gen_bf16_amd64.go -o micro_bf16_amd64.s
//
// (go generate runs that: see micro_bf16_amd64.go). Without -o it writes
// to standard output.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// evex encodes an EVEX.512.F3.0F38.W0 op with register operands:
// reg = ModRM.reg (destination), vvvv = first source, rm = ModRM.rm.
func evex(op byte, reg, vvvv, rm int) []byte {
	p0 := byte(0x02) // mmm = 010: 0F38
	if reg&8 == 0 {
		p0 |= 0x80 // R̄
	}
	if rm&16 == 0 {
		p0 |= 0x40 // X̄ (high bit of rm for vector registers)
	}
	if rm&8 == 0 {
		p0 |= 0x20 // B̄
	}
	if reg&16 == 0 {
		p0 |= 0x10 // R̄'
	}
	p1 := byte((^vvvv&15)<<3 | 1<<2 | 2) // W0, v̄vvv, 1, pp = 10: F3
	p2 := byte(0x40)                     // z0, L'L = 10: 512 bits, b0, aaa = 000
	if vvvv&16 == 0 {
		p2 |= 0x08 // V̄'
	}
	modrm := byte(0xc0 | (reg&7)<<3 | rm&7)
	return []byte{0x62, p0, p1, p2, op, modrm}
}

// vdpbf16ps returns the BYTE line for VDPBF16PS zmm(acc), zmm(a), zmm(b):
// acc.fp32[i] += a.bf16[2i+1]·b.bf16[2i+1] + a.bf16[2i]·b.bf16[2i].
func vdpbf16ps(acc, a, b int) string {
	var parts []string
	for _, x := range evex(0x52, acc, a, b) {
		parts = append(parts, fmt.Sprintf("BYTE $0x%02x", x))
	}
	return fmt.Sprintf("\t%s // VDPBF16PS Z%d, Z%d, Z%d (Intel order: acc, a, b)\n", strings.Join(parts, "; "), acc, a, b)
}

// AMX instructions (VEX-encoded; Go's assembler does not know them).
// Registers by x86 number: AX 0, CX 1, DX 2, BX 3, SP 4, BP 5, SI 6, DI 7,
// R8–R15 8–15.
var regNum = map[string]int{"AX": 0, "CX": 1, "DX": 2, "BX": 3, "SI": 6, "DI": 7,
	"R8": 8, "R9": 9, "R10": 10, "R11": 11, "R12": 12, "R13": 13}

func byteLine(bs []byte, comment string) string {
	var parts []string
	for _, x := range bs {
		parts = append(parts, fmt.Sprintf("BYTE $0x%02x", x))
	}
	return fmt.Sprintf("\t%s // %s\n", strings.Join(parts, "; "), comment)
}

// tileMem encodes TILELOADD (pp = 11, F2) or TILESTORED (pp = 10, F3) of
// tmm t at [base + index*1 + disp32].
func tileMem(pp byte, t int, base, index string, disp int32) []byte {
	b, x := regNum[base], regNum[index]
	b1 := byte(0x80 | 0x02) // R̄ = 1 (tmm0–7), mmmmm = 00010: 0F38
	if x&8 == 0 {
		b1 |= 0x40
	}
	if b&8 == 0 {
		b1 |= 0x20
	}
	b2 := byte(0x78 | pp) // W0, v̄vvv = 1111, L0
	modrm := byte(0x80 | t<<3 | 4)
	sib := byte((x&7)<<3 | b&7)
	return []byte{0xc4, b1, b2, 0x4b, modrm, sib, byte(disp), byte(disp >> 8), byte(disp >> 16), byte(disp >> 24)}
}

func tileload(t int, base, index string, disp int32) string {
	return byteLine(tileMem(3, t, base, index, disp), fmt.Sprintf("TILELOADD tmm%d, [%s + %s*1 + %d]", t, base, index, disp))
}

func tilestore(t int, base, index string, disp int32) string {
	return byteLine(tileMem(2, t, base, index, disp), fmt.Sprintf("TILESTORED [%s + %s*1 + %d], tmm%d", base, index, disp, t))
}

// tdpbf16ps: tmm c += tmm a (rows of bf16 pairs) · tmm b (pair rows).
func tdpbf16ps(c, a, b int) string {
	return byteLine([]byte{0xc4, 0xe2, byte((^b&15)<<3 | 2), 0x5c, byte(0xc0 | c<<3 | a)}, fmt.Sprintf("TDPBF16PS tmm%d, tmm%d, tmm%d", c, a, b))
}

func amx(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w(`
// func amxPanel(cfg *byte, a *uint16, lda int, nblk int, b *uint32, ksteps int, c *float32, ldc int)
// AMX-BF16: for each of nblk blocks of 32 rows, c[r*ldc+j] += Σ a[r, k]·B
// for r < 32, j < 32, k < 32·ksteps, with a row stride lda elements and b
// the packed panel (pairs × 32 columns, 128 bytes a pair row). cfg is the
// 64-byte tile configuration (8 tiles of 16 rows × 64 bytes).
TEXT ·amxPanel(SB), NOSPLIT, $0-64
	MOVQ cfg+0(FP), AX
`)
	b.WriteString(byteLine([]byte{0xc4, 0xe2, 0x78, 0x49, 0x00}, "LDTILECFG [AX]"))
	w(`	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	SHLQ $1, R8
	MOVQ nblk+24(FP), BX
	MOVQ b+32(FP), DI
	MOVQ $128, R11
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), R12
	SHLQ $2, R12

blk:
	LEAQ (DX)(R12*8), R13
	LEAQ (R13)(R12*8), R13 // c + 16 rows
`)
	b.WriteString(tileload(0, "DX", "R12", 0))
	b.WriteString(tileload(1, "DX", "R12", 64))
	b.WriteString(tileload(2, "R13", "R12", 0))
	b.WriteString(tileload(3, "R13", "R12", 64))
	w(`	MOVQ SI, AX
	LEAQ (SI)(R8*8), R9
	LEAQ (R9)(R8*8), R9 // a + 16 rows
	MOVQ DI, R10
	MOVQ ksteps+40(FP), CX

kloop:
`)
	b.WriteString(tileload(4, "AX", "R8", 0))
	b.WriteString(tileload(5, "R9", "R8", 0))
	b.WriteString(tileload(6, "R10", "R11", 0))
	b.WriteString(tileload(7, "R10", "R11", 64))
	b.WriteString(tdpbf16ps(0, 4, 6))
	b.WriteString(tdpbf16ps(1, 4, 7))
	b.WriteString(tdpbf16ps(2, 5, 6))
	b.WriteString(tdpbf16ps(3, 5, 7))
	w(`	ADDQ $64, AX
	ADDQ $64, R9
	ADDQ $2048, R10
	DECQ CX
	JNZ  kloop

`)
	b.WriteString(tilestore(0, "DX", "R12", 0))
	b.WriteString(tilestore(1, "DX", "R12", 64))
	b.WriteString(tilestore(2, "R13", "R12", 0))
	b.WriteString(tilestore(3, "R13", "R12", 64))
	w(`	LEAQ (R13)(R12*8), DX
	LEAQ (DX)(R12*8), DX // c + 32 rows
	MOVQ R8, AX
	SHLQ $5, AX
	ADDQ AX, SI          // a + 32 rows
	DECQ BX
	JNZ  blk
`)
	b.WriteString(byteLine([]byte{0xc4, 0xe2, 0x78, 0x49, 0xc0}, "TILERELEASE"))
	w("\tRET\n")
}

// amxT: the transposed AMX product that reads bf16 weight rows directly.
func amxT(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w(`
// func amxWeightRows(cfg *byte, wt *uint16, ldw int, xt *uint32, ldx int, ksteps int, out *float32)
// AMX-BF16 with the weights as the A operand: out[r*32+t] = Σ_k W[r, k]·x[t, k]
// for 32 weight rows r (row stride ldw elements, k < 32·ksteps) and 32
// tokens t, where xt holds the tokens' (even, odd) bf16 pairs pair-row by
// pair-row (row stride ldx uint32s).
TEXT ·amxWeightRows(SB), NOSPLIT, $0-56
	MOVQ cfg+0(FP), AX
`)
	b.WriteString(byteLine([]byte{0xc4, 0xe2, 0x78, 0x49, 0x00}, "LDTILECFG [AX]"))
	for t := 0; t < 4; t++ {
		b.WriteString(byteLine([]byte{0xc4, 0xe2, 0x7b, 0x49, byte(0xc0 | t<<3)}, fmt.Sprintf("TILEZERO tmm%d", t)))
	}
	w(`	MOVQ wt+8(FP), AX
	MOVQ ldw+16(FP), R8
	SHLQ $1, R8
	LEAQ (AX)(R8*8), R9
	LEAQ (R9)(R8*8), R9 // weight rows 16–31
	MOVQ xt+24(FP), R10
	MOVQ ldx+32(FP), R11
	SHLQ $2, R11
	MOVQ R11, R12
	SHLQ $4, R12        // 16 pair rows
	MOVQ ksteps+40(FP), CX

kloopT:
`)
	b.WriteString(tileload(4, "AX", "R8", 0))
	b.WriteString(tileload(5, "R9", "R8", 0))
	b.WriteString(tileload(6, "R10", "R11", 0))
	b.WriteString(tileload(7, "R10", "R11", 64))
	b.WriteString(tdpbf16ps(0, 4, 6))
	b.WriteString(tdpbf16ps(1, 4, 7))
	b.WriteString(tdpbf16ps(2, 5, 6))
	b.WriteString(tdpbf16ps(3, 5, 7))
	w(`	ADDQ $64, AX
	ADDQ $64, R9
	ADDQ R12, R10
	DECQ CX
	JNZ  kloopT

	MOVQ out+48(FP), DX
	MOVQ $128, R13
`)
	b.WriteString(tilestore(0, "DX", "R13", 0))
	b.WriteString(tilestore(1, "DX", "R13", 64))
	b.WriteString(tilestore(2, "DX", "R13", 2048))
	b.WriteString(tilestore(3, "DX", "R13", 2048+64))
	b.WriteString(byteLine([]byte{0xc4, 0xe2, 0x78, 0x49, 0xc0}, "TILERELEASE"))
	w("\tRET\n")
}

func main() {
	out := flag.String("o", "", "output file (default: standard output)")
	flag.Parse()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("// Code generated by gen_bf16_amd64.go; DO NOT EDIT.\n\n")
	w("//go:build amd64 && !purego\n\n")
	w("#include \"textflag.h\"\n\n")
	w(`// func kernBF16(a *uint16, lda int, b *uint32, kp int, c *float32, ldc int)
// a: 8 rows of bf16 activations, row stride lda elements, read as kp pairs;
// b: kp pairs of a packed panel, 32 columns of (even, odd) bf16 pairs each.
// With ldc = 0: c[r*32+j] = Σ_q a[r, 2q:2q+2]·b[q*32+j] for r < 8, j < 32
// (kp ≥ 1), fp32 accumulation by VDPBF16PS (AVX512_BF16). With ldc > 0:
// c[r*ldc+j] += the same sum.
TEXT ·kernBF16(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), SI
	MOVQ lda+8(FP), R8
	SHLQ $1, R8
	MOVQ b+16(FP), DI
	MOVQ kp+24(FP), CX
	MOVQ c+32(FP), DX
	LEAQ (R8)(R8*2), R12   // 3·lda
	LEAQ (SI)(R8*4), R9    // row 4
`)
	for i := 0; i < 16; i++ {
		w("\tVXORPS Z%d, Z%d, Z%d\n", i, i, i)
	}
	w("\nloop:\n")
	w("\tVMOVUPS (DI), Z16\n\tVMOVUPS 64(DI), Z17\n")
	addr := []string{"(SI)", "(SI)(R8*1)", "(SI)(R8*2)", "(SI)(R12*1)", "(R9)", "(R9)(R8*1)", "(R9)(R8*2)", "(R9)(R12*1)"}
	for r := 0; r < 8; r += 2 {
		w("\tVPBROADCASTD %s, Z%d\n", addr[r], 18+r)
		w("\tVPBROADCASTD %s, Z%d\n", addr[r+1], 19+r)
		for _, rr := range []int{r, r + 1} {
			b.WriteString(vdpbf16ps(2*rr, 16, 18+rr))
			b.WriteString(vdpbf16ps(2*rr+1, 17, 18+rr))
		}
	}
	w(`	ADDQ $4, SI
	ADDQ $4, R9
	ADDQ $128, DI
	DECQ CX
	JNZ loop

	MOVQ ldc+40(FP), R10
	SHLQ $2, R10
	TESTQ R10, R10
	JZ    store

	// accumulate into c (row stride ldc)
`)
	for r := 0; r < 8; r++ {
		w("\tVADDPS (DX), Z%d, Z%d\n\tVADDPS 64(DX), Z%d, Z%d\n", 2*r, 2*r, 2*r+1, 2*r+1)
		w("\tVMOVUPS Z%d, (DX)\n\tVMOVUPS Z%d, 64(DX)\n", 2*r, 2*r+1)
		if r < 7 {
			w("\tADDQ R10, DX\n")
		}
	}
	w("\tVZEROUPPER\n\tRET\n\nstore:\n")
	for i := 0; i < 16; i++ {
		w("\tVMOVUPS Z%d, %d(DX)\n", i, 64*i)
	}
	w("\tVZEROUPPER\n\tRET\n")
	amx(&b)
	amxT(&b)
	w(`
// func bf16Burst(n int)
// n iterations of 24 independent VDPBF16PS: the throughput probe that
// decides whether the VDPBF16PS kernel outruns the fp32 FMA kernels here.
TEXT ·bf16Burst(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), CX
`)
	for i := 0; i < 24; i++ {
		w("\tVXORPS Z%d, Z%d, Z%d\n", i, i, i)
	}
	w("\tVXORPS Z30, Z30, Z30\n\tVXORPS Z31, Z31, Z31\nbf16burst:\n")
	for i := 0; i < 24; i++ {
		b.WriteString(vdpbf16ps(i, 30, 31))
	}
	w("\tDECQ CX\n\tJNZ bf16burst\n\tVZEROUPPER\n\tRET\n")
	if *out == "" {
		os.Stdout.WriteString(b.String())
		return
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
