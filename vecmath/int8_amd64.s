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
