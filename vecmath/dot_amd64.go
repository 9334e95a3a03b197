//go:build amd64 && !purego

package vecmath

// hasAVX reports whether the CPU and the operating system support 256-bit AVX
// (CPUID.1:ECX.AVX and OSXSAVE, and XCR0 enabling the XMM and YMM state). It
// is computed once during package initialisation and only read afterwards.
var hasAVX = detectAVX()

func detectAVX() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 1 {
		return false
	}
	_, _, ecx, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	if ecx&osxsave == 0 || ecx&avx == 0 {
		return false
	}
	xcr0, _ := xgetbv()
	const xmmYmmState = 0b110
	return xcr0&xmmYmmState == xmmYmmState
}

// dotBlocks returns the blocked dot product of a and b (equal length, a
// positive multiple of blockLen).
func dotBlocks(a, b []float32) float32 {
	if hasAVX {
		return dotAVX(a, b)
	}
	return dotGeneric(a, b)
}

// cosBlocks returns the blocked a·b, a·a and b·b of a and b (equal length, a
// positive multiple of blockLen).
func cosBlocks(a, b []float32) (dot, aa, bb float32) {
	if hasAVX {
		return cosAVX(a, b)
	}
	return cosGeneric(a, b)
}

// scaleVec multiplies every element of v by s.
func scaleVec(v []float32, s float32) {
	if n := len(v) &^ 7; hasAVX && n > 0 {
		scaleAVX(v[:n], s)
		v = v[n:]
	}
	scaleGeneric(v, s)
}

// axpy adds w*b[i] to dst[i]; len(b) >= len(dst).
func axpy(dst, b []float32, w float32) {
	if n := len(dst) &^ 7; hasAVX && n > 0 {
		axpyAVX(dst[:n], b[:n], w)
		dst, b = dst[n:], b[n:]
	}
	axpyGeneric(dst, b, w)
}

// blend writes u*a[i] + w*b[i] into dst[i]; len(a), len(b) >= len(dst).
func blend(dst, a, b []float32, u, w float32) {
	if n := len(dst) &^ 7; hasAVX && n > 0 {
		blendAVX(dst[:n], a[:n], b[:n], u, w)
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	blendGeneric(dst, a, b, u, w)
}

// dotAVX is the AVX kernel behind dotBlocks: four 8-lane accumulators,
// multiply then add (no FMA, to match dotGeneric bit for bit). len(a) must be
// a positive multiple of blockLen and len(b) >= len(a).
//
//go:noescape
func dotAVX(a, b []float32) float32

// cosAVX is the AVX kernel behind cosBlocks, with the same preconditions as
// dotAVX.
//
//go:noescape
func cosAVX(a, b []float32) (dot, aa, bb float32)

// scaleAVX is the AVX kernel behind scaleVec; len(v) must be a positive
// multiple of 8.
//
//go:noescape
func scaleAVX(v []float32, s float32)

// axpyAVX is the AVX kernel behind axpy; len(dst) must be a positive multiple
// of 8 and len(b) >= len(dst).
//
//go:noescape
func axpyAVX(dst, b []float32, w float32)

// blendAVX is the AVX kernel behind blend; len(dst) must be a positive
// multiple of 8 and len(a), len(b) >= len(dst).
//
//go:noescape
func blendAVX(dst, a, b []float32, u, w float32)

// cpuid executes CPUID with EAX=eaxArg and ECX=ecxArg.
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv executes XGETBV with ECX=0 and returns XCR0. Only call it when
// CPUID reports OSXSAVE.
func xgetbv() (eax, edx uint32)
