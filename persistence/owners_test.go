package persistence_test

import (
	"slices"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// sameIDs creates, for owner, the resources every owner of
// TestSameIDsTwoOwners has under the same ids: sessions x and y (y only for
// alice), cluster c with members, region r (meta r-meta) with c attached, an
// observer o (meta o-meta) with r registered, and snapshots of x and c. Every
// value that can differ carries the owner, so a read of the other owner's row
// shows.
func sameIDs(t *testing.T, s *persistence.Store, owner string, dim int) {
	t.Helper()
	ctx := t.Context()
	x := session(owner, "x")
	x.Dimension, x.ModelName = dim, "model-"+owner
	must(t, s.CreateSession(ctx, x))
	if owner == "alice" {
		must(t, s.CreateSession(ctx, session(owner, "y")))
	}
	c, b := cluster(owner, "c", 10)
	c.Name = "cluster of " + owner
	b.Dimension = dim
	must(t, s.CreateCluster(ctx, c, b))
	r, m := region(owner, "r", 11)
	r.Name = "region of " + owner
	m.Dimension = dim
	must(t, s.CreateRegion(ctx, r, m))
	o := observer(owner, "o")
	o.SampleIntervalSeconds = float64(dim)
	rec, created, err := s.EnsureObserver(ctx, o, persistence.SessionRecord{Dimension: dim})
	must(t, err)
	if !created || rec.Owner != owner || rec.ID != "o" {
		t.Fatalf("EnsureObserver(%s) = %+v, created %v", owner, rec, created)
	}

	added, err := s.AddMember(ctx, owner, "c", "x")
	must(t, err)
	if !added {
		t.Fatalf("AddMember(%s, c, x): added = false (another owner's row counted?)", owner)
	}
	added, err = s.AttachCluster(ctx, owner, "r", "c")
	must(t, err)
	if !added {
		t.Fatalf("AttachCluster(%s, r, c): added = false", owner)
	}
	n, err := s.RegisterObserverRegion(ctx, owner, "r")
	must(t, err)
	if n != 1 {
		t.Fatalf("RegisterObserverRegion(%s, r) = %d, want 1", owner, n)
	}
	must(t, saveSnapshot(t, s, owner, "x", []byte("x of "+owner), ts(20)))
	must(t, saveSnapshot(t, s, owner, "c", []byte("c of "+owner), ts(21)))
	must(t, saveSnapshot(t, s, owner, "r-meta", []byte("r of "+owner), ts(22)))
}

// checkOwnIDs fails unless owner's resources created by sameIDs are all
// there, as owner made them, with nothing of the other owner's.
func checkOwnIDs(t *testing.T, s *persistence.Store, owner string, dim int) {
	t.Helper()
	ctx := t.Context()
	x, err := s.GetSession(ctx, owner, "x")
	must(t, err)
	if x.Owner != owner || x.Dimension != dim || x.ModelName != "model-"+owner {
		t.Fatalf("%s's x = %+v", owner, x)
	}
	for id, want := range map[string]string{"x": "x of " + owner, "c": "c of " + owner, "r-meta": "r of " + owner} {
		data, _, err := s.LoadSnapshot(ctx, owner, id)
		must(t, err)
		if string(data) != want {
			t.Fatalf("%s's snapshot of %s = %q, want %q", owner, id, data, want)
		}
	}
	c, err := s.GetCluster(ctx, owner, "c")
	must(t, err)
	if c.Owner != owner || c.Name != "cluster of "+owner {
		t.Fatalf("%s's cluster = %+v", owner, c)
	}
	if b, err := s.GetSession(ctx, owner, "c"); err != nil || b.Dimension != dim || b.Kind != persistence.SessionKindCluster {
		t.Fatalf("%s's backing session = %+v, %v", owner, b, err)
	}
	if m, err := s.ListMembers(ctx, owner, "c"); err != nil || !slices.Equal(m, []string{"x"}) {
		t.Fatalf("ListMembers(%s, c) = %v, %v", owner, m, err)
	}
	of, err := s.ClustersOfSession(ctx, owner, "x")
	must(t, err)
	if !slices.Equal(of, []string{"c"}) {
		t.Fatalf("ClustersOfSession(%s, x) = %v", owner, of)
	}
	list, err := s.ListClusters(ctx, owner)
	must(t, err)
	if len(list) != 1 || list[0].ID != "c" || list[0].Owner != owner || list[0].MemberCount != 1 {
		t.Fatalf("ListClusters(%s) = %+v", owner, list)
	}
	r, err := s.GetRegion(ctx, owner, "r")
	must(t, err)
	if r.Owner != owner || r.Name != "region of "+owner || r.MetaSessionID != "r-meta" {
		t.Fatalf("%s's region = %+v", owner, r)
	}
	if m, err := s.GetSession(ctx, owner, "r-meta"); err != nil || m.Dimension != dim || m.Kind != persistence.SessionKindRegionMeta {
		t.Fatalf("%s's region meta session = %+v, %v", owner, m, err)
	}
	if rc, err := s.RegionClusters(ctx, owner, "r"); err != nil || !slices.Equal(rc, []string{"c"}) {
		t.Fatalf("RegionClusters(%s, r) = %v, %v", owner, rc, err)
	}
	if rc, err := s.RegionsOfCluster(ctx, owner, "c"); err != nil || !slices.Equal(rc, []string{"r"}) {
		t.Fatalf("RegionsOfCluster(%s, c) = %v, %v", owner, rc, err)
	}
	regions, err := s.ListRegions(ctx, owner)
	must(t, err)
	if len(regions) != 1 || regions[0].Owner != owner || regions[0].ClusterCount != 1 {
		t.Fatalf("ListRegions(%s) = %+v", owner, regions)
	}
	o, err := s.GetObserver(ctx, owner)
	must(t, err)
	if o.Owner != owner || o.ID != "o" || o.MetaSessionID != "o-meta" || o.SampleIntervalSeconds != float64(dim) {
		t.Fatalf("%s's observer = %+v", owner, o)
	}
	if m, err := s.GetSession(ctx, owner, "o-meta"); err != nil || m.Dimension != dim || m.Kind != persistence.SessionKindObserverMeta {
		t.Fatalf("%s's observer meta session = %+v, %v", owner, m, err)
	}
	if regs, err := s.ObserverRegions(ctx, owner); err != nil || !slices.Equal(regs, []string{"r"}) {
		t.Fatalf("ObserverRegions(%s) = %v, %v", owner, regs, err)
	}
}

// checkNoIDs fails unless owner has none of sameIDs' resources.
func checkNoIDs(t *testing.T, s *persistence.Store, owner string) {
	t.Helper()
	ctx := t.Context()
	for _, id := range []string{"x", "y", "c", "r-meta", "o-meta"} {
		_, err := s.GetSession(ctx, owner, id)
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		_, _, err = s.LoadSnapshot(ctx, owner, id)
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
	}
	_, err := s.GetCluster(ctx, owner, "c")
	wantKind(t, err, semvec.KindNotFound, "Cluster not found")
	_, err = s.GetRegion(ctx, owner, "r")
	wantKind(t, err, semvec.KindNotFound, "Region not found")
	_, err = s.GetObserver(ctx, owner)
	wantKind(t, err, semvec.KindNotFound, "Observer not found")
	for name, f := range map[string]func() ([]string, error){
		"ListMembers":       func() ([]string, error) { return s.ListMembers(ctx, owner, "c") },
		"ClustersOfSession": func() ([]string, error) { return s.ClustersOfSession(ctx, owner, "x") },
		"RegionClusters":    func() ([]string, error) { return s.RegionClusters(ctx, owner, "r") },
		"RegionsOfCluster":  func() ([]string, error) { return s.RegionsOfCluster(ctx, owner, "c") },
		"ObserverRegions":   func() ([]string, error) { return s.ObserverRegions(ctx, owner) },
	} {
		if ids, err := f(); err != nil || len(ids) != 0 {
			t.Fatalf("%s(%s) = %v, %v; want empty", name, owner, ids, err)
		}
	}
	if l, err := s.ListClusters(ctx, owner); err != nil || len(l) != 0 {
		t.Fatalf("ListClusters(%s) = %+v, %v", owner, l, err)
	}
	if l, err := s.ListRegions(ctx, owner); err != nil || len(l) != 0 {
		t.Fatalf("ListRegions(%s) = %+v, %v", owner, l, err)
	}
}

// Two owners use the same ids for every resource kind: both creations
// succeed, each owner reads, links and deletes only its own, and deleting one
// owner's resources leaves the other's intact.
func TestSameIDsTwoOwners(t *testing.T) {
	const aliceDim, bobDim = 8, 16
	for _, victim := range []string{"alice", "bob"} {
		survivor, survivorDim := "bob", bobDim
		if victim == "bob" {
			survivor, survivorDim = "alice", aliceDim
		}
		t.Run("delete "+victim+"'s", func(t *testing.T) {
			forEachDB(t, func(t *testing.T, s *persistence.Store) {
				ctx := t.Context()
				sameIDs(t, s, "alice", aliceDim)
				sameIDs(t, s, "bob", bobDim)
				checkOwnIDs(t, s, "alice", aliceDim)
				checkOwnIDs(t, s, "bob", bobDim)

				// Creating again conflicts only within an owner.
				wantKind(t, s.CreateSession(ctx, session("bob", "x")), semvec.KindConflict, "")
				c, b := cluster("bob", "c", 1)
				wantKind(t, s.CreateCluster(ctx, c, b), semvec.KindConflict, "Cluster already exists")
				r, m := region("bob", "r", 1)
				r.MetaSessionID = "r-meta-2"
				wantKind(t, s.CreateRegion(ctx, r, m), semvec.KindConflict, "Region already exists")

				// Linking to a resource only the other owner has is NotFound.
				_, err := s.AddMember(ctx, "bob", "c", "y") // alice's y
				wantKind(t, err, semvec.KindNotFound, "Session not found")
				_, err = s.AddMember(ctx, "carol", "c", "x")
				wantKind(t, err, semvec.KindNotFound, "Cluster not found")
				_, err = s.AttachCluster(ctx, "carol", "r", "c")
				wantKind(t, err, semvec.KindNotFound, "Region not found")
				_, err = s.RegisterObserverRegion(ctx, "carol", "r")
				wantKind(t, err, semvec.KindNotFound, "Observer not found")
				checkNoIDs(t, s, "carol")

				// Repeating a link is a no-op for that owner only.
				added, err := s.AddMember(ctx, "alice", "c", "y")
				must(t, err)
				if !added {
					t.Fatal("AddMember(alice, c, y): added = false")
				}
				if m, _ := s.ListMembers(ctx, "bob", "c"); !slices.Equal(m, []string{"x"}) {
					t.Fatalf("alice's new member shows in bob's cluster: %v", m)
				}
				must(t, s.RemoveMember(ctx, "alice", "c", "y"))
				wantKind(t, s.RemoveMember(ctx, "bob", "c", "y"), semvec.KindNotFound, "Member not found")

				// Updates of one owner's row leave the other's alone.
				must(t, s.TouchSession(ctx, victim, "x", ts(50)))
				must(t, s.RecordRealignment(ctx, victim, "r", 0, ts(51), 1))
				if got, _ := s.GetSession(ctx, survivor, "x"); !got.UpdatedAt.Equal(us(ts(2))) {
					t.Fatalf("%s's touch moved %s's x: %v", victim, survivor, got.UpdatedAt)
				}
				if got, _ := s.GetRegion(ctx, survivor, "r"); got.LastRealignment != nil {
					t.Fatalf("%s's realignment set %s's: %v", victim, survivor, got.LastRealignment)
				}
				if got, _ := s.GetRegion(ctx, victim, "r"); got.LastRealignment == nil || !got.LastRealignment.Equal(us(ts(51))) {
					t.Fatalf("%s's realignment = %v", victim, got.LastRealignment)
				}

				// A snapshot batch with both owners' x writes each its own.
				n, err := s.SaveSnapshots(ctx, []persistence.Snapshot{
					{Owner: "alice", ID: "x", Incarnation: incarnation(t, s, "alice", "x"), Data: []byte("x of alice"), At: ts(30)},
					{Owner: "bob", ID: "x", Incarnation: incarnation(t, s, "bob", "x"), Data: []byte("x of bob"), At: ts(31)},
					// another owner's incarnation never matches
					{Owner: "alice", ID: "c", Incarnation: incarnation(t, s, "bob", "c"), Data: []byte("bob's, to alice"), At: ts(32)},
					{Owner: "carol", ID: "x", Incarnation: incarnation(t, s, "alice", "x"), Data: []byte("carol"), At: ts(33)},
				})
				must(t, err)
				if n != 2 {
					t.Fatalf("SaveSnapshots wrote %d, want 2", n)
				}
				checkOwnIDs(t, s, "alice", aliceDim)
				checkOwnIDs(t, s, "bob", bobDim)
				if _, at, _ := s.LoadSnapshot(ctx, "bob", "x"); !at.Equal(us(ts(31))) {
					t.Fatalf("bob's x saved at %v, want %v", at, us(ts(31)))
				}

				// Unlinking one owner's leaves the other's links.
				_, err = s.UnregisterObserverRegion(ctx, victim, "r")
				must(t, err)
				must(t, s.DetachCluster(ctx, victim, "r", "c"))
				must(t, s.RemoveMember(ctx, victim, "c", "x"))
				checkOwnIDs(t, s, survivor, survivorDim)
				_, err = s.RegisterObserverRegion(ctx, victim, "r")
				must(t, err)
				_, err = s.AttachCluster(ctx, victim, "r", "c")
				must(t, err)
				_, err = s.AddMember(ctx, victim, "c", "x")
				must(t, err)

				// Deleting one owner's resources leaves the other's intact.
				must(t, errOf(s.DeleteSession(ctx, victim, "x")))
				checkOwnIDs(t, s, survivor, survivorDim)
				must(t, errOf(s.DeleteRegion(ctx, victim, "r")))
				checkOwnIDs(t, s, survivor, survivorDim)
				must(t, errOf(s.DeleteCluster(ctx, victim, "c")))
				checkOwnIDs(t, s, survivor, survivorDim)
				// The observer goes with its meta session (foreign key).
				must(t, errOf(s.DeleteSession(ctx, victim, "o-meta")))
				if victim == "alice" {
					must(t, errOf(s.DeleteSession(ctx, victim, "y")))
				}
				checkOwnIDs(t, s, survivor, survivorDim)
				checkNoIDs(t, s, victim)
				if all, err := s.ListObservers(ctx); err != nil || len(all) != 1 || all[0].Owner != survivor {
					t.Fatalf("ListObservers = %+v, %v", all, err)
				}

				// And the victim can use the ids again, without seeing the
				// survivor's or its own old state.
				sameIDs(t, s, victim, 4)
				checkOwnIDs(t, s, victim, 4)
				checkOwnIDs(t, s, survivor, survivorDim)
			})
		})
	}
}

// A snapshot write carries the incarnation of the session it was taken from:
// once the session is deleted and its id re-created (by the same owner or by
// another), the stale write is dropped and the new session's snapshot is
// never the old one's.
func TestIncarnationGuard(t *testing.T) {
	for _, recreator := range []string{"alice", "bob"} {
		t.Run("recreated by "+recreator, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, s *persistence.Store) {
				ctx := t.Context()
				must(t, s.CreateSession(ctx, session("alice", "X")))
				old, err := s.GetSession(ctx, "alice", "X")
				must(t, err)
				if old.Incarnation == "" {
					t.Fatal("no incarnation")
				}
				snap := func(owner, inc, data string) persistence.Snapshot {
					return persistence.Snapshot{Owner: owner, ID: "X", Incarnation: inc, Data: []byte(data), At: ts(9)}
				}
				n, err := s.SaveSnapshots(ctx, []persistence.Snapshot{snap("alice", old.Incarnation, "alice's secret")})
				must(t, err)
				if n != 1 {
					t.Fatalf("SaveSnapshots in the current incarnation wrote %d, want 1", n)
				}

				must(t, errOf(s.DeleteSession(ctx, "alice", "X")))
				// Stale writes of the deleted session land nowhere.
				n, err = s.SaveSnapshots(ctx, []persistence.Snapshot{snap("alice", old.Incarnation, "stale")})
				if n != 0 || err != nil {
					t.Fatalf("SaveSnapshots for a deleted session = %d, %v; want 0, nil", n, err)
				}

				must(t, s.CreateSession(ctx, session(recreator, "X")))
				fresh, err := s.GetSession(ctx, recreator, "X")
				must(t, err)
				if fresh.Incarnation == "" || fresh.Incarnation == old.Incarnation {
					t.Fatalf("re-created session's incarnation %q (old %q)", fresh.Incarnation, old.Incarnation)
				}

				for _, stale := range []persistence.Snapshot{
					snap("alice", old.Incarnation, "stale"),   // the queued write of the deleted session
					snap(recreator, old.Incarnation, "stale"), // its incarnation under the new owner
					snap(recreator, "", "stale"),              // no incarnation at all
				} {
					n, err := s.SaveSnapshots(ctx, []persistence.Snapshot{stale})
					if n != 0 || err != nil {
						t.Fatalf("SaveSnapshots(%s/%s in incarnation %q) = %d, %v; want 0, nil",
							stale.Owner, stale.ID, stale.Incarnation, n, err)
					}
					_, _, err = s.LoadSnapshot(ctx, recreator, "X")
					wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
				}
				_, _, err = s.LoadSnapshot(ctx, "alice", "X")
				if recreator == "bob" {
					wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
				}

				// A batch with the stale write before the fresh one writes
				// only the fresh one.
				n, err = s.SaveSnapshots(ctx, []persistence.Snapshot{
					snap(recreator, old.Incarnation, "stale"),
					snap(recreator, fresh.Incarnation, "fresh"),
				})
				must(t, err)
				if n != 1 {
					t.Fatalf("SaveSnapshots in the new incarnation wrote %d, want 1", n)
				}
				data, _, err := s.LoadSnapshot(ctx, recreator, "X")
				must(t, err)
				if string(data) != "fresh" {
					t.Fatalf("new session's snapshot = %q, want fresh", data)
				}
				// A later stale write does not overwrite it either.
				n, err = s.SaveSnapshots(ctx, []persistence.Snapshot{snap("alice", old.Incarnation, "stale")})
				if n != 0 || err != nil {
					t.Fatalf("late stale SaveSnapshots = %d, %v", n, err)
				}
				if data, _, _ := s.LoadSnapshot(ctx, recreator, "X"); string(data) != "fresh" {
					t.Fatalf("stale write overwrote the new session's snapshot: %q", data)
				}
			})
		})
	}
}

// The incarnation guard covers the sessions behind clusters, regions and
// observers, and sessions created with their snapshot.
func TestIncarnationGuardOtherKinds(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		stale := func(id, inc string) {
			t.Helper()
			n, err := s.SaveSnapshots(ctx, []persistence.Snapshot{{Owner: "alice", ID: id, Incarnation: inc, Data: []byte("stale"), At: ts(1)}})
			if n != 0 || err != nil {
				t.Fatalf("stale SaveSnapshots(%s) = %d, %v; want 0, nil", id, n, err)
			}
			if data, _, err := s.LoadSnapshot(ctx, "alice", id); err == nil && string(data) == "stale" {
				t.Fatalf("stale snapshot of %s landed", id)
			}
		}

		c, b := cluster("alice", "c", 1)
		must(t, s.CreateCluster(ctx, c, b))
		oldC := incarnation(t, s, "alice", "c")
		must(t, errOf(s.DeleteCluster(ctx, "alice", "c")))
		must(t, s.CreateCluster(ctx, c, b))
		if incarnation(t, s, "alice", "c") == oldC {
			t.Fatal("re-created cluster kept its backing session's incarnation")
		}
		stale("c", oldC)

		r, m := region("alice", "r", 1)
		must(t, s.CreateRegion(ctx, r, m))
		oldR := incarnation(t, s, "alice", "r-meta")
		must(t, errOf(s.DeleteRegion(ctx, "alice", "r")))
		must(t, s.CreateRegion(ctx, r, m))
		stale("r-meta", oldR)

		_, _, err := s.EnsureObserver(ctx, observer("alice", "o"), persistence.SessionRecord{})
		must(t, err)
		oldO := incarnation(t, s, "alice", "o-meta")
		must(t, errOf(s.DeleteSession(ctx, "alice", "o-meta")))
		_, created, err := s.EnsureObserver(ctx, observer("alice", "o"), persistence.SessionRecord{})
		must(t, err)
		if !created {
			t.Fatal("observer survived its meta session")
		}
		stale("o-meta", oldO)

		// A session created with its snapshot keeps it against stale writes.
		must(t, s.CreateSession(ctx, session("alice", "t")))
		oldT := incarnation(t, s, "alice", "t")
		must(t, errOf(s.DeleteSession(ctx, "alice", "t")))
		must(t, s.CreateSessionWithSnapshot(ctx, session("alice", "t"), []byte("template"), ts(7)))
		stale("t", oldT)
		data, at, err := s.LoadSnapshot(ctx, "alice", "t")
		must(t, err)
		if string(data) != "template" || !at.Equal(us(ts(7))) {
			t.Fatalf("CreateSessionWithSnapshot's snapshot = %q at %v", data, at)
		}
		wantKind(t, s.CreateSessionWithSnapshot(ctx, session("alice", "t"), []byte("again"), ts(8)), semvec.KindConflict, "")
		if data, _, _ := s.LoadSnapshot(ctx, "alice", "t"); string(data) != "template" {
			t.Fatalf("failed CreateSessionWithSnapshot overwrote the snapshot: %q", data)
		}
		log, err := s.AuditLog(ctx, "alice", 1)
		must(t, err)
		if len(log) != 1 || log[0].Action != persistence.ActionCreate || log[0].ResourceID != "t" {
			t.Fatalf("audit of CreateSessionWithSnapshot: %+v", log)
		}

		// A caller-chosen incarnation is kept; an empty one is generated,
		// and never repeats.
		rec := session("alice", "chosen")
		rec.Incarnation = "inc-1"
		must(t, s.CreateSession(ctx, rec))
		if got := incarnation(t, s, "alice", "chosen"); got != "inc-1" {
			t.Fatalf("incarnation = %q, want inc-1", got)
		}
		must(t, s.ImportSession(ctx, session("alice", "imp"), []byte("state"), ts(1)))
		seen := map[string]bool{}
		for _, id := range []string{"c", "r-meta", "o-meta", "t", "imp"} {
			inc := incarnation(t, s, "alice", id)
			if seen[inc] {
				t.Fatalf("incarnation %q repeats", inc)
			}
			seen[inc] = true
		}
	})
}
