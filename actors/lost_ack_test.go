package actors

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// The layers' writes whose COMMIT lands while its answer is lost (a
// connection cut, a database frozen just after it): the actors must not
// serve, from memory, something other than what a restart would serve.

// lostAckLayerStore commits the next call of the method it is armed for
// (lose) and then reports it failed, as lostAckNetStore does for the
// network state.
type lostAckLayerStore struct {
	*persistence.Store
	lose atomic.Value // string: the method whose next successful call is reported failed
}

// errAnswerLost is what a write whose answer was lost reports.
var errAnswerLost = semvec.Errorf(semvec.KindUnavailable, "database unavailable")

func (s *lostAckLayerStore) lost(method string, err error) error {
	if err == nil && s.lose.CompareAndSwap(method, "") {
		return errAnswerLost
	}
	return err
}

// armed reports whether the armed write has not happened yet.
func (s *lostAckLayerStore) armed() bool { return s.lose.Load() != "" }

func (s *lostAckLayerStore) AppendRegionEvents(ctx context.Context, owner, regionID string, epoch int64, items []persistence.LoggedItem, keep int) error {
	return s.lost("AppendRegionEvents", s.Store.AppendRegionEvents(ctx, owner, regionID, epoch, items, keep))
}

func (s *lostAckLayerStore) RecordRealignment(ctx context.Context, owner, regionID string, epoch int64, at time.Time, count int64) error {
	return s.lost("RecordRealignment", s.Store.RecordRealignment(ctx, owner, regionID, epoch, at, count))
}

func newLostAckEnv(t *testing.T) (*layersEnv, *lostAckLayerStore) {
	t.Helper()
	s := &lostAckLayerStore{}
	s.lose.Store("")
	e := &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db"),
		wrap: func(st *persistence.Store) LayerStore { s.Store = st; return s }}
	e.start()
	t.Cleanup(e.stop)
	return e, s
}

// A batch of drift events whose write landed although the region was told
// it failed is written again (the region cannot know it landed) without
// wedging the log: the entries already stored are kept, and the events
// after them reach the database. Before, the second write of the same
// entries collided with the first and failed, every second, for as long as
// the region ran: no later event reached the database.
func TestARegionEventWriteWhoseAnswerIsLostIsNotWedged(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.99, 3600)
	ca := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, ca))(t)
	e.steady(own, ca, 0, 4)

	s.lose.Store("AppendRegionEvents")
	e.switchTopic(own, ca, 5)
	eventually(t, "the write whose answer is lost", func() bool { return !s.armed() })
	e.steady(own, ca, 5, 3)
	e.switchTopic(own, ca, 6)
	eventually(t, "both events on disk", func() bool {
		got, err := e.store.LoadRegionEvents(ctx, own, r.ID, 10)
		return err == nil && len(got) == 2
	})
	before := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if len(before.GetRecentEvents()) != 2 {
		t.Fatalf("the region shows %d events, want 2", len(before.GetRecentEvents()))
	}
	e.restart()
	if after := ok(e.layers.RegionState(ctxT(t), own, r.ID, 20))(t); len(after.GetRecentEvents()) != 2 ||
		after.GetRecentEvents()[0].GetAtUnixNano() != before.GetRecentEvents()[0].GetAtUnixNano() {
		t.Fatalf("after a restart: events %v, before it %v", after.GetRecentEvents(), before.GetRecentEvents())
	}
}

// A realignment whose record landed although the region was told it failed
// (so it moved nothing and kept its votes) is done again a second later,
// counted once: the region reports what the database holds, and the meta
// session holds one turn per counted realignment. Before, the region
// reported no realignment while the database (and a restart) held one,
// until the next drift event.
func TestARealignmentRecordWhoseAnswerIsLostIsDoneAgain(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.5, 3600)
	ca := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, ca))(t)
	e.steady(own, ca, 0, 4)

	s.lose.Store("RecordRealignment")
	e.switchTopic(own, ca, 5) // 1 of 1 > 0.5: realigns; the record lands, its answer is lost
	eventually(t, "the record whose answer is lost", func() bool { return !s.armed() })
	var rs *pb.RegionStateResponse
	eventually(t, "the region reporting what the database holds", func() bool {
		rs = ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
		n, last := storedRecord(t, e, own, r.ID)
		return rs.GetRealignments() == 1 && int64(rs.GetRealignments()) == n && rs.GetLastRealignmentUnixNano() == last
	})
	if turns := e.state(own, r.MetaSessionID).GetInteractionCount(); turns != 1 {
		t.Fatalf("the meta session holds %d realignment turns, want 1", turns)
	}
	before := regionRecord(rs)
	e.restart()
	if after := regionRecord(ok(e.layers.RegionState(ctxT(t), own, r.ID, 20))(t)); after != before {
		t.Fatalf("after the restart: %s\nbefore it:         %s", after, before)
	}
}

// When the votes of a realignment whose record's answer was lost have left
// the window before it could be done again, the region writes back the
// record it holds: the database, and a restart, show no realignment, as
// the region did.
func TestARealignmentRecordWhoseAnswerIsLostIsUndoneOnceItsVotesExpired(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.5, 0.2)
	ca := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, ca))(t)
	e.steady(own, ca, 0, 4)

	s.lose.Store("RecordRealignment")
	e.switchTopic(own, ca, 5)
	eventually(t, "the record whose answer is lost", func() bool { return !s.armed() })
	eventually(t, "the database holding the region's record again", func() bool {
		n, last := storedRecord(t, e, own, r.ID)
		return n == 0 && last == 0
	})
	if rs := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t); rs.GetRealignments() != 0 || rs.GetLastRealignmentUnixNano() != 0 {
		t.Fatalf("the region reports %s", regionRecord(rs))
	}
	if turns := e.state(own, r.MetaSessionID).GetInteractionCount(); turns != 0 {
		t.Fatalf("the meta session holds %d realignment turns, want 0", turns)
	}
}
