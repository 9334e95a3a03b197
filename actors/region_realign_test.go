package actors

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// realignRecordDown fails RecordRealignment while down is set (the
// database is down, or the process dies before the write) and counts the
// calls.
type realignRecordDown struct {
	*persistence.Store
	down  *atomic.Bool
	calls *atomic.Int64
}

func (d realignRecordDown) RecordRealignment(ctx context.Context, owner, regionID string, epoch int64, at time.Time, count int64) error {
	defer d.calls.Add(1)
	if d.down.Load() {
		return semvec.Wrap(semvec.KindUnavailable, errors.New("connection refused"), "database unavailable")
	}
	return d.Store.RecordRealignment(ctx, owner, regionID, epoch, at, count)
}

func newRealignDownEnv(t *testing.T) (*layersEnv, *atomic.Bool, *atomic.Int64) {
	var down atomic.Bool
	var calls atomic.Int64
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore { return realignRecordDown{Store: s, down: &down, calls: &calls} })
	return e, &down, &calls
}

// regionRecord is what a region reports of its realignments and votes.
func regionRecord(rs *pb.RegionStateResponse) string {
	votes := ""
	for _, v := range rs.GetActiveVotes() {
		votes += fmt.Sprintf(" %s@%d", v.GetClusterId(), v.GetAtUnixNano())
	}
	return fmt.Sprintf("realignments %d, last_realignment %d, votes [%s]", rs.GetRealignments(), rs.GetLastRealignmentUnixNano(), votes)
}

// storedRecord is the same read from the database (votes aside).
func storedRecord(t *testing.T, e *layersEnv, owner, regionID string) (int64, int64) {
	t.Helper()
	rec := ok(e.store.GetRegion(ctxT(t), owner, regionID))(t)
	var last int64
	if rec.LastRealignment != nil {
		last = rec.LastRealignment.UnixNano()
	}
	return rec.Realignments, last
}

// A realignment whose RecordRealignment fails leaves the region's
// realignment record as it was (in memory as in the database), and the
// realignment is done again, counted once, when the database is back.
func TestRealignmentRecordFailureChangesNothing(t *testing.T) {
	e, down, calls := newRealignDownEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.5, 3600)
	ca := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, ca))(t)
	e.steady(own, ca, 0, 4)

	down.Store(true)
	e.switchTopic(own, ca, 5) // 1 of 1 > 0.5: realigns, and the record fails
	eventually(t, "the failed record", func() bool { return calls.Load() >= 1 })
	down.Store(false)
	e.steady(own, ca, 5, 3)
	e.switchTopic(own, ca, 6) // realigns again, recorded this time

	var rs *pb.RegionStateResponse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		rs = ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
		n, last := storedRecord(t, e, own, r.ID)
		if n >= 1 && int64(rs.GetRealignments()) == n && rs.GetLastRealignmentUnixNano() == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the region reports %d realignments, the last at %d; the database holds %d, the last at %d",
				rs.GetRealignments(), rs.GetLastRealignmentUnixNano(), n, last)
		}
	}
	if n, _ := storedRecord(t, e, own, r.ID); n != 1 {
		t.Fatalf("%d realignments stored, want 1 (the failed one is not counted)", n)
	}
	before := regionRecord(rs)
	e.restart()
	if after := regionRecord(ok(e.layers.RegionState(ctxT(t), own, r.ID, 20))(t)); after != before {
		t.Fatalf("after the restart: %s\nbefore it:         %s", after, before)
	}
}

// A process that dies before a realignment is recorded does not move the
// vectors twice: after the restart the realignment is done (and counted)
// once, so the meta session holds one turn per counted realignment.
func TestUnrecordedRealignmentMovesVectorsOnce(t *testing.T) {
	e, down, calls := newRealignDownEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.6, 3600)
	ca, cb := e.cluster(own, AggregationWeightedAverage, 0), e.cluster(own, AggregationWeightedAverage, 0)
	for _, c := range []string{ca, cb} {
		ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	}
	e.steady(own, ca, 0, 4)
	e.steady(own, cb, 1, 4)

	down.Store(true)
	e.switchTopic(own, ca, 5)
	e.switchTopic(own, cb, 6) // 2 of 2 > 0.6: realigns; the record is never written
	eventually(t, "the unwritten record", func() bool { return calls.Load() >= 1 })
	down.Store(false)
	e.restart() // as after a crash: the database holds no realignment
	ctx = ctxT(t)

	e.steady(own, ca, 5, 3)
	e.switchTopic(own, ca, 7)
	eventually(t, "a recorded realignment", func() bool {
		return ok(e.layers.RegionState(ctx, own, r.ID, 20))(t).GetRealignments() >= 1
	})
	n, _ := storedRecord(t, e, own, r.ID)
	if turns := int64(e.state(own, r.MetaSessionID).GetInteractionCount()); turns != n {
		t.Fatalf("the meta session holds %d realignment turns, the region counts %d", turns, n)
	}
}

// The events that vote are the same in memory and after a restart, whatever
// their timestamps: one stamped before the last realignment but arriving
// after it, and one stamped after the time the realignment recorded but
// arriving before it.
func TestVotesAgreeAcrossRestartWhateverTheirTimestamps(t *testing.T) {
	for _, late := range []bool{true, false} {
		t.Run(fmt.Sprintf("late=%v", late), func(t *testing.T) {
			e := newLayersEnv(t)
			ctx := ctxT(t)
			const own = "tenant-a"
			r := e.region(own, 0.5, 3600)
			ca, cb := e.cluster(own, AggregationWeightedAverage, 0), e.cluster(own, AggregationWeightedAverage, 0)
			for _, c := range []string{ca, cb} {
				ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
			}
			tell := func(cluster string, at time.Time) {
				e.layers.regions.Tell(ownedKey(own, r.ID), &pb.DriftEvent{Owner: own, ClusterId: cluster, SessionId: cluster,
					DriftScore: 1, DriftPhase: "drifted", AtUnixNano: at.UnixNano()}, true)
			}
			now := time.Now()
			if late {
				tell(ca, now)
			} else {
				tell(ca, now.Add(time.Minute)) // stamped ahead of the region's clock
			}
			tell(cb, now) // 2 of 2 > 0.5: realigns
			eventually(t, "the realignment", func() bool {
				return ok(e.layers.RegionState(ctx, own, r.ID, 20))(t).GetRealignments() == 1
			})
			if late {
				last := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t).GetLastRealignmentUnixNano()
				tell(ca, time.Unix(0, last).Add(-time.Millisecond)) // stamped before it, arriving after
			}
			want := 2
			if late {
				want = 3
			}
			var rs *pb.RegionStateResponse
			eventually(t, "the events", func() bool {
				rs = ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
				return len(rs.GetRecentEvents()) == want
			})
			before := regionRecord(rs)
			e.restart()
			if after := regionRecord(ok(e.layers.RegionState(ctxT(t), own, r.ID, 20))(t)); after != before {
				t.Fatalf("after the restart: %s\nbefore it:         %s", after, before)
			}
		})
	}
}
