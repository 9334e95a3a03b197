package http

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/http/api"
	pb "github.com/semvec-go/semvec/proto"
)

func (s *Server) sessionRoutes(v1 *gin.RouterGroup) {
	v1.POST("/run", s.run)
	v1.POST("/store", s.store)
	v1.POST("/session/create", s.createSession)
	v1.DELETE("/session/:id", s.deleteSession)
	v1.GET("/metrics/:id", s.sessionMetrics)
	v1.GET("/state/context", s.stateContext)
	v1.GET("/session/:id/memories/:hash", s.memory)
	v1.POST("/session/:id/trigger", s.addTrigger)
	v1.DELETE("/session/:id/trigger", s.clearTriggers)
	v1.POST("/session/:id/anchor", s.addAnchor)
	v1.GET("/session/:id/anchor_score", s.anchorScore)
	v1.PUT("/session/:id/isolation", s.setIsolation)
	v1.POST("/session/:id/isolation/release", s.releaseIsolation)
	v1.POST("/session/:id/memory", s.injectMemory)
	v1.GET("/session/:id/export", s.exportSession)
	v1.POST("/session/:id/import", s.importSession)
	v1.POST("/session/:id/verify", s.verifySession)
	v1.POST("/session/:id/entities", s.putEntity)
	v1.GET("/session/:id/entities", s.listEntities)
	v1.DELETE("/session/:id/entities/*key", s.deleteEntity)
}

func (s *Server) run(c *gin.Context) {
	var b api.RunBody
	if !bindJSON(c, &b) {
		return
	}
	s.runOn(c, b, b.SessionID, true)
}

// runOn runs one turn on session id. With allowCreate, an empty id creates a
// session and reset_context on an unknown id creates one with that id.
func (s *Server) runOn(c *gin.Context, b api.RunBody, id string, allowCreate bool) {
	texts := []string{b.Message}
	if b.Response != "" {
		texts = append(texts, b.Response)
	}
	vecs, ok := s.embedTexts(c, texts...)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	own := owner(c)
	if allowCreate {
		switch {
		case id == "":
			newID, err := s.d.Sessions.Create(ctx, own, actors.CreateOptions{})
			if err != nil {
				fail(c, err)
				return
			}
			id = newID
		case b.ResetContext:
			if !actors.ValidID(id) { // checked first: the id reaches the database next
				validationError(c, api.ValidationItem{Loc: []any{"body", "session_id"}, Msg: "String should match pattern '" + actors.IDPattern + "'", Type: "string_pattern_mismatch"})
				return
			}
			if err := s.d.Sessions.Exists(ctx, own, id); semvec.KindOf(err) == semvec.KindNotFound {
				// Ids are scoped by owner, so a conflict on an id that now
				// exists means a concurrent request of this same caller
				// created it first: use it. Any other conflict (the caller's
				// session limit) is the answer.
				if _, err := s.d.Sessions.Create(ctx, own, actors.CreateOptions{ID: id}); err != nil &&
					(semvec.KindOf(err) != semvec.KindConflict || s.d.Sessions.Exists(ctx, own, id) != nil) {
					fail(c, err)
					return
				}
			} else if err != nil {
				fail(c, err)
				return
			}
		}
	}
	threshold := 0.85
	if b.ShortCircuitThreshold != nil {
		threshold = *b.ShortCircuitThreshold
	}
	req := &pb.RunRequest{Owner: own, SessionId: id, Message: b.Message, MessageVec: vecs[0],
		ShortCircuitThreshold: threshold, ResetContext: b.ResetContext, NowUnixNano: time.Now().UnixNano()}
	if b.Response != "" {
		req.Response, req.ResponseVec = b.Response, vecs[1]
	}
	if s.d.Reranker != nil && !b.ResetContext {
		if req.Rerank, ok = s.rerank(c, own, id, b.Message, vecs[0]); !ok {
			return
		}
	}
	res, ok := askSession[*pb.RunResponse](c, s, id, req)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.RunResult{SessionID: res.GetSessionId(), Context: res.GetContext(), TopSimilarity: res.GetTopSimilarity(),
		ShortCircuit: res.GetShortCircuit(), DriftScore: res.GetDriftScore(), DriftDetected: res.GetDriftDetected(), DriftPhase: res.GetDriftPhase()})
}

// rerank asks the session for the candidates of message and the reranker
// for their scores, which travel in the RunRequest (and so in the log).
// A failing reranker answers 503, as a failing embedder does.
func (s *Server) rerank(c *gin.Context, own, id, message string, vec []float32) ([]*pb.RerankScore, bool) {
	res, ok := askSession[*pb.RankResponse](c, s, id, &pb.RankRequest{Owner: own, SessionId: id, Message: message, MessageVec: vec})
	if !ok {
		return nil, false
	}
	cands := res.GetCandidates()
	if len(cands) < 2 {
		return nil, true // nothing to reorder
	}
	texts := make([]string, len(cands))
	for i, cd := range cands {
		texts[i] = cd.GetText()
	}
	scores, err := s.d.Reranker.Rerank(c.Request.Context(), message, texts)
	if err != nil {
		fail(c, err)
		return nil, false
	}
	out := make([]*pb.RerankScore, len(cands))
	for i, cd := range cands {
		out[i] = &pb.RerankScore{MemoryHash: cd.GetMemoryHash(), Score: scores[i]}
	}
	return out, true
}

func (s *Server) store(c *gin.Context) {
	var b api.StoreBody
	if !bindJSON(c, &b) {
		return
	}
	vecs, ok := s.embedTexts(c, b.Response)
	if !ok {
		return
	}
	res, ok := askSession[*pb.StoreResponse](c, s, b.SessionID,
		&pb.StoreRequest{Owner: owner(c), SessionId: b.SessionID, Response: b.Response, ResponseVec: vecs[0], NowUnixNano: time.Now().UnixNano()})
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.StoreResult{SessionID: res.GetSessionId(), Stored: !res.GetDropped(), TotalMemories: res.GetTotalMemories()})
}

func (s *Server) createSession(c *gin.Context) {
	var b api.SessionCreateBody
	if !bindJSON(c, &b) {
		return
	}
	dim := s.d.Sessions.Dim()
	if b.Dimension != nil && *b.Dimension != dim {
		validationError(c, api.ValidationItem{Loc: []any{"body", "dimension"}, Msg: "dimension must match the server's embedder dimension (" + itoa(dim) + ")", Type: "value_error"})
		return
	}
	if len(b.TemplateEmbedding) > 0 && len(b.TemplateEmbedding) != dim {
		validationError(c, api.ValidationItem{Loc: []any{"body", "template_embedding"}, Msg: fmt.Sprintf("expected %d dimensions, got %d", dim, len(b.TemplateEmbedding)), Type: "value_error"})
		return
	}
	for i, p := range b.PolicyVectors {
		if len(p.Embedding) != dim {
			validationError(c, api.ValidationItem{Loc: []any{"body", "policy_vectors", i, "embedding"}, Msg: fmt.Sprintf("expected %d dimensions, got %d", dim, len(p.Embedding)), Type: "value_error"})
			return
		}
	}
	opts := actors.CreateOptions{
		ModelName: b.ModelName, UseAttention: b.UseAttention, UseCache: b.UseCache, UseMetaPSS: b.UseMetaPSS,
		UseCortex: b.UseCortex, EnableTopicSwitch: b.EnableTopicSwitch, Template: b.TemplateEmbedding, Policy: policyVectors(b.PolicyVectors),
	}
	if b.ContextTopK != nil {
		opts.ContextTopK = *b.ContextTopK
	}
	if b.ContextBudgetChars != nil {
		opts.ContextBudgetChars = *b.ContextBudgetChars
	}
	id, err := s.d.Sessions.Create(c.Request.Context(), owner(c), opts)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.SessionCreated{SessionID: id, Created: true, Dimension: dim})
}

func (s *Server) deleteSession(c *gin.Context) {
	id := c.Param("id")
	if !actors.ValidID(id) {
		fail(c, semvec.NotFound("Session"))
		return
	}
	if err := s.d.Sessions.Delete(c.Request.Context(), owner(c), id); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.SessionDeleted{SessionID: id, Deleted: true})
}

func (s *Server) sessionMetrics(c *gin.Context) {
	id := c.Param("id")
	res, ok := askSession[*pb.MetricsResponse](c, s, id, &pb.MetricsRequest{Owner: owner(c), SessionId: id})
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.SessionMetrics{
		SessionID: id, Phase: res.GetPhase(), InteractionCount: res.GetInteractionCount(),
		TotalMemories: res.GetTotalMemories(), Tiers: nonNilMap(res.GetTiers()),
		BetaHistory: nonNil(res.GetBetaHistory()), SimilarityHistory: nonNil(res.GetSimilarityHistory()),
		FSMHistory: nonNil(res.GetFsmHistory()), NormHistory: nonNil(res.GetNormHistory()),
		PhaseHistory: nonNil(res.GetPhaseHistory()), DriftScore: res.GetDriftScore(),
		DriftPhase: res.GetDriftPhase(), Dimension: res.GetDimension(),
	})
}

func (s *Server) stateContext(c *gin.Context) {
	var q api.ContextQuery
	if !bindQuery(c, &q) {
		return
	}
	topK := 5
	if q.TopK != nil {
		topK = *q.TopK
	}
	res, ok := askSession[*pb.ContextResponse](c, s, q.SessionID,
		&pb.ContextRequest{Owner: owner(c), SessionId: q.SessionID, TopK: int32(topK), FullFirst: q.FullFirst, MaxChars: 500})
	if !ok {
		return
	}
	out := make([]api.ContextItem, len(res.GetItems()))
	for i, it := range res.GetItems() {
		out[i] = api.ContextItem{Text: it.GetText(), Relevance: it.GetRelevance(), MemoryHash: it.GetMemoryHash(), Truncated: it.GetTruncated(), Tier: it.GetTier()}
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) memory(c *gin.Context) {
	id := c.Param("id")
	res, ok := askSession[*pb.MemoryResponse](c, s, id,
		&pb.MemoryRequest{Owner: owner(c), SessionId: id, MemoryHash: c.Param("hash")})
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.Memory{SessionID: id, MemoryHash: res.GetMemoryHash(), Text: res.GetText(), Tier: res.GetTier(),
		Importance: res.GetImportance(), AccessCount: res.GetAccessCount(), Timestamp: epoch(res.GetTimestampUnixNano())})
}

func (s *Server) addTrigger(c *gin.Context) {
	var b api.TriggerBody
	if !bindJSON(c, &b) {
		return
	}
	if (b.Keyword == "") == (len(b.Embedding) == 0) {
		validationError(c, api.ValidationItem{Loc: []any{"body"}, Msg: "Value error, provide exactly one of keyword or embedding", Type: "value_error"})
		return
	}
	req := &pb.TriggerRequest{Owner: owner(c), SessionId: c.Param("id"), Keyword: b.Keyword, Embedding: b.Embedding}
	if b.Threshold != nil {
		req.Threshold = *b.Threshold
	}
	s.triggerReply(c, req)
}

func (s *Server) clearTriggers(c *gin.Context) {
	s.triggerReply(c, &pb.TriggerRequest{Owner: owner(c), SessionId: c.Param("id"), Clear: true})
}

func (s *Server) triggerReply(c *gin.Context, req *pb.TriggerRequest) {
	res, ok := askSession[*pb.TriggerResponse](c, s, req.GetSessionId(), req)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.TriggerCount{SessionID: res.GetSessionId(), TriggerCount: res.GetTriggerCount()})
}

func (s *Server) addAnchor(c *gin.Context) {
	var b api.AnchorBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	res, ok := askSession[*pb.AnchorResponse](c, s, id, &pb.AnchorRequest{Owner: owner(c), SessionId: id, Embedding: b.Embedding})
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.AnchorCount{SessionID: id, AnchorCount: res.GetAnchorCount()})
}

func (s *Server) anchorScore(c *gin.Context) {
	id := c.Param("id")
	res, ok := askSession[*pb.AnchorScoreResponse](c, s, id, &pb.AnchorScoreRequest{Owner: owner(c), SessionId: id})
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.AnchorScore{SessionID: id, AnchorScore: res.GetAnchorScore(), AnchorCount: res.GetAnchorCount(),
		DriftThreshold: res.GetDriftThreshold(), RealignmentRemaining: res.GetRealignmentRemaining()})
}

func (s *Server) setIsolation(c *gin.Context) {
	var b api.IsolationBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	req := &pb.IsolationRequest{Owner: owner(c), SessionId: id, Level: b.Level,
		ExclusionEmbeddings: toVectors(b.ExclusionEmbeddings), AllowlistEmbeddings: toVectors(b.AllowlistEmbeddings)}
	if b.SimilarityThreshold != nil {
		req.SimilarityThreshold = *b.SimilarityThreshold
	}
	res, ok := askSession[*pb.IsolationResponse](c, s, id, req)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.IsolationLevel{SessionID: id, Level: res.GetLevel()})
}

func (s *Server) releaseIsolation(c *gin.Context) {
	id := c.Param("id")
	res, ok := askSession[*pb.ReleaseResponse](c, s, id,
		&pb.ReleaseRequest{Owner: owner(c), SessionId: id, NowUnixNano: time.Now().UnixNano()})
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.IsolationReleased{SessionID: id, ReleasedCount: res.GetReleasedCount()})
}

func (s *Server) injectMemory(c *gin.Context) {
	var b api.MemoryBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	req := &pb.InjectMemoryRequest{Owner: owner(c), SessionId: id, Text: b.Text, Embedding: b.Embedding, Tier: b.Tier,
		Importance: 1.0, AccessCount: int32(b.AccessCount), NowUnixNano: time.Now().UnixNano()}
	if req.Tier == "" {
		req.Tier = "short_term"
	}
	if b.Importance != nil {
		req.Importance = *b.Importance
	}
	res, ok := askSession[*pb.InjectMemoryResponse](c, s, id, req)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.MemoryInjected{SessionID: id, Tier: res.GetTier(), TotalMemories: res.GetTotalMemories()})
}

func (s *Server) exportSession(c *gin.Context) {
	id := c.Param("id")
	res, ok := askSession[*pb.ExportResponse](c, s, id, &pb.ExportRequest{Owner: owner(c), SessionId: id})
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.SessionExport{SessionID: id, StateDict: res.GetStateDict(), Checksum: res.GetChecksum()})
}

func (s *Server) importSession(c *gin.Context) {
	var b api.ImportBody
	if !bindJSON(c, &b) {
		return
	}
	if sd := bytes.TrimSpace(b.StateDict); len(sd) == 0 || sd[0] != '{' { // a string, a list…: pydantic's dict check (bindJSON refuses null)
		validationError(c, api.ValidationItem{Loc: []any{"body", "state_dict"}, Msg: "Input should be a valid dictionary", Type: "dict_type", Input: sd})
		return
	}
	id := c.Param("id")
	// A payload that would be refused is refused before it is logged (it
	// may be ~20 MB), but after the session is found: an unknown session
	// is a 404 whatever the payload.
	if _, ok := askSession[*pb.MetricsResponse](c, s, id, &pb.MetricsRequest{Owner: owner(c), SessionId: id}); !ok {
		return
	}
	if err := s.d.Sessions.CheckImport(b.StateDict, b.Checksum); err != nil {
		fail(c, err)
		return
	}
	res, ok := askSession[*pb.ImportResponse](c, s, id,
		&pb.ImportRequest{Owner: owner(c), SessionId: id, StateDict: b.StateDict, Checksum: b.Checksum})
	if !ok {
		return
	}
	s.d.Sessions.Audit(c.Request.Context(), owner(c), "import", "session", id)
	c.JSON(http.StatusOK, api.SessionImported{SessionID: id, Imported: res.GetImported()})
}

func (s *Server) verifySession(c *gin.Context) {
	var b api.VerifyBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	ctx := c.Request.Context()
	req := &pb.VerifyRequest{Owner: owner(c), SessionId: id, TestEmbeddings: toVectors(b.TestEmbeddings)}
	if b.Tolerance != nil {
		req.Tolerance = *b.Tolerance
	}
	if b.ReferenceSessionID != "" {
		ref, err := actors.AskSession[*pb.ExportResponse](ctx, s.d.Sessions, b.ReferenceSessionID, &pb.ExportRequest{Owner: owner(c), SessionId: b.ReferenceSessionID, KeepReference: true})
		if err != nil {
			if semvec.KindOf(err) == semvec.KindNotFound {
				err = semvec.Errorf(semvec.KindNotFound, "Reference session not found")
			}
			fail(c, err)
			return
		}
		req.ReferenceStateDict = ref.GetStateDict()
	}
	res, ok := askSession[*pb.VerifyResponse](c, s, id, req)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.SessionVerified{SessionID: id, Consistent: res.GetConsistent()})
}

func (s *Server) putEntity(c *gin.Context) {
	var b api.EntityBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	req := &pb.PutEntityRequest{Owner: owner(c), SessionId: id, Key: b.Key, Kind: b.Kind, Value: b.Value, Context: b.Context, Importance: 1.0}
	if b.Importance != nil {
		req.Importance = *b.Importance
	}
	res, ok := askSession[*pb.PutEntityResponse](c, s, id, req)
	if !ok {
		return
	}
	c.JSON(http.StatusCreated, api.EntityStored{SessionID: id, Key: res.GetKey(), Size: res.GetSize()})
}

func (s *Server) listEntities(c *gin.Context) {
	var q api.EntitiesQuery
	if !bindQuery(c, &q) {
		return
	}
	id := c.Param("id")
	// The contract: without q, all entities are listed (at most the
	// engine's MaxEntities); a query returns the 50 best by default.
	max := 0
	if strings.TrimSpace(q.Q) != "" {
		max = 50
	}
	if q.MaxResults != nil {
		max = *q.MaxResults
	}
	res, ok := askSession[*pb.ListEntitiesResponse](c, s, id,
		&pb.ListEntitiesRequest{Owner: owner(c), SessionId: id, Q: q.Q, MaxResults: int32(max)})
	if !ok {
		return
	}
	out := make([]api.EntityItem, len(res.GetEntities()))
	for i, e := range res.GetEntities() {
		out[i] = api.EntityItem{Key: e.GetKey(), Kind: e.GetKind(), Value: e.GetValue(), Context: e.GetContext(), Importance: e.GetImportance(), AccessCount: e.GetAccessCount()}
	}
	c.JSON(http.StatusOK, api.EntityList{SessionID: id, Entities: out, Total: res.GetTotal()})
}

func (s *Server) deleteEntity(c *gin.Context) {
	id := c.Param("id")
	key := c.Param("key")
	if len(key) > 0 && key[0] == '/' {
		key = key[1:]
	}
	res, ok := askSession[*pb.DeleteEntityResponse](c, s, id, &pb.DeleteEntityRequest{Owner: owner(c), SessionId: id, Key: key})
	if !ok {
		return
	}
	c.JSON(http.StatusOK, api.EntityRemoved{SessionID: id, Key: res.GetKey(), Removed: true})
}

// policyVectors converts the wire form of policy vectors to the actors' own.
func policyVectors(in []api.PolicyVector) []actors.PolicyVector {
	if in == nil {
		return nil
	}
	out := make([]actors.PolicyVector, len(in))
	for i, p := range in {
		out[i] = actors.PolicyVector(p)
	}
	return out
}

func toVectors(vs [][]float32) []*pb.Vector {
	out := make([]*pb.Vector, len(vs))
	for i, v := range vs {
		out[i] = &pb.Vector{Values: v}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap(m map[string]int32) map[string]int32 {
	if m == nil {
		return map[string]int32{}
	}
	return m
}

// epoch is a Unix time in float seconds, as semvec reports timestamps.
func epoch(ns int64) float64 { return float64(ns) / 1e9 }

func itoa(i int) string { return strconv.Itoa(i) }

// askSession asks session id and, on failure, records the error for the one
// error table; handlers return when ok is false.
func askSession[R actors.Reply](c *gin.Context, s *Server, id string, req actors.OwnedRequest) (res R, ok bool) {
	res, err := actors.AskSession[R](c.Request.Context(), s.d.Sessions, id, req)
	if err != nil {
		fail(c, err)
		return res, false
	}
	return res, true
}
