package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	semvec "github.com/semvec-go/semvec"
)

// SnapshotFormat identifies the state_dict layout. Format 3 added the memory
// policy to the config and each memory's decayed access weight and last
// access; Import and UnmarshalBinary still read format 2 (see upgradeV2).
const SnapshotFormat = "semvec-go/3"

// snapshotFormatV2 is the format before the memory policy.
const snapshotFormatV2 = "semvec-go/2"

// MaxSnapshotBytes bounds the input of Import and UnmarshalBinary.
const MaxSnapshotBytes = 32 << 20

// unitTolerance is how far from 1 the norm of a stored vector may be.
const unitTolerance = 1e-3

// maxTurn bounds every counter of a snapshot, so later arithmetic cannot
// overflow: the turn, each memory's access count, access weight and merged
// items, each entity's access count, and next_seq (which Import holds to it;
// see fromSnapshot). The decoders refuse more, and the engine never goes
// past it: the turn and the counts stop at it (see turnIndex and addCount),
// and the sequence numbers are renumbered before next_seq would pass it
// (see takeSeq). So every state a session reaches encodes within the
// decoders' limits, whatever state it was imported with.
const maxTurn = 1 << 50

// snapshot is the canonical state_dict. Field order is the encoding order; all
// slices are omitempty so nil and empty encode alike. Floats are float32 for
// vectors and histories and float64 for scalars; encoding/json writes both in
// their shortest round-tripping form, so decode→encode is bit-exact. Memory
// keys, the pending question's vector, recent context vectors and shadow
// vectors are int8 codes (arrays of integers in [-127, 127]).
type snapshot struct {
	Format          string        `json:"format"`
	Config          Config        `json:"config"`
	Initialized     bool          `json:"initialized"`
	State           []float32     `json:"state,omitempty"`
	Turn            int           `json:"turn"`
	Phase           string        `json:"phase"`
	FSM             float64       `json:"fsm"`
	History         historySnap   `json:"history"`
	Drift           driftSnap     `json:"drift"`
	LastTriggerTurn int           `json:"last_trigger_turn"`
	Realign         int           `json:"realignment_remaining"`
	Pending         *messageSnap  `json:"pending,omitempty"`
	Blocked         string        `json:"blocked_pending,omitempty"`
	LastResponse    string        `json:"last_response,omitempty"`
	NextSeq         uint64        `json:"next_seq"`
	Memories        []memorySnap  `json:"memories,omitempty"`
	Triggers        []triggerSnap `json:"triggers,omitempty"`
	Anchors         [][]float32   `json:"anchors,omitempty"`
	AnchorWeights   []float64     `json:"anchor_weights,omitempty"` // absent while every weight is 1
	Isolation       isolationSnap `json:"isolation"`
	Shadow          []shadowSnap  `json:"shadow,omitempty"`
	Entities        []entitySnap  `json:"entities,omitempty"`
	Checksum        string        `json:"checksum,omitempty"`
}

type historySnap struct {
	Beta       []float32 `json:"beta,omitempty"`
	Similarity []float32 `json:"similarity,omitempty"`
	FSM        []float32 `json:"fsm,omitempty"`
	Norm       []float32 `json:"norm,omitempty"`
	Drift      []float32 `json:"drift,omitempty"`
	Phase      []string  `json:"phase,omitempty"`
}

type driftSnap struct {
	Ref    float64   `json:"ref"`
	Last   float64   `json:"last"`
	Phase  string    `json:"phase"`
	At     time.Time `json:"at"`
	Recent [][]int8  `json:"recent,omitempty"`
}

type messageSnap struct {
	Text    string `json:"text"`
	Vec     []int8 `json:"vec,omitempty"`
	Trigger bool   `json:"trigger,omitempty"`
}

type memorySnap struct {
	Hash        string    `json:"hash"`
	Text        string    `json:"text"`
	Tier        string    `json:"tier"`
	Importance  float64   `json:"importance"`
	AccessCount int       `json:"access_count"`
	Timestamp   time.Time `json:"timestamp"`
	Turn        int       `json:"turn"`
	Seq         uint64    `json:"seq"`
	Merged      int       `json:"merged"`
	Key         []int8    `json:"key,omitempty"`
	// Format 3: the access weight at turn LastAccess (see memory.accW).
	AccessWeight float64 `json:"access_weight,omitempty"`
	LastAccess   int     `json:"last_access,omitempty"`
}

type triggerSnap struct {
	Keyword   string    `json:"keyword,omitempty"`
	Embedding []float32 `json:"embedding,omitempty"`
	Threshold float64   `json:"threshold"`
}

type isolationSnap struct {
	Level     string      `json:"level"`
	Threshold float64     `json:"threshold"`
	Exclusion [][]float32 `json:"exclusion,omitempty"`
	Allowlist [][]float32 `json:"allowlist,omitempty"`
}

type shadowSnap struct {
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
	Answer    string    `json:"answer,omitempty"`
	Vec       []int8    `json:"vec,omitempty"`
	AnswerVec []int8    `json:"answer_vec,omitempty"`
}

type entitySnap struct {
	Key         string  `json:"key"`
	Kind        string  `json:"kind"`
	Value       string  `json:"value"`
	Context     string  `json:"context,omitempty"`
	Importance  float64 `json:"importance"`
	AccessCount int     `json:"access_count"`
	Seq         uint64  `json:"seq"`
}

// verifyRef is what Verify compares against when no reference session is
// given: the state and memory keys at the last export or import. Keys are
// shared with the memories until a memory's key slot is rewritten; then the
// entry gets its own copy first (detach, called by writeSlot).
type verifyRef struct {
	state   []float32 // nil when the session was not initialized
	entries []refEntry
}

type refEntry struct {
	hash string
	key  qvec
}

// snapshot builds the canonical snapshot of the session. Vectors are shared,
// not copied (lists of vectors get their own outer slice, so the binary
// encoder may clear entries): the result is encoded at once and dropped.
func (s *Session) snapshot() *snapshot {
	sn := &snapshot{
		Format:          SnapshotFormat,
		Config:          s.cfg,
		Initialized:     s.initialized,
		State:           s.state,
		Turn:            s.turn,
		Phase:           s.phase,
		FSM:             s.fsm,
		History:         historySnap{s.betaHist, s.simHist, s.fsmHist, s.normHist, s.driftHist, phaseNames(s.phaseHist)},
		Drift:           driftSnap{s.drift.ref, s.drift.last, s.drift.phase, s.drift.at, nil},
		LastTriggerTurn: s.lastTriggerTurn,
		Realign:         s.realign,
		Blocked:         s.blocked,
		LastResponse:    s.lastResponse,
		NextSeq:         s.nextSeq,
		Anchors:         outer(s.anchors),
		AnchorWeights:   slices.Clone(s.anchorWeights),
		Isolation:       isolationSnap{s.iso.level, s.iso.threshold, outer(s.iso.exclusion), outer(s.iso.allowlist)},
	}
	for _, q := range s.drift.recent {
		sn.Drift.Recent = append(sn.Drift.Recent, q.k)
	}
	if s.pending != nil {
		sn.Pending = &messageSnap{Text: s.pending.text, Vec: s.pending.vec.k, Trigger: s.pending.trigger}
	}
	if n := s.TotalMemories(); n > 0 {
		sn.Memories = make([]memorySnap, 0, n)
	}
	s.eachMemory(func(_ int, m *memory) {
		sn.Memories = append(sn.Memories, memorySnap{Hash: m.hash, Text: m.text, Tier: tierName(int(m.tier)),
			Importance: m.importance, AccessCount: m.access, Timestamp: m.ts(), Turn: m.turn, Seq: m.seq,
			Merged: m.merged, Key: m.key.k, AccessWeight: m.accW, LastAccess: m.lastAcc})
	})
	for _, t := range s.triggers {
		sn.Triggers = append(sn.Triggers, triggerSnap{t.keyword, t.embedding, t.threshold})
	}
	for _, sh := range s.shadow {
		sn.Shadow = append(sn.Shadow, shadowSnap{sh.text, sh.at, sh.answer, sh.vec.k, sh.answerVec.k})
	}
	for _, e := range s.entities {
		sn.Entities = append(sn.Entities, entitySnap{e.Key, e.Kind, e.Value, e.Context, e.Importance, e.AccessCount, e.seq})
	}
	return sn
}

// Export serialises the whole session into a state_dict: a JSON object with
// "format":"semvec-go/2", every field needed to rebuild the session exactly,
// and "checksum", the SHA-256 (hex) of the canonical encoding of the object
// without the checksum field. It returns the object (checksum included) and
// the checksum. The exported state becomes the Verify reference. A state_dict
// that Import would refuse for its size (more than MaxSnapshotBytes, possible
// only at large dimensions, see Config.ExportBound) is not produced: Export
// returns KindConflict and changes nothing.
func (s *Session) Export() (stateDict json.RawMessage, checksum string, err error) {
	out, checksum, err := s.ExportKeepingReference()
	if err != nil {
		return nil, "", err
	}
	s.ref = s.takeRef()
	return out, checksum, nil
}

// TakeReference replaces the Verify reference exactly as Export does,
// without building the state_dict: replaying a logged export needs the
// reference, not the export. Where the session's caps keep every
// state_dict within MaxSnapshotBytes (Config.ExportBound, true of every
// configuration but very large dimensions) Export cannot refuse, and the
// reference is taken at once; otherwise Export decides, and its refusal
// (KindConflict) is returned with nothing changed.
func (s *Session) TakeReference() error {
	if s.cfg.ExportBound() <= MaxSnapshotBytes {
		s.ref = s.takeRef()
		return nil
	}
	_, _, err := s.Export()
	return err
}

// ExportKeepingReference is Export without replacing the Verify reference:
// the same state_dict and checksum, the session unchanged.
func (s *Session) ExportKeepingReference() (stateDict json.RawMessage, checksum string, err error) {
	canon, err := json.Marshal(s.snapshot())
	if err != nil {
		return nil, "", semvec.Wrap(semvec.KindInternal, err, "export failed")
	}
	if n := len(canon) + len(`,"checksum":""`) + 2*sha256.Size; n > MaxSnapshotBytes {
		return nil, "", semvec.Errorf(semvec.KindConflict,
			"the session is too large to export: its state_dict would take %d bytes, more than the %d Import accepts", n, MaxSnapshotBytes)
	}
	sum := sha256.Sum256(canon)
	checksum = hex.EncodeToString(sum[:])
	// The checksum is the last field, so appending it to the canonical object
	// gives exactly the encoding of the snapshot with the checksum set.
	out := make([]byte, 0, len(canon)+80)
	out = append(out, canon[:len(canon)-1]...)
	out = append(out, `,"checksum":"`...)
	out = append(out, checksum...)
	out = append(out, `"}`...)
	return out, checksum, nil
}

// takeRef captures the Verify reference: a copy of the state, shared keys.
func (s *Session) takeRef() *verifyRef {
	r := &verifyRef{state: cloneV(s.state)}
	s.eachMemory(func(_ int, m *memory) { r.entries = append(r.entries, refEntry{m.hash, m.key}) })
	return r
}

// detach gives every entry whose key shares codes with k (a memory's key
// slot about to be rewritten) its own copy.
func (r *verifyRef) detach(k []int8) {
	if len(k) == 0 {
		return
	}
	for i := range r.entries {
		if e := &r.entries[i]; len(e.key.k) > 0 && &e.key.k[0] == &k[0] {
			e.key = e.key.clone()
		}
	}
}

// outer copies a list of vectors without copying the vectors.
func outer(vs [][]float32) [][]float32 {
	if len(vs) == 0 {
		return nil
	}
	return append([][]float32(nil), vs...)
}
