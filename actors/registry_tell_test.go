package actors

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// A notification that would activate an actor, told while the actor is
// stopping (passivated, say under a memory budget), reaches its next
// activation, started once it has stopped, instead of being dropped; one
// that would not activate it is dropped as before.
func TestATellToAStoppingActorReachesItsNextActivation(t *testing.T) {
	ctx := ctxT(t)
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	t.Cleanup(sys.Shutdown)
	got := make(chan string, 8)
	var loads atomic.Int32
	var reg *Registry
	reg = NewRegistry("told", sys.Root, func(context.Context, string) (actor.Producer, error) {
		n := loads.Add(1)
		return func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				switch m := c.Message().(type) {
				case string:
					got <- m + "@" + string(rune('0'+n))
				case *actor.Stopped:
					reg.Stopped("x", c.Self())
				}
			})
		}, nil
	}, nil)
	want := func(msg string) {
		t.Helper()
		select {
		case m := <-got:
			if m != msg {
				t.Fatalf("got %q, want %q", m, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q never arrived", msg)
		}
	}
	reg.Tell("x", "a", true)
	want("a@1")
	pid := reg.Stop("x") // stopping: its stop message is on the way
	if pid == nil {
		t.Fatal("x is not running")
	}
	reg.Tell("x", "b", true)
	reg.Tell("x", "dropped", false)
	reg.poison(pid)
	want("b@2")
	if _, err := reg.Get(ctx, "x"); err != nil || loads.Load() != 2 {
		t.Fatalf("after: %v, %d activations", err, loads.Load())
	}
	reg.Tell("x", "c", true) // after "dropped", had it been kept
	want("c@2")
}
