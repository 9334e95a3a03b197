//go:build amd64 && !purego

#include "textflag.h"

// func prefetchRange(p unsafe.Pointer, n int)
TEXT ·prefetchRange(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	TESTQ CX, CX
	JLE done
loop:
	PREFETCHT0 (SI)
	ADDQ $64, SI
	SUBQ $64, CX
	JG loop
done:
	RET

// func prefetchMemories(ms []*memory)
TEXT ·prefetchMemories(SB), NOSPLIT, $0-24
	MOVQ ms_base+0(FP), SI
	MOVQ ms_len+8(FP), CX
	TESTQ CX, CX
	JLE mdone
mloop:
	MOVQ (SI), AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	ADDQ $8, SI
	DECQ CX
	JNZ mloop
mdone:
	RET
