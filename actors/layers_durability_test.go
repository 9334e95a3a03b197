package actors

import (
	"slices"
	"testing"
)

// A region's drift events and live votes, its realignment count, and the
// observer's anomaly log survive a restart: they are rebuilt from the
// database, not started empty.
func TestLayerLogsSurviveRestart(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.6, 3600)
	ca, cb := e.cluster(own, AggregationWeightedAverage, 0), e.cluster(own, AggregationWeightedAverage, 0)
	for _, c := range []string{ca, cb} {
		ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	}
	e.steady(own, ca, 0, 4)
	e.steady(own, cb, 1, 4)
	// The observer watches a second region holding ca alone.
	watched := e.region(own, 0.99, 3600)
	ok(e.layers.AttachCluster(ctx, own, watched.ID, ca))(t)
	ok2(e.layers.EnsureObserver(ctx, own, 3600, []string{watched.ID}))(t)

	// ca drifts: one event, one vote (1 of 2 does not exceed 0.6), and a
	// systemic_drift anomaly (1 of 1 observed clusters) in the observer's log.
	e.switchTopic(own, ca, 5)
	ok(e.layers.ClusterState(ctx, own, ca))(t) // behind the drift event
	before := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if len(before.GetRecentEvents()) != 1 || len(before.GetActiveVotes()) != 1 {
		t.Fatalf("before the restart: events %v, votes %v", before.GetRecentEvents(), before.GetActiveVotes())
	}
	s := ok(e.layers.ObserverSample(ctx, own))(t)
	if len(s.GetNewAnomalies()) != 1 {
		t.Fatalf("sample found %v, want one anomaly", s.GetNewAnomalies())
	}
	anomaly := s.GetNewAnomalies()[0].GetAnomalyId()

	e.restart()
	ctx = ctxT(t)
	after := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if len(after.GetRecentEvents()) != 1 || after.GetRecentEvents()[0].GetClusterId() != ca ||
		after.GetRecentEvents()[0].GetAtUnixNano() != before.GetRecentEvents()[0].GetAtUnixNano() {
		t.Fatalf("events after the restart = %v, want %v", after.GetRecentEvents(), before.GetRecentEvents())
	}
	if len(after.GetActiveVotes()) != 1 || len(after.GetLastEvents()) != 1 {
		t.Fatalf("votes %v, latest events %v after the restart; want ca's", after.GetActiveVotes(), after.GetLastEvents())
	}
	as := ok(e.layers.ObserverAnomalies(ctx, own, 20))(t)
	if len(as) != 1 || as[0].GetAnomalyId() != anomaly {
		t.Fatalf("anomalies after the restart = %v, want %s", as, anomaly)
	}

	// cb drifts: with ca's restored vote, 2 of 2 exceed 0.6 and realign.
	e.switchTopic(own, cb, 6)
	eventually(t, "the realignment", func() bool {
		return ok(e.layers.RegionState(ctx, own, r.ID, 20))(t).GetRealignments() == 1
	})
	e.restart()
	ctx = ctxT(t)
	rs := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if rs.GetRealignments() != 1 || len(rs.GetActiveVotes()) != 0 || len(rs.GetRecentEvents()) != 2 || rs.GetLastRealignmentUnixNano() == 0 {
		t.Fatalf("after realignment and restart: realignments %d, votes %v, events %d", rs.GetRealignments(), rs.GetActiveVotes(), len(rs.GetRecentEvents()))
	}
	if ids := []string{rs.GetRecentEvents()[0].GetClusterId(), rs.GetRecentEvents()[1].GetClusterId()}; !slices.Equal(ids, []string{cb, ca}) {
		t.Fatalf("events newest first = %v, want [cb ca]", ids)
	}

	// Clearing the anomaly log is durable too.
	if n := ok(e.layers.ClearAnomalies(ctx, own))(t); n != 1 {
		t.Fatalf("cleared %d, want 1", n)
	}
	e.restart()
	if as := ok(e.layers.ObserverAnomalies(ctxT(t), own, 20))(t); len(as) != 0 {
		t.Fatalf("anomalies after clear and restart = %v", as)
	}
}
