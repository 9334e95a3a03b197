package actors

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// activationGate holds the next session activation, once armed, after it
// has taken its epoch and before its actor starts (its membership read).
type activationGate struct {
	*persistence.Store
	armed            atomic.Bool
	entered, release chan struct{}
}

func (g *activationGate) ClustersOfSession(ctx context.Context, owner, id string) ([]string, error) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return g.Store.ClustersOfSession(ctx, owner, id)
}

// gatedSessions is a session layer whose activations gate can hold.
func gatedSessions(t *testing.T) (*Sessions, *activationGate) {
	s, gate, _ := sessionsOn(t, func(st *persistence.Store) *activationGate {
		return &activationGate{Store: st, entered: make(chan struct{}), release: make(chan struct{})}
	})
	return s, gate
}

// A session deleted while it is being activated is gone once the delete has
// answered: the actor that activation starts is stopped too, instead of
// serving the deleted session from memory (200s after the delete's 200)
// and refusing every change to a session created again under its id.
func TestDeleteDuringActivationLeavesNoActor(t *testing.T) {
	ctx := ctxT(t)
	s, gate := gatedSessions(t)
	const own, id = "o", "z"
	run := func(k int) error {
		_, err := AskSession[*pb.RunResponse](ctx, s, id, &pb.RunRequest{Owner: own, SessionId: id,
			Message: "q", MessageVec: topic(k, 0), ShortCircuitThreshold: 0.85})
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
	gate.armed.Store(true)

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
	_, err := askEntry[*pb.MetricsResponse](ctx, s.ask, s.reg, ent, &pb.MetricsRequest{Owner: own, SessionId: id})
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

// Two changes in flight when their session is deleted both answer 404, also
// when the log's refusal of the first reaches the actor before the
// deletion's Discard (it stops the actor at once).
func TestEveryChangeInFlightWhenDeletedAnswersNotFound(t *testing.T) {
	ctx := ctxT(t)
	sessions, held, store := sessionsOn(t, func(s *persistence.Store) *heldAppend {
		return &heldAppend{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
	})
	t.Cleanup(func() {
		select {
		case <-held.release:
		default:
			close(held.release)
		}
	})
	ok(sessions.Create(ctx, "o", CreateOptions{ID: "s"}))(t)
	ask := func(k int) chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := AskSession[*pb.RunResponse](ctx, sessions, "s", &pb.RunRequest{Owner: "o", SessionId: "s",
				Message: "q", MessageVec: topic(k, 0), ShortCircuitThreshold: 0.85})
			ch <- err
		}()
		return ch
	}
	first := ask(0)
	<-held.entered
	second := ask(1)
	eventually(t, "the second change to be handed to the log", func() bool { return sessions.deps.changes.queue.queued() == 1 })
	if _, err := store.DeleteSession(ctx, "o", "s"); err != nil { // Sessions.Delete's first step
		t.Fatal(err)
	}
	close(held.release) // both are refused (NotFound) before the Discard
	e1, e2 := <-first, <-second
	sessions.Discard(ctx, "o", "s") // Sessions.Delete's second step
	if semvec.KindOf(e1) != semvec.KindNotFound || semvec.KindOf(e2) != semvec.KindNotFound {
		t.Fatalf("changes in flight when deleted: %v, %v; want NotFound, NotFound", e1, e2)
	}
}

// In cluster mode a request waits at the session's router while the router
// activates the session; when the session is deleted meanwhile (the stop
// waits for that activation, then discards it), the request is answered
// (the next activation finds the session gone) instead of being forwarded
// behind the Discard and dropped (the remote asker waited for its timeout).
func TestRoutedRequestWaitingForAnActivationOfADeletedSession(t *testing.T) {
	ctx := ctxT(t)
	s, gate := gatedSessions(t)
	store, sys := gate.Store, s.reg.root
	const own, id = "o", "z"
	key := ownedKey(own, id)
	ok(s.Create(ctx, own, CreateOptions{ID: id}))(t)
	if pid := s.reg.Stop(key); pid != nil { // passivated: the router's request activates it
		s.ask.Root.Send(pid, &pb.Passivate{})
	}
	s.reg.WaitStopped(ctx, key)
	gate.armed.Store(true)
	rt := &router{reg: s.reg, idle: time.Minute, key: key} // the cluster sets key at Started
	rpid := sys.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, started := c.Message().(*actor.Started); !started {
			rt.Receive(c)
		}
	}))
	read := sys.RequestFuture(rpid, &pb.MetricsRequest{Owner: own, SessionId: id}, 4*time.Second)
	<-gate.entered // the router is activating the session
	if _, err := store.DeleteSession(ctx, own, id); err != nil {
		t.Fatal(err)
	}
	stop := sys.RequestFuture(rpid, &pb.StopRequest{Discard: true, Settle: true}, 4*time.Second) // Halt's askRoute
	time.Sleep(20 * time.Millisecond)                                                            // the stop waits for the activation (not an assertion: without the wait the read is simply served)
	close(gate.release)
	if _, err := stop.Result(); err != nil {
		t.Fatal(err)
	}
	res, err := read.Result()
	switch r := res.(type) {
	case *pb.RouteFailed:
		if FromProtoError(r.GetError()).(*semvec.Error).Kind != semvec.KindNotFound {
			t.Fatalf("the routed request failed: %v, want NotFound", r.GetError())
		}
	case *pb.MetricsResponse: // served before the stop: fine
	default:
		if err != actor.ErrDeadLetter { // askRoute looks again on a dead letter
			t.Fatalf("the routed request: %T %v, want an answer", res, err)
		}
	}
}
