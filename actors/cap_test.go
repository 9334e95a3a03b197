package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// SEMVEC_MAX_SESSIONS holds between sweeps: with no sweep at all, activating
// a session beyond the cap passivates the least recently used of a sample
// first, and a passivated session comes back with everything it was told.
func TestSessionCapHoldsWithoutSweeps(t *testing.T) {
	ctx := ctxT(t)
	const capacity = 10
	sessions := cappedSessions(t, capacity, 5*time.Second)
	run := func(id string, k int) *pb.RunResponse {
		t.Helper()
		res, err := AskSession[*pb.RunResponse](ctx, sessions, id, &pb.RunRequest{Owner: "o", SessionId: id,
			Message: "fact " + id, MessageVec: topic(k%8, 1), Response: "answer " + id, ResponseVec: topic(k%8, 2),
			ShortCircuitThreshold: 0.85, NowUnixNano: time.Now().UnixNano()})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for i := range 60 {
		id := fmt.Sprintf("s%d", i)
		if _, err := sessions.Create(ctx, "o", CreateOptions{ID: id}); err != nil {
			t.Fatal(err)
		}
		run(id, i)
		// The ones on their way out count until they have stopped.
		if n := sessions.Active(); n > capacity {
			t.Fatalf("%d sessions in memory after %d activations (cap %d)", n, i+1, capacity)
		}
	}
	// Every session, passivated or not, still knows its turns.
	for i := range 60 {
		id := fmt.Sprintf("s%d", i)
		res, err := AskSession[*pb.MetricsResponse](ctx, sessions, id, &pb.MetricsRequest{Owner: "o", SessionId: id})
		if err != nil {
			t.Fatal(err)
		}
		if res.GetInteractionCount() != 1 || res.GetTotalMemories() < 1 {
			t.Fatalf("%s after passivation: %d turns, %d memories", id, res.GetInteractionCount(), res.GetTotalMemories())
		}
	}
}

// Several requests wait for one session to activate; the first one's
// cancellation fails none of the others.
func TestActivationOutlivesItsFirstWaiter(t *testing.T) {
	ctx := ctxT(t)
	started := make(chan struct{})
	release := make(chan struct{})
	loads := 0
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	reg := NewRegistry("thing", sys.Root, func(ctx context.Context, id string) (actor.Producer, error) {
		loads++
		close(started)
		select { // a slow database read that honours its context
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return func() actor.Actor { return actor.ReceiveFunc(func(actor.Context) {}) }, nil
	}, nil)
	first, cancel := context.WithCancel(ctx)
	errs := make(chan error, 1)
	go func() { _, err := reg.Get(first, "x"); errs <- err }()
	<-started
	others := make(chan error, 4)
	for range 4 {
		go func() { _, err := reg.Get(ctx, "x"); others <- err }()
	}
	cancel()
	if err := <-errs; err == nil {
		t.Fatal("the cancelled waiter got an actor")
	}
	close(release)
	for range 4 {
		if err := <-others; err != nil {
			t.Fatalf("a waiter failed because the first one gave up: %v", err)
		}
	}
	if loads != 1 {
		t.Fatalf("%d loads, want 1", loads)
	}
}

// The cap holds at every instant, not only between activations: however
// many activations race, no more than max actors are loaded or alive at
// once (counted by the actors themselves, from the start of their load to
// their Stopped), and every activation still gets its actor.
func TestCapHoldsUnderConcurrentActivations(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	const capacity, callers = 5, 64
	var mu sync.Mutex
	live, peak := 0, 0
	count := func(d int) {
		mu.Lock()
		live += d
		peak = max(peak, live)
		mu.Unlock()
	}
	reg := cappedRegistry(sys, capacity, func(string) {
		count(+1) // its state is in memory from the load on
		time.Sleep(time.Millisecond)
	}, func(string) { count(-1) })
	var wg sync.WaitGroup
	errs := make(chan error, callers*3)
	for round := range 3 {
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := reg.Get(ctx, fmt.Sprintf("a%d-%d", round, i)); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("an activation failed: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if peak > capacity {
		t.Fatalf("%d actors in memory at once, cap %d", peak, capacity)
	}
	if n := reg.Active(); n > capacity || n == 0 {
		t.Fatalf("Active() = %d after the storm, cap %d", n, capacity)
	}
}

// Cold requests for more sessions than the cap, all at once: every one is
// answered, and the sessions in memory never exceed the cap meanwhile.
func TestSessionCapHoldsUnderConcurrentColdRequests(t *testing.T) {
	ctx := ctxT(t)
	const capacity, n = 4, 48
	sessions := cappedSessions(t, capacity, 10*time.Second)
	for i := range n {
		if _, err := sessions.Create(ctx, "o", CreateOptions{ID: fmt.Sprintf("s%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if a := sessions.Active(); a > capacity {
		t.Fatalf("%d sessions in memory after %d creates (cap %d)", a, n, capacity)
	}
	stop := make(chan struct{})
	peak := make(chan int)
	go func() {
		p := 0
		for {
			select {
			case <-stop:
				peak <- p
				return
			default:
				p = max(p, sessions.Active())
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("s%d", i)
			_, err := AskSession[*pb.RunResponse](ctx, sessions, id, &pb.RunRequest{Owner: "o", SessionId: id,
				Message: "fact " + id, MessageVec: topic(i%8, 1), Response: "answer " + id, ResponseVec: topic(i%8, 2),
				ShortCircuitThreshold: 0.85, NowUnixNano: time.Now().UnixNano()})
			if err != nil {
				errs <- fmt.Errorf("%s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if p := <-peak; p > capacity {
		t.Fatalf("%d sessions in memory at once, cap %d", p, capacity)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("s%d", i)
		res, err := AskSession[*pb.MetricsResponse](ctx, sessions, id, &pb.MetricsRequest{Owner: "o", SessionId: id})
		if err != nil {
			t.Fatal(err)
		}
		if res.GetInteractionCount() != 1 {
			t.Fatalf("%s: %d turns, want 1", id, res.GetInteractionCount())
		}
	}
}

// BenchmarkActivationStormUnderCap: 1,000 cold activations at once through
// a registry that holds 4 actors. Evictions look among the admitted
// entries only, so a storm costs about linear time (scanning every entry,
// waiting ones included, made 1,000 take ~2 s and 2,000 ~10 s).
func BenchmarkActivationStormUnderCap(b *testing.B) {
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	for i := range b.N {
		reg := cappedRegistry(sys, 4, nil, nil)
		var wg sync.WaitGroup
		for j := range 1000 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := reg.Get(context.Background(), fmt.Sprintf("k%d-%d", i, j)); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
}

// An activation waiting for a slot that every caller has given up on gives
// up too: it neither evicts an actor in use nor loads what nobody wants.
func TestAbandonedActivationGivesUp(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	var loads loadLog
	reg := cappedRegistry(sys, 1, loads.add, nil)
	busy, err := reg.lookup(ctx, "busy") // in use: pinned, not evictable
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := reg.Get(short, "wanted"); err == nil {
		t.Fatal("an activation got a slot that an actor in use holds")
	}
	reg.unpin(busy) // now evictable: an activation still waiting would evict it
	eventually(t, "the activation of wanted is over", func() bool {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		e := reg.entries["wanted"]
		return e == nil || e.pid != nil
	})
	if loads.count("wanted") != 0 || reg.running("busy") == nil {
		t.Fatalf("loads %v, busy running: %v; the abandoned activation evicted busy and loaded wanted", loads.order(), reg.running("busy") != nil)
	}
	// A later request for wanted activates it afresh (evicting busy).
	if _, err := reg.Get(ctx, "wanted"); err != nil {
		t.Fatal(err)
	}
}

// With every slot taken, a request for an id that does not exist is
// answered NotFound without evicting anyone (a stream of 404s from one
// tenant used to passivate another tenant's sessions one by one).
func TestMissingIDEvictsNoOne(t *testing.T) {
	ctx := ctxT(t)
	sessions := cappedSessions(t, 2, 5*time.Second)
	for _, id := range []string{"a", "b"} {
		ok(sessions.Create(ctx, "tenant-a", CreateOptions{ID: id}))(t)
		ok(AskSession[*pb.MetricsResponse](ctx, sessions, id, &pb.MetricsRequest{Owner: "tenant-a", SessionId: id}))(t)
	}
	pids := sessions.reg.PIDs()
	for i := range 20 {
		id := fmt.Sprintf("nope%d", i)
		_, err := AskSession[*pb.MetricsResponse](ctx, sessions, id, &pb.MetricsRequest{Owner: "tenant-b", SessionId: id})
		if semvec.KindOf(err) != semvec.KindNotFound {
			t.Fatalf("metrics of a missing session: %v, want NotFound", err)
		}
	}
	if after := sessions.reg.PIDs(); len(after) != 2 || !after[ownedKey("tenant-a", "a")].Equal(pids[ownedKey("tenant-a", "a")]) ||
		!after[ownedKey("tenant-a", "b")].Equal(pids[ownedKey("tenant-a", "b")]) {
		t.Fatalf("running sessions %v after 404s, want the same two as before %v", after, pids)
	}
}

// Activations waiting for a slot are admitted in the order they came, so
// none waits behind ones that came later (a burst of waiters served in
// random order gave some of them several seconds, and 504s).
func TestActivationsAreAdmittedInOrder(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	var loads loadLog
	reg := cappedRegistry(sys, 1, loads.add, nil)
	busy := ok(reg.lookup(ctx, "busy"))(t) // holds the slot, pinned
	var want []string
	for i := range 12 {
		want = append(want, fmt.Sprintf("w%02d", i))
	}
	errs := queueActivations(t, reg, want)
	reg.unpin(busy)
	for range want {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := loads.order()[1:]; !slices.Equal(got, want) {
		t.Fatalf("admitted in the order %v, want %v", got, want)
	}
}

// cappedSessions is a session layer on a new SQLite file that holds at most
// capacity sessions in memory, asking with the given timeout; it shuts down
// when the test ends.
func cappedSessions(t *testing.T, capacity int, timeout time.Duration) *Sessions {
	t.Helper()
	return sessionsWith(t, SessionConfig{Dim: testDim, ModelName: "test", MaxSessions: capacity}, timeout)
}

// sessionsWith is a session layer configured by cfg on a new SQLite file,
// asking with the given timeout; it shuts down when the test ends.
func sessionsWith(t *testing.T, cfg SessionConfig, timeout time.Duration) *Sessions {
	t.Helper()
	ctx := ctxT(t)
	store, err := persistence.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	sessions := NewSessions(sys.Root, store, &Asker{Root: sys.Root, Timeout: timeout}, cfg, log, nil)
	t.Cleanup(func() {
		_ = sessions.Shutdown(context.Background())
		sys.Shutdown()
		_ = store.Close()
	})
	return sessions
}

// cappedRegistry is a registry that holds at most capacity actors, which
// answer TopologyChanged and report their stop. loaded, when set, is called
// with the id of each activation as it loads; stopped with the id of each
// actor as it stops, before it tells the registry.
func cappedRegistry(sys *actor.ActorSystem, capacity int, loaded, stopped func(id string)) *Registry {
	var reg *Registry
	reg = NewRegistry("capped", sys.Root, func(ctx context.Context, id string) (actor.Producer, error) {
		if loaded != nil {
			loaded(id)
		}
		return func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				switch c.Message().(type) {
				case *pb.TopologyChanged:
					c.Respond(&pb.TopologyReloaded{})
				case *actor.Stopped:
					if stopped != nil {
						stopped(id)
					}
					reg.Stopped(id, c.Self())
				}
			})
		}, nil
	}, nil)
	reg.max = capacity
	reg.evict = func(_ string, pid *actor.PID) { sys.Root.Poison(pid) }
	return reg
}

// Each activation that joins the queue has the first in it evict one more
// actor at once, so that the stops of the victims overlap instead of each
// queued activation waiting for the one before it to be admitted first.
func TestQueueGrowthEvictsAtOnce(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	reg := cappedRegistry(sys, 2, nil, nil)
	var mu sync.Mutex
	var victims []*actor.PID
	reg.evict = func(_ string, pid *actor.PID) { // victims stop only when the test ends
		mu.Lock()
		victims = append(victims, pid)
		mu.Unlock()
	}
	defer func() {
		mu.Lock()
		for _, v := range victims {
			sys.Root.Poison(v)
		}
		mu.Unlock()
	}()
	evicted := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(victims)
	}
	for _, id := range []string{"a", "b"} {
		ok(reg.Get(ctx, id))(t)
	}
	go func() { _, _ = reg.Get(ctx, "c") }()
	eventually(t, "c to evict one", func() bool { return evicted() == 1 })
	go func() { _, _ = reg.Get(ctx, "d") }()
	eventually(t, "d's arrival to evict a second", func() bool { return evicted() == 2 })
}

// heldRouter is a router without a cluster (its key set by the test) whose
// located messages, when located is set, wait until the test lets them
// through, as on a busy node.
type heldRouter struct {
	r       *router
	located chan *located // nil: not held
}

type handleLocated struct{ l *located }

// waitingHere asks a heldRouter how many messages wait in it (an int).
type waitingHere struct{}

func (h *heldRouter) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		h.r.adopt(c)
	case *located:
		if h.located == nil {
			h.r.Receive(c)
			return
		}
		h.located <- m
	case handleLocated:
		h.r.locating = false
		h.r.flush(c, m.l)
	case waitingHere:
		c.Respond(len(h.r.waiting))
	default:
		h.r.Receive(c)
	}
}

// In cluster mode the actor a router has just activated for its waiting
// requests is not evicted for another activation before the router has
// handed them over (it would be loaded again for them, and under a small
// cap two routers could take turns evicting each other's actor).
func TestRoutersActivationIsNotEvictedBeforeItsRequests(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	var loads loadLog
	reg := cappedRegistry(sys, 1, loads.add, nil)
	h := &heldRouter{r: &router{reg: reg, idle: time.Minute, key: "k"}, located: make(chan *located, 1)}
	rpid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return h }))
	asked := make(chan error, 1)
	go func() {
		_, err := Ask[*pb.TopologyReloaded](ctx, &Asker{Root: sys.Root, Timeout: 5 * time.Second}, rpid, &pb.TopologyChanged{})
		asked <- err
	}()
	l := <-h.located // k is active; the router has not handed the request over yet
	go func() { _, _ = reg.Get(ctx, "other") }()
	eventually(t, "the other activation to queue", func() bool { return reg.waiting.Load() == 1 })
	if reg.running("k") == nil {
		t.Fatal("the router's fresh actor was evicted before the router handed it its request")
	}
	sys.Root.Send(rpid, handleLocated{l})
	if err := <-asked; err != nil {
		t.Fatal(err)
	}
	if n := loads.count("k"); n != 1 {
		t.Fatalf("k loaded %d times, want 1", n)
	}
}

// A router whose actor cannot be activated in time (every slot stays busy)
// answers the requests waiting on it with a timeout before their askers
// give up on their own (which reads as a dead member), and the activation
// it gave up on waits for a slot no longer.
func TestRouterGivesUpAnActivationBeforeItsAskers(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	var loads loadLog
	reg := cappedRegistry(sys, 1, loads.add, nil)
	busy := ok(reg.lookup(ctx, "busy"))(t) // holds the only slot, pinned
	rpid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &heldRouter{r: &router{reg: reg, idle: time.Minute, key: "k", wait: 200 * time.Millisecond}}
	}))
	_, err := Ask[*pb.TopologyReloaded](ctx, &Asker{Root: sys.Root, Timeout: 10 * time.Second}, rpid, &pb.TopologyChanged{})
	if semvec.KindOf(err) != semvec.KindTimeout || !strings.Contains(err.Error(), "activation timed out") {
		t.Fatalf("ask through a router whose actor cannot start: %v, want the router's activation timeout", err)
	}
	reg.unpin(busy) // a slot could be had now, by an activation still waiting
	eventually(t, "the router's activation to be over", func() bool {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		return reg.entries["k"] == nil
	})
	if loads.count("k") != 0 || reg.running("busy") == nil {
		t.Fatalf("loads %v, busy running %v: the abandoned activation evicted busy", loads.order(), reg.running("busy") != nil)
	}
}

// A patient request that waited in its router while the router activated
// its actor reaches the actor with that wait taken off its patience (the
// actor counts it from when it takes the request, so it would otherwise
// outlive its asker); one whose patience ran out meanwhile still has a
// deadline (1 ns), not none; one with no deadline (zero patience) and a
// request that is not patient are handed over as they came.
func TestRouterTakesTheWaitOffAPatientRequestsPatience(t *testing.T) {
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	got := make(chan proto.Message, 8)
	reg := NewRegistry("rec", sys.Root, func(context.Context, string) (actor.Producer, error) {
		return func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if m, isProto := c.Message().(proto.Message); isProto {
					got <- m
				}
			})
		}, nil
	}, nil)
	h := &heldRouter{r: &router{reg: reg, idle: time.Minute, key: "k"}, located: make(chan *located, 1)}
	rpid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return h }))
	const patience = 10 * time.Second
	patient := &pb.SwitchUserRequest{Owner: "o", UserId: "u", PatienceNanos: int64(patience)}
	spent := &pb.TransferRequest{Owner: "o", PatienceNanos: int64(time.Millisecond)}
	unbounded := &pb.ConsensusRequest{Owner: "o"}
	other := &pb.TopologyChanged{}
	sent := []proto.Message{patient, spent, unbounded, other}
	for _, m := range sent {
		sys.Root.Send(rpid, m)
	}
	if n := ok(sys.Root.RequestFuture(rpid, waitingHere{}, 5*time.Second).Result())(t); n != len(sent) {
		t.Fatalf("%v messages wait in the router, want %d", n, len(sent))
	}
	l := <-h.located // the actor runs; the router holds the messages
	const held = 50 * time.Millisecond
	time.Sleep(held)
	sys.Root.Send(rpid, handleLocated{l})
	var delivered []proto.Message
	for range sent {
		select {
		case m := <-got:
			delivered = append(delivered, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("the actor got %d messages, want %d", len(delivered), len(sent))
		}
	}
	if m, isSwitch := delivered[0].(*pb.SwitchUserRequest); !isSwitch || m == patient || m.GetUserId() != "u" ||
		m.GetPatienceNanos() <= 0 || m.GetPatienceNanos() > int64(patience-held) {
		t.Fatalf("the patient request reached the actor as %v, want a copy with at most %s of patience", delivered[0], patience-held)
	}
	if patient.GetPatienceNanos() != int64(patience) {
		t.Fatalf("the sender's request was changed: %v", patient)
	}
	if m, isTransfer := delivered[1].(*pb.TransferRequest); !isTransfer || m.GetPatienceNanos() != 1 {
		t.Fatalf("the request whose patience ran out reached the actor as %v, want 1 ns of patience (0 is no deadline)", delivered[1])
	}
	if delivered[2] != unbounded || delivered[3] != other {
		t.Fatalf("reached the actor as %v, %v: want them as they were sent", delivered[2], delivered[3])
	}
}

// Tenants take turns for slots: an activation of one tenant waits behind
// at most one activation of each other tenant, not behind all of a
// tenant's storm (one tenant's burst of cold requests made another's
// session wait for hundreds of activations).
func TestTenantsTakeTurnsForSlots(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	var loads loadLog
	reg := cappedRegistry(sys, 1, loads.add, nil)
	reg.tenantOf = func(key string) string { owner, _ := splitKey(key); return owner }
	busy := ok(reg.lookup(ctx, "c/busy"))(t) // holds the slot, pinned
	var keys []string
	for i := range 6 {
		keys = append(keys, fmt.Sprintf("storm/%d", i))
	}
	keys = append(keys, "quiet/x")
	errs := queueActivations(t, reg, keys)
	reg.unpin(busy)
	for range keys {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"c/busy", "storm/0", "quiet/x", "storm/1", "storm/2", "storm/3", "storm/4", "storm/5"}
	if got := loads.order(); !slices.Equal(got, want) {
		t.Fatalf("admitted in the order %v, want %v", got, want)
	}
}

// Closing a registry (shutdown) ends the activations waiting for a slot at
// once, with the shutdown's 503, instead of leaving them waiting for a slot
// or their time limit.
func TestCloseEndsTheActivationsWaitingForASlot(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	reg := cappedRegistry(sys, 1, nil, nil)
	busy := ok(reg.lookup(ctx, "busy"))(t) // holds the slot, pinned
	defer reg.unpin(busy)
	errs := queueActivations(t, reg, []string{"w0", "w1", "w2"})
	reg.Close()
	for range 3 {
		if err := <-errs; !errors.Is(err, errShuttingDown) {
			t.Fatalf("an activation waiting at shutdown: %v, want the shutdown's 503", err)
		}
	}
}

// loadLog records the ids a registry loads, in order (cappedRegistry's
// loaded).
type loadLog struct {
	mu  sync.Mutex
	ids []string
}

func (l *loadLog) add(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids = append(l.ids, id)
}

func (l *loadLog) order() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

func (l *loadLog) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, got := range l.ids {
		if got == id {
			n++
		}
	}
	return n
}

// queueActivations starts an activation of reg for each key, one after the
// other once the one before is queued for a slot (so they queue in that
// order); each one's outcome comes on the channel.
func queueActivations(t *testing.T, reg *Registry, keys []string) <-chan error {
	t.Helper()
	ctx := ctxT(t)
	errs := make(chan error, len(keys))
	for i, key := range keys {
		go func() { _, err := reg.Get(ctx, key); errs <- err }()
		eventually(t, "the activation to queue", func() bool { return int(reg.waiting.Load()) == i+1 })
	}
	return errs
}
