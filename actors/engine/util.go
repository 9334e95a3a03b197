package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
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
	// A finite, positive v·v implies finite elements (squares cannot
	// cancel): one pass for the common case, the checks below for errors.
	if d := vecmath.Dot(v, v); d > 0 && d <= math.MaxFloat32 {
		return nil
	}
	if !vecmath.Finite(v) {
		return semvec.FieldError(field, "must contain only finite numbers")
	}
	if vecmath.Dot(v, v) == 0 {
		return semvec.FieldError(field, "must not be the zero vector")
	}
	return nil
}

// CheckVector is checkVec, for the layers: every vector a request brings is
// checked by the same rule.
func CheckVector(field string, v []float32, dim int) error { return checkVec(field, v, dim) }

// checkVecs validates a list of vectors with checkVec; an error names the
// element (field.i, which the HTTP layer reports at [field, i]).
func checkVecs(field string, vs [][]float32, dim int) error {
	for i, v := range vs {
		if err := checkVec(field+"."+strconv.Itoa(i), v, dim); err != nil {
			return err
		}
	}
	return nil
}

// unitCopy returns a fresh L2-normalised float32 copy of v, computed in
// float64 so the result is deterministic and as exact as float32 allows.
func unitCopy(v []float32) []float32 { return unitInto(make([]float32, len(v)), v) }

// cos is the cosine similarity as float64.
func cos(a, b []float32) float64 { return float64(vecmath.Cosine(a, b)) }

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// importableTime reports whether t can be a memory's timestamp: one a
// Unix time in nanoseconds (int64) can hold, 1677–2262, as the session
// actor reports it; an import outside is refused.
func importableTime(t time.Time) bool {
	return !t.Before(time.Unix(0, math.MinInt64)) && !t.After(time.Unix(0, math.MaxInt64))
}

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

// clipBytes cuts s to at most n bytes at a character boundary, marking the
// cut with "…", for an error message that quotes what a caller sent.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// cleanText makes text valid UTF-8 (JSON would otherwise rewrite it on export
// and the memory hash would no longer match after an import).
func cleanText(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// normText trims and collapses runs of white space to one space.
func normText(s string) string { return string(appendNorm(nil, s)) }

// asciiSpace marks the ASCII white space of unicode.IsSpace (and
// strings.Fields).
func asciiSpace(c byte) bool { return c <= ' ' && (uint64(1)<<c)&asciiSpaceMask != 0 }

const asciiSpaceMask = 1<<' ' | 1<<'\t' | 1<<'\n' | 1<<'\v' | 1<<'\f' | 1<<'\r'

// appendNorm appends normText(s) to dst: the fields of s (strings.Fields)
// joined by single spaces.
func appendNorm(dst []byte, s string) []byte {
	space := false // a space is owed before the next non-space rune
	start := len(dst)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiSpace(c) {
				space = len(dst) > start
				i++
				continue
			}
			if space {
				dst = append(dst, ' ')
				space = false
			}
			j := plainRun(s, i+1, len(s))
			for j < len(s) && s[j] < utf8.RuneSelf && !asciiSpace(s[j]) {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			space = len(dst) > start
		} else {
			if space {
				dst = append(dst, ' ')
				space = false
			}
			dst = append(dst, s[i:i+w]...)
		}
		i += w
	}
	return dst
}

// appendPlainNorm is appendNorm(dst, s) for a text with plainText(s): s
// with each '\n' as ' '.
func appendPlainNorm(dst []byte, s string) []byte {
	start := len(dst)
	dst = append(dst, s...)
	for b := dst[start:]; ; {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return dst
		}
		b[i] = ' '
		b = b[i+1:]
	}
}

// containsPlain reports whether normText(text) contains normText(sub) for
// texts with plainText: ' ' and '\n' are the same character.
func containsPlain(text, sub string) bool {
	w := sub // the first word of sub: a candidate must start with it
	if i := strings.IndexAny(sub, " \n"); i >= 0 {
		w = sub[:i]
	}
	for off := 0; off+len(sub) <= len(text); {
		j := strings.Index(text[off:], w)
		if j < 0 {
			return false
		}
		p := off + j
		if p+len(sub) > len(text) {
			return false
		}
		if sameSpaced(text[p:p+len(sub)], sub) {
			return true
		}
		off = p + 1
	}
	return false
}

// sameSpaced reports whether a and b, of equal length, are equal with ' '
// and '\n' read as one character.
func sameSpaced(a, b string) bool {
	for i := 0; i < len(a); i++ {
		if x, y := a[i], b[i]; x != y && !((x == ' ' || x == '\n') && (y == ' ' || y == '\n')) {
			return false
		}
	}
	return true
}

// plainRun skips 8 bytes at a time from j while all of them are printable
// ASCII ('!' to DEL, so neither space nor multi-byte), up to lim, and returns
// the new position. Callers finish byte by byte.
func plainRun(s string, j, lim int) int {
	const lo, hi = 0x2121212121212121, 0x8080808080808080
	for j+8 <= lim {
		b := s[j : j+8]
		w := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if (w|(w-lo))&hi != 0 { // a byte >= 0x80 or < '!'
			break
		}
		j += 8
	}
	return j
}

// hashText is the memory_hash of a text: the first 16 hex characters of the
// SHA-256 of its normalised form.
func hashText(s string) string { return hashTextPlain(s, false) }

// hashTextPlain is hashText(s) for plain = plainText(s) (or false when
// unknown): a plain text's normal form is the text with '\n' read as ' '.
func hashTextPlain(s string, plain bool) string {
	buf := getScratch()
	var sum [sha256.Size]byte
	if plain {
		sum = sha256.Sum256(appendPlainNorm(buf.n1[:0], s))
	} else {
		sum = sha256.Sum256(appendNorm(buf.n1[:0], s))
	}
	buf.put()
	var hx [16]byte
	hex.Encode(hx[:], sum[:8])
	return string(hx[:])
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

// own returns t, a part of s (s trimmed, say), as a string of its own when
// it is shorter than s. Kept in the session, a part of s would keep all of
// s alive: a request's text padded with white space (64,000 characters of
// U+3000 trim to one) would hold ~190 KB that ApproxSize, and so the byte
// budget of the sessions in memory, never counts.
func own(t, s string) string {
	if len(t) < len(s) {
		return strings.Clone(t)
	}
	return t
}

// clipText is clip without the flag.
func clipText(s string, n int) string {
	out, _ := clip(s, n)
	return out
}

// appendClip appends clip(s, n) to dst and returns it with the number of
// characters appended.
func appendClip(dst []byte, s string, n int) ([]byte, int) {
	out, _ := clip(s, n)
	return append(dst, out...), runeLen(out)
}

// lineClip is clip(normText(s), n): the text on one line, clipped.
func lineClip(s string, n int) string {
	b, _ := appendLineClip(nil, n, s)
	return string(b)
}

// appendLineClip appends lineClip(concatenation of parts, n) to dst and
// returns it with the number of characters appended. It reads the parts only
// as far as the clipped line needs (n+1 characters of the normalised text).
func appendLineClip(dst []byte, n int, parts ...string) ([]byte, int) {
	start := len(dst)
	if n <= 0 {
		return dst, 0
	}
	keep := n - 3 // characters kept before "..." when the text is cut
	if n < 3 {
		keep = n // no room for the ellipsis
	}
	mark := start // len(dst) after keep characters
	count := 0
	space := false // a space is owed before the next non-space rune
	for _, s := range parts {
		for i := 0; i < len(s); {
			c := s[i]
			w := 1
			if c < utf8.RuneSelf {
				if asciiSpace(c) {
					space = count > 0
					i++
					continue
				}
			} else {
				var r rune
				r, w = utf8.DecodeRuneInString(s[i:])
				if unicode.IsSpace(r) {
					space = count > 0
					i += w
					continue
				}
			}
			if space {
				if count == n {
					return cut(dst, mark, n)
				}
				dst = append(dst, ' ')
				if count++; count == keep {
					mark = len(dst)
				}
				space = false
			}
			if count == n {
				return cut(dst, mark, n)
			}
			if w > 1 {
				dst = append(dst, s[i:i+w]...)
				if count++; count == keep {
					mark = len(dst)
				}
				i += w
				continue
			}
			// A run of non-space ASCII, at most n-count characters.
			lim := min(len(s), i+n-count)
			j := plainRun(s, i+1, lim)
			for j < lim && s[j] < utf8.RuneSelf && !asciiSpace(s[j]) {
				j++
			}
			if count < keep && keep <= count+j-i {
				mark = len(dst) + keep - count
			}
			dst = append(dst, s[i:j]...)
			count += j - i
			i = j
		}
	}
	return dst, count
}

// cut ends a clipped line: the first keep characters and "..." (n >= 3).
func cut(dst []byte, mark, n int) ([]byte, int) {
	dst = dst[:mark]
	if n >= 3 {
		dst = append(dst, "..."...)
	}
	return dst, n
}

// pushHist appends v to a bounded history of at most n entries, dropping the
// oldest entry when full. Capacity grows by doubling up to exactly n.
func pushHist[T any](h []T, v T, n int) []T {
	if len(h) >= n {
		copy(h, h[len(h)-n+1:])
		h = h[:n-1]
	} else if len(h) == cap(h) {
		nh := make([]T, len(h), min(n, max(8, 2*cap(h))))
		copy(nh, h)
		h = nh
	}
	return append(h, v)
}

// widen converts a stored float32 to the float64 of its shortest decimal
// form, so a history value written as 0.3 reads back as 0.3, not
// 0.30000001192092896.
func widen(x float32) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	if err != nil {
		return float64(x)
	}
	return v
}

// widenAll is widen over a history; nil for an empty one.
func widenAll(h []float32) []float64 {
	if len(h) == 0 {
		return nil
	}
	out := make([]float64, len(h))
	for i, x := range h {
		out[i] = widen(x)
	}
	return out
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
func tailMean(h []float32, n int) float64 {
	if len(h) == 0 {
		return 0
	}
	if n > len(h) {
		n = len(h)
	}
	var s float64
	for _, x := range h[len(h)-n:] {
		s += float64(x)
	}
	return s / float64(n)
}

func toLower(s string) string { return strings.ToLower(s) }

func utf8Valid(s string) bool { return utf8.ValidString(s) }

// appendFixed2 appends v with two decimals, byte for byte what
// strconv.AppendFloat(b, float64(v), 'f', 2, 32) (fmt's %.2f) appends, in a
// fraction of its time: the hundredths are rounded in float64, which decides
// exactly except within a hair of a tie, and those (and anything not a
// small finite number) go to strconv.
func appendFixed2(b []byte, v float32) []byte {
	f := float64(v)
	neg := math.Signbit(f)
	if neg {
		f = -f
	}
	x := f * 100
	if !(x < 1e9) { // NaN, Inf or large
		return strconv.AppendFloat(b, float64(v), 'f', 2, 32)
	}
	n := math.Floor(x)
	frac := x - n
	if math.Abs(frac-0.5) < 1e-6 {
		return strconv.AppendFloat(b, float64(v), 'f', 2, 32)
	}
	if frac > 0.5 {
		n++
	}
	h := uint64(n)
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendUint(b, h/100, 10)
	return append(b, '.', byte('0'+h%100/10), byte('0'+h%10))
}
