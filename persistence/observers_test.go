package persistence_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

func observer(owner, id string) persistence.ObserverRecord {
	return persistence.ObserverRecord{
		ID: id, Owner: owner, MetaSessionID: id + "-meta", SampleIntervalSeconds: 30, CreatedAt: ts(1),
	}
}

func TestObservers(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		_, err := s.GetObserver(ctx, "alice")
		wantKind(t, err, semvec.KindNotFound, "Observer not found")

		rec, created, err := s.EnsureObserver(ctx, observer("alice", "o1"), persistence.SessionRecord{Dimension: 384})
		must(t, err)
		want := observer("alice", "o1")
		want.CreatedAt = us(want.CreatedAt)
		if !created || rec != want {
			t.Fatalf("EnsureObserver = %+v, %v; want %+v, true", rec, created, want)
		}
		meta, err := s.GetSession(ctx, "alice", "o1-meta")
		must(t, err)
		if meta.Kind != persistence.SessionKindObserverMeta {
			t.Fatalf("meta kind %q", meta.Kind)
		}

		// Idempotent per owner: the second call returns the first observer
		// and creates no meta session.
		rec, created, err = s.EnsureObserver(ctx, observer("alice", "o2"), persistence.SessionRecord{})
		must(t, err)
		if created || rec != want {
			t.Fatalf("second EnsureObserver = %+v, %v", rec, created)
		}
		if _, err := s.GetSession(ctx, "alice", "o2-meta"); err == nil {
			t.Fatal("second EnsureObserver created a meta session")
		}
		got, err := s.GetObserver(ctx, "alice")
		must(t, err)
		if got != want {
			t.Fatalf("GetObserver = %+v", got)
		}

		_, _, err = s.EnsureObserver(ctx, observer("bob", "ob"), persistence.SessionRecord{})
		must(t, err)
		all, err := s.ListObservers(ctx)
		must(t, err)
		if len(all) != 2 || all[0].Owner != "alice" || all[1].Owner != "bob" {
			t.Fatalf("ListObservers = %+v", all)
		}
		_, _, err = s.EnsureObserver(ctx, observer("carol", "o1"), persistence.SessionRecord{ID: "o1-meta-2"})
		wantKind(t, err, semvec.KindInvalid, "") // meta id mismatch
		// Ids are scoped by owner: carol's observer may be called o1 too.
		o := observer("carol", "o1")
		o.MetaSessionID = "carol-meta"
		carol, created, err := s.EnsureObserver(ctx, o, persistence.SessionRecord{})
		must(t, err)
		if !created || carol.Owner != "carol" || carol.ID != "o1" || carol.MetaSessionID != "carol-meta" {
			t.Fatalf("carol's EnsureObserver = %+v, %v", carol, created)
		}
		if got, _ := s.GetObserver(ctx, "alice"); got != want {
			t.Fatalf("alice's observer after carol's = %+v", got)
		}

		// Regions.
		r1, m1 := region("alice", "r1", 1)
		must(t, s.CreateRegion(ctx, r1, m1))
		r2, m2 := region("alice", "r2", 2)
		must(t, s.CreateRegion(ctx, r2, m2))
		rb, mb := region("bob", "rb", 3)
		must(t, s.CreateRegion(ctx, rb, mb))

		for i, c := range []struct {
			region string
			want   int
		}{{"r1", 1}, {"r1", 1}, {"r2", 2}} {
			n, err := s.RegisterObserverRegion(ctx, "alice", c.region)
			must(t, err)
			if n != c.want {
				t.Fatalf("register #%d: count %d, want %d", i, n, c.want)
			}
		}
		_, err = s.RegisterObserverRegion(ctx, "alice", "rb")
		wantKind(t, err, semvec.KindNotFound, "Region not found")
		_, err = s.RegisterObserverRegion(ctx, "carol", "r1")
		wantKind(t, err, semvec.KindNotFound, "Region not found") // alice's r1
		_, err = s.RegisterObserverRegion(ctx, "dave", "r1")
		wantKind(t, err, semvec.KindNotFound, "Observer not found")

		regs, err := s.ObserverRegions(ctx, "alice")
		must(t, err)
		if fmt.Sprint(regs) != "[r1 r2]" {
			t.Fatalf("ObserverRegions = %v", regs)
		}
		if regs, _ := s.ObserverRegions(ctx, "bob"); regs == nil || len(regs) != 0 {
			t.Fatalf("ObserverRegions(bob) = %#v", regs)
		}

		n, err := s.UnregisterObserverRegion(ctx, "alice", "r1")
		must(t, err)
		if n != 1 {
			t.Fatalf("unregister: count %d, want 1", n)
		}
		_, err = s.UnregisterObserverRegion(ctx, "alice", "r1")
		wantKind(t, err, semvec.KindNotFound, "Region not found")
		_, err = s.UnregisterObserverRegion(ctx, "carol", "r2")
		wantKind(t, err, semvec.KindNotFound, "Region not found") // alice's r2
		_, err = s.UnregisterObserverRegion(ctx, "dave", "r1")
		wantKind(t, err, semvec.KindNotFound, "Observer not found")
	})
}

// Concurrent EnsureObserver calls for one owner, from two Stores (as from two
// processes), yield one observer.
func TestEnsureObserverConcurrent(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		ctx := t.Context()
		stores := []*persistence.Store{openStore(t, databaseURL), openStore(t, databaseURL)}
		const n = 8
		var wg sync.WaitGroup
		recs := make([]persistence.ObserverRecord, n)
		created := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				id := fmt.Sprintf("o%d", i)
				recs[i], created[i], errs[i] = stores[i%2].EnsureObserver(ctx, observer("alice", id), persistence.SessionRecord{})
			})
		}
		wg.Wait()
		creators := 0
		for i := range n {
			must(t, errs[i])
			if recs[i] != recs[0] {
				t.Fatalf("call %d got %+v, call 0 got %+v", i, recs[i], recs[0])
			}
			if created[i] {
				creators++
			}
		}
		if creators != 1 {
			t.Fatalf("%d calls report created, want 1", creators)
		}
		all, err := stores[0].ListObservers(ctx)
		must(t, err)
		if len(all) != 1 {
			t.Fatalf("%d observers", len(all))
		}
		// Only the winner's meta session exists.
		for i := range n {
			_, err := stores[0].GetSession(ctx, "alice", fmt.Sprintf("o%d-meta", i))
			if (err == nil) != (recs[0].ID == fmt.Sprintf("o%d", i)) {
				t.Fatalf("meta session o%d-meta: err %v, winner %s", i, err, recs[0].ID)
			}
		}
	})
}
