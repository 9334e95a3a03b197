package engine

import (
	"fmt"
	"math/rand/v2"
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
