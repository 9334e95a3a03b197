package embed

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/semvec-go/semvec/vecmath"
)

// The optimised Hashing must produce the bit-identical vector of the
// reference implementation (hashing_ref_test.go) for every text and
// dimension: these tests compare every float32 bit by bit.

// equivDims are the dimensions compared. Small ones put many distinct
// features with repeated counts into each bucket, where the order of the
// floating-point additions decides the bits.
var equivDims = []int{DefaultDim, 1, 2, 7, 16, 100, 768, 1536}

// checkSame fails t if h's vector for text differs in any bit from the
// reference vector.
func checkSame(t *testing.T, h *Hashing, text string) {
	t.Helper()
	want := refEmbedTo(h.Dim(), text)
	got := h.EmbedTo(nil, text)
	if len(got) != len(want) {
		t.Fatalf("dim %d, %s: len %d, want %d", h.Dim(), clip(text), len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("dim %d, %s: element %d = %v (%#08x), reference %v (%#08x)",
				h.Dim(), clip(text), i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// clip quotes text for an error message, shortened if long.
func clip(text string) string {
	if len(text) > 200 {
		return fmt.Sprintf("%q… (%d bytes)", text[:200], len(text))
	}
	return fmt.Sprintf("%q", text)
}

// equivVocab are the building blocks of generated texts: plain and
// capitalised words, stop words, apostrophes inside and around words, digits,
// scripts with multi-byte runes, combining marks, runes whose lower case has
// another byte length or is ASCII (İ, K KELVIN SIGN, Ω OHM SIGN, ẞ), title
// case (ǅ), emoji, invalid UTF-8, and punctuation and space of all kinds.
var equivVocab = []string{
	"the", "The", "THE", "a", "is", "how", "my", "not", "no", "nor", "I", "you", "Who", "are",
	"quick", "brown", "fox", "jumps", "over", "lazy", "dog", "database", "migration",
	"deploy", "deployed", "deployment", "failed", "rollback", "password", "reset",
	"Yesterday", "customers", "Europe", "billing", "service", "timed", "out",
	"don't", "Don't", "it’s", "'quoted'", "’tis", "rock'n'roll", "o'clock", "''", "'", "’",
	"x", "xy", "ab", "Q", "7", "42", "2024", "3.14", "1,000", "v1.2.3", "x86_64", "e-mail",
	"Grüße", "Köln", "ÉCOLE", "école", "e\u0301cole", "naïve", "straße", "STRASSE", "ẞ",
	"Привет", "мир", "Ελληνικά", "ΣΊΣΥΦΟΣ", "東京", "東京タワー", "日本語のテキスト", "한국어",
	"العربية", "עברית", "हिन्दी", "ไทย", "İstanbul", "ǅungla", "\u212Aelvin", "\u2126hm",
	"ﬁne", "①②", "٣٤٥", "Ⅻ", "🎉", "🎉🎉", "👍🏽", "a\xffb", "\xff", "\xe6\x9d", "\x00",
	",", ".", "!", "?", "…", "—", "-", "***", "(", ")", "\"", "«", "»", "/", "#", "@",
	" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u200b",
}

// genText returns a random text of up to maxWords pieces of equivVocab and
// random runes, often repeating earlier pieces so that features recur.
func genText(rng *rand.Rand, maxWords int) string {
	var b strings.Builder
	n := rng.IntN(maxWords + 1)
	var used []string
	for range n {
		var w string
		switch r := rng.IntN(20); {
		case r < 4 && len(used) > 0:
			w = used[rng.IntN(len(used))] // repeat
		case r < 5:
			w = randRunes(rng, 1+rng.IntN(8))
		default:
			w = equivVocab[rng.IntN(len(equivVocab))]
		}
		used = append(used, w)
		b.WriteString(w)
		switch rng.IntN(6) {
		case 0: // glue to the next piece
		case 1:
			b.WriteString(equivVocab[len(equivVocab)-8+rng.IntN(8)])
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// randRunes returns n random runes from ASCII, Latin-1, other BMP planes and
// beyond, including surrogate halves and other invalid code points (which
// encode as U+FFFD) and random bytes.
func randRunes(rng *rand.Rand, n int) string {
	var b []byte
	for range n {
		switch rng.IntN(6) {
		case 0:
			b = append(b, byte(rng.IntN(128)))
		case 1:
			b = utf8.AppendRune(b, rune(0x80+rng.IntN(0x780)))
		case 2:
			b = utf8.AppendRune(b, rune(rng.IntN(0x10000)))
		case 3:
			b = utf8.AppendRune(b, rune(rng.IntN(0x110000)))
		case 4:
			b = append(b, byte(rng.IntN(256)))
		default:
			b = append(b, "aeiouAEIOU"[rng.IntN(10)])
		}
	}
	return string(b)
}

func TestHashingMatchesReferenceFixed(t *testing.T) {
	long := strings.Repeat("The deployment failed because the database migration timed out; don't retry. ", 300)
	texts := []string{
		"", " ", "   \t\n", "?!… — ***", "🎉🎉", "'''", "’’", "x", "a", "The", "Who are you?",
		"the the the the", "a an the is", "Hello, World!", "hello world", "don't", "dont",
		"The quick brown fox jumps over the lazy dog. Don't panic!",
		benchSentence,
		"Grüße aus Köln — 東京 2024", "e\u0301cole", "ǅungla İstanbul", "\u212AELVIN \u2126HM", "1 2 3",
		"a\xffb", "\xff\xfe\xfd", "straße STRASSE ẞ", "ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ",
		strings.Repeat("na", 5000), strings.Repeat("na ", 5000), strings.Repeat("banana ", 3000),
		long, long[:MaxHashingText], long[:MaxHashingText-1], long + "tail",
		strings.Repeat("word ", MaxHashingText/5+1),
		strings.Repeat("x", MaxHashingText-1) + "ü",  // 'ü' cut in half by the limit
		strings.Repeat("x", MaxHashingText-2) + "東京", // '東' cut
		strings.Repeat("東", MaxHashingText),
		strings.Repeat(".,;:!? ", 4000),
		strings.Repeat("aaa ", 50) + strings.Repeat("aab ", 49) + strings.Repeat("abb ", 48),
	}
	for _, dim := range equivDims {
		h := NewHashing(dim)
		for _, text := range texts {
			checkSame(t, h, text)
		}
		// Embed: one scratch for the whole batch.
		vs, err := h.Embed(context.Background(), texts)
		if err != nil {
			t.Fatal(err)
		}
		for i, text := range texts {
			if vecmath.Checksum(vs[i]) != vecmath.Checksum(refEmbedTo(dim, text)) {
				t.Fatalf("dim %d, Embed, %s: differs from the reference", dim, clip(text))
			}
		}
	}
}

func TestHashingMatchesReferenceRandom(t *testing.T) {
	n := 3000
	if testing.Short() || raceEnabled {
		n = 300
	}
	rng := rand.New(rand.NewPCG(1, 2))
	hs := make([]*Hashing, len(equivDims))
	for i, dim := range equivDims {
		hs[i] = NewHashing(dim)
	}
	for i := range n {
		maxWords := 40
		if i%50 == 0 {
			maxWords = 3000 // long texts, some beyond MaxHashingText
		}
		text := genText(rng, maxWords)
		checkSame(t, hs[i%len(hs)], text)
		if i%len(hs) != 0 {
			checkSame(t, hs[0], text)
		}
	}
	// Random byte soup and random runes.
	for range n / 3 {
		b := make([]byte, rng.IntN(64))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		checkSame(t, hs[0], string(b))
		checkSame(t, hs[0], randRunes(rng, rng.IntN(40)))
	}
}

// FuzzHashingMatchesReference: go test -fuzz FuzzHashingMatchesReference
func FuzzHashingMatchesReference(f *testing.F) {
	for _, s := range []string{"", " ", "Hello, World!", "don't", "it’s", "'''", "a\xffb", "東京タワー",
		"e\u0301cole", "ǅungla İstanbul", "1 2 3", "\u212Aelvin", "the the the", benchSentence} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(7))
	}
	hs := map[int]*Hashing{}
	f.Fuzz(func(t *testing.T, s string, d uint8) {
		dim := int(d) % 40 // 0 means DefaultDim
		h := hs[dim]
		if h == nil {
			h = NewHashing(dim)
			hs[dim] = h
		}
		checkSame(t, h, s)
	})
}
