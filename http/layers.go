package http

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	pb "github.com/semvec-go/semvec/proto"
)

// layerRoutes registers the Layer 2–5 routes: clusters, regions, the global
// observer and the network layer. Collection routes answer with and without
// the trailing slash (FastAPI clients call /v1/cluster/).
func (s *Server) layerRoutes(v1 *gin.RouterGroup) {
	for _, p := range []string{"/cluster", "/cluster/"} {
		v1.POST(p, s.createCluster)
		v1.GET(p, s.listClusters)
	}
	v1.GET("/cluster/:id", s.getCluster)
	v1.DELETE("/cluster/:id", s.deleteCluster)
	v1.POST("/cluster/:id/run", s.clusterRun)
	v1.POST("/cluster/:id/store", s.clusterStore)
	v1.POST("/cluster/:id/feedback", s.clusterFeedback)
	v1.POST("/cluster/:id/members", s.addMember)
	v1.DELETE("/cluster/:id/members/:sid", s.removeMember)

	for _, p := range []string{"/region", "/region/"} {
		v1.POST(p, s.createRegion)
		v1.GET(p, s.listRegions)
	}
	v1.GET("/region/:id", s.getRegion)
	v1.DELETE("/region/:id", s.deleteRegion)
	v1.POST("/region/:id/clusters", s.attachCluster)
	v1.DELETE("/region/:id/clusters/:cid", s.detachCluster)
	v1.GET("/region/:id/events", s.regionEvents)

	for _, p := range []string{"/observer", "/observer/"} {
		v1.POST(p, s.createObserver)
	}
	v1.GET("/observer/summary", s.observerSummary)
	v1.POST("/observer/sample", s.observerSample)
	v1.GET("/observer/anomalies", s.listAnomalies)
	v1.DELETE("/observer/anomalies", s.clearAnomalies)
	v1.POST("/observer/regions", s.registerRegion)
	v1.DELETE("/observer/regions/:rid", s.unregisterRegion)

	v1.POST("/network/transfer", s.transfer)
	v1.POST("/network/users/switch", s.switchUser)
	v1.GET("/network/users/active", s.activeUser)
	v1.POST("/network/users/:uid/serialize", s.serializeUser)
	v1.POST("/network/consensus", s.propose)
	v1.GET("/network/consensus/trust", s.trust)
}

// ---------------------------------------------------------------- request bodies

// ClusterCreateBody is the body of POST /v1/cluster/.
type ClusterCreateBody struct {
	Name            string   `json:"name" binding:"required,max=256"`
	AggregationMode *string  `json:"aggregation_mode" binding:"omitempty,max=64"`     // weighted_average (default) | attention; else 400
	CouplingFactor  *float64 `json:"coupling_factor" binding:"omitempty,gte=0,lte=1"` // default 0
}

// ClusterStoreBody is the body of POST /v1/cluster/{id}/store: one Q&A pair.
type ClusterStoreBody struct {
	Message  string `json:"message" binding:"required,notblank,max=32000"`
	Response string `json:"response" binding:"required,notblank,max=64000"`
}

// MemberBody is the body of POST /v1/cluster/{id}/members.
type MemberBody struct {
	SessionID string `json:"session_id" binding:"required,max=128"`
}

// RegionCreateBody is the body of POST /v1/region/.
type RegionCreateBody struct {
	Name               string   `json:"name" binding:"required,max=256"`
	ConsensusThreshold *float64 `json:"consensus_threshold" binding:"omitempty,gt=0,lte=1"`        // default 0.5
	VoteWindowSeconds  *float64 `json:"vote_window_seconds" binding:"omitempty,gt=0,lte=31536000"` // a year at most; default 60
}

// AttachBody is the body of POST /v1/region/{id}/clusters.
type AttachBody struct {
	ClusterID string `json:"cluster_id" binding:"required,max=128"`
}

// ObserverCreateBody is the body of POST /v1/observer/ (an empty body means
// the defaults).
type ObserverCreateBody struct {
	SampleIntervalSeconds *float64 `json:"sample_interval_seconds" binding:"omitempty,gt=0,lte=31536000"` // a year at most; default 30
	RegionIDs             []string `json:"region_ids" binding:"max=1000,dive,max=128"`
}

// RegionBody is the body of POST /v1/observer/regions.
type RegionBody struct {
	RegionID string `json:"region_id" binding:"required,max=128"`
}

// TransferBody is the body of POST /v1/network/transfer.
type TransferBody struct {
	SourceSessionID string   `json:"source_session_id" binding:"required,max=128"`
	TargetSessionID string   `json:"target_session_id" binding:"required,max=128"`
	MaxWeight       *float64 `json:"max_weight" binding:"omitempty,gt=0,lte=1"` // default 0.15
}

// SwitchBody is the body of POST /v1/network/users/switch.
type SwitchBody struct {
	UserID string `json:"user_id" binding:"required,max=128"`
}

// ConsensusBody is the body of POST /v1/network/consensus.
type ConsensusBody struct {
	ProposerSessionID string    `json:"proposer_session_id" binding:"required,max=128"`
	TargetEmbedding   []float32 `json:"target_embedding" binding:"required"`
}

type limitQuery struct {
	Limit *int `form:"limit" binding:"omitempty,gte=1,lte=1000"`
}

// Defaults of the optional fields.
const (
	defaultConsensusThreshold = 0.5
	defaultVoteWindowSeconds  = 60.0
	defaultSampleInterval     = 30.0
	defaultListLimit          = 20
)

// ---------------------------------------------------------------- response shapes

// ClusterListItem is one entry of GET /v1/cluster/.
type ClusterListItem struct {
	ClusterID       string  `json:"cluster_id"`
	Name            string  `json:"name"`
	MemberCount     int     `json:"member_count"`
	AggregationMode string  `json:"aggregation_mode"`
	CouplingFactor  float64 `json:"coupling_factor"`
	CreatedAt       float64 `json:"created_at"`
}

// ClusterState is the body of GET /v1/cluster/{id}.
type ClusterState struct {
	ClusterID          string    `json:"cluster_id"`
	Name               string    `json:"name"`
	MemberCount        int       `json:"member_count"`
	MemberIDs          []string  `json:"member_ids"`
	RegionIDs          []string  `json:"region_ids"`
	Phase              string    `json:"phase"`
	InteractionCount   int32     `json:"interaction_count"`
	TotalMemories      int32     `json:"total_memories"`
	AggregationMode    string    `json:"aggregation_mode"`
	CouplingFactor     float64   `json:"coupling_factor"`
	AggregateVector    []float32 `json:"aggregate_vector"`
	InitializedMembers int32     `json:"initialized_members"`
}

// RegionListItem is one entry of GET /v1/region/.
type RegionListItem struct {
	RegionID           string   `json:"region_id"`
	Name               string   `json:"name"`
	ClusterCount       int      `json:"cluster_count"`
	MetaSessionID      string   `json:"meta_session_id"`
	ConsensusThreshold float64  `json:"consensus_threshold"`
	VoteWindowSeconds  float64  `json:"vote_window_seconds"`
	LastRealignment    *float64 `json:"last_realignment"`
}

// DriftEventItem is one region drift event.
type DriftEventItem struct {
	ClusterID  string  `json:"cluster_id"`
	RegionID   string  `json:"region_id"`
	SessionID  string  `json:"session_id"`
	DriftScore float64 `json:"drift_score"`
	DriftPhase string  `json:"drift_phase"`
	Timestamp  float64 `json:"timestamp"`
}

// RegionState is the body of GET /v1/region/{id}.
type RegionState struct {
	RegionID           string           `json:"region_id"`
	Name               string           `json:"name"`
	ClusterCount       int              `json:"cluster_count"`
	ClusterIDs         []string         `json:"cluster_ids"`
	MetaSessionID      string           `json:"meta_session_id"`
	ConsensusThreshold float64          `json:"consensus_threshold"`
	VoteWindowSeconds  float64          `json:"vote_window_seconds"`
	RecentDriftEvents  []DriftEventItem `json:"recent_drift_events"`
	ActiveVotes        int              `json:"active_votes"`
	LastRealignment    *float64         `json:"last_realignment"`
}

// AnomalyItem is one observer anomaly.
type AnomalyItem struct {
	AnomalyID          string   `json:"anomaly_id"`
	Timestamp          float64  `json:"timestamp"`
	AnomalyType        string   `json:"anomaly_type"`
	AffectedClusterIDs []string `json:"affected_cluster_ids"`
	Description        string   `json:"description"`
	Severity           float64  `json:"severity"`
}

// ---------------------------------------------------------------- clusters

func (s *Server) createCluster(c *gin.Context) {
	var b ClusterCreateBody
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
	c.JSON(http.StatusCreated, gin.H{"cluster_id": info.ID, "name": info.Name, "aggregation_mode": info.AggregationMode, "coupling_factor": info.CouplingFactor})
}

func (s *Server) listClusters(c *gin.Context) {
	rows, err := s.d.Layers.ListClusters(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]ClusterListItem, len(rows))
	for i, r := range rows {
		out[i] = ClusterListItem{ClusterID: r.ID, Name: r.Name, MemberCount: r.MemberCount, AggregationMode: r.AggregationMode,
			CouplingFactor: r.CouplingFactor, CreatedAt: epochTime(r.CreatedAt)}
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) getCluster(c *gin.Context) {
	res, err := s.d.Layers.ClusterState(c.Request.Context(), owner(c), c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, ClusterState{
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
	c.JSON(http.StatusOK, gin.H{"cluster_id": id, "deleted": true})
}

// clusterRun is /v1/run on the cluster's backing session (cluster_id ==
// session_id). It never creates a session.
func (s *Server) clusterRun(c *gin.Context) {
	var b RunBody
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
	var b ClusterStoreBody
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
	c.JSON(http.StatusOK, gin.H{"cluster_id": id, "session_id": id, "stored": true, "total_memories": res.GetTotalMemories()})
}

func (s *Server) clusterFeedback(c *gin.Context) {
	id := c.Param("id")
	res, err := s.d.Layers.ClusterFeedback(c.Request.Context(), owner(c), id)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"cluster_id": id, "sessions_updated": res.GetSessionsUpdated()})
}

func (s *Server) addMember(c *gin.Context) {
	var b MemberBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	added, err := s.d.Layers.AddMember(c.Request.Context(), owner(c), id, b.SessionID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"cluster_id": id, "session_id": b.SessionID, "added": added})
}

func (s *Server) removeMember(c *gin.Context) {
	id, sid := c.Param("id"), c.Param("sid")
	if err := s.d.Layers.RemoveMember(c.Request.Context(), owner(c), id, sid); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"cluster_id": id, "session_id": sid, "removed": true})
}

// ---------------------------------------------------------------- regions

func (s *Server) createRegion(c *gin.Context) {
	var b RegionCreateBody
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
	c.JSON(http.StatusCreated, gin.H{"region_id": info.ID, "name": info.Name, "meta_session_id": info.MetaSessionID,
		"consensus_threshold": info.ConsensusThreshold, "vote_window_seconds": info.VoteWindowSeconds})
}

func (s *Server) listRegions(c *gin.Context) {
	rows, err := s.d.Layers.ListRegions(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]RegionListItem, len(rows))
	for i, r := range rows {
		out[i] = RegionListItem{RegionID: r.ID, Name: r.Name, ClusterCount: r.ClusterCount, MetaSessionID: r.MetaSessionID,
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
	out := RegionState{
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
	c.JSON(http.StatusOK, gin.H{"region_id": id, "deleted": true})
}

func (s *Server) attachCluster(c *gin.Context) {
	var b AttachBody
	if !bindJSON(c, &b) {
		return
	}
	id := c.Param("id")
	added, err := s.d.Layers.AttachCluster(c.Request.Context(), owner(c), id, b.ClusterID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"region_id": id, "cluster_id": b.ClusterID, "added": added})
}

func (s *Server) detachCluster(c *gin.Context) {
	id, cid := c.Param("id"), c.Param("cid")
	if err := s.d.Layers.DetachCluster(c.Request.Context(), owner(c), id, cid); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"region_id": id, "cluster_id": cid, "removed": true})
}

func (s *Server) regionEvents(c *gin.Context) {
	var q limitQuery
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

func driftEvents(evs []*pb.RegionDriftEvent) []DriftEventItem {
	out := make([]DriftEventItem, len(evs))
	for i, e := range evs {
		out[i] = DriftEventItem{ClusterID: e.GetClusterId(), RegionID: e.GetRegionId(), SessionID: e.GetSessionId(),
			DriftScore: e.GetDriftScore(), DriftPhase: e.GetDriftPhase(), Timestamp: epoch(e.GetAtUnixNano())}
	}
	return out
}

// ---------------------------------------------------------------- observer

// createObserver creates the caller's observer or returns the existing one.
// It answers 201 either way (semvec clients expect 201 from this route);
// "created" tells which. region_ids are registered in both cases.
func (s *Server) createObserver(c *gin.Context) {
	var b ObserverCreateBody
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
	c.JSON(http.StatusCreated, gin.H{"observer_id": info.ID, "registered_regions": info.RegisteredRegions, "meta_session_id": info.MetaSessionID,
		"sample_interval_seconds": info.SampleIntervalSeconds, "created": created})
}

func (s *Server) observerSummary(c *gin.Context) {
	res, err := s.d.Layers.ObserverSummary(c.Request.Context(), owner(c), defaultListLimit)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"observer_id": res.GetObserverId(), "meta_session_id": res.GetMetaSessionId(),
		"registered_regions": len(res.GetRegionIds()), "region_ids": nonNil(res.GetRegionIds()),
		"sample_interval_seconds": res.GetSampleIntervalSeconds(), "total_clusters_observed": res.GetTotalClustersObserved(),
		"last_sample_at": epochOrNil(res.GetLastSampleUnixNano()), "anomaly_count": res.GetAnomalyCount(),
		"recent_anomalies": anomalies(res.GetRecentAnomalies()), "samples": res.GetSamples(),
	})
}

func (s *Server) observerSample(c *gin.Context) {
	res, err := s.d.Layers.ObserverSample(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"sampled_at": epoch(res.GetSampledAtUnixNano()), "clusters_sampled": res.GetClustersSampled(),
		"regions_sampled": res.GetRegionsSampled(), "sample_duration_ms": res.GetSampleDurationMs(),
		"new_anomalies": len(res.GetNewAnomalies()), "anomalies": anomalies(res.GetNewAnomalies()),
		"total_anomalies": res.GetTotalAnomalies(),
	})
}

func (s *Server) listAnomalies(c *gin.Context) {
	var q limitQuery
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
	c.JSON(http.StatusOK, gin.H{"cleared": n})
}

func (s *Server) registerRegion(c *gin.Context) {
	var b RegionBody
	if !bindJSON(c, &b) {
		return
	}
	oid, n, err := s.d.Layers.RegisterRegion(c.Request.Context(), owner(c), b.RegionID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"observer_id": oid, "region_id": b.RegionID, "registered_regions": n})
}

func (s *Server) unregisterRegion(c *gin.Context) {
	rid := c.Param("rid")
	oid, n, err := s.d.Layers.UnregisterRegion(c.Request.Context(), owner(c), rid)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"observer_id": oid, "region_id": rid, "registered_regions": n})
}

func anomalies(as []*pb.Anomaly) []AnomalyItem {
	out := make([]AnomalyItem, len(as))
	for i, a := range as {
		out[i] = AnomalyItem{AnomalyID: a.GetAnomalyId(), Timestamp: epoch(a.GetAtUnixNano()), AnomalyType: a.GetAnomalyType(),
			AffectedClusterIDs: nonNil(a.GetAffectedClusterIds()), Description: a.GetDescription(), Severity: a.GetSeverity()}
	}
	return out
}

// ---------------------------------------------------------------- network

func (s *Server) transfer(c *gin.Context) {
	var b TransferBody
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
	c.JSON(http.StatusOK, gin.H{"source_session_id": res.GetSourceSessionId(), "target_session_id": res.GetTargetSessionId(),
		"delta_norm": res.GetDeltaNorm(), "max_weight": w, "transferred": res.GetTransferred()})
}

func (s *Server) switchUser(c *gin.Context) {
	var b SwitchBody
	if !bindJSON(c, &b) {
		return
	}
	if !actors.ValidID(b.UserID) {
		validationError(c, ValidationItem{Loc: []any{"body", "user_id"}, Msg: "String should match pattern '^[A-Za-z0-9._:-]{1,128}$'", Type: "string_pattern_mismatch"})
		return
	}
	res, err := s.d.Layers.SwitchUser(c.Request.Context(), owner(c), b.UserID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"active_user": res.GetActiveUser(), "previous_user": res.GetPreviousUser()})
}

func (s *Server) activeUser(c *gin.Context) {
	u, err := s.d.Layers.ActiveUser(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"active_user": u})
}

func (s *Server) serializeUser(c *gin.Context) {
	res, err := s.d.Layers.SerializeUser(c.Request.Context(), owner(c), c.Param("uid"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user_id": res.GetUserId(), "state": json.RawMessage(res.GetState())})
}

func (s *Server) propose(c *gin.Context) {
	var b ConsensusBody
	if !bindJSON(c, &b) {
		return
	}
	res, err := s.d.Layers.Propose(c.Request.Context(), owner(c), b.ProposerSessionID, b.TargetEmbedding)
	if err != nil {
		fail(c, err)
		return
	}
	votes := make([]gin.H, len(res.GetVotes()))
	for i, v := range res.GetVotes() {
		votes[i] = gin.H{"session_id": v.GetSessionId(), "similarity": v.GetSimilarity(), "vote": v.GetYes(), "trust": v.GetTrust()}
	}
	c.JSON(http.StatusOK, gin.H{"accepted": res.GetAccepted(), "trust_scores": nonNilScores(res.GetTrustScores()),
		"proposer_session_id": res.GetProposerSessionId(), "weighted_yes_share": res.GetWeightedYesShare(), "votes": votes})
}

func (s *Server) trust(c *gin.Context) {
	scores, err := s.d.Layers.Trust(c.Request.Context(), owner(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"trust_scores": nonNilScores(scores)})
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
	return len(bytes.TrimSpace(b)) == 0
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
