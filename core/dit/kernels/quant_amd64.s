//go:build amd64 && !purego

#include "textflag.h"

// The AVX-512 dequantizers of quant_amd64.go: the same products (and
// differences) as core/quant's Go loops, rounded once each, no FMA.

// func deqQ8_0(dst *float32, src *byte, blocks int, f16 *float32)
// Q8_0 blocks {f16 d; i8 q[32]} → dst[32·b+j] = float32(q[j])·d.
TEXT ·deqQ8_0(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ blocks+16(FP), CX
	MOVQ f16+24(FP), R8
	TESTQ CX, CX
	JE q8done
q8loop:
	MOVWLZX (SI), AX
	VBROADCASTSS (R8)(AX*4), Z0
	VPMOVSXBD 2(SI), Z1
	VPMOVSXBD 18(SI), Z2
	VCVTDQ2PS Z1, Z1
	VCVTDQ2PS Z2, Z2
	VMULPS Z0, Z1, Z1
	VMULPS Z0, Z2, Z2
	VMOVUPS Z1, (DI)
	VMOVUPS Z2, 64(DI)
	ADDQ $34, SI
	ADDQ $128, DI
	DECQ CX
	JNZ q8loop
q8done:
	VZEROUPPER
	RET

// func deqQ4K(dst *float32, qs *byte, dm *[16]float32)
// One Q4_K super-block's 128 quant bytes: for group pair p < 4 (32 bytes),
// dst[64p+l] = dm[4p]·(q&15) − dm[4p+1] and dst[64p+32+l] = dm[4p+2]·(q>>4)
// − dm[4p+3], l < 32.
TEXT ·deqQ4K(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ qs+8(FP), SI
	MOVQ dm+16(FP), DX
	MOVL $15, AX
	VPBROADCASTD AX, Z7
	MOVQ $4, CX
q4loop:
	VBROADCASTSS 0(DX), Z0
	VBROADCASTSS 4(DX), Z1
	VBROADCASTSS 8(DX), Z2
	VBROADCASTSS 12(DX), Z3
	VPMOVZXBD 0(SI), Z4
	VPANDD Z7, Z4, Z5
	VPSRLD $4, Z4, Z6
	VCVTDQ2PS Z5, Z5
	VCVTDQ2PS Z6, Z6
	VMULPS Z0, Z5, Z5
	VSUBPS Z1, Z5, Z5
	VMULPS Z2, Z6, Z6
	VSUBPS Z3, Z6, Z6
	VMOVUPS Z5, (DI)
	VMOVUPS Z6, 128(DI)
	VPMOVZXBD 16(SI), Z4
	VPANDD Z7, Z4, Z5
	VPSRLD $4, Z4, Z6
	VCVTDQ2PS Z5, Z5
	VCVTDQ2PS Z6, Z6
	VMULPS Z0, Z5, Z5
	VSUBPS Z1, Z5, Z5
	VMULPS Z2, Z6, Z6
	VSUBPS Z3, Z6, Z6
	VMOVUPS Z5, 64(DI)
	VMOVUPS Z6, 192(DI)
	ADDQ $32, SI
	ADDQ $256, DI
	ADDQ $16, DX
	DECQ CX
	JNZ q4loop
	VZEROUPPER
	RET
