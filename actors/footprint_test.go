package actors

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"fmt"
	"github.com/asynkron/protoactor-go/actor"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	pb "github.com/semvec-go/semvec/proto"
	"github.com/semvec-go/semvec/vecmath"
)

// budgetSessions is a session layer on a new SQLite file whose sessions in
// memory hold at most budget bytes (and any number of sessions).
func budgetSessions(t *testing.T, budget int64) *Sessions {
	t.Helper()
	return sessionsWith(t, SessionConfig{Dim: testDim, ModelName: "test", MaxSessions: 10000, MaxBytes: budget}, 5*time.Second)
}

// The sessions in memory hold no more than SEMVEC_MAX_SESSION_MEMORY_MB,
// however few they are: sessions filled with long texts passivate the least
// recently used once their sum passes it, while the count cap is far away,
// and a passivated session comes back with everything it was told.
func TestSessionMemoryBudgetHolds(t *testing.T) {
	// Some 1,300 asks: each is bounded by the Asker's timeout
	// (budgetSessions), not all of them together by ctxT's 20 seconds,
	// which a loaded machine under -race does not always finish them in.
	ctx := t.Context()
	const budget = 2 << 20
	sessions := budgetSessions(t, budget)
	text := func(id string, i int) string { return fmt.Sprintf("%s fact %d ", id, i) + strings.Repeat("é", 1900) }
	const perSession = 40 // ~160 KB of text each: ~13 such sessions fit the budget
	var maxActive int
	r := rand.New(rand.NewPCG(1, 2))
	for s := range 30 {
		id := fmt.Sprintf("big%d", s)
		if _, err := sessions.Create(ctx, "o", CreateOptions{ID: id}); err != nil {
			t.Fatal(err)
		}
		for i := range perSession {
			_, err := AskSession[*pb.StoreResponse](ctx, sessions, id, &pb.StoreRequest{Owner: "o", SessionId: id,
				Response: text(id, i), ResponseVec: spread(r), NowUnixNano: time.Now().UnixNano()})
			if err != nil {
				t.Fatal(err)
			}
		}
		// What is not on its way out fits at once; the rest leaves.
		eventually(t, "the sessions in memory to fit the budget", func() bool { return sessions.Held() <= budget })
		maxActive = max(maxActive, sessions.Active())
	}
	if n := sessions.Active(); n >= 30 || maxActive >= 30 {
		t.Fatalf("%d sessions in memory (at most %d): none was passivated", n, maxActive)
	}
	t.Logf("%d of 30 sessions in memory at most, %d at the end, holding %d bytes", maxActive, sessions.Active(), sessions.Held())
	for s := range 30 {
		id := fmt.Sprintf("big%d", s)
		res, err := AskSession[*pb.MetricsResponse](ctx, sessions, id, &pb.MetricsRequest{Owner: "o", SessionId: id})
		if err != nil {
			t.Fatal(err)
		}
		if res.GetTotalMemories() < 10 {
			t.Fatalf("%s after passivation: %d memories", id, res.GetTotalMemories())
		}
		eventually(t, "the sessions in memory to fit the budget", func() bool { return sessions.Held() <= budget })
	}
}

// spread is a random unit vector: memories that nothing merges.
func spread(r *rand.Rand) []float32 {
	v := make([]float32, testDim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	vecmath.Normalize(v)
	return v
}

// The budget's sum follows the sessions: it grows with what they hold, and
// drops to nothing when every session has stopped (no byte is counted
// twice, or left behind by a passivation or a deletion).
func TestSessionMemoryBudgetAccounting(t *testing.T) {
	ctx := ctxT(t)
	sessions := budgetSessions(t, 1<<30)
	for s := range 4 {
		id := fmt.Sprintf("s%d", s)
		if _, err := sessions.Create(ctx, "o", CreateOptions{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// A session measures itself on Started, before it reads any message:
	// asked once, each has been counted (Create returns once its actor is
	// spawned, not started).
	for s := range 4 {
		id := fmt.Sprintf("s%d", s)
		if _, err := AskSession[*pb.MetricsResponse](ctx, sessions, id, &pb.MetricsRequest{Owner: "o", SessionId: id}); err != nil {
			t.Fatal(err)
		}
	}
	empty := sessions.Held()
	if empty <= 0 {
		t.Fatalf("4 new sessions hold %d bytes", empty)
	}
	_, err := AskSession[*pb.StoreResponse](ctx, sessions, "s0", &pb.StoreRequest{Owner: "o", SessionId: "s0",
		Response: strings.Repeat("word ", 400), ResponseVec: topic(1, 1), NowUnixNano: time.Now().UnixNano()})
	if err != nil {
		t.Fatal(err)
	}
	// It measures itself again once it has answered (session.go, measure).
	eventually(t, "a stored text of 2,000 characters to be counted", func() bool { return sessions.Held() >= empty+2000 })
	if err := sessions.Delete(ctx, "o", "s1"); err != nil {
		t.Fatal(err)
	}
	sessions.Sweep(ctx) // no idle time: passivates the other three
	eventually(t, "every session to stop", func() bool { return sessions.Active() == 0 })
	if held := sessions.Held(); held != 0 {
		t.Fatalf("no session in memory, yet %d bytes counted", held)
	}
	if leaving := sessions.reg.leavingBytes.Load(); leaving != 0 {
		t.Fatalf("no session stopping, yet %d bytes counted as leaving", leaving)
	}
}

// A storm of cold requests loads a bounded number of actors at once (their
// state is in memory before it counts against the byte budget): 64
// concurrent activations of a registry that loads 4 at a time all succeed,
// and no more than 4 ever load together.
func TestActivationsLoadABoundedNumberAtOnce(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	t.Cleanup(sys.Shutdown)
	var now, most atomic.Int32
	reg := NewRegistry("loads", sys.Root, func(ctx context.Context, id string) (actor.Producer, error) {
		n := now.Add(1)
		defer now.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(5 * time.Millisecond) // a database read
		return func() actor.Actor { return actor.ReceiveFunc(func(actor.Context) {}) }, nil
	}, nil)
	reg.loading = make(chan struct{}, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := reg.Get(ctx, fmt.Sprintf("a%d", i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if reg.Active() != 64 || most.Load() > 4 || most.Load() < 2 {
		t.Fatalf("%d active; at most %d loaded at once, want 2 to 4", reg.Active(), most.Load())
	}
}

// The region actors in memory hold no more than their budget (their drift
// event logs): one cluster attached to eight regions sends each of them
// every drift of its member; with room for about three regions, the least
// recently used stop and come back from the database, and none of the
// events is lost on the way, not even one told while its region stopped.
func TestRegionMemoryBudgetHolds(t *testing.T) {
	e := newLayersEnv(t)
	const budget = 16 << 10
	e.layers.LimitRegionMemory(budget)
	ctx := ctxT(t)
	const own = "tenant-a"
	c := e.cluster(own, AggregationWeightedAverage, 0)
	m := e.session(own)
	ok(e.layers.AddMember(ctx, own, c, m))(t)
	var regions []string
	for range 8 {
		r := e.region(own, 0.99, 60) // no realignment: every event is a plain vote
		ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
		regions = append(regions, r.ID)
	}
	drifts := 0 // every turn that detects drift sends an event
	for k := range 8 {
		for j := range 5 {
			if e.run(own, m, topic(k, j)).GetDriftDetected() {
				drifts++
			}
		}
	}
	if drifts < 4 {
		t.Fatalf("only %d drifts", drifts)
	}
	for _, rid := range regions {
		eventually(t, "every drift logged by every region", func() bool {
			return len(ok(e.layers.RegionEvents(ctx, own, rid, 1000))(t)) >= drifts
		})
		if n := len(ok(e.layers.RegionEvents(ctx, own, rid, 1000))(t)); n != drifts {
			t.Fatalf("region %s logged %d events for %d drifts", rid, n, drifts)
		}
	}
	eventually(t, "the regions in memory to fit their budget", func() bool { return e.layers.RegionMemory() <= budget })
	if n := e.layers.Active()["region"]; n >= 8 {
		t.Fatalf("%d of 8 regions in memory under a budget of %d bytes", n, budget)
	}
	t.Logf("%d drifts; %d of 8 regions in memory holding %d bytes", drifts, e.layers.Active()["region"], e.layers.RegionMemory())
}
