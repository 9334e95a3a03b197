package embed

import (
	"context"
	"math"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/semvec-go/semvec/vecmath"
)

// DefaultDim is the dimension of the built-in embedder when none is
// configured; it matches all-MiniLM-L6-v2, semvec's default model.
const DefaultDim = 384

// HashingName is what Hashing.Name returns. It names the feature set, hash
// function and weights: any change that alters vectors must change it.
const HashingName = "hashing-v1"

// Feature-group weights. Each group's vector is L2-normalised before it is
// weighted, so a group's share does not depend on how many features it
// produced; the squared weights give the groups' share of the cosine between
// two texts: words 48 %, word pairs 4 %, character n-grams 48 %. A grid
// search over paraphrase pairs and random unrelated pairs chose them: more
// weight on pairs hurt reordered paraphrases, more on n-grams made words
// that merely share fragments look alike.
const (
	weightUnigram = 1.0
	weightBigram  = 0.3
	weightCharGrm = 1.0
)

// Character n-gram lengths, in runes, over each word padded with '<' and '>'.
const minGram, maxGram = 3, 5

// MaxHashingText is how much of a text Hashing reads, in bytes; the rest is
// ignored. It bounds time and scratch memory per text (about 14 features per
// byte); transformer embedders truncate far earlier, at a few hundred tokens.
const MaxHashingText = 16 << 10

// Hashing is a deterministic lexical embedder ("feature hashing"): no model,
// no I/O, the same text always yields the bit-identical vector, on every
// platform (Unicode classification follows the Go release's tables). It
// captures shared words and word fragments, not meaning: texts that share
// vocabulary score high, paraphrases with different words do not. Use it for
// tests, demos and deployments without an embedding service.
//
// The text is lower-cased and split into words: maximal runs of Unicode
// letters, digits and combining marks, with apostrophes inside a word dropped
// ("don't" becomes "dont"). Common English stop words ("the", "is", "how",
// "my", …) are dropped unless every word of the text is one. From the
// remaining words it extracts three groups of features:
//
//   - words,
//   - pairs of words adjacent once stop words are dropped,
//   - character n-grams of 3 to 5 runes of each word padded as "<word>".
//
// Each feature is hashed (FNV-1a 64 with a per-group prefix, then a 64-bit
// finaliser) to one of Dim() buckets and a sign, weighted by the square root
// of its count in the text (sub-linear term frequency). Each group's vector
// is L2-normalised and weighted (words 1.0, pairs 0.3, n-grams 1.0), and the
// sum is L2-normalised.
//
// A text without any letter or digit (empty, blank, punctuation only) maps to
// the zero vector, whose cosine with anything is 0. Only the first
// MaxHashingText bytes of a text are read.
//
// The zero value is ready to use with DefaultDim. A Hashing is safe for
// concurrent use; it keeps per-call scratch space in a pool and must not be
// copied after first use.
type Hashing struct {
	dim  int
	pool sync.Pool // of *hashScratch
}

// NewHashing returns a Hashing embedder producing dim-dimensional vectors;
// dim <= 0 means DefaultDim.
func NewHashing(dim int) *Hashing {
	if dim <= 0 {
		dim = DefaultDim
	}
	return &Hashing{dim: dim}
}

// Name returns HashingName ("hashing-v1").
func (h *Hashing) Name() string { return HashingName }

// Dim returns the length of the vectors Embed returns.
func (h *Hashing) Dim() int {
	if h.dim <= 0 {
		return DefaultDim
	}
	return h.dim
}

// Embed returns one vector per text. It never fails and does not look at
// ctx: the work is a few microseconds of CPU per text. All vectors share one
// backing array.
func (h *Hashing) Embed(_ context.Context, texts []string) ([][]float32, error) {
	dim := h.Dim()
	out := make([][]float32, len(texts))
	backing := make([]float32, len(texts)*dim)
	s := h.getScratch(dim)
	defer h.pool.Put(s)
	for i, t := range texts {
		out[i] = backing[i*dim : (i+1)*dim : (i+1)*dim]
		s.embed(out[i], t)
	}
	return out, nil
}

// EmbedTo writes the vector of text into dst and returns it. dst is reused
// when cap(dst) >= Dim(), so a caller that keeps its buffer embeds without
// allocating; otherwise a new slice is allocated.
func (h *Hashing) EmbedTo(dst []float32, text string) []float32 {
	dim := h.Dim()
	if cap(dst) < dim {
		dst = make([]float32, dim)
	}
	dst = dst[:dim]
	s := h.getScratch(dim)
	s.embed(dst, text)
	h.pool.Put(s)
	return dst
}

func (h *Hashing) getScratch(dim int) *hashScratch {
	if s, ok := h.pool.Get().(*hashScratch); ok {
		return s
	}
	return &hashScratch{acc: make([]float64, dim), sum: make([]float64, dim)}
}

// span is a word: lower[start:end] in hashScratch.
type span struct{ start, end int }

// hashScratch is the reusable working memory of one embedding.
type hashScratch struct {
	lower []byte    // the lower-cased words, back to back
	words []span    // every word
	keep  []span    // the words features are taken from
	feats []uint64  // the feature hashes of one group
	runes []int     // rune offsets of the padded word
	pad   []byte    // "<word>"
	acc   []float64 // one group's vector
	sum   []float64 // the weighted sum of the groups
}

// embed writes the vector of text into dst (len(dst) == len(s.acc)).
func (s *hashScratch) embed(dst []float32, text string) {
	s.tokenize(text)
	s.keep = s.keep[:0]
	for _, w := range s.words {
		if !isStopWord(s.lower[w.start:w.end]) {
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
		s.feats = append(s.feats, hashFeature('u', s.lower[w.start:w.end], nil))
	}
	s.addGroup(weightUnigram)
	// Adjacent word pairs.
	s.feats = s.feats[:0]
	for i := 1; i < len(s.keep); i++ {
		a, b := s.keep[i-1], s.keep[i]
		s.feats = append(s.feats, hashFeature('b', s.lower[a.start:a.end], s.lower[b.start:b.end]))
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
func (s *hashScratch) tokenize(text string) {
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
			s.words = append(s.words, span{start, len(s.lower)})
			start = -1
		}
	}
	if start >= 0 {
		s.words = append(s.words, span{start, len(s.lower)})
	}
}

// charGrams appends the hashes of the character n-grams of "<word>".
func (s *hashScratch) charGrams(word []byte) {
	s.pad = append(append(append(s.pad[:0], '<'), word...), '>')
	s.runes = s.runes[:0]
	for i := range string(s.pad) {
		s.runes = append(s.runes, i)
	}
	s.runes = append(s.runes, len(s.pad))
	nr := len(s.runes) - 1
	for n := minGram; n <= min(maxGram, nr); n++ {
		for i := 0; i+n <= nr; i++ {
			s.feats = append(s.feats, hashFeature('c', s.pad[s.runes[i]:s.runes[i+n]], nil))
		}
	}
}

// addGroup hashes the features in s.feats into buckets with sub-linear term
// frequency, normalises the group and adds it to s.sum with weight w.
func (s *hashScratch) addGroup(w float64) {
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

// hashFeature returns the 64-bit hash of a feature of the given group:
// FNV-1a over the group byte, a, and (for word pairs) a space and b, then the
// MurmurHash3 finaliser so that every bit depends on every input bit.
func hashFeature(group byte, a, b []byte) uint64 {
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

// isStopWord reports whether the lower-cased word is one of a small list of
// English function words. Negations ("no", "not", "nor") are kept: they
// matter for meaning.
func isStopWord(w []byte) bool {
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
