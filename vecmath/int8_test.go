package vecmath

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// refDotI8 is the trivially written specification of DotI8, in int64.
func refDotI8(a, b []int8) int64 {
	var s int64
	for i := range min(len(a), len(b)) {
		s += int64(a[i]) * int64(b[i])
	}
	return s
}

// unalignedI8 returns a copy of v that starts off bytes (0 ≤ off < 32) past a
// 32-byte boundary.
func unalignedI8(v []int8, off int) []int8 {
	buf := make([]int8, len(v)+64)
	base := 0
	for uintptr(unsafe.Pointer(unsafe.SliceData(buf[base:])))%32 != 0 {
		base++
	}
	w := buf[base+off : base+off+len(v)]
	copy(w, v)
	return w
}

func fillI8(n int, f func(i int) int8) []int8 {
	v := make([]int8, n)
	for i := range v {
		v[i] = f(i)
	}
	return v
}

// i8Patterns returns named operand pairs of length n: random values, the
// extremes (all -128, all 127, -128 against 127, alternating signs) and
// random extremes.
func i8Patterns(r *rand.Rand, n int) map[string][2][]int8 {
	rnd := func(int) int8 { return int8(r.Uint32()) }
	ext := func(int) int8 {
		if r.Uint32()&1 == 0 {
			return -128
		}
		return 127
	}
	c := func(x int8) func(int) int8 { return func(int) int8 { return x } }
	alt := func(i int) int8 {
		if i%2 == 0 {
			return -128
		}
		return 127
	}
	return map[string][2][]int8{
		"random":         {fillI8(n, rnd), fillI8(n, rnd)},
		"all -128":       {fillI8(n, c(-128)), fillI8(n, c(-128))},
		"all 127":        {fillI8(n, c(127)), fillI8(n, c(127))},
		"-128 by 127":    {fillI8(n, c(-128)), fillI8(n, c(127))},
		"alternating":    {fillI8(n, alt), fillI8(n, alt)},
		"random extreme": {fillI8(n, ext), fillI8(n, ext)},
	}
}

// TestDotI8MatchesReference compares DotI8, the portable kernel and (when
// available) the assembly kernel against the reference loop for every length
// 0..1030, unaligned starts and extreme values. Integer arithmetic is exact,
// so every path must return exactly the reference value.
func TestDotI8MatchesReference(t *testing.T) {
	simd, block := i8SIMDKernel()
	t.Logf("AVX2 int8 kernel in use: %v", simd != nil)
	r := rand.New(rand.NewPCG(31, 32))
	offsets := [][2]int{{0, 0}, {1, 3}, {7, 30}, {31, 16}}
	for n := 0; n <= 1030; n++ {
		for name, p := range i8Patterns(r, n) {
			for _, off := range offsets {
				a, b := unalignedI8(p[0], off[0]), unalignedI8(p[1], off[1])
				want := refDotI8(a, b)
				if got := DotI8(a, b); int64(got) != want {
					t.Fatalf("n=%d %s off=%v: DotI8 = %d, reference %d", n, name, off, got, want)
				}
				if got := DotI8(b, a); int64(got) != want {
					t.Fatalf("n=%d %s off=%v: DotI8(b, a) = %d, reference %d", n, name, off, got, want)
				}
				if got := dotI8Generic(a, b); int64(got) != want {
					t.Fatalf("n=%d %s off=%v: dotI8Generic = %d, reference %d", n, name, off, got, want)
				}
				if nb := n / max(block, 1) * block; simd != nil && nb > 0 {
					if got, want := simd(a[:nb], b[:nb]), refDotI8(a[:nb], b[:nb]); int64(got) != want {
						t.Fatalf("n=%d %s off=%v: SIMD kernel on %d = %d, reference %d", n, name, off, nb, got, want)
					}
				}
			}
		}
	}
	// Unequal lengths use the common prefix.
	a, b := fillI8(100, func(i int) int8 { return int8(i) }), fillI8(37, func(i int) int8 { return -3 })
	if got, want := DotI8(a, b), refDotI8(a, b); int64(got) != want {
		t.Errorf("DotI8 unequal lengths = %d, want %d", got, want)
	}
}

// TestDotI8Limits checks the documented bound: MaxI8Len elements of -128
// give exactly 2^30, and a longer input panics.
func TestDotI8Limits(t *testing.T) {
	a := fillI8(MaxI8Len, func(int) int8 { return -128 })
	b := fillI8(MaxI8Len, func(int) int8 { return 127 })
	if got := DotI8(a, a); got != 1<<30 {
		t.Errorf("DotI8(all -128) at MaxI8Len = %d, want %d", got, 1<<30)
	}
	if got, want := DotI8(a, b), int32(-128*127*MaxI8Len); got != want {
		t.Errorf("DotI8(-128, 127) at MaxI8Len = %d, want %d", got, want)
	}
	if got := NormI8(a); got != 1<<15 {
		t.Errorf("NormI8(all -128) at MaxI8Len = %v, want %v", got, 1<<15)
	}
	long := make([]int8, MaxI8Len+1)
	for name, f := range map[string]func(){
		"DotI8":    func() { DotI8(long, long) },
		"NormI8":   func() { NormI8(long) },
		"CosineI8": func() { CosineI8(long, 1, long, 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic for length MaxI8Len+1", name)
				}
			}()
			f()
		}()
	}
	// The common length counts: a long operand against a short one is fine.
	if got := DotI8(long, b[:10]); got != 0 {
		t.Errorf("DotI8(long, short) = %d", got)
	}
}

// checkQuantized verifies QuantizeI8's contract for one input against exact
// rational arithmetic: every q[i] is x*127/max|v| rounded to nearest with
// halves away from zero, within [-127, 127], and the largest magnitude maps to
// ±127; zero and non-finite inputs give all zeros.
func checkQuantized(t *testing.T, v []float32, q []int8) {
	t.Helper()
	if len(q) != len(v) {
		t.Fatalf("len(QuantizeI8) = %d, want %d", len(q), len(v))
	}
	var m float32
	for _, x := range v {
		m = max(m, float32(math.Abs(float64(x))))
	}
	if !Finite(v) || m == 0 {
		for i, x := range q {
			if x != 0 {
				t.Fatalf("QuantizeI8(%v)[%d] = %d, want 0 for a zero or non-finite vector", v, i, x)
			}
		}
		return
	}
	mr := new(big.Rat).SetFloat64(float64(m))
	half := big.NewRat(1, 2)
	for i, x := range v {
		if q[i] < -127 {
			t.Fatalf("QuantizeI8(%v)[%d] = %d out of [-127, 127]", v, i, q[i])
		}
		if math.Abs(float64(x)) == float64(m) && int(q[i]) != int(math.Copysign(127, float64(x))) {
			t.Fatalf("QuantizeI8(%v)[%d] = %d: the max-magnitude element must map to ±127", v, i, q[i])
		}
		exact := new(big.Rat).SetFloat64(float64(x))
		exact.Mul(exact, big.NewRat(127, 1)).Quo(exact, mr)
		diff := new(big.Rat).Sub(big.NewRat(int64(q[i]), 1), exact)
		abs := new(big.Rat).Abs(diff)
		switch c := abs.Cmp(half); {
		case c > 0:
			t.Fatalf("QuantizeI8(%v)[%d] = %d, exact %v", v, i, q[i], exact.FloatString(6))
		case c == 0 && diff.Sign() != exact.Sign(): // a tie must round away from zero
			t.Fatalf("QuantizeI8(%v)[%d] = %d: tie %v not rounded away from zero", v, i, q[i], exact.FloatString(6))
		}
	}
}

func TestQuantizeI8(t *testing.T) {
	for _, c := range []struct {
		v    []float32
		want []int8
	}{
		{nil, []int8{}},
		{[]float32{3, 4}, []int8{95, 127}},
		{[]float32{1, -2}, []int8{64, -127}}, // 63.5 rounds away from zero
		{[]float32{-1, 2}, []int8{-64, 127}}, // -63.5 too
		{[]float32{-5, 5, 0}, []int8{-127, 127, 0}},
		{[]float32{0, 0, 0}, []int8{0, 0, 0}},
		{[]float32{0, float32(math.Copysign(0, -1))}, []int8{0, 0}},
		{[]float32{1, nan, 2}, []int8{0, 0, 0}},
		{[]float32{inf, 1}, []int8{0, 0}},
		{[]float32{-1, ninf}, []int8{0, 0}},
		{[]float32{math.Float32frombits(1), -math.Float32frombits(2), 0}, []int8{64, -127, 0}}, // subnormals
		{[]float32{3e38, -3.4e38, 1}, []int8{112, -127, 0}},
		{[]float32{1e-3, 1}, []int8{0, 127}},
		{[]float32{0.004, 1}, []int8{1, 127}}, // 0.508
	} {
		dst := make([]int8, len(c.v)+2)
		dst[len(dst)-1] = 42
		got := QuantizeI8(dst, c.v)
		if !slices.Equal(got, c.want) {
			t.Errorf("QuantizeI8(%v) = %v, want %v", c.v, got, c.want)
		}
		if dst[len(dst)-1] != 42 {
			t.Errorf("QuantizeI8(%v) wrote past len(v)", c.v)
		}
		checkQuantized(t, c.v, got)
		// Symmetric: q(-v) == -q(v).
		neg := make([]float32, len(c.v))
		for i, x := range c.v {
			neg[i] = -x
		}
		for i, x := range QuantizeI8(make([]int8, len(neg)), neg) {
			if x != -got[i] {
				t.Errorf("QuantizeI8(-%v) = %d at %d, want %d", c.v, x, i, -got[i])
			}
		}
	}
	// Exact ties k+½ (max 127 makes the quotient x itself) and their float32
	// neighbours, of both signs, against the exact rational check.
	var ties []float32
	for k := range 127 {
		h := float32(k) + 0.5
		ties = append(ties, h, -h, math.Nextafter32(h, 0), math.Nextafter32(h, 200), -math.Nextafter32(h, 0))
	}
	ties = append(ties, 127)
	q := QuantizeI8(make([]int8, len(ties)), ties)
	checkQuantized(t, ties, q)
	if q[0] != 1 || q[1] != -1 || q[2] != 0 || q[3] != 1 || q[5*126] != 127 {
		t.Errorf("ties: QuantizeI8 = %v...", q[:5])
	}
	r := rand.New(rand.NewPCG(41, 42))
	for n := 1; n <= 300; n += 7 {
		v := randVec(r, n)
		checkQuantized(t, v, QuantizeI8(make([]int8, n), v))
	}
	defer func() {
		if recover() == nil {
			t.Error("QuantizeI8: no panic for a short dst")
		}
	}()
	QuantizeI8(make([]int8, 2), []float32{1, 2, 3})
}

func TestNormCosineI8(t *testing.T) {
	a := []int8{3, 4, 0}
	b := []int8{-4, 3, 0}
	na, nb := NormI8(a), NormI8(b)
	if na != 5 || nb != 5 {
		t.Fatalf("NormI8 = %v, %v; want 5, 5", na, nb)
	}
	if got := NormI8(nil); got != 0 {
		t.Errorf("NormI8(nil) = %v", got)
	}
	for _, c := range []struct {
		name string
		got  float32
		want float32
	}{
		{"orthogonal", CosineI8(a, na, b, nb), 0},
		{"self", CosineI8(a, na, a, na), 1},
		{"opposite", CosineI8(a, na, []int8{-3, -4, 0}, 5), -1},
		{"partial", CosineI8(a, na, []int8{3, 0, 0}, 3), 0.6},
		{"length mismatch", CosineI8(a, na, b[:2], nb), 0},
		{"empty", CosineI8(nil, 0, nil, 0), 0},
		{"zero norm", CosineI8(a, na, []int8{0, 0, 0}, 0), 0},
		{"NaN norm", CosineI8(a, nan, b, nb), 0},
		{"Inf norm", CosineI8(a, na, b, inf), 0},
		{"negative norm", CosineI8(a, -5, a, 5), 0},
		{"wrong norm clamps", CosineI8(a, 1, a, 1), 1},
		{"wrong norm clamps below", CosineI8(a, 1, []int8{-3, -4, 0}, 1), -1},
	} {
		if c.got != c.want {
			t.Errorf("CosineI8 %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Self-cosine is exactly 1 for every non-zero vector, including ones whose
	// float32 norm is inexact and large ones.
	r := rand.New(rand.NewPCG(43, 44))
	for n := 1; n <= 2000; n += 13 {
		for _, v := range [][]int8{
			fillI8(n, func(int) int8 { return int8(r.Uint32()) }),
			fillI8(n, func(int) int8 { return int8(r.IntN(3) - 1) }),
			fillI8(n, func(int) int8 { return -128 }),
		} {
			nv := NormI8(v)
			if nv == 0 {
				continue
			}
			neg := fillI8(n, func(i int) int8 { return -max(v[i], -127) })
			cv := fillI8(n, func(i int) int8 { return max(v[i], -127) })
			if got := CosineI8(v, nv, v, nv); got != 1 {
				t.Fatalf("n=%d: CosineI8(v, v) = %v, want 1", n, got)
			}
			if got := CosineI8(cv, NormI8(cv), neg, NormI8(neg)); got != -1 {
				t.Fatalf("n=%d: CosineI8(v, -v) = %v, want -1", n, got)
			}
		}
	}
}

// unitPair returns two random unit vectors of dimension d whose cosine is
// approximately target (or independent ones when target is NaN).
func unitPair(r *rand.Rand, d int, target float64) (a, b []float32) {
	a, b = randVec(r, d), randVec(r, d)
	Normalize(a)
	if !math.IsNaN(target) {
		// Make b orthogonal to a, then mix: b = t·a + sqrt(1-t²)·b⊥.
		Normalize(b)
		AddScaled(b, a, -Dot(a, b))
		Normalize(b)
		Blend(b, a, b, float32(math.Sqrt(1-target*target)/(target+math.Sqrt(1-target*target))))
	}
	Normalize(b)
	return a, b
}

// TestQuantizeI8Quality measures how far the int8 cosine of quantised 384-d
// unit vectors strays from the float32 Cosine: over 10,000 random pairs
// (cosines near 0) and 10,000 pairs with cosine near 0.85, the maximum
// absolute error must stay within 0.01.
func TestQuantizeI8Quality(t *testing.T) {
	const d, pairs = 384, 10000
	r := rand.New(rand.NewPCG(51, 52))
	qa, qb := make([]int8, d), make([]int8, d)
	for _, target := range []float64{math.NaN(), 0.85} {
		var maxErr, sumErr, minCos, maxCos float64 = 0, 0, 2, -2
		for range pairs {
			a, b := unitPair(r, d, target)
			QuantizeI8(qa, a)
			QuantizeI8(qb, b)
			want := float64(Cosine(a, b))
			got := float64(CosineI8(qa, NormI8(qa), qb, NormI8(qb)))
			e := math.Abs(got - want)
			maxErr, sumErr = max(maxErr, e), sumErr+e
			minCos, maxCos = min(minCos, want), max(maxCos, want)
			if self := CosineI8(qa, NormI8(qa), qa, NormI8(qa)); self != 1 {
				t.Fatalf("CosineI8(q(a), q(a)) = %v, want 1", self)
			}
		}
		name := "random pairs"
		if !math.IsNaN(target) {
			name = "pairs near 0.85"
		}
		t.Logf("%s (cosine in [%.4f, %.4f]): max |CosineI8 - Cosine| = %.6f, mean %.6f",
			name, minCos, maxCos, maxErr, sumErr/pairs)
		if maxErr > 0.01 {
			t.Errorf("%s: max quantisation error %v > 0.01", name, maxErr)
		}
	}
}

func TestI8DoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	v := randVec(r, 384)
	a, b := make([]int8, 384), make([]int8, 384)
	QuantizeI8(a, v)
	QuantizeI8(b, randVec(r, 384))
	na, nb := NormI8(a), NormI8(b)
	for name, f := range map[string]func(){
		"QuantizeI8": func() { QuantizeI8(a, v) },
		"DotI8":      func() { DotI8(a, b) },
		"NormI8":     func() { NormI8(a) },
		"CosineI8":   func() { CosineI8(a, na, b, nb) },
	} {
		if allocs := testing.AllocsPerRun(100, f); allocs != 0 {
			t.Errorf("%s allocates %v times per call", name, allocs)
		}
	}
}

// FuzzQuantizeI8: any input (NaN, ±Inf, subnormals, -0) quantises without
// panicking, within [-127, 127], rounding exactly as specified, with the
// largest magnitude at ±127 for finite non-zero vectors, and with the bytes
// of quantizeI8Spec.
func FuzzQuantizeI8(f *testing.F) {
	addSeeds(f)
	f.Add(bytesOf(1, -2, 0.5, -0.5))
	f.Fuzz(func(t *testing.T, data []byte) {
		v := floatsFrom(data)
		q := QuantizeI8(make([]int8, len(v)), v)
		checkQuantized(t, v, q)
		if want := quantizeI8Spec(make([]int8, len(v)), v); !slices.Equal(q, want) {
			t.Fatalf("QuantizeI8(%v) = %v, spec %v", v, q, want)
		}
	})
}

// FuzzDotI8: DotI8 (SIMD where available) equals the reference loop on both
// operand orders, at an unaligned start chosen by the fuzzer.
func FuzzDotI8(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{0x80, 0x80, 0x7f, 0x80}, uint8(1))
	f.Add(slices.Repeat([]byte{0x80}, 200), uint8(3))
	f.Add(slices.Repeat([]byte{0x7f, 0x80, 0x01, 0xff}, 130), uint8(17))
	f.Fuzz(func(t *testing.T, data []byte, off uint8) {
		v := make([]int8, len(data))
		for i, x := range data {
			v[i] = int8(x)
		}
		a := unalignedI8(v[:len(v)/2], int(off%32))
		b := unalignedI8(v[len(v)/2:], int(off/32))
		want := refDotI8(a, b)
		if got := DotI8(a, b); int64(got) != want {
			t.Fatalf("DotI8 = %d, reference %d", got, want)
		}
		if got := DotI8(b, a); int64(got) != want {
			t.Fatalf("DotI8(b, a) = %d, reference %d", got, want)
		}
		if simd, block := i8SIMDKernel(); simd != nil {
			if nb := min(len(a), len(b)) / block * block; nb > 0 {
				if got, want := simd(a[:nb], b[:nb]), refDotI8(a[:nb], b[:nb]); int64(got) != want {
					t.Fatalf("SIMD kernel = %d, reference %d", got, want)
				}
			}
		}
	})
}

var sinkI32 int32

func benchI8(seed uint64) []int8 {
	return QuantizeI8(make([]int8, benchDim), benchVec(seed, benchDim))
}

func BenchmarkQuantizeI8(b *testing.B) {
	v := benchVec(1, benchDim)
	dst := make([]int8, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		QuantizeI8(dst, v)
	}
}

func BenchmarkDotI8(b *testing.B) {
	x, y := benchI8(1), benchI8(2)
	b.ReportAllocs()
	for b.Loop() {
		sinkI32 = DotI8(x, y)
	}
}

func BenchmarkNormI8(b *testing.B) {
	x := benchI8(1)
	b.ReportAllocs()
	for b.Loop() {
		sinkF32 = NormI8(x)
	}
}

func BenchmarkCosineI8(b *testing.B) {
	x, y := benchI8(1), benchI8(2)
	nx, ny := NormI8(x), NormI8(y)
	b.ReportAllocs()
	for b.Loop() {
		sinkF32 = CosineI8(x, nx, y, ny)
	}
}

// BenchmarkCosineF32 is the float32 Cosine on the same dimension, for
// comparison with BenchmarkCosineI8.
func BenchmarkCosineF32(b *testing.B) {
	x, y := benchVec(1, benchDim), benchVec(2, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		sinkF32 = Cosine(x, y)
	}
}
