package engine

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	semvec "github.com/semvec-go/semvec"
)

// wantErr checks an error's kind and (for validation errors) field.
func wantErr(t *testing.T, err error, kind semvec.Kind, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %v error on %q, got nil", kind, field)
	}
	var e *semvec.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *semvec.Error", err)
	}
	if e.Kind != kind || (field != "" && e.Field != field) {
		t.Fatalf("got kind %v field %q (%v), want kind %v field %q", e.Kind, e.Field, err, kind, field)
	}
}

// frozen returns the session's full binary snapshot, to check "unchanged".
func frozen(t *testing.T, s *Session) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig(384).Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig(0)
	wantErr(t, bad.Validate(), semvec.KindValidation, "dimension")
	c := DefaultConfig(384)
	c.ContextBudgetChars = 10
	wantErr(t, c.Validate(), semvec.KindValidation, "context_budget_chars")
	defer func() {
		if recover() == nil {
			t.Error("New with an invalid config did not panic")
		}
	}()
	New(bad)
}

func TestRunValidationChangesNothing(t *testing.T) {
	s := newTestSession(t)
	converse(t, s, k8sConversation[:3], "", 0)
	before := frozen(t, s)
	good := emb("hello")
	nan := append([]float32(nil), good...)
	nan[3] = float32(math.NaN())
	cases := []struct {
		name  string
		in    RunInput
		field string
	}{
		{"empty message", RunInput{Message: "  ", MessageVec: good}, "message"},
		{"short vector", RunInput{Message: "hi", MessageVec: good[:10]}, "message"},
		{"nan", RunInput{Message: "hi", MessageVec: nan}, "message"},
		{"zero", RunInput{Message: "hi", MessageVec: make([]float32, testDim)}, "message"},
		{"response without vector", RunInput{Message: "hi", MessageVec: good, Response: "answer"}, "response"},
		{"threshold", RunInput{Message: "hi", MessageVec: good, ShortCircuitThreshold: 1.5}, "short_circuit_threshold"},
		{"threshold nan", RunInput{Message: "hi", MessageVec: good, ShortCircuitThreshold: math.NaN()}, "short_circuit_threshold"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Run(c.in)
			wantErr(t, err, semvec.KindValidation, c.field)
			if !bytes.Equal(before, frozen(t, s)) {
				t.Fatal("session changed on error")
			}
		})
	}
	_, err := s.Run(RunInput{Message: "hi", MessageVec: good[:5]})
	if !strings.Contains(err.Error(), "expected 384 dimensions, got 5") {
		t.Errorf("detail: %v", err)
	}
}

func TestOtherMethodsValidateWithoutChange(t *testing.T) {
	s := newTestSession(t)
	converse(t, s, k8sConversation[:3], "", 0)
	before := frozen(t, s)
	short := make([]float32, 3)
	checks := []struct {
		name  string
		err   error
		kind  semvec.Kind
		field string
	}{
		{"store", third(s.Store("", emb("x"), t0)), semvec.KindValidation, "response"},
		{"store vec", third(s.Store("x", short, t0)), semvec.KindValidation, "response"},
		{"pair", second(s.StorePair("q", emb("q"), "", emb("a"), t0)), semvec.KindValidation, "answer"},
		{"state", s.SetStateVector(short), semvec.KindValidation, "state"},
		{"blend weight", second(s.BlendToward(emb("x"), 2)), semvec.KindValidation, "weight"},
		{"blend vec", second(s.BlendToward(short, 0.5)), semvec.KindValidation, "embedding"},
		{"trigger both", second(s.AddTrigger(Trigger{Keyword: "k", Embedding: emb("k")})), semvec.KindValidation, "keyword"},
		{"trigger none", second(s.AddTrigger(Trigger{})), semvec.KindValidation, "keyword"},
		{"trigger threshold", second(s.AddTrigger(Trigger{Keyword: "k", Threshold: 2})), semvec.KindValidation, "threshold"},
		{"anchor", second(s.AddAnchor(short)), semvec.KindValidation, "embedding"},
		{"isolation level", s.SetIsolation(IsolationPolicy{Level: "open"}), semvec.KindValidation, "level"},
		{"isolation threshold", s.SetIsolation(IsolationPolicy{Level: LevelFilter, Threshold: -1}), semvec.KindValidation, "similarity_threshold"},
		{"isolation vec", s.SetIsolation(IsolationPolicy{Level: LevelFilter, Exclusion: [][]float32{emb("ok"), short}}), semvec.KindValidation, "exclusion_embeddings.1"},
		{"inject tier", second(s.InjectMemory(InjectInput{Text: "t", Embedding: emb("t"), Tier: "forever"})), semvec.KindValidation, "tier"},
		{"inject importance", second(s.InjectMemory(InjectInput{Text: "t", Embedding: emb("t"), Importance: 11})), semvec.KindValidation, "importance"},
		{"inject access", second(s.InjectMemory(InjectInput{Text: "t", Embedding: emb("t"), AccessCount: -1})), semvec.KindValidation, "access_count"},
		{"inject text", second(s.InjectMemory(InjectInput{Text: " ", Embedding: emb("t")})), semvec.KindValidation, "text"},
		{"entity kind", second(s.PutEntity(Entity{Key: "k", Kind: "macro", Value: "v"})), semvec.KindInvalid, ""},
		{"entity key", second(s.PutEntity(Entity{Kind: "type", Value: "v"})), semvec.KindValidation, "key"},
		{"verify empty", second(s.Verify(nil, nil, 0)), semvec.KindValidation, "test_embeddings"},
		{"verify dims", second(s.Verify([][]float32{short}, nil, 0)), semvec.KindValidation, "test_embeddings.0"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, c.err, c.kind, c.field)
		})
	}
	if !bytes.Equal(before, frozen(t, s)) {
		t.Fatal("session changed on error")
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

func TestFirstTurn(t *testing.T) {
	s := newTestSession(t)
	res := run(t, s, "What is Kubernetes?", "", 0)
	if res.TopSimilarity != 0 || res.ShortCircuit || res.Turn != 0 || res.Phase != PhaseInitialization {
		t.Fatalf("first turn: %+v", res)
	}
	if res.DriftScore != 0 || res.DriftPhase != DriftStable || res.Isolation != "" {
		t.Fatalf("first turn drift: %+v", res)
	}
	if !strings.Contains(res.Context, "Relevant context: (none yet)") ||
		!strings.HasPrefix(res.Context, "[Semvec Context | Phase: initialization | Turn 0 | 0 memories]") {
		t.Fatalf("context:\n%s", res.Context)
	}
	if !s.Initialized() || s.Turn() != 1 || s.TotalMemories() != 0 {
		t.Fatalf("after first turn: init %v turn %d mem %d", s.Initialized(), s.Turn(), s.TotalMemories())
	}
	if n := math.Abs(float64(norm32(s.StateVector())) - 1); n > 1e-5 {
		t.Fatalf("state not unit: %v", n)
	}
}

func norm32(v []float32) float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	return math.Sqrt(n)
}

func TestInlinePatternStoresPairs(t *testing.T) {
	s := newTestSession(t)
	res := converse(t, s, k8sConversation[:4], "", 0)
	if s.TotalMemories() != 3 {
		t.Fatalf("memories = %d, want 3 Q&A pairs", s.TotalMemories())
	}
	if res[3].Turn != 3 || s.Turn() != 4 {
		t.Fatalf("turns: %d / %d", res[3].Turn, s.Turn())
	}
	items := s.ContextItems(10, true, 0)
	for _, it := range items {
		if !strings.HasPrefix(it.Text, "Q: ") || !strings.Contains(it.Text, "\nA: ") {
			t.Errorf("not a Q&A memory: %q", it.Text)
		}
	}
	// The next /store pairs with the pending (fourth) question.
	total, stored, err := s.Store(k8sConversation[3].A, emb(k8sConversation[3].A), t0)
	if err != nil || total != 4 || !stored {
		t.Fatalf("store: %d %v %v", total, stored, err)
	}
	// Its answer brings three or more words no memory holds: importance 1
	// (information-based importance; 0.5 without it).
	h := hashText(qaText(k8sConversation[3].Q, k8sConversation[3].A))
	if m, ok := s.Memory(h); !ok || m.Tier != TierShortTerm || m.Importance != 1 {
		t.Fatalf("stored pair: %+v %v", m, ok)
	}
	// With nothing pending, an answer is stored alone.
	if total, stored, _ := s.Store("Another remark.", emb("Another remark."), t0); total != 5 || !stored {
		t.Fatalf("answer alone: total %d", total)
	}
	if _, ok := s.Memory(hashText("A: Another remark.")); !ok {
		t.Fatal("answer-only memory missing")
	}
}

func TestUnansweredQuestionIsKept(t *testing.T) {
	s := newTestSession(t)
	run(t, s, "first question about pods", "", 0)
	run(t, s, "second question about replicas", "", 1)
	if _, ok := s.Memory(hashText("U: first question about pods")); !ok {
		t.Fatal("unanswered question was lost")
	}
	if s.TotalMemories() != 1 {
		t.Fatalf("memories = %d", s.TotalMemories())
	}
}

func TestShortCircuitOnRepeatedQuestion(t *testing.T) {
	s := newTestSession(t)
	q, a := "How do I scale a deployment with kubectl?", "Use kubectl scale deployment web --replicas=5."
	if _, err := s.StorePair(q, emb(q), a, emb(a), t0); err != nil {
		t.Fatal(err)
	}
	res := run(t, s, q, "", 0)
	if !res.ShortCircuit || res.TopSimilarity < 0.85 {
		t.Fatalf("top %.3f short %v", res.TopSimilarity, res.ShortCircuit)
	}
	res = run(t, s, "What flour is best for sourdough bread?", "", 1)
	if res.ShortCircuit {
		t.Fatalf("unrelated question short-circuited: %.3f", res.TopSimilarity)
	}
}

func TestDedupMergesIdenticalText(t *testing.T) {
	s := newTestSession(t)
	q, a := "same question", "same answer"
	for i := range 3 {
		if _, err := s.StorePair(q, emb(q), a+strings.Repeat(" ", i), emb(a), t0.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if s.TotalMemories() != 1 {
		t.Fatalf("memories = %d", s.TotalMemories())
	}
	m, _ := s.Memory(hashText(qaText(q, a)))
	if m.AccessCount != 2 || !m.Timestamp.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("merged memory: %+v", m)
	}
}

func TestHashText(t *testing.T) {
	h := hashText("  Q: a\n\tA:  b ")
	if h != hashText("Q: a A: b") || len(h) != 16 {
		t.Fatalf("hash %q", h)
	}
	if h == hashText("Q: a A: c") {
		t.Fatal("different texts, same hash")
	}
}

func TestPhases(t *testing.T) {
	s := newTestSession(t)
	res := converse(t, s, k8sConversation, "", 0)
	for i, r := range res {
		want := i <= initializationTurns
		if (r.Phase == PhaseInitialization) != want {
			t.Errorf("turn %d phase %s", i, r.Phase)
		}
		if !validPhase(r.Phase) || r.Update.Phase != r.Phase {
			t.Errorf("turn %d: invalid phase %q / %q", i, r.Phase, r.Update.Phase)
		}
	}
	m := s.Metrics()
	if m.InteractionCount != 12 || len(m.PhaseHistory) != 12 || len(m.BetaHistory) != 12 || m.Phase != s.Phase() {
		t.Fatalf("metrics: %+v", m)
	}
	for i, b := range m.BetaHistory[1:] {
		if b < betaMin || b > betaMax {
			t.Errorf("beta[%d] = %v", i+1, b)
		}
	}
	for _, f := range m.FSMHistory {
		if f < 0 || f > 1 {
			t.Errorf("fsm %v", f)
		}
	}
	for _, n := range m.NormHistory {
		if n < 0 || n > maxNorm {
			t.Errorf("norm %v", n)
		}
	}
	// Histories stay bounded.
	longSession(t, s, 100, 3)
	m = s.Metrics()
	if len(m.SimilarityHistory) != 64 || len(m.PhaseHistory) != 64 {
		t.Fatalf("history lengths %d %d", len(m.SimilarityHistory), len(m.PhaseHistory))
	}
	if m.Tiers[TierShortTerm]+m.Tiers[TierMediumTerm]+m.Tiers[TierLongTerm] != m.TotalMemories {
		t.Fatalf("tiers %v total %d", m.Tiers, m.TotalMemories)
	}
}

func TestTriggerForcesBetaAndImportance(t *testing.T) {
	s := newTestSession(t)
	if n, err := s.AddTrigger(Trigger{Keyword: "CRITICAL"}); err != nil || n != 1 {
		t.Fatalf("add: %d %v", n, err)
	}
	if n, _ := s.AddTrigger(Trigger{Keyword: "critical"}); n != 1 {
		t.Fatalf("same keyword counted twice: %d", n)
	}
	if n, _ := s.AddTrigger(Trigger{Embedding: emb("database outage")}); n != 2 {
		t.Fatalf("embedding trigger: %d", n)
	}
	converse(t, s, k8sConversation[:12], "", 0)
	res := run(t, s, "This is critical: the pods of the deployment are all down", k8sConversation[11].A, 12)
	if res.Update.Beta != betaMin {
		t.Fatalf("beta %.3f, want %.2f", res.Update.Beta, betaMin)
	}
	if res.Phase != PhaseResonance {
		t.Fatalf("phase %s, want resonance", res.Phase)
	}
	run(t, s, "next", "Restart them.", 13)
	m, ok := s.Memory(hashText(qaText("This is critical: the pods of the deployment are all down", "Restart them.")))
	if !ok || m.Importance != triggerImportance {
		t.Fatalf("trigger memory: %+v %v", m, ok)
	}
	res = run(t, s, "database outage", "", 14)
	if res.Update.Beta != betaMin {
		t.Fatalf("embedding trigger did not fire: beta %.3f", res.Update.Beta)
	}
	if s.ClearTriggers() != 0 || s.TriggerCount() != 0 {
		t.Fatal("clear")
	}
	small := DefaultConfig(testDim)
	small.MaxTriggers = 1
	s2 := New(small)
	s2.AddTrigger(Trigger{Keyword: "a"})
	_, err := s2.AddTrigger(Trigger{Keyword: "b"})
	wantErr(t, err, semvec.KindConflict, "")
}

func TestAnchors(t *testing.T) {
	s := newTestSession(t)
	if sc := s.AnchorScore(); sc.Score != 0 || sc.Count != 0 || sc.DriftThreshold != 0.5 {
		t.Fatalf("empty: %+v", sc)
	}
	anchor := emb("kubernetes deployment pods replicas rollout kubectl service")
	if n, err := s.AddAnchor(anchor); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if sc := s.AnchorScore(); sc.Score != 0 || sc.Count != 1 {
		t.Fatalf("no state yet: %+v", sc)
	}
	run(t, s, "What flour is best for sourdough bread?", "", 0)
	sc := s.AnchorScore()
	if sc.Score >= 0.5 || sc.RealignmentRemaining != realignTurns {
		t.Fatalf("off-anchor state: %+v", sc)
	}
	before := cos(s.state, anchor)
	run(t, s, "How long should the dough proof?", "", 1)
	if s.AnchorScore().RealignmentRemaining != realignTurns-1 {
		t.Fatalf("realignment did not count down: %+v", s.AnchorScore())
	}
	// The pull moved the state towards the anchor compared to no anchor.
	plain := newTestSession(t)
	run(t, plain, "What flour is best for sourdough bread?", "", 0)
	run(t, plain, "How long should the dough proof?", "", 1)
	if cos(s.state, anchor) <= cos(plain.state, anchor) {
		t.Fatalf("no pull: %.3f vs %.3f (before %.3f)", cos(s.state, anchor), cos(plain.state, anchor), before)
	}
}

func TestStateVectorAndBlend(t *testing.T) {
	s := newTestSession(t)
	target := emb("some target text")
	if changed, err := s.BlendToward(target, 0.5); err != nil || changed {
		t.Fatalf("uninitialized blend: %v %v", changed, err)
	}
	if s.StateVector() != nil {
		t.Fatal("state before init")
	}
	if err := s.SetStateVector(emb("start")); err != nil || !s.Initialized() {
		t.Fatal(err)
	}
	v := s.StateVector()
	v[0] = 42 // a copy
	if s.state[0] == 42 {
		t.Fatal("StateVector leaked internal storage")
	}
	if changed, _ := s.BlendToward(target, 0); changed {
		t.Fatal("w = 0 changed the state")
	}
	c0 := cos(s.state, target)
	if changed, err := s.BlendToward(target, 0.3); err != nil || !changed {
		t.Fatal(changed, err)
	}
	if c1 := cos(s.state, target); c1 <= c0 || math.Abs(norm32(s.state)-1) > 1e-5 {
		t.Fatalf("blend: %.3f -> %.3f, norm %.6f", c0, c1, norm32(s.state))
	}
	if changed, _ := s.BlendToward(target, 1); !changed || cos(s.state, target) < 0.9999 {
		t.Fatal("w = 1 must land on the target")
	}
}

func TestResetKeepsConfiguration(t *testing.T) {
	s := newTestSession(t)
	s.AddTrigger(Trigger{Keyword: "urgent"})
	s.AddAnchor(emb("anchor"))
	s.SetIsolation(IsolationPolicy{Level: LevelFilter, Exclusion: [][]float32{emb("spam offer")}})
	s.PutEntity(Entity{Key: "cfg.Path", Kind: "path", Value: "/etc/app.yaml"})
	converse(t, s, k8sConversation[:5], "", 0)
	s.Export()
	s.Reset()
	if s.Initialized() || s.Turn() != 0 || s.TotalMemories() != 0 || s.Phase() != PhaseInitialization || s.pending != nil {
		t.Fatal("conversation state survived Reset")
	}
	if len(s.Metrics().BetaHistory) != 0 || s.ref != nil {
		t.Fatal("histories or verify reference survived Reset")
	}
	if s.TriggerCount() != 1 || s.AnchorScore().Count != 1 || s.Isolation().Level != LevelFilter || s.EntityCount() != 1 {
		t.Fatal("configuration lost on Reset")
	}
	res := run(t, s, "What is Kubernetes?", "", 0)
	if res.TopSimilarity != 0 || res.Turn != 0 {
		t.Fatalf("after reset: %+v", res)
	}
	// An export after Reset still imports (entity seq numbers stay valid).
	d, _, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Import(d); err != nil {
		t.Fatal(err)
	}
}
