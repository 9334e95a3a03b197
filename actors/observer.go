package actors

import (
	"context"
	"encoding/json"
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
	ticks     tickPacing // the periodic samples
	every     time.Duration
	cancel    scheduler.CancelFunc
	loads     viewLoads
	writes    oneAtATime // the observer's writes (samples' and clears), in order
	work      layerWork  // its async work and its stop; superseded once a write is refused
	// unsure: a write failed, so its rows may hold what it does not (a
	// COMMIT that landed with its answer lost); resyncLater schedules a
	// resyncObserver is scheduled.
	unsure      bool
	resyncLater selfTimer
}

// resyncObserver tells an observer to read its rows again after a failed
// write (see observerActor.resync; a local message).
type resyncObserver struct{}

// sampleState is what the observer's samples have changed besides its
// anomaly log: it is written with each sample (persistence.Store.RecordSample)
// and restored on activation, so a restart forgets neither the summary nor
// the episodes in progress (whose condition, still holding, would otherwise
// be raised again).
type sampleState struct {
	Episodes []string `json:"episodes,omitempty"` // sorted
	LastAt   int64    `json:"last_sample_unix_nano,omitempty"`
	Observed int32    `json:"clusters_observed,omitempty"`
	Samples  int32    `json:"samples,omitempty"`
}

// parseSampleState decodes a stored sample state ("" when none was written).
func parseSampleState(data string) (sampleState, error) {
	var st sampleState
	if data == "" {
		return st, nil
	}
	err := json.Unmarshal([]byte(data), &st)
	return st, err
}

func newObserverActor(l *Layers, owner string, v *pb.ObserverView, epoch int64, stored observerStored) actor.Producer {
	return func() actor.Actor {
		a := &observerActor{l: l, owner: owner, view: v, epoch: epoch, work: newLayerWork(l, l.observers, owner)}
		a.restore(stored)
		return a
	}
}

// restore takes what the observer's rows hold: its anomaly log and its
// sample state.
func (a *observerActor) restore(stored observerStored) {
	st := stored.state
	a.anomalies, a.seq = stored.anomalies, max(a.seq, stored.seq)
	a.observed, a.samples = st.Observed, st.Samples
	a.episodes = make(map[string]bool, len(st.Episodes))
	for _, k := range st.Episodes {
		a.episodes[k] = true
	}
	a.lastAt = time.Time{}
	if st.LastAt != 0 {
		a.lastAt = time.Unix(0, st.LastAt)
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
	case stopWhenIdle:
		a.work.reached(ctx)
	case *pb.TopologyChanged, reloadAgain:
		owner := a.owner
		reloadView(ctx, &a.work, &a.loads, func(c context.Context) (*pb.ObserverView, error) {
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
	case resyncObserver:
		a.resyncLater.fired()
		if a.unsure && !a.work.stopping {
			a.write(func(then func()) { a.resync(ctx, then) }, func(err error) { a.writeFailed(ctx, err) })
		}
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

// handleTick runs a periodic sample when its pacing allows and it has
// regions to observe: a periodic sample of none would find nothing and
// still write the sample state, once a tick for every idle observer.
func (a *observerActor) handleTick(ctx actor.Context) {
	if len(a.view.GetRegionIds()) == 0 {
		return
	}
	start := a.l.now()
	if !a.ticks.start(start) {
		return
	}
	a.sample(ctx, func(*pb.ObserverSampleResponse, error) { a.ticks.done(start, a.l.now()) })
}

// tickPacing paces an observer's periodic samples: one at a time, and none
// before as long after the last one ended as it took, so periodic sampling
// takes at most half of the time however large the observed topology (a
// sample of thousands of clusters takes seconds; with a short interval it
// kept a core busy for one tenant). Samples asked for by a request are not
// paced.
type tickPacing struct {
	running   bool
	restUntil time.Time
}

// start reports whether a periodic sample may start at now, and if so
// records that one runs.
func (p *tickPacing) start(now time.Time) bool {
	if p.running || now.Before(p.restUntil) {
		return false
	}
	p.running = true
	return true
}

// done records the end, at end, of the sample started at start.
func (p *tickPacing) done(start, end time.Time) {
	p.running = false
	p.restUntil = end.Add(end.Sub(start))
}

func (a *observerActor) handleSample(ctx actor.Context, m *pb.ObserverSampleRequest) {
	if m.GetOwner() != a.owner {
		ctx.Respond(&pb.ObserverSampleResponse{Error: ToProtoError(semvec.NotFound("Observer"))})
		return
	}
	if a.work.superseded { // stopping: gather nothing
		ctx.Respond(&pb.ObserverSampleResponse{Error: ToProtoError(errObserverSuperseded)})
		return
	}
	reply := replyTo(ctx)
	a.sample(ctx, func(res *pb.ObserverSampleResponse, err error) {
		if err != nil {
			reply(&pb.ObserverSampleResponse{Error: ToProtoError(err)})
			return
		}
		reply(res)
	})
}

// sample gathers an observation on a work goroutine and, back on the actor,
// finds the anomalies it shows, writes the new ones and the observer's
// sample state to the database and only then records them; done runs on
// the actor. Samples are committed one at a time (write), each against the
// episodes the ones before it recorded, so two overlapping samples (a tick
// and POST /v1/observer/sample) never raise one episode twice. When the
// write fails nothing is recorded (the next sample finds them again) and
// done gets the error.
func (a *observerActor) sample(ctx actor.Context, done func(*pb.ObserverSampleResponse, error)) {
	owner, regions := a.owner, slices.Clone(a.view.GetRegionIds())
	start := time.Now()
	a.work.async(ctx, func(wctx context.Context) (any, error) {
		return a.l.observe(wctx, owner, regions)
	}, func(res any, err error) {
		if err != nil {
			a.l.log.Warn("observer sample failed", "owner", owner, "err", err)
			done(nil, err)
			return
		}
		a.write(func(then func()) { a.commitSample(ctx, res.(observation), start, done, then) },
			func(err error) { done(nil, err) })
	})
}

// write runs w, which writes to the observer's rows and calls its argument
// when it has finished on the actor, once the write in flight (if any) has
// finished: the observer's writes reach the database, and its memory, in
// the order they were made, each on top of the ones before. At most
// maxInflight writes wait; refuse gets the error of one more (503).
func (a *observerActor) write(w func(then func()), refuse func(error)) {
	a.writes.run(func(finished func()) {
		if a.work.superseded {
			refuse(errObserverSuperseded)
			finished()
			return
		}
		w(finished)
	}, refuse)
}

// commitSample finds the anomalies of observation o (against the episodes
// recorded so far), writes them and the sample state that results, and
// records both once written; then done, then then.
func (a *observerActor) commitSample(ctx actor.Context, o observation, start time.Time, done func(*pb.ObserverSampleResponse, error), then func()) {
	owner := a.owner
	found, episodes := raiseOnce(a.episodes, detectAnomalies(o))
	fresh := make([]*pb.Anomaly, len(found))
	for i, f := range found {
		fresh[i] = &pb.Anomaly{
			AnomalyId: NewID(), AtUnixNano: o.At.UnixNano(), AnomalyType: f.Type,
			AffectedClusterIds: f.Clusters, Description: f.Description, Severity: f.Severity,
		}
	}
	st := sampleState{LastAt: o.At.UnixNano(), Observed: int32(len(o.Clusters)), Samples: a.samples + 1}
	for k := range episodes {
		st.Episodes = append(st.Episodes, k)
	}
	slices.Sort(st.Episodes)
	a.persist(ctx, fresh, st, func(err error) {
		defer then()
		if err != nil {
			a.l.log.Warn("observer: anomalies not written; not recorded", "owner", owner, "err", err)
			done(nil, err)
			return
		}
		a.episodes = episodes
		done(a.record(o, fresh, time.Since(start)), nil)
	})
}

// persist writes fresh (in order) to the observer's durable log with the
// sample state st, and calls then on the actor with the outcome.
func (a *observerActor) persist(ctx actor.Context, fresh []*pb.Anomaly, st sampleState, then func(error)) {
	items := make([]persistence.LoggedItem, len(fresh))
	for i, an := range fresh {
		data, err := proto.Marshal(an)
		if err != nil {
			then(err)
			return
		}
		items[i] = persistence.LoggedItem{Seq: a.seq + int64(i) + 1, Data: data}
	}
	state, err := json.Marshal(st)
	if err != nil {
		then(err)
		return
	}
	owner, id, epoch := a.owner, a.view.GetObserverId(), a.epoch
	a.work.async(ctx, func(wctx context.Context) (any, error) {
		return nil, a.l.store.RecordSample(wctx, owner, id, epoch, items, maxAnomalies, string(state))
	}, func(_ any, err error) {
		if err == nil && len(items) > 0 {
			a.seq = max(a.seq, items[len(items)-1].Seq)
		}
		a.stopIfSuperseded(ctx, err)
		a.writeFailed(ctx, err)
		then(err)
	})
}

// record logs the anomalies found (already on disk, oldest first as found)
// and the sample's counters. The log is newest first by its sequence, as
// activation rebuilds it: the last one found first.
func (a *observerActor) record(o observation, fresh []*pb.Anomaly, took time.Duration) *pb.ObserverSampleResponse {
	newest := slices.Clone(fresh)
	slices.Reverse(newest)
	a.anomalies = append(newest, a.anomalies...)
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
	reply := replyTo(ctx)
	a.write(func(then func()) {
		a.work.async(ctx, func(wctx context.Context) (any, error) {
			return nil, a.l.store.ClearAnomalies(wctx, owner, id, epoch)
		}, func(_ any, err error) {
			defer then()
			a.stopIfSuperseded(ctx, err)
			a.writeFailed(ctx, err)
			if err != nil {
				reply(&pb.ObserverClearResponse{Error: ToProtoError(err)})
				return
			}
			n := len(a.anomalies)
			a.anomalies = nil
			reply(&pb.ObserverClearResponse{Cleared: int32(n)})
		})
	}, func(err error) { reply(&pb.ObserverClearResponse{Error: ToProtoError(err)}) })
}

// writeFailed, after a write that failed with err (nothing when err is
// nil, or when a newer activation refused it), schedules a resync: the
// write's outcome is unknown (its COMMIT may have landed, its answer lost),
// so the observer's rows may hold anomalies, a sample state or a clear its
// memory does not.
func (a *observerActor) writeFailed(ctx actor.Context, err error) {
	if err == nil || errors.Is(err, persistence.ErrSuperseded) {
		return
	}
	a.unsure = true
	if !a.work.stopping {
		a.resyncLater.after(ctx, resyncDelay, resyncObserver{})
	}
}

// resync reads the observer's anomaly log and sample state again after a
// failed write, as one of its writes (none runs meanwhile), and serves
// them from then on: what it serves is what is on disk, and its next
// anomalies are numbered after the ones stored. While the database does not
// answer it keeps serving what it holds, and tries again resyncDelay later.
func (a *observerActor) resync(ctx actor.Context, then func()) {
	owner, id := a.owner, a.view.GetObserverId()
	a.work.async(ctx, func(wctx context.Context) (any, error) {
		return a.l.observerRows(wctx, owner, id)
	}, func(res any, err error) {
		defer then()
		if err != nil {
			a.l.log.Warn("observer: rows not read again after a failed write; retried", "owner", owner, "err", err)
			a.writeFailed(ctx, err)
			return
		}
		a.unsure = false
		a.restore(res.(observerStored))
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
		regions[i], errs[i] = askActor[*pb.RegionStateResponse](ctx, l.ask, l.regions, ownedKey(owner, regionIDs[i]),
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

// stopIfSuperseded marks the observer superseded when a write was refused
// because a newer activation of it exists (another member took it over):
// the request that caused the write and every write waiting or arriving
// later are answered 503 (and retried there), and the actor stops once
// the work in flight has answered (layerWork).
func (a *observerActor) stopIfSuperseded(ctx actor.Context, err error) {
	if errors.Is(err, persistence.ErrSuperseded) && !a.work.superseded {
		a.l.log.Warn("observer superseded by a newer activation: stopping", "owner", a.owner, "epoch", a.epoch)
		a.work.supersede(ctx) // stops once idle
	}
}

// errObserverSuperseded answers a write refused because a newer activation
// of the observer exists (it wraps persistence.ErrSuperseded).
var errObserverSuperseded = semvec.Wrap(semvec.KindUnavailable, persistence.ErrSuperseded,
	"this observer is now served by a newer activation; retry")
