package actors

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// stopWriteStore fails the regions' event writes while failing is set, and
// holds each one for hold while holding is set.
type stopWriteStore struct {
	*persistence.Store
	failing, holding atomic.Bool
	failed           atomic.Int32
	hold             time.Duration
}

func (s *stopWriteStore) AppendRegionEventBatches(ctx context.Context, b []persistence.RegionEvents, keep int) ([]error, error) {
	if s.failing.Load() {
		s.failed.Add(1)
		return nil, semvec.Errorf(semvec.KindUnavailable, "database unavailable (test)")
	}
	if s.holding.Load() {
		time.Sleep(s.hold)
	}
	return s.Store.AppendRegionEventBatches(ctx, b, keep)
}

// A region that stops holding drift events not yet written (their write
// failed; the retry is pending) writes them as it stops. Its next
// activation must not begin before that write has landed: the activation
// takes a new epoch, which fences the stopping one's write off, and the
// events are lost although nothing was wrong with the database any more.
func TestRegionStopWriteIsNotFencedByTheNextActivation(t *testing.T) {
	var ws *stopWriteStore
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore {
		ws = &stopWriteStore{Store: s, hold: 300 * time.Millisecond}
		return ws
	})
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.99, 60)
	cid := e.cluster(own, AggregationWeightedAverage, 0.5)
	if _, err := e.layers.AttachCluster(ctx, own, r.ID, cid); err != nil {
		t.Fatal(err)
	}
	key := ownedKey(own, r.ID)
	if _, err := e.layers.regions.Get(ctx, key); err != nil {
		t.Fatal(err)
	}

	// The event's write fails: it waits in the region for its retry.
	ws.failing.Store(true)
	e.layers.regions.Tell(key, &pb.DriftEvent{Owner: own, SessionId: "s", ClusterId: cid, RegionId: r.ID,
		DriftScore: 0.9, DriftPhase: "shift", AtUnixNano: time.Now().UnixNano()}, true)
	eventually(t, "the event's write to fail", func() bool { return ws.failed.Load() > 0 })
	time.Sleep(50 * time.Millisecond) // its continuation has run on the actor
	ws.failing.Store(false)
	ws.holding.Store(true) // the database is back, a little slow

	// The region is stopped (an eviction, a deletion's reload...), and a
	// request comes right after: it activates the region again.
	pid := e.layers.regions.Stop(key)
	if pid == nil {
		t.Fatal("the region is not running")
	}
	e.layers.regions.poison(pid)
	e.layers.regions.WaitStopped(ctx, key)
	if _, err := e.layers.RegionState(ctx, own, r.ID, 10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * ws.hold) // the stop's write has ended by now, one way or the other

	logged, err := e.store.LoadRegionEvents(ctx, own, r.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 {
		t.Fatalf("the region's log holds %d events after its stop, want the 1 it held (fenced off by its next activation?)", len(logged))
	}
}
