package engine

import (
	"strings"
	"testing"
)

// relevantLines returns the numbered lines of a block's "Relevant context:".
func relevantLines(block string) []string {
	var out []string
	for _, l := range strings.Split(block, "\n") {
		if strings.HasPrefix(l, "  ") && len(l) > 3 && l[2] >= '1' && l[2] <= '9' {
			out = append(out, l)
		}
	}
	return out
}

// lineOf returns the index of the first line holding sub, -1 when none.
func lineOf(lines []string, sub string) int {
	for i, l := range lines {
		if strings.Contains(l, sub) {
			return i
		}
	}
	return -1
}

// TestCorrectionRanksAboveStaleFact: a fact told and later corrected, then
// asked — the corrected statement is shown above the stale one, though the
// stale one is the closer match, the shown scores still descend, and the
// same turns on another session give the same block (no clock involved).
// A newer unhelpful answer ("I don't know") does not pass the fact.
func TestCorrectionRanksAboveStaleFact(t *testing.T) {
	script := []qa{
		{"My address is 12 Birch Lane, Harlowmere.", "Noted."},
		{"How do I fix a leaking tap quickly?", "Turn off the water and replace the washer."},
		{"The on-call engineer for the database this week is Martavell.", "Got it."},
		{"Why is the sky blue?", "Blue light scatters the most."},
		{"I moved! My address is now 48 Quarry Road, Stennicombe.", "Understood."},
		{"What is the tallest mountain?", "Mount Everest."},
		{"Correction: the on-call engineer for the database this week is Tomazrik.", "Okay."},
		{"haha nice one", "Glad you liked it!"},
	}
	probe := func(s *Session, q, prev string, turn int) []string {
		return relevantLines(run(t, s, q, prev, turn).Context)
	}
	for _, c := range []struct{ q, stale, fresh string }{
		{"What is my address?", "Harlowmere", "Stennicombe"},
		{"Who is on call for the database?", "Martavell", "Tomazrik"},
	} {
		var blocks [2][]string
		for k := range blocks {
			s := newTestSession(t)
			converse(t, s, script, "", 0)
			blocks[k] = probe(s, c.q, script[len(script)-1].A, len(script))
		}
		lines := blocks[0]
		if strings.Join(lines, "\n") != strings.Join(blocks[1], "\n") {
			t.Fatalf("%s: the same turns gave two blocks:\n%s\n%s", c.q, strings.Join(lines, "\n"), strings.Join(blocks[1], "\n"))
		}
		fresh, stale := lineOf(lines, c.fresh), lineOf(lines, c.stale)
		if fresh < 0 || stale < 0 || fresh > stale {
			t.Errorf("%s: corrected line %d, stale line %d:\n%s", c.q, fresh, stale, strings.Join(lines, "\n"))
		}
		for i := 1; i < len(lines); i++ {
			if lines[i][6:10] > lines[i-1][6:10] {
				t.Errorf("%s: shown scores rise:\n%s", c.q, strings.Join(lines, "\n"))
			}
		}
	}

	// Without the supersession the stale fact ranks first: the test
	// measures the reordering, not an accident of the scores.
	s := newTestSession(t)
	converse(t, s, script, "", 0)
	msg := "What is my address?"
	buf := getScratch()
	defer buf.put()
	scores := s.scoreMemories(nil, quantize(emb(msg)))
	s.queryTokens(msg, &buf.lx)
	masks := s.addLexical(scores, &buf.lx)
	top := topK(scores, s.cfg.ContextTopK)
	if !strings.Contains(s.memoryAt(top[0]).text, "Harlowmere") {
		t.Fatalf("the stale fact is not the best match: %q", s.memoryAt(top[0]).text)
	}
	disp := make([]float32, len(top))
	for i, j := range top {
		disp[i] = scores[j]
	}
	s.supersede(top, scores, disp, masks)
	if !strings.Contains(s.memoryAt(top[0]).text, "Stennicombe") || disp[0] != scores[top[1]] {
		t.Fatalf("after supersede: %q first, shown %v", s.memoryAt(top[0]).text, disp)
	}

	// A newer answer that gives nothing new does not supersede the fact
	// (whether it outranks the fact on its own score is another matter:
	// the supersession only moves newer statements up).
	s = newTestSession(t)
	converse(t, s, []qa{
		{"The gym locker code is Pellwarden 4410.", "Noted."},
		{"ok cool, let me know", "Sure, I don't know much about it yet."},
		{"What is the gym locker code?", "Sorry, I don't know the gym locker code."},
		{"thanks", "You're welcome."},
	}, "", 0)
	msg = "What's the code for my gym locker?"
	scores = s.scoreMemories(nil, quantize(emb(msg)))
	s.queryTokens(msg, &buf.lx)
	masks = s.addLexical(scores, &buf.lx)
	fact, unhelpful := -1, -1
	s.eachMemory(func(i int, m *memory) {
		switch {
		case strings.Contains(m.text, "Pellwarden"):
			fact = i
		case strings.Contains(m.text, "I don't know the gym"):
			unhelpful = i
		}
	})
	if fact < 0 || unhelpful < 0 {
		t.Fatal("memories not stored")
	}
	f, u := s.memoryAt(fact), s.memoryAt(unhelpful)
	if s.supersedes(u, f, masks[unhelpful], masks[fact], scores[unhelpful], scores[fact]) {
		t.Errorf("an unhelpful answer (importance %v) supersedes the fact (importance %v)", u.importance, f.importance)
	}
	// A correction of it does.
	converse(t, s, []qa{{"They reset the gym locker code, it is now Quindrossa 7302.", "Got it."}, {"ok", "Okay."}}, "You're welcome.", 4)
	scores = s.scoreMemories(nil, quantize(emb(msg)))
	s.queryTokens(msg, &buf.lx)
	masks = s.addLexical(scores, &buf.lx)
	fact, corr := -1, -1
	s.eachMemory(func(i int, m *memory) {
		switch {
		case strings.Contains(m.text, "Pellwarden"):
			fact = i
		case strings.Contains(m.text, "Quindrossa"):
			corr = i
		}
	})
	if fact < 0 || corr < 0 || !s.supersedes(s.memoryAt(corr), s.memoryAt(fact), masks[corr], masks[fact], scores[corr], scores[fact]) {
		t.Errorf("the correction does not supersede the fact")
	}
}
