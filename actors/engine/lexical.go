package engine

import (
	"math"
	"math/bits"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Lexical evidence (see doc.go, "Context block"): every memory's text is kept as
// up to maxMemTokens sorted, distinct 16-bit token hashes in the session's
// token arena, slot for slot beside its key. The arena is rebuilt from the
// texts on import and never serialised.

// maxMemTokens is how many distinct tokens of a memory's text are kept (the
// first ones in text order).
const maxMemTokens = 64

// BM25 parameters (binary term frequency).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// lexicalOn reports whether the session keeps token hashes: they serve the
// BM25 evidence and the information-based importance.
func (c Config) lexicalOn() bool { return c.LexicalWeight > 0 || c.InfoImportance }

// tokHashes collects the distinct token hashes of texts, sorted.
type tokHashes struct {
	n int
	h [maxMemTokens]uint16
}

// add inserts h unless present or full; it reports whether the set is full.
func (ts *tokHashes) add(h uint16) bool {
	if ts.n == maxMemTokens {
		return true
	}
	i, found := slices.BinarySearch(ts.h[:ts.n], h)
	if !found {
		copy(ts.h[i+1:ts.n+1], ts.h[i:ts.n])
		ts.h[i] = h
		ts.n++
	}
	return ts.n == maxMemTokens
}

func (ts *tokHashes) slice() []uint16 { return ts.h[:ts.n] }

// addText adds the tokens of t until the set is full.
func (ts *tokHashes) addText(t string) {
	eachToken(t, func(h uint16) bool { return !ts.add(h) })
}

// has reports whether sorted list l holds h.
func has(l []uint16, h uint16) bool {
	_, ok := slices.BinarySearch(l, h)
	return ok
}

// maxTokenBytes bounds the bytes of one token that are read (the rest of a
// longer run is hashed as its own token).
const maxTokenBytes = 32

// eachToken calls f with the hash of every token of t, in order, until f
// returns false. A token is a run of ASCII letters and digits or bytes of
// multi-byte characters, lower-cased, with apostrophes inside it dropped,
// lightly stemmed; one-byte tokens and stop words are skipped.
func eachToken(t string, f func(uint16) bool) {
	var w [maxTokenBytes]byte
	for i := 0; i < len(t); {
		if !isWordByte(t[i]) {
			i++
			continue
		}
		n := 0
		for ; i < len(t) && n < maxTokenBytes; i++ {
			c := t[i]
			switch {
			case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80:
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c == '\'' && i+1 < len(t) && isWordByte(t[i+1]):
				continue
			default:
				goto done
			}
			w[n] = c
			n++
		}
	done:
		if n < 2 {
			continue
		}
		if tok := stem(w[:n]); !stopWord(tok) && !f(fnv16(tok)) {
			return
		}
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// stem strips common English inflections: "ies" → "y", then "ing" and "ed"
// (a doubled final consonant undoubled: "running" → "run"), "es" after
// s/x/z/ch/sh, and a plural "s" (not "ss"), keeping at least three bytes.
func stem(b []byte) []byte {
	n := len(b)
	switch {
	case n > 4 && string(b[n-3:]) == "ies":
		b[n-3] = 'y'
		return b[:n-2]
	case n > 5 && string(b[n-3:]) == "ing":
		return undouble(b[:n-3])
	case n > 4 && string(b[n-2:]) == "ed":
		return undouble(b[:n-2])
	case n > 4 && string(b[n-2:]) == "es" && (b[n-3] == 's' || b[n-3] == 'x' || b[n-3] == 'z' || b[n-3] == 'h'):
		return b[:n-2]
	case n > 3 && b[n-1] == 's' && b[n-2] != 's':
		return b[:n-1]
	}
	return b
}

// undouble drops the last byte of a stem ending in a doubled consonant
// other than l, s or z.
func undouble(b []byte) []byte {
	n := len(b)
	if n >= 4 && b[n-1] == b[n-2] {
		switch b[n-1] {
		case 'a', 'e', 'i', 'o', 'u', 'l', 's', 'z':
		default:
			return b[:n-1]
		}
	}
	return b
}

// fnv16 is FNV-1a of b folded to 16 bits.
func fnv16(b []byte) uint16 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return uint16(h ^ h>>16)
}

// stopWord reports whether the (stemmed) token carries no content.
func stopWord(b []byte) bool {
	if len(b) > 6 {
		return false
	}
	switch string(b) {
	case "an", "the", "and", "or", "of", "to", "in", "on", "at", "for", "with", "by", "from", "is", "are", "was",
		"be", "do", "doe", "did", "my", "me", "you", "your", "it", "its", "how", "what", "why", "when", "which",
		"can", "should", "this", "that", "into", "after", "before", "there", "them", "they", "we", "our", "us",
		"use", "who", "where", "whom", "has", "have", "had", "will", "would", "could", "not", "no", "so", "if",
		"but", "as", "than", "then", "too", "very", "just", "about", "again", "all", "any", "some", "she", "he",
		"her", "his", "him", "i'm", "im", "get", "got", "one", "also", "been", "were", "wa", "ha", "these", "those":
		return true
	}
	return false
}

// tokenSlot returns the token list of slot sl.
func (s *Session) tokenSlot(sl int16) []uint16 {
	o := int(sl) * maxMemTokens
	return s.tokArena[o : o+int(s.tokLen[sl])]
}

// writeTokens rebuilds the token list of m's slot from its text.
func (s *Session) writeTokens(m *memory) { s.writeTextTokens(m, m.text) }

// writeTextTokens builds the token list of m's slot from text.
func (s *Session) writeTextTokens(m *memory, text string) {
	if !s.cfg.lexicalOn() || m.slot < 0 {
		return
	}
	var ts tokHashes
	ts.addText(text)
	s.setTokens(m.slot, &ts)
}

// setTokens writes ts into slot sl.
func (s *Session) setTokens(sl int16, ts *tokHashes) {
	o := int(sl) * maxMemTokens
	copy(s.tokArena[o:o+maxMemTokens], ts.slice())
	s.tokLen[sl] = uint8(ts.n)
	s.tokSig[sl] = signature(ts.slice())
}

// extendTokens updates the token list of m's slot for its new text: when
// the old text is a prefix of it (an item appended to a cluster), only the
// appended part is read; the list is the same as writeTokens would build.
// It must be called before m's text changes.
func (s *Session) extendTokens(m *memory, text string) {
	if !s.cfg.lexicalOn() || m.slot < 0 {
		return
	}
	old := m.text
	if len(text) <= len(old) || text[len(old)] != '\n' || !strings.HasPrefix(text, old) {
		s.writeTextTokens(m, text)
		return
	}
	cur := s.tokenSlot(m.slot)
	if len(cur) == maxMemTokens {
		return
	}
	var ts tokHashes
	ts.n = copy(ts.h[:], cur)
	ts.addText(text[len(old):])
	s.setTokens(m.slot, &ts)
}

// novelTokens counts, up to limit, the tokens of answer found neither in
// question nor in any stored memory; when question is a statement (see
// statement), the tokens of both texts found in no stored memory: a fact
// the user tells ("the gate code is 4821") and the assistant only
// acknowledges ("Noted.") is new information in the message, not in the
// answer.
//
// When both texts have fewer than maxMemTokens distinct tokens and together
// at most maxMemTokens, *union receives them all: the token list of the Q&A
// memory qaText(question, answer); otherwise union.n is 0.
func (s *Session) novelTokens(question, answer string, limit int, union *tokHashes) int {
	var q, a tokHashes
	q.addText(question)
	a.addText(answer)
	union.n = 0
	if q.n < maxMemTokens && a.n < maxMemTokens {
		*union = q
		for _, h := range a.slice() {
			union.add(h)
		}
		if union.n == maxMemTokens { // maybe cut short
			union.n = 0
		}
	}
	if statement(question) {
		// The candidates are the tokens of both texts (the first
		// maxMemTokens).
		for _, h := range q.slice() {
			if a.add(h) {
				break
			}
		}
	} else {
		// The answer's tokens that are not the question's.
		n := 0
		for _, h := range a.slice() {
			if !has(q.slice(), h) {
				a.h[n] = h
				n++
			}
		}
		a.n = n
	}
	// Candidates found in a memory are dropped as the scan goes: once only
	// the novel ones are left, most slots fail the signature test.
	var tt tokenTable
	tt.reset(a.slice())
	for _, slots := range s.slots {
		for _, sl := range slots {
			if s.tokSig[sl]&tt.sig == 0 {
				continue
			}
			m := tt.mask(s.tokenSlot(sl))
			if m == 0 {
				continue
			}
			n := 0
			for j, h := range a.slice() {
				if m>>j&1 == 0 {
					a.h[n] = h
					n++
				}
			}
			if a.n = n; n == 0 {
				return 0
			}
			tt.reset(a.slice())
		}
	}
	return min(limit, a.n)
}

// statement reports whether message m is a statement rather than a
// question. A question ends with a question mark — "?", the full-width "？",
// the Arabic "؟", the Greek question mark (U+037E, or ";" in a message
// with Greek letters), the Ethiopic "፧" — once white space, closing quotes
// and brackets, markdown emphasis, "!", invisible format characters
// and symbols such as emoji are set aside: (why?), "why?", **why?**,
// why?!, why? 🙂 — or starts with the Spanish "¿". A question carries
// no information of its own (its answer does); a statement may be a fact
// the user tells.
func statement(m string) bool {
	if strings.HasPrefix(strings.TrimLeftFunc(m, unicode.IsSpace), "¿") {
		return false
	}
	m = strings.TrimRightFunc(m, trailingNoise)
	r, _ := utf8.DecodeLastRuneInString(m)
	switch r {
	case '?', '？', '؟', '\u037e', '፧':
		return false
	case ';':
		return !hasGreek(m)
	}
	return true
}

// trailingNoise reports whether r may follow a sentence's final mark:
// white space, closing quotes and brackets, markdown emphasis and code
// marks, "!", format characters (zero-width space …) and symbols (emoji).
func trailingNoise(r rune) bool {
	switch r {
	case '"', '\'', '`', '*', '_', '~', '>', '!', '！', '\ufe0f':
		return true
	}
	return unicode.IsSpace(r) || unicode.In(r, unicode.Pe, unicode.Pf, unicode.Cf, unicode.So, unicode.Sk)
}

// hasGreek reports whether m holds a Greek letter.
func hasGreek(m string) bool {
	for _, r := range m {
		if unicode.Is(unicode.Greek, r) {
			return true
		}
	}
	return false
}

// signature is a 64-bit filter of a token list: bit h%64 for each token h.
func signature(l []uint16) uint64 {
	var sig uint64
	for _, h := range l {
		sig |= 1 << (h & 63)
	}
	return sig
}

// tokenTable finds the index of a token in a list of at most maxMemTokens:
// open addressing over twice as many cells, so a token that is not in the
// list usually meets an empty cell at once.
type tokenTable struct {
	sig  uint64 // signature of the list
	key  [2 * maxMemTokens]uint16
	slot [2 * maxMemTokens]uint8 // index+1; 0: empty
}

func tableCell(h uint16) int { return int(uint32(h)*0x9E37>>9) & (2*maxMemTokens - 1) }

// reset fills the table with l.
func (t *tokenTable) reset(l []uint16) {
	t.slot = [2 * maxMemTokens]uint8{}
	t.sig = signature(l)
	for j, h := range l {
		c := tableCell(h)
		for t.slot[c] != 0 {
			c = (c + 1) & (2*maxMemTokens - 1)
		}
		t.key[c], t.slot[c] = h, uint8(j+1)
	}
}

// mask returns the mask of the table's tokens that list d holds: bit j for
// the j-th.
func (t *tokenTable) mask(d []uint16) uint64 {
	var m uint64
	for _, h := range d {
		if t.sig>>(h&63)&1 == 0 {
			continue
		}
		for c := tableCell(h); t.slot[c] != 0; c = (c + 1) & (2*maxMemTokens - 1) {
			if t.key[c] == h {
				m |= 1 << (t.slot[c] - 1)
				break
			}
		}
	}
	return m
}

// infoImportance is the importance of a Q&A memory with the given base:
// max(base, 0.5 + 0.5·min(novel, 3)/3).
// toks receives the memory's token list when it could be computed on the
// way (see novelTokens); toks.n is 0 otherwise.
func (s *Session) infoImportance(base float64, question, answer string, toks *tokHashes) float64 {
	toks.n = 0
	if !s.cfg.InfoImportance {
		return base
	}
	const most = 3
	novel := s.novelTokens(question, answer, most, toks)
	return math.Max(base, baseImportance+0.5*float64(novel)/most)
}

// lexScratch is the per-turn lexical work: the query's tokens and, per
// memory in canonical order, which of them its text holds.
type lexScratch struct {
	q     tokHashes
	masks [stackScores]uint64
	bm    [stackScores]float64
	idf   [maxMemTokens]float64 // query tokens' IDF (1 each without the token arena)
	table tokenTable
}

// addLexical adds LexicalWeight·bm25/max_bm25 to the retrieval scores
// (canonical order) for query tokens lx.q and fills lx.masks (bit j: the
// memory holds the query's j-th token). With no query token or no match
// the scores are unchanged. It returns the masks (nil when unused).
func (s *Session) addLexical(scores []float32, lx *lexScratch) []uint64 {
	q := lx.q.slice()
	n := len(scores)
	for j := range q {
		lx.idf[j] = 1
	}
	if len(q) == 0 || n == 0 || s.tokArena == nil {
		return nil
	}
	masks := lx.masks[:0]
	if n > len(lx.masks) {
		masks = make([]uint64, 0, n)
	}
	var df [maxMemTokens]int32
	totalLen := 0
	tt := &lx.table
	tt.reset(q)
	for _, slots := range s.slots {
		for _, sl := range slots {
			d := s.tokenSlot(sl)
			totalLen += len(d)
			var m uint64
			if s.tokSig[sl]&tt.sig != 0 {
				m = tt.mask(d)
			}
			for mk := m; mk != 0; mk &= mk - 1 {
				df[bits.TrailingZeros64(mk)]++
			}
			masks = append(masks, m)
		}
	}
	idf := &lx.idf
	N := float64(n)
	for j := range q {
		idf[j] = math.Log1p((N - float64(df[j]) + 0.5) / (float64(df[j]) + 0.5))
	}
	avg := float64(totalLen) / N
	if avg == 0 {
		return masks
	}
	var best float64
	bm := lx.bm[:0]
	if n > len(lx.bm) {
		bm = make([]float64, 0, n)
	}
	bm = bm[:n]
	i := 0
	for _, slots := range s.slots {
		for _, sl := range slots {
			m := masks[i]
			var sc float64
			if m != 0 {
				norm := (bm25K1 + 1) / (1 + bm25K1*(1-bm25B+bm25B*float64(s.tokLen[sl])/avg))
				for ; m != 0; m &= m - 1 {
					sc += idf[bits.TrailingZeros64(m)] * norm
				}
			}
			bm[i] = sc
			best = math.Max(best, sc)
			i++
		}
	}
	if best > 0 && s.cfg.LexicalWeight > 0 {
		w := s.cfg.LexicalWeight / best
		for i, sc := range bm {
			if sc != 0 {
				scores[i] = float32(float64(scores[i]) + w*sc)
			}
		}
	}
	return masks
}

// queryTokens fills lx.q with the tokens of msg when the turn needs them
// (lexical evidence or focus lines) and returns them.
func (s *Session) queryTokens(msg string, lx *lexScratch) []uint16 {
	lx.q.n = 0
	if s.cfg.LexicalWeight > 0 || s.cfg.FocusLine {
		lx.q.addText(msg)
	}
	return lx.q.slice()
}

// Items of a merged text. A long-term cluster's text is its items in the
// order they joined, one per line (mergeText): a memory's own line breaks
// become spaces when it joins a cluster, except the one before the answer
// of a Q&A memory ("Q: …\nA: …", two lines). So every line of a merged
// text starts an item except an "A: " line right after a "Q: " line, which
// completes it; texts with or without a "Q: ", "U: " or "A: " prefix (an
// injected memory has none) read alike. A text merged before this rule may
// still hold a multi-line message: its lines read as items of their own.
//
// An item's kind is its first line's prefix ('Q', 'U', 'A', or 0 for none),
// and 'P' for a question completed by its answer.

// itemStart reports whether line (the text after a '\n' of a merged text)
// starts a new item after an item of kind cur, and the kind of the item it
// belongs to afterwards.
func itemStart(line string, cur byte) (start bool, kind byte) {
	k := itemKind(line)
	if k == 'A' && cur == 'Q' {
		return false, 'P'
	}
	return true, k
}

// itemKind is the kind of an item whose first line is line: 'Q', 'U' or
// 'A' for "Q: ", "U: " or "A: ", 0 otherwise.
func itemKind(line string) byte {
	if len(line) < 3 || line[1] != ':' || line[2] != ' ' {
		return 0
	}
	switch line[0] {
	case 'Q', 'U', 'A':
		return line[0]
	}
	return 0
}

// nextItem returns the end of the item of merged text that starts at start
// with kind cur: the index of the '\n' before the next item, or len(text);
// and the next item's kind.
func nextItem(text string, start int, cur byte) (end int, next byte) {
	for i := start; i < len(text); i++ {
		if text[i] != '\n' {
			continue
		}
		st, k := itemStart(text[i+1:], cur)
		if st {
			return i, k
		}
		cur = k
	}
	return len(text), 0
}

// focusSplit finds the item of text that holds the most query-token weight
// (Σ w[j] over the distinct query tokens q[j] it holds; the first on a tie)
// and returns text cut around it: before (ending with its separating '\n'),
// the best item and after (starting with its separating '\n'). ok is false
// when the first item is the best. Scanning stops at an item holding full,
// the weight of every query token the text holds.
func focusSplit(text string, q []uint16, w *[maxMemTokens]float64, full float64) (before, best, after string, ok bool) {
	bestScore, bestStart, bestEnd := 0.0, 0, 0
	kind := itemKind(text)
	for start := 0; start <= len(text); {
		end, next := nextItem(text, start, kind)
		// text[start:end] is one item.
		if sc := itemScore(text[start:end], q, w); sc > bestScore {
			bestScore, bestStart, bestEnd = sc, start, end
			if sc >= full {
				break
			}
		}
		start, kind = end+1, next
	}
	if bestStart == 0 {
		return "", "", "", false
	}
	return text[:bestStart], text[bestStart:bestEnd], text[bestEnd:], true
}

// itemScore is the weight of the distinct query tokens q found in item.
func itemScore(item string, q []uint16, w *[maxMemTokens]float64) float64 {
	var m uint64
	eachToken(item, func(h uint16) bool {
		if j, found := slices.BinarySearch(q, h); found {
			m |= 1 << j
		}
		return true
	})
	var sc float64
	for ; m != 0; m &= m - 1 {
		sc += w[bits.TrailingZeros64(m)]
	}
	return sc
}

// appendMemoryLine appends m's context line of at most n characters: with
// FocusLine, a text of several items that would be clipped shows first the
// item holding the most query tokens q (by weight w, the tokens' IDF), then
// the rest in stored order. mask is the memory's query-token
// mask (addLexical), or all ones when unknown: a memory holding no query
// token is shown as stored.
func (s *Session) appendMemoryLine(dst []byte, m *memory, q []uint16, w *[maxMemTokens]float64, mask uint64, n int) ([]byte, int) {
	if s.cfg.FocusLine && len(q) > 0 && mask != 0 && m.merged > 1 && (len(m.text) > n && (m.plain || runeLen(m.text) > n)) {
		full := 0.0
		for mk := mask & (1<<len(q) - 1); mk != 0; mk &= mk - 1 {
			full += w[bits.TrailingZeros64(mk)]
		}
		if before, best, after, ok := focusSplit(m.text, q, w, full); ok {
			return appendLineClip(dst, n, best, " ", before, after)
		}
	}
	return m.appendLine(dst, n)
}
