package actors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/semvec-go/semvec"
	"google.golang.org/protobuf/proto"
)

// Placement is where actors live when several nodes serve as one (cluster
// mode, docs/cluster.md). Each actor kind (session, cluster, region,
// observer, network) is a grain kind of protoactor's cluster whose grain is
// a router: protoactor places it by identity (the actor's key) on one
// member (disthash), and the router hands what it receives to that member's
// own Registry of the kind, which activates, passivates and (through the
// store's epochs) fences the actor exactly as in single-node mode. A node
// asked for an actor it does not host asks the router wherever it lives; for
// one it hosts it skips the router and uses its Registry directly.
//
// In single-node mode there is no Placement and every Registry is local.
type Placement struct {
	// RouterIdle is how long a router with no running actor to watch
	// waits before it stops (default 30 s); set it before Kinds.
	RouterIdle time.Duration

	c      *cluster.Cluster
	ask    *Asker
	sub    *eventstream.Subscription
	kinds  map[string]*Registry
	log    *slog.Logger
	outbox batches[placedTell]
	lanes  tellLanes
}

type placedTell struct {
	reg *Registry
	key string
	msg any
}

const (
	// placementLookupTimeout bounds finding (and placing) a router that
	// no cache knows; protoactor's own lookup gives up after 5 s.
	placementLookupTimeout = 5 * time.Second
	// routeRetries bounds the lookups of a router that turned out gone
	// (10, 20, 40, 80, 160 ms apart).
	routeRetries = 5
	// tellQueue bounds the notifications (drift events) waiting to cross
	// to another member, in the outbox and again in the lanes (those not
	// yet delivered); beyond it
	// they are dropped and logged, as a notification to a stopping actor
	// is in single-node mode.
	tellQueue = 8192
	// maxTellLanes bounds the actors whose notifications are being
	// delivered at once (see tellLanes).
	maxTellLanes = 64
)

// NewPlacement prepares cluster mode for the registries of sessions and
// layers (layers may be nil). Pass Kinds to the cluster's configuration,
// then Start with the started cluster before serving requests.
func NewPlacement(sessions *Sessions, layers *Layers, log *slog.Logger) *Placement {
	p := &Placement{RouterIdle: 30 * time.Second, ask: sessions.ask, kinds: map[string]*Registry{"session": sessions.reg}, log: log}
	if layers != nil {
		for _, r := range []*Registry{layers.clusters, layers.regions, layers.observers, layers.networks} {
			p.kinds[r.kind] = r
		}
	}
	return p
}

// Kinds are the grain kinds to configure the cluster with: one router kind
// per actor kind.
func (p *Placement) Kinds() []*cluster.Kind {
	var out []*cluster.Kind
	for kind, reg := range p.kinds {
		out = append(out, cluster.NewKind(kind, actor.PropsFromProducer(func() actor.Actor { return &router{reg: reg, idle: p.RouterIdle, wait: p.routerWait()} })))
	}
	return out
}

// Start routes every registry's asks and tells through c (started, with
// Kinds configured). Call it once, before requests are served.
func (p *Placement) Start(c *cluster.Cluster) {
	p.c = c
	p.sub = c.ActorSystem.EventStream.Subscribe(func(evt any) {
		if t, ok := evt.(*cluster.ClusterTopology); ok {
			p.topology(t.Members)
		}
	})
	p.lanes.start(maxTellLanes, tellQueue, p.deliverOne, func(t placedTell) {
		p.log.Warn("cluster: notification dropped, queue full", "kind", t.reg.kind, "key", t.key, "type", typeName(t.msg))
	})
	p.outbox.start(tellQueue, 256, p.lanes.add)
	for _, r := range p.kinds {
		r.place.Store(p)
	}
}

// topology empties the PID cache, since identities move when members join
// or leave: protoactor clears it only for members that left, and a cached
// router that moved would swallow notifications (a tell to a stopped
// router is dropped) until that member leaves. The next lookup of each
// identity places it again.
func (p *Placement) topology(members []*cluster.Member) {
	for _, m := range members {
		p.c.PidCache.RemoveByMember(m)
	}
}

// Close stops routing, then delivers the notifications still queued for
// other members until ctx ends; at its end the lookups still waiting (on a
// member that died, up to 5 s each) give up and the rest are dropped (none
// is sent any more, nor looked up), with one log line that counts them.
func (p *Placement) Close(ctx context.Context) {
	if p.sub != nil {
		p.c.ActorSystem.EventStream.Unsubscribe(p.sub)
	}
	for _, r := range p.kinds {
		r.place.Store(nil)
	}
	if p.c == nil {
		return
	}
	drained := make(chan struct{})
	go func() {
		p.outbox.close()
		p.lanes.wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		p.lanes.halt() // lookups still waiting (on a member that died) give up
		<-drained
	}
	p.lanes.halt()
	if n := p.lanes.abandoned.Load(); n > 0 {
		p.log.Warn("cluster: notifications to other members not delivered before shutdown's deadline", "count", n)
	}
}

// lookup returns the router of key in r's kind when another member hosts
// it, nil when this member does. Bounded by ctx and by
// placementLookupTimeout: protoactor's lookup takes no context (and waits
// up to 5 s for a member that died), so it runs on its own goroutine and a
// caller that gives up leaves it to finish into the cache.
func (p *Placement) lookup(ctx context.Context, r *Registry, key string) (*actor.PID, error) {
	pid, ok := p.c.PidCache.Get(key, r.kind)
	if !ok {
		if err := ctx.Err(); err != nil { // no lookup left running for nobody
			return nil, semvec.Wrap(semvec.KindUnavailable, err, "no cluster member answered for this "+r.kind+" in time; retry")
		}
		found := make(chan *actor.PID, 1)
		go func() {
			pid := p.c.Get(key, r.kind)
			if pid != nil {
				p.c.PidCache.Set(key, r.kind, pid)
			}
			found <- pid
		}()
		timer := time.NewTimer(placementLookupTimeout)
		defer timer.Stop()
		select {
		case pid = <-found:
		case <-ctx.Done():
			return nil, semvec.Wrap(semvec.KindUnavailable, ctx.Err(), "no cluster member answered for this "+r.kind+" in time; retry")
		case <-timer.C:
			return nil, semvec.Errorf(semvec.KindUnavailable, "no cluster member answered for this %s in time; retry", r.kind)
		}
		if pid == nil {
			return nil, semvec.Errorf(semvec.KindUnavailable, "no cluster member hosts this %s right now (membership is changing); retry", r.kind)
		}
	}
	if pid.Address == p.c.ActorSystem.Address() {
		return nil, nil
	}
	return pid, nil
}

// routerWait is how long a router activates its actor for the requests
// waiting on it: nine tenths of an ask, so that when the activation cannot
// finish (every session slot stays busy) the askers hear why (504, the
// activation timed out) before their own ask ends (503, as if the member
// were gone, which also drops the route), and an activation that nobody
// waits for any more stops waiting for a slot.
func (p *Placement) routerWait() time.Duration {
	if p.ask == nil || p.ask.Timeout <= 0 {
		return 0
	}
	return p.ask.Timeout * 9 / 10
}

// HostOf returns the address of the member that hosts the actor of kind
// (session, cluster, region: of owner's id; observer, network: of owner,
// with id empty), placing it when no member does yet.
func (p *Placement) HostOf(ctx context.Context, kind, owner, id string) (string, error) {
	r, ok := p.kinds[kind]
	if !ok {
		return "", semvec.Errorf(semvec.KindInvalid, "unknown actor kind %q", kind)
	}
	key := owner
	if id != "" {
		key = ownedKey(owner, id)
	}
	pid, err := p.lookup(ctx, r, key)
	switch {
	case err != nil:
		return "", err
	case pid == nil:
		return p.c.ActorSystem.Address(), nil
	}
	return pid.Address, nil
}

// forget drops a router that did not answer from the cache, so the next
// lookup places the identity again (on a survivor when its member died).
func (p *Placement) forget(r *Registry, key string, pid *actor.PID) {
	p.c.PidCache.RemoveByValue(key, r.kind, pid)
}

// tell queues a notification for key's actor in r; they are delivered off
// every actor's Receive, in order for each actor (see tellLanes).
func (p *Placement) tell(r *Registry, key string, msg any) {
	if !p.outbox.put(placedTell{reg: r, key: key, msg: msg}) {
		p.log.Warn("cluster: notification dropped, queue full", "kind", r.kind, "key", key, "type", typeName(msg))
	}
}

// deliverOne looks up t's router (at most placementLookupTimeout, and no
// longer than stop lasts) and sends it t, or tells the actor here when this
// member hosts it.
func (p *Placement) deliverOne(stop context.Context, t placedTell) {
	if stop.Err() != nil { // halted: nothing more is delivered, nor looked up
		p.lanes.abandoned.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(stop, placementLookupTimeout)
	pid, err := p.lookup(ctx, t.reg, t.key)
	cancel()
	switch {
	case stop.Err() != nil:
		p.lanes.abandoned.Add(1) // Close logs them at once
	case err != nil:
		p.log.Warn("cluster: notification not delivered", "kind", t.reg.kind, "key", t.key, "type", typeName(t.msg), "err", err)
	case pid == nil:
		t.reg.tellLocal(t.key, t.msg, true)
	default:
		p.c.ActorSystem.Root.Send(pid, t.msg)
	}
}

// tellLanes delivers notifications with one lane per actor: a lane
// delivers its actor's notifications in order on a goroutine of its own,
// and at most max lanes run at once. A lookup that waits (protoactor waits
// up to 5 s for a member that died and is not yet out of the membership)
// holds up its own actor's notifications only, not every tenant's, as the
// one loop that delivered them all did; only when max lookups wait at once
// does the next actor's lane wait for one to end.
//
// halt ends the lanes' context, which their deliveries get: those still
// waiting give up (Placement.Close at shutdown's deadline).
type tellLanes struct {
	deliver   func(context.Context, placedTell)
	slots     chan struct{} // a token per running lane
	maxQueue  int
	onDrop    func(placedTell) // a notification dropped, maxQueue not yet delivered
	stop      context.Context
	halt      context.CancelFunc
	abandoned atomic.Int64 // deliveries that gave up because of halt (counted by deliver)

	mu      sync.Mutex
	waiting map[string][]placedTell // by actor (kind and key): notifications behind its running lane
	queued  int                     // notifications added and not yet delivered (or dropped)
	running sync.WaitGroup
}

func (l *tellLanes) start(max, maxQueue int, deliver func(context.Context, placedTell), onDrop func(placedTell)) {
	l.deliver, l.maxQueue, l.onDrop = deliver, maxQueue, onDrop
	l.stop, l.halt = context.WithCancel(context.Background())
	l.slots = make(chan struct{}, max)
	l.waiting = map[string][]placedTell{}
}

// add hands batch to the lanes, starting a lane for each actor without
// one (waiting for a free slot when max lanes run).
func (l *tellLanes) add(batch []placedTell) {
	for _, t := range batch {
		id := t.reg.kind + "\x00" + t.key
		l.mu.Lock()
		if l.queued >= l.maxQueue {
			l.mu.Unlock()
			l.onDrop(t)
			continue
		}
		l.queued++
		if q, busy := l.waiting[id]; busy {
			l.waiting[id] = append(q, t)
			l.mu.Unlock()
			continue
		}
		l.waiting[id] = nil // a lane runs: the next ones queue behind it
		l.mu.Unlock()
		l.slots <- struct{}{}
		l.running.Add(1)
		go l.run(id, t)
	}
}

// run delivers t, then what queued behind it for the same actor, until
// none is left.
func (l *tellLanes) run(id string, t placedTell) {
	defer func() { <-l.slots; l.running.Done() }()
	next := []placedTell{t}
	for {
		for _, t := range next {
			l.deliver(l.stop, t)
		}
		l.mu.Lock()
		l.queued -= len(next)
		next = l.waiting[id]
		if len(next) == 0 {
			delete(l.waiting, id)
			l.mu.Unlock()
			return
		}
		l.waiting[id] = nil
		l.mu.Unlock()
	}
}

// wait returns once every lane has ended (after add's last call).
func (l *tellLanes) wait() { l.running.Wait() }

// askRoute asks key's actor in r through its router when another member
// hosts it; routed is false when this member hosts it (the caller asks its
// own Registry). A router that is gone (its actor passivated, its member
// left) is forgotten and looked up again; one that does not answer in time
// (its member died) is forgotten too and the failure is a 503, so that the
// client's retry finds the identity's new place.
func askRoute[R Reply](ctx context.Context, r *Registry, key string, req proto.Message) (res R, routed bool, err error) {
	p := r.place.Load()
	if p == nil {
		return res, false, nil
	}
	for attempt := 0; ; attempt++ {
		pid, err := p.lookup(ctx, r, key)
		if err != nil || pid == nil {
			return res, err != nil, err
		}
		res, err = Ask[R](ctx, p.ask, pid, req)
		switch {
		case err == nil:
			return res, true, nil
		case isDeadLetter(err) && attempt < routeRetries:
			// The router stopped (with its actor); its member's placement
			// may still name it for a moment: look again after a pause.
			p.forget(r, key, pid)
			select {
			case <-time.After(time.Duration(10<<attempt) * time.Millisecond):
			case <-ctx.Done():
				return res, true, semvec.Wrap(semvec.KindUnavailable, ctx.Err(), "this "+r.kind+" is moving between cluster members; retry")
			}
		case errors.Is(err, actor.ErrTimeout):
			// No answer in time (a timeout the router answered with, such
			// as its actor's activation, is an answer: the default case).
			// Most likely its member died (the membership drops it a TTL
			// later): 503, and the retry finds the new place. As with a
			// 504 on one node, the change may have been applied (a slow
			// member); docs/cluster.md says so.
			p.forget(r, key, pid)
			return res, true, semvec.Wrap(semvec.KindUnavailable, err, "the cluster member hosting this "+r.kind+" did not answer; retry")
		default:
			return res, true, err
		}
	}
}
