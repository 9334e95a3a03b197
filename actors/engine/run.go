package engine

import (
	"math"
	"strings"
	"time"

	semvec "github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath"
)

// State-update constants (see doc.go, "State update").
const (
	betaBase       = 0.55
	betaGain       = 0.35
	betaMin        = 0.05
	betaMax        = 0.95
	maxNorm        = 1.2
	patternTopK    = 3
	patternMax     = 0.1 // α_pat = patternMax·clamp(best memory score, 0, 1)
	attentionTemp  = 0.1 // softmax temperature of the attention-weighted pull
	realignPull    = 0.15
	realignTurns   = 3
	AnchorDriftMin = 0.5 // AnchorScore.DriftThreshold
)

// RunInput is one /run turn with its texts already embedded.
type RunInput struct {
	Message     string
	MessageVec  []float32
	Response    string    // optional previous LLM answer ("inline pattern")
	ResponseVec []float32 // required iff Response is not blank
	// ShortCircuitThreshold is in [-1, 1]; the caller supplies the default 0.85.
	ShortCircuitThreshold float64
	Now                   time.Time
}

// UpdateMetrics are the per-turn scalars of the state update.
type UpdateMetrics struct {
	Similarity      float64 // cos(state, message) before the update
	Beta            float64 // share of the previous state kept
	PatternStrength float64 // α_pat, the pull towards retrieved memories
	FSM             float64 // field stability metric after the update, [0, 1]
	Norm            float64 // norm of the blended state before renormalisation, [0, 1.2]
	TopicSwitch     float64 // drift score when a topic switch sped up the update, else 0
	Novelty         float64 // 1 - max(similarity, top memory similarity), [0, 1]
	Phase           string
}

// RunResult is what one turn produces.
type RunResult struct {
	Context       string
	TopSimilarity float64
	ShortCircuit  bool
	DriftScore    float64
	DriftDetected bool
	DriftPhase    string // stable | shifting | drifted
	Turn          int    // 0-based index of this turn
	Phase         string
	Isolation     string // "" when the message passed; filtered | quarantined | blocked
	Update        UpdateMetrics
}

// Run processes one turn. On a validation error nothing changes. See doc.go
// ("Turn flow") for the order of the steps.
func (s *Session) Run(in RunInput) (RunResult, error) {
	if strings.TrimSpace(in.Message) == "" {
		return RunResult{}, semvec.FieldError("message", "must not be empty")
	}
	if err := checkVec("message", in.MessageVec, s.cfg.Dim); err != nil {
		return RunResult{}, err
	}
	hasResp := strings.TrimSpace(in.Response) != ""
	if hasResp {
		if err := checkVec("response", in.ResponseVec, s.cfg.Dim); err != nil {
			return RunResult{}, err
		}
	}
	th := in.ShortCircuitThreshold
	if !finite(th) || th < -1 || th > 1 {
		return RunResult{}, semvec.FieldError("short_circuit_threshold", "must be between -1.0 and 1.0")
	}
	now := canonTime(in.Now)
	msg := cleanText(in.Message)
	x := unitCopy(in.MessageVec)

	// (1) Isolation.
	verdict := s.iso.verdict(x)
	if verdict == VerdictBlocked {
		// LOCKDOWN: read-only. The response is dropped too.
		s.blocked = blockDropped
		return s.readOnlyResult(msg, x, th, verdict), nil
	}
	// (2) The response answers the previous message.
	if hasResp {
		s.acceptResponse(in.Response, unitCopy(in.ResponseVec), now)
	}
	if verdict != "" {
		s.blocked = blockDropped
		if verdict == VerdictQuarantined && s.cfg.ShadowCap > 0 {
			s.quarantine(msg, x, now)
			s.blocked = blockShadowed
		}
		return s.readOnlyResult(msg, x, th, verdict), nil
	}
	s.blocked = blockNone
	// (3) An unanswered pending question is stored alone.
	if s.pending != nil {
		s.storePending(nil, "", now)
	}
	// (4) Short-circuit against every memory key.
	scores := s.scoreMemories(x, false)
	top := maxScore(scores)
	// (5) Drift before the message joins the state.
	raw := s.driftRaw(x)
	drift := s.driftScore(raw)
	// (6) Fold the message into the state.
	trig := s.triggerMatch(msg, x)
	t := s.turn
	s.commitDrift(t, x, raw, drift, now)
	um := s.fold(x, trig, drift, top, scores)
	// (7) Buffer the message as the pending question.
	s.pending = &message{text: msg, vec: x, trigger: trig}
	// (8) Context block (this read counts as access).
	ctx := s.buildContext(msg, x, t, true)
	return RunResult{
		Context:       ctx,
		TopSimilarity: top,
		ShortCircuit:  top >= th,
		DriftScore:    drift,
		DriftDetected: drift >= DriftDetectedAt,
		DriftPhase:    driftPhase(drift),
		Turn:          t,
		Phase:         s.phase,
		Update:        um,
	}, nil
}

// readOnlyResult is the result for a message stopped by the isolation filter:
// numbers and context are computed without changing anything.
func (s *Session) readOnlyResult(msg string, x []float32, th float64, verdict string) RunResult {
	top := maxScore(s.scoreMemories(x, false))
	drift := s.driftScore(s.driftRaw(x))
	sim := 0.0
	if s.initialized {
		sim = cos(s.state, x)
	}
	return RunResult{
		Context:       s.buildContext(msg, x, s.turn, false),
		TopSimilarity: top,
		ShortCircuit:  top >= th,
		DriftScore:    drift,
		DriftDetected: drift >= DriftDetectedAt,
		DriftPhase:    driftPhase(drift),
		Turn:          s.turn,
		Phase:         s.phase,
		Isolation:     verdict,
		Update:        UpdateMetrics{Similarity: sim, FSM: s.fsm, Phase: s.phase},
	}
}

func maxScore(scores []float32) float64 {
	if len(scores) == 0 {
		return 0
	}
	m := scores[0]
	for _, sc := range scores[1:] {
		m = max(m, sc)
	}
	return float64(m)
}

// acceptResponse handles an LLM answer (inline in Run or via Store): it pairs
// it with the pending question, attaches it to a quarantined message, drops it
// when it answers a filtered one, or stores it alone.
func (s *Session) acceptResponse(resp string, rvec []float32, now time.Time) {
	resp = cleanText(resp)
	switch s.blocked {
	case blockDropped:
		s.blocked = blockNone
		return
	case blockShadowed:
		s.blocked = blockNone
		if n := len(s.shadow); n > 0 && s.shadow[n-1].answer == "" {
			s.shadow[n-1].answer = clipText(strings.TrimSpace(resp), s.cfg.MaxStoredChars)
			s.shadow[n-1].answerVec = rvec
		}
		return
	}
	if s.pending != nil {
		s.storePending(rvec, resp, now)
	} else {
		s.addMemory("A: "+strings.TrimSpace(resp), rvec, baseImportance, 0, tierShort, now)
	}
	s.lastResponse = clipText(strings.TrimSpace(resp), s.cfg.MaxLastResponseChars)
	s.pushRecent(rvec)
}

// storePending stores the pending question, with the answer when avec is not
// nil, and clears it.
func (s *Session) storePending(avec []float32, answer string, now time.Time) {
	p := s.pending
	s.pending = nil
	imp := baseImportance
	if p.trigger {
		imp = triggerImportance
	}
	if avec == nil {
		s.addMemory("U: "+strings.TrimSpace(p.text), p.vec, imp, 0, tierShort, now)
		return
	}
	s.addMemory(qaText(p.text, answer), qaKey(p.vec, avec, s.scratch()), imp, 0, tierShort, now)
}

func qaText(q, a string) string {
	return "Q: " + strings.TrimSpace(q) + "\nA: " + strings.TrimSpace(a)
}

// qaKey is normalise(q̂ + 0.3·â), so a paraphrase of the question finds it.
func qaKey(q, a []float32, buf []float64) []float32 {
	for i := range buf {
		buf[i] = float64(q[i]) + qaAnswerWeight*float64(a[i])
	}
	key := make([]float32, len(q))
	if !storeUnit(key, buf) {
		copy(key, q)
	}
	return key
}

// Store learns from an LLM response outside a turn: it is paired with the
// pending question (Q&A memory) or stored alone ("A: …"). It does not move
// the state vector or count as a turn. Under LOCKDOWN the response is dropped.
// It returns the total number of memories.
func (s *Session) Store(response string, responseVec []float32, now time.Time) (int, error) {
	if strings.TrimSpace(response) == "" {
		return 0, semvec.FieldError("response", "must not be empty")
	}
	if err := checkVec("response", responseVec, s.cfg.Dim); err != nil {
		return 0, err
	}
	if s.iso.level != LevelLockdown {
		s.acceptResponse(response, unitCopy(responseVec), canonTime(now))
	}
	return s.TotalMemories(), nil
}

// StorePair stores an explicit question/answer pair (cluster seeding). It
// bypasses the isolation filter and leaves the pending question alone.
func (s *Session) StorePair(question string, qVec []float32, answer string, aVec []float32, now time.Time) (int, error) {
	if strings.TrimSpace(question) == "" {
		return 0, semvec.FieldError("question", "must not be empty")
	}
	if strings.TrimSpace(answer) == "" {
		return 0, semvec.FieldError("answer", "must not be empty")
	}
	if err := checkVec("question", qVec, s.cfg.Dim); err != nil {
		return 0, err
	}
	if err := checkVec("answer", aVec, s.cfg.Dim); err != nil {
		return 0, err
	}
	q, a := unitCopy(qVec), unitCopy(aVec)
	s.addMemory(qaText(cleanText(question), cleanText(answer)), qaKey(q, a, s.scratch()), baseImportance, 0, tierShort, canonTime(now))
	return s.TotalMemories(), nil
}

// fold applies the state update for an accepted message x (unit length) with
// turn index s.turn, updates fsm, histories and phase, and advances the turn.
// scores are the memories' cosines to x in canonical order.
func (s *Session) fold(x []float32, trig bool, drift, top float64, scores []float32) UpdateMetrics {
	t := s.turn
	var um UpdateMetrics
	sim := 0.0
	if !s.initialized {
		s.state = cloneV(x)
		s.initialized = true
		um.Norm = 1
		um.Beta = 0
	} else {
		sim = cos(s.state, x)
		beta := clamp(betaBase+betaGain*sim*(0.5+0.5*s.fsm), betaMin, betaMax)
		if s.cfg.EnableTopicSwitch && drift >= DriftDetectedAt {
			beta = math.Max(betaMin, beta*(1-drift))
			um.TopicSwitch = drift
		}
		if trig {
			beta = betaMin
		}
		buf := s.scratch()
		for i := range buf {
			buf[i] = beta*float64(s.state[i]) + (1-beta)*float64(x[i])
		}
		um.PatternStrength = s.patternPull(buf, scores)
		if s.realign > 0 && s.anchorCentroid != nil {
			for i := range buf {
				buf[i] += realignPull * (float64(s.anchorCentroid[i]) - float64(s.state[i]))
			}
			s.realign--
		}
		var n2 float64
		for _, v := range buf {
			n2 += v * v
		}
		um.Norm = math.Min(math.Sqrt(n2), maxNorm)
		if !storeUnit(s.state, buf) {
			copy(s.state, x) // the blend cancelled out: restart from the message
		}
		um.Beta = beta
	}
	um.Similarity = sim
	um.Novelty = clamp(1-math.Max(sim, top), 0, 1)
	if trig {
		s.lastTriggerTurn = t
	}
	s.fsm = fsmKeep*s.fsm + (1-fsmKeep)*instantFSM(um.Norm, sim)
	um.FSM = s.fsm
	n := s.cfg.HistoryLen
	s.betaHist = pushF(s.betaHist, um.Beta, n)
	s.simHist = pushF(s.simHist, sim, n)
	s.fsmHist = pushF(s.fsmHist, s.fsm, n)
	s.normHist = pushF(s.normHist, um.Norm, n)
	s.driftHist = pushF(s.driftHist, drift, n)
	s.phase = s.nextPhase(t, sim, drift)
	s.phaseHist = pushS(s.phaseHist, s.phase, n)
	um.Phase = s.phase
	if len(s.anchors) > 0 && s.realign == 0 && s.anchorScore() < AnchorDriftMin {
		s.realign = realignTurns
	}
	s.turn++
	return um
}

// patternPull adds α_pat·(c − S) to buf, where c is the weighted centroid of
// the top-3 memories for the current message (plain score weights, or softmax
// weights with UseAttention) and α_pat = 0.1·clamp(best score, 0, 1).
// It returns α_pat (0 without memories or without a positive score).
func (s *Session) patternPull(buf []float64, scores []float32) float64 {
	if len(scores) == 0 {
		return 0
	}
	idx := topK(scores, patternTopK)
	best := float64(scores[idx[0]])
	alpha := patternMax * clamp(best, 0, 1)
	if alpha == 0 {
		return 0
	}
	var w [patternTopK]float64
	var sum float64
	if s.cfg.UseAttention {
		var sc [patternTopK]float64
		for j, i := range idx {
			sc[j] = float64(scores[i])
		}
		vecmath.Softmax(w[:len(idx)], sc[:len(idx)], attentionTemp)
		sum = 1
	} else {
		for j, i := range idx {
			w[j] = math.Max(0, float64(scores[i]))
			sum += w[j]
		}
	}
	for j, i := range idx {
		wj := alpha * w[j] / sum
		if wj == 0 {
			continue
		}
		key := s.memoryAt(i).key
		for d := range buf {
			buf[d] += wj * (float64(key[d]) - float64(s.state[d]))
		}
	}
	return alpha
}

// storeUnit writes buf normalised to unit length into dst as float32. It
// reports false (dst untouched) when buf has no direction.
func storeUnit(dst []float32, buf []float64) bool {
	var n2 float64
	for _, v := range buf {
		n2 += v * v
	}
	if n2 == 0 || !finite(n2) {
		return false
	}
	inv := 1 / math.Sqrt(n2)
	for i, v := range buf {
		dst[i] = float32(v * inv)
	}
	return true
}
