// Package vecmath holds the pure numeric kernels of semvec-go: dot products,
// cosine similarity, normalisation, blending, means, softmax, top-k selection
// and a canonical checksum. Vectors are []float32; accumulation is float64
// where it matters for determinism. Standard library only.
package vecmath

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"sort"
)

// Dot returns the dot product of a and b over their common length.
func Dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Norm returns the Euclidean length of v.
func Norm(v []float32) float32 { return float32(math.Sqrt(float64(Dot(v, v)))) }

// Cosine returns the cosine similarity of a and b in [-1, 1]. It returns 0 when
// either vector is zero, the lengths differ, or the result is not finite.
func Cosine(a, b []float32) float32 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	d := Dot(a, b)
	na, nb := Dot(a, a), Dot(b, b)
	if na == 0 || nb == 0 {
		return 0
	}
	c := float64(d) / math.Sqrt(float64(na)*float64(nb))
	if math.IsNaN(c) || math.IsInf(c, 0) {
		return 0
	}
	return float32(max(-1, min(1, c)))
}

// Normalize scales v in place to unit length and returns its former norm.
// A zero or non-finite vector is left unchanged.
func Normalize(v []float32) float32 {
	n := Norm(v)
	if n == 0 || math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return n
	}
	inv := 1 / n
	for i := range v {
		v[i] *= inv
	}
	return n
}

// Blend writes (1-w)*a + w*b into dst (which may alias a) and returns dst.
func Blend(dst, a, b []float32, w float32) []float32 {
	for i := range dst {
		dst[i] = (1-w)*a[i] + w*b[i]
	}
	return dst
}

// AddScaled adds w*b to dst in place.
func AddScaled(dst, b []float32, w float32) {
	for i := range dst {
		dst[i] += w * b[i]
	}
}

// Mean writes the element-wise mean of vs into dst and returns it.
func Mean(dst []float32, vs ...[]float32) []float32 {
	clear(dst)
	if len(vs) == 0 {
		return dst
	}
	for _, v := range vs {
		AddScaled(dst, v, 1)
	}
	inv := 1 / float32(len(vs))
	for i := range dst {
		dst[i] *= inv
	}
	return dst
}

// Softmax writes softmax(x/temperature) into dst in a numerically stable way.
func Softmax(dst, x []float64, temperature float64) []float64 {
	if temperature <= 0 {
		temperature = 1
	}
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	var sum float64
	for i, v := range x {
		dst[i] = math.Exp((v - m) / temperature)
		sum += dst[i]
	}
	for i := range dst {
		dst[i] /= sum
	}
	return dst
}

// Scored is an index with a score, as returned by TopK.
type Scored struct {
	Index int
	Score float32
}

// TopK returns the k highest scores in descending order; ties keep the lower
// index first, so the result is deterministic. buf is reused when large enough.
func TopK(scores []float32, k int, buf []Scored) []Scored {
	out := buf[:0]
	for i, s := range scores {
		out = append(out, Scored{i, s})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if k < len(out) {
		out = out[:k]
	}
	return out
}

// Finite reports whether every element of v is finite.
func Finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// Checksum is the canonical SHA-256 over a sequence of vectors: each vector
// is written as its length (uint32 little-endian) followed by its elements as
// IEEE-754 float32 little-endian. Hex-encoded.
func Checksum(vs ...[]float32) string {
	h := sha256.New()
	var b [4]byte
	for _, v := range vs {
		binary.LittleEndian.PutUint32(b[:], uint32(len(v)))
		h.Write(b[:])
		for _, x := range v {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
