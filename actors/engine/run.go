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

// RunInput is one /run turn with its texts already embedded. Run reads
// MessageVec and ResponseVec but never keeps them (it copies or quantises
// them): the HTTP layer reuses those buffers once the turn has answered.
type RunInput struct {
	Message     string
	MessageVec  []float32
	Response    string    // optional previous LLM answer ("inline pattern")
	ResponseVec []float32 // required iff Response is not blank
	// ShortCircuitThreshold is in [-1, 1]; the caller supplies the default 0.85.
	ShortCircuitThreshold float64
	Now                   time.Time
	// Rerank, when not empty, is a reranker's scores of RerankCandidates'
	// memories for this message: the context block shows its best
	// candidates first (see buildContext). At most MaxRerankScores.
	Rerank []RerankScore
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
	// The turn scores every memory key and ranks the tiers by retention:
	// start loading keys and memories now, while the input is validated and
	// quantised (hints; no effect on results).
	prefetchCodes(s.keyArena)
	for _, tier := range s.tiers {
		prefetchMemories(tier)
	}
	prefetchFloats(s.state)
	for _, r := range s.drift.recent {
		prefetchCodes(r.k)
	}
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
	if err := checkRerank(in.Rerank); err != nil {
		return RunResult{}, err
	}
	now := canonTime(in.Now)
	msg := cleanText(in.Message)
	// Scratch: the message (it is only kept as codes), its codes and the
	// memory scores.
	buf := getScratch()
	defer buf.put()
	x := unitInto(floatsBuf(&buf.x, len(in.MessageVec)), in.MessageVec)
	qbuf, sbuf := codesBuf(&buf.q, len(x)), buf.sc[:0]

	// (1) Isolation.
	verdict := s.iso.verdict(x)
	if verdict == VerdictBlocked {
		// LOCKDOWN: read-only. The response is dropped too.
		s.blocked = blockDropped
		return s.readOnlyResult(msg, x, th, verdict, qbuf, sbuf, buf), nil
	}
	// (2) The response answers the previous message.
	var free *message // a stored pending message, reusable for this one
	if hasResp {
		free = s.acceptResponse(in.Response, in.ResponseVec, now)
	}
	if verdict != "" {
		s.blocked = blockDropped
		if verdict == VerdictQuarantined && s.cfg.ShadowCap > 0 {
			s.quarantine(msg, x, now)
			s.blocked = blockShadowed
		}
		return s.readOnlyResult(msg, x, th, verdict, qbuf, sbuf, buf), nil
	}
	s.blocked = blockNone
	// (3) An unanswered pending question is stored alone.
	if s.pending != nil {
		s.storePending(nil, "", now)
	}
	// (4) Short-circuit against every memory key. These scores serve the
	// whole turn: top_similarity, the pattern pull and the context block.
	q := quantizeInto(qbuf, x)
	scores := s.scoreMemories(sbuf, q)
	top := maxScore(scores)
	// (5) Drift before the message joins the state.
	sim := s.stateCos(x)
	raw := s.driftRaw(sim, q)
	drift := s.driftScore(raw)
	// (6) Fold the message into the state.
	trig := s.triggerMatch(msg, x)
	t := s.turnIndex()
	s.commitDrift(t, q, raw, drift, now)
	um := s.fold(x, sim, trig, drift, top, scores)
	// (7) Buffer the message as the pending question.
	if free == nil || len(free.vec.k) != len(q.k) {
		free = &message{vec: q.clone()}
	} else {
		copy(free.vec.k, q.k)
		free.vec.n = q.n
	}
	free.text, free.trigger = pendingText(msg, s.cfg.MaxStoredChars), trig
	s.pending = free
	// (8) Context block (this read counts as access).
	s.addAnchorBias(scores)
	ctx := s.buildContext(msg, t, scores, in.Rerank, true, buf)
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
// numbers and context are computed without changing anything. qbuf and sbuf
// are scratch for the quantised message and the scores; buf is the call's
// scratch (buildContext uses its text buffer).
func (s *Session) readOnlyResult(msg string, x []float32, th float64, verdict string, qbuf []int8, sbuf []float32, buf *scratch) RunResult {
	q := quantizeInto(qbuf, x)
	scores := s.scoreMemories(sbuf, q)
	top := maxScore(scores)
	sim := s.stateCos(x)
	drift := s.driftScore(s.driftRaw(sim, q))
	s.addAnchorBias(scores)
	return RunResult{
		Context:       s.buildContext(msg, s.turn, scores, nil, false, buf),
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

// stateCos is cos(state, x), 0 without a state.
func (s *Session) stateCos(x []float32) float64 {
	if !s.initialized {
		return 0
	}
	return cos(s.state, x)
}

func maxScore(scores []float32) float64 {
	if len(scores) == 0 {
		return 0
	}
	m := scores[0]
	for _, sc := range scores[1:] {
		if sc > m { // scores are finite and never -0
			m = sc
		}
	}
	return float64(m)
}

// acceptResponse handles an LLM answer (inline in Run or via Store): it pairs
// it with the pending question, attaches it to a quarantined message, drops it
// when it answers a filtered one, or stores it alone. rvec is the raw
// (validated) response vector. It returns the pending message it stored, when
// that can be reused (see storePending).
func (s *Session) acceptResponse(resp string, rvec []float32, now time.Time) (free *message) {
	resp = cleanText(resp)
	switch s.blocked {
	case blockDropped:
		s.blocked = blockNone
		return nil
	case blockShadowed:
		s.blocked = blockNone
		if n := len(s.shadow); n > 0 && s.shadow[n-1].answer == "" {
			s.shadow[n-1].answer = own(clipText(strings.TrimSpace(resp), s.cfg.MaxStoredChars), resp)
			s.shadow[n-1].answerVec = quantize(rvec)
		}
		return nil
	}
	// Quantisation is scale-invariant: the raw vector needs no normalising.
	s.pushRecent(rvec)
	if s.pending != nil {
		free = s.storePending(rvec, resp, now)
	} else {
		s.addMemory("A: "+strings.TrimSpace(resp), quantize(rvec), baseImportance, 0, tierShort, now)
	}
	s.lastResponse = own(clipText(strings.TrimSpace(resp), s.cfg.MaxLastResponseChars), resp)
	return free
}

// storePending stores the pending question, with the answer when avec (any
// length) is not nil, and clears it. It returns the message when its codes
// were not kept (a Q&A memory has its own key), for reuse; nil otherwise.
func (s *Session) storePending(avec []float32, answer string, now time.Time) *message {
	p := s.pending
	s.pending = nil
	imp := baseImportance
	if p.trigger {
		imp = triggerImportance
	}
	var toks tokHashes
	if avec == nil {
		// The pending codes become the key. A statement's new tokens are
		// new information, as in a Q&A memory (infoImportance with no
		// question); a question alone keeps the base importance.
		if statement(p.text) {
			imp = s.infoImportance(imp, "", p.text, &toks)
		}
		s.addMemoryTokens("U: "+strings.TrimSpace(p.text), p.vec, imp, 0, tierShort, now, &toks)
		return nil
	}
	imp = s.infoImportance(imp, p.text, answer, &toks)
	buf := getScratch()
	s.addMemoryTokens(qaText(p.text, answer), qaKeyCodes(codesBuf(&buf.q, len(p.vec.k)), p.vec, avec), imp, 0, tierShort, now, &toks)
	buf.put()
	return p
}

// pendingText is the text kept for a pending question msg: msg itself when it
// has at most n characters; otherwise msg without white space at either end
// and, if that is still longer than n, clipped to n-3 characters (the first
// n-6 and "..."). storePending uses the question only trimmed, behind a
// three-character prefix, in a memory text clipped to n, so only its first
// n-6 characters, and whether more follow, can matter: the stored memory is
// the same, while the pending text (and so the snapshot) stays bounded by
// MaxStoredChars.
func pendingText(msg string, n int) string {
	if len(msg) <= n || runeLen(msg) <= n {
		return msg
	}
	t := strings.TrimSpace(msg)
	if runeLen(t) <= n {
		return own(t, msg)
	}
	return clipText(t, n-3)
}

func qaText(q, a string) string {
	return "Q: " + strings.TrimSpace(q) + "\nA: " + strings.TrimSpace(a)
}

// qaKey writes q̂ + 0.3·â into dst and returns it: the direction of the Q&A
// key, so a paraphrase of the question finds it. It is only quantised, which
// is scale-invariant, so it is not normalised. q must be unit length; a is
// scaled to unit length on the fly. dst may be q.
func qaKey(dst, q, a []float32) []float32 {
	a = a[:len(q)]
	na := float64(vecmath.Norm(a))
	if na == 0 || math.IsInf(na, 0) { // outside the float32 range: measure exactly
		na = 0
		for _, x := range a {
			na += float64(x) * float64(x)
		}
		na = math.Sqrt(na)
	}
	vecmath.AxpyF32(dst, q, qaAnswerWeight/na, a) // float32(q + wa·a)
	return dst[:len(q)]
}

// qaKeyQ quantises the Q&A key into codes (len(q) of them); the question's
// key when the sum has no direction. dst is float scratch and may be q.
func qaKeyQ(codes []int8, dst, q, a []float32) qvec {
	if key := quantizeInto(codes, qaKey(dst, q, a)); key.n > 0 {
		return key
	}
	return quantizeInto(codes, q)
}

// qaKeyCodes is qaKeyQ for a question held as codes: q̂ is dequantised.
func qaKeyCodes(codes []int8, q qvec, a []float32) qvec {
	buf := getScratch()
	defer buf.put()
	qf := q.unitInto(floatsBuf(&buf.f, len(q.k)))
	return qaKeyQ(codes, qf, qf, a)
}

// Store learns from an LLM response outside a turn: it is paired with the
// pending question (Q&A memory) or stored alone ("A: …"). It does not move
// the state vector or count as a turn. Under LOCKDOWN the response is dropped.
// It returns the total number of memories and whether the response was
// stored (false: dropped under LOCKDOWN, or an answer to a message the
// isolation filter stopped).
func (s *Session) Store(response string, responseVec []float32, now time.Time) (total int, stored bool, err error) {
	if strings.TrimSpace(response) == "" {
		return 0, false, semvec.FieldError("response", "must not be empty")
	}
	if err := checkVec("response", responseVec, s.cfg.Dim); err != nil {
		return 0, false, err
	}
	if s.iso.level != LevelLockdown {
		// An answer to a message the isolation filter stopped is dropped
		// (or kept in the shadow buffer), not stored as a memory.
		stored = s.blocked == blockNone
		s.acceptResponse(response, responseVec, canonTime(now))
	}
	return s.TotalMemories(), stored, nil
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
	q := unitCopy(qVec)
	question, answer = cleanText(question), cleanText(answer)
	var toks tokHashes
	imp := s.infoImportance(baseImportance, question, answer, &toks)
	s.addMemoryTokens(qaText(question, answer), qaKeyQ(make([]int8, len(q)), q, q, aVec), imp, 0, tierShort, canonTime(now), &toks)
	return s.TotalMemories(), nil
}

// fold applies the state update for an accepted message x (unit length) with
// turn index turnIndex(), updates fsm, histories and phase, and advances the
// turn. sim is stateCos(x); scores are the memories' cosines to x in
// canonical order.
func (s *Session) fold(x []float32, sim float64, trig bool, drift, top float64, scores []float32) UpdateMetrics {
	t := s.turnIndex()
	var um UpdateMetrics
	if !s.initialized {
		s.state = cloneV(x)
		s.initialized = true
		um.Norm = 1
		um.Beta = 0
	} else {
		beta := clamp(betaBase+betaGain*sim*(0.5+0.5*s.fsm), betaMin, betaMax)
		if s.cfg.EnableTopicSwitch && drift >= DriftDetectedAt {
			beta = math.Max(betaMin, beta*(1-drift))
			um.TopicSwitch = drift
		}
		if trig {
			beta = betaMin
		}
		var p pullPlan
		um.PatternStrength = s.patternPull(&p, scores)
		var anchor []float32
		if s.realign > 0 && s.anchorCentroid != nil {
			anchor = s.anchorCentroid
			s.realign--
		}
		buf := getScratch()
		v := float64sBuf(&buf.v, len(s.state))
		n2 := s.blend(v, beta, x, &p, anchor)
		um.Norm = math.Min(math.Sqrt(n2), maxNorm)
		if n2 == 0 || !finite(n2) {
			copy(s.state, x) // the blend cancelled out: restart from the message
		} else {
			inv := 1 / math.Sqrt(n2)
			for d, vd := range v {
				s.state[d] = float32(vd * inv)
			}
		}
		buf.put()
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
	s.betaHist = pushHist(s.betaHist, float32(um.Beta), n)
	s.simHist = pushHist(s.simHist, float32(sim), n)
	s.fsmHist = pushHist(s.fsmHist, float32(s.fsm), n)
	s.normHist = pushHist(s.normHist, float32(um.Norm), n)
	s.driftHist = pushHist(s.driftHist, float32(drift), n)
	s.phase = s.nextPhase(t, sim, drift)
	code, _ := phaseCode(s.phase)
	s.phaseHist = pushHist(s.phaseHist, code, n)
	um.Phase = s.phase
	if len(s.anchors) > 0 && s.realign == 0 && s.anchorScore() < AnchorDriftMin {
		s.realign = realignTurns
	}
	s.turn = t + 1
	return um
}

// turnIndex is the index of the next accepted turn: the turn counter, which
// stops at maxTurn (only a session imported near it gets there; a turn a
// millisecond would take 35,000 years). Once there, every further turn has
// index maxTurn-1 again and the counter stays, so the last trigger turn
// stays below it as the decoders require.
func (s *Session) turnIndex() int { return min(s.turn, maxTurn-1) }

// pullPlan is the pattern pull of one update: up to patternTopK memory keys
// with their weights.
type pullPlan struct {
	n   int
	w   [patternTopK]float64 // α_pat·weight of each key
	inv [patternTopK]float64 // 1/‖codes‖
	k   [patternTopK][]int8
}

// blend computes, element by element in float64,
//
//	v = β·S + (1−β)·x + Σ w_j·(k̂_j − S) [+ realignPull·(anchor − S)]
//
// into out (len(out) == len(S)) and returns Σv². The loops below are the
// same expression, specialised by the number of pulls.
func (s *Session) blend(out []float64, beta float64, x []float32, p *pullPlan, anchor []float32) float64 {
	st := s.state
	n := len(st)
	x, out = x[:n], out[:n]
	var n2 float64
	switch {
	case anchor != nil:
		anchor = anchor[:n]
		for d, sd := range st {
			S := float64(sd)
			v := beta*S + (1-beta)*float64(x[d])
			for j := 0; j < p.n; j++ {
				v += p.w[j] * (float64(p.k[j][d])*p.inv[j] - S)
			}
			v += realignPull * (float64(anchor[d]) - S)
			out[d] = v
			n2 += v * v
		}
	case p.n == 0:
		for d, sd := range st {
			S := float64(sd)
			v := beta*S + (1-beta)*float64(x[d])
			out[d] = v
			n2 += v * v
		}
	default:
		// Σ w_j·(k̂_j − S) = Σ (w_j/‖k_j‖)·k_j − (Σ w_j)·S. Fewer than
		// three pulls reuse the first key with weight 0 (integer codes: no
		// -0 terms), so one loop serves every count.
		a := beta
		var c [patternTopK]float64
		k := [patternTopK][]int8{p.k[0], p.k[0], p.k[0]}
		for j := 0; j < p.n; j++ {
			a -= p.w[j]
			c[j] = p.w[j] * p.inv[j]
			k[j] = p.k[j]
		}
		k0, k1, k2 := k[0][:n], k[1][:n], k[2][:n]
		c0, c1, c2 := c[0], c[1], c[2]
		for d, sd := range st {
			v := a*float64(sd) + (1-beta)*float64(x[d]) +
				(c0*float64(k0[d]) + c1*float64(k1[d]) + c2*float64(k2[d]))
			out[d] = v
			n2 += v * v
		}
	}
	return n2
}

// patternPull plans α_pat·(c − S), where c is the weighted centroid of the
// top-3 memories for the current message (plain score weights, or softmax
// weights with UseAttention) and α_pat = 0.1·clamp(best score, 0, 1).
// It returns α_pat (0 without memories or without a positive score).
func (s *Session) patternPull(p *pullPlan, scores []float32) float64 {
	if len(scores) == 0 {
		return 0
	}
	var idxArr [patternTopK]int
	idx := topKInto(idxArr[:0], scores, patternTopK)
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
		p.w[p.n], p.inv[p.n], p.k[p.n] = wj, key.inv(), key.k
		p.n++
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
