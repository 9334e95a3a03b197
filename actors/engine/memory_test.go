package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec/vecmath"
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
	total, err := s.InjectMemory(InjectInput{Text: "Kubernetes runs containers in pods.", Embedding: emb("Kubernetes runs containers in pods."),
		Tier: TierMediumTerm, AccessCount: 3, Now: t0})
	if err != nil || total != 1 {
		t.Fatal(total, err)
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
	total, _ = s.InjectMemory(InjectInput{Text: "alpha two", Embedding: noisy(r, a, 0.3), Tier: TierLongTerm, AccessCount: 2})
	if total != 2 {
		t.Fatalf("total %d, want 2 clusters", total)
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

// mergeText with the cluster's plain flag (the fast length check) answers
// exactly as the character count does.
func TestMergeTextPlainFlagMatchesRuneCount(t *testing.T) {
	clusters := []string{
		"", "abc", "deploy the web tier", "a...", "ab...", "abcdef...", "ünïcode text...", "x\ny...",
		strings.Repeat("a", 597) + "...", strings.Repeat("é", 597) + "...", strings.Repeat("a", 598) + "...",
	}
	items := []string{"abc", "new item", "Deploy the WEB tier", "é"}
	for _, c := range clusters {
		for _, it := range items {
			for _, n := range []int{0, 3, 6, 9, 600, 601} {
				want := mergeText(c, false, it, n) // counts characters
				if got := mergeText(c, plainText(c), it, n); got != want {
					t.Fatalf("mergeText(%q, plain=%v, %q, %d) = %q, want %q", c, plainText(c), it, n, got, want)
				}
			}
		}
	}
}
