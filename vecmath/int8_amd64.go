//go:build amd64 && !purego

package vecmath

// hasAVX2 reports whether the CPU supports AVX2 (CPUID.(EAX=7,ECX=0):EBX bit
// 5) and the operating system saves the YMM state (the hasAVX check). It is
// computed once during package initialisation and only read afterwards.
var hasAVX2 = detectAVX2()

func detectAVX2() bool {
	if !detectAVX() {
		return false
	}
	if maxID, _, _, _ := cpuid(0, 0); maxID < 7 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	const avx2 = 1 << 5
	return ebx&avx2 != 0
}

// i8Block is the granularity of the AVX2 int8 kernel, in elements.
const i8Block = 32

// dotI8 returns the int8 dot product of a and b (equal length, at most
// MaxI8Len): whole 32-element blocks in the AVX2 kernel when available, the
// rest in Go.
func dotI8(a, b []int8) int32 {
	var s int32
	if n := len(a) &^ (i8Block - 1); hasAVX2 && n > 0 {
		s = dotI8AVX2(a[:n], b[:n])
		a, b = a[n:], b[n:]
	}
	return s + dotI8Generic(a, b)
}

// dotI8AVX2 is the AVX2 kernel behind dotI8: it sign-extends 16 int8 values
// at a time to int16 (VPMOVSXBW), multiplies and adds adjacent pairs into
// int32 lanes (VPMADDWD) and accumulates them. len(a) must be a positive
// multiple of 32, len(b) >= len(a) and len(a) <= MaxI8Len.
//
//go:noescape
func dotI8AVX2(a, b []int8) int32
