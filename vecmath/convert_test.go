package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randCodes(r *rand.Rand, n int) []int8 {
	c := make([]int8, n)
	for i := range c {
		c[i] = int8(r.IntN(256) - 128)
	}
	return c
}

func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))
	}
	return v
}

// The exported conversions compute what their comments say, whatever the
// length (the kernels' 4-element blocks and the rest in Go), and dst may
// alias the input where allowed.
func TestConversions(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for n := 0; n <= 41; n++ {
		c, d := randCodes(r, n), randCodes(r, n)
		x, y := randFloats(r, n), randFloats(r, n)
		s, w := r.Float64()/50, r.Float64()
		out := make([]float32, n+3) // longer than needed: only n are written
		for i := range out {
			out[i] = -7
		}
		eq := func(name string, i int, got, want float32) {
			t.Helper()
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%s n=%d [%d]: %v, want %v", name, n, i, got, want)
			}
		}
		ScaleI8(out, c, s)
		for i := range n {
			eq("ScaleI8", i, out[i], float32(float64(c[i])*s))
		}
		MixI8(out, c, s, w, d, 2*s, 1-w)
		for i := range n {
			p := float64(w * float64(float64(c[i])*s))
			q := float64((1 - w) * float64(float64(d[i])*(2*s)))
			eq("MixI8", i, out[i], float32(p+q))
		}
		AxpyF32(out, x, w, y)
		for i := range n {
			eq("AxpyF32", i, out[i], float32(float64(x[i])+float64(w*float64(y[i]))))
		}
		ScaleF32(out, x, s)
		for i := range n {
			eq("ScaleF32", i, out[i], float32(float64(x[i])*s))
		}
		for i := n; i < len(out); i++ {
			eq("past the end", i, out[i], -7)
		}
		// In place.
		z := append([]float32(nil), x...)
		AxpyF32(z, z, w, y)
		for i := range n {
			eq("AxpyF32 in place", i, z[i], float32(float64(x[i])+float64(w*float64(y[i]))))
		}
		z = append(z[:0], x...)
		ScaleF32(z, z, s)
		for i := range n {
			eq("ScaleF32 in place", i, z[i], float32(float64(x[i])*s))
		}
	}
}

func BenchmarkMixI8(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	c, d, out := randCodes(r, 384), randCodes(r, 384), make([]float32, 384)
	b.ReportAllocs()
	for b.Loop() {
		MixI8(out, c, 0.01, 0.6, d, 0.02, 0.4)
	}
}

func BenchmarkMixI8Go(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	c, d, out := randCodes(r, 384), randCodes(r, 384), make([]float32, 384)
	b.ReportAllocs()
	for b.Loop() {
		mixI8Generic(out, c, 0.01, 0.6, d, 0.02, 0.4)
	}
}
