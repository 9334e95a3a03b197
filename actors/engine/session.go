package engine

import (
	"fmt"
	"math"
	"time"
	"unsafe"

	semvec "github.com/semvec-go/semvec"
)

// The six conversation phases.
const (
	PhaseInitialization = "initialization"
	PhaseExploration    = "exploration"
	PhaseConvergence    = "convergence"
	PhaseResonance      = "resonance"
	PhaseStability      = "stability"
	PhaseInstability    = "instability"
)

// The three drift phases.
const (
	DriftStable   = "stable"
	DriftShifting = "shifting"
	DriftDrifted  = "drifted"
)

// Isolation verdicts reported in RunResult.Isolation.
const (
	VerdictFiltered    = "filtered"
	VerdictQuarantined = "quarantined"
	VerdictBlocked     = "blocked"
)

// blockState says what the next response belongs to when the latest message
// was stopped by the isolation filter.
const (
	blockNone     = ""         // the next response answers the pending question
	blockDropped  = "dropped"  // it answers a filtered/blocked message: discard it
	blockShadowed = "shadowed" // it answers a quarantined message: attach it to the shadow entry
)

// message is a buffered user message: the pending question of the next store.
// Its vector is kept as int8 codes like a memory key; they become the key of
// a "U: …" memory.
type message struct {
	text    string
	vec     qvec
	trigger bool // a resonance trigger fired on it
}

// Session is the semantic core of one conversation. It is not safe for
// concurrent use: one goroutine (the session actor) owns it.
type Session struct {
	cfg Config

	initialized bool
	state       []float32 // unit length once initialized
	turn        int       // accepted turns so far; the next turn's index
	phase       string
	fsm         float64

	betaHist, simHist, fsmHist, normHist, driftHist []float32
	phaseHist                                       []uint8 // phaseCode

	drift driftState

	lastTriggerTurn int // turn index of the last trigger match, -1 for none
	realign         int // turns of anchor realignment left

	pending      *message
	blocked      string // blockNone | blockDropped | blockShadowed
	lastResponse string // capped at MaxLastResponseChars

	tiers [numTiers][]*memory
	hkeys [numTiers][]uint64 // hashKey of each memory, parallel to tiers (findHash)
	slots [numTiers][]int16  // key slot of each memory, parallel to tiers (scoreMemories)

	keyArena  []int8    // every memory key's codes, Dim per slot (see slotCodes)
	keyNorm   []float32 // the norm of each slot's codes
	tokArena  []uint16  // every memory text's token hashes, maxMemTokens per slot (see lexical.go); nil when unused
	tokLen    []uint8   // the number of tokens in each slot
	tokSig    []uint64  // each slot's token signature (see signature)
	freeSlots []int16
	nextSeq   uint64

	triggers       []trigger
	anchors        [][]float32
	anchorWeights  []float64 // anchors[i]'s weight; nil while every weight is 1
	anchorCentroid []float32 // unit mean of anchors; nil without anchors
	anchorQ        qvec      // anchorCentroid quantised, for the retrieval bias

	iso    isolationPolicy
	shadow []shadowItem

	entities []entityEntry // sorted by key

	ref *verifyRef // state at the last export or import, for Verify
}

// New returns an empty session. It panics when cfg fails Validate; callers
// that take the dimension from a request validate it first.
func New(cfg Config) *Session {
	if err := cfg.Validate(); err != nil {
		panic(fmt.Sprintf("engine.New: invalid config: %v", err))
	}
	s := &Session{cfg: cfg}
	s.iso = isolationPolicy{level: LevelOpen, threshold: DefaultIsolationThreshold}
	s.resetConversation()
	return s
}

// resetConversation clears everything Reset clears.
func (s *Session) resetConversation() {
	s.initialized = false
	s.state = nil
	s.turn = 0
	s.phase = PhaseInitialization
	s.fsm = 0
	s.betaHist, s.simHist, s.fsmHist, s.normHist, s.driftHist = nil, nil, nil, nil, nil
	s.phaseHist = nil
	s.drift = driftState{phase: DriftStable}
	s.lastTriggerTurn = -1
	s.realign = 0
	s.pending = nil
	s.blocked = blockNone
	s.lastResponse = ""
	for i := range s.tiers {
		s.tiers[i] = nil
		s.hkeys[i] = nil
		s.slots[i] = nil
	}
	s.keyArena, s.keyNorm, s.freeSlots = nil, nil, nil
	s.tokArena, s.tokLen, s.tokSig = nil, nil, nil
	s.nextSeq = 0
	s.shadow = nil
	s.ref = nil
}

// Reset clears the conversation — state vector, turn counter, phase, fsm,
// histories, drift baseline, pending question, last response, all memories
// and the quarantine shadow buffer — and keeps the configuration the client
// set up explicitly: config, triggers, anchors, isolation policy and the
// literal cache (which has its own delete endpoint). The Verify reference is
// dropped.
func (s *Session) Reset() {
	s.resetConversation()
	// The entity sequence numbers must stay below nextSeq.
	for _, e := range s.entities {
		s.nextSeq = max(s.nextSeq, e.seq+1)
	}
}

// Config returns the session's configuration.
func (s *Session) Config() Config { return s.cfg }

// Dim returns the vector dimension.
func (s *Session) Dim() int { return s.cfg.Dim }

// Initialized reports whether the state vector has been set (by a first turn,
// SetStateVector or an import).
func (s *Session) Initialized() bool { return s.initialized }

// Turn returns the number of accepted turns (interaction_count). A RunResult
// reports the 0-based index of its own turn, so after the first Run, Turn()
// is 1 and that result's Turn was 0.
func (s *Session) Turn() int { return s.turn }

// Phase returns the current conversation phase.
func (s *Session) Phase() string { return s.phase }

// LastDrift returns the drift score and phase of the last accepted turn and
// the time it was computed (zero before the first turn). Turns stopped by the
// isolation filter do not change it.
func (s *Session) LastDrift() (score float64, phase string, at time.Time) {
	return s.drift.last, s.drift.phase, s.drift.at
}

// StateVector returns a copy of the state vector; nil when not initialized.
func (s *Session) StateVector() []float32 { return cloneV(s.state) }

// SetStateVector replaces the state vector with a unit-length copy of v and
// marks the session initialized. Turn, histories and memories are untouched.
func (s *Session) SetStateVector(v []float32) error {
	if err := checkVec("state", v, s.cfg.Dim); err != nil {
		return err
	}
	s.state = unitCopy(v)
	s.initialized = true
	return nil
}

// BlendToward moves the state: state = normalise((1-w)·state + w·target).
// It is a no-op returning false when the state is not initialized or w is 0;
// otherwise changed reports whether any element changed. target must have the
// session's dimension; w must lie in [0, 1].
func (s *Session) BlendToward(target []float32, weight float64) (changed bool, err error) {
	if err := checkVec("embedding", target, s.cfg.Dim); err != nil {
		return false, err
	}
	if !finite(weight) || weight < 0 || weight > 1 {
		return false, semvec.FieldError("weight", "must be between 0 and 1")
	}
	if !s.initialized || weight == 0 {
		return false, nil
	}
	t := unitCopy(target)
	var n2 float64
	for i, x := range s.state {
		v := (1-weight)*float64(x) + weight*float64(t[i])
		n2 += v * v
	}
	if n2 == 0 || !finite(n2) {
		return false, nil // target exactly opposite the state at w = 0.5: keep the state
	}
	inv := 1 / math.Sqrt(n2)
	for i, x := range s.state {
		v := (1-weight)*float64(x) + weight*float64(t[i])
		if y := float32(v * inv); y != x {
			s.state[i] = y
			changed = true
		}
	}
	return changed, nil
}

// Metrics is a snapshot of the session's counters and bounded histories
// (oldest first). All slices are copies. The histories are stored as float32
// and reported as the float64 of their shortest decimal form.
type Metrics struct {
	Phase             string
	InteractionCount  int
	TotalMemories     int
	Tiers             map[string]int
	BetaHistory       []float64
	SimilarityHistory []float64
	FSMHistory        []float64
	NormHistory       []float64
	DriftHistory      []float64
	PhaseHistory      []string
	DriftScore        float64
	DriftPhase        string
}

// Metrics returns a copy of the session's metrics.
func (s *Session) Metrics() Metrics {
	tiers := make(map[string]int, numTiers)
	for t := range numTiers {
		tiers[tierName(t)] = len(s.tiers[t])
	}
	return Metrics{
		Phase:             s.phase,
		InteractionCount:  s.turn,
		TotalMemories:     s.TotalMemories(),
		Tiers:             tiers,
		BetaHistory:       widenAll(s.betaHist),
		SimilarityHistory: widenAll(s.simHist),
		FSMHistory:        widenAll(s.fsmHist),
		NormHistory:       widenAll(s.normHist),
		DriftHistory:      widenAll(s.driftHist),
		PhaseHistory:      phaseNames(s.phaseHist),
		DriftScore:        s.drift.last,
		DriftPhase:        s.drift.phase,
	}
}

// ApproxSize estimates the bytes the session holds: float32 vector
// capacities ×4 and int8 codes ×1 (codes shared by several holders count
// once), history capacities ×4, text lengths, struct sizes and rough
// per-entry overheads. Sessions report it to their registry's byte budget
// (SEMVEC_MAX_SESSION_MEMORY_MB) after every change: it allocates nothing.
func (s *Session) ApproxSize() int {
	const hdr = 24 // slice header
	vec := func(v []float32) int { return hdr + cap(v)*4 }
	codes := func(q qvec) int { return hdr + 8 + cap(q.k) }
	n := 400 // the struct itself, roughly
	n += vec(s.state)
	for _, h := range [][]float32{s.betaHist, s.simHist, s.fsmHist, s.normHist, s.driftHist} {
		n += cap(h) * 4
	}
	n += cap(s.phaseHist)
	n += cap(s.drift.recent) * (hdr + 8)
	for _, q := range s.drift.recent {
		n += cap(q.k)
	}
	if s.pending != nil {
		n += 48 + len(s.pending.text) + codes(s.pending.vec)
	}
	n += len(s.lastResponse)
	// Memory keys live in the arena, counted once.
	n += 3*hdr + cap(s.keyArena) + cap(s.keyNorm)*4 + cap(s.freeSlots)*2
	n += 3*hdr + cap(s.tokArena)*2 + cap(s.tokLen) + cap(s.tokSig)*8
	for t, tier := range s.tiers {
		n += cap(tier)*8 + cap(s.hkeys[t])*8 + cap(s.slots[t])*2
		for _, m := range tier {
			n += memoryStructSize + len(m.hash) + len(m.text)
		}
	}
	for _, t := range s.triggers {
		n += 64 + len(t.keyword) + len(t.lower) + vec(t.embedding)
	}
	for _, a := range s.anchors {
		n += vec(a)
	}
	n += 8 * cap(s.anchorWeights)
	n += vec(s.anchorCentroid) + cap(s.anchorQ.k)
	for _, v := range s.iso.exclusion {
		n += vec(v)
	}
	for _, v := range s.iso.allowlist {
		n += vec(v)
	}
	n += cap(s.shadow) * shadowItemSize
	for _, sh := range s.shadow {
		n += len(sh.text) + len(sh.answer) + cap(sh.vec.k) + cap(sh.answerVec.k)
	}
	n += cap(s.entities) * 136
	for _, e := range s.entities {
		n += len(e.Key) + len(e.Kind) + len(e.Value) + len(e.Context) + cap(e.toks)*8
	}
	if s.ref != nil {
		n += vec(s.ref.state) + cap(s.ref.entries)*refEntrySize
		// Its keys cost nothing more while they lie in the key arena,
		// counted above (the keys of live memories, or slots freed since);
		// the others (a detached copy, a key decoded apart, a key in an
		// arena since replaced) count their codes: no two entries share
		// codes outside the arena.
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(s.keyArena)))
		hi := lo + uintptr(cap(s.keyArena))
		for _, e := range s.ref.entries {
			if c := cap(e.key.k); c > 0 {
				if p := uintptr(unsafe.Pointer(unsafe.SliceData(e.key.k))); p < lo || p >= hi {
					n += c
				}
			}
		}
	}
	return n
}

// Struct sizes on 64-bit platforms, for ApproxSize (checked by a test).
const (
	memoryStructSize = 144
	shadowItemSize   = 120
	refEntrySize     = 48
)
