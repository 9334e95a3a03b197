package actors

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	pb "github.com/semvec-go/semvec/proto"
)

// A request sent to the PID of an activation that has stopped (a sweep or a
// deletion stopped it between the caller's lookup and its send) never
// reaches the next activation of the same id: each activation is a process
// of its own. Were it delivered there, the caller, seeing its actor stopped
// without answering, would retry it, and a change would be applied twice.
func TestStalePIDNeverReachesTheNextActivation(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	var handled atomic.Int64
	var reg *Registry
	reg = NewRegistry("inc", sys.Root, func(ctx context.Context, id string) (actor.Producer, error) {
		return func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				switch c.Message().(type) {
				case *pb.TopologyChanged:
					handled.Add(1)
					c.Respond(&pb.TopologyReloaded{})
				case *actor.Stopped:
					reg.Stopped(id, c.Self())
				}
			})
		}, nil
	}, nil)
	ask := &Asker{Root: sys.Root, Timeout: 2 * time.Second}
	e, err := reg.lookup(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	sys.Root.Poison(reg.Stop("k"))
	reg.WaitStopped(ctx, "k")
	next, err := reg.lookup(ctx, "k") // the next activation
	if err != nil {
		t.Fatal(err)
	}
	_, err = askEntry[*pb.TopologyReloaded](ctx, ask, reg, e, &pb.TopologyChanged{})
	if !isDeadLetter(err) {
		t.Fatalf("ask of the stopped activation: %v, want a dead letter", err)
	}
	// A request asked of the next activation after it is answered after
	// any delivered before it (a mailbox is first in, first out).
	if _, err := askEntry[*pb.TopologyReloaded](ctx, ask, reg, next, &pb.TopologyChanged{}); err != nil {
		t.Fatal(err)
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("the next activation handled %d request(s), want 1: its own, none sent to the stopped one", n)
	}
}

// An actor that stops as it starts, before its activation has recorded its
// PID, gives its slot back and leaves its id free: the cap is not lowered
// for good, and the id can be activated again.
func TestActorStoppingAsItStartsLeavesNoSlotBehind(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	stoppedReported := make(chan struct{}, 8)
	var failStart atomic.Bool
	failStart.Store(true)
	var reg *Registry
	reg = NewRegistry("leak", sys.Root, func(ctx context.Context, id string) (actor.Producer, error) {
		return func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				switch c.Message().(type) {
				case *actor.Started:
					if id == "x" && failStart.Load() {
						panic("boom in Started")
					}
				case *actor.Stopped:
					reg.Stopped(id, c.Self())
					if id == "x" {
						stoppedReported <- struct{}{}
					}
				}
			})
		}, nil
	}, nil)
	// The spawn returns only once the actor has reported its stop: the
	// registry hears of the stop before it records the PID.
	reg.root = sys.Root.WithSpawnMiddleware(func(next actor.SpawnFunc) actor.SpawnFunc {
		return func(s *actor.ActorSystem, id string, p *actor.Props, parent actor.SpawnerContext) (*actor.PID, error) {
			pid, err := next(s, id, p, parent)
			if reg.idOf(pid) == "x" && failStart.Load() {
				select {
				case <-stoppedReported:
				case <-time.After(5 * time.Second):
				}
			}
			return pid, err
		}
	})
	reg.max = 1
	reg.evict = func(_ string, pid *actor.PID) { sys.Root.Poison(pid) }
	if _, err := reg.Get(ctx, "x"); err == nil {
		t.Fatal("an actor that stopped as it started was handed out")
	}
	if n := reg.Active(); n != 0 {
		t.Fatalf("Active() = %d after x stopped, want 0 (its slot leaked)", n)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := reg.Get(short, "y"); err != nil {
		t.Fatalf("y cannot be activated: %v", err)
	}
	failStart.Store(false)
	if _, err := reg.Get(short, "x"); err != nil {
		t.Fatalf("x cannot be activated again: %v", err)
	}
}

// A request that reaches an actor stopping itself (not marked stopping by
// the registry: a superseded session, for one) after protoactor has
// unregistered it, but before it has reported its stop, is a dead letter.
// The asker waits for that actor to have stopped and asks the next
// activation, rather than retrying the same dying actor until its attempts
// run out (503 "the actor stopped before it handled the request").
func TestRequestToAnActorStoppingItselfReachesTheNextActivation(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	gate := make(chan struct{})
	var activations atomic.Int64
	var reg *Registry
	reg = NewRegistry("selfstop", sys.Root, func(ctx context.Context, id string) (actor.Producer, error) {
		first := activations.Add(1) == 1
		return func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				switch c.Message().(type) {
				case *pb.Passivate: // "stop yourself", unknown to the registry
					c.Stop(c.Self())
				case *pb.TopologyChanged:
					c.Respond(&pb.TopologyReloaded{})
				case *actor.Stopped:
					if first {
						<-gate // unregistered already, its stop not yet reported
					}
					reg.Stopped(id, c.Self())
				}
			})
		}, nil
	}, nil)
	pid, err := reg.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	sys.Root.Send(pid, &pb.Passivate{})
	eventually(t, "the actor to be unregistered", func() bool {
		_, ok := sys.ProcessRegistry.GetLocal(pid.Id)
		return !ok
	})
	deadLetters := make(chan struct{}, 8)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second, Observer: func(_ string, _ time.Duration, outcome string) {
		if outcome == "unavailable" {
			deadLetters <- struct{}{}
		}
	}}
	done := make(chan error, 1)
	go func() {
		_, err := askActor[*pb.TopologyReloaded](ctx, ask, reg, "k", &pb.TopologyChanged{})
		done <- err
	}()
	<-deadLetters // it met the dying actor
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("a request that met an actor stopping itself: %v, want the next activation's answer", err)
	}
	if n := activations.Load(); n != 2 {
		t.Fatalf("%d activations, want 2", n)
	}
}
