package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// LayerStore is what the multi-agent layers (clusters, regions, observers,
// network) need from persistence.
type LayerStore interface {
	GetSession(ctx context.Context, owner, id string) (persistence.SessionRecord, error)

	CreateCluster(ctx context.Context, c persistence.ClusterRecord, backing persistence.SessionRecord) error
	GetCluster(ctx context.Context, owner, id string) (persistence.ClusterRecord, error)
	ListClusters(ctx context.Context, owner string) ([]persistence.ClusterSummary, error)
	DeleteCluster(ctx context.Context, owner, id string) (persistence.Unlinked, error)
	AddMember(ctx context.Context, owner, clusterID, sessionID string) (bool, error)
	RemoveMember(ctx context.Context, owner, clusterID, sessionID string) error
	ListMembers(ctx context.Context, owner, clusterID string) ([]string, error)
	ClustersOfSession(ctx context.Context, owner, sessionID string) ([]string, error)

	CreateRegion(ctx context.Context, r persistence.RegionRecord, meta persistence.SessionRecord) error
	GetRegion(ctx context.Context, owner, id string) (persistence.RegionRecord, error)
	ListRegions(ctx context.Context, owner string) ([]persistence.RegionSummary, error)
	DeleteRegion(ctx context.Context, owner, id string) (persistence.Unlinked, error)
	AttachCluster(ctx context.Context, owner, regionID, clusterID string) (bool, error)
	DetachCluster(ctx context.Context, owner, regionID, clusterID string) error
	RegionClusters(ctx context.Context, owner, regionID string) ([]string, error)
	RegionsOfCluster(ctx context.Context, owner, clusterID string) ([]string, error)
	RecordRealignment(ctx context.Context, owner, regionID string, epoch int64, at time.Time, count int64) error
	ActivateRegion(ctx context.Context, owner, regionID string) (int64, error)
	RegionEventAppender
	LoadRegionEvents(ctx context.Context, owner, regionID string, limit int) ([]persistence.LoggedItem, error)

	EnsureObserver(ctx context.Context, o persistence.ObserverRecord, meta persistence.SessionRecord) (persistence.ObserverRecord, bool, error)
	GetObserver(ctx context.Context, owner string) (persistence.ObserverRecord, error)
	ListObservers(ctx context.Context) ([]persistence.ObserverRecord, error)
	RegisterObserverRegion(ctx context.Context, owner, regionID string) (int, error)
	UnregisterObserverRegion(ctx context.Context, owner, regionID string) (int, error)
	ObserverRegions(ctx context.Context, owner string) ([]string, error)
	ActivateObserver(ctx context.Context, owner, observerID string) (int64, error)
	RegionAttachments(ctx context.Context, owner, regionID string) (map[string]time.Time, error)
	RecordSample(ctx context.Context, owner, observerID string, epoch int64, items []persistence.LoggedItem, keep int, state string) error
	LoadSampleState(ctx context.Context, owner, observerID string) (string, error)
	LoadAnomalies(ctx context.Context, owner, observerID string, limit int) ([]persistence.LoggedItem, error)
	ClearAnomalies(ctx context.Context, owner, observerID string, epoch int64) error

	ActivateNetwork(ctx context.Context, owner string) (int64, error)
	SaveNetworkState(ctx context.Context, owner string, epoch int64, st persistence.NetworkState) error
	LoadNetworkState(ctx context.Context, owner string) (persistence.NetworkState, error)
	SavePartitionStates(ctx context.Context, owner string, epoch int64, user string, data []byte) error
	LoadPartitionStates(ctx context.Context, owner, user string) ([]byte, error)
	RecentSessions(ctx context.Context, owner string, limit int) ([]string, error)
}

// Tunables of the layers. They are constants, documented in docs/layers.md.
const (
	// realignWeight is how far a realignment moves each voting cluster's
	// backing session towards the region's consensus vector.
	realignWeight = 0.3
	// maxRegionEvents bounds a region's drift event log (in memory and on
	// disk).
	maxRegionEvents = 1000
	// maxAnomalies bounds an observer's anomaly log.
	maxAnomalies = 1000
	// minSampleInterval is the shortest periodic sampling interval honoured:
	// an observer samples at most once a second, whatever it asks for, so
	// idle observers of many tenants cost little together (0.1 s let one
	// observing 1,000 clusters keep 29 % of a core busy with no requests).
	minSampleInterval = time.Second
	// fanOut bounds the concurrent asks of one gather (aggregate, sample, vote).
	fanOut = 16
	// stopSaveTimeout bounds a region's last write of drift events when
	// it stops.
	stopSaveTimeout = 5 * time.Second
	// defaultWorkTimeout bounds async work when the Asker has no timeout.
	defaultWorkTimeout = 30 * time.Second
)

// Layers runs contract Layers 2–5: one actor per cluster, per region, one
// observer and one network actor per owner. The actors are activated on
// demand by four registries whose Loaders read the store (outside any
// actor); an actor never reads the database inside Receive.
//
// Topology changes (membership, region links, observer registrations,
// deletions) are written by the calling goroutine; the database's keys and
// constraints keep them consistent, and no lock is held across tenants or
// across database calls. Once a change has committed, the actors concerned
// are told (TopologyChanged) and each reloads its own view of its links
// (reloadView); a session reloads its memberships the same way.
//
// Work that needs other actors' answers (aggregation, feedback, sampling,
// realignment, transfer, consensus) runs on a goroutine that Layers tracks;
// the actor continues with ReenterAfter when it is done and keeps serving
// other messages meanwhile.
type Layers struct {
	root     *actor.RootContext
	store    LayerStore
	ask      *Asker
	sessions *Sessions
	log      *slog.Logger
	now      func() time.Time

	clusters  *Registry // key owner/cluster_id
	regions   *Registry // key owner/region_id
	observers *Registry // key owner
	networks  *Registry // key owner

	regionLog *regionLog // the regions' drift events, group-committed

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       tracked // goBG's work, which Shutdown waits for
}

// NewLayers wires the layers on root and routes the sessions' drift events
// to the cluster actors.
func NewLayers(root *actor.RootContext, store LayerStore, ask *Asker, sessions *Sessions, log *slog.Logger, now func() time.Time) *Layers {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	l := &Layers{root: root, store: store, ask: ask, sessions: sessions, log: log, now: now, regionLog: newRegionLog(store)}
	l.bgCtx, l.bgCancel = context.WithCancel(context.Background())
	// Layer actors stop once their work in flight has answered (layerWork).
	l.clusters = NewRegistry("cluster", root, l.loadCluster, now).StopWith(stopWhenIdle{})
	l.regions = NewRegistry("region", root, l.loadRegion, now).StopWith(stopWhenIdle{})
	l.observers = NewRegistry("observer", root, l.loadObserver, now).StopWith(stopWhenIdle{})
	l.networks = NewRegistry("network", root, l.loadNetwork, now).StopWith(stopWhenIdle{})
	sessions.sendDriftTo(l.clusters)
	return l
}

// LimitRegionMemory bounds the bytes the region actors in memory hold
// (their drift event logs, up to maxRegionEvents each): past it the least
// recently used of a sample stop once their work in flight is done, and
// come back from the database on their next event or request (an event
// told while one stops reaches its next activation). Call it while wiring,
// before any region is activated; 0 leaves them unbounded.
func (l *Layers) LimitRegionMemory(bytes int64) {
	l.regions.budget = bytes
	l.regions.evict = func(_ string, pid *actor.PID) { l.regions.poison(pid) }
}

// RegionMemory is what the region actors in memory hold, in bytes, as they
// estimate it (counted only under LimitRegionMemory).
func (l *Layers) RegionMemory() int64 { held, _ := l.regions.Held(); return held }

// Active reports how many actors of each layer kind (cluster, region,
// observer, network) run in this process: in cluster mode, the ones this
// member hosts.
func (l *Layers) Active() map[string]int {
	return map[string]int{"cluster": l.clusters.Active(), "region": l.regions.Active(),
		"observer": l.observers.Active(), "network": l.networks.Active()}
}

// Run re-activates every stored observer, so periodic sampling resumes after
// a restart, then waits until ctx ends.
func (l *Layers) Run(ctx context.Context) {
	obs, err := l.store.ListObservers(ctx)
	if err != nil {
		l.log.Error("layers: cannot list observers; periodic sampling resumes on first use", "err", err)
	}
	for _, o := range obs {
		if p := l.observers.place.Load(); p != nil {
			if remote, err := p.lookup(ctx, l.observers, o.Owner); remote != nil || err != nil {
				continue // another member hosts it (and re-activates it)
			}
		}
		if _, err := l.observers.Get(ctx, o.Owner); err != nil && ctx.Err() == nil {
			l.log.Warn("layers: observer not re-activated", "owner", o.Owner, "err", err)
		}
	}
	<-ctx.Done()
}

// Shutdown stops every observer, cluster, region and network actor (the
// network actors save their state as they stop), then waits for the work
// goroutines still running, or for ctx to end.
func (l *Layers) Shutdown(ctx context.Context) error {
	var errs []error
	stop := func() {
		for _, r := range []*Registry{l.observers, l.clusters, l.regions, l.networks} {
			if err := l.stopAll(ctx, r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	stop()
	// No new work from here on; the work already running may still need the
	// sessions (which stop after the layers) and may activate an actor.
	if err := l.bg.closeWithin(ctx); err != nil {
		errs = append(errs, fmt.Errorf("layer work still running: %w", err))
	}
	// Nothing activates a layer actor from now on: neither a request nor a
	// notification told to one that was stopping (an eviction under the
	// regions' budget), which would otherwise start its next activation
	// once it had stopped, past this shutdown.
	for _, r := range []*Registry{l.observers, l.clusters, l.regions, l.networks} {
		r.Close()
	}
	if ctx.Err() == nil {
		stop() // actors activated by that last work
	}
	// The regions' last writes are done (or given up on with ctx); a late
	// one writes alone (regionLog.write).
	l.regionLog.closeWithin(ctx)
	l.bgCancel()
	return errors.Join(errs...)
}

// checkCall checks what every exported Layers method is given before it
// reads or writes anything, as Sessions.Create does: owner must name a
// tenant as a licence subject does (semvec.ValidSubject; else KindInvalid:
// a blank owner or one holding a NUL or a newline would reach the
// database's keys and the logs), the layers must not have been shut down
// (KindUnavailable, errShuttingDown), and a ctx already done makes the call
// do nothing (notSent: errors.Is finds the context's error).
func (l *Layers) checkCall(ctx context.Context, owner string) error {
	if err := semvec.ValidSubject(owner); err != nil {
		return semvec.Wrap(semvec.KindInvalid, err, "invalid owner: it must name a tenant as a licence subject does")
	}
	if l.networks.Closed() {
		return errShuttingDown
	}
	if err := ctx.Err(); err != nil {
		return notSent(err, "before the layers were asked")
	}
	return nil
}

// Abandon stops the regions' drift event log without stopping the layer
// actors or waiting for their writes, for a process going away as if killed
// (its store already closed: what is queued fails at once); the Layers are
// unusable after it.
func (l *Layers) Abandon() {
	l.regionLog.queue.close()
}

func (l *Layers) stopAll(ctx context.Context, r *Registry) error {
	for _, key := range r.ids() {
		r.settle(ctx, key) // an activation in progress: stopped below once it runs
	}
	pids := r.PIDs()
	for key := range pids {
		if pid := r.Stop(key); pid != nil {
			r.poison(pid)
		}
	}
	left := 0
	for key, pid := range pids {
		r.WaitStopped(ctx, key)
		if r.isRunning(key, pid) {
			left++
		}
	}
	for _, key := range r.ids() {
		r.WaitStopped(ctx, key) // those stopping already (evicted), not in pids
	}
	if left > 0 {
		return fmt.Errorf("%d of %d %s actors did not stop: %w", left, len(pids), r.kind, ctx.Err())
	}
	return nil
}

// ---------------------------------------------------------------- keys

// ownedKey names the actor of resource id owned by owner. Resource ids never
// contain '/', owners may; the key splits at the last '/'.
func ownedKey(owner, id string) string { return owner + "/" + id }

func splitKey(key string) (owner, id string) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return "", key
	}
	return key[:i], key[i+1:]
}

// ---------------------------------------------------------------- background work

// goBG runs fn on a goroutine that Shutdown waits for. It reports false
// (and runs nothing) once Shutdown has begun waiting.
func (l *Layers) goBG(fn func(ctx context.Context)) bool {
	return l.bg.run(func() { fn(l.bgCtx) })
}

// asyncResult carries the outcome of async work to the waiting actor. It is
// a local message: it never leaves the process.
type asyncResult struct {
	v   any
	err error
}

// asyncFor runs work on a tracked goroutine, bounded by timeout and ended
// when parent (the layers' background context or a child of it) is
// cancelled or reaches its deadline, and continues on the actor with its
// result (ReenterAfter): the actor keeps processing other messages while
// the work waits for other actors. cont runs on the actor with the actor's
// context restored (ctx.Respond answers the original requester). Work that
// has not returned a second after timeout, or at parent's deadline when
// parent has one (a network operation's, see networkActor.switchUser), is
// not waited for: cont gets a KindTimeout error ("the work did not finish
// in time").
func (l *Layers) asyncFor(ctx actor.Context, parent context.Context, timeout time.Duration, work func(ctx context.Context) (any, error), cont func(v any, err error)) {
	wait := timeout + time.Second // work that honours its context answers first, with its own error
	if dl, ok := parent.Deadline(); ok {
		wait = max(min(wait, time.Until(dl)), 0) // a Future with a negative timeout never times out
	}
	f := actor.NewFuture(ctx.ActorSystem(), wait)
	pid := f.PID()
	root := l.root
	ok := l.goBG(func(context.Context) {
		wctx, cancel := context.WithTimeout(parent, timeout)
		defer cancel()
		v, err := work(wctx)
		root.Send(pid, &asyncResult{v: v, err: err})
	})
	if !ok {
		root.Send(pid, &asyncResult{err: semvec.Errorf(semvec.KindUnavailable, "the server is shutting down")})
	}
	ctx.ReenterAfter(f, func(res any, err error) {
		if err != nil {
			cont(nil, semvec.Wrap(semvec.KindTimeout, err, "the work did not finish in time"))
			return
		}
		r, _ := res.(*asyncResult)
		if r == nil {
			cont(nil, semvec.Errorf(semvec.KindInternal, "async: unexpected result %T", res))
			return
		}
		cont(r.v, r.err)
	})
}

// layerWork is a layer actor's async work (Layers.async) and how the actor
// stops. protoactor drops a stopped actor's queued messages and the
// continuations of its work, so a request queued behind a stop, or waiting
// for work in flight, would get no answer until its ask times out (504).
// A layer actor therefore never stops at once: it stops when it reaches a
// stopWhenIdle in its mailbox (after every message queued before it) with no
// work in flight; otherwise the last piece of work to answer sends it
// stopWhenIdle again. The registry stops layer actors this way too
// (Registry.StopWith), for a deletion or at shutdown.
type layerWork struct {
	l   *Layers
	r   *Registry // the actor's registry
	key string    // the actor's key in it

	running    int    // pieces of work in flight
	stopping   bool   // stop once no work is in flight
	queued     bool   // a stopWhenIdle to itself is in the mailbox
	superseded bool   // a newer activation holds its row: refuse every change
	onStop     func() // optional: called once stopping is set, to end long work
	// gone, optional, is called on the actor when a reload of its view
	// finds its resource gone (deleted, perhaps by a deletion answered
	// 503 whose COMMIT landed), before it stops.
	gone func()
}

// stopWhenIdle stops the layer actor that receives it once no work is in
// flight (layerWork.reached): sent to the actor, it comes after the
// messages already queued (a system Stop would overtake them, and they
// would be dropped).
type stopWhenIdle struct{}

func newLayerWork(l *Layers, r *Registry, key string) layerWork {
	return layerWork{l: l, r: r, key: key}
}

// stop stops the actor once idle. The registry stops handing out its PID
// from now on: new requests wait for it to stop, then activate it again
// from what is stored.
func (w *layerWork) stop(ctx actor.Context) {
	if !w.stopping {
		w.stopping = true
		w.r.Stop(w.key)
		w.stopped()
	}
	w.stopIfIdle(ctx)
}

// stopped calls onStop, if any.
func (w *layerWork) stopped() {
	if w.onStop != nil {
		w.onStop()
	}
}

// supersede marks the actor superseded (its writes were refused because a
// newer activation holds its row) and stops it once idle.
func (w *layerWork) supersede(ctx actor.Context) {
	w.superseded = true
	w.stop(ctx)
}

func (w *layerWork) stopIfIdle(ctx actor.Context) {
	if w.stopping && w.running == 0 && !w.queued {
		w.queued = true
		ctx.Send(ctx.Self(), stopWhenIdle{})
	}
}

// reached handles stopWhenIdle, sent by the actor itself or by its
// registry: the actor stops if no work is in flight; otherwise a message
// queued before it started some, and the last of that work to answer sends
// it again.
func (w *layerWork) reached(ctx actor.Context) {
	w.queued, w.stopping = false, true
	if w.running > 0 {
		w.stopped()
		return
	}
	ctx.Stop(ctx.Self())
}

// async is Layers.async, counted: the actor does not stop while it runs.
func (w *layerWork) async(ctx actor.Context, work func(context.Context) (any, error), cont func(any, error)) {
	w.asyncFor(ctx, w.l.bgCtx, w.l.workTimeout(), work, cont)
}

// asyncFor is Layers.asyncFor, counted.
func (w *layerWork) asyncFor(ctx actor.Context, parent context.Context, timeout time.Duration, work func(context.Context) (any, error), cont func(any, error)) {
	w.running++
	w.l.asyncFor(ctx, parent, timeout, work, func(v any, err error) {
		w.running--
		cont(v, err)
		w.stopIfIdle(ctx)
	})
}

// oneAtATime runs an actor's operations of one kind one after another, in
// the order they came: an operation starts once the one before has called
// its finished (on the actor). At most maxInflight wait; refuse gets the
// error (503) of one more. An operation that ends at once calls finished at
// once, and the next one starts. With maxWait set, an operation that
// waited longer than that for its turn is refused (503) without starting:
// its asker would most likely give up (a 504) before it ended.
type oneAtATime struct {
	busy    bool
	waiting []func()
	maxWait time.Duration
}

// errWaitedTooLong refuses an operation that waited too long for its turn.
var errWaitedTooLong = semvec.Errorf(semvec.KindUnavailable, "the operation waited too long behind earlier ones (the database is slow or unavailable); retry")

func (q *oneAtATime) run(op func(finished func()), refuse func(error)) {
	if q.busy {
		if len(q.waiting) >= maxInflight {
			refuse(semvec.Errorf(semvec.KindUnavailable, "too many requests are waiting for this actor"))
			return
		}
		queued := time.Now()
		q.waiting = append(q.waiting, func() {
			if q.maxWait > 0 && time.Since(queued) > q.maxWait {
				refuse(errWaitedTooLong)
				return
			}
			q.run(op, refuse)
		})
		return
	}
	q.busy = true
	op(func() {
		q.busy = false
		for len(q.waiting) > 0 && !q.busy {
			next := q.waiting[0]
			q.waiting[0] = nil
			q.waiting = q.waiting[1:]
			next()
		}
	})
}

// workTimeout bounds one piece of async work: the ask timeout.
func (l *Layers) workTimeout() time.Duration {
	if l.ask.Timeout <= 0 {
		return defaultWorkTimeout
	}
	return l.ask.Timeout
}

// parallel runs fn for every index in [0, n) with at most fanOut at once and
// returns when all are done.
func parallel(n int, fn func(i int)) {
	sem := make(chan struct{}, fanOut)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// sessionStates asks each session for its StateResponse as owner. Sessions
// that do not exist (or are not owner's) are listed in missing. A session
// whose state cannot be read for a fault of its own (a checkpoint or log
// that does not load: the error of every request to it) is logged and left
// out, as consensus leaves out such a voter, rather than failing every
// aggregate, sample, realignment and switch it takes part in; any other
// failure (an unavailable database, a timeout) is returned.
func (l *Layers) sessionStates(ctx context.Context, owner string, ids []string) (states map[string]*pb.StateResponse, missing []string, err error) {
	res, errs := l.askStates(ctx, owner, ids)
	states = make(map[string]*pb.StateResponse, len(ids))
	for i, id := range ids {
		switch {
		case errs[i] == nil:
			states[id] = res[i]
		case semvec.KindOf(errs[i]) == semvec.KindNotFound:
			missing = append(missing, id)
		case semvec.KindOf(errs[i]) == semvec.KindInternal:
			l.log.Warn("layers: a session's state cannot be read; it is left out", "owner", owner, "session_id", id, "err", errs[i])
		default:
			return nil, nil, errs[i]
		}
	}
	return states, missing, nil
}

// askStates asks each session for its StateResponse as owner, in parallel:
// the answers and errors by index of ids.
func (l *Layers) askStates(ctx context.Context, owner string, ids []string) ([]*pb.StateResponse, []error) {
	res := make([]*pb.StateResponse, len(ids))
	errs := make([]error, len(ids))
	parallel(len(ids), func(i int) {
		res[i], errs[i] = askSession[*pb.StateResponse](ctx, l.sessions, ids[i], &pb.StateRequest{Owner: owner, SessionId: ids[i]})
	})
	return res, errs
}

// ---------------------------------------------------------------- asking layer actors

// ---------------------------------------------------------------- loaders and views

func (l *Layers) clusterView(ctx context.Context, owner, id string) (*pb.ClusterView, error) {
	rec, err := l.store.GetCluster(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	members, err := l.store.ListMembers(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	regions, err := l.store.RegionsOfCluster(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return &pb.ClusterView{
		Owner: rec.Owner, ClusterId: rec.ID, Name: rec.Name, AggregationMode: rec.AggregationMode,
		CouplingFactor: rec.CouplingFactor, MemberIds: members, RegionIds: regions,
		CreatedAtUnixNano: rec.CreatedAt.UnixNano(),
	}, nil
}

func (l *Layers) regionView(ctx context.Context, owner, id string) (*pb.RegionView, error) {
	rec, err := l.store.GetRegion(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	clusters, err := l.store.RegionClusters(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	v := &pb.RegionView{
		Owner: rec.Owner, RegionId: rec.ID, Name: rec.Name, MetaSessionId: rec.MetaSessionID,
		ConsensusThreshold: rec.ConsensusThreshold, VoteWindowSeconds: rec.VoteWindowSeconds, ClusterIds: clusters,
		Realignments: rec.Realignments,
	}
	if rec.LastRealignment != nil {
		v.LastRealignmentUnixNano = rec.LastRealignment.UnixNano()
	}
	return v, nil
}

func (l *Layers) observerView(ctx context.Context, owner string) (*pb.ObserverView, error) {
	rec, err := l.store.GetObserver(ctx, owner)
	if err != nil {
		return nil, err
	}
	regions, err := l.store.ObserverRegions(ctx, owner)
	if err != nil {
		return nil, err
	}
	return &pb.ObserverView{Owner: rec.Owner, ObserverId: rec.ID, MetaSessionId: rec.MetaSessionID,
		SampleIntervalSeconds: rec.SampleIntervalSeconds, RegionIds: regions}, nil
}

func (l *Layers) loadCluster(ctx context.Context, key string) (actor.Producer, error) {
	owner, id := splitKey(key)
	v, err := l.clusterView(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return newClusterActor(l, key, v), nil
}

func (l *Layers) loadRegion(ctx context.Context, key string) (actor.Producer, error) {
	owner, id := splitKey(key)
	epoch, err := l.store.ActivateRegion(ctx, owner, id) // before reading: fences earlier activations
	if err != nil {
		return nil, err
	}
	v, err := l.regionView(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	logged, err := l.store.LoadRegionEvents(ctx, owner, id, maxRegionEvents)
	if err != nil {
		return nil, err
	}
	events, err := decodeLogged(logged, func() *pb.RegionDriftEvent { return &pb.RegionDriftEvent{} })
	if err != nil {
		return nil, semvec.Wrap(semvec.KindInternal, err, "the region's event log is corrupt")
	}
	attached, err := l.store.RegionAttachments(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return newRegionActor(l, key, v, epoch, events, lastSeq(logged), attached), nil
}

func (l *Layers) loadObserver(ctx context.Context, owner string) (actor.Producer, error) {
	v, err := l.observerView(ctx, owner)
	if err != nil {
		return nil, err
	}
	epoch, err := l.store.ActivateObserver(ctx, owner, v.GetObserverId()) // before reading its log: fences earlier activations
	if err != nil {
		return nil, err
	}
	stored, err := l.observerRows(ctx, owner, v.GetObserverId())
	if err != nil {
		return nil, err
	}
	return newObserverActor(l, owner, v, epoch, stored), nil
}

// observerStored is what an observer's rows hold: its anomaly log (newest
// first, as the actor keeps it), the last number in it, and its sample
// state.
type observerStored struct {
	anomalies []*pb.Anomaly
	seq       int64
	state     sampleState
}

// observerRows reads owner's observer id's anomaly log and sample state.
func (l *Layers) observerRows(ctx context.Context, owner, id string) (observerStored, error) {
	logged, err := l.store.LoadAnomalies(ctx, owner, id, maxAnomalies)
	if err != nil {
		return observerStored{}, err
	}
	anomalies, err := decodeLogged(logged, func() *pb.Anomaly { return &pb.Anomaly{} })
	if err != nil {
		return observerStored{}, semvec.Wrap(semvec.KindInternal, err, "the observer's anomaly log is corrupt")
	}
	slices.Reverse(anomalies) // the actor keeps them newest first
	data, err := l.store.LoadSampleState(ctx, owner, id)
	if err != nil {
		return observerStored{}, err
	}
	state, err := parseSampleState(data)
	if err != nil {
		return observerStored{}, semvec.Wrap(semvec.KindInternal, err, "the observer's sample state is corrupt")
	}
	return observerStored{anomalies: anomalies, seq: lastSeq(logged), state: state}, nil
}

// decodeLogged decodes the entries of a layer log (oldest first).
func decodeLogged[M proto.Message](items []persistence.LoggedItem, fresh func() M) ([]M, error) {
	out := make([]M, len(items))
	for i, it := range items {
		m := fresh()
		if err := proto.Unmarshal(it.Data, m); err != nil {
			return nil, fmt.Errorf("entry %d: %w", it.Seq, err)
		}
		out[i] = m
	}
	return out, nil
}

func lastSeq(items []persistence.LoggedItem) int64 {
	if len(items) == 0 {
		return 0
	}
	return items[len(items)-1].Seq
}

func (l *Layers) loadNetwork(ctx context.Context, owner string) (actor.Producer, error) {
	epoch, err := l.store.ActivateNetwork(ctx, owner) // before reading the state: fences earlier activations
	if err != nil {
		return nil, err
	}
	st, whole := newNetworkState(l.now()), false
	stored, err := l.store.LoadNetworkState(ctx, owner)
	switch {
	case err == nil:
		if st, whole, err = decodeNetworkState(stored, l.now()); err != nil {
			return nil, semvec.Wrap(semvec.KindInternal, err, "network state is corrupt")
		}
	case semvec.KindOf(err) != semvec.KindNotFound:
		return nil, err
	}
	return newNetworkActor(l, owner, epoch, st, whole), nil
}

// viewLoads numbers an actor's view loads, so an older load never replaces
// a newer one. again schedules a reloadAgain.
type viewLoads struct {
	started, applied uint64
	again            selfTimer
}

// selfTimer sends its actor one message of the actor's own after a delay
// (protoactor's TimerScheduler), at most one at a time: while one is
// pending, asking for another does nothing. The actor calls fired when the
// message arrives. It is the actor's state, used only on the actor.
type selfTimer struct{ pending bool }

// after sends msg to the actor delay from now, unless one is pending.
func (t *selfTimer) after(ctx actor.Context, delay time.Duration, msg any) {
	if t.pending {
		return
	}
	t.pending = true
	scheduler.NewTimerScheduler(ctx).SendOnce(delay, ctx.Self(), msg)
}

// fired notes that the pending message has arrived.
func (t *selfTimer) fired() { t.pending = false }

// reloadAgain tells a layer actor to reload its view again after an unsure
// reload failed (see reloadView; a local message).
type reloadAgain struct{}

// reloadRetryDelay is how long a layer actor waits after an unsure reload
// failed before it reloads again.
const reloadRetryDelay = time.Second

// reloadView reloads a layer actor's view after a TopologyChanged and
// answers TopologyReloaded: load runs on a work goroutine (w.async), apply
// runs on the actor with a view at least as new as any applied before.
// Every load starts after the change it follows has committed, so the actor
// converges on what is stored, whatever order concurrent changes are told
// in. When the resource is gone, or its view cannot be read, the actor
// stops once idle (the requests already queued are still answered): its
// next use activates it from the store again; a gone resource's actor
// calls w.gone first.
//
// A reload told after a write that failed (TopologyChanged.unsure: its
// COMMIT may have landed, its answer lost) that cannot read the view keeps
// the view instead, so the actor still serves reads while the database is
// down, and reloads again reloadRetryDelay later (reloadAgain), until a
// reload succeeds or finds the resource gone: then it serves what is
// stored.
func reloadView[V any](ctx actor.Context, w *layerWork, n *viewLoads, load func(context.Context) (V, error), apply func(V)) {
	unsure := false
	switch m := ctx.Message().(type) {
	case *pb.TopologyChanged:
		unsure = m.GetUnsure()
	case reloadAgain:
		unsure = true
		n.again.fired()
	}
	n.started++
	load1 := n.started
	w.async(ctx, func(wctx context.Context) (any, error) { return load(wctx) }, func(v any, err error) {
		defer func() {
			if ctx.Sender() != nil {
				ctx.Respond(&pb.TopologyReloaded{})
			}
		}()
		if load1 <= n.applied {
			return // a newer load, started after this one, is already applied
		}
		gone := semvec.KindOf(err) == semvec.KindNotFound
		switch {
		case err != nil && unsure && !gone:
			w.l.log.Warn("layers: view not reloaded after a change whose outcome is unknown; retried", "key", w.key, "err", err)
			if !w.stopping {
				n.again.after(ctx, reloadRetryDelay, reloadAgain{})
			}
			return
		case err != nil:
			if !gone {
				w.l.log.Warn("layers: view not reloaded; the actor stops and reloads on next use", "key", w.key, "err", err)
			} else if w.gone != nil && !w.stopping {
				w.gone()
			}
			w.stop(ctx)
			return
		}
		n.applied = load1
		apply(v.(V))
	})
}

// changed is tellChanged, logging a failure.
func (l *Layers) changed(ctx context.Context, r *Registry, key string) {
	tellChanged(ctx, l.ask, r, key, l.log, false)
}

// outcomeUnknown reports whether a failed write may have landed all the
// same: the database did not answer (unavailable, timed out) or failed in
// a way that says nothing (internal). Not found, a conflict or a cap
// reached say the transaction rolled back.
func outcomeUnknown(err error) bool {
	k := semvec.KindOf(err)
	return err != nil && (k == semvec.KindUnavailable || k == semvec.KindTimeout || k == semvec.KindInternal)
}

// told is an actor to tell of a topology change: its registry and key.
type told struct {
	r   *Registry
	key string
}

// unsure returns err, the error of a topology write, after telling the
// actors whose links the write changed, off the request (it answers at
// once): a failed write's outcome is unknown (its COMMIT may have landed,
// its answer lost), so each reloads its view (TopologyChanged.unsure),
// keeping the one it has while the database does not answer; one whose
// resource is gone stops (see reloadView).
// An error that says what happened (not found, a conflict, a cap reached:
// the transaction rolled back) tells nobody.
func (l *Layers) unsure(err error, actors ...told) error {
	if !outcomeUnknown(err) {
		return err
	}
	l.goBG(func(bg context.Context) { l.tellUnsure(bg, actors...) })
	return err
}

// haltUnsure stops the actor of owner's session sid, the backing session of
// a cluster or the meta session of a region whose deletion failed with its
// outcome unknown (err), as Sessions.Delete stops a session's: the deletion
// may have landed, or (PostgreSQL) have left its mark on the session's row
// (persistence's fenceOff: a negative epoch, which a failed deletion lifts
// again only while the database answers). A running actor would then have
// its next change refused as NotFound and answer 404 for a session that
// exists; stopped (not discarded: its changes in flight may have landed),
// the next request activates it from what the database holds.
func (l *Layers) haltUnsure(ctx context.Context, err error, owner, sid string) {
	if outcomeUnknown(err) && sid != "" {
		l.sessions.reg.Halt(ctx, ownedKey(owner, sid), false)
	}
}

// tellUnsure tells each of actors TopologyChanged{unsure} (see unsure).
func (l *Layers) tellUnsure(ctx context.Context, actors ...told) {
	for _, a := range actors {
		tellChanged(ctx, l.ask, a.r, a.key, l.log, true)
	}
}

// tellChanged tells the actor of key in r, when it is running or
// activating, that its stored links changed, and waits until it has
// reloaded them (an activation in progress is waited for: it may have read
// them before the change), even when the caller has gone. One actor of one
// owner is involved; nothing is locked. unsure: the change's write failed
// (see Layers.unsure).
func tellChanged(ctx context.Context, ask *Asker, r *Registry, key string, log *slog.Logger, unsure bool) {
	ctx, cancel := afterCommit(ctx)
	defer cancel()
	msg := &pb.TopologyChanged{Unsure: unsure}
	_, routed, err := askRoute[*pb.TopologyReloaded](ctx, r, key, msg) // cluster mode: on the member hosting it
	if !routed {
		if !r.Has(key) {
			return // its activation will read the change
		}
		var e *entry
		if e, err = r.lookup(ctx, key); err == nil {
			_, err = askEntry[*pb.TopologyReloaded](ctx, ask, r, e, msg)
		}
	}
	if err != nil && semvec.KindOf(err) != semvec.KindNotFound && !isDeadLetter(err) {
		log.Warn("layers: actor not told of a topology change", "key", key, "err", err)
	}
}

// clusterChanged, regionChanged, observerChanged and membershipChanged tell
// the actor concerned after a topology change has committed.
func (l *Layers) clusterChanged(ctx context.Context, owner, id string) {
	l.changed(ctx, l.clusters, ownedKey(owner, id))
}

func (l *Layers) regionChanged(ctx context.Context, owner, id string) {
	l.changed(ctx, l.regions, ownedKey(owner, id))
}

func (l *Layers) observerChanged(ctx context.Context, owner string) {
	l.changed(ctx, l.observers, owner)
}

func (l *Layers) membershipChanged(ctx context.Context, owner, sid string) {
	l.changed(ctx, l.sessions.reg, ownedKey(owner, sid))
}

func notFoundIfInvalid(what string, ids ...string) error {
	for _, id := range ids {
		if !ValidID(id) {
			return semvec.NotFound(what)
		}
	}
	return nil
}
