package actors

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// observerActor is one owner's global observer (contract Layer 4). It
// samples its registered regions periodically (a scheduler tick, never
// SetReceiveTimeout) and on demand: a work goroutine asks each region actor
// for its clusters and drift events and each cluster's backing session for
// its state, then the actor applies the anomaly rules to the result. It
// never writes to regions, clusters or sessions.
type observerActor struct {
	l     *Layers
	owner string
	view  *pb.ObserverView
	epoch int64 // this activation's fencing epoch (persistence.Store.ActivateObserver)

	anomalies []*pb.Anomaly   // newest first, at most maxAnomalies; on disk before they are here
	seq       int64           // the last anomaly numbered in the durable log
	episodes  map[string]bool // conditions found by the last sample (raiseOnce)
	lastAt    time.Time
	observed  int32
	samples   int32
	ticking   bool // a periodic sample is in flight
	every     time.Duration
	cancel    scheduler.CancelFunc
	loads     viewLoads
}

func newObserverActor(l *Layers, owner string, v *pb.ObserverView, epoch int64, anomalies []*pb.Anomaly, seq int64) actor.Producer {
	return func() actor.Actor {
		return &observerActor{l: l, owner: owner, view: v, epoch: epoch, anomalies: anomalies, seq: seq}
	}
}

func (a *observerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.schedule(ctx)
	case *actor.Restarting:
	case *actor.Stopping:
		a.stopTicker()
	case *actor.Stopped:
		a.l.observers.Stopped(a.owner, ctx.Self())
	case *pb.TopologyChanged:
		owner := a.owner
		reloadView(ctx, a.l, &a.loads, owner, func(c context.Context) (*pb.ObserverView, error) {
			return a.l.observerView(c, owner)
		}, func(v *pb.ObserverView) { a.handleView(ctx, v) })
	case *pb.ObserverTick:
		a.handleTick(ctx)
	case *pb.ObserverSummaryRequest:
		a.handleSummary(ctx, m)
	case *pb.ObserverSampleRequest:
		a.handleSample(ctx, m)
	case *pb.ObserverAnomaliesRequest:
		a.handleAnomalies(ctx, m)
	case *pb.ObserverClearRequest:
		a.handleClear(ctx, m)
	default:
		a.l.log.Warn("observer actor: unexpected message", "owner", a.owner, "type", typeName(m))
	}
}

// schedule (re)starts the periodic tick at the view's interval.
func (a *observerActor) schedule(ctx actor.Context) {
	every := max(time.Duration(a.view.GetSampleIntervalSeconds()*float64(time.Second)), minSampleInterval)
	if a.cancel != nil && every == a.every {
		return
	}
	a.stopTicker()
	a.every = every
	a.cancel = scheduler.NewTimerScheduler(ctx.ActorSystem().Root).SendRepeatedly(every, every, ctx.Self(), &pb.ObserverTick{})
}

func (a *observerActor) stopTicker() {
	if a.cancel != nil {
		a.cancel()
		a.cancel = nil
	}
}

func (a *observerActor) handleView(ctx actor.Context, v *pb.ObserverView) {
	a.view = proto.Clone(v).(*pb.ObserverView)
	a.schedule(ctx)
}

func (a *observerActor) handleTick(ctx actor.Context) {
	if a.ticking {
		return // the previous periodic sample is still running
	}
	a.ticking = true
	a.sample(ctx, func(*pb.ObserverSampleResponse, error) { a.ticking = false })
}

func (a *observerActor) handleSample(ctx actor.Context, m *pb.ObserverSampleRequest) {
	if m.GetOwner() != a.owner {
		ctx.Respond(&pb.ObserverSampleResponse{Error: ToProtoError(semvec.NotFound("Observer"))})
		return
	}
	a.sample(ctx, func(res *pb.ObserverSampleResponse, err error) {
		if err != nil {
			ctx.Respond(&pb.ObserverSampleResponse{Error: ToProtoError(err)})
			return
		}
		ctx.Respond(res)
	})
}

// sample gathers an observation on a work goroutine and, back on the actor,
// finds the anomalies it shows, writes the new ones to the observer's
// durable log and only then records them; done runs on the actor. Which
// findings are new is decided (and remembered) before the write, so that an
// overlapping sample does not raise them again. When the write fails
// nothing is recorded, the episodes it would have started are forgotten
// (the next sample raises them) and done gets the error.
func (a *observerActor) sample(ctx actor.Context, done func(*pb.ObserverSampleResponse, error)) {
	owner, regions := a.owner, slices.Clone(a.view.GetRegionIds())
	start := time.Now()
	a.l.async(ctx, func(wctx context.Context) (any, error) {
		return a.l.observe(wctx, owner, regions)
	}, func(res any, err error) {
		if err != nil {
			a.l.log.Warn("observer sample failed", "owner", owner, "err", err)
			done(nil, err)
			return
		}
		o := res.(observation)
		found, episodes := raiseOnce(a.episodes, detectAnomalies(o))
		// The episodes are decided now, not when the write is done: a sample
		// overlapping this one (a tick and POST /v1/observer/sample) must
		// not raise what this one is raising.
		a.episodes = episodes
		fresh := make([]*pb.Anomaly, len(found))
		for i, f := range found {
			fresh[i] = &pb.Anomaly{
				AnomalyId: NewID(), AtUnixNano: o.At.UnixNano(), AnomalyType: f.Type,
				AffectedClusterIds: f.Clusters, Description: f.Description, Severity: f.Severity,
			}
		}
		a.persist(ctx, fresh, func(err error) {
			if err != nil {
				// Not recorded, so not started: the next sample raises them.
				for _, f := range found {
					delete(a.episodes, f.episodeKey())
				}
				a.l.log.Warn("observer: anomalies not written; not recorded", "owner", owner, "err", err)
				done(nil, err)
				return
			}
			done(a.record(o, fresh, time.Since(start)), nil)
		})
	})
}

// persist writes fresh (in order) to the observer's durable log and calls
// then on the actor with the outcome; nothing to write calls it at once.
func (a *observerActor) persist(ctx actor.Context, fresh []*pb.Anomaly, then func(error)) {
	if len(fresh) == 0 {
		then(nil)
		return
	}
	items := make([]persistence.LoggedItem, len(fresh))
	for i, an := range fresh {
		data, err := proto.Marshal(an)
		if err != nil {
			then(err)
			return
		}
		items[i] = persistence.LoggedItem{Seq: a.seq + int64(i) + 1, Data: data}
	}
	owner, id, epoch := a.owner, a.view.GetObserverId(), a.epoch
	a.l.async(ctx, func(wctx context.Context) (any, error) {
		return nil, a.l.store.AppendAnomalies(wctx, owner, id, epoch, items, maxAnomalies)
	}, func(_ any, err error) {
		if err == nil {
			a.seq = max(a.seq, items[len(items)-1].Seq)
		}
		a.stopIfSuperseded(ctx, err)
		then(err)
	})
}

// record logs the anomalies found (already on disk, oldest first as found)
// and the sample's counters.
func (a *observerActor) record(o observation, fresh []*pb.Anomaly, took time.Duration) *pb.ObserverSampleResponse {
	a.anomalies = append(slices.Clone(fresh), a.anomalies...)
	if len(a.anomalies) > maxAnomalies {
		a.anomalies = a.anomalies[:maxAnomalies]
	}
	a.lastAt = o.At
	a.observed = int32(len(o.Clusters))
	a.samples++
	return &pb.ObserverSampleResponse{
		SampledAtUnixNano: o.At.UnixNano(), ClustersSampled: int32(len(o.Clusters)), RegionsSampled: int32(len(o.Regions)),
		SampleDurationMs: float64(took.Microseconds()) / 1000, NewAnomalies: cloneAnomalies(fresh, len(fresh)),
		TotalAnomalies: int32(len(a.anomalies)),
	}
}

func (a *observerActor) handleSummary(ctx actor.Context, m *pb.ObserverSummaryRequest) {
	if m.GetOwner() != a.owner {
		ctx.Respond(&pb.ObserverSummaryResponse{Error: ToProtoError(semvec.NotFound("Observer"))})
		return
	}
	res := &pb.ObserverSummaryResponse{
		ObserverId: a.view.GetObserverId(), MetaSessionId: a.view.GetMetaSessionId(),
		SampleIntervalSeconds: a.view.GetSampleIntervalSeconds(), RegionIds: slices.Clone(a.view.GetRegionIds()),
		TotalClustersObserved: a.observed, AnomalyCount: int32(len(a.anomalies)),
		RecentAnomalies: cloneAnomalies(a.anomalies, int(m.GetRecentLimit())), Samples: a.samples,
	}
	if !a.lastAt.IsZero() {
		res.LastSampleUnixNano = a.lastAt.UnixNano()
	}
	ctx.Respond(res)
}

func (a *observerActor) handleAnomalies(ctx actor.Context, m *pb.ObserverAnomaliesRequest) {
	if m.GetOwner() != a.owner {
		ctx.Respond(&pb.ObserverAnomaliesResponse{Error: ToProtoError(semvec.NotFound("Observer"))})
		return
	}
	ctx.Respond(&pb.ObserverAnomaliesResponse{Anomalies: cloneAnomalies(a.anomalies, int(m.GetLimit()))})
}

func (a *observerActor) handleClear(ctx actor.Context, m *pb.ObserverClearRequest) {
	if m.GetOwner() != a.owner {
		ctx.Respond(&pb.ObserverClearResponse{Error: ToProtoError(semvec.NotFound("Observer"))})
		return
	}
	owner, id, epoch := a.owner, a.view.GetObserverId(), a.epoch
	a.l.async(ctx, func(wctx context.Context) (any, error) {
		return nil, a.l.store.ClearAnomalies(wctx, owner, id, epoch)
	}, func(_ any, err error) {
		a.stopIfSuperseded(ctx, err)
		if err != nil {
			ctx.Respond(&pb.ObserverClearResponse{Error: ToProtoError(err)})
			return
		}
		n := len(a.anomalies)
		a.anomalies = nil
		ctx.Respond(&pb.ObserverClearResponse{Cleared: int32(n)})
	})
}

func cloneAnomalies(as []*pb.Anomaly, limit int) []*pb.Anomaly {
	n := min(max(limit, 0), len(as))
	out := make([]*pb.Anomaly, n)
	for i := range n {
		out[i] = proto.Clone(as[i]).(*pb.Anomaly)
	}
	return out
}

// observe gathers one observation of owner's registered regions: each
// region actor's clusters and latest drift events, then each cluster's
// backing-session state. Regions and clusters deleted meanwhile are left
// out. It runs on a work goroutine; the region actors and sessions answer
// from their mailboxes without waiting for anyone.
func (l *Layers) observe(ctx context.Context, owner string, regionIDs []string) (observation, error) {
	o := observation{Clusters: map[string]observedCluster{}}
	regions := make([]*pb.RegionStateResponse, len(regionIDs))
	errs := make([]error, len(regionIDs))
	parallel(len(regionIDs), func(i int) {
		regions[i], errs[i] = askLayer[*pb.RegionStateResponse](ctx, l, l.regions, ownedKey(owner, regionIDs[i]),
			&pb.RegionStateRequest{Owner: owner, RegionId: regionIDs[i]})
	})
	var clusterIDs []string
	for i, r := range regions {
		if errs[i] != nil {
			if semvec.KindOf(errs[i]) == semvec.KindNotFound {
				continue
			}
			return o, errs[i]
		}
		or := observedRegion{
			ID: r.GetRegionId(), Clusters: r.GetClusterIds(), LastEvents: map[string]time.Time{},
			Window: time.Duration(r.GetVoteWindowSeconds() * float64(time.Second)),
		}
		for _, ev := range r.GetLastEvents() {
			or.LastEvents[ev.GetClusterId()] = time.Unix(0, ev.GetAtUnixNano())
		}
		o.Regions = append(o.Regions, or)
		for _, cid := range r.GetClusterIds() {
			if !slices.Contains(clusterIDs, cid) {
				clusterIDs = append(clusterIDs, cid)
			}
		}
	}
	states, _, err := l.sessionStates(ctx, owner, clusterIDs)
	if err != nil {
		return o, err
	}
	for id, st := range states {
		c := observedCluster{ID: id, Phase: st.GetPhase(), Interactions: int(st.GetInteractionCount()), DriftPhase: st.GetDriftPhase()}
		if ns := st.GetLastDriftUnixNano(); ns != 0 {
			c.DriftAt = time.Unix(0, ns)
		}
		o.Clusters[id] = c
	}
	o.At = l.now()
	return o, nil
}

// stopIfSuperseded stops the observer when a write was refused because a
// newer activation of it exists (another member took it over); the request
// that caused the write is answered 503 and retried there.
func (a *observerActor) stopIfSuperseded(ctx actor.Context, err error) {
	if errors.Is(err, persistence.ErrSuperseded) {
		a.l.log.Warn("observer superseded by a newer activation: stopping", "owner", a.owner, "epoch", a.epoch)
		ctx.Stop(ctx.Self())
	}
}
