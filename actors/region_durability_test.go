package actors

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// Detaching a cluster drops its vote and latest event; attaching it again
// does not bring them back, and neither does a restart (the events stay in
// the region's log, but they predate the new attachment).
func TestDetachedVoteStaysGoneAfterRestart(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.99, 3600)
	ca, cb := e.cluster(own, AggregationWeightedAverage, 0), e.cluster(own, AggregationWeightedAverage, 0)
	for _, c := range []string{ca, cb} {
		ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	}
	e.steady(own, ca, 0, 4)
	e.switchTopic(own, ca, 5)
	ok(e.layers.ClusterState(ctx, own, ca))(t) // behind the drift event
	eventually(t, "ca's vote", func() bool {
		return len(ok(e.layers.RegionState(ctx, own, r.ID, 20))(t).GetActiveVotes()) == 1
	})
	ok0 := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ok0(e.layers.DetachCluster(ctx, own, r.ID, ca))
	ok(e.layers.AttachCluster(ctx, own, r.ID, ca))(t)
	before := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if len(before.GetActiveVotes()) != 0 || len(before.GetLastEvents()) != 0 {
		t.Fatalf("after detach and attach: votes %v, latest events %v; want none", before.GetActiveVotes(), before.GetLastEvents())
	}
	e.restart()
	after := ok(e.layers.RegionState(ctxT(t), own, r.ID, 20))(t)
	if len(after.GetActiveVotes()) != 0 || len(after.GetLastEvents()) != 0 {
		t.Fatalf("after the restart: votes %v, latest events %v; want none, as before it", after.GetActiveVotes(), after.GetLastEvents())
	}
	if len(after.GetRecentEvents()) != len(before.GetRecentEvents()) {
		t.Fatalf("recent events %d after the restart, %d before", len(after.GetRecentEvents()), len(before.GetRecentEvents()))
	}
}

// regionEventsDown fails the region event writes while down is set.
type regionEventsDown struct {
	*persistence.Store
	down *atomic.Bool
}

func (d regionEventsDown) AppendRegionEventBatches(ctx context.Context, batches []persistence.RegionEvents, keep int) ([]error, error) {
	if d.down.Load() {
		return nil, semvec.Wrap(semvec.KindUnavailable, errors.New("connection refused"), "database unavailable")
	}
	return d.Store.AppendRegionEventBatches(ctx, batches, keep)
}

// A drift event whose write failed reaches the database once it is back,
// without waiting for another event or for the region to stop (before, it
// stayed in memory until then, and a crash lost it however long the
// database had been back).
func TestRegionEventWriteIsRetried(t *testing.T) {
	var down atomic.Bool
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore { return regionEventsDown{Store: s, down: &down} })
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.99, 3600)
	ca := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, ca))(t)
	e.steady(own, ca, 0, 4)
	down.Store(true)
	e.switchTopic(own, ca, 5)
	eventually(t, "the event in memory", func() bool {
		return len(ok(e.layers.RegionState(ctx, own, r.ID, 20))(t).GetRecentEvents()) == 1
	})
	down.Store(false)
	eventually(t, "the event on disk", func() bool {
		got, err := e.store.LoadRegionEvents(ctx, own, r.ID, 10)
		return err == nil && len(got) == 1
	})
}

// heldRegionEvents holds the first region event write until release is
// closed.
type heldRegionEvents struct {
	*persistence.Store
	entered, release chan struct{}
	calls            atomic.Int32
}

func (h *heldRegionEvents) AppendRegionEventBatches(ctx context.Context, batches []persistence.RegionEvents, keep int) ([]error, error) {
	if h.calls.Add(1) == 1 {
		close(h.entered)
		<-h.release
	}
	return h.Store.AppendRegionEventBatches(ctx, batches, keep)
}

// A region whose event write is refused because a newer activation holds
// its log (another member took it over) stops, writing nothing, after
// answering the reads sent to it; its next use activates it again.
func TestSupersededRegionStops(t *testing.T) {
	held := &heldRegionEvents{entered: make(chan struct{}), release: make(chan struct{})}
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore { held.Store = s; return held })
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.99, 3600)
	ca := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, ca))(t)
	e.steady(own, ca, 0, 4)
	e.switchTopic(own, ca, 5) // a drift event: its write is held
	<-held.entered
	pid := ok(e.layers.regions.Get(ctx, ownedKey(own, r.ID)))(t)
	var reqs []proto.Message
	for range 6 {
		reqs = append(reqs, &pb.RegionStateRequest{Owner: own, RegionId: r.ID, EventsLimit: 5})
	}
	results := sendNow(e.sys.Root, pid, reqs...)
	if _, err := e.store.ActivateRegion(ctx, own, r.ID); err != nil { // another activation takes the log
		t.Fatal(err)
	}
	close(held.release) // the held write is refused: the region stops once idle
	for i, err := range results() {
		if err != nil {
			t.Errorf("queued read %d: %v, want the region's state", i, err)
		}
	}
	eventually(t, "the superseded region to stop", func() bool { return !e.layers.regions.Has(ownedKey(own, r.ID)) })
	if got := ok(e.layers.RegionState(ctx, own, r.ID, 5))(t); got.GetRegionId() != r.ID {
		t.Fatalf("the region on its next activation: %v", got)
	}
	if got := ok(e.store.LoadRegionEvents(ctx, own, r.ID, 10))(t); len(got) != 0 {
		t.Fatalf("the superseded activation wrote %d events, want none", len(got))
	}
}
