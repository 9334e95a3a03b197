package engine

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestImportFormat2 loads an export and a binary snapshot written by the
// engine before the memory policy (format semvec-go/2, testdata): each
// memory's access weight is its access count as of the current turn, the
// policy takes its defaults, and the session keeps working and re-encodes
// in format 3.
func TestImportFormat2(t *testing.T) {
	dict, err := os.ReadFile("testdata/v2_export.json")
	if err != nil {
		t.Fatal(err)
	}
	blob, err := os.ReadFile("testdata/v2_snapshot.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(dict, []byte(`"format":"semvec-go/2"`)) || string(blob[:5]) != "SVGB\x02" {
		t.Fatal("testdata is not format 2")
	}
	fromDict, err := Import(dict)
	if err != nil {
		t.Fatalf("format-2 export: %v", err)
	}
	fromBlob, err := UnmarshalBinary(blob)
	if err != nil {
		t.Fatalf("format-2 snapshot: %v", err)
	}
	for name, s := range map[string]*Session{"export": fromDict, "snapshot": fromBlob} {
		if c := s.Config(); c != DefaultConfig(testDim) {
			t.Errorf("%s: config %+v, want the defaults", name, c)
		}
		accessed := 0
		s.eachMemory(func(_ int, m *memory) {
			if m.accW != float64(m.access) || m.lastAcc != s.turn {
				t.Errorf("%s: memory %s: weight %v at %d, want %d at %d", name, m.hash, m.accW, m.lastAcc, m.access, s.turn)
			}
			if m.access > 0 {
				accessed++
			}
			if got := s.tokenSlot(m.slot); len(got) == 0 {
				t.Errorf("%s: memory %s has no tokens after the import", name, m.hash)
			}
		})
		if accessed == 0 {
			t.Errorf("%s: no accessed memory in the testdata", name)
		}
		res := run(t, s, "What is the wifi password at the lake cabin?", "It is written on the fridge.", 900)
		if !strings.Contains(res.Context, "Relevant context:") {
			t.Errorf("%s: %q", name, res.Context)
		}
		d, _, err := s.Export()
		if err != nil || !bytes.Contains(d, []byte(`"format":"semvec-go/3"`)) {
			t.Errorf("%s: re-export: %v", name, err)
		}
		if _, err := Import(d); err != nil {
			t.Errorf("%s: format-3 re-import: %v", name, err)
		}
	}
	// A format-2 dict may not carry format-3 fields.
	var obj map[string]any
	json.Unmarshal(dict, &obj)
	obj["memories"].([]any)[0].(map[string]any)["access_weight"] = 3.5
	delete(obj, "checksum")
	raw, _ := json.Marshal(obj)
	var sn snapshot
	if err := json.Unmarshal(raw, &sn); err != nil {
		t.Fatal(err)
	}
	c, _ := json.Marshal(&sn)
	if _, err := Import(append(c[:len(c)-1:len(c)-1], []byte(`,"checksum":"`+sha256hex(c)+`"}`)...)); err == nil ||
		!strings.Contains(err.Error(), "no access weight") {
		t.Errorf("format 2 with an access weight: %v", err)
	}
}

// TestAccessWeightDecays: an access adds 1 to the weight decayed by
// 2^(-age/half-life); retention reads the decayed weight; access_count
// still counts every access.
func TestAccessWeightDecays(t *testing.T) {
	s := newTestSession(t)
	m := &memory{}
	s.turn = 100
	s.touch(m)
	s.touch(m)
	if m.accW != 2 || m.access != 2 || m.lastAcc != 100 {
		t.Fatalf("two accesses at one turn: %+v", m)
	}
	s.turn = 100 + DefaultAccessHalfLife
	if w := s.accessWeight(m); w != 1 {
		t.Fatalf("after one half-life: %v, want 1", w)
	}
	s.touch(m)
	if m.accW != 2 || m.access != 3 || m.lastAcc != s.turn {
		t.Fatalf("after a half-life and an access: %+v", m)
	}
	s.turn += 10 * DefaultAccessHalfLife
	if w := s.accessWeight(m); math.Abs(w-2.0/1024) > 1e-12 {
		t.Fatalf("after ten half-lives: %v", w)
	}
	// Without a half-life the weight is the access count and never fades.
	s.cfg.AccessHalfLife = 0
	if w := s.accessWeight(m); w != 2 {
		t.Fatalf("no decay: %v", w)
	}
}

// TestForgetLowValue: a medium-term evictee of base importance that is not
// in use is dropped; an important one is consolidated.
func TestForgetLowValue(t *testing.T) {
	for _, forget := range []bool{true, false} {
		cfg := DefaultConfig(testDim)
		cfg.ForgetLowValue = forget
		cfg.ShortTermCap, cfg.MediumTermCap = 1, 1
		s := New(cfg)
		s.InjectMemory(InjectInput{Text: "low value", Embedding: emb("low value chatter"), Tier: TierMediumTerm, Importance: 0.5, Now: t0})
		s.InjectMemory(InjectInput{Text: "important", Embedding: emb("important marker fact"), Tier: TierMediumTerm, Importance: 1, Now: t0})
		if got, want := len(s.tiers[tierLong]), map[bool]int{true: 0, false: 1}[forget]; got != want {
			t.Errorf("forget=%v: %d long-term memories, want %d", forget, got, want)
		}
		s.InjectMemory(InjectInput{Text: "newest", Embedding: emb("newest other thing"), Tier: TierMediumTerm, Importance: 0.5, Now: t0})
		if len(s.tiers[tierLong]) == 0 || !strings.Contains(s.tiers[tierLong][len(s.tiers[tierLong])-1].text+s.tiers[tierLong][0].text, "important") {
			t.Errorf("forget=%v: the important evictee was not consolidated: %d", forget, len(s.tiers[tierLong]))
		}
	}
}

// TestLexicalEvidenceKeepsCosineMetrics: the BM25 evidence changes only the
// context ranking; top_similarity, short-circuit and drift are pure cosine.
func TestLexicalEvidenceKeepsCosineMetrics(t *testing.T) {
	on, off := DefaultConfig(testDim), DefaultConfig(testDim)
	off.LexicalWeight = 0
	a, b := New(on), New(off)
	prev := ""
	for i, c := range k8sConversation {
		ra, rb := run(t, a, c.Q, prev, i), run(t, b, c.Q, prev, i)
		if ra.TopSimilarity != rb.TopSimilarity || ra.ShortCircuit != rb.ShortCircuit || ra.DriftScore != rb.DriftScore {
			t.Fatalf("turn %d: %+v vs %+v", i, ra, rb)
		}
		prev = c.A
	}
}

// TestFocusLineShowsTheMatchingItem: a merged memory's line starts with the
// items holding the message's words.
func TestFocusLineShowsTheMatchingItem(t *testing.T) {
	s := newTestSession(t)
	text := "Q: Why do leaves change colour in autumn?\nA: Chlorophyll breaks down in autumn, revealing yellow and orange pigments.\n" +
		"Q: How far away is the moon?\nA: The moon is about 384,000 kilometres from Earth on average.\n" +
		"Q: Which gate does the ferry to the island leave from?\nA: The island ferry leaves from gate Pelnarow at the north pier."
	m := &memory{merged: 3}
	m.setText(text)
	var lx lexScratch
	q := s.queryTokens("Where do I board the boat that goes over to the island?", &lx)
	for j := range q {
		lx.idf[j] = 1
	}
	line, _ := s.appendMemoryLine(nil, m, q, &lx.idf, ^uint64(0), 200)
	if !strings.HasPrefix(string(line), "Q: Which gate does the ferry") || !strings.Contains(string(line), "Pelnarow") {
		t.Fatalf("line %q", line)
	}
	s.cfg.FocusLine = false
	if line, _ := s.appendMemoryLine(nil, m, q, &lx.idf, ^uint64(0), 200); strings.Contains(string(line), "Pelnarow") {
		t.Fatalf("without focus: %q", line)
	}
}

// TestFocusLineSplitsMergedItems: in a merged text every line starts an
// item but the answer of a question, so injected facts (no prefix) are items
// of their own, after one another or after a Q&A, and the line starts with
// the one the message asks about; a multi-line memory joins as one item.
func TestFocusLineSplitsMergedItems(t *testing.T) {
	s := newTestSession(t)
	line := func(text, msg string) string {
		t.Helper()
		m := &memory{merged: 2}
		m.setText(text)
		var lx lexScratch
		q := s.queryTokens(msg, &lx)
		for j := range q {
			lx.idf[j] = 1
		}
		b, _ := s.appendMemoryLine(nil, m, q, &lx.idf, ^uint64(0), 200)
		return string(b)
	}
	pager := "The pager rota for the storage team is kept in the operations wiki under the heading weekend escalation, next to the list of vendor contacts."
	lead := "The on-call lead of the pages team for the spring release weekend is Snorkelwax, reachable through the escalation bridge."
	qa := "Q: How far away is the moon from the Earth on average?\nA: The moon is about 384,000 kilometres from Earth on average, a bit more at apogee."
	for _, text := range []string{
		mergeOf(pager, true, lead, 600),                          // two injected facts
		mergeOf(mergeOf(qa, true, pager, 600), false, lead, 600), // after a Q&A and a fact
		mergeOf(lead, true, pager, 600),                          // the first item is the one
	} {
		if got := line(text, "who leads the pages team this release weekend?"); !strings.HasPrefix(got, lead[:60]) || !strings.Contains(got, "Snorkelwax") {
			t.Errorf("text %q: line %q", text, got)
		}
	}
	// A Q&A item holds its question and answer; a multi-line one joins as
	// one, its continuation lines with it.
	multi := "Q: Which gate does the ferry\nto the island leave from?\nA: The island ferry leaves from gate Pelnarow\nat the north pier."
	text := mergeOf(mergeOf(pager, true, multi, 600), false, lead, 600)
	if want := pager + "\nQ: Which gate does the ferry to the island leave from?\nA: The island ferry leaves from gate Pelnarow at the north pier.\n" + lead; text != want {
		t.Fatalf("merged %q", text)
	}
	if got := line(text, "Where do I board the boat that goes over to the island?"); !strings.HasPrefix(got, "Q: Which gate does the ferry to the island leave from? A: The island ferry leaves from gate Pelnarow") {
		t.Fatalf("line %q", got)
	}
	// itemStart: an answer completes a question once.
	for _, c := range []struct {
		line  string
		cur   byte
		start bool
		kind  byte
	}{
		{"A: yes", 'Q', false, 'P'}, {"A: again", 'P', true, 'A'}, {"A: alone", 'U', true, 'A'},
		{"Q: next", 'P', true, 'Q'}, {"U: hi", 'Q', true, 'U'}, {"a fact", 'Q', true, 0}, {"a fact", 0, true, 0}, {"A:no space", 'Q', true, 0},
	} {
		if st, k := itemStart(c.line, c.cur); st != c.start || k != c.kind {
			t.Errorf("itemStart(%q, %q) = %v, %q; want %v, %q", c.line, c.cur, st, k, c.start, c.kind)
		}
	}
}

func TestTokens(t *testing.T) {
	var a, b tokHashes
	a.addText("The cats' Payments were booked, and the boxes RUNNING")
	b.addText("cat payment book box run")
	if !slices.Equal(a.slice(), b.slice()) {
		t.Fatalf("%v vs %v", a.slice(), b.slice())
	}
}

// TestTokenArenaMatchesTexts: after a long conversation (merges, clipped
// clusters, freed and reused slots) every memory's token list is exactly
// what its text gives, as an import rebuilds it.
func TestTokenArenaMatchesTexts(t *testing.T) {
	s := newTestSession(t)
	longSession(t, s, 600, 11)
	converse(t, s, k8sConversation, "", 700)
	s.eachMemory(func(_ int, m *memory) {
		var ts tokHashes
		ts.addText(m.text)
		if !slices.Equal(s.tokenSlot(m.slot), ts.slice()) {
			t.Fatalf("memory %s (merged %d): tokens differ from its text's", m.hash, m.merged)
		}
	})
}

// TestRerankOrdersTheBlock: the reranker's scores put its choice first among
// the candidates RerankCandidates offered; Run without scores is unchanged
// by the hook; invalid scores are refused.
func TestRerankOrdersTheBlock(t *testing.T) {
	s := newTestSession(t)
	converse(t, s, k8sConversation, "", 0)
	msg := "How do I roll back a rollout?"
	cands, err := s.RerankCandidates(msg, emb(msg))
	if err != nil || len(cands) < 3 {
		t.Fatalf("candidates: %v %v", len(cands), err)
	}
	last := cands[len(cands)-1]
	blob, _ := s.MarshalBinary()
	a, _ := UnmarshalBinary(blob)
	b, _ := UnmarshalBinary(blob)
	in := RunInput{Message: msg, MessageVec: emb(msg), ShortCircuitThreshold: 0.85, Now: t0}
	plain, _ := a.Run(in)
	in.Rerank = []RerankScore{{MemoryHash: last.MemoryHash, Score: 9}, {MemoryHash: cands[0].MemoryHash, Score: 1}}
	reranked, err := b.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(strings.TrimPrefix(relevant(reranked.Context), "\n"), "\n", 2)[0]
	want := lineClip(last.Text, 40)
	if !strings.Contains(first, want[:30]) || relevant(plain.Context) == relevant(reranked.Context) {
		t.Fatalf("reranked block:\n%s\nplain:\n%s", reranked.Context, plain.Context)
	}
	if reranked.TopSimilarity != plain.TopSimilarity || reranked.DriftScore != plain.DriftScore {
		t.Fatal("the reranker changed cosine metrics")
	}
	in.Rerank = []RerankScore{{MemoryHash: last.MemoryHash, Score: math.NaN()}}
	if _, err := b.Run(in); err == nil {
		t.Fatal("a NaN score was accepted")
	}
}

func relevant(block string) string {
	_, rest, _ := strings.Cut(block, "\nRelevant context:")
	rest, _, _ = strings.Cut(rest, "\nPrevious answer:")
	rest, _, _ = strings.Cut(rest, "\nCode entities:")
	return rest
}

// TestToldFactIsImportant: a fact the user states and the assistant only
// acknowledges is new information (the message's tokens count), so it gets
// more than the base importance and is not forgotten like chatter; a
// question whose answer only echoes it keeps the base importance, and a told
// fact already stored adds nothing new.
func TestToldFactIsImportant(t *testing.T) {
	s := newTestSession(t)
	importance := func(text string) float64 {
		t.Helper()
		var found *memory
		s.eachMemory(func(_ int, m *memory) {
			if m.text == text {
				found = m
			}
		})
		if found == nil {
			t.Fatalf("%q not stored", text)
		}
		return found.importance
	}
	conv := []qa{
		{"The gate code for the Hollowmere cabin is 48213977.", "Noted."},
		{"What is the weather like?", "What is the weather like? Hard to say."},
		{"The gate code for the Hollowmere cabin is 48213977.  ", "Got it."},
		{"Mein Schlüssel liegt unter dem Blumentopf", "Noted."},
		{"ok", ""},
	}
	converse(t, s, conv, "", 0)
	if got := importance("Q: The gate code for the Hollowmere cabin is 48213977.\nA: Noted."); got != 1 {
		t.Errorf("told fact: importance %v, want 1 (three or more new tokens)", got)
	}
	two := 2.0
	if got, want := importance("Q: What is the weather like?\nA: What is the weather like? Hard to say."), baseImportance+0.5*two/3; got != want {
		t.Errorf("question: importance %v, want %v (only the answer's two new tokens count)", got, want)
	}
	// The same statement again: its tokens are stored already; "got" is a
	// stop word, so nothing is new.
	if got := importance("Q: The gate code for the Hollowmere cabin is 48213977.\nA: Got it."); got != baseImportance {
		t.Errorf("repeated told fact: importance %v, want %v", got, baseImportance)
	}
	if got := importance("Q: Mein Schlüssel liegt unter dem Blumentopf\nA: Noted."); got != 1 {
		t.Errorf("told fact in German: importance %v, want 1", got)
	}
	for m, want := range map[string]bool{"A fact.": true, "no mark": true, "Why?": false, "why ? \n": false, "なぜ？": false, "?!": false} {
		if statement(m) != want {
			t.Errorf("statement(%q) = %v, want %v", m, !want, want)
		}
	}
}

// TestUnansweredStatementIsImportant: a message that never got an answer is
// stored alone ("U: …"); a statement's new tokens raise its importance as
// they do in a Q&A memory, a question alone keeps the base importance, and
// the token list given with it is the one its text would get.
func TestUnansweredStatementIsImportant(t *testing.T) {
	s := newTestSession(t)
	for i, msg := range []string{"My locker combination is 31-07-55 at the Northgate gym.", "What is my locker combination?", "thanks"} {
		run(t, s, msg, "", i)
	}
	want := map[string]float64{"U: My locker combination is 31-07-55 at the Northgate gym.": 1, "U: What is my locker combination?": baseImportance}
	s.eachMemory(func(_ int, m *memory) {
		if w, ok := want[m.text]; ok {
			if m.importance != w {
				t.Errorf("%q: importance %v, want %v", m.text, m.importance, w)
			}
			delete(want, m.text)
			var ts tokHashes
			ts.addText(m.text)
			if !slices.Equal(s.tokenSlot(m.slot), ts.slice()) {
				t.Errorf("%q: tokens %v, want %v", m.text, s.tokenSlot(m.slot), ts.slice())
			}
		}
	})
	if len(want) != 0 {
		t.Errorf("not stored: %v", want)
	}
}

// TestStatementQuestionMarks: a question stays a question whatever follows
// its mark (closing quotes and brackets, markdown, "!", emoji, a zero-width
// space) and in other scripts (Arabic "؟", Greek ";" and U+037E, Spanish
// "¿…"); so a question sent with no answer keeps the base importance
// instead of counting its own new tokens as information.
func TestStatementQuestionMarks(t *testing.T) {
	for m, want := range map[string]bool{
		`What is my address?"`: false, "(what is my address?)": false, "**What is my address?**": false,
		"what is it? 🙂": false, "what is it?!": false, "what is it ?!!": false, "what is it?\u200b": false,
		"what is it?`": false, "¿Dónde está la llave?": false, "¿Dónde está la llave": false,
		"أين المفتاح؟": false, "Πού είναι το κλειδί;": false, "Πού είναι το κλειδί\u037e": false,
		"鍵はどこ？": false, "где ключ?": false, "ጤና ይስጥልኝ፧": false,
		"The gate code is 4821.": true, "int x = 5;": true, "ok thanks 🙂": true, `He said "fine"`: true,
		"(see above)": true, "Great!": true, "": true,
	} {
		if statement(m) != want {
			t.Errorf("statement(%q) = %v, want %v", m, !want, want)
		}
	}
	s := newTestSession(t)
	msgs := []string{"أين مفتاح الكابينة الزرقاء؟", "Πού είναι το κλειδί της καμπίνας;", `What's the Zarvelline cabin code?"`, "ok"}
	for i, msg := range msgs {
		run(t, s, msg, "", i)
	}
	s.eachMemory(func(_ int, m *memory) {
		if strings.HasPrefix(m.text, "U: ") && m.text != "U: ok" && m.importance != baseImportance {
			t.Errorf("%q: importance %v, want %v (a question)", m.text, m.importance, baseImportance)
		}
	})
}
