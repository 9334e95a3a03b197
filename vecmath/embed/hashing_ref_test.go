package embed

// This file keeps a verbatim copy of the original (sort-based) hashing-v1
// implementation as the reference that the optimised one in hashing.go must
// match bit for bit. Only identifiers are renamed (ref prefix); the constants
// (weights, gram lengths, MaxHashingText) are shared. Do not "optimise" it.

import (
	"math"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/semvec-go/semvec/vecmath"
)

// refEmbedTo is the reference for Hashing.EmbedTo with the given dimension.
func refEmbedTo(dim int, text string) []float32 {
	if dim <= 0 {
		dim = DefaultDim
	}
	s := &refScratch{acc: make([]float64, dim), sum: make([]float64, dim)}
	dst := make([]float32, dim)
	s.embed(dst, text)
	return dst
}

// refSpan is a word: lower[start:end] in refScratch.
type refSpan struct{ start, end int }

// refScratch is the reusable working memory of one embedding.
type refScratch struct {
	lower []byte    // the lower-cased words, back to back
	words []refSpan // every word
	keep  []refSpan // the words features are taken from
	feats []uint64  // the feature hashes of one group
	runes []int     // rune offsets of the padded word
	pad   []byte    // "<word>"
	acc   []float64 // one group's vector
	sum   []float64 // the weighted sum of the groups
}

// embed writes the vector of text into dst (len(dst) == len(s.acc)).
func (s *refScratch) embed(dst []float32, text string) {
	s.tokenize(text)
	s.keep = s.keep[:0]
	for _, w := range s.words {
		if !refIsStopWord(s.lower[w.start:w.end]) {
			s.keep = append(s.keep, w)
		}
	}
	if len(s.keep) == 0 {
		s.keep = append(s.keep, s.words...)
	}

	clear(s.sum)
	// Words.
	s.feats = s.feats[:0]
	for _, w := range s.keep {
		s.feats = append(s.feats, refHashFeature('u', s.lower[w.start:w.end], nil))
	}
	if len(s.keep) == 0 { // no word: the runes other than white space
		if len(text) > MaxHashingText {
			text = text[:MaxHashingText]
		}
		for _, r := range text {
			if !unicode.IsSpace(r) {
				s.feats = append(s.feats, refHashFeature('y', []byte(string(r)), nil))
			}
		}
	}
	s.addGroup(weightUnigram)
	// Adjacent word pairs.
	s.feats = s.feats[:0]
	for i := 1; i < len(s.keep); i++ {
		a, b := s.keep[i-1], s.keep[i]
		s.feats = append(s.feats, refHashFeature('b', s.lower[a.start:a.end], s.lower[b.start:b.end]))
	}
	s.addGroup(weightBigram)
	// Character n-grams.
	s.feats = s.feats[:0]
	for _, w := range s.keep {
		s.charGrams(s.lower[w.start:w.end])
	}
	s.addGroup(weightCharGrm)

	for i, x := range s.sum {
		dst[i] = float32(x)
	}
	vecmath.Normalize(dst)
}

// tokenize lower-cases text (its first MaxHashingText bytes) into s.lower
// and records its words in s.words.
func (s *refScratch) tokenize(text string) {
	if len(text) > MaxHashingText {
		text = text[:MaxHashingText] // a rune cut in half decodes as U+FFFD, a separator
	}
	s.lower, s.words = s.lower[:0], s.words[:0]
	start := -1 // start of the current word in s.lower, or -1
	for _, r := range text {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			if start < 0 {
				start = len(s.lower)
			}
			s.lower = utf8.AppendRune(s.lower, unicode.ToLower(r))
		case start >= 0 && (r == '\'' || r == '’'):
			// Inside a word: "don't" -> "dont".
		case start >= 0:
			s.words = append(s.words, refSpan{start, len(s.lower)})
			start = -1
		}
	}
	if start >= 0 {
		s.words = append(s.words, refSpan{start, len(s.lower)})
	}
}

// charGrams appends the hashes of the character n-grams of "<word>".
func (s *refScratch) charGrams(word []byte) {
	s.pad = append(append(append(s.pad[:0], '<'), word...), '>')
	s.runes = s.runes[:0]
	for i := range string(s.pad) {
		s.runes = append(s.runes, i)
	}
	s.runes = append(s.runes, len(s.pad))
	nr := len(s.runes) - 1
	for n := minGram; n <= min(maxGram, nr); n++ {
		for i := 0; i+n <= nr; i++ {
			s.feats = append(s.feats, refHashFeature('c', s.pad[s.runes[i]:s.runes[i+n]], nil))
		}
	}
}

// addGroup hashes the features in s.feats into buckets with sub-linear term
// frequency, normalises the group and adds it to s.sum with weight w.
func (s *refScratch) addGroup(w float64) {
	if len(s.feats) == 0 {
		return
	}
	slices.Sort(s.feats) // equal features become runs; the order is canonical
	clear(s.acc)
	dim := uint64(len(s.acc))
	for i := 0; i < len(s.feats); {
		f := s.feats[i]
		j := i + 1
		for j < len(s.feats) && s.feats[j] == f {
			j++
		}
		tf := math.Sqrt(float64(j - i))
		bucket := (f & 0xffffffff) * dim >> 32
		if f>>63 == 1 {
			tf = -tf
		}
		s.acc[bucket] += tf
		i = j
	}
	var ss float64
	for _, x := range s.acc {
		ss += float64(x * x) // explicit rounding: no FMA, same bits everywhere
	}
	if ss == 0 {
		return // every feature cancelled out in its bucket
	}
	k := w / math.Sqrt(ss)
	for i, x := range s.acc {
		s.sum[i] += float64(k * x)
	}
}

// refHashFeature returns the 64-bit hash of a feature of the given group:
// FNV-1a over the group byte, a, and (for word pairs) a space and b, then the
// MurmurHash3 finaliser so that every bit depends on every input bit.
func refHashFeature(group byte, a, b []byte) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	h = (h ^ uint64(group)) * prime
	for _, c := range a {
		h = (h ^ uint64(c)) * prime
	}
	if b != nil {
		h = (h ^ ' ') * prime
		for _, c := range b {
			h = (h ^ uint64(c)) * prime
		}
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// refIsStopWord reports whether the lower-cased word is one of a small list of
// English function words. Negations ("no", "not", "nor") are kept: they
// matter for meaning.
func refIsStopWord(w []byte) bool {
	switch string(w) {
	case "a", "about", "after", "again", "all", "am", "an", "and", "any", "are",
		"as", "at", "be", "because", "been", "before", "being", "both", "but",
		"by", "can", "could", "did", "do", "does", "doing", "for", "from",
		"had", "has", "have", "having", "he", "her", "here", "hers", "him",
		"his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me",
		"more", "most", "my", "of", "on", "or", "our", "ours", "she", "should",
		"so", "some", "such", "than", "that", "the", "their", "them", "then",
		"there", "these", "they", "this", "those", "to", "too", "us", "very",
		"was", "we", "were", "what", "when", "where", "which", "while", "who",
		"whom", "why", "will", "with", "would", "you", "your", "yours":
		return true
	}
	return false
}
