package engine

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestClip(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"hello", 10, "hello", false},
		{"hello world", 8, "hello...", true},
		{"ünïcödé text", 6, "ünï...", true},
		{"abc", 3, "abc", false},
		{"abcd", 2, "ab", true},
	}
	for _, c := range cases {
		got, cut := clip(c.in, c.n)
		if got != c.want || cut != c.cut {
			t.Errorf("clip(%q, %d) = %q %v", c.in, c.n, got, cut)
		}
	}
}

// TestLineClipMatchesDefinition checks lineClip(s, n) == clip(normText(s), n).
func TestLineClipMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	alphabet := []string{"a", "b", "ü", " ", "  ", "\n", "\t", "é", "x", "\u00a0", "."}
	for range 20000 {
		var b strings.Builder
		for range r.IntN(40) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		s, n := b.String(), r.IntN(25)
		if got, want := lineClip(s, n), clipText(normText(s), n); got != want {
			t.Fatalf("lineClip(%q, %d) = %q, want %q", s, n, got, want)
		}
	}
}

func TestPushHistoryBounded(t *testing.T) {
	var h []float64
	for i := range 10 {
		h = pushHist(h, float64(i), 4)
	}
	if len(h) != 4 || h[0] != 6 || h[3] != 9 {
		t.Fatalf("%v", h)
	}
	var p []string
	for _, x := range []string{"a", "b", "c"} {
		p = pushHist(p, x, 2)
	}
	if strings.Join(p, "") != "bc" {
		t.Fatalf("%v", p)
	}
}

func TestTopK(t *testing.T) {
	got := topK([]float32{0.1, 0.5, 0.5, -1, 0.9}, 3)
	if len(got) != 3 || got[0] != 4 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("%v", got)
	}
	if len(topK(nil, 3)) != 0 || len(topK([]float32{1}, 3)) != 1 {
		t.Fatal("short input")
	}
}

// appendFixed2 is strconv's %.2f of a float32 for every value it is given:
// all float32s in [-4, 4] at a fine stride, the ties of the hundredths, and
// the odd ones.
func TestAppendFixed2MatchesStrconv(t *testing.T) {
	check := func(v float32) {
		t.Helper()
		want := strconv.AppendFloat(nil, float64(v), 'f', 2, 32)
		if got := appendFixed2(nil, v); string(got) != string(want) {
			t.Fatalf("%v (bits %#x): %q, strconv %q", v, math.Float32bits(v), got, want)
		}
	}
	for bits := uint32(0); bits <= math.Float32bits(4); bits += 997 {
		check(math.Float32frombits(bits))
		check(-math.Float32frombits(bits))
	}
	for i := -400; i <= 400; i++ {
		tie := float32(float64(i)/100 + 0.005)
		for _, v := range []float32{tie, math.Nextafter32(tie, 10), math.Nextafter32(tie, -10)} {
			check(v)
		}
	}
	for _, v := range []float32{0, float32(math.Copysign(0, -1)), 0.125, -0.125, 0.375, 1e9, -3e10, math.MaxFloat32,
		math.SmallestNonzeroFloat32, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0.994999, 0.995, 9.995} {
		check(v)
	}
}

// TestPlainFastPaths: for plain texts, containsPlain and hashTextPlain
// answer as the normalising versions do.
func TestPlainFastPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	words := []string{"a", "ab", "b", "Q:", "A:", "deploy", "pods", "x"}
	text := func() string {
		var b strings.Builder
		for i := range 1 + r.IntN(12) {
			if i > 0 {
				b.WriteByte(" \n"[r.IntN(2)])
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		return b.String()
	}
	for range 20000 {
		a, b := text(), text()
		if r.IntN(4) == 0 { // b taken from a, its spaces and line breaks swapped
			i := r.IntN(len(a))
			j := i + r.IntN(len(a)-i) + 1
			b = strings.Map(func(c rune) rune {
				switch c {
				case ' ':
					return '\n'
				case '\n':
					return ' '
				}
				return c
			}, a[i:j])
		}
		if !plainText(a) || !plainText(b) {
			continue
		}
		if got, want := containsPlain(a, b), strings.Contains(normText(a), normText(b)); got != want {
			t.Fatalf("containsPlain(%q, %q) = %v, want %v", a, b, got, want)
		}
		if hashTextPlain(a, true) != hashText(a) {
			t.Fatalf("hashTextPlain(%q)", a)
		}
	}
}
