//go:build amd64 && !purego

package vecmath

// The conversion kernels handle whole 4-element blocks; the rest is done in
// Go with the same arithmetic.

func scaleI8(dst []float32, c []int8, s float64) {
	if n := len(c) &^ 3; hasAVX2 && n > 0 {
		scaleI8AVX2(dst[:n], c[:n], s)
		dst, c = dst[n:], c[n:]
	}
	scaleI8Generic(dst, c, s)
}

func mixI8(dst []float32, a []int8, sa, wa float64, b []int8, sb, wb float64) {
	if n := len(a) &^ 3; hasAVX2 && n > 0 {
		mixI8AVX2(dst[:n], a[:n], sa, wa, b[:n], sb, wb)
		dst, a, b = dst[n:], a[n:], b[n:]
	}
	mixI8Generic(dst, a, sa, wa, b, sb, wb)
}

func axpyF32(dst, x []float32, w float64, y []float32) {
	if n := len(x) &^ 3; hasAVX2 && n > 0 {
		axpyF32AVX2(dst[:n], x[:n], w, y[:n])
		dst, x, y = dst[n:], x[n:], y[n:]
	}
	axpyF32Generic(dst, x, w, y)
}

func scaleF32(dst, v []float32, s float64) {
	if n := len(v) &^ 3; hasAVX2 && n > 0 {
		scaleF32AVX2(dst[:n], v[:n], s)
		dst, v = dst[n:], v[n:]
	}
	scaleF32Generic(dst, v, s)
}

// The AVX2 kernels widen four elements to float64 (VPMOVSXBD+VCVTDQ2PD or
// VCVTPS2PD), multiply and add with VMULPD/VADDPD (never FMA) and narrow
// with VCVTPD2PS under the default round-to-nearest-even, as Go's scalar
// code does. len of every slice must equal len(dst), a positive multiple of
// 4.

//go:noescape
func scaleI8AVX2(dst []float32, c []int8, s float64)

//go:noescape
func mixI8AVX2(dst []float32, a []int8, sa, wa float64, b []int8, sb, wb float64)

//go:noescape
func axpyF32AVX2(dst, x []float32, w float64, y []float32)

//go:noescape
func scaleF32AVX2(dst, v []float32, s float64)
