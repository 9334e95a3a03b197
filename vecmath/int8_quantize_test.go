package vecmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// quantizeI8Spec is QuantizeI8's scalar algorithm exactly as it was written
// before the AVX2 kernels existed: the reference that every path (dispatched,
// portable and assembly) must match byte for byte.
func quantizeI8Spec(dst []int8, v []float32) []int8 {
	dst = dst[:len(v)]
	const absMask, expMask = 0x7fffffff, 0x7f800000
	var m0, m1, m2, m3 uint32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		x := (*[4]float32)(v[i:])
		m0 = max(m0, math.Float32bits(x[0])&absMask)
		m1 = max(m1, math.Float32bits(x[1])&absMask)
		m2 = max(m2, math.Float32bits(x[2])&absMask)
		m3 = max(m3, math.Float32bits(x[3])&absMask)
	}
	for ; i < len(v); i++ {
		m0 = max(m0, math.Float32bits(v[i])&absMask)
	}
	maxBits := max(m0, m1, m2, m3)
	if maxBits == 0 || maxBits >= expMask {
		clear(dst)
		return dst
	}
	m := float64(math.Float32frombits(maxBits))
	r := 127 / m
	for i, x := range v {
		y := float64(float64(x) * r)
		k := float64(y+roundMagic) - roundMagic
		if f := y - k; f*f > quantTieSq {
			k = quantizeExact(x, m)
		}
		dst[i] = int8(k)
	}
	return dst
}

// specMaxAbsBits is the plain loop behind maxAbsBits.
func specMaxAbsBits(v []float32) uint32 {
	var mb uint32
	for _, x := range v {
		mb = max(mb, math.Float32bits(x)&0x7fffffff)
	}
	return mb
}

// quantScale returns m = max|v| as QuantizeI8 uses it, and whether v is
// finite and non-zero (so that the quantisation kernels apply).
func quantScale(v []float32) (float64, bool) {
	mb := specMaxAbsBits(v)
	if mb == 0 || mb >= 0x7f800000 {
		return 0, false
	}
	return float64(math.Float32frombits(mb)), true
}

// inTieBand reports whether the scalar algorithm sends x to quantizeExact
// for the scale m.
func inTieBand(x float32, m float64) bool {
	y := float64(float64(x) * (127 / m))
	k := float64(y+roundMagic) - roundMagic
	f := y - k
	return f*f > quantTieSq
}

const quantSentinel = 0x5a

// checkQuantizeSame checks, for one input, that QuantizeI8 (dispatched),
// the portable code (maxAbsBitsGeneric, quantizeI8Generic) and, when
// available, the assembly kernels called directly produce exactly the bytes
// of quantizeI8Spec, and that none of them writes past its output. dstOff
// (0..31) misaligns the destination.
func checkQuantizeSame(t *testing.T, v []float32, dstOff int) {
	t.Helper()
	n := len(v)
	want := quantizeI8Spec(make([]int8, n), v)
	desc := func() string {
		if n <= 64 {
			return fmt.Sprintf("%v", v)
		}
		return fmt.Sprintf("[%d elements, first %v]", n, v[:16])
	}
	// newDst returns a misaligned destination of length n followed by
	// sentinel bytes (and prefilled with them, so stale bytes would show).
	newDst := func() (dst, full []int8) {
		full = unalignedI8(slices.Repeat([]int8{quantSentinel}, n+16), dstOff)
		return full[:n], full
	}
	checkTail := func(name string, full []int8, from int) {
		t.Helper()
		for i := from; i < len(full); i++ {
			if full[i] != quantSentinel {
				t.Fatalf("%s wrote dst[%d] (n=%d, written length %d) for %s", name, i, n, from, desc())
			}
		}
	}

	_, full := newDst()
	got := QuantizeI8(full, v)
	if len(got) != n || (n > 0 && &got[0] != &full[0]) {
		t.Fatalf("QuantizeI8 returned len %d (or another array), want dst[:%d]", len(got), n)
	}
	if !slices.Equal(got, want) {
		i := firstDiff(got, want)
		t.Fatalf("QuantizeI8 = %d at [%d] (x = %v, %#08x), spec %d; n=%d, v = %s",
			got[i], i, v[i], math.Float32bits(v[i]), want[i], n, desc())
	}
	checkTail("QuantizeI8", full, n)

	mb := specMaxAbsBits(v)
	if g := maxAbsBitsGeneric(v); g != mb {
		t.Fatalf("maxAbsBitsGeneric = %#x, spec %#x for %s", g, mb, desc())
	}
	if g := maxAbsBits(v); g != mb {
		t.Fatalf("maxAbsBits = %#x, spec %#x for %s", g, mb, desc())
	}
	m, ok := quantScale(v)
	if ok {
		dst, full := newDst()
		quantizeI8Generic(dst, v, m)
		if !slices.Equal(dst, want) {
			i := firstDiff(dst, want)
			t.Fatalf("quantizeI8Generic = %d at [%d] (x = %v), spec %d; v = %s", dst[i], i, v[i], want[i], desc())
		}
		checkTail("quantizeI8Generic", full, n)
	}

	maxAbs, maxBlock, quant, quantBlock := quantizeSIMDKernels()
	if maxAbs == nil {
		return
	}
	if nb := n / maxBlock * maxBlock; nb > 0 {
		if g, w := maxAbs(v[:nb]), specMaxAbsBits(v[:nb]); g != w {
			t.Fatalf("SIMD maxAbs kernel on %d = %#x, spec %#x for %s", nb, g, w, desc())
		}
	}
	if nb := n / quantBlock * quantBlock; ok && nb > 0 {
		dst, full := newDst()
		quant(dst[:nb], v[:nb], m)
		if !slices.Equal(dst[:nb], want[:nb]) {
			i := firstDiff(dst[:nb], want[:nb])
			t.Fatalf("SIMD quantise kernel = %d at [%d] (x = %v, %#08x, tie band %v), spec %d; n=%d, m=%v, v = %s",
				dst[i], i, v[i], math.Float32bits(v[i]), inTieBand(v[i], m), want[i], n, m, desc())
		}
		checkTail("SIMD quantise kernel", full, nb)
	}
}

func firstDiff(a, b []int8) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// pow2f returns 2^e as a float32 (e in [-149, 127]).
func pow2f(e int) float32 { return float32(math.Ldexp(1, e)) }

// randExp returns a random exponent for tie-rich scales: the whole float32
// range, from the smallest subnormal (so that j·2^e stays exact) to values
// whose 254·2^e is close to MaxFloat32.
func randExp(r *rand.Rand) int {
	switch r.IntN(4) {
	case 0:
		return -149 + r.IntN(30) // subnormal and tiny
	case 1:
		return 90 + r.IntN(31) // huge: 254·2^120 < MaxFloat32
	default:
		return -149 + r.IntN(270)
	}
}

// quantGen generates a test vector of length n.
type quantGen struct {
	name string
	ties bool // the vectors put many elements in the tie band
	gen  func(r *rand.Rand, n int) []float32
}

var quantGens = []quantGen{
	{"normal", false, randVec},
	{"uniform", false, func(r *rand.Rand, n int) []float32 {
		return seq(n, func(int) float32 { return 2*r.Float32() - 1 })
	}},
	// x = j·2^e with |j| ≤ 254 and one element ±254·2^e: x·127/m = j/2, an
	// exact tie k+½ for every odd j, at every scale including subnormals.
	{"multiples of m/254", true, func(r *rand.Rand, n int) []float32 {
		s := pow2f(randExp(r))
		v := seq(n, func(int) float32 { return float32(r.IntN(509)-254) * s })
		if n > 0 {
			v[r.IntN(n)] = float32(254*(1-2*r.IntN(2))) * s
		}
		return v
	}},
	// The float32 neighbours of those ties (and some ties themselves): just
	// outside the band, where the fast path alone must round correctly.
	{"next to ties", true, func(r *rand.Rand, n int) []float32 {
		e := max(randExp(r), -120) // keep j·2^e normal so neighbours are close
		s := pow2f(e)
		v := seq(n, func(int) float32 {
			x := float32(2*r.IntN(254)-253) * s // odd j
			switch r.IntN(3) {
			case 0:
				return math.Nextafter32(x, 0)
			case 1:
				return math.Nextafter32(x, float32(math.Copysign(math.MaxFloat32, float64(x))))
			}
			return x
		})
		if n > 0 {
			v[r.IntN(n)] = 254 * s
		}
		return v
	}},
	// Sparse vectors with few distinct magnitudes, as feature hashing
	// produces: mostly zeros (of both signs), ±c, ±c/2 (a tie at 63.5),
	// ±c/4, ±3c/4 and ±c/254 (a tie at ½).
	{"sparse equal magnitudes", true, func(r *rand.Rand, n int) []float32 {
		c := math.Float32frombits(uint32(r.IntN(250)+2)<<23 | r.Uint32()&0x7fffff)
		fr := []float32{1, 0.5, 0.25, 0.75, 1.0 / 254}
		v := seq(n, func(int) float32 {
			switch r.IntN(4) {
			case 0:
				return fr[r.IntN(len(fr))] * c * float32(1-2*r.IntN(2))
			case 1:
				return float32(math.Copysign(0, -1))
			}
			return 0
		})
		if n > 0 {
			v[r.IntN(n)] = c
		}
		return v
	}},
	// Feature hashing as the embedders do it: ±√count weights summed into
	// buckets, then normalised. Colliding features make equal and doubled
	// magnitudes, hence ties.
	{"hashing-like", true, func(r *rand.Rand, n int) []float32 {
		v := make([]float32, n)
		if n == 0 {
			return v
		}
		for range 1 + r.IntN(3*n/2+1) {
			w := float32(math.Sqrt(float64(1 + r.IntN(3))))
			if r.IntN(2) == 0 {
				w = -w
			}
			v[r.IntN(n)] += w
		}
		Normalize(v)
		return v
	}},
	{"subnormal", false, func(r *rand.Rand, n int) []float32 {
		return seq(n, func(int) float32 { return math.Float32frombits(r.Uint32() & 0x807fffff) })
	}},
	{"huge", false, func(r *rand.Rand, n int) []float32 {
		return seq(n, func(int) float32 {
			return math.Float32frombits(r.Uint32()&0x807fffff | uint32(250+r.IntN(5))<<23)
		})
	}},
	// Finite values of every exponent: most quantise to 0.
	{"all scales", false, func(r *rand.Rand, n int) []float32 {
		return seq(n, func(int) float32 {
			return math.Float32frombits(r.Uint32()&0x807fffff | uint32(r.IntN(255))<<23)
		})
	}},
	// Tiny values (subnormal or near) under a huge maximum, and the reverse.
	{"tiny and huge", false, func(r *rand.Rand, n int) []float32 {
		v := seq(n, func(int) float32 {
			return math.Float32frombits(r.Uint32()&0x80ffffff | uint32(r.IntN(4))<<23)
		})
		if n > 0 {
			v[r.IntN(n)] = math.Float32frombits(r.Uint32()&0x807fffff | 0x7f000000)
		}
		return v
	}},
	{"signed zeros", false, func(r *rand.Rand, n int) []float32 {
		v := seq(n, func(int) float32 { return float32(math.Copysign(0, float64(r.IntN(2)-1))) })
		if n > 0 && r.IntN(2) == 0 {
			v[r.IntN(n)] = math.Float32frombits(r.Uint32())
		}
		return v
	}},
	// Any bit pattern: NaN and ±Inf are frequent in longer vectors.
	{"random bits", false, func(r *rand.Rand, n int) []float32 {
		return seq(n, func(int) float32 { return math.Float32frombits(r.Uint32()) })
	}},
}

// nonFinite holds NaNs (quiet, signalling, negative, all ones) and
// infinities as bit patterns.
var nonFinite = []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff, 0x7f800000, 0xff800000}

// TestQuantizeI8MatchesSpec compares every QuantizeI8 path with
// quantizeI8Spec for every length 0..1000 and every generator, with
// misaligned source and destination on a subset of lengths, and with a NaN
// or infinity planted at the first, last and a random position. It also
// makes sure the tie-rich generators put elements in the tie band both in
// whole 16-element blocks and in the 4-element blocks after them, so that
// the assembly's exact path is exercised in both loops.
func TestQuantizeI8MatchesSpec(t *testing.T) {
	_, _, quant, _ := quantizeSIMDKernels()
	t.Logf("AVX2 quantisation kernels in use: %v", quant != nil)
	r := rand.New(rand.NewPCG(61, 62))
	maxN := 1000
	if testing.Short() {
		maxN = 300
	}
	for _, g := range quantGens {
		var ties16, ties4, tiesTail int
		for n := 0; n <= maxN; n++ {
			off, dstOff := 0, 0
			if n%5 == 0 {
				off, dstOff = 4*r.IntN(8), r.IntN(32)
			}
			v := unaligned(g.gen(r, n), off)
			if m, ok := quantScale(v); ok {
				for i, x := range v {
					if inTieBand(x, m) {
						switch {
						case i < n&^15:
							ties16++
						case i < n&^3:
							ties4++
						default:
							tiesTail++
						}
					}
				}
			}
			checkQuantizeSame(t, v, dstOff)
			if t.Failed() {
				t.Fatalf("generator %q, n=%d", g.name, n)
			}
			if n == 0 || n%3 != 0 && n > 100 {
				continue
			}
			for _, p := range []int{0, n - 1, r.IntN(n)} {
				w := slices.Clone(v)
				w[p] = math.Float32frombits(nonFinite[r.IntN(len(nonFinite))])
				checkQuantizeSame(t, w, dstOff)
				if t.Failed() {
					t.Fatalf("generator %q, n=%d, %v at %d", g.name, n, w[p], p)
				}
			}
		}
		t.Logf("%-24s tie-band elements: %d in 16-blocks, %d in 4-blocks, %d in Go tails", g.name, ties16, ties4, tiesTail)
		if g.ties && (ties16 == 0 || ties4 == 0 || tiesTail == 0) {
			t.Errorf("generator %q did not reach the tie band in every part of the vector", g.name)
		}
	}
}

// TestQuantizeI8MaxAnywhere puts the unique largest magnitude (of either
// sign, and possibly NaN or ±Inf) at every position of short vectors, so
// that each SIMD lane, block and the Go tail of the max-abs search must find
// it.
func TestQuantizeI8MaxAnywhere(t *testing.T) {
	r := rand.New(rand.NewPCG(63, 64))
	for n := 1; n <= 80; n++ {
		for p := range n {
			v := seq(n, func(int) float32 { return 2*r.Float32() - 1 })
			for _, big := range []float32{-2, 2, 1.5, -1.00000012, 3e38, nan, inf, ninf} {
				v[p] = big
				checkQuantizeSame(t, v, p%32)
				if t.Failed() {
					t.Fatalf("n=%d, %v at %d", n, big, p)
				}
			}
		}
	}
}

// TestQuantizeI8Ties checks exhaustively the inputs made of exact ties: for
// every scale 2^e of the float32 range and both signs, the vector
// j·2^e (j = -254..254, so x·127/m = j/2), shuffled, must quantise as the
// spec says (odd j: halves away from zero).
func TestQuantizeI8Ties(t *testing.T) {
	r := rand.New(rand.NewPCG(65, 66))
	for e := -149; e <= 120; e++ {
		s := pow2f(e)
		v := seq(509, func(i int) float32 { return float32(i-254) * s })
		r.Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
		checkQuantizeSame(t, v, 0)
		got := QuantizeI8(make([]int8, len(v)), v)
		for i, x := range v {
			j := int(x / s) // exact
			want := j / 2   // truncated toward zero
			if j%2 != 0 {
				want += j % 2 // away from zero
			}
			if int(got[i]) != want {
				t.Fatalf("e=%d: QuantizeI8(%d·2^e) = %d, want %d", e, j, got[i], want)
			}
		}
	}
}

// FuzzQuantizeI8Spec: every QuantizeI8 path returns the bytes of
// quantizeI8Spec. mode selects how data becomes a vector: 0 raw float32 bit
// patterns; 1 integers j (|j| ≤ 254, from little-endian int16s) times
// 2^scale, where x·127/m is a tie for odd j when the largest |j| is 254;
// 2 the same with a first element of 254·2^scale; 3 as 2, with each value
// moved to a float32 neighbour as the low bits of its int16 say.
func FuzzQuantizeI8Spec(f *testing.F) {
	f.Add([]byte{}, uint8(0), int16(0), uint8(0))
	f.Add(bytesOf(1, -2, 0.5, -0.5, 3, 7, 254, -127), uint8(0), int16(0), uint8(3))
	f.Add(bytesOf(seq(37, func(i int) float32 { return float32(i) - 18.5 })...), uint8(0), int16(0), uint8(1))
	f.Add(bytesOf(1e-45, -3e-45, 1.5e-45, 3e38, -1e38, 0, float32(math.Copysign(0, -1)), 1e-38), uint8(0), int16(0), uint8(7))
	f.Add(bytesOf(1, 2, 3, nan, 5, 6, 7, 8, 9), uint8(0), int16(0), uint8(0))
	f.Add(slices.Repeat([]byte{1, 0, 3, 0, 0xff, 0xff, 0xfe, 0}, 40), uint8(2), int16(-20), uint8(0))
	f.Add(slices.Repeat([]byte{0x7f, 0, 0x81, 0xff}, 50), uint8(2), int16(-149), uint8(5))
	f.Add(slices.Repeat([]byte{0x11, 0x22, 0x33, 0x44}, 60), uint8(3), int16(100), uint8(9))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, scale int16, dstOff uint8) {
		var v []float32
		if mode%4 == 0 {
			v = floatsFrom(data)
		} else {
			e := max(-149, min(120, int(scale)))
			s := pow2f(e)
			v = make([]float32, len(data)/2)
			for i := range v {
				b := int16(uint16(data[2*i]) | uint16(data[2*i+1])<<8)
				v[i] = float32(int(b)%255) * s
				if mode%4 == 3 {
					switch b & 3 {
					case 1:
						v[i] = math.Nextafter32(v[i], 0)
					case 2:
						v[i] = math.Nextafter32(v[i], float32(math.Copysign(math.MaxFloat32, float64(v[i]))))
					}
				}
			}
			if mode%4 >= 2 && len(v) > 0 {
				v[0] = 254 * s
			}
		}
		checkQuantizeSame(t, v, int(dstOff%32))
	})
}

// BenchmarkQuantizeI8Ties quantises 384-d vectors in which half the elements
// are exact ties (the slow path of every block): j·s with |j| ≤ 254 and one
// element 254·s, for an s with a short mantissa (so j·s is exact) that is not
// a power of two (division by it is not trivial).
func BenchmarkQuantizeI8Ties(b *testing.B) {
	r := rand.New(rand.NewPCG(67, 68))
	s := float32(0x1.3579p-3)
	v := seq(benchDim, func(int) float32 { return float32(r.IntN(509)-254) * s })
	v[0] = 254 * s
	dst := make([]int8, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		QuantizeI8(dst, v)
	}
}

// BenchmarkQuantizeI8Hashing quantises a sparse 384-d feature-hashing vector
// (about 60 buckets set to ±1, some colliding to ±2), as a short text gives:
// the ±1 elements are ties (63.5), so 23 of the 24 16-element blocks take
// the exact path.
func BenchmarkQuantizeI8Hashing(b *testing.B) {
	r := rand.New(rand.NewPCG(69, 70))
	v := make([]float32, benchDim)
	for range 60 {
		v[r.IntN(benchDim)] += float32(1 - 2*r.IntN(2))
	}
	Normalize(v)
	dst := make([]int8, benchDim)
	b.ReportAllocs()
	for b.Loop() {
		QuantizeI8(dst, v)
	}
}
