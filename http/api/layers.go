package api

import "encoding/json"

// ---------------------------------------------------------------- requests

// No field here is Optional in the contract: each is required or has a
// default value (aggregation_mode "weighted_average", coupling_factor 0,
// consensus_threshold 0.5, vote_window_seconds 60, sample_interval_seconds
// 30, region_ids [], max_weight 0.15), so none takes JSON null (see the
// package doc).

// ClusterCreateBody is the body of POST /v1/cluster/.
type ClusterCreateBody struct {
	Name            string   `json:"name" binding:"required,max=256,nonul"`
	AggregationMode *string  `json:"aggregation_mode,omitempty" binding:"omitempty,max=64" default:"weighted_average"` // or attention; else 400
	CouplingFactor  *float64 `json:"coupling_factor,omitempty" binding:"omitempty,gte=0,lte=1" default:"0"`
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
	Name               string   `json:"name" binding:"required,max=256,nonul"`
	ConsensusThreshold *float64 `json:"consensus_threshold,omitempty" binding:"omitempty,gt=0,lte=1" default:"0.5"`
	VoteWindowSeconds  *float64 `json:"vote_window_seconds,omitempty" binding:"omitempty,gt=0,lte=31536000" default:"60"` // a year at most
}

// AttachBody is the body of POST /v1/region/{id}/clusters.
type AttachBody struct {
	ClusterID string `json:"cluster_id" binding:"required,max=128"`
}

// ObserverCreateBody is the body of POST /v1/observer/ (an empty body means
// the defaults).
type ObserverCreateBody struct {
	SampleIntervalSeconds *float64 `json:"sample_interval_seconds,omitempty" binding:"omitempty,gt=0,lte=31536000" default:"30"` // a year at most
	RegionIDs             []string `json:"region_ids,omitempty" binding:"max=1000,dive,max=128"`
}

// RegionBody is the body of POST /v1/observer/regions.
type RegionBody struct {
	RegionID string `json:"region_id" binding:"required,max=128"`
}

// TransferBody is the body of POST /v1/network/transfer.
type TransferBody struct {
	SourceSessionID string   `json:"source_session_id" binding:"required,max=128"`
	TargetSessionID string   `json:"target_session_id" binding:"required,max=128"`
	MaxWeight       *float64 `json:"max_weight,omitempty" binding:"omitempty,gt=0,lte=1" default:"0.15"`
}

// SwitchBody is the body of POST /v1/network/users/switch.
type SwitchBody struct {
	UserID string `json:"user_id" binding:"required,max=128" pattern:"^[A-Za-z0-9._:@+-]{1,128}$" doc:"The user whose partition becomes active: letters, digits and . _ : @ + - (an e-mail address is fine), not dots alone; at most 128 characters."`
}

// ConsensusBody is the body of POST /v1/network/consensus.
type ConsensusBody struct {
	ProposerSessionID string    `json:"proposer_session_id" binding:"required,max=128"`
	TargetEmbedding   []float32 `json:"target_embedding" binding:"required"`
}

// LimitQuery is the query of the routes that list recent events or anomalies.
type LimitQuery struct {
	Limit *int `form:"limit" binding:"omitempty,gte=1,lte=1000" default:"20"`
}

// ---------------------------------------------------------------- clusters

// ClusterCreated is the response of POST /v1/cluster/.
type ClusterCreated struct {
	AggregationMode string  `json:"aggregation_mode"`
	ClusterID       string  `json:"cluster_id"`
	CouplingFactor  float64 `json:"coupling_factor"`
	Name            string  `json:"name"`
}

// ClusterListItem is one entry of GET /v1/cluster/.
type ClusterListItem struct {
	ClusterID       string  `json:"cluster_id"`
	Name            string  `json:"name"`
	MemberCount     int     `json:"member_count"`
	AggregationMode string  `json:"aggregation_mode"`
	CouplingFactor  float64 `json:"coupling_factor"`
	CreatedAt       float64 `json:"created_at"`
}

// ClusterState is the response of GET /v1/cluster/{id}.
type ClusterState struct {
	ClusterID          string    `json:"cluster_id"`
	Name               string    `json:"name"`
	MemberCount        int       `json:"member_count"`
	MemberIDs          []string  `json:"member_ids"`
	RegionIDs          []string  `json:"region_ids"`
	Phase              string    `json:"phase"`
	InteractionCount   int64     `json:"interaction_count"`
	TotalMemories      int32     `json:"total_memories"`
	AggregationMode    string    `json:"aggregation_mode"`
	CouplingFactor     float64   `json:"coupling_factor"`
	AggregateVector    []float32 `json:"aggregate_vector"`
	InitializedMembers int32     `json:"initialized_members"`
}

// ClusterDeleted is the response of DELETE /v1/cluster/{id}.
type ClusterDeleted struct {
	ClusterID string `json:"cluster_id"`
	Deleted   bool   `json:"deleted"`
}

// ClusterStored is the response of POST /v1/cluster/{id}/store.
type ClusterStored struct {
	ClusterID     string `json:"cluster_id"`
	SessionID     string `json:"session_id"`
	Stored        bool   `json:"stored"`
	TotalMemories int32  `json:"total_memories"`
}

// ClusterFeedback is the response of POST /v1/cluster/{id}/feedback.
type ClusterFeedback struct {
	ClusterID       string `json:"cluster_id"`
	SessionsUpdated int32  `json:"sessions_updated"`
}

// MemberAdded is the response of POST /v1/cluster/{id}/members; added is
// false when the session was a member already.
type MemberAdded struct {
	Added     bool   `json:"added"`
	ClusterID string `json:"cluster_id"`
	SessionID string `json:"session_id"`
}

// MemberRemoved is the response of DELETE /v1/cluster/{id}/members/{sid}.
type MemberRemoved struct {
	ClusterID string `json:"cluster_id"`
	Removed   bool   `json:"removed"`
	SessionID string `json:"session_id"`
}

// ---------------------------------------------------------------- regions

// RegionCreated is the response of POST /v1/region/.
type RegionCreated struct {
	ConsensusThreshold float64 `json:"consensus_threshold"`
	MetaSessionID      string  `json:"meta_session_id"`
	Name               string  `json:"name"`
	RegionID           string  `json:"region_id"`
	VoteWindowSeconds  float64 `json:"vote_window_seconds"`
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

// RegionState is the response of GET /v1/region/{id}.
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

// RegionDeleted is the response of DELETE /v1/region/{id}.
type RegionDeleted struct {
	Deleted  bool   `json:"deleted"`
	RegionID string `json:"region_id"`
}

// ClusterAttached is the response of POST /v1/region/{id}/clusters; added
// is false when the cluster was attached already.
type ClusterAttached struct {
	Added     bool   `json:"added"`
	ClusterID string `json:"cluster_id"`
	RegionID  string `json:"region_id"`
}

// ClusterDetached is the response of DELETE /v1/region/{id}/clusters/{cid}.
type ClusterDetached struct {
	ClusterID string `json:"cluster_id"`
	RegionID  string `json:"region_id"`
	Removed   bool   `json:"removed"`
}

// ---------------------------------------------------------------- observer

// ObserverCreated is the response of POST /v1/observer/; created is false
// when the caller's observer existed already.
type ObserverCreated struct {
	Created               bool    `json:"created"`
	MetaSessionID         string  `json:"meta_session_id"`
	ObserverID            string  `json:"observer_id"`
	RegisteredRegions     int     `json:"registered_regions"`
	SampleIntervalSeconds float64 `json:"sample_interval_seconds"`
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

// ObserverSummary is the response of GET /v1/observer/summary.
type ObserverSummary struct {
	AnomalyCount          int32         `json:"anomaly_count"`
	LastSampleAt          *float64      `json:"last_sample_at"`
	MetaSessionID         string        `json:"meta_session_id"`
	ObserverID            string        `json:"observer_id"`
	RecentAnomalies       []AnomalyItem `json:"recent_anomalies"`
	RegionIDs             []string      `json:"region_ids"`
	RegisteredRegions     int           `json:"registered_regions"`
	SampleIntervalSeconds float64       `json:"sample_interval_seconds"`
	Samples               int32         `json:"samples"`
	TotalClustersObserved int32         `json:"total_clusters_observed"`
}

// ObserverSample is the response of POST /v1/observer/sample.
type ObserverSample struct {
	Anomalies        []AnomalyItem `json:"anomalies"`
	ClustersSampled  int32         `json:"clusters_sampled"`
	NewAnomalies     int           `json:"new_anomalies"`
	RegionsSampled   int32         `json:"regions_sampled"`
	SampleDurationMs float64       `json:"sample_duration_ms"`
	SampledAt        float64       `json:"sampled_at"`
	TotalAnomalies   int32         `json:"total_anomalies"`
}

// AnomaliesCleared is the response of DELETE /v1/observer/anomalies.
type AnomaliesCleared struct {
	Cleared int `json:"cleared"`
}

// ObserverRegion is the response of POST /v1/observer/regions and DELETE
// /v1/observer/regions/{rid}.
type ObserverRegion struct {
	ObserverID        string `json:"observer_id"`
	RegionID          string `json:"region_id"`
	RegisteredRegions int    `json:"registered_regions"`
}

// ---------------------------------------------------------------- network

// Transfer is the response of POST /v1/network/transfer.
type Transfer struct {
	DeltaNorm       float64 `json:"delta_norm"`
	MaxWeight       float64 `json:"max_weight"`
	SourceSessionID string  `json:"source_session_id"`
	TargetSessionID string  `json:"target_session_id"`
	Transferred     bool    `json:"transferred" doc:"false when nothing moved: either session has no state yet, or the two are one session"`
}

// UserSwitched is the response of POST /v1/network/users/switch.
type UserSwitched struct {
	ActiveUser   string `json:"active_user"`
	PreviousUser string `json:"previous_user"`
	// RestoredSessions is how many sessions were set back to the states
	// saved with the target partition; SavedSessions how many session
	// states were saved with the partition switched away from.
	RestoredSessions int `json:"restored_sessions"`
	SavedSessions    int `json:"saved_sessions"`
}

// ActiveUser is the response of GET /v1/network/users/active.
type ActiveUser struct {
	ActiveUser string `json:"active_user"`
}

// UserState is the response of POST /v1/network/users/{uid}/serialize.
type UserState struct {
	State  json.RawMessage `json:"state"`
	UserID string          `json:"user_id"`
}

// ConsensusVote is one session's ballot on a proposal.
type ConsensusVote struct {
	SessionID  string  `json:"session_id"`
	Similarity float64 `json:"similarity"`
	Trust      float64 `json:"trust"`
	Vote       bool    `json:"vote"`
}

// Consensus is the response of POST /v1/network/consensus.
type Consensus struct {
	Accepted          bool               `json:"accepted"`
	ProposerSessionID string             `json:"proposer_session_id"`
	TrustScores       map[string]float64 `json:"trust_scores"`
	Votes             []ConsensusVote    `json:"votes"`
	WeightedYesShare  float64            `json:"weighted_yes_share"`
}

// TrustScores is the response of GET /v1/network/consensus/trust.
type TrustScores struct {
	TrustScores map[string]float64 `json:"trust_scores"`
}
