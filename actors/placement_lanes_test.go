package actors

import (
	"slices"
	"sync"
	"testing"
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
	lanes.start(4, 2, func(pt placedTell) {
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
	// The lane of a/stuck holds one more; the queue bound (2) takes one
	// more, then drops.
	lanes.add([]placedTell{tell("a/stuck", "3"), tell("a/stuck", "4")})
	if !slices.Equal(dropped, []any{"4"}) {
		t.Fatalf("dropped %v, want the one past the queue bound", dropped)
	}
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
		t.Fatalf("delivered %v: want every actor's in order, none lost but the dropped one", got)
	}
	if len(lanes.waiting) != 0 || lanes.queued != 0 {
		t.Fatalf("lanes left: %v, %d queued", lanes.waiting, lanes.queued)
	}
}
