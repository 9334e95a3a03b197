package actors

import (
	"context"
	"math"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// ObserverInfo is an owner's observer.
type ObserverInfo struct {
	ID, MetaSessionID     string
	SampleIntervalSeconds float64
	RegisteredRegions     int
}

// ---------------------------------------------------------------- observer

// EnsureObserver returns owner's observer, creating it (with its meta
// session) when there is none, and registers regionIDs with it. Every
// region must be owner's (NotFound("Region"), checked before anything is
// written). An existing observer keeps its sample interval. created reports
// whether this call created it. An interval under minSampleInterval is
// stored (and reported) as minSampleInterval, the interval it samples at.
// Once it has written anything, the observer is told, also when a later
// step fails (Layers.unsure).
func (l *Layers) EnsureObserver(ctx context.Context, owner string, interval float64, regionIDs []string) (ObserverInfo, bool, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return ObserverInfo{}, false, err
	}
	if math.IsNaN(interval) || math.IsInf(interval, 0) || interval <= 0 {
		return ObserverInfo{}, false, semvec.FieldError("sample_interval_seconds", "Input should be greater than 0")
	}
	interval = max(interval, minSampleInterval.Seconds())
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
		return ObserverInfo{}, false, l.unsure(err, told{l.observers, owner})
	}
	for _, rid := range regionIDs {
		if _, err := l.store.RegisterObserverRegion(ctx, owner, rid); err != nil {
			return ObserverInfo{}, false, l.unsure(err, told{l.observers, owner})
		}
	}
	regions, err := l.store.ObserverRegions(ctx, owner)
	if err != nil {
		return ObserverInfo{}, false, l.unsure(err, told{l.observers, owner})
	}
	l.observerChanged(ctx, owner)
	// Its actor samples periodically once it runs: start it now (wherever
	// it is placed) rather than on the first request that reads it, as Run
	// does for the observers stored at start.
	if _, err := l.ObserverSummary(ctx, owner, 1); err != nil && ctx.Err() == nil {
		l.log.Warn("layers: observer not activated; periodic sampling starts on first use", "owner", owner, "err", err)
	}
	return ObserverInfo{ID: rec.ID, MetaSessionID: rec.MetaSessionID, SampleIntervalSeconds: rec.SampleIntervalSeconds, RegisteredRegions: len(regions)}, created, nil
}

// ObserverSummary returns the observer's state with its newest recent
// anomalies. NotFound("Observer") before the owner created one.
func (l *Layers) ObserverSummary(ctx context.Context, owner string, recent int) (*pb.ObserverSummaryResponse, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	return askActor[*pb.ObserverSummaryResponse](ctx, l.ask, l.observers, owner, &pb.ObserverSummaryRequest{Owner: owner, RecentLimit: int32(recent)})
}

// ObserverSample samples now. NotFound("Observer") before one exists.
func (l *Layers) ObserverSample(ctx context.Context, owner string) (*pb.ObserverSampleResponse, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	return askActor[*pb.ObserverSampleResponse](ctx, l.ask, l.observers, owner, &pb.ObserverSampleRequest{Owner: owner})
}

// ObserverAnomalies returns the newest limit anomalies, newest first; none
// when the owner has no observer.
func (l *Layers) ObserverAnomalies(ctx context.Context, owner string, limit int) ([]*pb.Anomaly, error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return nil, err
	}
	res, err := askActor[*pb.ObserverAnomaliesResponse](ctx, l.ask, l.observers, owner, &pb.ObserverAnomaliesRequest{Owner: owner, Limit: int32(limit)})
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
	if err := l.checkCall(ctx, owner); err != nil {
		return 0, err
	}
	res, err := askActor[*pb.ObserverClearResponse](ctx, l.ask, l.observers, owner, &pb.ObserverClearRequest{Owner: owner})
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
	if err := l.checkCall(ctx, owner); err != nil {
		return "", 0, err
	}
	return l.changeRegistration(ctx, owner, rid, l.store.RegisterObserverRegion)
}

// UnregisterRegion removes region rid from owner's observer and returns the
// observer's id and the number of regions left.
func (l *Layers) UnregisterRegion(ctx context.Context, owner, rid string) (observerID string, registered int, err error) {
	if err := l.checkCall(ctx, owner); err != nil {
		return "", 0, err
	}
	return l.changeRegistration(ctx, owner, rid, l.store.UnregisterObserverRegion)
}

func (l *Layers) changeRegistration(ctx context.Context, owner, rid string, change func(ctx context.Context, owner, rid string) (int, error)) (string, int, error) {
	if err := notFoundIfInvalid("Region", rid); err != nil {
		return "", 0, err
	}
	n, err := change(ctx, owner, rid)
	if err != nil {
		return "", 0, l.unsure(err, told{l.observers, owner})
	}
	rec, err := l.store.GetObserver(ctx, owner)
	if err != nil {
		return "", 0, l.unsure(err, told{l.observers, owner})
	}
	l.observerChanged(ctx, owner)
	return rec.ID, n, nil
}
