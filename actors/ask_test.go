package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

func TestAskOutcomes(t *testing.T) {
	sys := NewActorSystem(nil)
	var outcomes []string
	ask := &Asker{Root: sys.Root, Timeout: 200 * time.Millisecond, Observer: func(m string, _ time.Duration, o string) { outcomes = append(outcomes, m+":"+o) }}
	ctx := context.Background()

	silent := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {})) // never replies
	_, err := Ask[*pb.MetricsResponse](ctx, ask, silent, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("silent actor: %v (kind %v), want KindTimeout", err, semvec.KindOf(err))
	}

	stopped := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	if err := sys.Root.StopFuture(stopped).Wait(); err != nil {
		t.Fatal(err)
	}
	_, err = Ask[*pb.MetricsResponse](ctx, ask, stopped, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindUnavailable || !isDeadLetter(err) {
		t.Fatalf("stopped actor: %v, want KindUnavailable", err)
	}

	echo := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*pb.MetricsRequest); ok {
			c.Respond(&pb.MetricsResponse{Error: ToProtoError(semvec.NotFound("Session"))})
		}
	}))
	_, err = Ask[*pb.MetricsResponse](ctx, ask, echo, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindNotFound || err.Error() != "Session not found" {
		t.Fatalf("typed error reply: %v", err)
	}
	_, err = Ask[*pb.RunResponse](ctx, ask, echo, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindInternal {
		t.Fatalf("wrong reply type: %v", err)
	}

	// the request deadline wins over the configured timeout
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	slow := &Asker{Root: sys.Root, Timeout: 10 * time.Second}
	_, err = Ask[*pb.MetricsResponse](dctx, slow, silent, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindTimeout || time.Since(start) > 5*time.Second {
		t.Fatalf("deadline not honoured: %v after %s", err, time.Since(start))
	}
	// an Asker without a Timeout asks within the context's deadline, or
	// without one within defaultAskTimeout: it does not refuse every ask
	unbounded := &Asker{Root: sys.Root}
	if _, err = Ask[*pb.MetricsResponse](context.Background(), unbounded, echo, &pb.MetricsRequest{}); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("an Asker without a Timeout: %v, want the actor's answer", err)
	}
	dctx2, cancel3 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel3()
	if _, err = Ask[*pb.MetricsResponse](dctx2, unbounded, silent, &pb.MetricsRequest{}); semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("an Asker without a Timeout, past the context's deadline: %v", err)
	}
	expired, cancel2 := context.WithTimeout(ctx, -time.Second)
	defer cancel2()
	if _, err = Ask[*pb.MetricsResponse](expired, ask, echo, &pb.MetricsRequest{}); semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("expired deadline: %v", err)
	}
	if len(outcomes) == 0 || outcomes[0] != "MetricsRequest:timeout" || outcomes[1] != "MetricsRequest:unavailable" {
		t.Fatalf("observer saw %v", outcomes)
	}
}

// A late reply to an ask that timed out must never answer a later ask: the
// timed-out reply box is dropped, not reused.
func TestAskLateReplyNeverAnswersTheNextAsk(t *testing.T) {
	sys := NewActorSystem(nil)
	ask := &Asker{Root: sys.Root, Timeout: 20 * time.Millisecond}
	ctx := context.Background()
	late := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*pb.MetricsRequest); ok {
			sender := c.Sender()
			time.AfterFunc(60*time.Millisecond, func() {
				sys.Root.Send(sender, &pb.MetricsResponse{SessionId: "late"})
			})
		}
	}))
	echo := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*pb.MetricsRequest); ok {
			c.Respond(&pb.MetricsResponse{SessionId: m.GetSessionId()})
		}
	}))
	if _, err := Ask[*pb.MetricsResponse](ctx, ask, late, &pb.MetricsRequest{}); semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("late actor: %v, want a timeout", err)
	}
	// The later asks, through the same Asker (its reply boxes are what is
	// under test), get time enough on a loaded machine: the first ask's 20 ms
	// timed out one of them under -race in CI.
	ask.Timeout = 5 * time.Second
	deadline := time.Now().Add(150 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ { // spans the late reply's arrival
		want := "s" + string(rune('a'+i%26))
		r, err := Ask[*pb.MetricsResponse](ctx, ask, echo, &pb.MetricsRequest{SessionId: want})
		if err != nil || r.GetSessionId() != want {
			t.Fatalf("ask %d: %v %q, want %q", i, err, r.GetSessionId(), want)
		}
	}
}

// Concurrent asks through one Asker each get their own reply.
func TestAskConcurrentRepliesAreNotMixed(t *testing.T) {
	sys := NewActorSystem(nil)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	echo := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(*pb.MetricsRequest); ok {
			c.Respond(&pb.MetricsResponse{SessionId: m.GetSessionId()})
		}
	}))
	errs := make(chan error, 16)
	for w := range 16 {
		go func() {
			for i := range 200 {
				want := fmt.Sprintf("w%d-%d", w, i)
				r, err := Ask[*pb.MetricsResponse](context.Background(), ask, echo, &pb.MetricsRequest{SessionId: want})
				if err == nil && r.GetSessionId() != want {
					err = fmt.Errorf("got %q, want %q", r.GetSessionId(), want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkAsk is one request/reply round trip through Ask to a local actor.
func BenchmarkAsk(b *testing.B) {
	sys := NewActorSystem(nil)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	echo := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*pb.MetricsRequest); ok {
			c.Respond(&pb.MetricsResponse{})
		}
	}))
	b.ReportAllocs()
	b.RunParallel(func(pb_ *testing.PB) {
		for pb_.Next() {
			if _, err := Ask[*pb.MetricsResponse](context.Background(), ask, echo, &pb.MetricsRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A caller that went away before the ask gets an error that says so (and
// unwraps to context.Canceled, which the HTTP layer answers with 499 without
// logging a timeout).
func TestAskCanceledContextIsNotATimeout(t *testing.T) {
	sys := NewActorSystem(nil)
	var outcomes []string
	ask := &Asker{Root: sys.Root, Timeout: time.Second, Observer: func(_ string, _ time.Duration, o string) { outcomes = append(outcomes, o) }}
	echo := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*pb.MetricsRequest); ok {
			c.Respond(&pb.MetricsResponse{})
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Ask[*pb.MetricsResponse](ctx, ask, echo, &pb.MetricsRequest{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("canceled context: %v", err)
	}
	if len(outcomes) != 1 || outcomes[0] != "canceled" {
		t.Fatalf("observer saw %v", outcomes)
	}
}

// AskSession with a context already done sends nothing, yet its Asker's
// observer counts it as an ask whose context was done before it was sent
// ("canceled", "timeout"), as it did before AskSession checked the context
// itself.
func TestAskSessionWithADoneContextIsObserved(t *testing.T) {
	sessions, _, _ := sessionsOn(t, func(s *persistence.Store) *persistence.Store { return s })
	var outcomes []string
	sessions.ask.Observer = func(m string, _ time.Duration, o string) { outcomes = append(outcomes, m+":"+o) }
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, ctx := range []context.Context{canceled, expired} {
		if _, err := AskSession[*pb.MetricsResponse](ctx, sessions, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"}); err == nil {
			t.Fatal("an ask with a done context succeeded")
		}
	}
	if fmt.Sprint(outcomes) != "[MetricsRequest:canceled MetricsRequest:timeout]" {
		t.Fatalf("observer saw %v", outcomes)
	}
}

// A caller that goes away while its actor has the request stops waiting at
// once (before, it waited for the whole ask timeout): the error unwraps to
// context.Canceled. An ask whose deadline passes is still a timeout.
func TestAskEndsWhenItsCallerGoesAway(t *testing.T) {
	sys := NewActorSystem(nil)
	sig := sentSignal{RootContext: sys.Root, sent: make(chan struct{})}
	var outcomes []string
	ask := &Asker{Root: sig, Timeout: time.Hour, Observer: func(_ string, _ time.Duration, o string) { outcomes = append(outcomes, o) }}
	silent := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {})) // never replies
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-sig.sent; cancel() }()
	_, err := Ask[*pb.MetricsResponse](ctx, ask, silent, &pb.MetricsRequest{})
	if !errors.Is(err, context.Canceled) || semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("caller gone while the actor had the request: %v", err)
	}
	if len(outcomes) != 1 || outcomes[0] != "canceled" {
		t.Fatalf("observer saw %v", outcomes)
	}

	dctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	_, err = Ask[*pb.MetricsResponse](dctx, &Asker{Root: sys.Root, Timeout: time.Hour}, silent, &pb.MetricsRequest{})
	if errors.Is(err, context.Canceled) || semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("deadline passed while the actor had the request: %v, want a timeout", err)
	}
}

// sentSignal is a root context that closes sent once a request has been
// put in its target's mailbox.
type sentSignal struct {
	*actor.RootContext
	sent chan struct{}
}

func (s sentSignal) RequestWithCustomSender(pid *actor.PID, msg any, sender *actor.PID) {
	s.RootContext.RequestWithCustomSender(pid, msg, sender)
	close(s.sent)
}

// A request that reaches a registry's actor after it began to stop is
// dropped by protoactor (no reply, no dead letter). askEntry fails it as a
// dead letter as soon as the actor has stopped, so the caller asks the next
// activation; before, it waited for the ask to time out (a 504). A reply
// given before the stop is still delivered.
func TestAskOfAnActorThatStopsWithoutAnswering(t *testing.T) {
	sys := NewActorSystem(nil)
	defer sys.Shutdown()
	reg := NewRegistry("test", sys.Root, nil, nil)
	gate := make(chan struct{})
	pid := ok(reg.Spawn("a", func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch c.Message().(type) {
			case *pb.MetricsRequest:
				c.Respond(&pb.MetricsResponse{SessionId: "a"})
			case *pb.Passivate: // busy until the gate opens, then stops
				<-gate
				c.Stop(c.Self())
			case *actor.Stopped:
				reg.Stopped("a", c.Self())
			}
		})
	}))(t)
	e := ok(reg.lookup(context.Background(), "a"))(t)
	ask := &Asker{Root: sys.Root, Timeout: time.Minute}
	if r := ok(askEntry[*pb.MetricsResponse](context.Background(), ask, reg, e, &pb.MetricsRequest{}))(t); r.GetSessionId() != "a" {
		t.Fatalf("reply = %v", r)
	}

	reg.Stop("a")
	sys.Root.Send(pid, &pb.Passivate{})
	sig := sentSignal{RootContext: sys.Root, sent: make(chan struct{})}
	late := &Asker{Root: sig, Timeout: time.Minute}
	done := make(chan error, 1)
	e.pins.Add(1) // a second ask of the entry, pinned as lookup pins it
	go func() {
		_, err := askEntry[*pb.MetricsResponse](context.Background(), late, reg, e, &pb.MetricsRequest{})
		done <- err
	}()
	<-sig.sent // queued behind the stop
	close(gate)
	select {
	case err := <-done:
		if !isDeadLetter(err) || semvec.KindOf(err) != semvec.KindUnavailable {
			t.Fatalf("ask of an actor that stopped without answering: %v, want a dead letter", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the ask still waits 30 s after the actor stopped")
	}
}

// An actor that panics while handling a request may have applied it: its
// unanswered asks fail (500) and are not retried as dead letters would be.
func TestAskOfAnActorThatPanics(t *testing.T) {
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	reg := NewRegistry("test", sys.Root, nil, nil)
	ok(reg.Spawn("a", func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch c.Message().(type) {
			case *pb.MetricsRequest:
				panic("a bug, after applying the request")
			case *actor.Stopped:
				reg.Stopped("a", c.Self())
			}
		})
	}))(t)
	e := ok(reg.lookup(context.Background(), "a"))(t)
	_, err := askEntry[*pb.MetricsResponse](context.Background(), &Asker{Root: sys.Root, Timeout: time.Minute}, reg, e, &pb.MetricsRequest{})
	if semvec.KindOf(err) != semvec.KindInternal || isDeadLetter(err) {
		t.Fatalf("ask of an actor that panicked: %v, want Internal (not retried)", err)
	}
	if reg.Has("a") {
		t.Fatal("the actor that panicked is still registered")
	}
}

// localProcesses counts the processes registered in sys.
func localProcesses(sys *actor.ActorSystem) int {
	n := 0
	for _, m := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		n += m.Count()
	}
	return n
}

// Activating and stopping actors leaves nothing registered behind: one
// guardian serves all of a registry's actors. Before, each spawn made a
// supervisor strategy of its own, and protoactor kept a guardian process
// for each (never removed): a leak of one process per activation.
func TestActivationsLeaveNoProcessBehind(t *testing.T) {
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	reg := NewRegistry("test", sys.Root, func(context.Context, string) (actor.Producer, error) {
		return func() actor.Actor { return actor.ReceiveFunc(func(actor.Context) {}) }, nil
	}, nil)
	cycle := func(i int) {
		id := fmt.Sprint("a", i)
		pid := ok(reg.Get(context.Background(), id))(t)
		reg.Stop(id)
		if err := sys.Root.StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
		reg.Stopped(id, pid)
	}
	cycle(0)
	before := localProcesses(sys)
	for i := 1; i <= 200; i++ {
		cycle(i)
	}
	if after := localProcesses(sys); after > before+5 {
		t.Fatalf("%d processes registered after 200 activations, %d before", after, before)
	}
}
