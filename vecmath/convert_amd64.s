//go:build amd64 && !purego

#include "textflag.h"

// func scaleI8AVX2(dst []float32, c []int8, s float64)
TEXT ·scaleI8AVX2(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	MOVQ         c_base+24(FP), SI
	MOVQ         c_len+32(FP), CX
	VBROADCASTSD s+48(FP), Y8

scaleI8loop:
	VPMOVSXBD  (SI), X0
	VCVTDQ2PD  X0, Y0
	VMULPD     Y8, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $4, SI
	ADDQ       $16, DI
	SUBQ       $4, CX
	JNZ        scaleI8loop
	VZEROUPPER
	RET

// func mixI8AVX2(dst []float32, a []int8, sa, wa float64, b []int8, sb, wb float64)
TEXT ·mixI8AVX2(SB), NOSPLIT, $0-104
	MOVQ         dst_base+0(FP), DI
	MOVQ         a_base+24(FP), SI
	MOVQ         a_len+32(FP), CX
	VBROADCASTSD sa+48(FP), Y8
	VBROADCASTSD wa+56(FP), Y9
	MOVQ         b_base+64(FP), DX
	VBROADCASTSD sb+88(FP), Y10
	VBROADCASTSD wb+96(FP), Y11

mixI8loop:
	VPMOVSXBD  (SI), X0
	VCVTDQ2PD  X0, Y0
	VMULPD     Y8, Y0, Y0  // a·sa
	VMULPD     Y0, Y9, Y0  // wa·(a·sa)
	VPMOVSXBD  (DX), X1
	VCVTDQ2PD  X1, Y1
	VMULPD     Y10, Y1, Y1 // b·sb
	VMULPD     Y1, Y11, Y1 // wb·(b·sb)
	VADDPD     Y1, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $4, SI
	ADDQ       $4, DX
	ADDQ       $16, DI
	SUBQ       $4, CX
	JNZ        mixI8loop
	VZEROUPPER
	RET

// func axpyF32AVX2(dst, x []float32, w float64, y []float32)
TEXT ·axpyF32AVX2(SB), NOSPLIT, $0-80
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSD w+48(FP), Y8
	MOVQ         y_base+56(FP), DX

axpyloop:
	VCVTPS2PD  (SI), Y0
	VCVTPS2PD  (DX), Y1
	VMULPD     Y1, Y8, Y1  // w·y
	VADDPD     Y1, Y0, Y0  // x + w·y
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DX
	ADDQ       $16, DI
	SUBQ       $4, CX
	JNZ        axpyloop
	VZEROUPPER
	RET

// func scaleF32AVX2(dst, v []float32, s float64)
TEXT ·scaleF32AVX2(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	MOVQ         v_base+24(FP), SI
	MOVQ         v_len+32(FP), CX
	VBROADCASTSD s+48(FP), Y8

scaleF32loop:
	VCVTPS2PD  (SI), Y0
	VMULPD     Y8, Y0, Y0
	VCVTPD2PSY Y0, X0
	VMOVUPS    X0, (DI)
	ADDQ       $16, SI
	ADDQ       $16, DI
	SUBQ       $4, CX
	JNZ        scaleF32loop
	VZEROUPPER
	RET
