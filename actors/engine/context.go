package engine

import (
	"fmt"
	"slices"
	"strings"
)

// Context block constants.
const (
	contextMaxEntities     = 5   // code-entity lines per block
	minPreviousAnswerChars = 40  // a previous answer clipped shorter than this is left out
	DefaultItemChars       = 500 // ContextItems text cap when maxChars <= 0
)

// buildContext renders the context block for message text msg with vector x as
// turn t. It never exceeds ContextBudgetChars characters. Sections are filled
// greedily in this order: header and phase hint; "Relevant context:" with the
// top-k memories ranked by cos(key, x) + anchor bias (lines stop at the first
// that does not fit); "Code entities:" with literal-cache entries whose tokens
// overlap the message; "Previous answer:" clipped to what is left. When touch
// is true the memories and entities shown count as accessed.
func (s *Session) buildContext(msg string, x []float32, t int, touch bool) string {
	budget := s.cfg.ContextBudgetChars
	var b strings.Builder
	used := 0
	write := func(line string) {
		if used > 0 {
			b.WriteByte('\n')
			used++
		}
		b.WriteString(line)
		used += runeLen(line)
	}
	fits := func(line string) bool { return used+1+runeLen(line) <= budget }

	write(fmt.Sprintf("[Semvec Context | Phase: %s | Turn %d | %d memories]", s.phase, t, s.TotalMemories()))
	if h := "Hint: " + phaseHint(s.phase); fits(h) {
		write(h)
	}

	// Relevant memories.
	var shown []*memory
	if s.TotalMemories() == 0 {
		if l := "Relevant context: (none yet)"; fits(l) {
			write(l)
		}
	} else if fits("Relevant context:") {
		write("Relevant context:")
		scores := s.scoreMemories(x, true)
		for rank, i := range topK(scores, s.cfg.ContextTopK) {
			m := s.memoryAt(i)
			line := fmt.Sprintf("  %d. [%.2f] %s", rank+1, scores[i], lineClip(m.text, s.cfg.MaxMemoryChars))
			if !fits(line) {
				break
			}
			write(line)
			shown = append(shown, m)
		}
	}

	// Code entities.
	var shownEnt []int
	if matches := s.matchEntities(msg, contextMaxEntities); len(matches) > 0 {
		const header = "Code entities:"
		lines := make([]string, len(matches))
		for j, i := range matches {
			e := &s.entities[i]
			lines[j] = "  " + lineClip(e.Key+" ("+e.Kind+"): "+e.Value, s.cfg.MaxMemoryChars)
		}
		if used+1+runeLen(header)+1+runeLen(lines[0]) <= budget {
			write(header)
			for j, line := range lines {
				if !fits(line) {
					break
				}
				write(line)
				shownEnt = append(shownEnt, matches[j])
			}
		}
	}

	// Previous answer.
	if s.lastResponse != "" {
		room := budget - used - 1 - runeLen("Previous answer:") - 1
		if n := min(room, s.cfg.MaxLastResponseChars); n >= minPreviousAnswerChars {
			write("Previous answer:")
			write(clipText(s.lastResponse, n))
		}
	}

	if touch {
		for _, m := range shown {
			m.access++
		}
		for _, i := range shownEnt {
			s.entities[i].AccessCount++
		}
	}
	out := b.String()
	if runeLen(out) > budget { // unreachable with a valid config; keeps the promise anyway
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
	if topK <= 0 {
		topK = s.cfg.ContextTopK
	}
	if maxChars <= 0 {
		maxChars = DefaultItemChars
	}
	var picked []*memory
	var rel []float64
	if s.initialized {
		scores := s.scoreMemories(s.state, true)
		for _, i := range topKIdx(scores, topK) {
			picked = append(picked, s.memoryAt(i))
			rel = append(rel, float64(scores[i]))
		}
	} else {
		all := make([]*memory, 0, s.TotalMemories())
		s.eachMemory(func(_ int, m *memory) { all = append(all, m) })
		slices.SortStableFunc(all, func(a, b *memory) int {
			if c := b.ts.Compare(a.ts); c != 0 {
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
		out[i] = ContextItem{Text: text, Relevance: rel[i], MemoryHash: m.hash, Truncated: cut, Tier: tierName(m.tier)}
		m.access++
	}
	return out
}

// topKIdx is topK with the request's k capped to the memory count.
func topKIdx(scores []float32, k int) []int { return topK(scores, min(k, len(scores))) }
