package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// longSession drives a session for n turns with synthetic messages that drift
// slowly between a handful of topics, each carrying an answer (inline pattern).
func longSession(t testing.TB, s *Session, n int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	topics := make([][]float32, 6)
	for i := range topics {
		topics[i] = randUnit(r, s.Dim())
	}
	for i := range n {
		topic := topics[(i/25)%len(topics)]
		in := RunInput{
			Message:               fmt.Sprintf("question %d about topic %d with some words", i, (i/25)%len(topics)),
			MessageVec:            noisy(r, topic, 1.5),
			Response:              fmt.Sprintf("answer %d: a moderately long explanation that an LLM could have given for this question, with detail", i),
			ResponseVec:           noisy(r, topic, 1.5),
			ShortCircuitThreshold: 0.85,
			Now:                   t0.Add(time.Duration(i) * time.Second),
		}
		if _, err := s.Run(in); err != nil {
			t.Fatalf("turn %d: %v", i, err)
		}
	}
}

// footprintCeiling is the most a session without triggers, anchors,
// isolation vectors, shadow entries or entities can hold under cfg, in the
// units of ApproxSize.
func footprintCeiling(cfg Config) int {
	mems := cfg.ShortTermCap + cfg.MediumTermCap + cfg.LongTermCap
	key := cfg.Dim*4 + 24
	n := 400 + key + mems*4                     // struct, state, scores
	n += 5*cfg.HistoryLen*8 + cfg.HistoryLen*16 // histories
	n += driftRecentCap * (key + 24)            // recent ring
	n += 48 + cfg.MaxStoredChars*4 + key        // pending (4 bytes per char worst case)
	n += cfg.MaxLastResponseChars * 4           // last response
	n += mems * (8 + 160 + key)                 // memories without text
	n += (mems + 1) * (2*maxMemTokens + 9)      // token arena
	n += (cfg.ShortTermCap + cfg.MediumTermCap) * cfg.MaxStoredChars * 4
	n += cfg.LongTermCap * cfg.LongTermTextChars * 4 // long-term texts
	return n
}

// TestFootprintLevelsOff checks that a session's size is bounded whatever the
// turn count: it stops growing once the tiers are full (turn 5,000 ≈ turn 500)
// and never exceeds the configured ceiling.
func TestFootprintLevelsOff(t *testing.T) {
	s := newTestSession(t)
	ceiling := footprintCeiling(s.Config())
	keys := (15 + 30 + 20) * (testDim + 32) // int8 codes, header and norm
	sizes := map[int]int{}
	done := 0
	for _, n := range []int{100, 500, 5000} {
		longSession(t, s, n-done, uint64(n))
		done = n
		sizes[n] = s.ApproxSize()
		t.Logf("turn %5d: ~%d bytes (%.1f KiB, memory keys %.1f KiB), %d memories; ceiling %.1f KiB",
			n, sizes[n], float64(sizes[n])/1024, float64(keys)/1024, s.TotalMemories(), float64(ceiling)/1024)
		if sizes[n] > ceiling {
			t.Errorf("turn %d: ~%d bytes above the ceiling %d", n, sizes[n], ceiling)
		}
	}
	if d := sizes[5000] - sizes[500]; d > sizes[500]/10 || d < -sizes[500]/10 {
		t.Errorf("size does not level off: %d at 500 turns, %d at 5000", sizes[500], sizes[5000])
	}
}

// heapWorstText is n characters of distinct four-byte words (every character
// a four-byte rune, every word a new token): the most bytes and tokens a
// text of n characters can carry.
func heapWorstText(r *rand.Rand, n int) string {
	b := make([]rune, 0, n)
	for len(b) < n {
		if len(b)%6 == 5 {
			b = append(b, ' ')
			continue
		}
		b = append(b, rune(0x1F300+r.IntN(0x2FF)))
	}
	return string(b)
}

// worstSessionBytes is the documented bound on the heap one session can
// hold at the defaults and 384 dimensions, every cap filled with the
// largest items (docs/sessions.md, "Per-session memory bound"; README,
// SEMVEC_MAX_SESSIONS).
const worstSessionBytes = 8 << 20

// TestFootprintWorstCase fills every cap of a session with the items that
// take the most heap (texts of four-byte characters at their maximum
// length, distinct tokens throughout; fullSession fills them with the
// texts whose encoding is longest instead): 256 entities, 64 triggers, anchors,
// exclusion and allowlist vectors each, 64 quarantined messages, every
// memory tier. The heap it holds is what SEMVEC_MAX_SESSIONS multiplies in
// the worst case, far above a typical session's ~113 KiB of RSS.
func TestFootprintWorstCase(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 13))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newTestSession(t)
	cfg := s.Config()
	now := t0
	vec := func() []float32 { return randUnit(r, cfg.Dim) }
	for i := range cfg.MaxEntities {
		if _, err := s.PutEntity(Entity{Key: fmt.Sprintf("k%03d_", i) + heapWorstText(r, maxEntityKeyChars-5), Kind: "function",
			Value: heapWorstText(r, maxEntityValueChars), Context: heapWorstText(r, maxEntityContextChars)}); err != nil {
			t.Fatalf("entity %d: %v", i, err)
		}
	}
	for i := range cfg.MaxTriggers {
		tr := Trigger{Keyword: heapWorstText(r, maxTriggerKeywordChars)} // a keyword or an embedding: as large
		if i%2 == 0 {
			tr = Trigger{Embedding: vec()}
		}
		if _, err := s.AddTrigger(tr); err != nil {
			t.Fatalf("trigger %d: %v", i, err)
		}
	}
	for i := range cfg.MaxAnchors {
		if _, err := s.AddAnchor(vec()); err != nil {
			t.Fatalf("anchor %d: %v", i, err)
		}
	}
	// Memories: every tier full of the longest texts.
	for i := range cfg.ShortTermCap + cfg.MediumTermCap + 2*cfg.LongTermCap {
		tier := "medium_term"
		if i >= cfg.ShortTermCap+cfg.MediumTermCap {
			tier = "long_term"
		}
		now = now.Add(time.Second)
		if _, err := s.InjectMemory(InjectInput{Text: heapWorstText(r, cfg.MaxStoredChars), Embedding: vec(), Tier: tier, Now: now}); err != nil {
			t.Fatalf("memory %d: %v", i, err)
		}
	}
	for range 3 * cfg.ShortTermCap {
		now = now.Add(time.Second)
		if _, err := s.Run(RunInput{Message: heapWorstText(r, cfg.MaxStoredChars), MessageVec: vec(),
			Response: heapWorstText(r, cfg.MaxStoredChars), ResponseVec: vec(), ShortCircuitThreshold: 0.85, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	// Quarantine: every message matches an exclusion vector.
	excl, allow := make([][]float32, cfg.MaxIsolationVectors), make([][]float32, cfg.MaxIsolationVectors)
	for i := range excl {
		excl[i], allow[i] = vec(), vec()
	}
	if err := s.SetIsolation(IsolationPolicy{Level: LevelQuarantine, Exclusion: excl, Allowlist: allow}); err != nil {
		t.Fatal(err)
	}
	for i := range cfg.ShadowCap {
		now = now.Add(time.Second)
		if _, err := s.Run(RunInput{Message: heapWorstText(r, cfg.MaxStoredChars), MessageVec: excl[i%len(excl)],
			Response: heapWorstText(r, cfg.MaxStoredChars), ResponseVec: vec(), ShortCircuitThreshold: 0.85, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	if s.EntityCount() != cfg.MaxEntities || s.TriggerCount() != cfg.MaxTriggers || s.QuarantineCount() != cfg.ShadowCap ||
		s.TotalMemories() < cfg.ShortTermCap+cfg.MediumTermCap+cfg.LongTermCap-1 {
		t.Fatalf("caps not filled: %d entities, %d triggers, %d quarantined, %d memories",
			s.EntityCount(), s.TriggerCount(), s.QuarantineCount(), s.TotalMemories())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(s)
	t.Logf("a session with every cap filled holds %.2f MiB of heap (bound %d MiB)", float64(held)/(1<<20), worstSessionBytes>>20)
	if held > worstSessionBytes {
		t.Errorf("a session with every cap filled holds %d bytes, above the documented %d", held, worstSessionBytes)
	}
	// The byte budget (SEMVEC_MAX_SESSION_MEMORY_MB) counts ApproxSize: it
	// must not count much less than the heap the session holds.
	if approx := int64(s.ApproxSize()); approx < held*3/4 {
		t.Errorf("ApproxSize says %d bytes for a session holding %d", approx, held)
	}
	// Its export and its snapshot load back: the shape bounds of a
	// state_dict (exactKeys) are far above what it holds.
	d, _, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	arrays := bytes.Count(d, []byte("["))
	t.Logf("its export holds %d arrays (bound %d)", arrays, maxSnapshotArrays)
	if arrays > maxSnapshotArrays/10 {
		t.Errorf("a full session's export holds %d arrays, too close to the bound %d", arrays, maxSnapshotArrays)
	}
	if _, err := Import(d); err != nil {
		t.Errorf("a full session's export does not import: %v", err)
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalBinary(b); err != nil {
		t.Errorf("a full session's snapshot does not load: %v", err)
	}
}

// A text padded with white space keeps, trimmed, none of its padding: the
// session holds what ApproxSize counts, so a client cannot hold memory
// past the byte budget (SEMVEC_MAX_SESSION_MEMORY_MB) by padding what it
// sends — at the API's limits (responses of 64,000 characters, messages of
// 32,000; U+3000 is white space of three bytes) each quarantined message's
// answer held ~190 KB that ApproxSize counted as a few bytes.
func TestFootprintPaddedTexts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pad := func(n int) string { return strings.Repeat("\u3000", n) }
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := newTestSession(t)
	cfg := s.Config()
	for i := range cfg.MaxTriggers {
		if _, err := s.AddTrigger(Trigger{Keyword: fmt.Sprintf("kw%d", i) + pad(4000)}); err != nil {
			t.Fatal(err)
		}
	}
	excl := randUnit(r, cfg.Dim)
	if err := s.SetIsolation(IsolationPolicy{Level: LevelQuarantine, Exclusion: [][]float32{excl}}); err != nil {
		t.Fatal(err)
	}
	now := t0
	for i := range cfg.ShadowCap + 1 {
		now = now.Add(time.Second)
		if _, err := s.Run(RunInput{Message: fmt.Sprintf("m%d", i) + pad(31990), MessageVec: excl,
			Response: fmt.Sprintf("a%d", i) + pad(63990), ResponseVec: randUnit(r, cfg.Dim), ShortCircuitThreshold: 0.85, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	// The pending question and the last answer.
	if err := s.SetIsolation(IsolationPolicy{Level: LevelOpen}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if _, err := s.Run(RunInput{Message: "question" + pad(31990), MessageVec: randUnit(r, cfg.Dim),
		Response: "answer" + pad(63990), ResponseVec: randUnit(r, cfg.Dim), ShortCircuitThreshold: 0.85, Now: now}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(s)
	approx := int64(s.ApproxSize())
	t.Logf("padded texts: %.2f MiB of heap, ApproxSize %.2f MiB, %d quarantined", float64(held)/(1<<20), float64(approx)/(1<<20), s.QuarantineCount())
	if s.QuarantineCount() != cfg.ShadowCap {
		t.Fatalf("%d quarantined, want %d", s.QuarantineCount(), cfg.ShadowCap)
	}
	if approx < held*3/4 {
		t.Errorf("ApproxSize says %d bytes for a session holding %d", approx, held)
	}
}

// ApproxSize runs after every change of every session (the byte budget):
// it allocates nothing, a Verify reference held or not (every session ever
// exported or imported holds one, in its snapshots too), and it counts the
// codes of the reference's keys once no arena holds them (the arena grew
// away from them).
func TestApproxSizeWithReference(t *testing.T) {
	build := func(export bool) *Session {
		r := rand.New(rand.NewPCG(5, 6))
		s := newTestSession(t)
		now := t0
		inject := func(n int) {
			for range n {
				now = now.Add(time.Second)
				if _, err := s.InjectMemory(InjectInput{Text: fmt.Sprintf("fact %d", now.Unix()), Embedding: randUnit(r, testDim), Tier: "long_term", Now: now}); err != nil {
					t.Fatal(err)
				}
			}
		}
		inject(12)
		if export {
			if _, _, err := s.Export(); err != nil { // the reference shares the arena's keys
				t.Fatal(err)
			}
			if allocs := testing.AllocsPerRun(100, func() { _ = s.ApproxSize() }); allocs != 0 {
				t.Errorf("ApproxSize with a Verify reference: %.0f allocations", allocs)
			}
		}
		inject(40) // the arena grows away from them
		return s
	}
	plain, exported := build(false), build(true)
	if exported.TotalMemories() != plain.TotalMemories() || plain.TotalMemories() < 12 {
		t.Fatalf("%d and %d memories", plain.TotalMemories(), exported.TotalMemories())
	}
	// The reference: its state (absent: not initialised), its entries, and
	// the codes of its 12 keys.
	if d := exported.ApproxSize() - plain.ApproxSize(); d < 12*testDim {
		t.Errorf("the reference counts %d bytes, under its keys' %d", d, 12*testDim)
	}
}

// BenchmarkApproxSize is the cost of the size report a session makes after
// every change (SEMVEC_MAX_SESSION_MEMORY_MB): a 100-turn conversation.
func BenchmarkApproxSize(b *testing.B) {
	s := newTestSession(b)
	longSession(b, s, 100, 1)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.ApproxSize()
	}
}
