package actors

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// SEMVEC_MAX_SESSIONS holds between sweeps: with no sweep at all, activating
// a session beyond the cap passivates the least recently used of a sample,
// and a passivated session comes back with everything it was told.
func TestSessionCapHoldsWithoutSweeps(t *testing.T) {
	ctx := ctxT(t)
	store, err := persistence.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "cap.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	defer sys.Shutdown()
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	const capacity = 10
	sessions := NewSessions(sys.Root, store, ask, SessionConfig{Dim: testDim, ModelName: "test", MaxSessions: capacity}, log, nil)
	defer func() { _ = sessions.Shutdown(ctx) }()
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
		// Stopping actors leave the registry as soon as they stopped;
		// never more than the cap plus the ones on their way out.
		if n := sessions.Active(); n > 2*capacity {
			t.Fatalf("%d sessions active after %d activations (cap %d)", n, i+1, capacity)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for sessions.Active() > capacity {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions active, cap %d", sessions.Active(), capacity)
		}
		time.Sleep(5 * time.Millisecond)
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
