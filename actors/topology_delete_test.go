package actors

import (
	"context"
	"slices"
	"testing"

	"github.com/semvec-go/semvec/persistence"
)

// heldDeletes holds the next cluster or region deletion (hold names which)
// until release is closed, before it reaches the database.
type heldDeletes struct {
	*persistence.Store
	hold             string
	entered, release chan struct{}
}

func (h *heldDeletes) wait(what string) {
	if h.hold == what {
		h.hold = ""
		close(h.entered)
		<-h.release
	}
}

func (h *heldDeletes) DeleteCluster(ctx context.Context, owner, id string) (persistence.Unlinked, error) {
	h.wait("cluster")
	return h.Store.DeleteCluster(ctx, owner, id)
}

func (h *heldDeletes) DeleteRegion(ctx context.Context, owner, id string) (persistence.Unlinked, error) {
	h.wait("region")
	return h.Store.DeleteRegion(ctx, owner, id)
}

// A link committed while a cluster or region is being deleted goes with
// it, and the actor at its other end is told: the survivor's view does not
// keep naming the deleted entity (it did until a restart, because the
// deletion told only the links it had read before it began).
func TestDeletionRacingAnAttachLeavesNoLinkInViews(t *testing.T) {
	for _, deleted := range []string{"cluster", "region"} {
		t.Run(deleted, func(t *testing.T) {
			held := &heldDeletes{hold: deleted, entered: make(chan struct{}), release: make(chan struct{})}
			e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore { held.Store = s; return held })
			ctx := ctxT(t)
			const own = "tenant-a"
			r := e.region(own, 0.5, 60)
			c := e.cluster(own, AggregationWeightedAverage, 0)
			ok(e.layers.RegionState(ctx, own, r.ID, 5))(t) // both actors run
			ok(e.layers.ClusterState(ctx, own, c))(t)
			done := make(chan error, 1)
			go func() {
				if deleted == "cluster" {
					done <- e.layers.DeleteCluster(ctx, own, c)
				} else {
					done <- e.layers.DeleteRegion(ctx, own, r.ID)
				}
			}()
			<-held.entered
			ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t) // lands before the deletion
			close(held.release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if deleted == "cluster" {
				if ids := ok(e.layers.RegionState(ctx, own, r.ID, 5))(t).GetClusterIds(); len(ids) != 0 {
					t.Fatalf("the region still lists %v after the cluster's deletion", ids)
				}
			} else {
				if ids := ok(e.layers.ClusterState(ctx, own, c))(t).GetRegionIds(); len(ids) != 0 {
					t.Fatalf("the cluster still lists %v after the region's deletion", ids)
				}
			}
		})
	}
}

// A member session deleted and created again under its id is not a member:
// the cluster's view drops it when the session is deleted (feedback blended
// into the new session, which could not be removed: 404).
func TestDeletedMemberCreatedAgainIsNotAMember(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	c := e.cluster(own, AggregationWeightedAverage, 0.5)
	for k, sid := range []string{"s1", "s2", "s3"} {
		ok(e.sessions.Create(ctx, own, CreateOptions{ID: sid}))(t)
		ok(e.layers.AddMember(ctx, own, c, sid))(t)
		e.steady(own, sid, k, 2)
	}
	ok(e.layers.ClusterState(ctx, own, c))(t) // the cluster actor runs
	if err := e.sessions.Delete(ctx, own, "s1"); err != nil {
		t.Fatal(err)
	}
	ok(e.sessions.Create(ctx, own, CreateOptions{ID: "s1"}))(t)
	e.steady(own, "s1", 3, 2)
	if ids := ok(e.layers.ClusterState(ctx, own, c))(t).GetMemberIds(); !slices.Equal(ids, []string{"s2", "s3"}) {
		t.Fatalf("members after s1 was deleted and created again: %v, want [s2 s3]", ids)
	}
	before := e.state(own, "s1").GetState()
	if n := ok(e.layers.ClusterFeedback(ctx, own, c))(t).GetSessionsUpdated(); n != 2 {
		t.Fatalf("feedback updated %d sessions, want 2 (s2 and s3)", n)
	}
	if after := e.state(own, "s1").GetState(); !slices.Equal(after, before) {
		t.Fatal("feedback blended into the new s1, which is no member")
	}
}

// cancelAfterDelete cancels the deleting request's context as soon as the
// region's deletion has committed: its client hung up.
type cancelAfterDelete struct {
	*persistence.Store
	cancel context.CancelFunc
}

func (c *cancelAfterDelete) DeleteRegion(ctx context.Context, owner, id string) (persistence.Unlinked, error) {
	u, err := c.Store.DeleteRegion(ctx, owner, id)
	c.cancel()
	return u, err
}

// What a change does once committed (tell the actors whose links changed,
// stop a deleted resource's) is done even when its caller has gone: a
// client hanging up right after the commit left the cluster listing the
// deleted region (and, in cluster mode, the region's actor serving it).
func TestCommittedChangeIsToldWhenTheCallerHasGone(t *testing.T) {
	held := &cancelAfterDelete{}
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore { held.Store = s; return held })
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.5, 60)
	c := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	if ids := ok(e.layers.ClusterState(ctx, own, c))(t).GetRegionIds(); len(ids) != 1 { // the cluster actor runs
		t.Fatalf("region ids %v", ids)
	}
	request, cancel := context.WithCancel(ctx)
	held.cancel = cancel
	if err := e.layers.DeleteRegion(request, own, r.ID); err != nil {
		t.Fatal(err)
	}
	if ids := ok(e.layers.ClusterState(ctx, own, c))(t).GetRegionIds(); len(ids) != 0 {
		t.Fatalf("the cluster still lists %v after the region's deletion", ids)
	}
}
