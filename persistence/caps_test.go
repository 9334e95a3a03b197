package persistence_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// TestLinkCaps: a cluster's members, a region's clusters and an observer's
// regions stop at the link cap with a Conflict; re-adding a link that
// exists stays an idempotent success at the cap, removing one makes room
// again, and concurrent adds near the cap never overshoot it (PostgreSQL:
// two adds to one parent count one after the other). The cap is lowered to
// keep the test short; the default is persistence.DefaultMaxLinks.
func TestLinkCaps(t *testing.T) {
	const max = 12
	forEachURL(t, func(t *testing.T, url string) {
		s := openStore(t, url, persistence.WithMaxLinks(max))
		ctx := t.Context()
		const owner = "alice"

		c, b := cluster(owner, "c", 1)
		must(t, s.CreateCluster(ctx, c, b))
		addMember := func(i int) (bool, error) { return s.AddMember(ctx, owner, "c", fmt.Sprintf("s%04d", i)) }
		for i := range max + 41 {
			must(t, s.CreateSession(ctx, session(owner, fmt.Sprintf("s%04d", i))))
		}
		checkCap(t, "cluster member", max, addMember,
			func(i int) error { return s.RemoveMember(ctx, owner, "c", fmt.Sprintf("s%04d", i)) },
			func() int { ids, err := s.ListMembers(ctx, owner, "c"); must(t, err); return len(ids) })

		r, meta := region(owner, "r", 1)
		must(t, s.CreateRegion(ctx, r, meta))
		for i := range max + 41 {
			c, b := cluster(owner, fmt.Sprintf("c%04d", i), 1)
			must(t, s.CreateCluster(ctx, c, b))
		}
		checkCap(t, "region cluster", max,
			func(i int) (bool, error) { return s.AttachCluster(ctx, owner, "r", fmt.Sprintf("c%04d", i)) },
			func(i int) error { return s.DetachCluster(ctx, owner, "r", fmt.Sprintf("c%04d", i)) },
			func() int { ids, err := s.RegionClusters(ctx, owner, "r"); must(t, err); return len(ids) })

		_, _, err := s.EnsureObserver(ctx, observer(owner, "o"), persistence.SessionRecord{Dimension: 384})
		must(t, err)
		for i := range max + 41 {
			r, meta := region(owner, fmt.Sprintf("r%04d", i), 1)
			must(t, s.CreateRegion(ctx, r, meta))
		}
		register := func(i int) (bool, error) {
			before := observerRegions(ctx, t, s, owner)
			n, err := s.RegisterObserverRegion(ctx, owner, fmt.Sprintf("r%04d", i))
			return err == nil && n > before, err
		}
		checkCap(t, "observer region", max, register,
			func(i int) error {
				_, err := s.UnregisterObserverRegion(ctx, owner, fmt.Sprintf("r%04d", i))
				return err
			},
			func() int { return observerRegions(ctx, t, s, owner) })
	})
}

func observerRegions(ctx context.Context, t *testing.T, s *persistence.Store, owner string) int {
	ids, err := s.ObserverRegions(ctx, owner)
	must(t, err)
	return len(ids)
}

// checkCap fills a parent to max-8 links one at a time, then races 48 adds
// of distinct children (ids max-8 … max+39) for the last 8 places; child
// max+40 is refused at the cap and taken after a removal.
func checkCap(t *testing.T, what string, max int, add func(i int) (bool, error), remove func(i int) error, count func() int) {
	t.Helper()
	for i := range max - 8 {
		if added, err := add(i); err != nil || !added {
			t.Fatalf("%s %d: added %v, %v", what, i, added, err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	added, refused := 0, 0
	for w := range 8 {
		wg.Go(func() {
			for k := range 6 {
				ok, err := add(max - 8 + w*6 + k)
				mu.Lock()
				switch {
				case err == nil && ok:
					added++
				case semvec.KindOf(err) == semvec.KindConflict:
					refused++
				default:
					t.Errorf("%s: racing add: %v, %v", what, ok, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if added != 8 || refused != 40 || count() != max {
		t.Fatalf("%s: %d added and %d refused of 48 racing adds, %d links; want 8, 40, %d", what, added, refused, count(), max)
	}
	_, err := add(max + 40)
	wantKind(t, err, semvec.KindConflict, fmt.Sprintf("%s limit reached (%d)", what, max))
	if ok, err := add(0); err != nil || ok { // exists: idempotent at the cap
		t.Fatalf("%s: re-adding an existing link at the cap: %v, %v", what, ok, err)
	}
	must(t, remove(0))
	if ok, err := add(max + 40); err != nil || !ok {
		t.Fatalf("%s: add after a removal: %v, %v", what, ok, err)
	}
}

// A caller's clusters and its regions are capped (WithMaxEntities), exactly
// also under concurrent creates; another caller has its own count.
func TestEntityCaps(t *testing.T) {
	const max = 5
	forEachURL(t, func(t *testing.T, url string) {
		s := openStore(t, url, persistence.WithMaxEntities(max))
		ctx := t.Context()
		for _, kind := range []string{"cluster", "region"} {
			create := func(owner string, i int) error {
				id := fmt.Sprintf("%s-%s-%d", owner, kind, i)
				if kind == "cluster" {
					c, b := cluster(owner, id, 1)
					return s.CreateCluster(ctx, c, b)
				}
				r, meta := region(owner, id, 1)
				return s.CreateRegion(ctx, r, meta)
			}
			errs := make(chan error, max+7)
			var wg sync.WaitGroup
			for i := range max + 7 {
				wg.Go(func() { errs <- create("alice", i) })
			}
			wg.Wait()
			close(errs)
			created := 0
			for err := range errs {
				switch {
				case err == nil:
					created++
				case semvec.KindOf(err) != semvec.KindConflict:
					t.Fatalf("a %s past the cap: %v, want Conflict", kind, err)
				}
			}
			if created != max {
				t.Fatalf("%d of alice's %ss created under a cap of %d", created, kind, max)
			}
			must(t, create("bob", 0)) // bob's own count
		}
		clusters, err := s.ListClusters(ctx, "alice")
		must(t, err)
		regions, err := s.ListRegions(ctx, "alice")
		must(t, err)
		if len(clusters) != max || len(regions) != max {
			t.Fatalf("alice has %d clusters and %d regions, want %d each", len(clusters), len(regions), max)
		}
	})
}

// A caller's sessions are capped (WithMaxSessions), every kind counted: a
// cluster's backing session and a region's or observer's meta session take
// a place too. The count is exact under concurrent creates, each way of
// removing a session (a delete, a cluster's or a region's deletion) gives
// its place back, and another caller has its own count.
func TestSessionCap(t *testing.T) {
	const max = 6
	forEachURL(t, func(t *testing.T, url string) {
		s := openStore(t, url, persistence.WithMaxSessions(max))
		ctx := t.Context()
		counts := func(owner string, want int64) {
			t.Helper()
			kept, counted, err := s.SessionCounts(ctx, owner)
			must(t, err)
			if kept != want || counted != want {
				t.Fatalf("%s's sessions: counted %d by the triggers, %d rows; want %d", owner, kept, counted, want)
			}
		}
		limit := fmt.Sprintf("session limit reached (%d)", max)

		errs := make(chan error, max+9)
		var wg sync.WaitGroup
		for i := range max + 9 {
			wg.Go(func() { errs <- s.CreateSession(ctx, session("alice", fmt.Sprintf("s%02d", i))) })
		}
		wg.Wait()
		close(errs)
		created := 0
		for err := range errs {
			if err == nil {
				created++
				continue
			}
			wantKind(t, err, semvec.KindConflict, limit)
		}
		if created != max {
			t.Fatalf("%d of alice's sessions created under a cap of %d", created, max)
		}
		counts("alice", max)

		// Every way to create a session stops at the cap, and a taken id
		// still says so.
		wantKind(t, s.ImportSession(ctx, session("alice", "imported"), []byte("state"), ts(3)), semvec.KindConflict, limit)
		wantKind(t, s.CreateSessionWithSnapshot(ctx, session("alice", "templated"), []byte("state"), ts(3)), semvec.KindConflict, limit)
		c, b := cluster("alice", "c", 1)
		wantKind(t, s.CreateCluster(ctx, c, b), semvec.KindConflict, limit)
		r, meta := region("alice", "r", 1)
		wantKind(t, s.CreateRegion(ctx, r, meta), semvec.KindConflict, limit)
		_, _, err := s.EnsureObserver(ctx, observer("alice", "o"), persistence.SessionRecord{Dimension: 384})
		wantKind(t, err, semvec.KindConflict, limit)
		counts("alice", max)
		must(t, s.CreateSession(ctx, session("bob", "s00"))) // bob's own count
		counts("bob", 1)

		// A deleted session gives its place back; so do a cluster's and a
		// region's deletions (their sessions go with them).
		ids := []string{}
		for i := range max + 9 {
			ids = append(ids, fmt.Sprintf("s%02d", i))
		}
		deleted := 0
		for _, id := range ids {
			if _, err := s.DeleteSession(ctx, "alice", id); err == nil {
				deleted++
			}
			if deleted == 2 {
				break
			}
		}
		counts("alice", max-2)
		must(t, s.CreateCluster(ctx, c, b))
		must(t, s.CreateRegion(ctx, r, meta))
		counts("alice", max)
		wantKind(t, s.CreateSession(ctx, session("alice", "one-more")), semvec.KindConflict, limit)
		_, err = s.DeleteCluster(ctx, "alice", "c")
		must(t, err)
		_, err = s.DeleteRegion(ctx, "alice", "r")
		must(t, err)
		counts("alice", max-2)
		must(t, s.CreateSession(ctx, session("alice", "one-more")))
		wantKind(t, s.CreateSession(ctx, session("alice", "one-more")), semvec.KindConflict, "Session already exists")
		c2, b2 := cluster("alice", "one-more", 1)
		wantKind(t, s.CreateCluster(ctx, c2, b2), semvec.KindConflict, "Cluster already exists")
		counts("alice", max-1)
	})
}

// The other side of the links a drift event travels is capped too
// (WithMaxParents): the clusters one session is a member of, and the
// regions one cluster is attached to, exactly also under concurrent adds
// to different parents.
func TestParentCaps(t *testing.T) {
	const max = 12
	forEachURL(t, func(t *testing.T, url string) {
		s := openStore(t, url, persistence.WithMaxParents(max))
		ctx := t.Context()
		const owner = "alice"
		must(t, s.CreateSession(ctx, session(owner, "s")))
		for i := range max + 41 {
			c, b := cluster(owner, fmt.Sprintf("c%04d", i), 1)
			must(t, s.CreateCluster(ctx, c, b))
			r, meta := region(owner, fmt.Sprintf("r%04d", i), 1)
			must(t, s.CreateRegion(ctx, r, meta))
		}
		checkCap(t, "clusters per session", max,
			func(i int) (bool, error) { return s.AddMember(ctx, owner, fmt.Sprintf("c%04d", i), "s") },
			func(i int) error { return s.RemoveMember(ctx, owner, fmt.Sprintf("c%04d", i), "s") },
			func() int {
				n := 0
				for i := range max + 41 {
					ids, err := s.ListMembers(ctx, owner, fmt.Sprintf("c%04d", i))
					must(t, err)
					n += len(ids)
				}
				return n
			})
		checkCap(t, "regions per cluster", max,
			func(i int) (bool, error) { return s.AttachCluster(ctx, owner, fmt.Sprintf("r%04d", i), "c0000") },
			func(i int) error { return s.DetachCluster(ctx, owner, fmt.Sprintf("r%04d", i), "c0000") },
			func() int {
				n := 0
				for i := range max + 41 {
					ids, err := s.RegionClusters(ctx, owner, fmt.Sprintf("r%04d", i))
					must(t, err)
					n += len(ids)
				}
				return n
			})
	})
}
