package actors

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
	"github.com/semvec-go/semvec/vecmath"
)

// The methods here are what the HTTP layer calls. Each checks the ids it is
// given (an id that cannot exist is NotFound), writes topology changes and
// tells the actors concerned, and asks the owning actor for everything else. A resource of
// another owner is always reported exactly like a missing one.

// ClusterInfo is a cluster as created.
type ClusterInfo struct {
	ID, Name, AggregationMode string
	CouplingFactor            float64
}

// ClusterSummary is one entry of the cluster list.
type ClusterSummary struct {
	ClusterInfo
	MemberCount int
	CreatedAt   time.Time
}

// RegionInfo is a region as created.
type RegionInfo struct {
	ID, Name, MetaSessionID               string
	ConsensusThreshold, VoteWindowSeconds float64
}

// RegionSummary is one entry of the region list.
type RegionSummary struct {
	RegionInfo
	ClusterCount    int
	LastRealignment *time.Time
	CreatedAt       time.Time
}

// ObserverInfo is an owner's observer.
type ObserverInfo struct {
	ID, MetaSessionID     string
	SampleIntervalSeconds float64
	RegisteredRegions     int
}

// ---------------------------------------------------------------- clusters

// CreateCluster creates a cluster and its backing session (same id, one
// transaction). mode must be weighted_average or attention (KindInvalid);
// coupling must lie in [0, 1] (KindValidation).
func (l *Layers) CreateCluster(ctx context.Context, owner, name, mode string, coupling float64) (ClusterInfo, error) {
	if !ValidAggregationMode(mode) {
		return ClusterInfo{}, semvec.Errorf(semvec.KindInvalid, "Unknown aggregation_mode %q: use %q or %q", mode, AggregationWeightedAverage, AggregationAttention)
	}
	if math.IsNaN(coupling) || coupling < 0 || coupling > 1 {
		return ClusterInfo{}, semvec.FieldError("coupling_factor", "Input should be between 0 and 1")
	}
	id := NewID()
	rec := persistence.ClusterRecord{ID: id, Owner: owner, Name: name, AggregationMode: mode, CouplingFactor: coupling, CreatedAt: l.now().UTC()}
	if err := l.store.CreateCluster(ctx, rec, l.sessions.NewRecord(owner, id, persistence.SessionKindCluster)); err != nil {
		return ClusterInfo{}, err
	}
	return ClusterInfo{ID: id, Name: name, AggregationMode: mode, CouplingFactor: coupling}, nil
}

// ListClusters returns owner's clusters in creation order.
func (l *Layers) ListClusters(ctx context.Context, owner string) ([]ClusterSummary, error) {
	rows, err := l.store.ListClusters(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := make([]ClusterSummary, len(rows))
	for i, r := range rows {
		out[i] = ClusterSummary{ClusterInfo: ClusterInfo{ID: r.ID, Name: r.Name, AggregationMode: r.AggregationMode, CouplingFactor: r.CouplingFactor},
			MemberCount: r.MemberCount, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// ClusterExists returns NotFound("Cluster") unless owner owns cluster id.
func (l *Layers) ClusterExists(ctx context.Context, owner, id string) error {
	if err := notFoundIfInvalid("Cluster", id); err != nil {
		return err
	}
	_, err := l.store.GetCluster(ctx, owner, id)
	return err
}

// ClusterState returns the cluster's metadata, its backing session's summary
// and the aggregate vector of its initialised members.
func (l *Layers) ClusterState(ctx context.Context, owner, id string) (*pb.ClusterStateResponse, error) {
	if err := notFoundIfInvalid("Cluster", id); err != nil {
		return nil, err
	}
	return askLayer[*pb.ClusterStateResponse](ctx, l, l.clusters, ownedKey(owner, id), &pb.ClusterStateRequest{Owner: owner, ClusterId: id})
}

// ClusterFeedback blends the cluster vector into the members (see
// clusterActor.handleFeedback).
func (l *Layers) ClusterFeedback(ctx context.Context, owner, id string) (*pb.ClusterFeedbackResponse, error) {
	if err := notFoundIfInvalid("Cluster", id); err != nil {
		return nil, err
	}
	return askLayer[*pb.ClusterFeedbackResponse](ctx, l, l.clusters, ownedKey(owner, id), &pb.ClusterFeedbackRequest{Owner: owner, ClusterId: id})
}

// DeleteCluster deletes the cluster with its backing session, memberships and
// region links, stops its actor and the backing session's, and tells the
// former members and regions.
func (l *Layers) DeleteCluster(ctx context.Context, owner, id string) error {
	if err := notFoundIfInvalid("Cluster", id); err != nil {
		return err
	}
	if _, err := l.store.GetCluster(ctx, owner, id); err != nil {
		return err
	}
	members, err := l.store.ListMembers(ctx, owner, id)
	if err != nil {
		return err
	}
	regions, err := l.store.RegionsOfCluster(ctx, owner, id)
	if err != nil {
		return err
	}
	memberOf, err := l.store.ClustersOfSession(ctx, owner, id) // clusters the backing session is a member of
	if err != nil {
		return err
	}
	if err := l.store.DeleteCluster(ctx, owner, id); err != nil {
		return err
	}
	l.stopActor(ctx, l.clusters, ownedKey(owner, id))
	l.sessions.Discard(ctx, owner, id)
	for _, sid := range members {
		l.membershipChanged(ctx, owner, sid)
	}
	for _, rid := range regions {
		l.regionChanged(ctx, owner, rid)
	}
	for _, cid := range memberOf {
		if cid != id {
			l.clusterChanged(ctx, owner, cid)
		}
	}
	return nil
}

// AddMember makes session sid (owner's, else NotFound("Session")) a member
// of cluster cid and tells the session and the cluster. added is false when
// it already was one.
func (l *Layers) AddMember(ctx context.Context, owner, cid, sid string) (bool, error) {
	if err := notFoundIfInvalid("Cluster", cid); err != nil {
		return false, err
	}
	if err := notFoundIfInvalid("Session", sid); err != nil {
		return false, err
	}
	added, err := l.store.AddMember(ctx, owner, cid, sid)
	if err != nil {
		return false, err
	}
	if added {
		l.membershipChanged(ctx, owner, sid)
		l.clusterChanged(ctx, owner, cid)
	}
	return added, nil
}

// RemoveMember removes session sid from cluster cid (NotFound("Member") when
// it is not one) and tells the session and the cluster.
func (l *Layers) RemoveMember(ctx context.Context, owner, cid, sid string) error {
	if err := notFoundIfInvalid("Cluster", cid); err != nil {
		return err
	}
	if err := notFoundIfInvalid("Member", sid); err != nil {
		return err
	}
	if err := l.store.RemoveMember(ctx, owner, cid, sid); err != nil {
		return err
	}
	l.membershipChanged(ctx, owner, sid)
	l.clusterChanged(ctx, owner, cid)
	return nil
}

// ---------------------------------------------------------------- regions

// CreateRegion creates a region with its meta session. threshold must lie in
// (0, 1] and window be positive (KindValidation).
func (l *Layers) CreateRegion(ctx context.Context, owner, name string, threshold, window float64) (RegionInfo, error) {
	if math.IsNaN(threshold) || threshold <= 0 || threshold > 1 {
		return RegionInfo{}, semvec.FieldError("consensus_threshold", "Input should be greater than 0 and at most 1")
	}
	if math.IsNaN(window) || math.IsInf(window, 0) || window <= 0 {
		return RegionInfo{}, semvec.FieldError("vote_window_seconds", "Input should be greater than 0")
	}
	id, meta := NewID(), NewID()
	rec := persistence.RegionRecord{ID: id, Owner: owner, Name: name, MetaSessionID: meta,
		ConsensusThreshold: threshold, VoteWindowSeconds: window, CreatedAt: l.now().UTC()}
	if err := l.store.CreateRegion(ctx, rec, l.sessions.NewRecord(owner, meta, persistence.SessionKindRegionMeta)); err != nil {
		return RegionInfo{}, err
	}
	return RegionInfo{ID: id, Name: name, MetaSessionID: meta, ConsensusThreshold: threshold, VoteWindowSeconds: window}, nil
}

// ListRegions returns owner's regions in creation order.
func (l *Layers) ListRegions(ctx context.Context, owner string) ([]RegionSummary, error) {
	rows, err := l.store.ListRegions(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := make([]RegionSummary, len(rows))
	for i, r := range rows {
		out[i] = RegionSummary{
			RegionInfo: RegionInfo{ID: r.ID, Name: r.Name, MetaSessionID: r.MetaSessionID,
				ConsensusThreshold: r.ConsensusThreshold, VoteWindowSeconds: r.VoteWindowSeconds},
			ClusterCount: r.ClusterCount, LastRealignment: r.LastRealignment, CreatedAt: r.CreatedAt,
		}
	}
	return out, nil
}

// RegionState returns the region with its newest eventsLimit drift events.
func (l *Layers) RegionState(ctx context.Context, owner, id string, eventsLimit int) (*pb.RegionStateResponse, error) {
	if err := notFoundIfInvalid("Region", id); err != nil {
		return nil, err
	}
	return askLayer[*pb.RegionStateResponse](ctx, l, l.regions, ownedKey(owner, id),
		&pb.RegionStateRequest{Owner: owner, RegionId: id, EventsLimit: int32(eventsLimit)})
}

// RegionEvents returns the region's newest limit drift events, newest first.
func (l *Layers) RegionEvents(ctx context.Context, owner, id string, limit int) ([]*pb.RegionDriftEvent, error) {
	if err := notFoundIfInvalid("Region", id); err != nil {
		return nil, err
	}
	res, err := askLayer[*pb.RegionEventsResponse](ctx, l, l.regions, ownedKey(owner, id),
		&pb.RegionEventsRequest{Owner: owner, RegionId: id, Limit: int32(limit)})
	if err != nil {
		return nil, err
	}
	return res.GetEvents(), nil
}

// DeleteRegion deletes the region with its meta session, cluster links and
// observer registration, and tells the affected clusters and observer.
func (l *Layers) DeleteRegion(ctx context.Context, owner, id string) error {
	if err := notFoundIfInvalid("Region", id); err != nil {
		return err
	}
	rec, err := l.store.GetRegion(ctx, owner, id)
	if err != nil {
		return err
	}
	clusters, err := l.store.RegionClusters(ctx, owner, id)
	if err != nil {
		return err
	}
	observed, err := l.store.ObserverRegions(ctx, owner)
	if err != nil {
		return err
	}
	if err := l.store.DeleteRegion(ctx, owner, id); err != nil {
		return err
	}
	l.stopActor(ctx, l.regions, ownedKey(owner, id))
	l.sessions.Discard(ctx, owner, rec.MetaSessionID)
	for _, cid := range clusters {
		l.clusterChanged(ctx, owner, cid)
	}
	if slices.Contains(observed, id) {
		l.observerChanged(ctx, owner)
	}
	return nil
}

// AttachCluster links cluster cid to region rid (both owner's). added is
// false when they already were linked.
func (l *Layers) AttachCluster(ctx context.Context, owner, rid, cid string) (bool, error) {
	if err := notFoundIfInvalid("Region", rid); err != nil {
		return false, err
	}
	if err := notFoundIfInvalid("Cluster", cid); err != nil {
		return false, err
	}
	added, err := l.store.AttachCluster(ctx, owner, rid, cid)
	if err != nil {
		return false, err
	}
	if added {
		l.regionChanged(ctx, owner, rid)
		l.clusterChanged(ctx, owner, cid)
	}
	return added, nil
}

// DetachCluster unlinks cluster cid from region rid.
func (l *Layers) DetachCluster(ctx context.Context, owner, rid, cid string) error {
	if err := notFoundIfInvalid("Region", rid); err != nil {
		return err
	}
	if err := notFoundIfInvalid("Cluster", cid); err != nil {
		return err
	}
	if err := l.store.DetachCluster(ctx, owner, rid, cid); err != nil {
		return err
	}
	l.regionChanged(ctx, owner, rid)
	l.clusterChanged(ctx, owner, cid)
	return nil
}

// ---------------------------------------------------------------- observer

// EnsureObserver returns owner's observer, creating it (with its meta
// session) when there is none, and registers regionIDs with it. Every
// region must be owner's (NotFound("Region"), checked before anything is
// written). An existing observer keeps its sample interval. created reports
// whether this call created it.
func (l *Layers) EnsureObserver(ctx context.Context, owner string, interval float64, regionIDs []string) (ObserverInfo, bool, error) {
	if math.IsNaN(interval) || math.IsInf(interval, 0) || interval <= 0 {
		return ObserverInfo{}, false, semvec.FieldError("sample_interval_seconds", "Input should be greater than 0")
	}
	for _, rid := range regionIDs {
		if err := notFoundIfInvalid("Region", rid); err != nil {
			return ObserverInfo{}, false, err
		}
		if _, err := l.store.GetRegion(ctx, owner, rid); err != nil {
			return ObserverInfo{}, false, err
		}
	}
	meta := NewID()
	rec, created, err := l.store.EnsureObserver(ctx,
		persistence.ObserverRecord{ID: NewID(), Owner: owner, MetaSessionID: meta, SampleIntervalSeconds: interval, CreatedAt: l.now().UTC()},
		l.sessions.NewRecord(owner, meta, persistence.SessionKindObserverMeta))
	if err != nil {
		return ObserverInfo{}, false, err
	}
	for _, rid := range regionIDs {
		if _, err := l.store.RegisterObserverRegion(ctx, owner, rid); err != nil {
			return ObserverInfo{}, false, err
		}
	}
	regions, err := l.store.ObserverRegions(ctx, owner)
	if err != nil {
		return ObserverInfo{}, false, err
	}
	l.observerChanged(ctx, owner)
	return ObserverInfo{ID: rec.ID, MetaSessionID: rec.MetaSessionID, SampleIntervalSeconds: rec.SampleIntervalSeconds, RegisteredRegions: len(regions)}, created, nil
}

// ObserverSummary returns the observer's state with its newest recent
// anomalies. NotFound("Observer") before the owner created one.
func (l *Layers) ObserverSummary(ctx context.Context, owner string, recent int) (*pb.ObserverSummaryResponse, error) {
	return askLayer[*pb.ObserverSummaryResponse](ctx, l, l.observers, owner, &pb.ObserverSummaryRequest{Owner: owner, RecentLimit: int32(recent)})
}

// ObserverSample samples now. NotFound("Observer") before one exists.
func (l *Layers) ObserverSample(ctx context.Context, owner string) (*pb.ObserverSampleResponse, error) {
	return askLayer[*pb.ObserverSampleResponse](ctx, l, l.observers, owner, &pb.ObserverSampleRequest{Owner: owner})
}

// ObserverAnomalies returns the newest limit anomalies, newest first; none
// when the owner has no observer.
func (l *Layers) ObserverAnomalies(ctx context.Context, owner string, limit int) ([]*pb.Anomaly, error) {
	res, err := askLayer[*pb.ObserverAnomaliesResponse](ctx, l, l.observers, owner, &pb.ObserverAnomaliesRequest{Owner: owner, Limit: int32(limit)})
	if semvec.KindOf(err) == semvec.KindNotFound {
		return []*pb.Anomaly{}, nil
	}
	if err != nil {
		return nil, err
	}
	return res.GetAnomalies(), nil
}

// ClearAnomalies empties the anomaly log and returns how many it held (0 when
// the owner has no observer).
func (l *Layers) ClearAnomalies(ctx context.Context, owner string) (int, error) {
	res, err := askLayer[*pb.ObserverClearResponse](ctx, l, l.observers, owner, &pb.ObserverClearRequest{Owner: owner})
	if semvec.KindOf(err) == semvec.KindNotFound {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return int(res.GetCleared()), nil
}

// RegisterRegion registers region rid (owner's) with owner's observer and
// returns the observer's id and the number of registered regions.
func (l *Layers) RegisterRegion(ctx context.Context, owner, rid string) (observerID string, registered int, err error) {
	return l.changeRegistration(ctx, owner, rid, l.store.RegisterObserverRegion)
}

// UnregisterRegion removes region rid from owner's observer and returns the
// observer's id and the number of regions left.
func (l *Layers) UnregisterRegion(ctx context.Context, owner, rid string) (observerID string, registered int, err error) {
	return l.changeRegistration(ctx, owner, rid, l.store.UnregisterObserverRegion)
}

func (l *Layers) changeRegistration(ctx context.Context, owner, rid string, change func(ctx context.Context, owner, rid string) (int, error)) (string, int, error) {
	if err := notFoundIfInvalid("Region", rid); err != nil {
		return "", 0, err
	}
	n, err := change(ctx, owner, rid)
	if err != nil {
		return "", 0, err
	}
	rec, err := l.store.GetObserver(ctx, owner)
	if err != nil {
		return "", 0, err
	}
	l.observerChanged(ctx, owner)
	return rec.ID, n, nil
}

// ---------------------------------------------------------------- network

// DefaultMaxWeight is the transfer strength when the request names none.
const DefaultMaxWeight = 0.15

// Transfer moves session dst towards session src (both owner's) by at most
// maxWeight ∈ (0, 1].
func (l *Layers) Transfer(ctx context.Context, owner, src, dst string, maxWeight float64) (*pb.TransferResponse, error) {
	if math.IsNaN(maxWeight) || maxWeight <= 0 || maxWeight > 1 {
		return nil, semvec.FieldError("max_weight", "Input should be greater than 0 and at most 1")
	}
	if err := notFoundIfInvalid("Source session", src); err != nil {
		return nil, err
	}
	if err := notFoundIfInvalid("Target session", dst); err != nil {
		return nil, err
	}
	res, err := askLayer[*pb.TransferResponse](ctx, l, l.networks, owner,
		&pb.TransferRequest{Owner: owner, SourceSessionId: src, TargetSessionId: dst, MaxWeight: maxWeight})
	if err == nil && res.GetTransferred() {
		l.sessions.Audit(ctx, owner, "network_transfer", "session", dst)
	}
	return res, err
}

// SwitchUser saves the active partition and activates user's.
func (l *Layers) SwitchUser(ctx context.Context, owner, user string) (*pb.SwitchUserResponse, error) {
	if !ValidID(user) {
		return nil, semvec.FieldError("user_id", "String should match pattern '^[A-Za-z0-9._:-]{1,128}$'")
	}
	return askLayer[*pb.SwitchUserResponse](ctx, l, l.networks, owner, &pb.SwitchUserRequest{Owner: owner, UserId: user})
}

// ActiveUser returns the active partition's user id ("default" at first).
func (l *Layers) ActiveUser(ctx context.Context, owner string) (string, error) {
	res, err := askLayer[*pb.ActiveUserResponse](ctx, l, l.networks, owner, &pb.ActiveUserRequest{Owner: owner})
	return res.GetActiveUser(), err
}

// SerializeUser returns user's partition as a JSON object.
// NotFound("User partition") when the owner never switched to it.
func (l *Layers) SerializeUser(ctx context.Context, owner, user string) (*pb.SerializeUserResponse, error) {
	if !ValidID(user) {
		return nil, semvec.NotFound("User partition")
	}
	return askLayer[*pb.SerializeUserResponse](ctx, l, l.networks, owner, &pb.SerializeUserRequest{Owner: owner, UserId: user})
}

// Propose puts target to a trust-weighted vote of the active partition's
// instances (see tallyVotes and updateTrust). target must have the session
// dimension (KindValidation).
func (l *Layers) Propose(ctx context.Context, owner, proposer string, target []float32) (*pb.ConsensusResponse, error) {
	if len(target) != l.sessions.Dim() {
		return nil, semvec.FieldError("target_embedding", "target_embedding must have %d dimensions, got %d", l.sessions.Dim(), len(target))
	}
	if !vecmath.Finite(target) || vecmath.Norm(target) == 0 {
		return nil, semvec.FieldError("target_embedding", "target_embedding must be finite and non-zero")
	}
	if err := notFoundIfInvalid("Proposer session", proposer); err != nil {
		return nil, err
	}
	return askLayer[*pb.ConsensusResponse](ctx, l, l.networks, owner,
		&pb.ConsensusRequest{Owner: owner, ProposerSessionId: proposer, TargetEmbedding: target})
}

// Trust returns the active partition's trust scores.
func (l *Layers) Trust(ctx context.Context, owner string) (map[string]float64, error) {
	res, err := askLayer[*pb.TrustResponse](ctx, l, l.networks, owner, &pb.TrustRequest{Owner: owner})
	if err != nil {
		return nil, err
	}
	out := res.GetTrustScores()
	if out == nil {
		out = map[string]float64{}
	}
	return out, nil
}
