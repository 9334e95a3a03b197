package actors

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	pb "github.com/semvec-go/semvec/proto"
)

// Notifications to another member are delivered in a lane per actor: one
// whose delivery waits (a lookup of a router on a member that died) holds
// up its own actor's later notifications, in order, and nobody else's.
// One loop delivered every tenant's, so one such lookup held up all of
// them for up to 5 s.
func TestTellLanesHoldUpOnlyTheirOwnActor(t *testing.T) {
	clusters := &Registry{kind: "cluster"}
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	delivered := make(chan string, 16)
	var lanes tellLanes
	var dropped []any
	lanes.start(4, 100, func(_ context.Context, pt placedTell) {
		if pt.key == "a/stuck" {
			<-release
		}
		mu.Lock()
		got = append(got, pt.key+":"+pt.msg.(string))
		mu.Unlock()
		delivered <- pt.key
	}, func(pt placedTell) { dropped = append(dropped, pt.msg) })
	tell := func(key, msg string) placedTell { return placedTell{reg: clusters, key: key, msg: msg} }
	lanes.add([]placedTell{tell("a/stuck", "1"), tell("b/c1", "1"), tell("a/stuck", "2"), tell("b/c1", "2"), tell("b/c2", "1")})
	for range 3 { // the others' arrive while a/stuck's first waits
		if k := <-delivered; k == "a/stuck" {
			t.Fatal("the waiting delivery ended before it was released")
		}
	}
	lanes.add([]placedTell{tell("a/stuck", "3")})
	close(release)
	lanes.wait()
	mu.Lock()
	defer mu.Unlock()
	var stuck, c1 []string
	for _, g := range got {
		switch g[:len(g)-2] {
		case "a/stuck":
			stuck = append(stuck, g)
		case "b/c1":
			c1 = append(c1, g)
		}
	}
	if !slices.Equal(stuck, []string{"a/stuck:1", "a/stuck:2", "a/stuck:3"}) || !slices.Equal(c1, []string{"b/c1:1", "b/c1:2"}) || len(got) != 6 {
		t.Fatalf("delivered %v: want every actor's in order, none lost", got)
	}
	if len(dropped) != 0 {
		t.Fatalf("dropped %v under the bound", dropped)
	}
	if len(lanes.waiting) != 0 || lanes.queued != 0 {
		t.Fatalf("lanes left: %v, %d queued", lanes.waiting, lanes.queued)
	}
}

// The lanes hold at most their bound of notifications not yet delivered,
// the ones a lane has in hand included: past it a notification is dropped
// (and logged by the caller's onDrop).
func TestTellLanesDropPastTheirBound(t *testing.T) {
	clusters := &Registry{kind: "cluster"}
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	var lanes tellLanes
	var dropped []any
	var delivered []any
	lanes.start(4, 2, func(_ context.Context, pt placedTell) {
		if pt.msg == "1" {
			entered <- struct{}{}
			<-release
		}
		delivered = append(delivered, pt.msg)
	}, func(pt placedTell) { dropped = append(dropped, pt.msg) })
	tell := func(msg string) placedTell { return placedTell{reg: clusters, key: "a/x", msg: msg} }
	lanes.add([]placedTell{tell("1")})
	<-entered // in hand, not delivered
	lanes.add([]placedTell{tell("2"), tell("3")})
	if !slices.Equal(dropped, []any{"3"}) {
		t.Fatalf("dropped %v, want the one past the bound of 2", dropped)
	}
	close(release)
	lanes.wait()
	if !slices.Equal(delivered, []any{"1", "2"}) || lanes.queued != 0 {
		t.Fatalf("delivered %v (%d counted), want 1 and 2", delivered, lanes.queued)
	}
}

// Closing the placement delivers what is queued until its context ends,
// then the deliveries still waiting (lookups on a member that died, up to
// 5 s each, one after another in a lane) give up: shutdown keeps its
// deadline. Close waited for every one of them.
func TestPlacementCloseKeepsItsDeadline(t *testing.T) {
	clusters := &Registry{kind: "cluster"}
	p := &Placement{c: &cluster.Cluster{}, log: slog.New(slog.DiscardHandler)}
	entered := make(chan struct{}, 1)
	var delivered []any
	p.lanes.start(4, 100, func(stop context.Context, pt placedTell) {
		if pt.key == "a/dead" {
			select {
			case entered <- struct{}{}:
			default:
			}
			select { // as Placement.lookup waits
			case <-stop.Done():
				p.lanes.abandoned.Add(1)
				return
			case <-time.After(time.Minute):
			}
		}
		delivered = append(delivered, pt.msg)
	}, func(placedTell) {})
	p.outbox.start(100, 8, p.lanes.add)
	for _, msg := range []string{"1", "2", "3"} {
		p.tell(clusters, "a/dead", msg)
	}
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	closed := make(chan struct{})
	go func() { p.Close(ctx); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return after its context ended")
	}
	if ctx.Err() == nil {
		t.Fatal("Close returned before its context ended, with deliveries still waiting")
	}
	if n := p.lanes.abandoned.Load(); n != 3 || len(delivered) != 0 {
		t.Fatalf("%d given up, %v delivered: want all 3 given up", n, delivered)
	}
}

// Once the lanes are halted (Placement.Close at its deadline, or Kill with
// a context already done: "nothing more is delivered") a notification is
// counted as abandoned, not sent: before, one whose router the PID cache
// knew was still sent to the other member, and one it did not know
// started a protoactor lookup (up to 5 s, on a goroutine of its own) after
// Close had returned.
func TestAHaltedPlacementDeliversNothing(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	c := &cluster.Cluster{ActorSystem: sys, PidCache: cluster.NewPidCache()}
	clusters := &Registry{kind: "cluster"}
	c.PidCache.Set("a/remote", "cluster", actor.NewPID("elsewhere:1", "router"))
	var sent atomic.Int32 // sent to the other member: a dead letter here, with no remote
	sub := sys.EventStream.Subscribe(func(evt any) {
		if _, ok := evt.(*actor.DeadLetterEvent); ok {
			sent.Add(1)
		}
	})
	defer sys.EventStream.Unsubscribe(sub)
	p := &Placement{c: c, log: slog.New(slog.DiscardHandler)}
	p.lanes.start(4, 100, p.deliverOne, func(placedTell) {})
	tell := placedTell{reg: clusters, key: "a/remote", msg: &pb.TopologyChanged{}}

	p.deliverOne(p.lanes.stop, tell)
	if sent.Load() != 1 {
		t.Fatalf("before the halt: %d sent, want 1", sent.Load())
	}
	p.lanes.halt()
	p.deliverOne(p.lanes.stop, tell)
	p.deliverOne(p.lanes.stop, placedTell{reg: clusters, key: "a/unknown", msg: &pb.TopologyChanged{}})
	if n := sent.Load(); n != 1 {
		t.Errorf("after the halt: %d more sent", n-1)
	}
	if n := p.lanes.abandoned.Load(); n != 2 {
		t.Errorf("%d counted abandoned, want 2", n)
	}
}
