package engine

import "math"

// Phase and FSM constants (see doc.go, "Phases").
const (
	initializationTurns = 10   // turn indices 0..10 are initialization
	fsmKeep             = 0.8  // fsm = 0.8·fsm + 0.2·instant
	stabilityFSM        = 0.7  // stability needs fsm above this ...
	stabilitySteady     = 0.05 // ... changing less than this over 3 turns
	resonanceSim        = 0.9  // a turn this similar to the state resonates
	resonanceTurns      = 3    // a trigger keeps resonance for this many turns
	instabilityMean     = 0.4  // mean drift of the last 3 turns that means instability
	convergenceRise     = 0.05 // mean similarity rise (last 3 vs the 3 before)
)

// instantFSM is one turn's stability reading: the blend norm (how much the
// update kept of both state and input) times how similar they were.
func instantFSM(norm, sim float64) float64 {
	return clamp(math.Min(norm, 1)*(0.5+0.5*sim), 0, 1)
}

// nextPhase decides the phase of turn index t after its histories were
// updated. Rules in priority order: initialization while t <= 10; instability
// when this turn drifted or the last 3 drift scores average >= 0.4;
// resonance when a trigger fired in the last 3 turns or sim >= 0.9; stability
// when fsm > 0.7 and moved less than 0.05 over the last 3 turns; convergence
// when the mean similarity of the last 3 turns exceeds that of the 3 before by
// more than 0.05; exploration otherwise.
func (s *Session) nextPhase(t int, sim, drift float64) string {
	switch {
	case t <= initializationTurns:
		return PhaseInitialization
	case drift >= DriftDetectedAt || tailMean(s.driftHist, 3) >= instabilityMean:
		return PhaseInstability
	case (s.lastTriggerTurn >= 0 && t-s.lastTriggerTurn < resonanceTurns) || sim >= resonanceSim:
		return PhaseResonance
	case s.fsm > stabilityFSM && s.steadyFSM():
		return PhaseStability
	case s.risingSimilarity():
		return PhaseConvergence
	default:
		return PhaseExploration
	}
}

func (s *Session) steadyFSM() bool {
	h := s.fsmHist
	if len(h) < 4 {
		return false
	}
	return math.Abs(float64(h[len(h)-1])-float64(h[len(h)-4])) < stabilitySteady
}

func (s *Session) risingSimilarity() bool {
	h := s.simHist
	if len(h) < 6 {
		return false
	}
	recent := tailMean(h, 3)
	before := tailMean(h[:len(h)-3], 3)
	return recent > 0 && recent > before+convergenceRise
}

// phaseHint is the short line under the context header.
func phaseHint(phase string) string {
	switch phase {
	case PhaseInitialization:
		return "Early conversation: little prior context yet."
	case PhaseExploration:
		return "Exploring: use prior context selectively."
	case PhaseConvergence:
		return "Converging: rely on the prior context below."
	case PhaseResonance:
		return "Strong match with prior context: keep the answer brief."
	case PhaseStability:
		return "Stable topic: the prior context is reliable."
	case PhaseInstability:
		return "Topic shift: ask the user to clarify if unsure."
	}
	return ""
}

func validPhase(p string) bool {
	_, ok := phaseCode(p)
	return ok
}

// phaseCode is the one-byte code of a phase in the phase history.
func phaseCode(p string) (uint8, bool) {
	for c := range uint8(numPhases) {
		if phaseName(c) == p {
			return c, true
		}
	}
	return 0, false
}

const numPhases = 6

// phaseName is the phase of a phaseCode.
func phaseName(c uint8) string {
	switch c {
	case 0:
		return PhaseInitialization
	case 1:
		return PhaseExploration
	case 2:
		return PhaseConvergence
	case 3:
		return PhaseResonance
	case 4:
		return PhaseStability
	}
	return PhaseInstability
}

// phaseNames decodes a phase history; nil for an empty one.
func phaseNames(h []uint8) []string {
	if len(h) == 0 {
		return nil
	}
	out := make([]string, len(h))
	for i, c := range h {
		out[i] = phaseName(c)
	}
	return out
}
