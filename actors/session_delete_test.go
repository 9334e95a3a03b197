package actors

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// activationGate holds the next session activation, once armed, after it
// has taken its epoch and before its actor starts (its membership read).
type activationGate struct {
	*persistence.Store
	entered, release chan struct{}
}

func (g *activationGate) ClustersOfSession(ctx context.Context, owner, id string) ([]string, error) {
	select {
	case g.entered <- struct{}{}:
		<-g.release
	default:
	}
	return g.Store.ClustersOfSession(ctx, owner, id)
}

// A session deleted while it is being activated is gone once the delete has
// answered: the actor that activation starts is stopped too, instead of
// serving the deleted session from memory (200s after the delete's 200)
// and refusing every change to a session created again under its id.
func TestDeleteDuringActivationLeavesNoActor(t *testing.T) {
	ctx := ctxT(t)
	store, err := persistence.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	gate := &activationGate{Store: store, entered: make(chan struct{}), release: make(chan struct{})}
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	s := NewSessions(sys.Root, gate, &Asker{Root: sys.Root, Timeout: 5 * time.Second}, SessionConfig{Dim: replayDim, ModelName: "test"}, log, nil)
	t.Cleanup(func() {
		_ = s.Shutdown(context.Background())
		sys.Shutdown()
		_ = store.Close()
	})
	const own, id = "o", "z"
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	run := func(k int) error {
		_, err := AskSession[*pb.RunResponse](ctx, s, id, turnRequest(own, id, k, at, false))
		return err
	}
	ok(s.Create(ctx, own, CreateOptions{ID: id}))(t)
	if err := run(1); err != nil {
		t.Fatal(err)
	}
	key := ownedKey(own, id)
	if pid := s.reg.Stop(key); pid != nil { // passivate it: the next request activates it
		s.ask.Root.Send(pid, &pb.Passivate{})
	}
	s.reg.WaitStopped(ctx, key)

	read := make(chan error, 1)
	go func() {
		_, err := AskSession[*pb.MetricsResponse](ctx, s, id, &pb.MetricsRequest{Owner: own, SessionId: id})
		read <- err
	}()
	<-gate.entered // the activation has taken its epoch
	deleted := make(chan error, 1)
	go func() { deleted <- s.Delete(ctx, own, id) }()
	close(gate.release) // the delete may have answered already (before the fix it did)
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil && semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("the read racing the delete: %v, want an answer", err)
	}
	if _, err := AskSession[*pb.MetricsResponse](ctx, s, id, &pb.MetricsRequest{Owner: own, SessionId: id}); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("metrics after the delete answered: %v, want NotFound", err)
	}
	ok(s.Create(ctx, own, CreateOptions{ID: id}))(t) // what /v1/run with reset_context does
	if err := run(1); err != nil {
		t.Fatalf("a turn of the session created again: %v", err)
	}
	if got := interactions(t, s, own, id); got != 1 {
		t.Fatalf("the session created again has %d turns, want 1", got)
	}
}

// A request that found a session's actor just before its deletion stopped
// it, and reached its mailbox behind the stop, fails as a dead letter as
// soon as the actor has stopped (AskSession then asks again: 404 once
// deleted), instead of waiting for its ask to time out (504).
func TestRequestBehindASessionsStopIsNotLeftWaiting(t *testing.T) {
	s := fencingNode(t, filepath.Join(t.TempDir(), "s.db"))
	ctx := ctxT(t)
	const own, id = "o", "d"
	ok(s.Create(ctx, own, CreateOptions{ID: id}))(t)
	ent := ok(s.reg.lookup(ctx, ownedKey(own, id)))(t) // AskSession's first step
	if _, err := s.store.DeleteSession(ctx, own, id); err != nil {
		t.Fatal(err)
	}
	s.reg.Stop(ownedKey(own, id)) // Sessions.Delete's halt, between the lookup and the ask
	s.ask.Root.Send(ent.pid, &pb.Discard{})
	_, err := askUntil[*pb.MetricsResponse](ctx, s.ask, ent.pid, ent.stopped, &pb.MetricsRequest{Owner: own, SessionId: id})
	if !isDeadLetter(err) {
		t.Fatalf("a request behind the session's stop: %v, want a dead letter", err)
	}
	if _, err := AskSession[*pb.MetricsResponse](ctx, s, id, &pb.MetricsRequest{Owner: own, SessionId: id}); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("asked again: %v, want NotFound", err)
	}
}

// heldAppend holds the first log append until release is closed, then
// makes it.
type heldAppend struct {
	*persistence.Store
	calls            atomic.Int32
	entered, release chan struct{}
}

func (h *heldAppend) AppendLog(ctx context.Context, e []persistence.LogEntry) ([]error, error) {
	if h.calls.Add(1) == 1 {
		close(h.entered)
		<-h.release
	}
	return h.Store.AppendLog(ctx, e)
}

// A change still being committed when its session is deleted answers 404,
// as every later request does: the session and whatever it committed are
// gone. Before, it answered 503 "retry", and cluster feedback that reached
// a member being deleted failed as a whole although it had blended every
// other member (a retry blended them twice).
func TestChangeInFlightWhenDeletedAnswersNotFound(t *testing.T) {
	ctx := ctxT(t)
	sessions, held, _ := sessionsOn(t, func(s *persistence.Store) *heldAppend {
		return &heldAppend{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
	})
	t.Cleanup(func() { close(held.release) }) // before the sessions' shutdown (cleanups run last first)
	ok(sessions.Create(ctx, "o", CreateOptions{ID: "s"}))(t)
	ran := make(chan error, 1)
	go func() {
		_, err := AskSession[*pb.RunResponse](ctx, sessions, "s", &pb.RunRequest{Owner: "o", SessionId: "s",
			Message: "q", MessageVec: topic(0, 0), ShortCircuitThreshold: 0.85})
		ran <- err
	}()
	<-held.entered // its commit is in flight
	if err := sessions.Delete(ctx, "o", "s"); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("the change in flight when its session was deleted: %v, want NotFound", err)
	}
}
