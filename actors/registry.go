package actors

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	pb "github.com/semvec-go/semvec/proto"
)

// Loader builds the actor for id, typically from its saved snapshot. It runs
// on the requesting goroutine, never inside an actor, and returns a
// KindNotFound error when id does not exist.
type Loader func(ctx context.Context, id string) (actor.Producer, error)

// activationTimeout bounds the loading of one actor (its database reads and
// the replay of its log), whoever is waiting for it; each database read is
// also bounded by the store's operation timeout.
const activationTimeout = 30 * time.Second

// Registry activates actors of one kind on demand and tracks the active ones.
// It is the map from id to PID; actors remove themselves through the
// callback Stopped when they stop (passivation, deletion, panic).
//
// Activation of one id happens once even under concurrent requests; a
// request for an actor that is stopping waits until it has stopped (and saved
// its snapshot) before activating it again, so it never reads a stale
// snapshot.
type Registry struct {
	kind string
	root *actor.RootContext
	load Loader
	now  func() time.Time

	// max, when positive, bounds the actors in memory at all times (see
	// admit): an activation beyond it waits for a slot, and evicts the
	// least recently used of a small random sample to free one (evict
	// stops it; the registry has marked it stopping).
	max   int
	evict func(key string, pid *actor.PID)
	// exists, when set, says whether id's resource exists (KindNotFound if
	// not) without loading it. An activation that finds every slot taken
	// asks it first, so that a request for a missing id evicts no one.
	exists func(ctx context.Context, id string) error
	// loading, when set, bounds the activations loading at once (its
	// capacity): what they load is in memory before it is reported to the
	// budget, and a storm of cold requests would read the database all at
	// once.
	loading chan struct{}
	// budget, when positive, bounds the bytes its actors report holding
	// (footprint.go): past it, the least recently used are evicted.
	budget int64
	held   atomic.Int64 // the bytes the admitted actors report
	// leavingBytes is the part of held that the actors marked stopping
	// reported when they were marked (changed under mu).
	leavingBytes atomic.Int64

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool // no new activations (shutting down)

	// Slots (under mu): used counts the admitted entries (activating past
	// admission, running, stopping), leaving those of them stopping;
	// queue holds the activations waiting for a slot (see admit), and
	// waiting is their number.
	used, leaving int
	queue         admissionQueue
	waiting       atomic.Int32 // changed under mu; read by unpin without it
	// tenantOf, when set, names the tenant of an id: each tenant's
	// activations queue apart, and the tenants take turns for slots.
	tenantOf func(id string) string
	// admitted maps the entries that hold a slot to their ids (only when
	// max is set): evictions look among them, not through every entry.
	admitted map[*entry]string

	// incarnations numbers the actors' names (kind/id$n): each activation
	// is a process of its own, so a message sent to the PID of one that has
	// stopped is a dead letter and never reaches the next one (protoactor
	// resolves a PID by its name).
	incarnations atomic.Uint64

	// place, in cluster mode, routes asks, tells and stops of actors that
	// another member hosts (see Placement); nil on a single node.
	place atomic.Pointer[Placement]

	// stopMsg, when set, is what stops an actor after the messages already
	// queued (StopWith); protoactor's PoisonPill otherwise.
	stopMsg any

	guardian actor.SupervisorStrategy // supervises its actors (panicStops)
}

// evictionSample is how many active actors an eviction looks at to pick the
// least recently used (as Redis does): O(1) per eviction, close to LRU.
const evictionSample = 16

// admit waits until e may take a slot, and takes it: at most max entries
// hold one, counting the actors that are stopping (their memory is not
// released before they have stopped). When the slots are full, activations
// queue: each tenant's in the order they came, the tenants taking turns
// (admissionQueue). The first in the queue evicts running actors, least
// recently used first, until as many are on their way out as activations
// are waiting, and takes the first slot that is released. An activation
// for an id that does not exist (r.exists) evicts no one, and one that
// nobody waits for any more (its callers gave up, and it has no message to
// deliver) leaves the queue rather than evict an actor in use for it. Call
// with r.mu held; it is released while waiting.
func (r *Registry) admit(ctx context.Context, id string, e *entry) error {
	if r.max > 0 && (r.used >= r.max || r.queue.n > 0) && r.exists != nil {
		r.mu.Unlock()
		err := r.exists(ctx, id)
		r.mu.Lock()
		if err != nil {
			return err
		}
	}
	if r.max <= 0 || (r.used < r.max && r.queue.n == 0) {
		r.take(id, e)
		return nil
	}
	turn := make(chan struct{}, 1) // signalled when it should look again
	e.turn = turn
	if r.tenantOf != nil {
		e.tenant = r.tenantOf(id)
	}
	r.queue.push(e.tenant, turn)
	r.waiting.Store(int32(r.queue.n))
	defer r.leaveQueue(e)
	if first := r.queue.first(); first != turn {
		signal(first) // one more waiting: the first may evict one more
	}
	for {
		if r.closed {
			return errShuttingDown
		}
		if e.pins.Load() == 0 && len(e.pending) == 0 {
			return semvec.Errorf(semvec.KindUnavailable, "all %d %s slots are busy, and nobody waits for this activation any more", r.max, r.kind)
		}
		if r.queue.first() == turn {
			if r.used < r.max {
				r.take(id, e)
				return nil
			}
			for r.leaving < r.queue.n && r.evictOne() {
			}
		}
		r.mu.Unlock()
		select {
		case <-turn:
		case <-ctx.Done():
			r.mu.Lock()
			return semvec.Wrap(semvec.KindUnavailable, ctx.Err(), "all "+strconv.Itoa(r.max)+" "+r.kind+" slots stayed busy; retry")
		}
		r.mu.Lock()
	}
}

// leaveQueue takes e out of the queue of admit, and lets the next first
// look. Call with r.mu held.
func (r *Registry) leaveQueue(e *entry) {
	r.queue.remove(e.tenant, e.turn)
	e.turn = nil
	r.waiting.Store(int32(r.queue.n))
	r.wakeWaiters()
}

// take gives e, the entry of id, a slot. Call with r.mu held.
func (r *Registry) take(id string, e *entry) {
	r.used++
	e.admitted = true
	if r.max > 0 || r.budget > 0 {
		r.admitted[e] = id
	}
}

// release gives e's slot back, if it held one. Call with r.mu held.
func (r *Registry) release(e *entry) {
	if !e.admitted {
		return
	}
	e.admitted = false
	r.used--
	delete(r.admitted, e)
	if e.stopping {
		r.leaving--
		r.leavingBytes.Add(-e.leavingBytes)
	}
	r.held.Add(-e.bytes.Swap(0))
	r.wakeWaiters()
}

// wakeWaiters makes the first activation waiting for a slot look again (a
// slot was released, or an actor became a candidate for eviction). Call
// with r.mu held.
func (r *Registry) wakeWaiters() {
	if first := r.queue.first(); first != nil {
		signal(first)
	}
}

// signal wakes the activation waiting on turn, unless it has a signal to
// read already.
func signal(turn chan struct{}) {
	select {
	case turn <- struct{}{}:
	default:
	}
}

// markStopping marks e's running actor as stopping: requests for its id
// wait until it has stopped. Call with r.mu held.
func (r *Registry) markStopping(e *entry) {
	e.stopping = true
	if e.admitted {
		r.leaving++
		e.leavingBytes = e.bytes.Load()
		r.leavingBytes.Add(e.leavingBytes)
	}
}

// unpin ends a pin of e (lookup): its caller has sent its request, which
// the actor handles before any eviction's stop message, or has given up
// waiting for it.
func (r *Registry) unpin(e *entry) {
	if e.pins.Add(-1) == 0 && r.waiting.Load() > 0 {
		r.mu.Lock()
		if e.turn != nil {
			signal(e.turn) // queued, and maybe nobody waits for it any more
		}
		r.wakeWaiters() // e may be evicted for them now
		r.mu.Unlock()
	}
}

// evictOne stops the least recently used running actor of a random sample
// that no lookup has pinned, and reports whether there was one. Call with
// r.mu held (evict only queues a message).
func (r *Registry) evictOne() bool {
	var victim *entry
	var key string
	seen := 0
	for e, k := range r.admitted { // random order
		if e.pid == nil || e.stopping || e.pins.Load() > 0 {
			continue
		}
		if victim == nil || e.lastSeen.Load() < victim.lastSeen.Load() {
			victim, key = e, k
		}
		if seen++; seen == evictionSample {
			break
		}
	}
	if victim == nil {
		return false
	}
	r.markStopping(victim)
	r.evict(key, victim.pid)
	return true
}

type entry struct {
	pid      *actor.PID
	ready    chan struct{} // closed when activation finished (pid or err set)
	err      error
	pending  []any  // told while activating; delivered in order once the actor runs
	next     []any  // told, to activate it, while it stopped: its next activation's pending
	name     string // of its process (kind/id$n), set before it is spawned
	stopping bool
	turn     chan struct{} // while it waits in the queue for a slot (admit)
	tenant   string        // whose queue it waits in
	gone     bool          // its actor stopped before its activation finished
	admitted bool          // it holds a slot (admit)
	stopped  chan struct{} // closed when the actor has stopped
	failed   atomic.Bool   // it panicked (set before stopped is closed)
	lastSeen atomic.Int64  // unix nanos
	// pins counts the lookups whose callers have not yet sent their
	// request: an eviction in between would stop the actor before it got
	// the request (and a freshly activated actor, wanted by its waiters,
	// is what an eviction finds most often under a storm of activations).
	pins atomic.Int32
	// bytes is what its actor last reported holding (footprint), and
	// leavingBytes what it held when it was marked stopping.
	bytes        atomic.Int64
	leavingBytes int64
}

// NewRegistry returns an empty registry whose actors are named kind/<id>$<n>
// (n numbers the activations).
func NewRegistry(kind string, root *actor.RootContext, load Loader, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	r := &Registry{kind: kind, root: root, load: load, now: now, entries: map[string]*entry{}, admitted: map[*entry]string{}}
	r.guardian = &panicStops{r: r}
	return r
}

// panicStops is a registry's guardian strategy: a panic stops the actor
// instead of restarting it with half-updated state (the next request
// activates it again from what is stored), and marks its entry failed, so
// that the asks it left unanswered fail (askEntry) instead of being
// retried as if never handled: the request it was handling may have been
// applied. One value per registry: protoactor keeps a guardian process per
// strategy value, for good.
type panicStops struct{ r *Registry }

func (s *panicStops) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	s.r.mu.Lock()
	if e := s.r.entries[s.r.idOf(child)]; e != nil && e.pid != nil && e.pid.Equal(child) {
		e.failed.Store(true)
	}
	s.r.mu.Unlock()
	sys.Logger().Error("actor panicked: stopped", slog.String("kind", s.r.kind), slog.String("id", child.Id), slog.Any("reason", reason))
	sup.StopChildren(child)
}

// name returns the process name of a new incarnation of id's actor.
func (r *Registry) name(id string) string {
	return r.kind + "/" + id + "$" + strconv.FormatUint(r.incarnations.Add(1), 10)
}

// idOf is the id of the actor pid names (see name).
func (r *Registry) idOf(pid *actor.PID) string {
	n := strings.TrimPrefix(pid.Id, r.kind+"/")
	if i := strings.LastIndexByte(n, '$'); i >= 0 {
		n = n[:i]
	}
	return n
}

// StopWith makes the registry stop its actors by sending them msg, which
// they handle themselves (layer actors finish their work in flight first,
// see layerWork), instead of protoactor's PoisonPill. Call it before the
// registry is used.
func (r *Registry) StopWith(msg any) *Registry {
	r.stopMsg = msg
	return r
}

// poison stops pid after the messages already queued.
func (r *Registry) poison(pid *actor.PID) {
	if r.stopMsg != nil {
		r.root.Send(pid, r.stopMsg)
		return
	}
	r.root.Poison(pid)
}

// props are the spawn options of an actor of the registry: protoactor's
// default dispatcher (each mailbox drains in FIFO order on a goroutine of
// its own) and a guardian that stops it on panic.
func (r *Registry) props(producer actor.Producer) *actor.Props {
	return actor.PropsFromProducer(producer, actor.WithGuardian(r.guardian))
}

// Get returns the PID of id's actor, activating it when needed.
func (r *Registry) Get(ctx context.Context, id string) (*actor.PID, error) {
	e, err := r.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	r.unpin(e)
	return e.pid, nil
}

// lookup is Get returning the actor's entry (its pid is set once and never
// changed), pinned: it is not evicted before the caller's r.unpin(e), which
// it calls once it has sent its request (askEntry does).
func (r *Registry) lookup(ctx context.Context, id string) (*entry, error) {
	for {
		r.mu.Lock()
		e := r.entries[id]
		switch {
		case e == nil && r.closed:
			r.mu.Unlock()
			return nil, errShuttingDown
		case e == nil:
			e = r.startActivation(id)
		case e.stopping:
			r.mu.Unlock()
			select {
			case <-e.stopped:
				continue
			case <-ctx.Done():
				return nil, semvec.Wrap(semvec.KindTimeout, ctx.Err(), r.kind+" is being passivated")
			}
		}
		e.pins.Add(1)
		r.mu.Unlock()
		select {
		case <-e.ready: // usually: ask ctx.Done() only when waiting
		default:
			select {
			case <-e.ready:
			case <-ctx.Done():
				r.unpin(e)
				return nil, semvec.Wrap(semvec.KindTimeout, ctx.Err(), r.kind+" activation timed out")
			}
		}
		if e.err != nil {
			r.unpin(e)
			return nil, e.err
		}
		e.lastSeen.Store(r.now().UnixNano())
		return e, nil
	}
}

// startActivation registers a new entry for id and activates it. The
// activation belongs to nobody's request: it runs on its own goroutine with
// its own deadline, so one waiter giving up never fails the others. Call
// with r.mu held.
func (r *Registry) startActivation(id string) *entry {
	e := &entry{ready: make(chan struct{}), stopped: make(chan struct{})}
	r.entries[id] = e
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), activationTimeout)
		defer cancel()
		r.activate(ctx, id, e)
	}()
	return e
}

// maxPending bounds the messages told to one actor while it activates.
const maxPending = 1024

// Tell delivers msg to id's actor without waiting for anything: at once when
// the actor runs, right after its activation when it is activating. When it
// is not active, activate says whether to activate it for msg (a drift event
// does; a "your links changed" notice to a session need not, as its
// activation reads them anyway). A message for an id that does not exist, or
// whose actor is stopping (deleted or passivated), is dropped: Tell carries
// notifications, never requests that someone waits for.
//
// In cluster mode the notification goes to the member hosting id (and
// activates the actor there).
func (r *Registry) Tell(id string, msg any, activate bool) {
	if p := r.place.Load(); p != nil {
		p.tell(r, id, msg)
		return
	}
	r.tellLocal(id, msg, activate)
}

// tellLocal is Tell to this member's actor of id.
func (r *Registry) tellLocal(id string, msg any, activate bool) {
	r.mu.Lock()
	e := r.entries[id]
	switch {
	case e == nil && activate && !r.closed:
		e = r.startActivation(id)
		e.pending = append(e.pending, msg)
	case e == nil:
	case e.stopping:
		// Passivated (or deleted): what would have activated it goes to
		// its next activation, started once it has stopped (Stopped); a
		// deleted one's finds it gone and drops them.
		if activate && !r.closed && len(e.next) < maxPending {
			e.next = append(e.next, msg)
		}
	case e.pid == nil:
		if len(e.pending) < maxPending {
			e.pending = append(e.pending, msg)
		}
	default:
		r.root.Send(e.pid, msg) // a mailbox push: never blocks
	}
	r.mu.Unlock()
}

func (r *Registry) activate(ctx context.Context, id string, e *entry) {
	defer close(e.ready)
	r.mu.Lock()
	if err := r.admit(ctx, id, e); err != nil {
		r.abort(id, e, err) // under the same lock: no lookup meets the entry in between
		r.mu.Unlock()
		return
	}
	e.name = r.name(id)
	r.mu.Unlock()
	producer, err := r.loadLimited(ctx, id)
	var pid *actor.PID
	if err == nil {
		pid, err = r.root.SpawnNamed(r.props(producer), e.name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && e.gone { // it stopped as it started (Stopped came first)
		err = semvec.Errorf(semvec.KindUnavailable, "the %s stopped as it started; retry", r.kind)
		close(e.stopped)
	}
	if err != nil {
		r.abort(id, e, err)
		return
	}
	e.pid = pid
	e.lastSeen.Store(r.now().UnixNano()) // not the first to evict
	r.wakeWaiters()                      // it may be evicted for them
	// Delivered under r.mu, so they precede whatever is told from now on.
	for _, msg := range e.pending {
		r.root.Send(pid, msg)
	}
	e.pending = nil
}

// loadLimited is r.load, once one of the loading places is free.
func (r *Registry) loadLimited(ctx context.Context, id string) (actor.Producer, error) {
	if r.loading != nil {
		select {
		case r.loading <- struct{}{}:
			defer func() { <-r.loading }()
		case <-ctx.Done():
			return nil, semvec.Wrap(semvec.KindUnavailable, ctx.Err(), "too many "+r.kind+" activations are loading; retry")
		}
	}
	return r.load(ctx, id)
}

// abort ends the activation of e, id's entry, with err: its waiters get
// err, what was told to it is dropped, and its slot is released. Call with
// r.mu held.
func (r *Registry) abort(id string, e *entry, err error) {
	e.err = err
	e.pending = nil
	if r.entries[id] == e {
		delete(r.entries, id)
	}
	r.release(e)
}

var errShuttingDown = semvec.Errorf(semvec.KindUnavailable, "this node is shutting down; retry")

// Close refuses new activations from now on (503: the node is shutting
// down), those waiting for a slot included; running actors are untouched.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	r.queue.each(signal) // the activations waiting for a slot give up
	r.mu.Unlock()
}

// Closed reports whether Close was called.
func (r *Registry) Closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Spawn registers a brand-new actor for id (for example right after the
// resource was created), failing with KindConflict when id is active. When
// every slot is taken it spawns nothing and returns a nil PID: the actor is
// activated from the database on first use, through admission, like any
// other. Once the registry is closed it refuses (503: shutting down).
func (r *Registry) Spawn(id string, producer actor.Producer) (*actor.PID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[id]; ok {
		return nil, semvec.Errorf(semvec.KindConflict, "%s %s already exists", r.kind, id)
	}
	if r.closed {
		return nil, errShuttingDown
	}
	if r.max > 0 && (r.used >= r.max || r.queue.n > 0) {
		return nil, nil
	}
	e := &entry{name: r.name(id), ready: make(chan struct{}), stopped: make(chan struct{})}
	pid, err := r.root.SpawnNamed(r.props(producer), e.name)
	if err != nil {
		return nil, semvec.Wrap(semvec.KindInternal, err, r.kind+" "+id+" could not be spawned")
	}
	e.pid = pid
	close(e.ready)
	e.lastSeen.Store(r.now().UnixNano())
	r.take(id, e)
	r.entries[id] = e
	return pid, nil
}

// Stopped is called by an actor from its *actor.Stopped handler.
func (r *Registry) Stopped(id string, pid *actor.PID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[id]
	if e != nil && e.pid == nil && e.name == pid.Id { // before activate has recorded its pid
		e.gone = true
		return
	}
	if e == nil || e.pid == nil || !e.pid.Equal(pid) {
		return
	}
	delete(r.entries, id)
	r.release(e)
	close(e.stopped)
	if len(e.next) > 0 && !r.closed { // what was told while it stopped
		r.startActivation(id).pending = e.next
	}
}

// Stop marks id as stopping and returns its PID (nil when not active); new
// requests for id wait until the actor reports Stopped.
func (r *Registry) Stop(id string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[id]
	if e == nil || e.pid == nil || e.stopping {
		return nil
	}
	r.markStopping(e)
	return e.pid
}

// afterCommit is the context of what a change does once committed (stop
// a deleted resource's actors, tell the actors whose links changed): not
// cancelled with the caller, whose request has changed the database
// already (a client hanging up must not leave an actor serving a deleted
// resource, or a stale view of its links), and bounded by
// activationTimeout.
func afterCommit(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), activationTimeout)
}

// Halt stops the actor of a deleted resource, wherever it runs, and waits
// until it has stopped (or ctx ends): discard stops it without saving, else
// it stops after the messages already queued. An activation of id in
// progress (which may have read the resource before its deletion) is
// waited for first, so that the actor it starts is stopped too instead of
// serving the deleted resource from memory (and refusing every change to a
// resource created again under the same id).
func (r *Registry) Halt(ctx context.Context, id string, discard bool) {
	ctx, cancel := afterCommit(ctx)
	defer cancel()
	// In cluster mode the member that owns id stops it; an actor of id
	// this member still runs (placed here before a membership change) is
	// stopped too. A member that did not answer is gone, or its actor's
	// writes are fenced.
	_, _, _ = askRoute[*pb.StopResponse](ctx, r, id, &pb.StopRequest{Discard: discard, Settle: true})
	r.stopLocal(ctx, id, discard, true)
}

// stopLocal is Halt on this member; settle waits for an activation of id
// in progress first.
func (r *Registry) stopLocal(ctx context.Context, id string, discard, settle bool) {
	if settle {
		r.settle(ctx, id)
	}
	pid := r.Stop(id)
	if pid == nil {
		return
	}
	if discard {
		r.root.Send(pid, &pb.Discard{})
	} else {
		r.poison(pid)
	}
	r.WaitStopped(ctx, id)
}

// askActor asks key's actor in r and waits for its reply of type R: in
// cluster mode on the member hosting it (askRoute), else here, activating
// it when needed. An actor that stopped before it handled req (a
// passivation, a deletion, a stop of its own) is waited for until it has
// stopped, and its next activation is asked instead, three times at most.
// Finding the actor and asking it take no longer than one ask (a.Bound).
func askActor[R Reply](ctx context.Context, a *Asker, r *Registry, key string, req proto.Message) (R, error) {
	ctx, cancel := a.Bound(ctx) // an activation that hangs is waited for no longer than an ask
	defer cancel()
	if res, routed, err := askRoute[R](ctx, r, key, req); routed { // cluster mode: another member hosts it
		return res, err
	}
	for attempt := 0; ; attempt++ {
		e, err := r.lookup(ctx, key)
		if err != nil {
			var zero R
			return zero, err
		}
		res, err := askEntry[R](ctx, a, r, e, req)
		if err != nil && isDeadLetter(err) && attempt < 3 {
			// Its entry, not its id: an actor that stops itself is not
			// marked stopping, and its id still names it until it has
			// reported its stop.
			select {
			case <-e.stopped:
			case <-ctx.Done():
			}
			if ctx.Err() == nil { // else no time is left: start no activation nobody waits for
				continue
			}
		}
		return res, err
	}
}

// settle waits until an activation of id in progress has finished (a
// running actor, or none), without starting one.
func (r *Registry) settle(ctx context.Context, id string) {
	r.mu.Lock()
	e := r.entries[id]
	r.mu.Unlock()
	if e == nil {
		return
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
	}
}

// WaitStopped blocks until id's stopping actor has stopped or ctx ends. An
// actor of id that is not stopping is a newer activation: the one being
// waited for is gone already.
func (r *Registry) WaitStopped(ctx context.Context, id string) {
	r.mu.Lock()
	e := r.entries[id]
	stopping := e != nil && e.stopping
	r.mu.Unlock()
	if !stopping {
		return
	}
	select {
	case <-e.stopped:
	case <-ctx.Done():
	}
}

// sendRunning sends msg to id's actor when it is running, with sender as
// the sender (nil: none), and returns its PID; nil when it is not running
// or is stopping. The check and the send are one step under r.mu, where
// every stop is marked before its stop message is sent, so msg is never
// queued behind a stop (where protoactor would drop it).
func (r *Registry) sendRunning(id string, msg any, sender *actor.PID) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[id]
	if e == nil || e.pid == nil || e.stopping {
		return nil
	}
	e.lastSeen.Store(r.now().UnixNano())
	if sender == nil {
		r.root.Send(e.pid, msg)
	} else {
		r.root.RequestWithCustomSender(e.pid, msg, sender)
	}
	return e.pid
}

// isRunning reports whether pid is still id's actor (running or stopping).
func (r *Registry) isRunning(id string, pid *actor.PID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[id]
	return e != nil && e.pid != nil && e.pid.Equal(pid)
}

// running returns the PID of id's actor when it is running (not
// activating, not stopping), nil otherwise.
func (r *Registry) running(id string) *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.entries[id]; e != nil && e.pid != nil && !e.stopping {
		return e.pid
	}
	return nil
}

// Has reports whether id's actor is running or activating.
func (r *Registry) Has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entries[id]
	return e != nil && !e.stopping
}

// Active is the number of actors in memory: running, stopping, or
// activating past admission (not those waiting for a slot).
func (r *Registry) Active() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used
}

// PIDs returns the ids and PIDs of all running actors.
func (r *Registry) PIDs() map[string]*actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*actor.PID, len(r.entries))
	for id, e := range r.entries {
		if e.pid != nil && !e.stopping {
			out[id] = e.pid
		}
	}
	return out
}

// ids returns the ids of every actor in memory or activating (running,
// stopping, loading).
func (r *Registry) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.entries))
	for id := range r.entries {
		out = append(out, id)
	}
	return out
}

// Candidates returns the ids to passivate: those idle since before idleBefore
// and, when more than max are active, the least recently used beyond max.
func (r *Registry) Candidates(idleBefore time.Time, max int) []string {
	type seen struct {
		id string
		at int64
	}
	r.mu.Lock()
	all := make([]seen, 0, len(r.entries))
	for id, e := range r.entries {
		if e.pid != nil && !e.stopping {
			all = append(all, seen{id, e.lastSeen.Load()})
		}
	}
	r.mu.Unlock()
	var out []string
	cut := idleBefore.UnixNano()
	var keep []seen
	for _, s := range all {
		if s.at < cut {
			out = append(out, s.id)
		} else {
			keep = append(keep, s)
		}
	}
	if max > 0 && len(keep) > max {
		// least recently used first
		slices.SortFunc(keep, func(a, b seen) int { return cmp.Compare(a.at, b.at) })
		for _, s := range keep[:len(keep)-max] {
			out = append(out, s.id)
		}
	}
	return out
}
