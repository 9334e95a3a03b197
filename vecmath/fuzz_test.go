package vecmath

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"
)

// floatsFrom decodes data as little-endian float32 values (trailing bytes are
// ignored), so the fuzzer can reach every bit pattern: NaNs, infinities,
// subnormals and negative zero.
func floatsFrom(data []byte) []float32 {
	v := make([]float32, len(data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return v
}

func bytesOf(v ...float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func addSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytesOf(3, 4))
	f.Add(bytesOf(0, 0, 0))
	f.Add(bytesOf(1e-45, 1e-40, -1e-44))
	f.Add(bytesOf(3e38, -3e38, 1))
	f.Add(bytesOf(float32(math.NaN()), 1))
	f.Add(bytesOf(float32(math.Inf(-1)), 1))
	f.Add(bytesOf(seq(70, func(i int) float32 { return float32(i) - 35.5 })...))
}

// FuzzNormalize: for a finite non-zero v, ‖Normalize(v)‖ ≈ 1 and the
// direction is kept; otherwise v is left unchanged.
func FuzzNormalize(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v := floatsFrom(data)
		orig := slices.Clone(v)
		n := Normalize(v)
		norm64 := math.Sqrt(sumSquares64(orig))
		if !Finite(orig) || norm64 == 0 {
			for i := range v {
				if math.Float32bits(v[i]) != math.Float32bits(orig[i]) {
					t.Fatalf("Normalize changed a zero or non-finite vector: %v -> %v", orig, v)
				}
			}
			return
		}
		if got := math.Sqrt(sumSquares64(v)); math.Abs(got-1) > 1e-5 {
			t.Fatalf("‖Normalize(%v)‖ = %v, want 1", orig, got)
		}
		// The returned float32 norm is accurate to 1e-6 relative, or to one
		// ulp when it is subnormal.
		if diff := math.Abs(float64(n) - norm64); n != float32(math.Inf(1)) && diff > 1e-6*norm64 && diff > 0x1p-149 {
			t.Fatalf("Normalize returned %v, float64 norm %v", n, norm64)
		}
		if c := cosine64(orig, v); c < 1-1e-6 {
			t.Fatalf("Normalize changed the direction: cos = %v", c)
		}
	})
}

// FuzzCosine: symmetric bit for bit, within [-1, 1], cos(v, v) = 1 for finite
// non-zero v, 0 for zero or non-finite input, and close to a float64
// reference.
func FuzzCosine(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v := floatsFrom(data)
		a, b := v[:len(v)/2], v[len(v)/2:len(v)/2*2]
		c := Cosine(a, b)
		if c2 := Cosine(b, a); math.Float32bits(c) != math.Float32bits(c2) {
			t.Fatalf("Cosine not symmetric: %v vs %v", c, c2)
		}
		if !(c >= -1 && c <= 1) {
			t.Fatalf("Cosine = %v out of [-1, 1]", c)
		}
		for _, x := range [][]float32{a, b} {
			self := Cosine(x, x)
			zero := !Finite(x) || sumSquares64(x) == 0
			if zero && self != 0 || !zero && math.Abs(float64(self)-1) > 1e-6 {
				t.Fatalf("Cosine(v, v) = %v for v = %v", self, x)
			}
		}
		if !Finite(a) || !Finite(b) {
			if c != 0 {
				t.Fatalf("Cosine = %v for non-finite input", c)
			}
			return
		}
		want := max(-1, min(1, cosine64(a, b)))
		if math.Abs(float64(c)-want) > 1e-5 {
			t.Fatalf("Cosine(%v, %v) = %v, float64 reference %v", a, b, c, want)
		}
	})
}

// FuzzDot: Dot is symmetric and follows the specified operation order.
func FuzzDot(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v := floatsFrom(data)
		a, b := v[:len(v)/2], v[len(v)/2:]
		d := Dot(a, b)
		if d2 := Dot(b, a); !same(d, d2) {
			t.Fatalf("Dot not symmetric: %v vs %v", d, d2)
		}
		if want := refDot(a, b); !same(d, want) {
			t.Fatalf("Dot = %v, spec %v", d, want)
		}
	})
}

// FuzzTopK: TopK returns min(k, n) entries, ordered, with distinct indices
// whose scores match the input.
func FuzzTopK(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		k := int(int8(data[0]))
		scores := floatsFrom(data[1:])
		got := TopK(scores, k, nil)
		if want := max(0, min(k, len(scores))); len(got) != want {
			t.Fatalf("len(TopK) = %d, want %d", len(got), want)
		}
		seen := map[int]bool{}
		for i, s := range got {
			if seen[s.Index] || !same(scores[s.Index], s.Score) {
				t.Fatalf("bad entry %v", s)
			}
			seen[s.Index] = true
			if i > 0 && !ranksBefore(got[i-1], s) {
				t.Fatalf("out of order: %v before %v", got[i-1], s)
			}
		}
		if len(got) > 0 { // nothing left out ranks before the last entry
			for i, s := range scores {
				if !seen[i] && ranksBefore(Scored{i, s}, got[len(got)-1]) {
					t.Fatalf("index %d (%v) missing from %v", i, s, got)
				}
			}
		}
	})
}
