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

func BenchmarkNorm(b *testing.B) {
	v := benchVec(3, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		sinkF32 = Norm(v)
	}
}

func BenchmarkBlend(b *testing.B) {
	x, y := benchVec(1, benchDim), benchVec(2, benchDim)
	dst := make([]float32, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		Blend(dst, x, y, 0.3)
	}
}

func BenchmarkAddScaled(b *testing.B) {
	x, y := benchVec(1, benchDim), benchVec(2, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		AddScaled(x, y, 1e-9)
	}
}

func BenchmarkMean(b *testing.B) {
	vs := [][]float32{benchVec(1, benchDim), benchVec(2, benchDim), benchVec(3, benchDim), benchVec(4, benchDim)}
	dst := make([]float32, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		Mean(dst, vs...)
	}
}

func BenchmarkFinite(b *testing.B) {
	v := benchVec(1, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		if !Finite(v) {
			b.Fatal("not finite")
		}
	}
}

func BenchmarkSoftmax(b *testing.B) {
	x := make([]float64, 100)
	for i := range x {
		x[i] = float64(benchVec(uint64(i), 1)[0])
	}
	dst := make([]float64, len(x))
	b.ReportAllocs()
	for b.Loop() {
		Softmax(dst, x, 0.5)
	}
}
