package engine

import (
	"hash/fnv"
	"math"
	"strings"
	"unicode"
)

// lexEmbed is a test-only stand-in for the real embedder: a deterministic
// lexical feature-hashing embedding. Lower-cased words (weight 1) and the
// character 3-grams of each word padded with '#' (weight 0.5) are hashed with
// FNV-1a into dim signed buckets; the result is L2-normalised. Sentences that
// share words or word stems get cosines of roughly 0.15–0.45; unrelated ones
// stay near 0.
func lexEmbed(text string, dim int) []float32 {
	v := make([]float64, dim)
	add := func(feature string, w float64) {
		h := fnv.New32a()
		h.Write([]byte(feature))
		x := h.Sum32()
		b := int(x % uint32(dim))
		if x&(1<<31) != 0 {
			w = -w
		}
		v[b] += w
	}
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, w := range words {
		if stopWords[w] {
			continue
		}
		add("w:"+w, 1)
		p := []rune("#" + w + "#")
		for i := 0; i+3 <= len(p); i++ {
			add("g:"+string(p[i:i+3]), 0.5)
		}
	}
	var n float64
	for _, x := range v {
		n += x * x
	}
	out := make([]float32, dim)
	if n == 0 {
		out[0] = 1
		return out
	}
	n = math.Sqrt(n)
	for i, x := range v {
		out[i] = float32(x / n)
	}
	return out
}

// stopWords are skipped by lexEmbed: function words would otherwise dominate
// the cosine of short questions.
var stopWords = map[string]bool{
	"a": true, "an": true, "the": true, "and": true, "or": true, "of": true, "to": true,
	"in": true, "on": true, "at": true, "for": true, "with": true, "by": true, "from": true,
	"is": true, "are": true, "was": true, "be": true, "do": true, "does": true, "did": true,
	"i": true, "my": true, "me": true, "you": true, "your": true, "it": true, "its": true,
	"how": true, "what": true, "why": true, "when": true, "which": true, "can": true,
	"should": true, "this": true, "that": true, "into": true, "after": true, "before": true,
	"there": true, "them": true, "they": true, "we": true, "our": true, "use": true,
}
