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

// maxAbsBits returns the largest bit pattern of |v[i]| (see
// maxAbsBitsGeneric): whole 8-element blocks in the AVX2 kernel when
// available, the rest in Go. The maximum of integers does not depend on the
// order in which they are compared.
func maxAbsBits(v []float32) uint32 {
	var mb uint32
	if n := len(v) &^ 7; hasAVX2 && n > 0 {
		mb = maxAbsBitsAVX2(v[:n])
		v = v[n:]
	}
	return max(mb, maxAbsBitsGeneric(v))
}

// quantizeI8 quantises v into dst with the scale m = max|v|, finite and
// positive (see quantizeI8Generic): whole 4-element blocks in the AVX2
// kernel when available, the rest in Go.
func quantizeI8(dst []int8, v []float32, m float64) {
	if n := len(v) &^ 3; hasAVX2 && n > 0 {
		quantizeI8AVX2(dst[:n], v[:n], m, 127/m, quantTieSq)
		dst, v = dst[n:], v[n:]
	}
	quantizeI8Generic(dst, v, m)
}

// maxAbsBitsAVX2 is the AVX2 kernel behind maxAbsBits: it clears the sign
// bits (VPAND) and keeps unsigned 32-bit maxima (VPMAXUD). len(v) must be a
// positive multiple of 8.
//
//go:noescape
func maxAbsBitsAVX2(v []float32) uint32

// quantizeI8AVX2 is the AVX2 kernel behind quantizeI8. It repeats
// quantizeI8Generic's float64 arithmetic four lanes at a time: y = x·r
// (VMULPD, no FMA), k = y rounded half to even (VROUNDPD, equal to the
// roundMagic sum for |y| < 2^51), and the tie test (y-k)² > tieSq. A block
// with a lane in the tie band recomputes that lane as quantizeExact does:
// x·127/m (VMULPD, VDIVPD), t = trunc(y) and t + trunc(2·(y-t)), which is t±1
// exactly when |y-t| ≥ ½. r must be 127/m and tieSq quantTieSq; len(v) must
// be a positive multiple of 4 and len(dst) >= len(v).
//
//go:noescape
func quantizeI8AVX2(dst []int8, v []float32, m, r, tieSq float64)
