package http

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/http/api"
	pb "github.com/semvec-go/semvec/proto"
)

// layerRoutes registers the Layer 2–5 routes: clusters, regions, the global
// observer and the network layer.
func (s *Server) layerRoutes(v1 *gin.RouterGroup) {
	collection(v1, http.MethodPost, "/cluster", s.createCluster)
	collection(v1, http.MethodGet, "/cluster", s.listClusters)
	v1.GET("/cluster/:id", s.getCluster)
	v1.DELETE("/cluster/:id", s.deleteCluster)
	v1.POST("/cluster/:id/run", s.clusterRun)
	v1.POST("/cluster/:id/store", s.clusterStore)
	v1.POST("/cluster/:id/feedback", s.clusterFeedback)
	v1.POST("/cluster/:id/members", s.addMember)
	v1.DELETE("/cluster/:id/members/:sid", s.removeMember)

	collection(v1, http.MethodPost, "/region", s.createRegion)
	collection(v1, http.MethodGet, "/region", s.listRegions)
	v1.GET("/region/:id", s.getRegion)
	v1.DELETE("/region/:id", s.deleteRegion)
	v1.POST("/region/:id/clusters", s.attachCluster)
	v1.DELETE("/region/:id/clusters/:cid", s.detachCluster)
	v1.GET("/region/:id/events", s.regionEvents)

	collection(v1, http.MethodPost, "/observer", s.createObserver)
	v1.GET("/observer/summary", s.observerSummary)
	v1.POST("/observer/sample", s.observerSample)
	v1.GET("/observer/anomalies", s.listAnomalies)
	v1.DELETE("/observer/anomalies", s.clearAnomalies)
	v1.POST("/observer/regions", s.registerRegion)
	v1.DELETE("/observer/regions/:rid", s.unregisterRegion)

	v1.POST("/network/transfer", s.transfer)
	v1.POST("/network/users/switch", partitionsNeedASubject, s.switchUser)
	v1.GET("/network/users/active", partitionsNeedASubject, s.activeUser)
	v1.POST("/network/users/:uid/serialize", partitionsNeedASubject, s.serializeUser)
	v1.POST("/network/consensus", s.propose)
	v1.GET("/network/consensus/trust", s.trust)
}

// collection registers a collection route at the contract's path, with the
// trailing slash (/v1/cluster/, where /openapi.json documents it), and at the
// same path without it, which clients call too: one operation answered at
// both, never through a redirect (which would resend a POST elsewhere).
func collection(g *gin.RouterGroup, method, path string, h gin.HandlerFunc) {
	g.Handle(method, path+"/", h)
	g.Handle(method, path, h)
}

// Defaults of the optional fields.
const (
	defaultConsensusThreshold = 0.5
	defaultVoteWindowSeconds  = 60.0
	defaultSampleInterval     = 30.0
	defaultListLimit          = 20
)

// ---------------------------------------------------------------- clusters

func (s *Server) createCluster(c *gin.Context) {
	var b api.ClusterCreateBody
	if !bindJSON(c, &b) {
		return
	}
	coupling := 0.0
	if b.CouplingFactor != nil {
		coupling = *b.CouplingFactor
	}
	mode := actors.AggregationWeightedAverage
	if b.AggregationMode != nil {
		mode = *b.AggregationMode
	}
	info, err := s.d.Layers.CreateCluster(c.Request.Context(), owner(c), b.Name, mode, coupling)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, api.ClusterCreated{ClusterID: info.ID, Name: info.Name, AggregationMode: info.AggregationMode, CouplingFactor: info.CouplingFactor})
}

func (s *Server) listClusters(c *gin.Context) {
	rows, err := s.d.Layers.ListClusters(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]api.ClusterListItem, len(rows))
	for i, r := range rows {
		out[i] = api.ClusterListItem{ClusterID: r.ID, Name: r.Name, MemberCount: r.MemberCount, AggregationMode: r.AggregationMode,
			CouplingFactor: r.CouplingFactor, CreatedAt: epochTime(r.CreatedAt)}
	}
	c.JSON(http.StatusOK, out)
}

// getCluster answers the cluster's state and aggregate_vector, which its
// actor gathers by asking the backing session and every member session (up
// to persistence.DefaultMaxLinks of them, activating those passivated): it
// spends a token per member asked besides the request's own, as a feedback
// does per member written, so that one request cannot make a thousand
// session asks for one token.
func (s *Server) getCluster(c *gin.Context) {
	res, err := s.d.Layers.ClusterState(c.Request.Context(), owner(c), c.Param("id"))
	if err != nil {
		s.d.Limiter.debit(c, unknownWork(c, err, maxFanOutCharge))
		fail(c, err)
		return
	}
	s.d.Limiter.debit(c, len(res.GetMemberIds())) // a token per member asked
	c.JSON(http.StatusOK, api.ClusterState{
		ClusterID: res.GetClusterId(), Name: res.GetName(), MemberCount: len(res.GetMemberIds()),
		MemberIDs: nonNil(res.GetMemberIds()), RegionIDs: nonNil(res.GetRegionIds()), Phase: res.GetPhase(),
		InteractionCount: res.GetInteractionCount(), TotalMemories: res.GetTotalMemories(),
		AggregationMode: res.GetAggregationMode(), CouplingFactor: res.GetCouplingFactor(),
		AggregateVector: nonNil(res.GetAggregateVector()), InitializedMembers: res.GetInitializedMembers(),
	})
}

func (s *Server) deleteCluster(c *gin.Context) {
	id := c.Param("id")
	if err := s.d.Layers.DeleteCluster(c.Request.Context(), owner(c), id); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.ClusterDeleted{ClusterID: id, Deleted: true})
}

// clusterRun is /v1/run on the cluster's backing session (cluster_id ==
// session_id). It never creates a session.
func (s *Server) clusterRun(c *gin.Context) {
	var b api.RunBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	if err := s.d.Layers.ClusterExists(c.Request.Context(), owner(c), id); err != nil {
		fail(c, err)
		return
	}
	s.runOn(c, b, id, false)
}

// clusterStore seeds one Q&A pair into the cluster's shared session, so any
// agent's similar question on the cluster short-circuits.
func (s *Server) clusterStore(c *gin.Context) {
	var b api.ClusterStoreBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	ctx := c.Request.Context()
	if err := s.d.Layers.ClusterExists(ctx, owner(c), id); err != nil {
		fail(c, err)
		return
	}
	vecs, ok := s.embedTexts(c, b.Message, b.Response)
	if !ok {
		return
	}
	res, err := actors.AskSession[*pb.StoreResponse](ctx, s.d.Sessions, id, &pb.StoreRequest{
		Owner: owner(c), SessionId: id, Message: b.Message, MessageVec: vecs[0], Response: b.Response, ResponseVec: vecs[1],
		NowUnixNano: time.Now().UnixNano(),
	})
	if err != nil {
		if semvec.KindOf(err) == semvec.KindNotFound {
			err = semvec.NotFound("Cluster")
		}
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.ClusterStored{ClusterID: id, SessionID: id, Stored: !res.GetDropped(), TotalMemories: res.GetTotalMemories()})
}

func (s *Server) clusterFeedback(c *gin.Context) {
	id := c.Param("id")
	res, err := s.d.Layers.ClusterFeedback(c.Request.Context(), owner(c), id)
	if err != nil {
		s.d.Limiter.debit(c, unknownWork(c, err, maxFanOutCharge))
		fail(c, err)
		return
	}
	s.d.Limiter.debit(c, int(res.GetSessionsUpdated())-1) // a token per member written
	c.JSON(http.StatusOK, api.ClusterFeedback{ClusterID: id, SessionsUpdated: res.GetSessionsUpdated()})
}

func (s *Server) addMember(c *gin.Context) {
	var b api.MemberBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	added, err := s.d.Layers.AddMember(c.Request.Context(), owner(c), id, b.SessionID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.MemberAdded{ClusterID: id, SessionID: b.SessionID, Added: added})
}

func (s *Server) removeMember(c *gin.Context) {
	id, sid := c.Param("id"), c.Param("sid")
	if err := s.d.Layers.RemoveMember(c.Request.Context(), owner(c), id, sid); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.MemberRemoved{ClusterID: id, SessionID: sid, Removed: true})
}

// ---------------------------------------------------------------- regions

func (s *Server) createRegion(c *gin.Context) {
	var b api.RegionCreateBody
	if !bindJSON(c, &b) {
		return
	}
	threshold, window := defaultConsensusThreshold, defaultVoteWindowSeconds
	if b.ConsensusThreshold != nil {
		threshold = *b.ConsensusThreshold
	}
	if b.VoteWindowSeconds != nil {
		window = *b.VoteWindowSeconds
	}
	info, err := s.d.Layers.CreateRegion(c.Request.Context(), owner(c), b.Name, threshold, window)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, api.RegionCreated{RegionID: info.ID, Name: info.Name, MetaSessionID: info.MetaSessionID,
		ConsensusThreshold: info.ConsensusThreshold, VoteWindowSeconds: info.VoteWindowSeconds})
}

func (s *Server) listRegions(c *gin.Context) {
	rows, err := s.d.Layers.ListRegions(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]api.RegionListItem, len(rows))
	for i, r := range rows {
		out[i] = api.RegionListItem{RegionID: r.ID, Name: r.Name, ClusterCount: r.ClusterCount, MetaSessionID: r.MetaSessionID,
			ConsensusThreshold: r.ConsensusThreshold, VoteWindowSeconds: r.VoteWindowSeconds}
		if r.LastRealignment != nil {
			t := epochTime(*r.LastRealignment)
			out[i].LastRealignment = &t
		}
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getRegion(c *gin.Context) {
	res, err := s.d.Layers.RegionState(c.Request.Context(), owner(c), c.Param("id"), defaultListLimit)
	if err != nil {
		fail(c, err)
		return
	}
	out := api.RegionState{
		RegionID: res.GetRegionId(), Name: res.GetName(), ClusterCount: len(res.GetClusterIds()), ClusterIDs: nonNil(res.GetClusterIds()),
		MetaSessionID: res.GetMetaSessionId(), ConsensusThreshold: res.GetConsensusThreshold(), VoteWindowSeconds: res.GetVoteWindowSeconds(),
		RecentDriftEvents: driftEvents(res.GetRecentEvents()), ActiveVotes: len(res.GetActiveVotes()),
		LastRealignment: epochOrNil(res.GetLastRealignmentUnixNano()),
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) deleteRegion(c *gin.Context) {
	id := c.Param("id")
	if err := s.d.Layers.DeleteRegion(c.Request.Context(), owner(c), id); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.RegionDeleted{RegionID: id, Deleted: true})
}

func (s *Server) attachCluster(c *gin.Context) {
	var b api.AttachBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	added, err := s.d.Layers.AttachCluster(c.Request.Context(), owner(c), id, b.ClusterID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.ClusterAttached{RegionID: id, ClusterID: b.ClusterID, Added: added})
}

func (s *Server) detachCluster(c *gin.Context) {
	id, cid := c.Param("id"), c.Param("cid")
	if err := s.d.Layers.DetachCluster(c.Request.Context(), owner(c), id, cid); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.ClusterDetached{RegionID: id, ClusterID: cid, Removed: true})
}

func (s *Server) regionEvents(c *gin.Context) {
	var q api.LimitQuery
	if !bindQuery(c, &q) {
		return
	}
	limit := defaultListLimit
	if q.Limit != nil {
		limit = *q.Limit
	}
	evs, err := s.d.Layers.RegionEvents(c.Request.Context(), owner(c), c.Param("id"), limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, driftEvents(evs))
}

func driftEvents(evs []*pb.RegionDriftEvent) []api.DriftEventItem {
	out := make([]api.DriftEventItem, len(evs))
	for i, e := range evs {
		out[i] = api.DriftEventItem{ClusterID: e.GetClusterId(), RegionID: e.GetRegionId(), SessionID: e.GetSessionId(),
			DriftScore: e.GetDriftScore(), DriftPhase: e.GetDriftPhase(), Timestamp: epoch(e.GetAtUnixNano())}
	}
	return out
}

// ---------------------------------------------------------------- observer

// createObserver creates the caller's observer or returns the existing one.
// It answers 201 either way (semvec clients expect 201 from this route);
// "created" tells which. region_ids are registered in both cases.
func (s *Server) createObserver(c *gin.Context) {
	var b api.ObserverCreateBody
	if !emptyBody(c) && !bindJSON(c, &b) {
		return
	}
	interval := defaultSampleInterval
	if b.SampleIntervalSeconds != nil {
		interval = *b.SampleIntervalSeconds
	}
	info, created, err := s.d.Layers.EnsureObserver(c.Request.Context(), owner(c), interval, b.RegionIDs)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, api.ObserverCreated{ObserverID: info.ID, RegisteredRegions: info.RegisteredRegions, MetaSessionID: info.MetaSessionID,
		SampleIntervalSeconds: info.SampleIntervalSeconds, Created: created})
}

func (s *Server) observerSummary(c *gin.Context) {
	res, err := s.d.Layers.ObserverSummary(c.Request.Context(), owner(c), defaultListLimit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.ObserverSummary{
		ObserverID: res.GetObserverId(), MetaSessionID: res.GetMetaSessionId(),
		RegisteredRegions: len(res.GetRegionIds()), RegionIDs: nonNil(res.GetRegionIds()),
		SampleIntervalSeconds: res.GetSampleIntervalSeconds(), TotalClustersObserved: res.GetTotalClustersObserved(),
		LastSampleAt: epochOrNil(res.GetLastSampleUnixNano()), AnomalyCount: res.GetAnomalyCount(),
		RecentAnomalies: anomalies(res.GetRecentAnomalies()), Samples: res.GetSamples(),
	})
}

// observerSample samples now: the observer asks every registered region
// (up to persistence.DefaultMaxLinks) and the backing session of every
// cluster they hold (up to persistence.DefaultMaxEntities, activating those
// passivated), then writes its sample. It spends a token per region and
// cluster sampled besides the request's own, as getCluster does per member
// asked.
func (s *Server) observerSample(c *gin.Context) {
	res, err := s.d.Layers.ObserverSample(c.Request.Context(), owner(c))
	if err != nil {
		s.d.Limiter.debit(c, unknownWork(c, err, maxFanOutCharge))
		fail(c, err)
		return
	}
	s.d.Limiter.debit(c, int(res.GetRegionsSampled()+res.GetClustersSampled())-1) // a token per actor asked
	c.JSON(http.StatusOK, api.ObserverSample{
		SampledAt: epoch(res.GetSampledAtUnixNano()), ClustersSampled: res.GetClustersSampled(),
		RegionsSampled: res.GetRegionsSampled(), SampleDurationMs: res.GetSampleDurationMs(),
		NewAnomalies: len(res.GetNewAnomalies()), Anomalies: anomalies(res.GetNewAnomalies()),
		TotalAnomalies: res.GetTotalAnomalies(),
	})
}

func (s *Server) listAnomalies(c *gin.Context) {
	var q api.LimitQuery
	if !bindQuery(c, &q) {
		return
	}
	limit := defaultListLimit
	if q.Limit != nil {
		limit = *q.Limit
	}
	as, err := s.d.Layers.ObserverAnomalies(c.Request.Context(), owner(c), limit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, anomalies(as))
}

func (s *Server) clearAnomalies(c *gin.Context) {
	n, err := s.d.Layers.ClearAnomalies(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.AnomaliesCleared{Cleared: n})
}

func (s *Server) registerRegion(c *gin.Context) {
	var b api.RegionBody
	if !bindJSON(c, &b) {
		return
	}
	oid, n, err := s.d.Layers.RegisterRegion(c.Request.Context(), owner(c), b.RegionID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.ObserverRegion{ObserverID: oid, RegionID: b.RegionID, RegisteredRegions: n})
}

func (s *Server) unregisterRegion(c *gin.Context) {
	rid := c.Param("rid")
	oid, n, err := s.d.Layers.UnregisterRegion(c.Request.Context(), owner(c), rid)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.ObserverRegion{ObserverID: oid, RegionID: rid, RegisteredRegions: n})
}

func anomalies(as []*pb.Anomaly) []api.AnomalyItem {
	out := make([]api.AnomalyItem, len(as))
	for i, a := range as {
		out[i] = api.AnomalyItem{AnomalyID: a.GetAnomalyId(), Timestamp: epoch(a.GetAtUnixNano()), AnomalyType: a.GetAnomalyType(),
			AffectedClusterIDs: nonNil(a.GetAffectedClusterIds()), Description: a.GetDescription(), Severity: a.GetSeverity()}
	}
	return out
}

// ---------------------------------------------------------------- network

func (s *Server) transfer(c *gin.Context) {
	var b api.TransferBody
	if !bindJSON(c, &b) {
		return
	}
	w := actors.DefaultMaxWeight
	if b.MaxWeight != nil {
		w = *b.MaxWeight
	}
	res, err := s.d.Layers.Transfer(c.Request.Context(), owner(c), b.SourceSessionID, b.TargetSessionID, w)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.Transfer{SourceSessionID: res.GetSourceSessionId(), TargetSessionID: res.GetTargetSessionId(),
		DeltaNorm: res.GetDeltaNorm(), MaxWeight: w, Transferred: res.GetTransferred()})
}

func (s *Server) switchUser(c *gin.Context) {
	var b api.SwitchBody
	if !bindJSON(c, &b) {
		return
	}
	if !actors.ValidUserID(b.UserID) {
		validationError(c, api.ValidationItem{Loc: []any{"body", "user_id"}, Msg: "String should match pattern '" + actors.UserIDPattern + "'", Type: "string_pattern_mismatch"})
		return
	}
	res, err := s.d.Layers.SwitchUser(c.Request.Context(), owner(c), b.UserID)
	if err != nil {
		s.d.Limiter.debit(c, unknownWork(c, err, maxFanOutCharge))
		fail(c, err)
		return
	}
	s.d.Limiter.debit(c, int(res.GetSavedSessions()+res.GetRestoredSessions())-1) // a token per session saved or restored
	c.JSON(http.StatusOK, api.UserSwitched{ActiveUser: res.GetActiveUser(), PreviousUser: res.GetPreviousUser(),
		SavedSessions: int(res.GetSavedSessions()), RestoredSessions: int(res.GetRestoredSessions())})
}

func (s *Server) activeUser(c *gin.Context) {
	u, err := s.d.Layers.ActiveUser(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.ActiveUser{ActiveUser: u})
}

func (s *Server) serializeUser(c *gin.Context) {
	res, err := s.d.Layers.SerializeUser(c.Request.Context(), owner(c), c.Param("uid"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.UserState{UserID: res.GetUserId(), State: res.GetState()})
}

func (s *Server) propose(c *gin.Context) {
	var b api.ConsensusBody
	if !bindJSON(c, &b) {
		return
	}
	res, err := s.d.Layers.Propose(c.Request.Context(), owner(c), b.ProposerSessionID, b.TargetEmbedding)
	if err != nil {
		s.d.Limiter.debit(c, unknownWork(c, err, maxFanOutCharge))
		fail(c, err)
		return
	}
	// Every voter's state was asked (the active partition's instances and
	// the owner's most recent sessions, a few hundred at most): a token per
	// voter besides the request's own (the proposer's, which does not vote).
	s.d.Limiter.debit(c, len(res.GetVotes()))
	votes := make([]api.ConsensusVote, len(res.GetVotes()))
	for i, v := range res.GetVotes() {
		votes[i] = api.ConsensusVote{SessionID: v.GetSessionId(), Similarity: v.GetSimilarity(), Vote: v.GetYes(), Trust: v.GetTrust()}
	}
	c.JSON(http.StatusOK, api.Consensus{Accepted: res.GetAccepted(), TrustScores: nonNilScores(res.GetTrustScores()),
		ProposerSessionID: res.GetProposerSessionId(), WeightedYesShare: res.GetWeightedYesShare(), Votes: votes})
}

func (s *Server) trust(c *gin.Context) {
	scores, err := s.d.Layers.Trust(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, api.TrustScores{TrustScores: nonNilScores(scores)})
}

// ---------------------------------------------------------------- helpers

// emptyBody reports whether the request has no body (or only whitespace),
// putting the body back for a later bindJSON. A body that cannot be read is
// not empty: bindJSON then reports the failure.
func emptyBody(c *gin.Context) bool {
	if c.Request.Body == nil || c.Request.Body == http.NoBody {
		return true
	}
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		c.Request.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), errReader{err}))
		return false
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(b))
	// A body that came in past the request's deadline is left to bindJSON,
	// which answers 408 for it.
	return len(bytes.TrimSpace(b)) == 0 && !errors.Is(c.Request.Context().Err(), context.DeadlineExceeded)
}

// errReader replays a read error (so bindJSON answers 413 for a body over
// the limit that emptyBody already consumed).
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func epochTime(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func epochOrNil(ns int64) *float64 {
	if ns == 0 {
		return nil
	}
	v := epoch(ns)
	return &v
}

func nonNilScores(m map[string]float64) map[string]float64 {
	if m == nil {
		return map[string]float64{}
	}
	return m
}

// detailAnonymousPartitions is the 403 of a user-partition route asked by
// an anonymous caller.
const detailAnonymousPartitions = "User partitions belong to a licence subject: anonymous callers (SEMVEC_ALLOW_ANONYMOUS) cannot switch, read or serialize them; send a licence token"

// partitionsNeedASubject refuses the user-partition routes to an anonymous
// caller (SEMVEC_ALLOW_ANONYMOUS) with 403: partitions are owned by a
// licence subject, and semvec refuses partition operations without an
// owner (functional spec §3.3). Transfers and consensus, which act in the
// active partition, stay open to it.
func partitionsNeedASubject(c *gin.Context) {
	if CallerFrom(c).Anonymous {
		abortUnread(c, http.StatusForbidden, detailAnonymousPartitions)
		return
	}
	c.Next()
}

// maxFanOutCharge is what a feedback, a partition switch, a cluster's state,
// an observer's sample or a consensus proposal whose outcome is unknown is
// charged (debit caps it at the caller's burst).
const maxFanOutCharge = 1000

// unknownWork is n when err leaves the work done unknown — the request's
// deadline passed or its client went away, while the actor may still
// finish (a cluster finishes a feedback its callers gave up on) — so that
// hanging up cannot dodge the charge; else 0.
func unknownWork(c *gin.Context, err error, n int) int {
	if semvec.KindOf(err) == semvec.KindTimeout || c.Request.Context().Err() != nil {
		return n
	}
	return 0
}
