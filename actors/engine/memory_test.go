package engine

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec/vecmath"
	"github.com/semvec-go/semvec/vecmath/embed"
)

func TestTiersStayBounded(t *testing.T) {
	s := newTestSession(t)
	longSession(t, s, 5000, 11)
	cfg := s.Config()
	m := s.Metrics()
	if m.Tiers[TierShortTerm] > cfg.ShortTermCap || m.Tiers[TierMediumTerm] > cfg.MediumTermCap || m.Tiers[TierLongTerm] > cfg.LongTermCap {
		t.Fatalf("tiers over cap: %v", m.Tiers)
	}
	if s.TotalMemories() > 15+30+20 {
		t.Fatalf("total %d", s.TotalMemories())
	}
	if m.Tiers[TierLongTerm] == 0 {
		t.Fatal("nothing was consolidated into long term")
	}
	merged := 0
	s.eachMemory(func(_ int, mem *memory) {
		limit := cfg.MaxStoredChars
		if mem.tier == tierLong {
			limit = cfg.LongTermTextChars
			merged += mem.merged
		}
		if runeLen(mem.text) > limit {
			t.Errorf("%s memory of %d chars", tierName(int(mem.tier)), runeLen(mem.text))
		}
		if mem.hash != hashText(mem.text) {
			t.Errorf("stale hash")
		}
		// Keys are int8 codes: canonical (largest |code| 127) with the
		// cached norm, and a unit vector once dequantised.
		if ok, why := checkCodes(mem.key.k, testDim); !ok || mem.key.n != vecmath.NormI8(mem.key.k) {
			t.Errorf("key not canonical: %s", why)
		}
		if d := norm32(mem.key.unitInto(make([]float32, testDim))) - 1; d > 1e-5 || d < -1e-5 {
			t.Errorf("key not unit")
		}
	})
	if merged <= cfg.LongTermCap {
		t.Fatalf("long term holds %d items in %d clusters: no merging happened", merged, m.Tiers[TierLongTerm])
	}
}

func TestRetentionForgetsUnusedLowImportance(t *testing.T) {
	s := newTestSession(t)
	r := rand.New(rand.NewPCG(5, 5))
	// A tiny-importance memory that nothing ever reads...
	if _, err := s.InjectMemory(InjectInput{Text: "trivia nobody needs", Embedding: randUnit(r, testDim), Importance: 0.01, Now: t0}); err != nil {
		t.Fatal(err)
	}
	// ...and one with high importance.
	s.InjectMemory(InjectInput{Text: "the production database password rotates monthly", Embedding: randUnit(r, testDim), Importance: 5, Now: t0})
	for i := range 40 {
		s.InjectMemory(InjectInput{Text: fmt.Sprintf("filler %d", i), Embedding: randUnit(r, testDim), Importance: 1, Now: t0})
		s.turn++ // age the memories as turns would
	}
	if _, ok := s.Memory(hashText("trivia nobody needs")); ok {
		t.Error("low-retention memory survived short-term eviction")
	}
	if _, ok := s.Memory(hashText("the production database password rotates monthly")); !ok {
		t.Error("important memory was evicted")
	}
}

func TestInjectMemory(t *testing.T) {
	s := newTestSession(t)
	in, err := s.InjectMemory(InjectInput{Text: "Kubernetes runs containers in pods.", Embedding: emb("Kubernetes runs containers in pods."),
		Tier: TierMediumTerm, AccessCount: 3, Now: t0})
	if err != nil || in != (Injected{Tier: TierMediumTerm, Total: 1}) {
		t.Fatal(in, err)
	}
	m, ok := s.Memory(hashText("Kubernetes runs containers in pods."))
	if !ok || m.Tier != TierMediumTerm || m.Importance != DefaultImportance || m.AccessCount != 3 || !m.Timestamp.Equal(t0) {
		t.Fatalf("%+v", m)
	}
	// Long-term injections fill clusters up to the cap, then merge into the
	// most similar one.
	cfg := DefaultConfig(testDim)
	cfg.LongTermCap = 2
	s = New(cfg)
	r := rand.New(rand.NewPCG(9, 9))
	a, b := randUnit(r, testDim), randUnit(r, testDim)
	s.InjectMemory(InjectInput{Text: "alpha one", Embedding: a, Tier: TierLongTerm})
	s.InjectMemory(InjectInput{Text: "beta one", Embedding: b, Tier: TierLongTerm})
	in, _ = s.InjectMemory(InjectInput{Text: "alpha two", Embedding: noisy(r, a, 0.3), Tier: TierLongTerm, AccessCount: 2})
	if in != (Injected{Tier: TierLongTerm, Total: 2}) {
		t.Fatalf("%+v, want 2 clusters", in)
	}
	items := s.ContextItems(5, true, 0)
	found := false
	for _, it := range items {
		if it.Text == "alpha one\nalpha two" && it.Tier == TierLongTerm {
			found = true
		}
	}
	if !found {
		t.Fatalf("merged cluster missing: %+v", items)
	}
}

func TestContextBlockFormatAndBudget(t *testing.T) {
	s := newTestSession(t)
	s.PutEntity(Entity{Key: "deployment.spec.replicas", Kind: "variable", Value: "int32 = 5"})
	res := converse(t, s, k8sConversation, "", 0)
	ctx := res[len(res)-1].Context
	lines := strings.Split(ctx, "\n")
	if !strings.HasPrefix(lines[0], "[Semvec Context | Phase: ") || !strings.HasSuffix(lines[0], "| Turn 11 | 11 memories]") {
		t.Fatalf("header %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "Hint: ") || lines[2] != "Relevant context:" || !strings.HasPrefix(lines[3], "  1. [") {
		t.Fatalf("layout:\n%s", ctx)
	}
	if !strings.Contains(ctx, "Code entities:\n  deployment.spec.replicas (variable): int32 = 5") {
		t.Fatalf("entities missing:\n%s", ctx)
	}
	if !strings.Contains(ctx, "Previous answer:\n"+k8sConversation[10].A[:40]) {
		t.Fatalf("previous answer missing:\n%s", ctx)
	}
	if runeLen(ctx) > s.Config().ContextBudgetChars {
		t.Fatalf("context of %d chars", runeLen(ctx))
	}
	t.Logf("turn 11 context (%d chars):\n%s", runeLen(ctx), ctx)
}

func TestContextBudgetTurn10VsTurn10000(t *testing.T) {
	s := newTestSession(t)
	for i := range 50 {
		s.PutEntity(Entity{Key: fmt.Sprintf("topic%d.value", i), Kind: "constant", Value: strings.Repeat("x", 300)})
	}
	long := strings.Repeat("word ", 400)
	r := rand.New(rand.NewPCG(1, 1))
	topic := randUnit(r, testDim)
	var at10, at10000 int
	for i := range 10000 {
		res, err := s.Run(RunInput{Message: fmt.Sprintf("question %d about topic with value %s", i, long),
			MessageVec: noisy(r, topic, 1), Response: long + fmt.Sprint(i), ResponseVec: noisy(r, topic, 1),
			ShortCircuitThreshold: 0.85, Now: t0.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		n := runeLen(res.Context)
		if n > s.Config().ContextBudgetChars {
			t.Fatalf("turn %d: context %d chars", i, n)
		}
		switch i {
		case 10:
			at10 = n
		case 9999:
			at10000 = n
		}
	}
	t.Logf("context chars: turn 10 = %d, turn 10000 = %d; memories %d", at10, at10000, s.TotalMemories())
	if s.TotalMemories() > 65 {
		t.Fatalf("memories %d", s.TotalMemories())
	}
}

func TestContextAccessCounting(t *testing.T) {
	s := newTestSession(t)
	q, a := "How do I scale a deployment?", "kubectl scale deployment web --replicas=5"
	s.StorePair(q, emb(q), a, emb(a), t0)
	h := hashText(qaText(q, a))
	run(t, s, "scale the deployment", "", 0)
	if m, _ := s.Memory(h); m.AccessCount != 1 {
		t.Fatalf("access after context: %d", m.AccessCount)
	}
	s.ContextItems(5, false, 0)
	if m, _ := s.Memory(h); m.AccessCount != 2 {
		t.Fatalf("access after ContextItems: %d", m.AccessCount)
	}
}

func TestContextItems(t *testing.T) {
	s := newTestSession(t)
	for i := range 3 {
		txt := fmt.Sprintf("memory %d %s", i, strings.Repeat("long text ", 100))
		s.InjectMemory(InjectInput{Text: txt, Embedding: emb(txt), Now: t0.Add(time.Duration(i) * time.Minute)})
	}
	items := s.ContextItems(2, false, 0)
	if len(items) != 2 || !strings.HasPrefix(items[0].Text, "memory 2") || !strings.HasPrefix(items[1].Text, "memory 1") {
		t.Fatalf("most recent first: %+v", items)
	}
	if !items[0].Truncated || runeLen(items[0].Text) != DefaultItemChars || !strings.HasSuffix(items[0].Text, "...") || items[0].Relevance != 0 {
		t.Fatalf("clipping: %d %v", runeLen(items[0].Text), items[0].Truncated)
	}
	full := s.ContextItems(2, true, 100)
	if full[0].Truncated || runeLen(full[0].Text) < 1000 || !full[1].Truncated || runeLen(full[1].Text) != 100 {
		t.Fatalf("full_first: %v %d / %v %d", full[0].Truncated, runeLen(full[0].Text), full[1].Truncated, runeLen(full[1].Text))
	}
	// With a state, ranking is by similarity to it.
	s.SetStateVector(emb("memory 0 " + strings.Repeat("long text ", 100)))
	items = s.ContextItems(1, false, 0)
	if !strings.HasPrefix(items[0].Text, "memory 0") || items[0].Relevance < 0.9 {
		t.Fatalf("ranked: %+v", items[0])
	}
	if got := len(s.ContextItems(0, false, 0)); got != 3 {
		t.Fatalf("default top_k: %d", got)
	}
}

// TestHashIndexInSync checks that the hkeys index mirrors the tiers through
// promotion, consolidation, cluster merges (hash changes), Reset and Import.
func TestHashIndexInSync(t *testing.T) {
	check := func(s *Session, when string) {
		t.Helper()
		for tr := range s.tiers {
			if len(s.hkeys[tr]) != len(s.tiers[tr]) {
				t.Fatalf("%s: tier %d: %d index entries for %d memories", when, tr, len(s.hkeys[tr]), len(s.tiers[tr]))
			}
			for i, m := range s.tiers[tr] {
				if s.hkeys[tr][i] != hashKey(m.hash) {
					t.Fatalf("%s: tier %d entry %d out of sync", when, tr, i)
				}
				if s.findHash(m.hash) != m {
					t.Fatalf("%s: findHash(%s) misses", when, m.hash)
				}
			}
		}
	}
	s := newTestSession(t)
	longSession(t, s, 300, 11)
	check(s, "after 300 turns")
	if s.findHash("0123456789abcdef") != nil || s.findHash("") != nil {
		t.Fatal("findHash found an absent hash")
	}
	d, _, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	imp, err := Import(d)
	if err != nil {
		t.Fatal(err)
	}
	check(imp, "after Import")
	blob, _ := s.MarshalBinary()
	bin, err := UnmarshalBinary(blob)
	if err != nil {
		t.Fatal(err)
	}
	check(bin, "after UnmarshalBinary")
	s.Reset()
	check(s, "after Reset")
}

// TestKeyArenaKeepsReference checks that rewriting or reusing a key slot never
// changes a key the Verify reference holds, and that every memory's key is
// its arena slot with the slot's norm.
func TestKeyArenaKeepsReference(t *testing.T) {
	s := newTestSession(t)
	longSession(t, s, 120, 5)
	if _, _, err := s.Export(); err != nil { // takes the reference
		t.Fatal(err)
	}
	want := make([][]int8, len(s.ref.entries))
	for i, e := range s.ref.entries {
		want[i] = append([]int8(nil), e.key.k...)
	}
	longSession(t, s, 300, 6) // promotions, merges, forgotten memories, slot reuse
	for i, e := range s.ref.entries {
		if !sameCodes(e.key.k, want[i]) {
			t.Fatalf("reference entry %d changed", i)
		}
	}
	for tr, tier := range s.tiers {
		if len(s.slots[tr]) != len(tier) {
			t.Fatalf("tier %d: %d slots for %d memories", tr, len(s.slots[tr]), len(tier))
		}
		for i, m := range tier {
			if m.slot != s.slots[tr][i] || &m.key.k[0] != &s.slotCodes(m.slot)[0] || m.key.n != s.keyNorm[m.slot] {
				t.Fatalf("tier %d memory %d: key not in its slot", tr, i)
			}
		}
	}
}

// mergeOf is mergeText with the texts' plain flags; it checks that the
// plain fast paths (character counts, containment) answer as the general
// ones do.
func mergeOf(cluster string, single bool, item string, n int) string {
	got := mergeText(cluster, plainText(cluster), single, item, plainText(item), n)
	if slow := mergeText(cluster, false, single, item, false, n); slow != got {
		panic(fmt.Sprintf("mergeText(%q, %q, %d): %q with the plain flags, %q without", cluster, item, n, got, slow))
	}
	return got
}

// onCallFact is the outside tester's repro: ~150-character facts that
// differ in one name, so similar that they join one long-term cluster.
func onCallFact(name string) string {
	return "The on-call database administrator for the production payments cluster during the weekend maintenance window is " +
		name + " from the platform team."
}

var onCallNames = []string{"Alvarenko", "Brisquell", "Corvantis", "Delmorrow", "Estravane", "Fennimore", "Gastrolin", "Snorkelwax"}

// checkBookkeeping: every memory's hash is its text's, hashes are unique,
// its token list is what its text gives, its text is within its tier's cap.
func checkBookkeeping(t *testing.T, s *Session) {
	t.Helper()
	seen := map[string]bool{}
	s.eachMemory(func(_ int, m *memory) {
		if m.hash != hashText(m.text) || seen[m.hash] {
			t.Fatalf("memory %q: hash %s (duplicate %v)", m.text, m.hash, seen[m.hash])
		}
		seen[m.hash] = true
		if s.findHash(m.hash) != m {
			t.Fatalf("memory %s not found by its hash", m.hash)
		}
		var ts tokHashes
		ts.addText(m.text)
		if !slices.Equal(s.tokenSlot(m.slot), ts.slice()) {
			t.Fatalf("memory %s: tokens differ from its text's", m.hash)
		}
		if m.plain != plainText(m.text) {
			t.Fatalf("memory %s: plain flag", m.hash)
		}
		if limit := s.cfg.MaxStoredChars; m.tier == tierLong && runeLen(m.text) > s.cfg.LongTermTextChars || runeLen(m.text) > limit {
			t.Fatalf("memory %s: %d characters in tier %d", m.hash, runeLen(m.text), m.tier)
		}
	})
}

// TestInjectedFactsAreKept: facts injected into long term while it has
// room are memories of their own, however similar; once it is full they
// merge, and the cluster keeps the newest whole within its cap — never
// dropping the fact just injected. Bookkeeping stays exact and an
// export/import round trip gives the same export.
func TestInjectedFactsAreKept(t *testing.T) {
	e := embed.NewHashing(testDim)
	vec := func(text string) []float32 {
		v, err := e.Embed(t.Context(), []string{text})
		if err != nil {
			t.Fatal(err)
		}
		return v[0]
	}
	inject := func(s *Session, text string) {
		t.Helper()
		if _, err := s.InjectMemory(InjectInput{Text: text, Embedding: vec(text), Tier: TierLongTerm, Now: t0}); err != nil {
			t.Fatal(err)
		}
	}
	stored := func(s *Session, name string) (n int) {
		s.eachMemory(func(_ int, m *memory) {
			if strings.Contains(m.text, name) {
				n++
			}
		})
		return n
	}

	// Room in long term: eight memories, each fact kept whole.
	s := newTestSession(t)
	for _, name := range onCallNames {
		inject(s, onCallFact(name))
	}
	if n := len(s.tiers[tierLong]); n != len(onCallNames) {
		t.Fatalf("%d long-term memories, want %d", n, len(onCallNames))
	}
	for _, name := range onCallNames {
		if stored(s, name) != 1 {
			t.Errorf("%s stored %d times", name, stored(s, name))
		}
	}
	inject(s, onCallFact(onCallNames[0])) // the same text: merges into its memory
	if n := len(s.tiers[tierLong]); n != len(onCallNames) {
		t.Fatalf("the same fact again: %d long-term memories", n)
	}
	checkBookkeeping(t, s)

	// Long term full: the facts merge into one cluster, which always holds
	// the one just injected and the newest that fit.
	cfg := DefaultConfig(testDim)
	cfg.LongTermCap = 1
	s = New(cfg)
	for i, name := range onCallNames {
		inject(s, onCallFact(name))
		if n := len(s.tiers[tierLong]); n != 1 {
			t.Fatalf("%d long-term memories, want 1", n)
		}
		m := s.tiers[tierLong][0]
		if !strings.HasSuffix(m.text, "\n"+onCallFact(name)) && m.text != onCallFact(name) {
			t.Fatalf("after %s the cluster ends %q", name, m.text[max(0, len(m.text)-80):])
		}
		if m.merged != i+1 || runeLen(m.text) > cfg.LongTermTextChars {
			t.Fatalf("after %s: merged %d, %d characters", name, m.merged, runeLen(m.text))
		}
		// The newest whole items that fit: 4 of 145 characters in 600.
		for j, old := range onCallNames[:i+1] {
			if want := i-j < 4; (stored(s, old) == 1) != want {
				t.Fatalf("after %s: %s stored %d times, want it %v", name, old, stored(s, old), want)
			}
		}
		checkBookkeeping(t, s)
	}
	if want := strings.Join([]string{onCallFact("Estravane"), onCallFact("Fennimore"), onCallFact("Gastrolin"), onCallFact("Snorkelwax")}, "\n"); s.tiers[tierLong][0].text != want {
		t.Fatalf("cluster text %q", s.tiers[tierLong][0].text)
	}
	// Given again, a fact the cluster holds becomes its newest: the next
	// one pushes out the oldest other.
	inject(s, onCallFact("Estravane"))
	inject(s, onCallFact("Zephyrine"))
	if want := strings.Join([]string{onCallFact("Gastrolin"), onCallFact("Snorkelwax"), onCallFact("Estravane"), onCallFact("Zephyrine")}, "\n"); s.tiers[tierLong][0].text != want {
		t.Fatalf("cluster text %q", s.tiers[tierLong][0].text)
	}
	checkBookkeeping(t, s)
	exp, _, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ImportWith(cfg, exp)
	if err != nil {
		t.Fatal(err)
	}
	if again, _, _ := back.Export(); string(again) != string(exp) {
		t.Fatal("export of the import differs")
	}
	checkBookkeeping(t, back)
}

// TestMergeText: the cluster text keeps its newest whole items within n
// characters and always ends with the item that joined; items join as one
// line (a Q&A keeps its "\nA: "); an item it already holds becomes the
// newest, and a text that merely contains the new one does not hold it.
func TestMergeText(t *testing.T) {
	for _, c := range []struct {
		cluster string
		single  bool
		item    string
		n       int
		want    string
	}{
		{"one", true, "two", 50, "one\ntwo"},
		{"one\ntwo", false, " two ", 50, "one\ntwo"},                                                          // already there (normalised), the newest
		{"one\ntwo", false, "one", 50, "two\none"},                                                            // already there: it becomes the newest
		{"one two\nthree", false, "two", 50, "one two\nthree\ntwo"},                                           // inside a larger item: a new item
		{"db port 8080\nother fact", false, "db port 80", 50, "db port 8080\nother fact\ndb port 80"},         // a prefix of an item is another fact
		{"fact alpha\nbeta fact", false, "alpha beta", 50, "fact alpha\nbeta fact\nalpha beta"},               // across two items: a new item
		{"Q: q\nA: a\nfact", false, "Q: q A:  a", 50, "fact\nQ: q\nA: a"},                                     // equal after normalisation
		{"one\ntwo", true, "one", 50, "one two\none"},                                                         // a single text is one item: "one" is not it
		{"one\ntwo", true, "one  two", 50, "one\ntwo"},                                                        // equal to the single text: as it is
		{"aaaaaaaaaa\nbbbbbbbbbb\ncccccccccc", false, "dddddddddd", 40, "bbbbbbbbbb\ncccccccccc\ndddddddddd"}, // 43 > 40: drop one
		{"aaaaaaaaaa\nbbbbbbbbbb\ncccccccccc", false, "dddddddddd", 43, "aaaaaaaaaa\nbbbbbbbbbb\ncccccccccc\ndddddddddd"},
		{"aaaaaaaaaa\nbbbbbbbbbb", false, strings.Repeat("x", 30), 41, "bbbbbbbbbb\n" + strings.Repeat("x", 30)},
		{"aaaaaaaaaa\nbbbbbbbbbb", false, strings.Repeat("x", 39), 40, strings.Repeat("x", 39)}, // only the item fits
		{"aaaaaaaaaa", true, strings.Repeat("x", 45), 40, strings.Repeat("x", 37) + "..."},      // the item alone is clipped
		// Q&A items are dropped whole, question and answer together.
		{"Q: q1\nA: a1\nQ: q2\nA: a2", false, "fact three", 25, "Q: q2\nA: a2\nfact three"},
		{"U: u1\nQ: q2\nA: a2\nA: a3", false, "fact", 22, "Q: q2\nA: a2\nA: a3\nfact"},
		{"Q: q2\nA: a2\nA: a3", false, "fact", 12, "A: a3\nfact"}, // a second answer is an item of its own
		// A multi-line memory joins as one line; so does a single cluster text.
		{"Q: line one\nline two\nA: answer\nmore", true, "U: x\ny", 100, "Q: line one line two\nA: answer more\nU: x y"},
		{"first\nsecond", false, "third\nfourth", 100, "first\nsecond\nthird fourth"},
		// A cluster clipped by an older engine: its items go oldest first,
		// the clipped one in its turn.
		{"old one\nold two clipped...", false, "new", 22, "old two clipped...\nnew"},
		// Characters, not bytes.
		{"ééééé\nààààà", false, "üüüüü", 12, "ààààà\nüüüüü"},
	} {
		got := mergeOf(c.cluster, c.single, c.item, c.n)
		if got != c.want {
			t.Errorf("mergeText(%q, %v, %q, %d) = %q, want %q", c.cluster, c.single, c.item, c.n, got, c.want)
		}
		if runeLen(got) > c.n {
			t.Errorf("mergeText(%q, %q, %d): %d characters", c.cluster, c.item, c.n, runeLen(got))
		}
	}
	// Random merges: within the cap, the item (as one line) last, the
	// rest a tail of whole lines of the cluster.
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"Q: ", "A: ", "U: ", "deploy", "é", "the", "\n", " ", "pods", "ü"}
	text := func() string {
		var b strings.Builder
		for range 1 + r.IntN(20) {
			b.WriteString(words[r.IntN(len(words))])
		}
		return strings.TrimSpace(b.String()) + "x"
	}
	var cluster string
	for i := range 3000 {
		n := 20 + i/100*3 // one cap per cluster, as in a session
		if i%100 == 0 {
			cluster = clipText(text(), n)
		}
		item := text()
		got := mergeOf(cluster, i%100 == 0, item, n)
		if runeLen(got) > n {
			t.Fatalf("%d characters over %d", runeLen(got), n)
		}
		flat := flattenItem(item)
		switch {
		case holdsItem(cluster, i%100 == 0, item):
			if len(got) != len(cluster) || normText(got) != normText(cluster) && !strings.HasSuffix(normText(got), " "+normText(item)) {
				t.Fatalf("%q already held %q: %q", cluster, item, got)
			}
		case runeLen(flat) >= n:
			if got != clipText(flat, n) {
				t.Fatalf("long item: %q", got)
			}
		default:
			rest, ok := strings.CutSuffix(got, flat)
			if !ok {
				t.Fatalf("mergeText(%q, %q, %d) = %q: the item is not last", cluster, item, n, got)
			}
			src := cluster
			if i%100 == 0 {
				src = flattenItem(cluster)
			}
			if kept, ok := strings.CutSuffix(rest, "\n"); rest != "" && (!ok || kept != src && !strings.HasSuffix(src, "\n"+kept)) {
				t.Fatalf("mergeText(%q, %q, %d) = %q: not whole lines of the cluster", cluster, item, n, got)
			}
		}
		cluster = got
	}
}

// holdsItem reports whether an item of cluster (the whole text when single)
// equals item after normalisation, read the slow way.
func holdsItem(cluster string, single bool, item string) bool {
	if single {
		return normText(cluster) == normText(item)
	}
	kind := itemKind(cluster)
	for start := 0; start < len(cluster); {
		end, next := nextItem(cluster, start, kind)
		if normText(cluster[start:end]) == normText(item) {
			return true
		}
		start, kind = end+1, next
	}
	return false
}

// TestInjectingAStoredTextNamesItsTier: injecting a text that is already
// stored merges into that memory, which moves up to a higher requested tier
// (never down), and InjectMemory names the tier the text is in (an outside
// tester: the answer echoed the requested long_term while the fact stayed
// medium term).
func TestInjectingAStoredTextNamesItsTier(t *testing.T) {
	s := newTestSession(t)
	v := emb("alpha fact")
	inject := func(text, tier string, want Injected) {
		t.Helper()
		got, err := s.InjectMemory(InjectInput{Text: text, Embedding: v, Tier: tier, Now: t0})
		if err != nil || got != want {
			t.Fatalf("inject %.20q into %s: %+v %v, want %+v", text, tier, got, err, want)
		}
	}
	tiers := func(short, medium, long int) {
		t.Helper()
		want := map[string]int{TierShortTerm: short, TierMediumTerm: medium, TierLongTerm: long}
		if got := s.Metrics().Tiers; !maps.Equal(got, want) {
			t.Fatalf("tiers %v, want %v", got, want)
		}
	}
	inject("alpha fact", TierMediumTerm, Injected{TierMediumTerm, 1})
	inject("alpha fact", TierLongTerm, Injected{TierLongTerm, 1})
	tiers(0, 0, 1)
	m, ok := s.Memory(hashText("alpha fact"))
	if !ok || m.Tier != TierLongTerm || m.AccessCount != 1 {
		t.Fatalf("%+v", m)
	}
	// A lower tier leaves it where it is, and says so.
	inject("alpha fact", TierShortTerm, Injected{TierLongTerm, 1})
	inject("alpha fact", TierMediumTerm, Injected{TierLongTerm, 1})
	tiers(0, 0, 1)
	// short → medium.
	inject("beta fact", TierShortTerm, Injected{TierShortTerm, 2})
	inject("beta fact", TierMediumTerm, Injected{TierMediumTerm, 2})
	tiers(0, 1, 1)

	// Texts of 5,000 characters sharing their first 2,000 are one memory
	// (texts are kept up to 2,000): the long-term injection of the second
	// moves it to long term, clipped to 600 there, instead of vanishing.
	r := rand.New(rand.NewPCG(4, 4))
	words := make([]string, 0, 1000)
	for range 1000 {
		words = append(words, fmt.Sprint("w", r.IntN(1000000)))
	}
	prefix := strings.Join(words, " ")[:2000]
	a, b := prefix+strings.Repeat("a", 3000), prefix+strings.Repeat("b", 3000)
	inject(a, TierMediumTerm, Injected{TierMediumTerm, 3})
	inject(b, TierLongTerm, Injected{TierLongTerm, 3})
	tiers(0, 1, 2)
	if _, ok := s.Memory(hashText(clipText(a, 2000))); ok {
		t.Fatal("the medium-term memory is still there")
	}
	if m, ok := s.Memory(hashText(clipText(clipText(a, 2000), 600))); !ok || m.Tier != TierLongTerm {
		t.Fatalf("the promoted memory: %+v %v", m, ok)
	}

	// Promoted into a full long term, it merges into a cluster like any
	// long-term injection.
	cfg := DefaultConfig(testDim)
	cfg.LongTermCap = 1
	s = New(cfg)
	inject("alpha fact", TierLongTerm, Injected{TierLongTerm, 1})
	inject("gamma fact", TierShortTerm, Injected{TierShortTerm, 2})
	inject("gamma fact", TierLongTerm, Injected{TierLongTerm, 1})
	tiers(0, 0, 1)
	if c := s.ContextItems(5, true, 0); len(c) != 1 || c[0].Text != "alpha fact\ngamma fact" {
		t.Fatalf("%+v", c)
	}
	// Medium term full: the promoted memory stays, another moves on.
	cfg = DefaultConfig(testDim)
	cfg.MediumTermCap = 2
	s = New(cfg)
	inject("one", TierMediumTerm, Injected{TierMediumTerm, 1})
	inject("two", TierMediumTerm, Injected{TierMediumTerm, 2})
	inject("three", TierShortTerm, Injected{TierShortTerm, 3})
	inject("three", TierMediumTerm, Injected{TierMediumTerm, 3})
	tiers(0, 2, 1)
	if m, _ := s.Memory(hashText("three")); m.Tier != TierMediumTerm {
		t.Fatalf("%+v", m)
	}
	// What promotion leaves round-trips.
	d, _, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(d); err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalBinary(frozen(t, s)); err != nil {
		t.Fatal(err)
	}
}

// TestAClippedLongTermTextIsNotStoredTwice: long term keeps a text clipped
// to 600 characters, as a cluster of its own or as an item of a merged
// cluster. Injecting the whole text again, at any tier, finds it there
// (an outside tester: a 700-character text raised to long term and
// injected again at short term was stored a second time, and the answer
// named short term; likewise a fact merged into a full long term).
func TestAClippedLongTermTextIsNotStoredTwice(t *testing.T) {
	long := strings.Repeat("x", 700)
	s := newTestSession(t)
	v := emb("a long fact")
	inject := func(text, tier string, want Injected) {
		t.Helper()
		got, err := s.InjectMemory(InjectInput{Text: text, Embedding: v, Tier: tier, Now: t0})
		if err != nil || got != want {
			t.Fatalf("inject %.20q into %s: %+v %v, want %+v", text, tier, got, err, want)
		}
	}
	inject(long, TierLongTerm, Injected{TierLongTerm, 1})
	inject(long, TierShortTerm, Injected{TierLongTerm, 1})
	inject(long, TierMediumTerm, Injected{TierLongTerm, 1})
	inject(long, TierLongTerm, Injected{TierLongTerm, 1})
	if m, ok := s.Memory(hashText(clipText(long, 600))); !ok || m.AccessCount != 3 {
		t.Fatalf("the long-term memory: %+v %v, want it touched by the three injections after the first", m, ok)
	}

	// Merged into a full long term: an item of a cluster.
	cfg := DefaultConfig(testDim)
	cfg.LongTermCap = 1
	s = New(cfg)
	inject("alpha fact", TierLongTerm, Injected{TierLongTerm, 1})
	inject("the promoted fact", TierShortTerm, Injected{TierShortTerm, 2})
	inject("the promoted fact", TierLongTerm, Injected{TierLongTerm, 1})
	inject("the promoted fact", TierShortTerm, Injected{TierLongTerm, 1})
	if c := s.ContextItems(5, true, 0); len(c) != 1 || c[0].Text != "alpha fact\nthe promoted fact" {
		t.Fatalf("%+v", c)
	}
	// A text that merely contains an item is not held: "alpha" is stored.
	inject("alpha", TierShortTerm, Injected{TierShortTerm, 2})
}
