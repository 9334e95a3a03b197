package actors

import (
	"context"
	"slices"
	"strings"
	"sync"
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
	lose     atomic.Value // string: the method whose next successful call is reported failed
	down     atomic.Bool  // see isDown
	thenDown atomic.Bool  // the database goes down (down) as the armed write's answer is lost

	mu      sync.Mutex
	refused map[string]int // reads refused while down, by refusal key (isDown)
}

// errAnswerLost is what a write whose answer was lost reports.
var errAnswerLost = semvec.Errorf(semvec.KindUnavailable, "database unavailable")

func (s *lostAckLayerStore) lost(method string, err error) error {
	if err == nil && s.lose.CompareAndSwap(method, "") {
		if s.thenDown.Load() {
			s.down.Store(true)
		}
		return errAnswerLost
	}
	return err
}

// armed reports whether the armed write has not happened yet.
func (s *lostAckLayerStore) armed() bool { return s.lose.Load() != "" }

func (s *lostAckLayerStore) AppendRegionEventBatches(ctx context.Context, batches []persistence.RegionEvents, keep int) ([]error, error) {
	refused, err := s.Store.AppendRegionEventBatches(ctx, batches, keep)
	return refused, s.lost("AppendRegionEvents", err)
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

func (s *lostAckLayerStore) AddMember(ctx context.Context, owner, clusterID, sessionID string) (bool, error) {
	added, err := s.Store.AddMember(ctx, owner, clusterID, sessionID)
	return added, s.lost("AddMember", err)
}

func (s *lostAckLayerStore) RemoveMember(ctx context.Context, owner, clusterID, sessionID string) error {
	return s.lost("RemoveMember", s.Store.RemoveMember(ctx, owner, clusterID, sessionID))
}

func (s *lostAckLayerStore) AttachCluster(ctx context.Context, owner, regionID, clusterID string) (bool, error) {
	added, err := s.Store.AttachCluster(ctx, owner, regionID, clusterID)
	return added, s.lost("AttachCluster", err)
}

func (s *lostAckLayerStore) DetachCluster(ctx context.Context, owner, regionID, clusterID string) error {
	return s.lost("DetachCluster", s.Store.DetachCluster(ctx, owner, regionID, clusterID))
}

func (s *lostAckLayerStore) RegisterObserverRegion(ctx context.Context, owner, regionID string) (int, error) {
	n, err := s.Store.RegisterObserverRegion(ctx, owner, regionID)
	return n, s.lost("RegisterObserverRegion", err)
}

func (s *lostAckLayerStore) UnregisterObserverRegion(ctx context.Context, owner, regionID string) (int, error) {
	n, err := s.Store.UnregisterObserverRegion(ctx, owner, regionID)
	return n, s.lost("UnregisterObserverRegion", err)
}

func (s *lostAckLayerStore) DeleteCluster(ctx context.Context, owner, id string) (persistence.Unlinked, error) {
	u, err := s.Store.DeleteCluster(ctx, owner, id)
	return u, s.lost("DeleteCluster", err)
}

func (s *lostAckLayerStore) DeleteRegion(ctx context.Context, owner, id string) (persistence.Unlinked, error) {
	u, err := s.Store.DeleteRegion(ctx, owner, id)
	return u, s.lost("DeleteRegion", err)
}

// The reads an actor makes to learn what the database holds fail while
// down is set (the database is down): the actors keep serving reads from
// memory meanwhile.

func (s *lostAckLayerStore) isDown(method, owner, id string) error {
	if !s.down.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]int{}
	}
	s.refused[refusalKey(method, owner, id)]++
	return errAnswerLost
}

// refusalKey names the reads of method for owner's resource id.
func refusalKey(method, owner, id string) string { return method + ":" + owner + "/" + id }

// awaitRefusals waits until each read of keys has been refused twice since
// the last call (while the database is down). An actor tries a failed read
// again only after it has dealt with the failure (a second later), so what
// it serves after its second refusal is what a failed reload leaves it:
// the check that follows needs no sleep.
func (s *lostAckLayerStore) awaitRefusals(t *testing.T, keys ...string) {
	t.Helper()
	eventually(t, "reads refused twice: "+strings.Join(keys, ", "), func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, k := range keys {
			if s.refused[k] < 2 {
				return false
			}
		}
		return true
	})
	s.mu.Lock()
	clear(s.refused)
	s.mu.Unlock()
}

func (s *lostAckLayerStore) LoadAnomalies(ctx context.Context, owner, observerID string, limit int) ([]persistence.LoggedItem, error) {
	if err := s.isDown("LoadAnomalies", owner, ""); err != nil {
		return nil, err
	}
	return s.Store.LoadAnomalies(ctx, owner, observerID, limit)
}

func (s *lostAckLayerStore) LoadSampleState(ctx context.Context, owner, observerID string) (string, error) {
	if err := s.isDown("LoadSampleState", owner, ""); err != nil {
		return "", err
	}
	return s.Store.LoadSampleState(ctx, owner, observerID)
}

func (s *lostAckLayerStore) GetCluster(ctx context.Context, owner, id string) (persistence.ClusterRecord, error) {
	if err := s.isDown("GetCluster", owner, id); err != nil {
		return persistence.ClusterRecord{}, err
	}
	return s.Store.GetCluster(ctx, owner, id)
}

func (s *lostAckLayerStore) GetRegion(ctx context.Context, owner, id string) (persistence.RegionRecord, error) {
	if err := s.isDown("GetRegion", owner, id); err != nil {
		return persistence.RegionRecord{}, err
	}
	return s.Store.GetRegion(ctx, owner, id)
}

func (s *lostAckLayerStore) GetObserver(ctx context.Context, owner string) (persistence.ObserverRecord, error) {
	if err := s.isDown("GetObserver", owner, ""); err != nil {
		return persistence.ObserverRecord{}, err
	}
	return s.Store.GetObserver(ctx, owner)
}

func newLostAckEnv(t *testing.T) (*layersEnv, *lostAckLayerStore) {
	t.Helper()
	s := &lostAckLayerStore{}
	s.lose.Store("")
	return newWrappedLayersEnv(t, func(st *persistence.Store) LayerStore { s.Store = st; return s }), s
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
	s.awaitRefusals(t, refusalKey("LoadAnomalies", own, "")) // the observer's resyncs fail
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

// wantIDs fails unless got lists want (in any order) when.
func wantIDs(t *testing.T, when string, got []string, want ...string) {
	t.Helper()
	if !sameIDs(got, want) {
		t.Fatalf("%s: %v, want %v", when, got, want)
	}
}

func sameIDs(got, want []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want)))
}

// A membership change whose COMMIT landed although the request was told it
// failed is answered 503, and the cluster's actor, which serves its members
// from memory (also while the database stays down), reloads its view once
// the database answers: it then lists the members the database, and a
// restart, hold. A retry answers as the database does, and a read after it
// sees it. Before, the cluster listed the members it had until the next
// change or a restart.
func TestAMembershipChangeWhoseAnswerIsLostIsSeen(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	cid, sid := e.cluster(own, AggregationWeightedAverage, 0), e.session(own)
	members := func() []string { return ok(e.layers.ClusterState(ctx, own, cid))(t).GetMemberIds() }
	wantIDs(t, "before", members())

	s.lose.Store("AddMember")
	s.down.Store(true) // and the database is down right after
	if _, err := e.layers.AddMember(ctx, own, cid, sid); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("an addition whose answer is lost: %v, want unavailable", err)
	}
	s.awaitRefusals(t, refusalKey("GetCluster", own, cid)) // the cluster's reloads fail
	wantIDs(t, "while the database is down", members())
	s.down.Store(false)
	eventually(t, "the cluster listing the member stored", func() bool { return sameIDs(members(), []string{sid}) })
	if added := ok(e.layers.AddMember(ctx, own, cid, sid))(t); added {
		t.Fatal("the retry reports the member added; it already was one")
	}
	wantIDs(t, "after the retry", members(), sid)

	s.lose.Store("RemoveMember")
	if err := e.layers.RemoveMember(ctx, own, cid, sid); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a removal whose answer is lost: %v, want unavailable", err)
	}
	eventually(t, "the cluster no longer listing the member", func() bool { return len(members()) == 0 })
	wantNotFound(t, "the retry", e.layers.RemoveMember(ctx, own, cid, sid))
	e.restart()
	ctx = ctxT(t)
	wantIDs(t, "after a restart", members())
}

// The same for a region link: the region and the cluster list what the
// database holds once it answers.
func TestARegionLinkWhoseAnswerIsLostIsSeen(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r, cid := e.region(own, 0.5, 3600), e.cluster(own, AggregationWeightedAverage, 0)
	links := func() ([]string, []string) {
		return ok(e.layers.RegionState(ctx, own, r.ID, 0))(t).GetClusterIds(), ok(e.layers.ClusterState(ctx, own, cid))(t).GetRegionIds()
	}
	linked := func(want bool) func() bool {
		return func() bool {
			cs, rs := links()
			return (len(cs) == 1 && len(rs) == 1) == want && (len(cs) == 0 && len(rs) == 0) == !want
		}
	}
	if !linked(false)() {
		t.Fatal("linked before the attachment")
	}

	s.lose.Store("AttachCluster")
	s.down.Store(true)
	if _, err := e.layers.AttachCluster(ctx, own, r.ID, cid); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("an attachment whose answer is lost: %v, want unavailable", err)
	}
	s.awaitRefusals(t, refusalKey("GetRegion", own, r.ID), refusalKey("GetCluster", own, cid))
	if !linked(false)() {
		t.Fatal("the views changed while the database was down")
	}
	s.down.Store(false)
	eventually(t, "the region and the cluster listing the link", linked(true))

	s.lose.Store("DetachCluster")
	if err := e.layers.DetachCluster(ctx, own, r.ID, cid); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a detachment whose answer is lost: %v, want unavailable", err)
	}
	eventually(t, "the region and the cluster no longer listing the link", linked(false))
}

// The same for an observer registration.
func TestARegistrationWhoseAnswerIsLostIsSeen(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.5, 3600)
	ok2(e.layers.EnsureObserver(ctx, own, 3600, nil))(t)
	regions := func() []string { return ok(e.layers.ObserverSummary(ctx, own, 0))(t).GetRegionIds() }
	wantIDs(t, "before", regions())

	s.lose.Store("RegisterObserverRegion")
	s.down.Store(true)
	if _, _, err := e.layers.RegisterRegion(ctx, own, r.ID); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a registration whose answer is lost: %v, want unavailable", err)
	}
	s.awaitRefusals(t, refusalKey("GetObserver", own, ""))
	wantIDs(t, "while the database is down", regions())
	s.down.Store(false)
	eventually(t, "the observer listing the region", func() bool { return sameIDs(regions(), []string{r.ID}) })

	s.lose.Store("UnregisterObserverRegion")
	if _, _, err := e.layers.UnregisterRegion(ctx, own, r.ID); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("an unregistration whose answer is lost: %v, want unavailable", err)
	}
	eventually(t, "the observer no longer listing the region", func() bool { return len(regions()) == 0 })
}

// A deletion whose COMMIT landed although the request was told it failed is
// answered 503; the deleted cluster's or region's actor keeps answering
// while the database is down, then finds it gone and stops: reads answer
// 404, as after a restart. Before, the actor served the deleted resource
// until a restart.
func TestADeletionWhoseAnswerIsLostIsSeen(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r, cid := e.region(own, 0.5, 3600), e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, cid))(t)
	ok(e.layers.ClusterState(ctx, own, cid))(t) // both actors run
	ok(e.layers.RegionState(ctx, own, r.ID, 0))(t)

	s.lose.Store("DeleteCluster")
	s.thenDown.Store(true) // the deletion reads the cluster first
	if err := e.layers.DeleteCluster(ctx, own, cid); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a deletion whose answer is lost: %v, want unavailable", err)
	}
	s.awaitRefusals(t, refusalKey("GetCluster", own, cid))
	if err := e.layers.ClusterExists(ctx, own, cid); err != nil {
		t.Fatalf("the cluster's actor stopped answering while the database was down: %v", err)
	}
	s.down.Store(false)
	s.thenDown.Store(false)
	eventually(t, "the deleted cluster answering 404", func() bool {
		return semvec.KindOf(e.layers.ClusterExists(ctx, own, cid)) == semvec.KindNotFound
	})
	eventually(t, "the region no longer listing the deleted cluster", func() bool {
		return len(ok(e.layers.RegionState(ctx, own, r.ID, 0))(t).GetClusterIds()) == 0
	})
	eventually(t, "the deleted cluster's backing session answering 404", func() bool {
		_, err := AskSession[*pb.StateResponse](ctx, e.sessions, cid, &pb.StateRequest{Owner: own, SessionId: cid})
		return semvec.KindOf(err) == semvec.KindNotFound
	})

	ok(AskSession[*pb.StateResponse](ctx, e.sessions, r.MetaSessionID, &pb.StateRequest{Owner: own, SessionId: r.MetaSessionID}))(t) // it runs
	s.lose.Store("DeleteRegion")
	if err := e.layers.DeleteRegion(ctx, own, r.ID); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a deletion whose answer is lost: %v, want unavailable", err)
	}
	eventually(t, "the deleted region answering 404", func() bool {
		_, err := e.layers.RegionState(ctx, own, r.ID, 0)
		return semvec.KindOf(err) == semvec.KindNotFound
	})
	eventually(t, "the deleted region's meta session answering 404", func() bool {
		_, err := AskSession[*pb.StateResponse](ctx, e.sessions, r.MetaSessionID, &pb.StateRequest{Owner: own, SessionId: r.MetaSessionID})
		return semvec.KindOf(err) == semvec.KindNotFound
	})
}

// A deletion whose answer is lost while the deleted cluster's or region's
// actor is not running: no actor of its own finds it gone, so the deletion
// itself tells the links it read first. The region, cluster and observer
// that listed it reload their views and drop it. Before, they listed the
// deleted cluster or region until their next change or a restart.
func TestADeletionWhoseActorIsNotRunningIsSeenByItsLinks(t *testing.T) {
	e, s := newLostAckEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r, cid := e.region(own, 0.5, 3600), e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, cid))(t)
	if got := ok(e.layers.RegionState(ctx, own, r.ID, 0))(t).GetClusterIds(); !sameIDs(got, []string{cid}) {
		t.Fatalf("the region lists %v, want [%s]", got, cid)
	}
	e.layers.clusters.Halt(ctx, ownedKey(own, cid), false)
	if e.layers.clusters.Has(ownedKey(own, cid)) {
		t.Fatal("the cluster's actor still runs")
	}

	s.lose.Store("DeleteCluster")
	if err := e.layers.DeleteCluster(ctx, own, cid); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a deletion whose answer is lost: %v, want unavailable", err)
	}
	eventually(t, "the region no longer listing the deleted cluster", func() bool {
		return len(ok(e.layers.RegionState(ctx, own, r.ID, 0))(t).GetClusterIds()) == 0
	})

	// A region, registered with the observer and linked to a running cluster.
	cid2 := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, cid2))(t)
	ok2(e.layers.EnsureObserver(ctx, own, 3600, nil))(t)
	ok2(e.layers.RegisterRegion(ctx, own, r.ID))(t)
	if got := ok(e.layers.ClusterState(ctx, own, cid2))(t).GetRegionIds(); !sameIDs(got, []string{r.ID}) {
		t.Fatalf("the cluster lists regions %v, want [%s]", got, r.ID)
	}
	wantIDs(t, "the observer's regions", ok(e.layers.ObserverSummary(ctx, own, 0))(t).GetRegionIds(), r.ID)
	e.layers.regions.Halt(ctx, ownedKey(own, r.ID), false)
	if e.layers.regions.Has(ownedKey(own, r.ID)) {
		t.Fatal("the region's actor still runs")
	}

	s.lose.Store("DeleteRegion")
	if err := e.layers.DeleteRegion(ctx, own, r.ID); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a deletion whose answer is lost: %v, want unavailable", err)
	}
	eventually(t, "the cluster no longer listing the deleted region", func() bool {
		return len(ok(e.layers.ClusterState(ctx, own, cid2))(t).GetRegionIds()) == 0
	})
	eventually(t, "the observer no longer listing the deleted region", func() bool {
		return len(ok(e.layers.ObserverSummary(ctx, own, 0))(t).GetRegionIds()) == 0
	})
}

// lostAckSessionStore commits the next session deletion once armed and
// then reports it failed.
type lostAckSessionStore struct {
	*persistence.Store
	armed atomic.Bool
}

func (s *lostAckSessionStore) DeleteSession(ctx context.Context, owner, id string) (persistence.Unlinked, error) {
	u, err := s.Store.DeleteSession(ctx, owner, id)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		return persistence.Unlinked{}, errAnswerLost
	}
	return u, err
}

// A session deletion whose COMMIT landed with its answer lost answers 503,
// and the session is then what the database says: gone (404), not served
// from the memory of an actor still running. Before, reads and turns were
// answered from memory until the actor passivated.
func TestASessionDeletionWhoseAnswerIsLostIsSeen(t *testing.T) {
	del := &lostAckSessionStore{}
	e := newWrappedSessionsEnv(t, func(s *persistence.Store) SessionStore { del.Store = s; return del })
	ctx := ctxT(t)
	const own = "tenant-a"
	sid := e.session(own)
	e.run(own, sid, topic(1, 0))

	del.armed.Store(true)
	if err := e.sessions.Delete(ctx, own, sid); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a deletion whose answer is lost: %v, want unavailable", err)
	}
	if _, err := AskSession[*pb.StateResponse](ctx, e.sessions, sid, &pb.StateRequest{Owner: own, SessionId: sid}); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("the deleted session's state: %v, want not found", err)
	}
}
