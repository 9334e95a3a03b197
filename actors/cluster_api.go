package actors

import (
	"context"
	"math"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// The Layers methods in cluster_api.go, region_api.go, observer_api.go and
// network_api.go are what the HTTP layer calls, one file per actor kind.
// Each checks the ids it is given (an id that cannot exist is NotFound),
// writes topology changes and tells the actors concerned, and asks the
// owning actor for everything else. A resource of another owner is always
// reported exactly like a missing one.

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

// ---------------------------------------------------------------- clusters

// CreateCluster creates a cluster and its backing session (same id, one
// transaction). mode must be weighted_average or attention (KindInvalid);
// coupling must lie in [0, 1] (KindValidation).
func (l *Layers) CreateCluster(ctx context.Context, owner, name, mode string, coupling float64) (ClusterInfo, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return ClusterInfo{}, err
	}
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
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
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
// The cluster's actor answers (activated from the database if need be), so
// a hot cluster's requests read nothing from the database.
func (l *Layers) ClusterExists(ctx context.Context, owner, id string) error {
	if err := l.checkCall(ctx, owner); err != nil {
		return err
	}
	if err := notFoundIfInvalid("Cluster", id); err != nil {
		return err
	}
	_, err := askActor[*pb.ClusterExistsResponse](ctx, l.ask, l.clusters, ownedKey(owner, id), &pb.ClusterExistsRequest{Owner: owner, ClusterId: id})
	return err
}

// ClusterState returns the cluster's metadata, its backing session's summary
// and the aggregate vector of its initialised members.
func (l *Layers) ClusterState(ctx context.Context, owner, id string) (*pb.ClusterStateResponse, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	if err := notFoundIfInvalid("Cluster", id); err != nil {
		return nil, err
	}
	return askActor[*pb.ClusterStateResponse](ctx, l.ask, l.clusters, ownedKey(owner, id), &pb.ClusterStateRequest{Owner: owner, ClusterId: id})
}

// ClusterFeedback blends the cluster vector into the members (see
// clusterActor.handleFeedback).
func (l *Layers) ClusterFeedback(ctx context.Context, owner, id string) (*pb.ClusterFeedbackResponse, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	if err := notFoundIfInvalid("Cluster", id); err != nil {
		return nil, err
	}
	// The ask tells the actor how long it waits (PatienceNanos).
	return askActor[*pb.ClusterFeedbackResponse](ctx, l.ask, l.clusters, ownedKey(owner, id), &pb.ClusterFeedbackRequest{Owner: owner, ClusterId: id})
}

// DeleteCluster deletes the cluster with its backing session, memberships and
// region links, stops its actor and the backing session's, and tells the
// former members and regions. When the deletion fails, its outcome is
// unknown: the backing session's actor stops (haltUnsure), and the
// cluster's actor and the members and regions it had before reload their
// views (Layers.unsure); a running cluster actor that finds
// its cluster gone stops, and does the rest (goneCluster). Its links are
// told by DeleteCluster itself too, for when its actor is not running.
func (l *Layers) DeleteCluster(ctx context.Context, owner, id string) error {
	if err := l.checkCall(ctx, owner); err != nil {
		return err
	}
	if err := notFoundIfInvalid("Cluster", id); err != nil {
		return err
	}
	before, err := l.clusterView(ctx, owner, id)
	if err != nil {
		return err
	}
	// What the deletion unlinked is read in its own transaction: a link
	// added concurrently is told too (before, read first, can miss it).
	unlinked, err := l.store.DeleteCluster(ctx, owner, id)
	if err != nil {
		l.haltUnsure(ctx, err, owner, id)
		return l.unsure(err, append(l.clusterLinks(before), told{l.clusters, ownedKey(owner, id)})...)
	}
	l.clusters.Halt(ctx, ownedKey(owner, id), false)
	l.sessions.Discard(ctx, owner, id)
	for _, sid := range unlinked.Members {
		l.membershipChanged(ctx, owner, sid)
	}
	for _, rid := range unlinked.Regions {
		l.regionChanged(ctx, owner, rid)
	}
	for _, cid := range unlinked.Clusters { // clusters the backing session was a member of
		if cid != id {
			l.clusterChanged(ctx, owner, cid)
		}
	}
	return nil
}

// AddMember makes session sid (owner's, else NotFound("Session")) a member
// of cluster cid and tells the session and the cluster. added is false when
// it already was one (they are told then too: it may be the retry of an
// addition whose answer was lost). When the write fails, its outcome is
// unknown: they are told off the request (Layers.unsure).
func (l *Layers) AddMember(ctx context.Context, owner, cid, sid string) (bool, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return false, err
	}
	if err := notFoundIfInvalid("Cluster", cid); err != nil {
		return false, err
	}
	if err := notFoundIfInvalid("Session", sid); err != nil {
		return false, err
	}
	added, err := l.store.AddMember(ctx, owner, cid, sid)
	if err != nil {
		return false, l.unsure(err, told{l.sessions.reg, ownedKey(owner, sid)}, told{l.clusters, ownedKey(owner, cid)})
	}
	l.membershipChanged(ctx, owner, sid)
	l.clusterChanged(ctx, owner, cid)
	return added, nil
}

// RemoveMember removes session sid from cluster cid (NotFound("Member") when
// it is not one) and tells the session and the cluster (off the request
// when the write fails, as AddMember).
func (l *Layers) RemoveMember(ctx context.Context, owner, cid, sid string) error {
	if err := l.checkCall(ctx, owner); err != nil {
		return err
	}
	if err := notFoundIfInvalid("Cluster", cid); err != nil {
		return err
	}
	if err := notFoundIfInvalid("Member", sid); err != nil {
		return err
	}
	if err := l.store.RemoveMember(ctx, owner, cid, sid); err != nil {
		return l.unsure(err, told{l.sessions.reg, ownedKey(owner, sid)}, told{l.clusters, ownedKey(owner, cid)})
	}
	l.membershipChanged(ctx, owner, sid)
	l.clusterChanged(ctx, owner, cid)
	return nil
}
