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
	seq uint64 // write order, for "oldest" eviction
}

// PutEntity stores e verbatim; an existing key is overwritten (last write
// wins, the access count is kept). When the cache is full the entry with the
// lowest importance, then the oldest write, is evicted first (never the one
// being written). An unknown kind is KindInvalid. It returns the cache size.
func (s *Session) PutEntity(e Entity) (size int, err error) {
	e.Key, e.Value, e.Context = cleanText(e.Key), cleanText(e.Value), cleanText(e.Context)
	if strings.TrimSpace(e.Key) == "" {
		return len(s.entities), semvec.FieldError("key", "must not be empty")
	}
	if runeLen(e.Key) > maxEntityKeyChars {
		return len(s.entities), semvec.FieldError("key", "must be at most %d characters", maxEntityKeyChars)
	}
	if !validKind(e.Kind) {
		return len(s.entities), semvec.Errorf(semvec.KindInvalid, "unknown entity kind %q; allowed: %s",
			e.Kind, strings.Join(EntityKinds(), ", "))
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
		s.entities[i] = entityEntry{Entity: e, seq: s.nextSeq}
		s.nextSeq++
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
	s.entities = slices.Insert(s.entities, i, entityEntry{Entity: e, seq: s.nextSeq})
	s.nextSeq++
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
		idx = s.matchEntities(query, max)
		for _, i := range idx {
			s.entities[i].AccessCount++
		}
	}
	out := make([]Entity, len(idx))
	for j, i := range idx {
		out[j] = s.entities[i].Entity
	}
	return out
}

// matchEntities returns the indices of entries whose key or value shares a
// token with text, best first (see Entities). It changes nothing.
func (s *Session) matchEntities(text string, max int) []int {
	if len(s.entities) == 0 {
		return nil
	}
	// q maps each query token to the index+1 of the last entry that matched
	// it, so distinct tokens are counted per entry without another map.
	q := map[string]int{}
	tokens(text, func(t string) { q[t] = 0 })
	if len(q) == 0 {
		return nil
	}
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
		tokens(e.Key, count)
		tokens(e.Value, count)
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
	out := make([]int, len(hits))
	for j, h := range hits {
		out[j] = h.i
	}
	return out
}

// tokens splits text into lower-case tokens and calls f for each: runs of
// letters and digits, split again where a lower-case letter or digit is
// followed by an upper-case letter (camelCase). Everything else ('.', '/',
// '_', '-', spaces, punctuation) separates tokens. Tokens shorter than two
// characters are skipped. ASCII lower-case tokens are passed without copying.
func tokens(text string, f func(string)) {
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
