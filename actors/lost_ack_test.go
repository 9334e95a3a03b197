package actors

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
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
	down atomic.Bool  // see isDown
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

func (s *lostAckLayerStore) RecordSample(ctx context.Context, owner, observerID string, epoch int64, items []persistence.LoggedItem, keep int, state string) error {
	return s.lost("RecordSample", s.Store.RecordSample(ctx, owner, observerID, epoch, items, keep, state))
}

func (s *lostAckLayerStore) ClearAnomalies(ctx context.Context, owner, observerID string, epoch int64) error {
	return s.lost("ClearAnomalies", s.Store.ClearAnomalies(ctx, owner, observerID, epoch))
}

// The reads an actor makes to learn what the database holds fail while
// down is set (the database is down): the actors keep serving reads from
// memory meanwhile.

func (s *lostAckLayerStore) isDown() error {
	if s.down.Load() {
		return errAnswerLost
	}
	return nil
}

func (s *lostAckLayerStore) LoadAnomalies(ctx context.Context, owner, observerID string, limit int) ([]persistence.LoggedItem, error) {
	if err := s.isDown(); err != nil {
		return nil, err
	}
	return s.Store.LoadAnomalies(ctx, owner, observerID, limit)
}

func (s *lostAckLayerStore) LoadSampleState(ctx context.Context, owner, observerID string) (string, error) {
	if err := s.isDown(); err != nil {
		return "", err
	}
	return s.Store.LoadSampleState(ctx, owner, observerID)
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

// observedDrift sets up an observer watching a region of one cluster that
// has drifted: its next sample finds one anomaly.
func observedDrift(t *testing.T, e *layersEnv, own string) {
	t.Helper()
	ctx := ctxT(t)
	ca := e.cluster(own, AggregationWeightedAverage, 0)
	e.steady(own, ca, 0, 4)
	watched := e.region(own, 0.99, 3600)
	ok(e.layers.AttachCluster(ctx, own, watched.ID, ca))(t)
	ok2(e.layers.EnsureObserver(ctx, own, 3600, []string{watched.ID}))(t)
	e.switchTopic(own, ca, 5)
	ok(e.layers.ClusterState(ctx, own, ca))(t) // behind the drift event
}

// anomalyIDs lists the anomalies the observer serves, or those stored
// (newest first both).
func anomalyIDs(t *testing.T, e *layersEnv, own string, stored bool) string {
	t.Helper()
	ctx := ctxT(t)
	var as []*pb.Anomaly
	if stored {
		o := ok(e.store.GetObserver(ctx, own))(t)
		as = ok(decodeLogged(ok(e.store.LoadAnomalies(ctx, own, o.ID, maxAnomalies))(t), func() *pb.Anomaly { return &pb.Anomaly{} }))(t)
		slices.Reverse(as)
	} else {
		as = ok(e.layers.ObserverAnomalies(ctx, own, maxAnomalies))(t)
	}
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.GetAnomalyId()
	}
	return strings.Join(ids, " ")
}

// A clear of the anomaly log whose COMMIT landed although the observer was
// told it failed is answered 503, and the observer, which still serves the
// anomalies (also while the database stays down), reads its log again once
// the database answers: it then serves the empty log the database, and a
// restart, hold. Before, it served the cleared anomalies until a restart.
func TestAnAnomalyClearWhoseAnswerIsLostIsSeen(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	observedDrift(t, e, own)
	if got := ok(e.layers.ObserverSample(ctx, own))(t); len(got.GetNewAnomalies()) != 1 {
		t.Fatalf("the sample found %v, want one anomaly", got.GetNewAnomalies())
	}

	s.lose.Store("ClearAnomalies")
	s.down.Store(true) // and the database is down right after
	if _, err := e.layers.ClearAnomalies(ctx, own); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a clear whose answer is lost: %v, want unavailable", err)
	}
	time.Sleep(1500 * time.Millisecond) // a resync fails meanwhile
	if got := anomalyIDs(t, e, own, false); got == "" {
		t.Fatal("the observer stopped serving its anomalies while the database was down")
	}
	s.down.Store(false)
	eventually(t, "the observer serving the cleared log", func() bool { return anomalyIDs(t, e, own, false) == "" })
	if sum := ok(e.layers.ObserverSummary(ctx, own, 20))(t); sum.GetAnomalyCount() != 0 {
		t.Fatalf("the summary counts %d anomalies", sum.GetAnomalyCount())
	}
	e.restart()
	if got := anomalyIDs(t, e, own, false); got != "" {
		t.Fatalf("after a restart: anomalies %s", got)
	}
}

// A sample whose write (its anomalies and the observer's sample state)
// landed although the observer was told it failed is answered 503; the
// observer then reads its log and state again and serves what the database
// holds, and its next samples neither raise the episode again nor collide
// with the anomalies stored. Before, it served neither the anomaly nor the
// sample, and every later sample that found the anomaly again wrote it
// under the number already stored and failed, until a restart.
func TestASampleWhoseAnswerIsLostIsSeen(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	observedDrift(t, e, own)

	s.lose.Store("RecordSample")
	if _, err := e.layers.ObserverSample(ctx, own); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a sample whose answer is lost: %v, want unavailable", err)
	}
	stored := anomalyIDs(t, e, own, true)
	if stored == "" {
		t.Fatal("the lost sample's anomaly is not on disk")
	}
	eventually(t, "the observer serving the stored anomaly", func() bool { return anomalyIDs(t, e, own, false) == stored })
	if sum := ok(e.layers.ObserverSummary(ctx, own, 20))(t); sum.GetSamples() != 1 {
		t.Fatalf("the summary counts %d samples, want the 1 stored", sum.GetSamples())
	}
	if got := ok(e.layers.ObserverSample(ctx, own))(t); len(got.GetNewAnomalies()) != 0 {
		t.Fatalf("the next sample raised %v again", got.GetNewAnomalies())
	}
	before := ok(e.layers.ObserverSummary(ctx, own, 20))(t)
	e.restart()
	after := ok(e.layers.ObserverSummary(ctxT(t), own, 20))(t)
	if after.GetSamples() != before.GetSamples() || after.GetAnomalyCount() != before.GetAnomalyCount() || anomalyIDs(t, e, own, false) != stored {
		t.Fatalf("after a restart: %v\nbefore it: %v", after, before)
	}
}
