package engine

import (
	"math"
	"sync"

	"github.com/semvec-go/semvec/vecmath"
)

// qvec is a unit direction stored as int8 codes (see doc.go, "Memory keys"):
// k = vecmath.QuantizeI8 of a float32 unit vector, so its largest element is
// ±127, and n = vecmath.NormI8(k). It is used for memory keys, the recent
// drift context and the shadow buffer: a quarter of the bytes of float32, and
// an exact integer dot product, so scores are identical on every CPU.
//
// A memory's qvec is a view of its slot in the session's key arena; the slot
// is rewritten only through writeSlot, which first gives a Verify reference
// sharing it its own copy. The recent-context ring reuses the codes of the
// entry it drops.
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
	vecmath.ScaleI8(dst, q.k, q.inv()) // float32(c·inv)
	return dst[:len(q.k)]
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

// Per-call scratch comes from scratchPool: vectors of up to stackDim
// elements and up to stackScores memories fit in its fixed arrays, larger ones
// allocate. The session keeps no scratch between calls, so an idle session
// holds none. The arrays are not on the stack because the session actor runs
// on a fresh goroutine per mailbox batch: frames of several KiB would make
// the runtime grow and copy that small stack on almost every turn.
const (
	stackDim    = 512
	stackScores = 128
)

// scratch is the working memory of one call. Every field is written before
// it is read; nothing may keep a reference into it after put.
type scratch struct {
	x  [stackDim]float32    // Run: the message, unit length
	f  [stackDim]float32    // qaKeyCodes, absorb: a rebuilt vector
	v  [stackDim]float64    // fold: the blended state before normalising
	q  [stackDim]int8       // the quantised message or state
	sc [stackScores]float32 // memory scores
	b  [2048]byte           // buildContext: the block
	lx lexScratch           // buildContext: query tokens and BM25
	n1 [1024]byte           // hashText, mergeText: normalised texts
	n2 [1024]byte
}

// scratchPool holds scratch structs. It is the package's only package-level
// variable (see doc.go, "Footprint"); it carries no state between calls.
var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// getScratch returns a scratch from the pool; release it with put.
func getScratch() *scratch { return scratchPool.Get().(*scratch) }

// put returns b to the pool.
func (b *scratch) put() { scratchPool.Put(b) }

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

// float64sBuf returns n float64s backed by b when they fit.
func float64sBuf(b *[stackDim]float64, n int) []float64 {
	if n <= len(b) {
		return b[:n]
	}
	return make([]float64, n)
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
	vecmath.ScaleF32(dst, v, 1/math.Sqrt(n)) // float32(x·inv)
	return dst
}
