package actors

import (
	"context"
	"math"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

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

// ---------------------------------------------------------------- regions

// CreateRegion creates a region with its meta session. threshold must lie in
// (0, 1] and window be positive (KindValidation).
func (l *Layers) CreateRegion(ctx context.Context, owner, name string, threshold, window float64) (RegionInfo, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return RegionInfo{}, err
	}
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
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
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
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	if err := notFoundIfInvalid("Region", id); err != nil {
		return nil, err
	}
	return askActor[*pb.RegionStateResponse](ctx, l.ask, l.regions, ownedKey(owner, id),
		&pb.RegionStateRequest{Owner: owner, RegionId: id, EventsLimit: int32(eventsLimit)})
}

// RegionEvents returns the region's newest limit drift events, newest first.
func (l *Layers) RegionEvents(ctx context.Context, owner, id string, limit int) ([]*pb.RegionDriftEvent, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	if err := notFoundIfInvalid("Region", id); err != nil {
		return nil, err
	}
	res, err := askActor[*pb.RegionEventsResponse](ctx, l.ask, l.regions, ownedKey(owner, id),
		&pb.RegionEventsRequest{Owner: owner, RegionId: id, Limit: int32(limit)})
	if err != nil {
		return nil, err
	}
	return res.GetEvents(), nil
}

// DeleteRegion deletes the region with its meta session, cluster links and
// observer registration, and tells the affected clusters and observer (when
// the deletion fails, as DeleteCluster: see goneRegion).
func (l *Layers) DeleteRegion(ctx context.Context, owner, id string) error {
	if err := l.checkCall(ctx, owner); err != nil {
		return err
	}
	if err := notFoundIfInvalid("Region", id); err != nil {
		return err
	}
	before, err := l.regionView(ctx, owner, id)
	if err != nil {
		return err
	}
	// What the deletion unlinked is read in its own transaction: a link
	// added concurrently is told too (before, read first, can miss it).
	unlinked, err := l.store.DeleteRegion(ctx, owner, id)
	if err != nil {
		l.haltUnsure(ctx, err, owner, before.GetMetaSessionId())
		return l.unsure(err, append(l.regionLinks(before), told{l.regions, ownedKey(owner, id)})...)
	}
	l.regions.Halt(ctx, ownedKey(owner, id), false)
	l.sessions.Discard(ctx, owner, before.GetMetaSessionId())
	for _, cid := range unlinked.Clusters {
		l.clusterChanged(ctx, owner, cid)
	}
	if unlinked.Observer {
		l.observerChanged(ctx, owner)
	}
	return nil
}

// AttachCluster links cluster cid to region rid (both owner's). added is
// false when they already were linked. The region and the cluster are told
// as AddMember tells a member and its cluster.
func (l *Layers) AttachCluster(ctx context.Context, owner, rid, cid string) (bool, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return false, err
	}
	if err := notFoundIfInvalid("Region", rid); err != nil {
		return false, err
	}
	if err := notFoundIfInvalid("Cluster", cid); err != nil {
		return false, err
	}
	added, err := l.store.AttachCluster(ctx, owner, rid, cid)
	if err != nil {
		return false, l.unsure(err, told{l.regions, ownedKey(owner, rid)}, told{l.clusters, ownedKey(owner, cid)})
	}
	l.regionChanged(ctx, owner, rid)
	l.clusterChanged(ctx, owner, cid)
	return added, nil
}

// DetachCluster unlinks cluster cid from region rid.
func (l *Layers) DetachCluster(ctx context.Context, owner, rid, cid string) error {
	if err := l.checkCall(ctx, owner); err != nil {
		return err
	}
	if err := notFoundIfInvalid("Region", rid); err != nil {
		return err
	}
	if err := notFoundIfInvalid("Cluster", cid); err != nil {
		return err
	}
	if err := l.store.DetachCluster(ctx, owner, rid, cid); err != nil {
		return l.unsure(err, told{l.regions, ownedKey(owner, rid)}, told{l.clusters, ownedKey(owner, cid)})
	}
	l.regionChanged(ctx, owner, rid)
	l.clusterChanged(ctx, owner, cid)
	return nil
}
