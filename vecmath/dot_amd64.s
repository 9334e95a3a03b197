//go:build amd64 && !purego

#include "textflag.h"

// The kernels keep 32 float32 partial sums in four YMM accumulators (element
// i of each 32-element block goes to lane i mod 32), multiply and add without
// FMA, and fold the accumulators in the fixed order of reduceLanes in dot.go,
// so that they return the same bits as the portable kernels.

// REDUCE folds accumulators A0..A3 into the low float32 of A0's XMM register
// X0; T is a scratch XMM register. Order: (A0+A1)+(A2+A3), then the high 128
// bits onto the low, then lanes 2,3 onto 0,1, then lane 1 onto lane 0.
#define REDUCE(A0, A1, A2, A3, X0, T) \
	VADDPS       A1, A0, A0; \
	VADDPS       A3, A2, A2; \
	VADDPS       A2, A0, A0; \
	VEXTRACTF128 $1, A0, T; \
	VADDPS       T, X0, X0; \
	VMOVHLPS     X0, X0, T; \
	VADDPS       T, X0, X0; \
	VMOVSHDUP    X0, T; \
	VADDSS       T, X0, X0

// func dotAVX(a, b []float32) float32
TEXT ·dotAVX(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), CX
	MOVQ b_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

dotloop:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VMULPS  (DI), Y4, Y4
	VMULPS  32(DI), Y5, Y5
	VMULPS  64(DI), Y6, Y6
	VMULPS  96(DI), Y7, Y7
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VADDPS  Y7, Y3, Y3
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JNZ     dotloop

	REDUCE(Y0, Y1, Y2, Y3, X0, X4)
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// STEP3 accumulates one 8-lane slice at byte offset OFF into the dot (D), a·a
// (A) and b·b (B) accumulators.
#define STEP3(OFF, D, A, B) \
	VMOVUPS OFF(SI), Y12; \
	VMOVUPS OFF(DI), Y13; \
	VMULPS  Y13, Y12, Y14; \
	VADDPS  Y14, D, D; \
	VMULPS  Y12, Y12, Y12; \
	VADDPS  Y12, A, A; \
	VMULPS  Y13, Y13, Y13; \
	VADDPS  Y13, B, B

// func cosAVX(a, b []float32) (dot, aa, bb float32)
TEXT ·cosAVX(SB), NOSPLIT, $0-60
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), CX
	MOVQ b_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

cosloop:
	STEP3(0, Y0, Y4, Y8)
	STEP3(32, Y1, Y5, Y9)
	STEP3(64, Y2, Y6, Y10)
	STEP3(96, Y3, Y7, Y11)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JNZ  cosloop

	REDUCE(Y0, Y1, Y2, Y3, X0, X12)
	REDUCE(Y4, Y5, Y6, Y7, X4, X13)
	REDUCE(Y8, Y9, Y10, Y11, X8, X14)
	VZEROUPPER
	MOVSS X0, dot+48(FP)
	MOVSS X4, aa+52(FP)
	MOVSS X8, bb+56(FP)
	RET

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// func scaleAVX(v []float32, s float32)
TEXT ·scaleAVX(SB), NOSPLIT, $0-28
	MOVQ         v_base+0(FP), DI
	MOVQ         v_len+8(FP), CX
	VBROADCASTSS s+24(FP), Y0

scaleloop:
	VMULPS  (DI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     scaleloop
	VZEROUPPER
	RET

// func axpyAVX(dst, b []float32, w float32)
TEXT ·axpyAVX(SB), NOSPLIT, $0-52
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         b_base+24(FP), SI
	VBROADCASTSS w+48(FP), Y0

axpyloop:
	VMULPS  (SI), Y0, Y1
	VADDPS  (DI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     axpyloop
	VZEROUPPER
	RET

// func blendAVX(dst, a, b []float32, u, w float32)
TEXT ·blendAVX(SB), NOSPLIT, $0-80
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         a_base+24(FP), SI
	MOVQ         b_base+48(FP), DX
	VBROADCASTSS u+72(FP), Y0
	VBROADCASTSS w+76(FP), Y1

blendloop:
	VMULPS  (SI), Y0, Y2
	VMULPS  (DX), Y1, Y3
	VADDPS  Y3, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     blendloop
	VZEROUPPER
	RET
