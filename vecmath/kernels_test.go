package vecmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refDot is the specification of Dot's operation order written as plainly as
// possible: 32 partial sums over whole blocks, the fixed reduction tree, then
// the tail in order.
func refDot(a, b []float32) float32 {
	n := min(len(a), len(b))
	nb := n / blockLen * blockLen
	var p [blockLen]float32
	for i := 0; i < nb; i++ {
		p[i%blockLen] += float32(a[i] * b[i])
	}
	var s float32
	if nb > 0 {
		s = reduceLanes(&p)
	}
	for i := nb; i < n; i++ {
		s += float32(a[i] * b[i])
	}
	return s
}

// unaligned returns a copy of v that starts off bytes past a 32-byte
// boundary (off a multiple of 4), so the SIMD loads cross cache lines.
func unaligned(v []float32, off int) []float32 {
	buf := make([]float32, len(v)+16)
	base := 0
	for ; base < 8; base++ {
		if uintptrOf(buf[base:])%32 == 0 {
			break
		}
	}
	w := buf[base+off/4 : base+off/4+len(v)]
	copy(w, v)
	return w
}

// TestKernelsMatchSpec checks that the dispatched kernels (AVX on capable
// amd64 CPUs, portable Go elsewhere) and the portable kernels return the same
// bits as the plain specification, for every length up to 1030 and several
// alignments, and that Dot is accurate against a float64 reference.
func TestKernelsMatchSpec(t *testing.T) {
	t.Logf("SIMD kernels in use: %v", simdEnabled())
	r := rand.New(rand.NewPCG(11, 12))
	for n := 0; n <= 1030; n++ {
		for _, off := range []int{0, 4, 12, 28} {
			if off != 0 && n%7 != 0 {
				continue // alignments on a subset of lengths keeps the test fast
			}
			a, b := unaligned(randVec(r, n), off), unaligned(randVec(r, n), (off+8)%32)
			want := refDot(a, b)
			if got := Dot(a, b); !same(got, want) {
				t.Fatalf("n=%d off=%d: Dot = %v, spec %v", n, off, got, want)
			}
			nb := n / blockLen * blockLen
			if nb > 0 {
				if g := dotGeneric(a[:nb], b[:nb]); !same(g, refDot(a[:nb], b[:nb])) {
					t.Fatalf("n=%d: dotGeneric = %v, spec %v", n, g, refDot(a[:nb], b[:nb]))
				}
				d, aa, bb := cosGeneric(a[:nb], b[:nb])
				if !same(d, refDot(a[:nb], b[:nb])) || !same(aa, refDot(a[:nb], a[:nb])) || !same(bb, refDot(b[:nb], b[:nb])) {
					t.Fatalf("n=%d: cosGeneric disagrees with the spec", n)
				}
			}
			d, aa, bb := sums3(a, b)
			if !same(d, want) || !same(aa, refDot(a, a)) || !same(bb, refDot(b, b)) {
				t.Fatalf("n=%d off=%d: sums3 = %v %v %v, spec %v %v %v", n, off, d, aa, bb, want, refDot(a, a), refDot(b, b))
			}
			// Accuracy: error bounded relative to Σ|a_i b_i|.
			var exact, mag float64
			for i := range a {
				exact += float64(a[i]) * float64(b[i])
				mag += math.Abs(float64(a[i]) * float64(b[i]))
			}
			if math.Abs(float64(want)-exact) > 1e-5*mag+1e-30 {
				t.Fatalf("n=%d: Dot = %v, float64 %v (Σ|ab| = %v)", n, want, exact, mag)
			}
		}
	}
}

// TestElementwiseMatchSpec checks the dispatched element-wise kernels against
// the plain scalar definitions, bit for bit.
func TestElementwiseMatchSpec(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for n := 0; n <= 1030; n += 1 + n%5 {
		off := 4 * (n % 8)
		a, b := unaligned(randVec(r, n), off), unaligned(randVec(r, n), 0)
		w := float32(r.Float64())

		got, want := unaligned(a, 4), make([]float32, n)
		for i := range want {
			want[i] = a[i] * w
		}
		scaleVec(got, w)
		assertBits(t, "scale", n, got, want)

		got = unaligned(a, 8)
		for i := range want {
			want[i] = a[i] + float32(w*b[i])
		}
		axpy(got, b, w)
		assertBits(t, "axpy", n, got, want)

		got = make([]float32, n)
		for i := range want {
			want[i] = float32((1-w)*a[i]) + float32(w*b[i])
		}
		Blend(got, a, b, w)
		assertBits(t, "Blend", n, got, want)

		// Aliased destination.
		got = unaligned(a, 0)
		Blend(got, got, b, w)
		assertBits(t, "Blend aliased", n, got, want)
	}
}

func assertBits(t *testing.T, name string, n int, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s n=%d: element %d = %v, want %v", name, n, i, got[i], want[i])
		}
	}
}
