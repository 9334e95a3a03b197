package embed

import (
	"context"
	"math"
	"math/bits"
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
// A text without any word (punctuation, symbols, emoji only: "?", "👍")
// takes its runes other than white space as its features instead, so that
// every text with a visible character has a vector; only an empty or blank
// text maps to the zero vector, whose cosine with anything is 0. Only the
// first MaxHashingText bytes of a text are read.
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
	return &hashScratch{
		head: make([]int32, dim),
		used: make([]uint64, (dim+63)/64),
		sum:  make([]float64, dim),
	}
}

// span is a word: lower[start:end] in hashScratch.
type span struct{ start, end int }

// hashScratch is the reusable working memory of one embedding.
type hashScratch struct {
	lower []byte    // the lower-cased words, back to back
	words []span    // every word
	keep  []span    // the words features are taken from
	feats []uint64  // the feature hashes of one group, in any order
	head  []int32   // per bucket: its feature chain, see addGroup (all 0 between groups)
	next  []int32   // per feature: the rest of its bucket's chain
	used  []uint64  // bitmap of the buckets in use (all 0 between groups)
	seg   []uint64  // the features of one crowded bucket
	runes []int     // rune offsets of the padded word (non-ASCII words only)
	pad   []byte    // "<word>"
	idx   []int32   // the buckets one group touched, ascending
	vals  []float64 // the group's value in each bucket of idx
	sum   []float64 // the weighted sum of the groups
}

// embed writes the vector of text into dst (len(dst) == len(s.sum)).
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
	if len(s.keep) == 0 {
		s.symbols(text)
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

// symbols appends the features of a text without words: each of its runes
// (of its first MaxHashingText bytes) that is not white space.
func (s *hashScratch) symbols(text string) {
	if len(text) > MaxHashingText {
		text = text[:MaxHashingText]
	}
	var buf [utf8.UTFMax]byte
	for _, r := range text {
		if !unicode.IsSpace(r) {
			s.feats = append(s.feats, hashFeature('y', buf[:utf8.EncodeRune(buf[:], r)], nil))
		}
	}
}

// tokenize lower-cases text (its first MaxHashingText bytes) into s.lower
// and records its words in s.words.
func (s *hashScratch) tokenize(text string) {
	if len(text) > MaxHashingText {
		text = text[:MaxHashingText] // a rune cut in half decodes as U+FFFD, a separator
	}
	s.lower, s.words = s.lower[:0], s.words[:0]
	start := -1 // start of the current word in s.lower, or -1
	for i := 0; i < len(text); {
		// ASCII fast path, the same classification as the Unicode path
		// below: the only ASCII letters, digits and marks are [A-Za-z0-9].
		if c := text[i]; c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
				if start < 0 {
					start = len(s.lower)
				}
				s.lower = append(s.lower, c)
			case 'A' <= c && c <= 'Z':
				if start < 0 {
					start = len(s.lower)
				}
				s.lower = append(s.lower, c+('a'-'A'))
			case start >= 0 && c == '\'':
				// Inside a word: "don't" -> "dont".
			case start >= 0:
				s.words = append(s.words, span{start, len(s.lower)})
				start = -1
			}
			continue
		}
		// Invalid UTF-8 decodes as (U+FFFD, 1), as in a range loop.
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			if start < 0 {
				start = len(s.lower)
			}
			s.lower = utf8.AppendRune(s.lower, unicode.ToLower(r))
		case start >= 0 && r == '’':
			// Inside a word: "don’t" -> "dont".
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
//
// The n-grams of one start position share their prefix, so the FNV state is
// carried from the 3-gram to the 4- and 5-gram instead of being recomputed:
// each hash equals hashFeature('c', gram, nil). The order in which features
// are appended does not matter: addGroup depends only on their multiset.
func (s *hashScratch) charGrams(word []byte) {
	s.pad = append(append(append(s.pad[:0], '<'), word...), '>')
	p := s.pad
	if isASCII(word) {
		// One byte per rune: the n-gram at rune i is p[i:i+n].
		for i := 0; i+minGram <= len(p); i++ {
			h := fnvBytes(fnvGroupC, p[i:i+minGram])
			s.feats = append(s.feats, mix64(h))
			for n := minGram; n < maxGram && i+n < len(p); n++ {
				h = fnvByte(h, p[i+n])
				s.feats = append(s.feats, mix64(h))
			}
		}
		return
	}
	s.runes = s.runes[:0]
	for i := 0; i < len(p); {
		s.runes = append(s.runes, i)
		_, size := utf8.DecodeRune(p[i:]) // steps as a range loop over string(p)
		i += size
	}
	s.runes = append(s.runes, len(p))
	r := s.runes // r[i]: byte offset of rune i; r[nr] == len(p)
	nr := len(r) - 1
	for i := 0; i+minGram <= nr; i++ {
		h := fnvBytes(fnvGroupC, p[r[i]:r[i+minGram]])
		s.feats = append(s.feats, mix64(h))
		for n := minGram; n < maxGram && i+n < nr; n++ {
			h = fnvBytes(h, p[r[i+n]:r[i+n+1]])
			s.feats = append(s.feats, mix64(h))
		}
	}
}

// isASCII reports whether b has no byte >= 0x80.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// bucketOf maps a feature hash to its bucket in [0, dim): the low 32 bits
// scaled to dim. Bit 63 is the feature's sign.
func bucketOf(f, dim uint64) uint64 { return (f & 0xffffffff) * dim >> 32 }

// addGroup hashes the features in s.feats into buckets with sub-linear term
// frequency, normalises the group and adds it to s.sum with weight w.
//
// Definition (hashing-v1): sort the feature hashes; for each distinct hash f
// in ascending order, with count c, add ±sqrt(c) (sign: bit 63 of f) to
// bucket bucketOf(f); sum the squares of the buckets in bucket order; add
// w/sqrt(that) times each bucket to s.sum. Floating-point addition is not
// associative, so the bits depend on the order of the additions into each
// bucket and into the sum of squares, and both must stay exactly as above.
//
// The order between different buckets does not matter, only the order
// within each, so there is no need to sort all features: each bucket chains
// its features (s.head, s.next) and a bitmap (s.used) records the buckets
// used, which visits them in ascending order. A bucket with one feature, the
// common case, needs no sorting, nor does one with two (see below); one with
// more sorts just its features (bucketValue), which gives it the same
// sequence of additions as the full sort. That is O(n + Dim/64), plus
// O(k log k) for each bucket of k > 2 features.
//
// Buckets without features are skipped. That is exact: their value is +0, so
// they add +0 to the (non-negative) sum of squares, and +0 to s.sum, which
// leaves every element unchanged because no element of s.sum is ever -0 (it
// starts at +0; an addition of non-zero values yields non-zero or, on exact
// cancellation, +0; and k*x cannot underflow to zero, since a non-zero bucket
// value, a sum of terms sqrt(c) >= 1, is a multiple of 2^-52).
func (s *hashScratch) addGroup(w float64) {
	if len(s.feats) == 0 {
		return
	}
	dim := uint64(len(s.sum))

	// Chain the features by bucket. head[b] is 1 + the index in feats of
	// bucket b's last feature, or 0; next[i] likewise links to the one
	// before. head is all zero between calls: the walk below resets it.
	head, used := s.head, s.used
	s.next = slices.Grow(s.next[:0], len(s.feats))[:len(s.feats)]
	next := s.next
	for i, f := range s.feats {
		b := bucketOf(f, dim)
		next[i] = head[b]
		head[b] = int32(i + 1)
		used[b/64] |= 1 << (b % 64)
	}

	// Accumulate each used bucket, in bucket order.
	s.idx, s.vals = s.idx[:0], s.vals[:0]
	var ss float64
	for wi, word := range used {
		used[wi] = 0
		for ; word != 0; word &= word - 1 {
			b := wi*64 + bits.TrailingZeros64(word)
			e := head[b]
			head[b] = 0
			var x float64
			if e2 := next[e-1]; e2 == 0 {
				x = signed(1, s.feats[e-1]) // the common case: one feature, once
			} else if next[e2-1] == 0 {
				// Two features. If distinct, each adds ±1 (0+a is a, and
				// a+b == b+a), so their order does not matter.
				f1, f2 := s.feats[e-1], s.feats[e2-1]
				if f1 == f2 {
					x = signed(math.Sqrt(2), f1)
				} else {
					x = signed(1, f1) + signed(1, f2)
				}
			} else {
				seg := s.seg[:0]
				for ; e != 0; e = next[e-1] {
					seg = append(seg, s.feats[e-1])
				}
				s.seg = seg
				x = bucketValue(seg)
			}
			ss += float64(x * x) // explicit rounding: no FMA, same bits everywhere
			s.idx = append(s.idx, int32(b))
			s.vals = append(s.vals, x)
		}
	}
	if ss == 0 {
		return // every feature cancelled out in its bucket
	}
	k := w / math.Sqrt(ss)
	for i, b := range s.idx {
		s.sum[b] += float64(k * s.vals[i])
	}
}

// bucketValue returns the value of a bucket holding the features seg: the
// sum, over its distinct features in ascending order, of ±sqrt(count).
func bucketValue(seg []uint64) float64 {
	sortSmall(seg) // equal features become runs; the order is canonical
	var x float64
	for i := 0; i < len(seg); {
		f := seg[i]
		j := i + 1
		for j < len(seg) && seg[j] == f {
			j++
		}
		x += signed(math.Sqrt(float64(j-i)), f)
		i = j
	}
	return x
}

// signed returns tf (> 0) negated if bit 63 of the feature hash f is set.
// Negation only flips the sign bit, so this equals -tf exactly.
func signed(tf float64, f uint64) float64 {
	return math.Float64frombits(math.Float64bits(tf) | f>>63<<63)
}

// sortSmall sorts a bucket's features ascending; buckets hold a handful of
// features unless the text is long or Dim small.
func sortSmall(a []uint64) {
	if len(a) > 12 {
		slices.Sort(a)
		return
	}
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// FNV-1a 64 constants, and the FNV state after the n-gram group byte 'c'.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	fnvGroupC = (fnvOffset ^ 'c') * fnvPrime & (1<<64 - 1)
)

func fnvByte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * fnvPrime }

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// mix64 is the MurmurHash3 64-bit finaliser.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// hashFeature returns the 64-bit hash of a feature of the given group:
// FNV-1a over the group byte, a, and (for word pairs) a space and b, then the
// MurmurHash3 finaliser so that every bit depends on every input bit.
func hashFeature(group byte, a, b []byte) uint64 {
	h := fnvBytes(fnvByte(fnvOffset, group), a)
	if b != nil {
		h = fnvBytes(fnvByte(h, ' '), b)
	}
	return mix64(h)
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
