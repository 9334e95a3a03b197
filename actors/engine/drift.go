package engine

import (
	"math"
	"time"
)

// Drift constants (see doc.go, "Drift").
const (
	driftRecentCap  = 6    // recent context vectors (messages and answers) compared against
	driftRefFloor   = 0.1  // lower bound of the baseline
	driftRefCeil    = 0.6  // raw values above this do not raise the baseline further
	driftRefAlpha   = 0.25 // EMA weight of the newest raw similarity in the baseline
	driftRefScale   = 0.85 // score = 1 - raw/(0.85·ref): detected below 42.5% of the baseline
	driftWarmup     = 2    // turns with index < 2 report drift 0
	DriftDetectedAt = 0.5  // drift_detected iff score >= 0.5
	driftShiftingAt = 0.3
)

// driftState is the drift detector's memory.
type driftState struct {
	ref    float64   // EMA baseline of the raw similarity of accepted turns
	last   float64   // score of the last accepted turn
	phase  string    // its drift phase
	at     time.Time // when it was computed
	recent []qvec    // the last driftRecentCap context vectors, oldest first
}

// driftPhase maps a score to stable | shifting | drifted.
func driftPhase(score float64) string {
	switch {
	case score >= DriftDetectedAt:
		return DriftDrifted
	case score >= driftShiftingAt:
		return DriftShifting
	default:
		return DriftStable
	}
}

// driftRaw is how well message x fits the recent conversation: the best
// cosine of x against the state (sim, 0 without a state) and the recent
// context vectors, floored at 0. q is x quantised (the recent vectors are
// int8).
func (s *Session) driftRaw(sim float64, q qvec) float64 {
	raw := sim
	for _, r := range s.drift.recent {
		raw = math.Max(raw, float64(cosQ(r, q)))
	}
	return math.Max(raw, 0)
}

// driftScore is the drift of x relative to the baseline, computed read-only:
// clamp(1 - raw/(0.85·ref), 0, 1), and 0 during the warm-up turns.
func (s *Session) driftScore(raw float64) float64 {
	if s.turn < driftWarmup || s.drift.ref <= 0 {
		return 0
	}
	return clamp(1-raw/(driftRefScale*s.drift.ref), 0, 1)
}

// commitDrift records the drift of accepted turn t: it updates the baseline
// with raw, stores the score and remembers the message (quantised: q) as
// recent context.
func (s *Session) commitDrift(t int, q qvec, raw, score float64, now time.Time) {
	r := math.Min(raw, driftRefCeil)
	switch {
	case t == 0:
		// No state yet: raw carries no information.
	case s.drift.ref == 0:
		s.drift.ref = math.Max(driftRefFloor, r)
	default:
		s.drift.ref = math.Max(driftRefFloor, (1-driftRefAlpha)*s.drift.ref+driftRefAlpha*r)
	}
	s.drift.last = score
	s.drift.phase = driftPhase(score)
	s.drift.at = now
	s.pushRecentQ(q)
}

// pushRecentQ appends a copy of q to the recent context ring.
func (s *Session) pushRecentQ(q qvec) {
	copy(s.recentSlot(), q.k)
	s.drift.recent[len(s.drift.recent)-1].n = q.n
}

// pushRecent appends the unit vector v, quantised, to the recent context
// ring, dropping the oldest entry when full.
func (s *Session) pushRecent(v []float32) {
	k := s.recentSlot()
	s.drift.recent[len(s.drift.recent)-1] = quantizeInto(k, v)
}

// recentSlot appends an entry to the recent context ring and returns its
// codes to fill in: the codes of the entry dropped when the ring is full
// (they are not shared), new ones otherwise.
func (s *Session) recentSlot() []int8 {
	r := s.drift.recent
	var k []int8
	if len(r) >= driftRecentCap {
		k = r[0].k
		copy(r, r[1:])
		r = r[:len(r)-1]
	}
	if len(k) != s.cfg.Dim {
		k = make([]int8, s.cfg.Dim)
	}
	if len(r) == cap(r) {
		r = append(make([]qvec, 0, driftRecentCap), r...)
	}
	s.drift.recent = append(r, qvec{k: k})
	return k
}
