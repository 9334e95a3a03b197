//go:build amd64 && !purego

package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The AVX2 conversion kernels give the bits of the Go loops, called
// directly on random data, extreme scales and every length up to 64.
func TestConvertKernelsMatchGeneric(t *testing.T) {
	if !hasAVX2 {
		t.Skip("CPU or OS without AVX2")
	}
	r := rand.New(rand.NewPCG(5, 6))
	scales := []float64{1, 1.0 / 127, 0.00787, 3.3e-5, 1e30, 1e-40, -0.75, r.Float64()}
	for n := 4; n <= 64; n += 4 {
		for _, s := range scales {
			c, d := randCodes(r, n), randCodes(r, n)
			x, y := randFloats(r, n), randFloats(r, n)
			want, got := make([]float32, n), make([]float32, n)
			check := func(name string) {
				t.Helper()
				for i := range want {
					if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
						t.Fatalf("%s n=%d s=%g: [%d] = %v, Go %v", name, n, s, i, got[i], want[i])
					}
				}
			}
			scaleI8Generic(want, c, s)
			scaleI8AVX2(got, c, s)
			check("scaleI8")
			w := r.Float64() * 3
			mixI8Generic(want, c, s, w, d, 1/(1+s*s), 1-w)
			mixI8AVX2(got, c, s, w, d, 1/(1+s*s), 1-w)
			check("mixI8")
			axpyF32Generic(want, x, s, y)
			axpyF32AVX2(got, x, s, y)
			check("axpyF32")
			scaleF32Generic(want, x, s)
			scaleF32AVX2(got, x, s)
			check("scaleF32")
		}
	}
}
