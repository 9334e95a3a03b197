package vecmath

import "math"

// blockLen is the number of elements the blocked kernels consume per step and
// the number of independent float32 partial sums they keep: element i of a
// block is added to partial sum i mod blockLen. The SIMD kernel holds the sums
// in four 8-lane registers; the portable kernel reproduces the same sums.
const blockLen = 32

// Bounds on a float32 sum of squares inside which the float32 result is
// accurate: above safeMax the accumulation may have overflowed, below safeMin
// subnormal squares may have lost precision. Outside them the kernels redo the
// work in float64, which cannot overflow or underflow for float32 inputs.
const (
	safeMin = 0x1p-100
	safeMax = 0x1p100
)

// reduceLanes folds the 32 partial sums in the fixed order of the SIMD
// kernel: lanes l, l+8, l+16 and l+24 pairwise, then halves of the remaining
// eight lanes, then halves of four, then the last two.
func reduceLanes(p *[blockLen]float32) float32 {
	var s [8]float32
	for l := range s {
		s[l] = (p[l] + p[l+8]) + (p[l+16] + p[l+24])
	}
	h0, h1, h2, h3 := s[0]+s[4], s[1]+s[5], s[2]+s[6], s[3]+s[7]
	return (h0 + h2) + (h1 + h3)
}

// dotGeneric is the portable blocked dot product. len(a) must be a multiple of
// blockLen and len(b) >= len(a). It performs exactly the float32 operations
// of the SIMD kernel: each partial sum is accumulated block by block, in
// order, from explicitly rounded products.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var p [blockLen]float32
	for g := 0; g < blockLen; g += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for i := g; i < len(a); i += blockLen {
			x, y := (*[8]float32)(a[i:]), (*[8]float32)(b[i:])
			s0 += float32(x[0] * y[0])
			s1 += float32(x[1] * y[1])
			s2 += float32(x[2] * y[2])
			s3 += float32(x[3] * y[3])
			s4 += float32(x[4] * y[4])
			s5 += float32(x[5] * y[5])
			s6 += float32(x[6] * y[6])
			s7 += float32(x[7] * y[7])
		}
		p[g], p[g+1], p[g+2], p[g+3] = s0, s1, s2, s3
		p[g+4], p[g+5], p[g+6], p[g+7] = s4, s5, s6, s7
	}
	return reduceLanes(&p)
}

// cosGeneric returns the blocked a·b, a·a and b·b in one pass, each bit-equal
// to dotGeneric of the same operands. The lanes are done two at a time: six
// accumulators fit in registers on every architecture (measured fastest on
// amd64 among 2, 4 and 8 lanes per pass).
func cosGeneric(a, b []float32) (dot, aa, bb float32) {
	b = b[:len(a)]
	var pd, pa, pb [blockLen]float32
	for g := 0; g < blockLen; g += 2 {
		var d0, d1, a0, a1, b0, b1 float32
		for i := g; i < len(a); i += blockLen {
			x, y := (*[2]float32)(a[i:]), (*[2]float32)(b[i:])
			d0 += float32(x[0] * y[0])
			d1 += float32(x[1] * y[1])
			a0 += float32(x[0] * x[0])
			a1 += float32(x[1] * x[1])
			b0 += float32(y[0] * y[0])
			b1 += float32(y[1] * y[1])
		}
		pd[g], pd[g+1] = d0, d1
		pa[g], pa[g+1] = a0, a1
		pb[g], pb[g+1] = b0, b1
	}
	return reduceLanes(&pd), reduceLanes(&pa), reduceLanes(&pb)
}

// sums3 returns a·b, a·a and b·b for equal-length a and b: the blocked part
// by the fastest available kernel, then the tail in order.
func sums3(a, b []float32) (dot, aa, bb float32) {
	b = b[:len(a)]
	nb := len(a) &^ (blockLen - 1)
	if nb > 0 {
		dot, aa, bb = cosBlocks(a[:nb], b[:nb])
	}
	tb := b[nb:]
	for i, x := range a[nb:] {
		y := tb[i]
		dot += float32(x * y)
		aa += float32(x * x)
		bb += float32(y * y)
	}
	return dot, aa, bb
}

// inSafeRange reports whether a float32 sum of squares is accurate (see
// safeMin). It is false for 0, NaN and +Inf.
func inSafeRange(s float32) bool { return s >= safeMin && s <= safeMax }

// sumSquares64 returns Σ v[i]² accumulated in float64. The products of float32
// values are exact in float64, so fusion cannot change the result.
func sumSquares64(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return s
}

// cosine64 is the float64 fallback of Cosine for operands whose squared norms
// are outside the float32-safe range. a and b have equal, non-zero length.
func cosine64(a, b []float32) float64 {
	b = b[:len(a)]
	var d, na, nb float64
	for i, x := range a {
		y := b[i]
		d += float64(x) * float64(y)
		na += float64(x) * float64(x)
		nb += float64(y) * float64(y)
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return d / (math.Sqrt(na) * math.Sqrt(nb))
}
