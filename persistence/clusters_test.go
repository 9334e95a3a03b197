package persistence_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

func cluster(owner, id string, sec int) (persistence.ClusterRecord, persistence.SessionRecord) {
	return persistence.ClusterRecord{
			ID: id, Owner: owner, Name: "name-" + id, AggregationMode: "weighted_average",
			CouplingFactor: 0.25, CreatedAt: ts(sec),
		}, persistence.SessionRecord{
			Dimension: 384, ModelName: "hash-384",
		}
}

func TestClusterCRUD(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		c1, b1 := cluster("alice", "c1", 10)
		must(t, s.CreateCluster(ctx, c1, b1))
		c0, b0 := cluster("alice", "c0", 20) // later, so listed second despite the id
		must(t, s.CreateCluster(ctx, c0, b0))
		cb, bb := cluster("bob", "cb", 5)
		must(t, s.CreateCluster(ctx, cb, bb))

		got, err := s.GetCluster(ctx, "alice", "c1")
		must(t, err)
		want := c1
		want.CreatedAt = us(c1.CreatedAt)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("GetCluster = %+v, want %+v", got, want)
		}

		// The backing session: id and owner of the cluster, kind "cluster".
		back, err := s.GetSession(ctx, "alice", "c1")
		must(t, err)
		if back.Kind != persistence.SessionKindCluster || back.Dimension != 384 || !back.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("backing session = %+v", back)
		}
		if n, _ := s.CountSessions(ctx); n != 0 {
			t.Fatalf("CountSessions counts backing sessions: %d", n)
		}

		wantKind(t, s.CreateCluster(ctx, c1, b1), semvec.KindConflict, "Cluster already exists")
		must(t, s.CreateSession(ctx, session("alice", "taken")))
		ct, bt := cluster("alice", "taken", 1)
		wantKind(t, s.CreateCluster(ctx, ct, bt), semvec.KindConflict, "Cluster already exists")
		cx, bx := cluster("alice", "cx", 1)
		bx.ID = "other"
		wantKind(t, s.CreateCluster(ctx, cx, bx), semvec.KindInvalid, "")

		// Owner isolation.
		_, err = s.GetCluster(ctx, "bob", "c1")
		wantKind(t, err, semvec.KindNotFound, "Cluster not found")
		wantKind(t, errOf(s.DeleteCluster(ctx, "bob", "c1")), semvec.KindNotFound, "Cluster not found")

		list, err := s.ListClusters(ctx, "alice")
		must(t, err)
		if len(list) != 2 || list[0].ID != "c1" || list[1].ID != "c0" || list[0].MemberCount != 0 {
			t.Fatalf("ListClusters(alice) = %+v", list)
		}
		list, _ = s.ListClusters(ctx, "carol")
		if list == nil || len(list) != 0 {
			t.Fatalf("ListClusters(carol) = %#v, want empty", list)
		}
	})
}

func TestClusterMembers(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		c1, b1 := cluster("alice", "c1", 10)
		must(t, s.CreateCluster(ctx, c1, b1))
		c2, b2 := cluster("alice", "c2", 11)
		must(t, s.CreateCluster(ctx, c2, b2))
		for _, id := range []string{"s1", "s2"} {
			must(t, s.CreateSession(ctx, session("alice", id)))
		}
		must(t, s.CreateSession(ctx, session("bob", "sb")))
		cb, bb := cluster("bob", "cb", 12)
		must(t, s.CreateCluster(ctx, cb, bb))

		added, err := s.AddMember(ctx, "alice", "c1", "s1")
		must(t, err)
		if !added {
			t.Fatal("first AddMember: added = false")
		}
		added, err = s.AddMember(ctx, "alice", "c1", "s1")
		must(t, err)
		if added {
			t.Fatal("repeated AddMember: added = true")
		}
		for _, m := range [][2]string{{"c1", "s2"}, {"c2", "s1"}} {
			_, err := s.AddMember(ctx, "alice", m[0], m[1])
			must(t, err)
		}

		_, err = s.AddMember(ctx, "alice", "cb", "s1")
		wantKind(t, err, semvec.KindNotFound, "Cluster not found")
		_, err = s.AddMember(ctx, "alice", "c1", "sb")
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		_, err = s.AddMember(ctx, "alice", "c1", "missing")
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		_, err = s.AddMember(ctx, "bob", "c1", "sb")
		wantKind(t, err, semvec.KindNotFound, "Cluster not found")
		_, err = s.AddMember(ctx, "alice", "c1", "c1")
		wantKind(t, err, semvec.KindValidation, "a cluster cannot be a member of itself")

		members, err := s.ListMembers(ctx, "alice", "c1")
		must(t, err)
		if !slices.Equal(members, []string{"s1", "s2"}) {
			t.Fatalf("ListMembers(c1) = %v", members)
		}
		if m, _ := s.ListMembers(ctx, "alice", "nope"); m == nil || len(m) != 0 {
			t.Fatalf("ListMembers(nope) = %#v", m)
		}
		of, err := s.ClustersOfSession(ctx, "alice", "s1")
		must(t, err)
		if !slices.Equal(of, []string{"c1", "c2"}) {
			t.Fatalf("ClustersOfSession(s1) = %v", of)
		}
		of, _ = s.ClustersOfSession(ctx, "alice", "c1") // the backing session
		if !slices.Equal(of, []string{"c1"}) {
			t.Fatalf("ClustersOfSession(c1) = %v", of)
		}
		list, _ := s.ListClusters(ctx, "alice")
		if list[0].MemberCount != 2 || list[1].MemberCount != 1 {
			t.Fatalf("member counts: %+v", list)
		}

		wantKind(t, s.RemoveMember(ctx, "bob", "c1", "s1"), semvec.KindNotFound, "Cluster not found")
		must(t, s.RemoveMember(ctx, "alice", "c1", "s1"))
		wantKind(t, s.RemoveMember(ctx, "alice", "c1", "s1"), semvec.KindNotFound, "Member not found")
		members, _ = s.ListMembers(ctx, "alice", "c1")
		if !slices.Equal(members, []string{"s2"}) {
			t.Fatalf("after remove: %v", members)
		}

		// Deleting a member session removes its memberships.
		must(t, errOf(s.DeleteSession(ctx, "alice", "s2")))
		members, _ = s.ListMembers(ctx, "alice", "c1")
		if len(members) != 0 {
			t.Fatalf("memberships survive their session: %v", members)
		}
	})
}

func TestDeleteClusterCascades(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		c1, b1 := cluster("alice", "c1", 10)
		must(t, s.CreateCluster(ctx, c1, b1))
		must(t, s.CreateSession(ctx, session("alice", "s1")))
		_, err := s.AddMember(ctx, "alice", "c1", "s1")
		must(t, err)
		must(t, saveSnapshot(t, s, "alice", "c1", []byte("cluster state"), ts(1)))
		r, meta := region("alice", "r1", 1)
		must(t, s.CreateRegion(ctx, r, meta))
		_, err = s.AttachCluster(ctx, "alice", "r1", "c1")
		must(t, err)

		must(t, errOf(s.DeleteCluster(ctx, "alice", "c1")))

		_, err = s.GetCluster(ctx, "alice", "c1")
		wantKind(t, err, semvec.KindNotFound, "Cluster not found")
		_, err = s.GetSession(ctx, "alice", "c1")
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		_, _, err = s.LoadSnapshot(ctx, "alice", "c1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
		if m, _ := s.ListMembers(ctx, "alice", "c1"); len(m) != 0 {
			t.Fatalf("members survive: %v", m)
		}
		if of, _ := s.ClustersOfSession(ctx, "alice", "s1"); len(of) != 0 {
			t.Fatalf("ClustersOfSession(s1) = %v", of)
		}
		if rc, _ := s.RegionClusters(ctx, "alice", "r1"); len(rc) != 0 {
			t.Fatalf("region links survive: %v", rc)
		}
		// The member session itself stays.
		if _, err := s.GetSession(ctx, "alice", "s1"); err != nil {
			t.Fatalf("member session deleted with the cluster: %v", err)
		}
		wantKind(t, errOf(s.DeleteCluster(ctx, "alice", "c1")), semvec.KindNotFound, "Cluster not found")

		// Deleting a backing session directly takes the cluster with it
		// (foreign keys).
		c2, b2 := cluster("alice", "c2", 11)
		must(t, s.CreateCluster(ctx, c2, b2))
		must(t, errOf(s.DeleteSession(ctx, "alice", "c2")))
		_, err = s.GetCluster(ctx, "alice", "c2")
		wantKind(t, err, semvec.KindNotFound, "Cluster not found")
	})
}

// A region's attachments carry when each cluster was attached: its current
// attachment, so a detach and attach again moves it.
func TestRegionAttachments(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		c1, b1 := cluster("alice", "c1", 10)
		must(t, s.CreateCluster(ctx, c1, b1))
		r, meta := region("alice", "r1", 1)
		must(t, s.CreateRegion(ctx, r, meta))
		got, err := s.RegionAttachments(ctx, "alice", "r1")
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("attachments of a new region = %v", got)
		}
		_, err = s.AttachCluster(ctx, "alice", "r1", "c1")
		must(t, err)
		got, err = s.RegionAttachments(ctx, "alice", "r1")
		must(t, err)
		first, ok := got["c1"]
		if len(got) != 1 || !ok || first.IsZero() {
			t.Fatalf("attachments = %v, want c1's", got)
		}
		must(t, s.DetachCluster(ctx, "alice", "r1", "c1"))
		time.Sleep(2 * time.Millisecond)
		_, err = s.AttachCluster(ctx, "alice", "r1", "c1")
		must(t, err)
		got, err = s.RegionAttachments(ctx, "alice", "r1")
		must(t, err)
		if !got["c1"].After(first) {
			t.Fatalf("attached again at %v, first at %v", got["c1"], first)
		}
		if other, err := s.RegionAttachments(ctx, "bob", "r1"); err != nil || len(other) != 0 {
			t.Fatalf("bob sees alice's attachments: %v, %v", other, err)
		}
	})
}

// A deletion returns the other ends of the links it deleted, read in its
// transaction (the layers tell their actors): a cluster's members, its
// regions and the clusters its backing session was a member of; a region's
// clusters (and its meta session's) and whether the observer had it; a
// session's clusters.
func TestDeletionsReturnWhatTheyUnlinked(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		for i, id := range []string{"c1", "c2", "c3"} {
			c, b := cluster("alice", id, 10+i)
			must(t, s.CreateCluster(ctx, c, b))
		}
		for _, id := range []string{"s1", "s2"} {
			must(t, s.CreateSession(ctx, session("alice", id)))
		}
		add := func(cid, sid string) {
			t.Helper()
			_, err := s.AddMember(ctx, "alice", cid, sid)
			must(t, err)
		}
		add("c1", "s1")
		add("c1", "s2")
		add("c2", "c1") // c1's backing session is a member of c2
		add("c3", "s2")
		for _, rid := range []string{"r1", "r2"} {
			r, meta := region("alice", rid, 1)
			must(t, s.CreateRegion(ctx, r, meta))
		}
		attach := func(rid, cid string) {
			t.Helper()
			_, err := s.AttachCluster(ctx, "alice", rid, cid)
			must(t, err)
		}
		attach("r1", "c1")
		attach("r2", "c1")
		attach("r2", "c3")
		_, _, err := s.EnsureObserver(ctx, observer("alice", "o1"), persistence.SessionRecord{Dimension: 384})
		must(t, err)
		_, err = s.RegisterObserverRegion(ctx, "alice", "r2")
		must(t, err)

		sorted := func(v []string) []string { slices.Sort(v); return v }
		u, err := s.DeleteCluster(ctx, "alice", "c1")
		must(t, err)
		if !slices.Equal(sorted(u.Members), []string{"s1", "s2"}) || !slices.Equal(sorted(u.Regions), []string{"r1", "r2"}) ||
			!slices.Equal(u.Clusters, []string{"c2"}) || u.Observer {
			t.Fatalf("DeleteCluster(c1) unlinked %+v", u)
		}
		u, err = s.DeleteRegion(ctx, "alice", "r2")
		must(t, err)
		if !slices.Equal(u.Clusters, []string{"c3"}) || !u.Observer || len(u.Members)+len(u.Regions) != 0 {
			t.Fatalf("DeleteRegion(r2) unlinked %+v", u)
		}
		u, err = s.DeleteRegion(ctx, "alice", "r1")
		must(t, err)
		if len(u.Clusters) != 0 || u.Observer {
			t.Fatalf("DeleteRegion(r1) unlinked %+v", u)
		}
		u, err = s.DeleteSession(ctx, "alice", "s2")
		must(t, err)
		if !slices.Equal(u.Clusters, []string{"c3"}) {
			t.Fatalf("DeleteSession(s2) unlinked %+v", u)
		}
		u, err = s.DeleteSession(ctx, "alice", "s1")
		must(t, err)
		if len(u.Clusters) != 0 {
			t.Fatalf("DeleteSession(s1) unlinked %+v", u)
		}
	})
}

// A deletion runs to its end once it has begun, whatever its caller does:
// on PostgreSQL it marks the rows first, in a transaction of its own, and a
// deletion cancelled after that would leave the actors' writes refused.
func TestDeletionsAreNotCancelledWithTheirCaller(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		c, b := cluster("alice", "c1", 10)
		must(t, s.CreateCluster(ctx, c, b))
		r, meta := region("alice", "r1", 1)
		must(t, s.CreateRegion(ctx, r, meta))
		must(t, s.CreateSession(ctx, session("alice", "s1")))
		gone, cancel := context.WithCancel(ctx)
		cancel()
		must(t, errOf(s.DeleteSession(gone, "alice", "s1")))
		must(t, errOf(s.DeleteCluster(gone, "alice", "c1")))
		must(t, errOf(s.DeleteRegion(gone, "alice", "r1")))
		_, err := s.GetSession(ctx, "alice", "s1")
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		_, err = s.GetCluster(ctx, "alice", "c1")
		wantKind(t, err, semvec.KindNotFound, "Cluster not found")
		_, err = s.GetRegion(ctx, "alice", "r1")
		wantKind(t, err, semvec.KindNotFound, "Region not found")
	})
}
