package engine

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	semvec "github.com/semvec-go/semvec"
)

// Literal-cache field limits (characters). The cache keeps values verbatim, so
// an oversized value is rejected instead of truncated.
const (
	maxEntityKeyChars     = 256
	maxEntityValueChars   = 2000
	maxEntityContextChars = 1000
)

// EntityKinds returns the closed set of literal-cache kinds, in a fresh slice.
func EntityKinds() []string {
	return []string{"variable", "function", "class", "path", "error", "signature", "constant", "type"}
}

func validKind(k string) bool { return slices.Contains(EntityKinds(), k) }

// Entity is one verbatim literal-cache entry.
type Entity struct {
	Key         string
	Kind        string
	Value       string
	Context     string
	Importance  float64 // [0, 10]; 0 means DefaultImportance on PutEntity
	AccessCount int     // read-only: ignored by PutEntity
}

type entityEntry struct {
	Entity
	seq  uint64   // write order, for "oldest" eviction
	toks []uint64 // tokHash of the distinct tokens of Key and Value: the match prefilter
}

// newEntityEntry builds an entry with its token hashes.
func newEntityEntry(e Entity, seq uint64) entityEntry {
	var toks []uint64
	add := func(tok string) {
		if h := tokHash(tok); !slices.Contains(toks, h) {
			toks = append(toks, h)
		}
	}
	tokensRaw(e.Key, add)
	tokensRaw(e.Value, add)
	return entityEntry{Entity: e, seq: seq, toks: slices.Clip(toks)}
}

// tokHash is the 64-bit FNV-1a hash of strings.ToLower(tok). Equal tokens
// (after lower-casing) have equal hashes, so comparing hashes finds every
// match; equal hashes are confirmed on the text.
func tokHash(tok string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	if !isASCII(tok) {
		tok = strings.ToLower(tok)
	}
	h := uint64(offset)
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint64(c)) * prime
	}
	return h
}

// hashSet is a set of token hashes: an array while small, then a map, behind
// a 64-bit bloom mask. It holds no pointer into itself, so it stays on the
// stack.
type hashSet struct {
	bloom uint64
	n     int
	arr   [64]uint64
	m     map[uint64]struct{}
}

func (q *hashSet) add(tok string) {
	h := tokHash(tok)
	q.bloom |= 1 << (h >> 58)
	switch {
	case q.m != nil:
		q.m[h] = struct{}{}
	case slices.Contains(q.arr[:q.n], h):
	case q.n < len(q.arr):
		q.arr[q.n] = h
		q.n++
	default:
		q.m = make(map[uint64]struct{}, 2*len(q.arr))
		for _, x := range q.arr {
			q.m[x] = struct{}{}
		}
		q.m[h] = struct{}{}
	}
}

func (q *hashSet) empty() bool { return q.n == 0 && len(q.m) == 0 }

// any reports whether one of hs is in the set.
func (q *hashSet) any(hs []uint64) bool {
	for _, h := range hs {
		if q.bloom&(1<<(h>>58)) == 0 {
			continue
		}
		if q.m != nil {
			if _, ok := q.m[h]; ok {
				return true
			}
		} else if slices.Contains(q.arr[:q.n], h) {
			return true
		}
	}
	return false
}

// maxKindQuoteBytes bounds how much of an unknown entity kind PutEntity's
// error quotes.
const maxKindQuoteBytes = 64

// PutEntity stores e verbatim; an existing key is overwritten (last write
// wins, the access count is kept). When the cache is full the entry with the
// lowest importance, then the oldest write, is evicted first (never the one
// being written). An unknown kind is KindInvalid; a key that a client could
// rewrite in a URL path (entityKeyProblem: ".", "..", empty segments, '\\',
// '%', '?', '#', control characters, white space at either end) is a
// KindValidation error on "key". It returns the cache size.
func (s *Session) PutEntity(e Entity) (size int, err error) {
	e.Key, e.Value, e.Context = cleanText(e.Key), cleanText(e.Value), cleanText(e.Context)
	if strings.TrimSpace(e.Key) == "" {
		return len(s.entities), semvec.FieldError("key", "must not be empty")
	}
	if runeLen(e.Key) > maxEntityKeyChars {
		return len(s.entities), semvec.FieldError("key", "must be at most %d characters", maxEntityKeyChars)
	}
	if msg := entityKeyProblem(e.Key); msg != "" {
		return len(s.entities), semvec.FieldError("key", "%s (a key must survive URL path normalisation unchanged)", msg)
	}
	if !validKind(e.Kind) {
		// The kind has no length limit of its own: quote at most 64 bytes
		// of it (4 MiB of '<' was answered with a detail of 24 MB).
		return len(s.entities), semvec.Errorf(semvec.KindInvalid, "unknown entity kind %q; allowed: %s",
			clipBytes(e.Kind, maxKindQuoteBytes), strings.Join(EntityKinds(), ", "))
	}
	if e.Value == "" {
		return len(s.entities), semvec.FieldError("value", "must not be empty")
	}
	if runeLen(e.Value) > maxEntityValueChars {
		return len(s.entities), semvec.FieldError("value", "must be at most %d characters", maxEntityValueChars)
	}
	if runeLen(e.Context) > maxEntityContextChars {
		return len(s.entities), semvec.FieldError("context", "must be at most %d characters", maxEntityContextChars)
	}
	imp, err := importanceOrDefault(e.Importance)
	if err != nil {
		return len(s.entities), err
	}
	e.Importance = imp
	i, found := s.entityIndex(e.Key)
	if found {
		e.AccessCount = s.entities[i].AccessCount
		s.entities[i] = newEntityEntry(e, s.takeSeq())
		return len(s.entities), nil
	}
	if s.cfg.MaxEntities == 0 {
		return 0, semvec.Errorf(semvec.KindConflict, "the literal cache is disabled")
	}
	e.AccessCount = 0
	if len(s.entities) >= s.cfg.MaxEntities {
		victim := 0
		for j, x := range s.entities {
			v := s.entities[victim]
			if x.Importance < v.Importance || (x.Importance == v.Importance && x.seq < v.seq) {
				victim = j
			}
		}
		s.entities = slices.Delete(s.entities, victim, victim+1)
		i, _ = s.entityIndex(e.Key)
	}
	s.entities = slices.Insert(s.entities, i, newEntityEntry(e, s.takeSeq()))
	return len(s.entities), nil
}

func (s *Session) entityIndex(key string) (int, bool) {
	return slices.BinarySearchFunc(s.entities, key, func(e entityEntry, k string) int {
		return strings.Compare(e.Key, k)
	})
}

// DeleteEntity removes key and reports whether it existed.
func (s *Session) DeleteEntity(key string) bool {
	i, found := s.entityIndex(key)
	if found {
		s.entities = slices.Delete(s.entities, i, i+1)
	}
	return found
}

// EntityCount returns the number of literal-cache entries.
func (s *Session) EntityCount() int { return len(s.entities) }

// Entities lists the cache. With an empty query it returns every entry sorted
// by key (not counted as access). Otherwise it returns the entries sharing at
// least one token with the query, ranked by the number of distinct shared
// tokens, then importance, then key, and counts them as accessed. max <= 0
// means no limit.
func (s *Session) Entities(query string, max int) []Entity {
	return s.entitiesOf(query, max, true)
}

// PeekEntities is Entities without counting the accesses: it changes
// nothing (the answer when the access count cannot be logged).
func (s *Session) PeekEntities(query string, max int) []Entity {
	return s.entitiesOf(query, max, false)
}

func (s *Session) entitiesOf(query string, max int, count bool) []Entity {
	var idx []int
	if strings.TrimSpace(query) == "" {
		idx = make([]int, len(s.entities))
		for i := range idx {
			idx[i] = i
		}
		if max > 0 && len(idx) > max {
			idx = idx[:max]
		}
	} else {
		idx = s.matchEntities(nil, query, max)
		if count {
			for _, i := range idx {
				s.entities[i].AccessCount = addCount(s.entities[i].AccessCount, 1)
			}
		}
	}
	out := make([]Entity, len(idx))
	for j, i := range idx {
		out[j] = s.entities[i].Entity
	}
	return out
}

// matchEntities appends to dst[:0] the indices of entries whose key or value
// shares a token with text, best first (see Entities). It changes nothing.
func (s *Session) matchEntities(dst []int, text string, max int) []int {
	dst = dst[:0]
	if len(s.entities) == 0 {
		return dst
	}
	// Prefilter on token hashes; count the shared tokens exactly only for
	// the entries that pass.
	var qh hashSet
	tokensRaw(text, qh.add)
	if qh.empty() {
		return dst
	}
	var qs *tokenSet
	type hit struct{ i, overlap int }
	var hitArr [16]hit
	hits := hitArr[:0]
	for i := range s.entities {
		e := &s.entities[i]
		if !qh.any(e.toks) {
			continue
		}
		if qs == nil {
			qs = new(tokenSet)
			tokensRaw(text, qs.add)
		}
		n := 0
		count := func(tok string) {
			if qs.mark(tok, i+1) {
				n++
			}
		}
		tokensRaw(e.Key, count)
		tokensRaw(e.Value, count)
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
	for _, h := range hits {
		dst = append(dst, h.i)
	}
	return dst
}

// tokenSet is the set of distinct (lower-cased) query tokens. Each token
// remembers the last entry that matched it, so distinct shared tokens are
// counted per entry. Small sets are a slice compared case-insensitively
// without copying; large ones a map of lower-cased tokens.
type tokenSet struct {
	toks []setTok
	arr  [16]setTok
	m    map[string]int // lower-cased token → last entry+1; nil while small
}

type setTok struct {
	raw   string // as in the text
	lower string // strings.ToLower(raw), only for a non-ASCII raw
	ascii bool
	last  int // entry index+1 of the last match
}

// maxSliceTokens is the size above which tokenSet switches to a map.
const maxSliceTokens = 48

// add inserts a raw token.
func (q *tokenSet) add(tok string) {
	if q.m != nil {
		q.m[strings.ToLower(tok)] = 0
		return
	}
	if q.find(tok) >= 0 {
		return
	}
	if q.toks == nil {
		q.toks = q.arr[:0]
	}
	if len(q.toks) == maxSliceTokens {
		q.m = make(map[string]int, 2*maxSliceTokens)
		for _, t := range q.toks {
			q.m[strings.ToLower(t.raw)] = 0
		}
		q.m[strings.ToLower(tok)] = 0
		q.toks = nil
		return
	}
	t := setTok{raw: tok, ascii: isASCII(tok)}
	if !t.ascii {
		t.lower = strings.ToLower(tok)
	}
	q.toks = append(q.toks, t)
}

// find returns the index of the token equal to tok after lower-casing, -1
// if none (slice mode only). Only non-ASCII tokens are lower-cased (copied).
func (q *tokenSet) find(tok string) int {
	ascii := isASCII(tok)
	lower, haveLower := "", false
	for i := range q.toks {
		t := &q.toks[i]
		if t.ascii && ascii {
			if equalFoldASCII(t.raw, tok) {
				return i
			}
			continue
		}
		if !haveLower {
			lower, haveLower = strings.ToLower(tok), true
		}
		if t.ascii && equalFoldASCII(t.raw, lower) || !t.ascii && t.lower == lower {
			return i
		}
	}
	return -1
}

// mark records that entry (index+1) has raw token tok and reports whether
// the token is in the set and was not marked by that entry yet.
func (q *tokenSet) mark(tok string, entry int) bool {
	if q.m != nil {
		lower := strings.ToLower(tok)
		if last, ok := q.m[lower]; ok && last != entry {
			q.m[lower] = entry
			return true
		}
		return false
	}
	if i := q.find(tok); i >= 0 && q.toks[i].last != entry {
		q.toks[i].last = entry
		return true
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// equalFoldASCII reports whether ASCII strings a and b are equal after
// strings.ToLower.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// tokens splits text into lower-case tokens and calls f for each: runs of
// letters and digits, split again where a lower-case letter or digit is
// followed by an upper-case letter (camelCase). Everything else ('.', '/',
// '_', '-', spaces, punctuation) separates tokens. Tokens shorter than two
// characters are skipped. ASCII lower-case tokens are passed without copying.
func tokens(text string, f func(string)) {
	tokensRaw(text, func(tok string) { f(strings.ToLower(tok)) })
}

// tokensRaw is tokens without the lower-casing: f gets slices of text.
func tokensRaw(text string, f func(string)) {
	start := -1
	var prev rune
	emit := func(end int) {
		if start >= 0 {
			if tok := text[start:end]; utf8.RuneCountInString(tok) >= 2 {
				f(tok)
			}
			start = -1
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			// ASCII: the unicode predicates reduce to ranges.
			lower, upper, digit := 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9'
			if lower || upper || digit {
				if start >= 0 && upper && (isLowerRune(prev) || isDigitRune(prev)) {
					emit(i)
				}
				if start < 0 {
					start = i
				}
			} else {
				emit(i)
			}
			prev = rune(c)
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(text[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start >= 0 && unicode.IsUpper(r) && (isLowerRune(prev) || isDigitRune(prev)) {
				emit(i)
			}
			if start < 0 {
				start = i
			}
		} else {
			emit(i)
		}
		prev = r
		i += w
	}
	emit(len(text))
}

func isLowerRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z'
	}
	return unicode.IsLower(r)
}

func isDigitRune(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsDigit(r)
}
