//go:build amd64 && !purego

#include "textflag.h"

DATA bf16one<>+0(SB)/4, $0x00000001
GLOBL bf16one<>(SB), RODATA|NOPTR, $4
DATA bf16bias<>+0(SB)/4, $0x00007fff
GLOBL bf16bias<>(SB), RODATA|NOPTR, $4
DATA absmask<>+0(SB)/4, $0x7fffffff
GLOBL absmask<>(SB), RODATA|NOPTR, $4
DATA f32inf<>+0(SB)/4, $0x7f800000
GLOBL f32inf<>(SB), RODATA|NOPTR, $4
DATA bf16nan<>+0(SB)/4, $0x00007fc0
GLOBL bf16nan<>(SB), RODATA|NOPTR, $4
DATA f16payload<>+0(SB)/4, $0x01ff01ff
GLOBL f16payload<>(SB), RODATA|NOPTR, $4

// func f32ToBF16AVX2(src *byte, dst *byte, n int)
// n is a multiple of 16. Per element u (the float32's bits):
// NaN → 0x7fc0, else (u + 0x7fff + (u>>16 & 1)) >> 16 — round to nearest
// even exactly as c10::BFloat16 (subnormals kept, overflow to inf).
TEXT ·f32ToBF16AVX2(SB), NOSPLIT, $0-24
	MOVQ src+0(FP), SI
	MOVQ dst+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   bdone
	VPBROADCASTD bf16one<>(SB), Y10
	VPBROADCASTD bf16bias<>(SB), Y11
	VPBROADCASTD absmask<>(SB), Y12
	VPBROADCASTD f32inf<>(SB), Y13
	VPBROADCASTD bf16nan<>(SB), Y14

bloop:
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1

	VPSRLD    $16, Y0, Y2
	VPAND     Y10, Y2, Y2
	VPADDD    Y11, Y2, Y2
	VPADDD    Y0, Y2, Y2
	VPSRLD    $16, Y2, Y2
	VPAND     Y12, Y0, Y3
	VPCMPGTD  Y13, Y3, Y3
	VPBLENDVB Y3, Y14, Y2, Y2

	VPSRLD    $16, Y1, Y4
	VPAND     Y10, Y4, Y4
	VPADDD    Y11, Y4, Y4
	VPADDD    Y1, Y4, Y4
	VPSRLD    $16, Y4, Y4
	VPAND     Y12, Y1, Y5
	VPCMPGTD  Y13, Y5, Y5
	VPBLENDVB Y5, Y14, Y4, Y4

	VPACKUSDW Y4, Y2, Y2
	VPERMQ    $0xd8, Y2, Y2
	VMOVDQU   Y2, (DI)

	ADDQ $64, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  bloop
	VZEROUPPER

bdone:
	RET

// func f32ToF16F16C(src *byte, dst *byte, n int)
// n is a multiple of 16. VCVTPS2PH with round to nearest even (IEEE:
// subnormals, overflow to inf), then NaNs keep only sign|0x7e00 as
// c10::Half's fp16_ieee_from_fp32_value gives.
TEXT ·f32ToF16F16C(SB), NOSPLIT, $0-24
	MOVQ src+0(FP), SI
	MOVQ dst+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   hdone
	VPBROADCASTD absmask<>(SB), Y12
	VPBROADCASTD f32inf<>(SB), Y13
	VPBROADCASTD f16payload<>(SB), Y14

hloop:
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1

	VPAND    Y12, Y0, Y3
	VPCMPGTD Y13, Y3, Y3
	VPAND    Y12, Y1, Y5
	VPCMPGTD Y13, Y5, Y5
	VPACKSSDW Y5, Y3, Y3
	VPERMQ   $0xd8, Y3, Y3
	VPAND    Y14, Y3, Y3

	VCVTPS2PH $0, Y0, X6
	VCVTPS2PH $0, Y1, X7
	VINSERTI128 $1, X7, Y6, Y6
	VPANDN   Y6, Y3, Y6
	VMOVDQU  Y6, (DI)

	ADDQ $64, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  hloop
	VZEROUPPER

hdone:
	RET
