package vecmath

// Element-wise conversions between int8 codes, float32 and float64, with
// every product and sum rounded to float64 in the order written (explicit
// conversions keep the compiler from fusing them) and the result rounded to
// float32 once. The AVX2 kernels (amd64) do the same operations four lanes at
// a time, so both paths give identical bits.

// ScaleI8 sets dst[i] = float32(float64(c[i])·s) for i < len(c).
// len(dst) must be at least len(c).
func ScaleI8(dst []float32, c []int8, s float64) {
	dst = dst[:len(c)]
	scaleI8(dst, c, s)
}

// MixI8 sets dst[i] = float32(wa·(float64(a[i])·sa) + wb·(float64(b[i])·sb))
// for i < len(a): a weighted sum of two dequantised code vectors. len(b) and
// len(dst) must be at least len(a).
func MixI8(dst []float32, a []int8, sa, wa float64, b []int8, sb, wb float64) {
	dst, b = dst[:len(a)], b[:len(a)]
	mixI8(dst, a, sa, wa, b, sb, wb)
}

// AxpyF32 sets dst[i] = float32(float64(x[i]) + w·float64(y[i])) for
// i < len(x). len(y) and len(dst) must be at least len(x); dst may be x.
func AxpyF32(dst, x []float32, w float64, y []float32) {
	dst, y = dst[:len(x)], y[:len(x)]
	axpyF32(dst, x, w, y)
}

// ScaleF32 sets dst[i] = float32(float64(v[i])·s) for i < len(v). len(dst)
// must be at least len(v); dst may be v.
func ScaleF32(dst, v []float32, s float64) {
	dst = dst[:len(v)]
	scaleF32(dst, v, s)
}

func scaleI8Generic(dst []float32, c []int8, s float64) {
	for i, x := range c {
		dst[i] = float32(float64(x) * s)
	}
}

func mixI8Generic(dst []float32, a []int8, sa, wa float64, b []int8, sb, wb float64) {
	for i, x := range a {
		p := float64(wa * float64(float64(x)*sa))
		q := float64(wb * float64(float64(b[i])*sb))
		dst[i] = float32(p + q)
	}
}

func axpyF32Generic(dst, x []float32, w float64, y []float32) {
	for i, v := range x {
		dst[i] = float32(float64(v) + float64(w*float64(y[i])))
	}
}

func scaleF32Generic(dst, v []float32, s float64) {
	for i, x := range v {
		dst[i] = float32(float64(x) * s)
	}
}
