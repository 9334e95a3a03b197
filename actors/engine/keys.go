package engine

import (
	"math"

	"github.com/semvec-go/semvec/vecmath"
)

// qvec is a unit direction stored as int8 codes (see doc.go, "Memory keys"):
// k = vecmath.QuantizeI8 of a float32 unit vector, so its largest element is
// ±127, and n = vecmath.NormI8(k). It is used for memory keys, the recent
// drift context and the shadow buffer: a quarter of the bytes of float32, and
// an exact integer dot product, so scores are identical on every CPU.
//
// A qvec held by a memory is never modified in place (a Verify reference may
// share it). The recent-context ring reuses the codes of the entry it drops.
type qvec struct {
	k []int8
	n float32
}

// quantizeInto quantises the unit vector v into dst (len(dst) >= len(v)).
func quantizeInto(dst []int8, v []float32) qvec {
	k := vecmath.QuantizeI8(dst, v)
	return qvec{k, vecmath.NormI8(k)}
}

// quantize returns a freshly allocated qvec of v.
func quantize(v []float32) qvec { return quantizeInto(make([]int8, len(v)), v) }

// ok reports whether q holds a vector.
func (q qvec) ok() bool { return len(q.k) > 0 }

// cosQ is the cosine of two quantised vectors.
func cosQ(a, b qvec) float32 { return vecmath.CosineI8(a.k, a.n, b.k, b.n) }

// inv is 1/‖k‖ from the exact integer square norm: float64(k[i])·inv is the
// dequantised unit vector.
func (q qvec) inv() float64 { return 1 / math.Sqrt(float64(vecmath.DotI8(q.k, q.k))) }

// unitInto writes the dequantised unit vector into dst (len(dst) == len(q.k))
// and returns dst.
func (q qvec) unitInto(dst []float32) []float32 {
	inv := q.inv()
	for i, c := range q.k {
		dst[i] = float32(float64(c) * inv)
	}
	return dst
}

// clone returns a copy of q with its own codes.
func (q qvec) clone() qvec {
	if q.k == nil {
		return qvec{}
	}
	return qvec{append([]int8(nil), q.k...), q.n}
}

// sameCodes reports whether a and b hold identical codes.
func sameCodes(a, b []int8) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkCodes is the import invariant of a quantised unit vector: dim codes in
// [-127, 127] whose largest magnitude is 127, as QuantizeI8 produces them.
func checkCodes(k []int8, dim int) (ok bool, reason string) {
	if len(k) != dim {
		return false, "wrong dimension"
	}
	var m int8
	for _, c := range k {
		if c == math.MinInt8 {
			return false, "code out of range"
		}
		m = max(m, c, -c)
	}
	if m != math.MaxInt8 {
		return false, "not a canonical quantised vector"
	}
	return true, ""
}

// Per-call scratch lives on the caller's stack: vectors of up to stackDim
// elements and up to stackScores memories fit in fixed arrays, larger ones
// allocate. The session keeps no scratch between calls, so an idle session
// holds none.
const (
	stackDim    = 512
	stackScores = 128
)

// codesBuf returns n int8 codes backed by b when they fit.
func codesBuf(b *[stackDim]int8, n int) []int8 {
	if n <= len(b) {
		return b[:n]
	}
	return make([]int8, n)
}

// floatsBuf returns n float32 values backed by b when they fit.
func floatsBuf(b *[stackDim]float32, n int) []float32 {
	if n <= len(b) {
		return b[:n]
	}
	return make([]float32, n)
}

// unitInto writes the unit-length float32 copy of v into dst, computed like
// unitCopy, and returns dst.
func unitInto(dst, v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		clear(dst)
		return dst
	}
	inv := 1 / math.Sqrt(n)
	for i, x := range v {
		dst[i] = float32(float64(x) * inv)
	}
	return dst
}
