package vecmath

import "math"

// Dot returns the dot product of a and b over their common length
// (min(len(a), len(b)) elements). It returns 0 for empty input and NaN or ±Inf
// when the inputs contain them or the sum overflows float32.
func Dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	nb := n &^ (blockLen - 1)
	var s float32
	if nb > 0 {
		s = dotBlocks(a[:nb], b[:nb])
	}
	tb := b[nb:]
	for i, x := range a[nb:] {
		s += float32(x * tb[i])
	}
	return s
}

// Norm returns the Euclidean length of v: 0 for an empty or zero vector, NaN
// if v contains NaN, +Inf if v contains ±Inf or the length exceeds the float32
// range. Vectors whose squared length would underflow or overflow float32 are
// measured in float64, so tiny and huge finite vectors get an accurate result.
func Norm(v []float32) float32 {
	if s := Dot(v, v); inSafeRange(s) {
		return float32(math.Sqrt(float64(s)))
	}
	return float32(math.Sqrt(sumSquares64(v)))
}

// Cosine returns the cosine similarity of a and b, clamped to [-1, 1]. It
// returns 0 when the lengths differ, the vectors are empty, either vector is
// zero, or the result is not finite (a NaN or ±Inf element).
//
// a·b, |a|² and |b|² are computed in a single pass. The result is symmetric
// bit for bit and Cosine(v, v) == 1 for every finite non-zero v.
func Cosine(a, b []float32) float32 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	d, na, nb := sums3(a, b)
	var c float64
	if inSafeRange(na) && inSafeRange(nb) {
		// Both factors are exact float64 squares of float32 values, so the
		// product is exact and cos(v, v) is exactly 1.
		c = float64(d) / math.Sqrt(float64(na)*float64(nb))
	} else {
		c = cosine64(a, b) // zero, non-finite, or out of float32 range
	}
	if math.IsNaN(c) || math.IsInf(c, 0) {
		return 0
	}
	return float32(max(-1, min(1, c)))
}

// Normalize scales v in place to unit length and returns its former norm
// (see Norm). A zero vector, or one that contains NaN or ±Inf, is left
// unchanged. A finite vector whose norm exceeds the float32 range is still
// normalised; the returned norm is then +Inf.
func Normalize(v []float32) float32 {
	if s := Dot(v, v); inSafeRange(s) {
		n := math.Sqrt(float64(s))
		scaleVec(v, float32(1/n))
		return float32(n)
	}
	n := math.Sqrt(sumSquares64(v))
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return float32(n)
	}
	inv := 1 / n
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
	return float32(n)
}

// Blend writes (1-w)*a + w*b into dst and returns dst. dst may alias a or b.
// Only the first len(dst) elements of a and b are read; Blend panics if a or b
// is shorter than dst.
func Blend(dst, a, b []float32, w float32) []float32 {
	if len(a) < len(dst) || len(b) < len(dst) {
		panic("vecmath: Blend: input shorter than dst")
	}
	blend(dst, a, b, 1-w, w)
	return dst
}

// AddScaled adds w*b to dst in place. Only the first len(dst) elements of b
// are read; AddScaled panics if b is shorter than dst.
func AddScaled(dst, b []float32, w float32) {
	if len(b) < len(dst) {
		panic("vecmath: AddScaled: input shorter than dst")
	}
	axpy(dst, b, w)
}

// Mean writes the element-wise mean of vs into dst and returns it: the sum in
// argument order, then multiplied by 1/len(vs). With no vectors dst is zeroed.
// Mean panics if a vector is shorter than dst.
func Mean(dst []float32, vs ...[]float32) []float32 {
	clear(dst)
	if len(vs) == 0 {
		return dst
	}
	for _, v := range vs {
		AddScaled(dst, v, 1)
	}
	scaleVec(dst, 1/float32(len(vs)))
	return dst
}

// Softmax writes softmax(x/temperature) into dst and returns dst[:len(x)];
// dst must have at least len(x) elements and may alias x. It subtracts the
// maximum before exponentiating, so large inputs do not overflow. A
// temperature that is not positive (or NaN) counts as 1.
//
// Edge cases: NaN entries get weight 0; if some entries are +Inf they share
// the mass equally; if every entry is -Inf or NaN the mass is spread
// uniformly over all entries.
func Softmax(dst, x []float64, temperature float64) []float64 {
	dst = dst[:len(x)]
	if len(x) == 0 {
		return dst
	}
	if !(temperature > 0) {
		temperature = 1
	}
	m := math.Inf(-1)
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	var sum float64
	switch {
	case math.IsInf(m, 1):
		for i, v := range x {
			dst[i] = 0
			if math.IsInf(v, 1) {
				dst[i] = 1
				sum++
			}
		}
	case math.IsInf(m, -1):
		for i := range dst {
			dst[i] = 1
		}
		sum = float64(len(dst))
	default:
		for i, v := range x {
			e := 0.0
			if !math.IsNaN(v) {
				e = math.Exp((v - m) / temperature)
			}
			dst[i] = e
			sum += e
		}
	}
	for i := range dst {
		dst[i] /= sum
	}
	return dst
}

// Finite reports whether every element of v is finite (neither NaN nor ±Inf).
// It is true for an empty vector.
func Finite(v []float32) bool {
	const expMask = 0x7f800000
	for _, x := range v {
		if math.Float32bits(x)&expMask == expMask {
			return false
		}
	}
	return true
}
