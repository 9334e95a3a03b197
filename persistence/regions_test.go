package persistence_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

func region(owner, id string, sec int) (persistence.RegionRecord, persistence.SessionRecord) {
	return persistence.RegionRecord{
			ID: id, Owner: owner, Name: "region-" + id, MetaSessionID: id + "-meta",
			ConsensusThreshold: 0.6, VoteWindowSeconds: 30, CreatedAt: ts(sec),
		}, persistence.SessionRecord{
			Dimension: 384, ModelName: "hash-384",
		}
}

func TestRegionCRUD(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		r1, m1 := region("alice", "r1", 10)
		must(t, s.CreateRegion(ctx, r1, m1))
		r2, m2 := region("alice", "r2", 11)
		must(t, s.CreateRegion(ctx, r2, m2))
		rb, mb := region("bob", "rb", 12)
		must(t, s.CreateRegion(ctx, rb, mb))

		got, err := s.GetRegion(ctx, "alice", "r1")
		must(t, err)
		want := r1
		want.CreatedAt = us(r1.CreatedAt)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("GetRegion = %+v, want %+v", got, want)
		}
		meta, err := s.GetSession(ctx, "alice", "r1-meta")
		must(t, err)
		if meta.Kind != persistence.SessionKindRegionMeta {
			t.Fatalf("meta session kind %q", meta.Kind)
		}

		wantKind(t, s.CreateRegion(ctx, r1, persistence.SessionRecord{ID: "fresh-meta"}), semvec.KindInvalid, "")
		dup := r1
		dup.MetaSessionID = "fresh-meta"
		wantKind(t, s.CreateRegion(ctx, dup, persistence.SessionRecord{}), semvec.KindConflict, "Region already exists")
		if _, err := s.GetSession(ctx, "alice", "fresh-meta"); err == nil {
			t.Fatal("failed CreateRegion left its meta session behind")
		}

		_, err = s.GetRegion(ctx, "bob", "r1")
		wantKind(t, err, semvec.KindNotFound, "Region not found")
		wantKind(t, errOf(s.DeleteRegion(ctx, "bob", "r1")), semvec.KindNotFound, "Region not found")

		at := ts(40)
		must(t, s.RecordRealignment(ctx, "alice", "r1", 0, at, 1))
		got, _ = s.GetRegion(ctx, "alice", "r1")
		if got.LastRealignment == nil || !got.LastRealignment.Equal(us(at)) || got.LastRealignment.Location() != time.UTC || got.Realignments != 1 {
			t.Fatalf("LastRealignment = %v, Realignments = %d", got.LastRealignment, got.Realignments)
		}
		// The record is a value: written again (an answer lost), it counts
		// nothing twice.
		must(t, s.RecordRealignment(ctx, "alice", "r1", 0, ts(41), 2))
		must(t, s.RecordRealignment(ctx, "alice", "r1", 0, ts(41), 2))
		if got, _ = s.GetRegion(ctx, "alice", "r1"); got.Realignments != 2 || !got.LastRealignment.Equal(us(ts(41))) {
			t.Fatalf("Realignments = %d, LastRealignment = %v; want 2 at %v", got.Realignments, got.LastRealignment, us(ts(41)))
		}
		// Fenced: once a newer activation holds the region, an older one
		// writes nothing.
		epoch, err := s.ActivateRegion(ctx, "alice", "r1")
		must(t, err)
		if err := s.RecordRealignment(ctx, "alice", "r1", epoch-1, ts(42), 3); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("RecordRealignment of a superseded activation = %v, want ErrSuperseded", err)
		}
		must(t, s.RecordRealignment(ctx, "alice", "r1", epoch, ts(42), 3))
		if got, _ = s.GetRegion(ctx, "alice", "r1"); got.Realignments != 3 {
			t.Fatalf("Realignments = %d, want 3", got.Realignments)
		}
		// A zero time writes back "no realignment yet" (a region undoing a
		// record whose answer was lost).
		must(t, s.RecordRealignment(ctx, "alice", "r1", epoch, time.Time{}, 0))
		if got, _ = s.GetRegion(ctx, "alice", "r1"); got.Realignments != 0 || got.LastRealignment != nil {
			t.Fatalf("Realignments = %d, LastRealignment = %v; want 0, none", got.Realignments, got.LastRealignment)
		}
		must(t, s.RecordRealignment(ctx, "alice", "r1", epoch, ts(42), 3))
		wantKind(t, s.RecordRealignment(ctx, "alice", "nope", 0, at, 1), semvec.KindNotFound, "Region not found")
		wantKind(t, s.RecordRealignment(ctx, "bob", "r1", 0, at, 1), semvec.KindNotFound, "Region not found")

		// Attach / detach.
		c1, b1 := cluster("alice", "c1", 1)
		must(t, s.CreateCluster(ctx, c1, b1))
		c2, b2 := cluster("alice", "c2", 2)
		must(t, s.CreateCluster(ctx, c2, b2))
		cb, bb := cluster("bob", "cb", 3)
		must(t, s.CreateCluster(ctx, cb, bb))

		added, err := s.AttachCluster(ctx, "alice", "r1", "c1")
		must(t, err)
		if !added {
			t.Fatal("AttachCluster: added = false")
		}
		if added, _ = s.AttachCluster(ctx, "alice", "r1", "c1"); added {
			t.Fatal("repeated AttachCluster: added = true")
		}
		_, err = s.AttachCluster(ctx, "alice", "r1", "c2")
		must(t, err)
		_, err = s.AttachCluster(ctx, "alice", "r2", "c1")
		must(t, err)
		_, err = s.AttachCluster(ctx, "alice", "r1", "cb")
		wantKind(t, err, semvec.KindNotFound, "Cluster not found")
		_, err = s.AttachCluster(ctx, "alice", "rb", "c1")
		wantKind(t, err, semvec.KindNotFound, "Region not found")

		rc, err := s.RegionClusters(ctx, "alice", "r1")
		must(t, err)
		if !slices.Equal(rc, []string{"c1", "c2"}) {
			t.Fatalf("RegionClusters(r1) = %v", rc)
		}
		of, err := s.RegionsOfCluster(ctx, "alice", "c1")
		must(t, err)
		if !slices.Equal(of, []string{"r1", "r2"}) {
			t.Fatalf("RegionsOfCluster(c1) = %v", of)
		}
		list, err := s.ListRegions(ctx, "alice")
		must(t, err)
		if len(list) != 2 || list[0].ID != "r1" || list[0].ClusterCount != 2 || list[1].ClusterCount != 1 {
			t.Fatalf("ListRegions = %+v", list)
		}
		if list, _ := s.ListRegions(ctx, "bob"); len(list) != 1 || list[0].ID != "rb" {
			t.Fatalf("ListRegions(bob) = %+v", list)
		}

		wantKind(t, s.DetachCluster(ctx, "bob", "r1", "c1"), semvec.KindNotFound, "Region not found")
		must(t, s.DetachCluster(ctx, "alice", "r1", "c1"))
		wantKind(t, s.DetachCluster(ctx, "alice", "r1", "c1"), semvec.KindNotFound, "Cluster not found")
		rc, _ = s.RegionClusters(ctx, "alice", "r1")
		if !slices.Equal(rc, []string{"c2"}) {
			t.Fatalf("after detach: %v", rc)
		}
	})
}

func TestDeleteRegionCascades(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		r1, m1 := region("alice", "r1", 10)
		must(t, s.CreateRegion(ctx, r1, m1))
		c1, b1 := cluster("alice", "c1", 1)
		must(t, s.CreateCluster(ctx, c1, b1))
		_, err := s.AttachCluster(ctx, "alice", "r1", "c1")
		must(t, err)
		_, _, err = s.EnsureObserver(ctx, observer("alice", "o1"), persistence.SessionRecord{})
		must(t, err)
		_, err = s.RegisterObserverRegion(ctx, "alice", "r1")
		must(t, err)
		must(t, saveSnapshot(t, s, "alice", "r1-meta", []byte("meta"), ts(1)))

		must(t, errOf(s.DeleteRegion(ctx, "alice", "r1")))

		_, err = s.GetRegion(ctx, "alice", "r1")
		wantKind(t, err, semvec.KindNotFound, "Region not found")
		_, err = s.GetSession(ctx, "alice", "r1-meta")
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		_, _, err = s.LoadSnapshot(ctx, "alice", "r1-meta")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
		if of, _ := s.RegionsOfCluster(ctx, "alice", "c1"); len(of) != 0 {
			t.Fatalf("links survive: %v", of)
		}
		if regs, _ := s.ObserverRegions(ctx, "alice"); len(regs) != 0 {
			t.Fatalf("observer registrations survive: %v", regs)
		}
		if _, err := s.GetCluster(ctx, "alice", "c1"); err != nil {
			t.Fatalf("attached cluster deleted with the region: %v", err)
		}
	})
}
