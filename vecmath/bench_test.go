package vecmath

import (
	"math/rand/v2"
	"testing"
)

const benchDim = 384

func benchVec(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

var sinkF32 float32

func BenchmarkDot(b *testing.B) {
	x, y := benchVec(1, benchDim), benchVec(2, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		sinkF32 = Dot(x, y)
	}
}

func BenchmarkCosine(b *testing.B) {
	x, y := benchVec(1, benchDim), benchVec(2, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		sinkF32 = Cosine(x, y)
	}
}

func BenchmarkNormalize(b *testing.B) {
	v := benchVec(3, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		sinkF32 = Normalize(v)
	}
}

func BenchmarkTopK(b *testing.B) {
	scores := benchVec(4, 100)
	buf := make([]Scored, 0, 100)
	b.ReportAllocs()
	for b.Loop() {
		buf = TopK(scores, 10, buf)
	}
}

var sinkStr string

func BenchmarkChecksum(b *testing.B) {
	v := benchVec(5, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		sinkStr = Checksum(v)
	}
}
