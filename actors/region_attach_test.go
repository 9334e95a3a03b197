package actors

import "testing"

// Detaching a cluster drops its vote and latest event; attaching it again
// does not bring them back, and neither does a restart (the events stay in
// the region's log, but they predate the new attachment).
func TestDetachedVoteStaysGoneAfterRestart(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.99, 3600)
	ca, cb := e.cluster(own, AggregationWeightedAverage, 0), e.cluster(own, AggregationWeightedAverage, 0)
	for _, c := range []string{ca, cb} {
		ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	}
	e.steady(own, ca, 0, 4)
	e.switchTopic(own, ca, 5)
	ok(e.layers.ClusterState(ctx, own, ca))(t) // behind the drift event
	eventually(t, "ca's vote", func() bool {
		return len(ok(e.layers.RegionState(ctx, own, r.ID, 20))(t).GetActiveVotes()) == 1
	})
	ok0 := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ok0(e.layers.DetachCluster(ctx, own, r.ID, ca))
	ok(e.layers.AttachCluster(ctx, own, r.ID, ca))(t)
	before := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if len(before.GetActiveVotes()) != 0 || len(before.GetLastEvents()) != 0 {
		t.Fatalf("after detach and attach: votes %v, latest events %v; want none", before.GetActiveVotes(), before.GetLastEvents())
	}
	e.restart()
	after := ok(e.layers.RegionState(ctxT(t), own, r.ID, 20))(t)
	if len(after.GetActiveVotes()) != 0 || len(after.GetLastEvents()) != 0 {
		t.Fatalf("after the restart: votes %v, latest events %v; want none, as before it", after.GetActiveVotes(), after.GetLastEvents())
	}
	if len(after.GetRecentEvents()) != len(before.GetRecentEvents()) {
		t.Fatalf("recent events %d after the restart, %d before", len(after.GetRecentEvents()), len(before.GetRecentEvents()))
	}
}
