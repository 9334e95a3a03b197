package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// The text hot paths (normalisation, line clipping, tokenising, entity
// matching) have ASCII and word-at-a-time fast paths. These tests pin them to
// their plain definitions on long random texts.

// randText builds a random text from pieces that exercise every path: long
// plain ASCII runs, every ASCII space, Unicode spaces and letters, upper
// case, digits, punctuation, control characters and invalid UTF-8.
func randText(r *rand.Rand, maxPieces int) string {
	pieces := []string{"a", "Z", "é", "Ü", "ß", "İ", "\u212a", " ", "  ", "\n", "\t", "\v", "\f", "\r", "\u00a0",
		"\u0085", "\u2028", "\u3000", ".", "_", "-", "/", "42", "x9", "\x01", "\x7f", "\xff", "...",
		"deployment", "parseHTTPConfig", "kubectl rollout status", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnop"}
	var b strings.Builder
	for range r.IntN(maxPieces) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// plainish builds mostly plain texts: ASCII words separated by single
// spaces or newlines, sometimes with a flaw (double space, edge space, tab).
func plainish(r *rand.Rand) string {
	words := []string{"Q:", "A:", "kubectl", "rollout", "x", "42", "a-b", "(variant", "7)", "status."}
	seps := []string{" ", " ", " ", "\n", "  ", "\t", " \n"}
	var b strings.Builder
	if r.IntN(20) == 0 {
		b.WriteString(" ")
	}
	for i := range 1 + r.IntN(60) {
		if i > 0 {
			if r.IntN(10) == 0 {
				b.WriteString(seps[r.IntN(len(seps))])
			} else {
				b.WriteString(seps[r.IntN(4)])
			}
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	if r.IntN(20) == 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// TestStructSizes keeps ApproxSize's struct sizes honest (64-bit).
func TestStructSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("32-bit platform")
	}
	if got := unsafe.Sizeof(memory{}); got != memoryStructSize {
		t.Errorf("memory is %d bytes, ApproxSize assumes %d", got, memoryStructSize)
	}
	if got := unsafe.Sizeof(shadowItem{}); got != shadowItemSize {
		t.Errorf("shadowItem is %d bytes, ApproxSize assumes %d", got, shadowItemSize)
	}
	if got := unsafe.Sizeof(refEntry{}); got != refEntrySize {
		t.Errorf("refEntry is %d bytes, ApproxSize assumes %d", got, refEntrySize)
	}
}

func refNormText(s string) string { return strings.Join(strings.Fields(s), " ") }

func refHashText(s string) string {
	sum := sha256.Sum256([]byte(refNormText(s)))
	return hex.EncodeToString(sum[:8])
}

// refTokens is the tokeniser's definition (see doc.go, "Literal cache").
func refTokens(text string, f func(string)) {
	start := -1
	var prev rune
	emit := func(end int) {
		if start >= 0 {
			if tok := text[start:end]; utf8.RuneCountInString(tok) >= 2 {
				f(strings.ToLower(tok))
			}
			start = -1
		}
	}
	for i, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start >= 0 && unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)) {
				emit(i)
			}
			if start < 0 {
				start = i
			}
		} else {
			emit(i)
		}
		prev = r
	}
	emit(len(text))
}

func TestTextFastPathsMatchDefinitions(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 12))
	for range 20000 {
		s := randText(r, 80)
		if got, want := normText(s), refNormText(s); got != want {
			t.Fatalf("normText(%q) = %q, want %q", s, got, want)
		}
		if got, want := hashText(s), refHashText(s); got != want {
			t.Fatalf("hashText(%q) = %q, want %q", s, got, want)
		}
		n := r.IntN(300)
		if got, want := lineClip(s, n), clipText(refNormText(s), n); got != want {
			t.Fatalf("lineClip(%q, %d) = %q, want %q", s, n, got, want)
		}
		// Several parts clip like their concatenation, and the count is
		// the number of characters appended.
		a, b := randText(r, 20), randText(r, 20)
		got, k := appendLineClip([]byte("prefix"), n, s, a, b)
		if want := "prefix" + clipText(refNormText(s+a+b), n); string(got) != want || k != runeLen(want)-6 {
			t.Fatalf("appendLineClip(%q, %q, %q, %d) = %q (%d), want %q", s, a, b, n, got, k, want)
		}
		// A memory's line (plain texts take a prefix copy).
		for _, txt := range []string{s, plainish(r)} {
			m := &memory{}
			m.setText(txt)
			got, k := m.appendLine([]byte("p"), n)
			if want := "p" + clipText(refNormText(txt), n); string(got) != want || k != runeLen(want)-1 {
				t.Fatalf("appendLine(%q, %d) plain=%v = %q (%d), want %q", txt, n, m.plain, got, k, want)
			}
		}
		var gotT, wantT []string
		tokens(s, func(tok string) { gotT = append(gotT, tok) })
		refTokens(s, func(tok string) { wantT = append(wantT, tok) })
		if !slices.Equal(gotT, wantT) {
			t.Fatalf("tokens(%q) = %q, want %q", s, gotT, wantT)
		}
	}
}

// refMatchEntities is the entity matching definition: distinct shared
// lower-cased tokens, ranked by overlap, importance, key.
func refMatchEntities(s *Session, text string, max int) []int {
	q := map[string]int{}
	refTokens(text, func(t string) { q[t] = 0 })
	type hit struct{ i, overlap int }
	var hits []hit
	for i := range s.entities {
		e := &s.entities[i]
		n := 0
		count := func(tok string) {
			if last, ok := q[tok]; ok && last != i+1 {
				q[tok] = i + 1
				n++
			}
		}
		refTokens(e.Key, count)
		refTokens(e.Value, count)
		if n > 0 {
			hits = append(hits, hit{i, n})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int {
		if a.overlap != b.overlap {
			return b.overlap - a.overlap
		}
		ia, ib := s.entities[a.i].Importance, s.entities[b.i].Importance
		switch {
		case ia > ib:
			return -1
		case ia < ib:
			return 1
		}
		return strings.Compare(s.entities[a.i].Key, s.entities[b.i].Key)
	})
	if max > 0 && len(hits) > max {
		hits = hits[:max]
	}
	out := []int{}
	for _, h := range hits {
		out = append(out, h.i)
	}
	return out
}

func TestMatchEntitiesMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 55))
	s := newTestSession(t)
	for i := range 120 {
		key := randText(r, 6)
		if strings.TrimSpace(key) == "" {
			key = "k"
		}
		key = urlSafeKey(key + string(rune('a'+i%26)))
		val := randText(r, 8)
		if val == "" {
			val = "v"
		}
		if _, err := s.PutEntity(Entity{Key: key, Kind: "type", Value: val, Importance: float64(1 + r.IntN(3))}); err != nil {
			t.Fatal(err)
		}
	}
	matched, large := 0, 0
	for range 3000 {
		// Short queries, and long ones that switch the token sets to maps.
		text := randText(r, 12)
		if r.IntN(4) == 0 {
			var b strings.Builder
			for range 80 {
				b.WriteString(randText(r, 3))
				b.WriteString(" w")
				b.WriteString(strconv.Itoa(r.IntN(1000)))
			}
			text = b.String()
		}
		distinct := map[string]bool{}
		refTokens(text, func(tok string) { distinct[tok] = true })
		if len(distinct) > 64 {
			large++
		}
		max := r.IntN(7)
		got := s.matchEntities(nil, text, max)
		want := refMatchEntities(s, text, max)
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("matchEntities(%q, %d) = %v, want %v", text, max, got, want)
		}
		if len(want) > 0 {
			matched++
		}
	}
	if matched < 300 || large < 100 {
		t.Fatalf("weak test: %d queries matched, %d had more than 64 distinct tokens", matched, large)
	}
}

// urlSafeKey turns a random text into an entity key PutEntity accepts
// (entityKeyProblem): forbidden characters become '_', white space at the
// ends is trimmed, and empty, "." and ".." segments become "_".
func urlSafeKey(key string) string {
	key = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || strings.ContainsRune(`\%?#`, r) {
			return '_'
		}
		return r
	}, key)
	segs := strings.Split(strings.TrimSpace(key), "/")
	for i, seg := range segs {
		if seg == "" || seg == "." || seg == ".." {
			segs[i] = "_"
		}
	}
	return strings.Join(segs, "/")
}
