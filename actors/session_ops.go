package actors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/semvec-go/semvec/actors/engine"
	pb "github.com/semvec-go/semvec/proto"
)

// run answers a RunRequest. Neither the engine nor the actor may keep the
// request's vectors after replying: the HTTP layer returns them to a pool
// once the reply has arrived.
func (a *sessionActor) run(m *pb.RunRequest, live bool) (*pb.RunResponse, error) {
	now := timeOf(m.GetNowUnixNano(), a.deps.now)
	if m.GetResetContext() {
		a.eng.Reset()
	}
	var rerank []engine.RerankScore
	if rs := m.GetRerank(); len(rs) > 0 {
		rerank = make([]engine.RerankScore, len(rs))
		for i, r := range rs {
			rerank[i] = engine.RerankScore{MemoryHash: r.GetMemoryHash(), Score: r.GetScore()}
		}
	}
	res, err := a.eng.Run(engine.RunInput{
		Message:               m.GetMessage(),
		MessageVec:            m.GetMessageVec(),
		Response:              m.GetResponse(),
		ResponseVec:           m.GetResponseVec(),
		ShortCircuitThreshold: m.GetShortCircuitThreshold(),
		Now:                   now,
		Rerank:                rerank,
	})
	if err != nil {
		return nil, err
	}
	if clusters := a.deps.clusters.Load(); live && res.DriftDetected && clusters != nil {
		// Drift is a message to each of the session's clusters (activated
		// for it when needed); nobody waits for it.
		for _, cid := range a.clusters {
			clusters.Tell(ownedKey(a.owner, cid), &pb.DriftEvent{
				Owner: a.owner, SessionId: a.id, ClusterId: cid,
				DriftScore: res.DriftScore, DriftPhase: res.DriftPhase, AtUnixNano: now.UnixNano(),
			}, true)
		}
	}
	return &pb.RunResponse{
		SessionId: a.id, Context: res.Context, TopSimilarity: res.TopSimilarity, ShortCircuit: res.ShortCircuit,
		DriftScore: res.DriftScore, DriftDetected: res.DriftDetected, DriftPhase: res.DriftPhase,
		Turn: int64(res.Turn), Phase: res.Phase, Isolation: res.Isolation,
	}, nil
}

// rank answers the candidates a reranker should reorder for a message. It
// is a read: the reranker is called by the HTTP layer, outside the actor,
// and its scores come back inside the RunRequest, which the log records.
func (a *sessionActor) rank(m *pb.RankRequest) (*pb.RankResponse, error) {
	cands, err := a.eng.RerankCandidates(m.GetMessage(), m.GetMessageVec())
	if err != nil {
		return nil, err
	}
	out := &pb.RankResponse{SessionId: a.id, Candidates: make([]*pb.RankCandidate, len(cands))}
	for i, c := range cands {
		out.Candidates[i] = &pb.RankCandidate{MemoryHash: c.MemoryHash, Text: c.Text}
	}
	return out, nil
}

func (a *sessionActor) store(m *pb.StoreRequest) (*pb.StoreResponse, error) {
	now := timeOf(m.GetNowUnixNano(), a.deps.now)
	var total int
	stored := true // a pair (cluster seeding) bypasses the isolation filter
	var err error
	if m.GetMessage() != "" {
		total, err = a.eng.StorePair(m.GetMessage(), m.GetMessageVec(), m.GetResponse(), m.GetResponseVec(), now)
	} else {
		total, stored, err = a.eng.Store(m.GetResponse(), m.GetResponseVec(), now)
	}
	if err != nil {
		return nil, err
	}
	return &pb.StoreResponse{SessionId: a.id, TotalMemories: int32(total), Dropped: !stored}, nil
}

func (a *sessionActor) metrics() *pb.MetricsResponse {
	mt := a.eng.Metrics()
	tiers := make(map[string]int32, len(mt.Tiers))
	for k, v := range mt.Tiers {
		tiers[k] = int32(v)
	}
	return &pb.MetricsResponse{
		SessionId: a.id, Phase: mt.Phase, InteractionCount: int64(mt.InteractionCount),
		TotalMemories: int32(mt.TotalMemories), Tiers: tiers,
		BetaHistory: mt.BetaHistory, SimilarityHistory: mt.SimilarityHistory, FsmHistory: mt.FSMHistory,
		NormHistory: mt.NormHistory, PhaseHistory: mt.PhaseHistory,
		DriftScore: mt.DriftScore, DriftPhase: mt.DriftPhase, Dimension: int32(a.eng.Dim()),
	}
}

func (a *sessionActor) context(m *pb.ContextRequest) *pb.ContextResponse {
	return a.contextReply(a.eng.ContextItems(int(m.GetTopK()), m.GetFullFirst(), int(m.GetMaxChars())))
}

func (a *sessionActor) contextReply(items []engine.ContextItem) *pb.ContextResponse {
	out := &pb.ContextResponse{SessionId: a.id, Items: make([]*pb.ContextItem, len(items))}
	for i, it := range items {
		out.Items[i] = &pb.ContextItem{Text: it.Text, Relevance: it.Relevance, MemoryHash: it.MemoryHash, Truncated: it.Truncated, Tier: it.Tier}
	}
	return out
}

func (a *sessionActor) memory(m *pb.MemoryRequest) (*pb.MemoryResponse, error) {
	mv, ok := a.eng.Memory(m.GetMemoryHash())
	if !ok {
		return nil, notFoundf("Memory not found: %s", m.GetMemoryHash())
	}
	return &pb.MemoryResponse{
		SessionId: a.id, MemoryHash: mv.MemoryHash, Text: mv.Text, Tier: mv.Tier,
		Importance: mv.Importance, AccessCount: int64(mv.AccessCount), TimestampUnixNano: mv.Timestamp.UnixNano(),
	}, nil
}

func (a *sessionActor) trigger(m *pb.TriggerRequest) (*pb.TriggerResponse, error) {
	var n int
	if m.GetClear() {
		n = a.eng.ClearTriggers()
	} else {
		var err error
		n, err = a.eng.AddTrigger(engine.Trigger{Keyword: m.GetKeyword(), Embedding: m.GetEmbedding(), Threshold: m.GetThreshold()})
		if err != nil {
			return nil, err
		}
	}
	return &pb.TriggerResponse{SessionId: a.id, TriggerCount: int32(n)}, nil
}

func (a *sessionActor) anchor(m *pb.AnchorRequest) (*pb.AnchorResponse, error) {
	n, err := a.eng.AddAnchor(m.GetEmbedding())
	if err != nil {
		return nil, err
	}
	return &pb.AnchorResponse{SessionId: a.id, AnchorCount: int32(n)}, nil
}

func (a *sessionActor) anchorScore() *pb.AnchorScoreResponse {
	s := a.eng.AnchorScore()
	return &pb.AnchorScoreResponse{SessionId: a.id, AnchorScore: s.Score, AnchorCount: int32(s.Count),
		DriftThreshold: s.DriftThreshold, RealignmentRemaining: int32(s.RealignmentRemaining)}
}

func vectors(vs []*pb.Vector) [][]float32 {
	out := make([][]float32, len(vs))
	for i, v := range vs {
		out[i] = v.GetValues()
	}
	return out
}

func (a *sessionActor) isolation(m *pb.IsolationRequest) (*pb.IsolationResponse, error) {
	err := a.eng.SetIsolation(engine.IsolationPolicy{
		Level: m.GetLevel(), Exclusion: vectors(m.GetExclusionEmbeddings()),
		Allowlist: vectors(m.GetAllowlistEmbeddings()), Threshold: m.GetSimilarityThreshold(),
	})
	if err != nil {
		return nil, err
	}
	return &pb.IsolationResponse{SessionId: a.id, Level: a.eng.Isolation().Level}, nil
}

func (a *sessionActor) release(m *pb.ReleaseRequest) *pb.ReleaseResponse {
	n := a.eng.ReleaseQuarantine(timeOf(m.GetNowUnixNano(), a.deps.now))
	return &pb.ReleaseResponse{SessionId: a.id, ReleasedCount: int32(n)}
}

func (a *sessionActor) inject(m *pb.InjectMemoryRequest) (*pb.InjectMemoryResponse, error) {
	in, err := a.eng.InjectMemory(engine.InjectInput{
		Text: m.GetText(), Embedding: m.GetEmbedding(), Tier: m.GetTier(), Importance: m.GetImportance(),
		AccessCount: int(m.GetAccessCount()), Now: timeOf(m.GetNowUnixNano(), a.deps.now),
	})
	if err != nil {
		return nil, err
	}
	return &pb.InjectMemoryResponse{SessionId: a.id, Tier: in.Tier, TotalMemories: int32(in.Total)}, nil
}

// export serialises the session; unless keep is set, the exported state
// becomes its Verify reference.
func (a *sessionActor) export(keep bool) (*pb.ExportResponse, error) {
	exp := a.eng.Export
	if keep {
		exp = a.eng.ExportKeepingReference
	}
	dict, sum, err := exp()
	if err != nil {
		return nil, err
	}
	return &pb.ExportResponse{SessionId: a.id, StateDict: dict, Checksum: sum}, nil
}

func (a *sessionActor) importState(m *pb.ImportRequest) (*pb.ImportResponse, error) {
	eng, err := importable(m.GetStateDict(), m.GetChecksum())
	if err != nil {
		return nil, err
	}
	if eng.Dim() != a.eng.Dim() {
		return nil, invalidf("Malformed or tampered state_dict: dimension %d does not match the session's %d", eng.Dim(), a.eng.Dim())
	}
	a.eng = eng
	return &pb.ImportResponse{SessionId: a.id, Imported: true}, nil
}

// importable decodes stateDict as an import (engine.Import) and checks the
// request's checksum, when it has one, against the dict's own (Import
// verified that one against its content; a re-export would differ when the
// server's caps replaced the payload's). importState applies what it
// returns; Sessions.CheckImport runs it before an import is logged.
func importable(stateDict []byte, checksum string) (*engine.Session, error) {
	eng, err := engine.Import(stateDict)
	if err != nil {
		return nil, err
	}
	if checksum != "" {
		var own struct {
			Checksum string `json:"checksum"`
		}
		if err := json.Unmarshal(stateDict, &own); err != nil || own.Checksum != checksum {
			return nil, invalidf("Malformed or tampered state_dict: checksum does not match")
		}
	}
	return eng, nil
}

func (a *sessionActor) verify(m *pb.VerifyRequest) (*pb.VerifyResponse, error) {
	var ref *engine.Session
	if len(m.GetReferenceStateDict()) > 0 {
		var err error
		if ref, err = engine.Import(m.GetReferenceStateDict()); err != nil {
			return nil, err
		}
	}
	tol := m.GetTolerance()
	if tol <= 0 {
		tol = 1e-3
	}
	ok, err := a.eng.Verify(vectors(m.GetTestEmbeddings()), ref, tol)
	if err != nil {
		return nil, err
	}
	return &pb.VerifyResponse{SessionId: a.id, Consistent: ok}, nil
}

func (a *sessionActor) putEntity(m *pb.PutEntityRequest) (*pb.PutEntityResponse, error) {
	size, err := a.eng.PutEntity(engine.Entity{Key: m.GetKey(), Kind: m.GetKind(), Value: m.GetValue(), Context: m.GetContext(), Importance: m.GetImportance()})
	if err != nil {
		return nil, err
	}
	return &pb.PutEntityResponse{SessionId: a.id, Key: m.GetKey(), Size: int32(size)}, nil
}

func (a *sessionActor) listEntities(m *pb.ListEntitiesRequest) *pb.ListEntitiesResponse {
	return a.entitiesReply(a.eng.Entities(m.GetQ(), int(m.GetMaxResults())))
}

func (a *sessionActor) entitiesReply(es []engine.Entity) *pb.ListEntitiesResponse {
	out := &pb.ListEntitiesResponse{SessionId: a.id, Entities: make([]*pb.Entity, len(es)), Total: int32(len(es))}
	for i, e := range es {
		out.Entities[i] = &pb.Entity{Key: e.Key, Kind: e.Kind, Value: e.Value, Context: e.Context, Importance: e.Importance, AccessCount: int64(e.AccessCount)}
	}
	return out
}

func (a *sessionActor) deleteEntity(m *pb.DeleteEntityRequest) (*pb.DeleteEntityResponse, error) {
	if !a.eng.DeleteEntity(m.GetKey()) {
		return nil, notFoundf("Entity not found: %s", m.GetKey())
	}
	return &pb.DeleteEntityResponse{SessionId: a.id, Key: m.GetKey(), Removed: true}, nil
}

func (a *sessionActor) state() *pb.StateResponse {
	score, phase, at := a.eng.LastDrift()
	var atNano int64
	if !at.IsZero() {
		atNano = at.UnixNano()
	}
	return &pb.StateResponse{
		SessionId: a.id, State: a.eng.StateVector(), Initialized: a.eng.Initialized(), Phase: a.eng.Phase(),
		InteractionCount: int64(a.eng.Turn()), TotalMemories: int32(a.eng.TotalMemories()),
		DriftScore: score, DriftPhase: phase, LastDriftUnixNano: atNano, Incarnation: a.incarnation, Kind: a.kind,
	}
}

// blend moves the state toward m's target. A blend meant for another
// incarnation of the session (one deleted since, whose id was created
// again), or one bound to a state the session no longer has, is skipped:
// it changes nothing (the same at replay: the state is the same then).
func (a *sessionActor) blend(m *pb.BlendRequest) (*pb.BlendResponse, error) {
	if inc := m.GetIncarnation(); inc != "" && inc != a.incarnation {
		return &pb.BlendResponse{SessionId: a.id, Skipped: true}, nil
	}
	if h := m.GetIfStateHash(); h != 0 && h != stateHash(a.eng.Initialized(), a.eng.StateVector()) {
		return &pb.BlendResponse{SessionId: a.id, Skipped: true}, nil
	}
	changed, err := a.eng.BlendToward(m.GetTarget(), m.GetWeight())
	if err != nil {
		return nil, err
	}
	return &pb.BlendResponse{SessionId: a.id, Changed: changed}, nil
}

// stateHash identifies a session's semantic state (FNV-1a over its
// vector's bits; an uninitialised session has its own value), so a blend
// can be bound to the state it was computed for (BlendRequest.if_state_hash).
// It is never 0 (0 means unbound).
func stateHash(initialized bool, v []float32) uint64 {
	h := fnv.New64a()
	if !initialized {
		_, _ = h.Write([]byte("uninitialised"))
	} else {
		var b [4]byte
		for _, x := range v {
			binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
			_, _ = h.Write(b[:])
		}
	}
	return max(h.Sum64(), 1)
}

func typeName(m any) string { return fmt.Sprintf("%T", m) }
