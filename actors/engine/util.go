package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	semvec "github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath"
)

// checkVec validates an incoming vector: the session's dimension, finite
// elements and a non-zero norm. field names the request field in the error.
func checkVec(field string, v []float32, dim int) error {
	if len(v) != dim {
		return semvec.FieldError(field, "expected %d dimensions, got %d", dim, len(v))
	}
	if !vecmath.Finite(v) {
		return semvec.FieldError(field, "must contain only finite numbers")
	}
	if vecmath.Dot(v, v) == 0 {
		return semvec.FieldError(field, "must not be the zero vector")
	}
	return nil
}

// checkVecs validates a list of vectors with checkVec.
func checkVecs(field string, vs [][]float32, dim int) error {
	for _, v := range vs {
		if err := checkVec(field, v, dim); err != nil {
			return err
		}
	}
	return nil
}

// unitCopy returns a fresh L2-normalised float32 copy of v, computed in
// float64 so the result is deterministic and as exact as float32 allows.
func unitCopy(v []float32) []float32 {
	out := make([]float32, len(v))
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return out
	}
	inv := 1 / math.Sqrt(n)
	for i, x := range v {
		out[i] = float32(float64(x) * inv)
	}
	return out
}

// cos is the cosine similarity as float64.
func cos(a, b []float32) float64 { return float64(vecmath.Cosine(a, b)) }

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// canonTime strips the monotonic reading and the location, so timestamps
// export as RFC 3339 UTC and round-trip exactly. A time outside the years
// 0000–9999 (not representable in RFC 3339) becomes the zero time.
func canonTime(t time.Time) time.Time {
	t = t.UTC().Round(0)
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}
	}
	return t
}

// cleanText makes text valid UTF-8 (JSON would otherwise rewrite it on export
// and the memory hash would no longer match after an import).
func cleanText(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// normText trims and collapses runs of white space to one space.
func normText(s string) string { return strings.Join(strings.Fields(s), " ") }

// hashText is the memory_hash of a text: the first 16 hex characters of the
// SHA-256 of its normalised form.
func hashText(s string) string {
	sum := sha256.Sum256([]byte(normText(s)))
	return hex.EncodeToString(sum[:8])
}

// runeLen counts characters (code points), the unit of every character cap.
func runeLen(s string) int { return utf8.RuneCountInString(s) }

// clip shortens s to at most n characters, ending in "..." when it cut.
func clip(s string, n int) (string, bool) {
	if n <= 0 {
		return "", s != ""
	}
	if len(s) <= n || runeLen(s) <= n {
		return s, false
	}
	keep := n - 3
	if n < 3 {
		keep = n // no room for the ellipsis
	}
	i, count := 0, 0
	for i < len(s) && count < keep {
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
		count++
	}
	if n < 3 {
		return s[:i], true
	}
	return s[:i] + "...", true
}

// clipText is clip without the flag.
func clipText(s string, n int) string {
	out, _ := clip(s, n)
	return out
}

// lineClip is clip(normText(s), n) without normalising all of a long s: it
// collapses white space only as far as the first n+1 characters of the result.
func lineClip(s string, n int) string {
	var b strings.Builder
	count := 0
	space := false // a space is owed before the next non-space rune
	more := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = count > 0
			continue
		}
		if space {
			if count == n+1 {
				more = true
				break
			}
			b.WriteByte(' ')
			count++
			space = false
		}
		if count == n+1 {
			more = true
			break
		}
		b.WriteRune(r)
		count++
	}
	out := b.String()
	if !more && count <= n {
		return out
	}
	return clipText(out, n)
}

// pushF appends v to a bounded history, dropping the oldest entry when full.
func pushF(h []float64, v float64, max int) []float64 {
	if len(h) >= max {
		copy(h, h[len(h)-max+1:])
		h = h[:max-1]
	}
	return append(h, v)
}

// pushS is pushF for strings.
func pushS(h []string, v string, max int) []string {
	if len(h) >= max {
		copy(h, h[len(h)-max+1:])
		h = h[:max-1]
	}
	return append(h, v)
}

func cloneF(h []float64) []float64 {
	if len(h) == 0 {
		return nil
	}
	return append([]float64(nil), h...)
}

func cloneS(h []string) []string {
	if len(h) == 0 {
		return nil
	}
	return append([]string(nil), h...)
}

func cloneV(v []float32) []float32 {
	if v == nil {
		return nil
	}
	return append([]float32(nil), v...)
}

func cloneVV(vs [][]float32) [][]float32 {
	if len(vs) == 0 {
		return nil
	}
	out := make([][]float32, len(vs))
	for i, v := range vs {
		out[i] = cloneV(v)
	}
	return out
}

// mean of the last n entries of h (all when fewer); 0 for an empty slice.
func tailMean(h []float64, n int) float64 {
	if len(h) == 0 {
		return 0
	}
	if n > len(h) {
		n = len(h)
	}
	var s float64
	for _, x := range h[len(h)-n:] {
		s += x
	}
	return s / float64(n)
}

func toLower(s string) string { return strings.ToLower(s) }

func utf8Valid(s string) bool { return utf8.ValidString(s) }
