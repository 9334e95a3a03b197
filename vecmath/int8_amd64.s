//go:build amd64 && !purego

#include "textflag.h"

// I8STEP adds the products of the 16 int8 values at byte offset OFF of SI and
// DI, in pairs, to the eight int32 lanes of ACC. VPMADDWD cannot saturate:
// a pair sums to at most 2·(-128)·(-128) = 2^15.
#define I8STEP(OFF, ACC, TA, TB) \
	VPMOVSXBW OFF(SI), TA; \
	VPMOVSXBW OFF(DI), TB; \
	VPMADDWD  TB, TA, TA; \
	VPADDD    TA, ACC, ACC

// func dotI8AVX2(a, b []int8) int32
TEXT ·dotI8AVX2(SB), NOSPLIT, $0-52
	MOVQ  a_base+0(FP), SI
	MOVQ  a_len+8(FP), CX
	MOVQ  b_base+24(FP), DI
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	CMPQ  CX, $64
	JB    i8tail

i8loop:
	I8STEP(0, Y0, Y4, Y5)
	I8STEP(16, Y1, Y6, Y7)
	I8STEP(32, Y2, Y8, Y9)
	I8STEP(48, Y3, Y10, Y11)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $64, CX
	CMPQ CX, $64
	JAE  i8loop

i8tail:
	// At most one 32-element block is left.
	TESTQ CX, CX
	JZ    i8reduce
	I8STEP(0, Y0, Y4, Y5)
	I8STEP(16, Y1, Y6, Y7)

i8reduce:
	VPADDD       Y1, Y0, Y0
	VPADDD       Y3, Y2, Y2
	VPADDD       Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX
	VZEROUPPER
	MOVL         AX, ret+48(FP)
	RET

// func maxAbsBitsAVX2(v []float32) uint32
TEXT ·maxAbsBitsAVX2(SB), NOSPLIT, $0-28
	MOVQ         v_base+0(FP), SI
	MOVQ         v_len+8(FP), CX
	MOVL         $0x7fffffff, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VPXOR        Y0, Y0, Y0
	VPXOR        Y1, Y1, Y1
	VPXOR        Y2, Y2, Y2
	VPXOR        Y3, Y3, Y3
	CMPQ         CX, $32
	JB           maxtail

maxloop:
	VPAND   (SI), Y15, Y4
	VPAND   32(SI), Y15, Y5
	VPAND   64(SI), Y15, Y6
	VPAND   96(SI), Y15, Y7
	VPMAXUD Y4, Y0, Y0
	VPMAXUD Y5, Y1, Y1
	VPMAXUD Y6, Y2, Y2
	VPMAXUD Y7, Y3, Y3
	ADDQ    $128, SI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JAE     maxloop

maxtail:
	// Up to three 8-element blocks are left.
	TESTQ   CX, CX
	JZ      maxreduce
	VPAND   (SI), Y15, Y4
	VPMAXUD Y4, Y0, Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JMP     maxtail

maxreduce:
	VPMAXUD      Y1, Y0, Y0
	VPMAXUD      Y3, Y2, Y2
	VPMAXUD      Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPMAXUD      X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPMAXUD      X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPMAXUD      X1, X0, X0
	VMOVD        X0, AX
	VZEROUPPER
	MOVL         AX, ret+24(FP)
	RET

// q127<> is 127.0 in each of four float64 lanes.
DATA q127<>+0(SB)/8, $0x405fc00000000000
DATA q127<>+8(SB)/8, $0x405fc00000000000
DATA q127<>+16(SB)/8, $0x405fc00000000000
DATA q127<>+24(SB)/8, $0x405fc00000000000
GLOBL q127<>(SB), RODATA|NOPTR, $32

// QFAST quantises the four float32 values at byte offset OFF of SI the way
// quantizeI8Generic's fast path does, with r in Y15 and quantTieSq in Y14:
// Y = x·r, K = Y rounded to nearest, ties to even (VROUNDPD imm 8: nearest,
// no precision exception), and T = all ones in the lanes where (Y-K)² >
// quantTieSq (VCMPPD imm 0x1e: greater than, ordered, quiet).
#define QFAST(OFF, Y, K, T) \
	VCVTPS2PD OFF(SI), Y; \
	VMULPD    Y15, Y, Y; \
	VROUNDPD  $8, Y, K; \
	VSUBPD    K, Y, T; \
	VMULPD    T, T, T; \
	VCMPPD    $0x1e, Y14, T, T

// QEXACT replaces K by quantizeExact's result in the lanes where T is all
// ones, with m in Y13; Y and Y12 are scratch. y = (x·127)/m with the product
// exact and the quotient correctly rounded; t = trunc(y) (VROUNDPD imm 0xb:
// toward zero, no precision exception); f = y-t is exact and |f| < 1, so
// trunc(2f) is exactly +1 for f ≥ ½, -1 for f ≤ -½ and 0 otherwise, and
// t + trunc(2f) is y rounded half away from zero.
#define QEXACT(OFF, Y, K, T) \
	VCVTPS2PD OFF(SI), Y; \
	VMULPD    q127<>(SB), Y, Y; \
	VDIVPD    Y13, Y, Y; \
	VROUNDPD  $0xb, Y, Y12; \
	VSUBPD    Y12, Y, Y; \
	VADDPD    Y, Y, Y; \
	VROUNDPD  $0xb, Y, Y; \
	VADDPD    Y12, Y, Y; \
	VBLENDVPD T, Y, K, K

// func quantizeI8AVX2(dst []int8, v []float32, m, r, tieSq float64)
TEXT ·quantizeI8AVX2(SB), NOSPLIT, $0-72
	MOVQ         dst_base+0(FP), DI
	MOVQ         v_base+24(FP), SI
	MOVQ         v_len+32(FP), CX
	VBROADCASTSD m+48(FP), Y13
	VBROADCASTSD r+56(FP), Y15
	VBROADCASTSD tieSq+64(FP), Y14
	CMPQ         CX, $16
	JB           q4loop

q16loop:
	QFAST(0, Y0, Y4, Y8)
	QFAST(16, Y1, Y5, Y9)
	QFAST(32, Y2, Y6, Y10)
	QFAST(48, Y3, Y7, Y11)
	VORPD Y9, Y8, Y12
	VORPD Y11, Y10, Y0
	VORPD Y0, Y12, Y12
	VPTEST Y12, Y12
	JNZ   q16exact

q16store:
	// The integers in K are within [-127, 127], so the conversions are
	// exact and the saturating packs never saturate.
	VCVTPD2DQY Y4, X4
	VCVTPD2DQY Y5, X5
	VCVTPD2DQY Y6, X6
	VCVTPD2DQY Y7, X7
	VPACKSSDW  X5, X4, X4
	VPACKSSDW  X7, X6, X6
	VPACKSSWB  X6, X4, X4
	VMOVDQU    X4, (DI)
	ADDQ       $64, SI
	ADDQ       $16, DI
	SUBQ       $16, CX
	CMPQ       CX, $16
	JAE        q16loop
	JMP        q4loop

q16exact:
	QEXACT(0, Y0, Y4, Y8)
	QEXACT(16, Y1, Y5, Y9)
	QEXACT(32, Y2, Y6, Y10)
	QEXACT(48, Y3, Y7, Y11)
	JMP q16store

q4loop:
	// Up to three 4-element blocks are left.
	TESTQ  CX, CX
	JZ     qdone
	QFAST(0, Y0, Y4, Y8)
	VPTEST Y8, Y8
	JZ     q4store
	QEXACT(0, Y0, Y4, Y8)

q4store:
	VCVTPD2DQY Y4, X4
	VPACKSSDW  X4, X4, X4
	VPACKSSWB  X4, X4, X4
	VMOVD      X4, (DI)
	ADDQ       $16, SI
	ADDQ       $4, DI
	SUBQ       $4, CX
	JMP        q4loop

qdone:
	VZEROUPPER
	RET
