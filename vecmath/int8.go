package vecmath

import (
	"math"
	"strconv"
)

// MaxI8Len is the longest input DotI8 accepts (and so NormI8 and CosineI8).
//
// DotI8 accumulates in int32. A single product is at most
// (-128)·(-128) = 2^14 in magnitude, so for n ≤ MaxI8Len = 2^16 elements the
// exact sum is bounded by 2^30 and always fits in an int32; intermediate
// wrap-around inside the SIMD lanes cannot change the result because integer
// addition modulo 2^32 is associative. (2^17 would not quite do: 2^17 products
// of -128·-128 sum to exactly 2^31.) Longer inputs make DotI8 panic.
const MaxI8Len = 1 << 16

// QuantizeI8 writes v quantised to int8 into dst and returns dst[:len(v)]:
//
//	dst[i] = round-half-away-from-zero(v[i] * 127 / max|v|)
//
// so the element(s) of largest magnitude map to ±127 and every value lies in
// [-127, 127] (never -128, so QuantizeI8(-v) == -QuantizeI8(v)). A vector that
// is all zeros, or that contains NaN or ±Inf, gives all zeros. Subnormal
// inputs are handled like any other finite value.
//
// Rounding is exact with respect to the real quotient, hence identical on
// every platform: a float64 multiply by 127/max|v| (whose error cannot reach
// a rounding boundary) and a rounding to integer, with a correctly rounded
// division for the rare elements near a tie (see quantTieEps).
//
// On amd64 CPUs with AVX2 assembly kernels find max|v| and quantise blocks of
// four elements; they perform the same float64 operations as the portable
// code (maxAbsBitsGeneric, quantizeI8Generic) and so give the same bytes.
//
// QuantizeI8 panics if len(dst) < len(v); it does not allocate.
func QuantizeI8(dst []int8, v []float32) []int8 {
	if len(dst) < len(v) {
		panic("vecmath: QuantizeI8: len(dst) = " + strconv.Itoa(len(dst)) +
			" < len(v) = " + strconv.Itoa(len(v)))
	}
	dst = dst[:len(v)]
	// Any exponent of all ones is NaN or ±Inf.
	const expMask = 0x7f800000
	maxBits := maxAbsBits(v)
	if maxBits == 0 || maxBits >= expMask {
		clear(dst)
		return dst
	}
	quantizeI8(dst, v, float64(math.Float32frombits(maxBits)))
	return dst
}

// maxAbsBitsGeneric returns the largest of the bit patterns of |v[i]|
// (0 for an empty v). For non-negative floats, ordering the bit patterns as
// integers orders the values, and NaNs and ±Inf compare above every finite
// value. Four running maxima shorten the dependency chain.
func maxAbsBitsGeneric(v []float32) uint32 {
	const absMask = 0x7fffffff
	var m0, m1, m2, m3 uint32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		x := (*[4]float32)(v[i:])
		m0 = max(m0, math.Float32bits(x[0])&absMask)
		m1 = max(m1, math.Float32bits(x[1])&absMask)
		m2 = max(m2, math.Float32bits(x[2])&absMask)
		m3 = max(m3, math.Float32bits(x[3])&absMask)
	}
	for ; i < len(v); i++ {
		m0 = max(m0, math.Float32bits(v[i])&absMask)
	}
	return max(m0, m1, m2, m3)
}

// quantizeI8Generic writes round-half-away-from-zero(v[i]*127/m) into dst[i]
// for every i; m is max|v|, finite and positive, and len(dst) >= len(v).
func quantizeI8Generic(dst []int8, v []float32, m float64) {
	dst = dst[:len(v)]
	r := 127 / m
	for i, x := range v {
		// y is within 2^-45 of the exact quotient x*127/m (|y| ≲ 127),
		// so rounding it to the nearest integer gives the exact result
		// unless y is within quantTieEps of a tie k+½ (|f| close to ½);
		// that rare case is redone exactly, with halves away from zero.
		y := float64(float64(x) * r)            // explicit rounding: no fusion
		k := float64(y+roundMagic) - roundMagic // y rounded half to even
		if f := y - k; f*f > quantTieSq {
			k = quantizeExact(x, m)
		}
		dst[i] = int8(k)
	}
}

// quantTieEps is the distance from a rounding tie within which QuantizeI8
// recomputes an element exactly. The fast path's error is below 2^-45,
// while an exact quotient x*127/m of float32 values that is not itself a tie
// k+½ lies at least 2^-33 > 1e-10 from every tie (it is a ratio of integers
// below 2^32), so outside the band the fast path rounds correctly.
const quantTieEps = 1e-11

// roundMagic is 1.5·2^52: for |y| < 2^51, (y + roundMagic) - roundMagic is y
// rounded to an integer, ties to even, in IEEE float64 arithmetic.
const roundMagic = 0x1.8p52

// quantTieSq is (½ - quantTieEps)²: |f| > ½ - quantTieEps iff f² > quantTieSq.
const quantTieSq = (0.5 - quantTieEps) * (0.5 - quantTieEps)

// quantizeExact returns x*127/m rounded to the nearest integer, halves away
// from zero. x*127 is exact in float64 and the division is correctly rounded
// (relative error ≤ 2^-53, far below the 2^-33 separation of non-ties from
// ties, see quantTieEps), so the fraction decides the rounding exactly.
func quantizeExact(x float32, m float64) float64 {
	y := float64(x) * 127 / m
	t := math.Trunc(y)
	switch f := y - t; {
	case f >= 0.5:
		t++
	case f <= -0.5:
		t--
	}
	return t
}

// DotI8 returns the exact integer dot product of a and b over their common
// length (min(len(a), len(b)) elements); 0 for empty input. It panics if the
// common length exceeds MaxI8Len, beyond which an int32 could overflow.
//
// On amd64 CPUs with AVX2 an assembly kernel does the bulk of the work; the
// portable kernel (other architectures, or the purego build tag) returns the
// same value, since integer arithmetic is exact. It does not allocate.
func DotI8(a, b []int8) int32 {
	n := min(len(a), len(b))
	if n > MaxI8Len {
		panic("vecmath: DotI8: length " + strconv.Itoa(n) + " exceeds MaxI8Len")
	}
	return dotI8(a[:n], b[:n])
}

// NormI8 returns the Euclidean length of a, sqrt(DotI8(a, a)), rounded to
// float32: 0 for an empty or zero vector. Like DotI8 it panics if len(a)
// exceeds MaxI8Len.
func NormI8(a []int8) float32 {
	return float32(math.Sqrt(float64(DotI8(a, a))))
}

// cosI8Snap is how close to ±1 a CosineI8 quotient must be to be returned as
// exactly ±1. The cached norms are float32 roundings of exact square roots
// (relative error ≤ 2^-24 each), so the quotient may be off by about 2^-23
// relative; within twice that of ±1 the operands are parallel as far as the
// arithmetic can tell.
const cosI8Snap = 0x1p-22

// CosineI8 returns the cosine similarity DotI8(a, b) / (na * nb) of two
// int8 vectors, clamped to [-1, 1], where na and nb are NormI8(a) and
// NormI8(b) (callers typically cache them). It returns 0 when the lengths
// differ, or when either norm is 0 or not finite (including an empty
// vector).
//
// Results within 2^-22 of ±1 — the precision the float32 norms allow — are
// returned as exactly ±1, so CosineI8(a, NormI8(a), a, NormI8(a)) == 1 for
// every non-zero a. It panics if len(a) exceeds MaxI8Len and does not
// allocate.
func CosineI8(a []int8, na float32, b []int8, nb float32) float32 {
	if len(a) != len(b) || !(na > 0 && nb > 0) || na > math.MaxFloat32 || nb > math.MaxFloat32 {
		return 0
	}
	// float32·float32 is exact in float64; one rounding in the division.
	c := float64(DotI8(a, b)) / (float64(na) * float64(nb))
	switch {
	case c >= 1-cosI8Snap:
		return 1
	case c <= -1+cosI8Snap:
		return -1
	}
	return float32(c)
}

// dotI8Generic is the portable int8 dot product; len(b) >= len(a) and
// len(a) <= MaxI8Len. Four independent int32 sums keep the loop pipelined.
func dotI8Generic(a, b []int8) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x, y := (*[4]int8)(a[i:]), (*[4]int8)(b[i:])
		s0 += int32(x[0]) * int32(y[0])
		s1 += int32(x[1]) * int32(y[1])
		s2 += int32(x[2]) * int32(y[2])
		s3 += int32(x[3]) * int32(y[3])
	}
	for ; i < len(a); i++ {
		s0 += int32(a[i]) * int32(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}
