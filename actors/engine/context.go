package engine

import (
	"slices"
	"strconv"
)

// Context block constants.
const (
	contextMaxEntities     = 5   // code-entity lines per block
	minPreviousAnswerChars = 40  // a previous answer clipped shorter than this is left out
	DefaultItemChars       = 500 // ContextItems text cap when maxChars <= 0
)

// buildContext renders the context block for message text msg as turn t.
// scores are the retrieval scores of every memory in canonical order:
// cos(key, message) + anchor bias (scoreMemories, addAnchorBias), to
// which it adds the lexical evidence (addLexical) when configured. The block
// never exceeds ContextBudgetChars characters. Sections are filled greedily in
// this order: header and phase hint; "Relevant context:" with the top-k
// memories (lines stop at the first that does not fit); "Code entities:" with
// literal-cache entries whose tokens overlap the message; "Previous answer:"
// clipped to what is left. When touch is true the memories and entities shown
// count as accessed.
//
// Lines are appended straight into one buffer (buf.b, the caller's scratch)
// and only the lines shown are clipped; a line that does not fit is rolled
// back.
func (s *Session) buildContext(msg string, t int, scores []float32, rerank []RerankScore, touch bool, buf *scratch) string {
	q := s.queryTokens(msg, &buf.lx)
	var masks []uint64
	if len(q) > 0 {
		masks = s.addLexical(scores, &buf.lx)
	}
	budget := s.cfg.ContextBudgetChars
	b := buf.b[:0]
	used := 0 // characters written
	// add appends the pure-ASCII line head+tail when it fits.
	add := func(head, tail string) bool {
		if used+1+len(head)+len(tail) > budget {
			return false
		}
		b = append(b, '\n')
		b = append(b, head...)
		b = append(b, tail...)
		used += 1 + len(head) + len(tail)
		return true
	}

	b = append(b, "[Semvec Context | Phase: "...)
	b = append(b, s.phase...)
	b = append(b, " | Turn "...)
	b = strconv.AppendInt(b, int64(t), 10)
	b = append(b, " | "...)
	b = strconv.AppendInt(b, int64(s.TotalMemories()), 10)
	b = append(b, " memories]"...)
	used = len(b)
	add("Hint: ", phaseHint(s.phase))

	// Relevant memories.
	var shownArr [8]*memory
	shown := shownArr[:0]
	if s.TotalMemories() == 0 {
		add("Relevant context: (none yet)", "")
	} else if add("Relevant context:", "") {
		var idxArr [8]int
		var top []int
		var dispArr [8]float32
		var disp []float32 // the scores shown, parallel to top
		if len(rerank) > 0 {
			top = s.rerankedTop(scores, rerank)
		} else {
			top = topKInto(idxArr[:0], scores, s.cfg.ContextTopK)
		}
		disp = dispArr[:0]
		for _, i := range top {
			disp = append(disp, scores[i])
		}
		if len(rerank) == 0 {
			s.supersede(top, scores, disp, masks)
		}
		for _, i := range top { // the texts are usually cold: load them together
			prefetchText(s.memoryAt(i).text)
		}
		for rank, i := range top {
			m := s.memoryAt(i)
			mark := len(b)
			b = append(b, "\n  "...)
			b = strconv.AppendInt(b, int64(rank+1), 10)
			b = append(b, ". ["...)
			b = appendFixed2(b, disp[rank]) // fmt's %.2f of a float32
			b = append(b, "] "...)
			prefix := len(b) - mark - 1
			mask := ^uint64(0)
			if masks != nil {
				mask = masks[i]
			}
			var n int
			b, n = s.appendMemoryLine(b, m, q, &buf.lx.idf, mask, s.cfg.MaxMemoryChars)
			if used+1+prefix+n > budget {
				b = b[:mark]
				break
			}
			used += 1 + prefix + n
			shown = append(shown, m)
		}
	}

	// Code entities.
	var entArr [contextMaxEntities]int
	shownEnt := entArr[:0]
	var matchArr [contextMaxEntities]int
	if matches := s.matchEntities(matchArr[:0], msg, contextMaxEntities); len(matches) > 0 {
		const header = "Code entities:"
		for j, i := range matches {
			e := &s.entities[i].Entity
			mark := len(b)
			extra := 0
			if j == 0 {
				b = append(b, "\n"+header...)
				extra = 1 + len(header)
			}
			b = append(b, "\n  "...)
			var n int
			b, n = appendLineClip(b, s.cfg.MaxMemoryChars, e.Key, " (", e.Kind, "): ", e.Value)
			if used+extra+3+n > budget {
				b = b[:mark]
				break
			}
			used += extra + 3 + n
			shownEnt = append(shownEnt, i)
		}
	}

	// Previous answer.
	if s.lastResponse != "" {
		const header = "Previous answer:"
		room := budget - used - 1 - len(header) - 1
		if n := min(room, s.cfg.MaxLastResponseChars); n >= minPreviousAnswerChars {
			b = append(b, "\n"+header+"\n"...)
			var k int
			b, k = appendClip(b, s.lastResponse, n)
			used += 1 + len(header) + 1 + k
		}
	}

	if touch {
		for _, m := range shown {
			s.touch(m)
		}
		for _, i := range shownEnt {
			s.entities[i].AccessCount = addCount(s.entities[i].AccessCount, 1)
		}
	}
	out := string(b)
	if used > budget { // unreachable with a valid config; keeps the promise anyway
		out = clipText(out, budget)
	}
	return out
}

// ContextItem is one memory returned by ContextItems.
type ContextItem struct {
	Text       string
	Relevance  float64
	MemoryHash string
	Truncated  bool
	Tier       string
}

// ContextItems returns the topK memories ranked against the accumulated state
// (cos(key, state) + anchor bias); without a state it returns the most recent
// ones (newest timestamp first, then newest created) with relevance 0. Texts
// are clipped to maxChars (DefaultItemChars when <= 0), except the first when
// fullFirst. topK <= 0 means ContextTopK. Returned memories count as accessed.
func (s *Session) ContextItems(topK int, fullFirst bool, maxChars int) []ContextItem {
	return s.contextItems(topK, fullFirst, maxChars, true)
}

// PeekContextItems is ContextItems without counting the accesses: it
// changes nothing (the answer when the access count cannot be logged).
func (s *Session) PeekContextItems(topK int, fullFirst bool, maxChars int) []ContextItem {
	return s.contextItems(topK, fullFirst, maxChars, false)
}

func (s *Session) contextItems(topK int, fullFirst bool, maxChars int, count bool) []ContextItem {
	if topK <= 0 {
		topK = s.cfg.ContextTopK
	}
	if maxChars <= 0 {
		maxChars = DefaultItemChars
	}
	var picked []*memory
	var rel []float64
	if s.initialized {
		buf := getScratch()
		defer buf.put()
		scores := s.scoreMemories(buf.sc[:0], quantizeInto(codesBuf(&buf.q, len(s.state)), s.state))
		s.addAnchorBias(scores)
		for _, i := range topKIdx(scores, topK) {
			picked = append(picked, s.memoryAt(i))
			rel = append(rel, float64(scores[i]))
		}
	} else {
		all := make([]*memory, 0, s.TotalMemories())
		s.eachMemory(func(_ int, m *memory) { all = append(all, m) })
		slices.SortStableFunc(all, func(a, b *memory) int {
			if c := tsCompare(b, a); c != 0 {
				return c
			}
			switch {
			case a.seq > b.seq:
				return -1
			case a.seq < b.seq:
				return 1
			}
			return 0
		})
		if len(all) > topK {
			all = all[:topK]
		}
		picked = all
		rel = make([]float64, len(all))
	}
	out := make([]ContextItem, len(picked))
	for i, m := range picked {
		text, cut := m.text, false
		if !(fullFirst && i == 0) {
			text, cut = clip(m.text, maxChars)
		}
		out[i] = ContextItem{Text: text, Relevance: rel[i], MemoryHash: m.hash, Truncated: cut, Tier: tierName(int(m.tier))}
		if count {
			s.touch(m)
		}
	}
	return out
}

// topKIdx is topK with the request's k capped to the memory count.
func topKIdx(scores []float32, k int) []int { return topK(scores, min(k, len(scores))) }
