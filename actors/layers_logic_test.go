package actors

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
	"github.com/semvec-go/semvec/vecmath"
)

// Pure-logic tests of the layers: aggregation, the region's vote book, the
// anomaly rules, trust consensus and network partitions. No actor system.

func unitVec(xs ...float32) []float32 {
	v := slices.Clone(xs)
	vecmath.Normalize(v)
	return v
}

func approx(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Fatalf("%s = %.6f, want %.6f (±%g)", what, got, want, tol)
	}
}

func TestAggregateWeightedAverageFavoursRecentActiveMembers(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	a := memberState{ID: "a", Vec: unitVec(1, 0), Interactions: 9, LastTurn: now}
	b := memberState{ID: "b", Vec: unitVec(0, 1), Interactions: 9, LastTurn: now.Add(-time.Hour)}
	w := aggregateWeights(AggregationWeightedAverage, []memberState{a, b}, now)
	approx(t, "weight of the fresh member", w[0], 10, 1e-9)
	approx(t, "weight of the hour-old member", w[1], 5, 1e-9) // one half-life
	agg := aggregate(AggregationWeightedAverage, []memberState{a, b}, 2, now)
	approx(t, "norm", float64(vecmath.Norm(agg)), 1, 1e-6)
	if agg[0] <= agg[1] {
		t.Fatalf("aggregate %v should lean towards the recent member (1,0)", agg)
	}
	// More interactions weigh more at equal recency.
	c := memberState{ID: "c", Vec: unitVec(0, 1), Interactions: 29, LastTurn: now}
	agg = aggregate(AggregationWeightedAverage, []memberState{a, c}, 2, now)
	if agg[1] <= agg[0] {
		t.Fatalf("aggregate %v should lean towards the more active member (0,1)", agg)
	}
}

func TestAggregateAttentionDownweightsOutliers(t *testing.T) {
	now := time.Now()
	ms := []memberState{
		{ID: "a", Vec: unitVec(1, 0.1, 0)},
		{ID: "b", Vec: unitVec(1, -0.1, 0)},
		{ID: "c", Vec: unitVec(0, 0, 1)}, // the outlier
	}
	w := aggregateWeights(AggregationAttention, ms, now)
	approx(t, "softmax sums to 1", w[0]+w[1]+w[2], 1, 1e-9)
	if !(w[2] < w[0]/5) {
		t.Fatalf("outlier weight %v should be far below the aligned members' %v", w[2], w[0])
	}
	agg := aggregate(AggregationAttention, ms, 3, now)
	plain := meanUnit([][]float32{ms[0].Vec, ms[1].Vec, ms[2].Vec})
	if vecmath.Cosine(agg, unitVec(1, 0, 0)) <= vecmath.Cosine(plain, unitVec(1, 0, 0)) {
		t.Fatalf("attention aggregate %v is not closer to the majority than the plain mean %v", agg, plain)
	}
}

func TestAggregateEdgeCases(t *testing.T) {
	if got := aggregate(AggregationWeightedAverage, nil, 4, time.Now()); len(got) != 4 || !isZero(got) {
		t.Fatalf("no members: got %v, want 4 zeros", got)
	}
	opposite := []memberState{{ID: "a", Vec: unitVec(1, 0)}, {ID: "b", Vec: unitVec(-1, 0)}}
	if got := aggregate(AggregationWeightedAverage, opposite, 2, time.Now()); !isZero(got) {
		t.Fatalf("cancelling members: got %v, want zeros", got)
	}
	// Ancient members: weights underflow, they count equally.
	old := time.Unix(0, 0)
	w := aggregateWeights(AggregationWeightedAverage, []memberState{{Vec: unitVec(1), LastTurn: old}, {Vec: unitVec(1), LastTurn: old}}, time.Unix(1<<40, 0))
	if w[0] != w[1] || w[0] <= 0 {
		t.Fatalf("underflowed weights = %v, want equal and positive", w)
	}
	if !ValidAggregationMode("attention") || ValidAggregationMode("median") {
		t.Fatal("ValidAggregationMode")
	}
}

func TestUnitDeltaNorm(t *testing.T) {
	approx(t, "orthogonal", unitDeltaNorm([]float32{2, 0}, []float32{0, 3}), math.Sqrt2, 1e-6)
	approx(t, "same direction", unitDeltaNorm([]float32{2, 0}, []float32{5, 0}), 0, 1e-9)
	approx(t, "zero", unitDeltaNorm([]float32{0, 0}, []float32{1, 0}), 0, 0)
}

func ev(cluster string, at time.Time) *pb.RegionDriftEvent {
	return &pb.RegionDriftEvent{ClusterId: cluster, AtUnixNano: at.UnixNano(), DriftPhase: "drifted", DriftScore: 0.9}
}

func TestVoteBookOneVotePerClusterAndExpiry(t *testing.T) {
	t0 := time.Unix(5000, 0)
	b := newVoteBook(3)
	b.record(ev("a", t0))
	b.record(ev("a", t0.Add(10*time.Second)))
	b.record(ev("b", t0.Add(5*time.Second)))
	b.record(ev("a", t0.Add(2*time.Second))) // late, older than a's vote: logged, not the vote
	if got := b.voters(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("voters = %v", got)
	}
	if got := b.votes["a"].GetAtUnixNano(); got != t0.Add(10*time.Second).UnixNano() {
		t.Fatalf("a's vote is not its latest event")
	}
	// Bounded log, newest first, ordered by time though one arrived late.
	rec := b.recent(10)
	if len(rec) != 3 {
		t.Fatalf("log kept %d events, want 3", len(rec))
	}
	for i := 1; i < len(rec); i++ {
		if rec[i-1].GetAtUnixNano() < rec[i].GetAtUnixNano() {
			t.Fatalf("recent events not newest first: %v", rec)
		}
	}
	if len(b.recent(0)) != 0 || len(b.recent(-1)) != 0 {
		t.Fatal("limit <= 0 must return nothing")
	}
	// Expiry: a window of 8 s at t0+14 keeps a (t0+10) and drops b (t0+5).
	b.expire(t0.Add(14*time.Second), 8*time.Second)
	if got := b.voters(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after expiry voters = %v", got)
	}
	// Detaching a forgets its vote and latest event.
	b.retain([]string{"b"})
	if len(b.votes) != 0 || b.last["a"] != nil {
		t.Fatal("retain kept a detached cluster")
	}
	b.clearVotes(t0.Add(15 * time.Second).UnixNano())
	if len(b.votes) != 0 {
		t.Fatalf("votes after clearVotes = %v", b.voters())
	}
	// An event stamped before that realignment, arriving after it, is
	// logged but does not vote (as when the votes are rebuilt at activation).
	b.record(ev("b", t0.Add(14*time.Second)))
	if len(b.votes) != 0 || b.last["b"].GetAtUnixNano() != t0.Add(14*time.Second).UnixNano() {
		t.Fatalf("an event stamped before the realignment: votes %v, latest %v", b.voters(), b.last["b"])
	}
	// Copies: mutating a returned event leaves the book alone.
	b.record(ev("b", t0.Add(20*time.Second)))
	b.recent(1)[0].ClusterId = "x"
	if b.recent(1)[0].GetClusterId() != "b" {
		t.Fatal("recent returned the book's own event")
	}
}

func TestShouldRealignIsStrictlyAboveThreshold(t *testing.T) {
	cases := []struct {
		voting, attached int
		threshold        float64
		want             bool
	}{
		{1, 1, 0.5, true},
		{1, 2, 0.5, false}, // equality does not fire
		{2, 4, 0.5, false},
		{3, 4, 0.5, true},
		{1, 5, 0.2, false},
		{2, 5, 0.2, true},
		{4, 4, 1.0, false}, // 1.0 never fires
		{0, 3, 0.1, false},
		{1, 0, 0.1, false},
	}
	for _, c := range cases {
		if got := shouldRealign(c.voting, c.attached, c.threshold); got != c.want {
			t.Errorf("shouldRealign(%d, %d, %g) = %v, want %v", c.voting, c.attached, c.threshold, got, c.want)
		}
	}
}

// obs builds an observation: regions as id → clusters, clusters as id →
// (phase, interactions, drift phase).
func obs(at time.Time, regions map[string][]string, clusters map[string]observedCluster) observation {
	o := observation{At: at, Clusters: map[string]observedCluster{}}
	ids := make([]string, 0, len(regions))
	for id := range regions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		o.Regions = append(o.Regions, observedRegion{ID: id, Clusters: regions[id], Window: time.Minute, LastEvents: map[string]time.Time{}})
	}
	for id, c := range clusters {
		c.ID = id
		o.Clusters[id] = c
	}
	return o
}

func types(as []anomaly) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Type
	}
	return out
}

func TestAnomalyCrossClusterConvergence(t *testing.T) {
	now := time.Now()
	conv := func(phase string) observedCluster {
		return observedCluster{Phase: phase, Interactions: 5, DriftPhase: "stable"}
	}
	// 3 clusters in "convergence" across 2 regions: one finding.
	o := obs(now, map[string][]string{"r1": {"a", "b"}, "r2": {"c"}},
		map[string]observedCluster{"a": conv("convergence"), "b": conv("convergence"), "c": conv("convergence")})
	got := detectAnomalies(o)
	if len(got) != 1 || got[0].Type != AnomalyCrossClusterConvergence {
		t.Fatalf("anomalies = %+v, want one cross_cluster_convergence", got)
	}
	if !slices.Equal(got[0].Clusters, []string{"a", "b", "c"}) || got[0].Severity != 0.8 {
		t.Fatalf("finding = %+v", got[0])
	}
	// Not otherwise: all in one region, only 2 clusters, initialization, mixed phases.
	notCases := map[string]observation{
		"one region": obs(now, map[string][]string{"r1": {"a", "b", "c"}},
			map[string]observedCluster{"a": conv("convergence"), "b": conv("convergence"), "c": conv("convergence")}),
		"two clusters": obs(now, map[string][]string{"r1": {"a"}, "r2": {"b"}},
			map[string]observedCluster{"a": conv("convergence"), "b": conv("convergence")}),
		"initialization": obs(now, map[string][]string{"r1": {"a", "b"}, "r2": {"c"}},
			map[string]observedCluster{"a": conv("initialization"), "b": conv("initialization"), "c": conv("initialization")}),
		"mixed phases": obs(now, map[string][]string{"r1": {"a", "b"}, "r2": {"c"}},
			map[string]observedCluster{"a": conv("convergence"), "b": conv("exploration"), "c": conv("convergence")}),
	}
	for name, o := range notCases {
		if got := detectAnomalies(o); len(got) != 0 {
			t.Errorf("%s: anomalies = %v, want none", name, types(got))
		}
	}
}

func TestAnomalySystemicDrift(t *testing.T) {
	now := time.Now()
	c := func(drift string) observedCluster {
		return observedCluster{Phase: "exploration", Interactions: 4, DriftPhase: drift, DriftAt: now.Add(-time.Second)}
	}
	// 2 of 3 drifted: more than half.
	o := obs(now, map[string][]string{"r1": {"a", "b", "c"}},
		map[string]observedCluster{"a": c("drifted"), "b": c("drifted"), "c": c("stable")})
	got := detectAnomalies(o)
	if len(got) != 1 || got[0].Type != AnomalySystemicDrift || !slices.Equal(got[0].Clusters, []string{"a", "b"}) {
		t.Fatalf("anomalies = %+v, want systemic_drift on a, b", got)
	}
	approx(t, "severity", got[0].Severity, 2.0/3, 1e-9)

	// Exactly half is not "more than 50 %".
	o = obs(now, map[string][]string{"r1": {"a", "b"}}, map[string]observedCluster{"a": c("drifted"), "b": c("stable")})
	if got := detectAnomalies(o); len(got) != 0 {
		t.Fatalf("half drifted: %v, want none", types(got))
	}
	// A drift event inside the vote window is an indicator too; outside it is not.
	o = obs(now, map[string][]string{"r1": {"a", "b"}}, map[string]observedCluster{"a": c("stable"), "b": c("drifted")})
	o.Regions[0].LastEvents["a"] = now.Add(-30 * time.Second)
	if got := detectAnomalies(o); len(got) != 1 || got[0].Type != AnomalySystemicDrift || got[0].Severity != 1 {
		t.Fatalf("event in window: %+v, want systemic_drift severity 1", got)
	}
	o.Regions[0].LastEvents["a"] = now.Add(-2 * time.Minute)
	if got := detectAnomalies(o); len(got) != 0 {
		t.Fatalf("event outside window: %v, want none", types(got))
	}
	// Nothing observed: nothing found.
	if got := detectAnomalies(observation{At: now, Clusters: map[string]observedCluster{}}); len(got) != 0 {
		t.Fatalf("empty: %v", types(got))
	}
}

func TestAnomalyClusterDivergence(t *testing.T) {
	now := time.Now()
	c := func(n int) observedCluster {
		return observedCluster{Phase: "exploration", Interactions: n, DriftPhase: "stable"}
	}
	// 12,1,1,1: the others' average is 1, 12 > 3.
	o := obs(now, map[string][]string{"r1": {"a", "b", "c", "d"}},
		map[string]observedCluster{"a": c(12), "b": c(1), "c": c(1), "d": c(1)})
	got := detectAnomalies(o)
	if len(got) != 1 || got[0].Type != AnomalyClusterDivergence || !slices.Equal(got[0].Clusters, []string{"a"}) {
		t.Fatalf("anomalies = %+v, want cluster_divergence on a", got)
	}
	approx(t, "severity", got[0].Severity, 1, 1e-9) // min(1, 0.1 × 12)
	// 6,2,2,2: 6 is exactly 3× the others' 2, not more.
	o = obs(now, map[string][]string{"r1": {"a", "b", "c", "d"}},
		map[string]observedCluster{"a": c(6), "b": c(2), "c": c(2), "d": c(2)})
	if got := detectAnomalies(o); len(got) != 0 {
		t.Fatalf("exactly 3x: %v, want none", types(got))
	}
	// A cluster diverging in two regions is reported once (dedup per sample),
	// with the larger severity: 40 vs the others' average 10 in r1 (ratio 4)
	// and 8 in r2 (ratio 5). (Phases differ so that no convergence is
	// reported.)
	p := func(n int, phase string) observedCluster { return observedCluster{Phase: phase, Interactions: n} }
	o = obs(now, map[string][]string{"r1": {"a", "b", "c", "d"}, "r2": {"a", "e", "f", "g", "h"}},
		map[string]observedCluster{"a": p(40, "stability"), "b": p(10, "exploration"), "c": p(10, "exploration"), "d": p(10, ""),
			"e": p(8, ""), "f": p(8, ""), "g": p(8, ""), "h": p(8, "")})
	got = detectAnomalies(o)
	if len(got) != 1 || got[0].Type != AnomalyClusterDivergence {
		t.Fatalf("two regions: %+v, want one cluster_divergence", got)
	}
	approx(t, "severity", got[0].Severity, 0.5, 1e-9)
}

func TestTallyVotesAndTrust(t *testing.T) {
	target := unitVec(1, 0)
	trust := map[string]float64{"p": 0.5, "x": 0.9, "y": 0.2}
	voters := []voter{
		{ID: "p", State: unitVec(1, 0.1)}, // yes
		{ID: "x", State: unitVec(0, 1)},   // no
		{ID: "y", State: unitVec(1, 0.5)}, // yes (cos ≈ 0.89)
		{ID: "z"},                         // no state: abstains
	}
	tl := tallyVotes(voters, "", target, trust)
	if len(tl.Ballots) != 3 {
		t.Fatalf("ballots = %d, want 3 (z abstains)", len(tl.Ballots))
	}
	approx(t, "yes share", tl.YesShare, 0.7/1.6, 1e-9)
	if tl.Accepted {
		t.Fatal("0.4375 < 0.5 must be rejected")
	}
	approx(t, "trust after rejection", updateTrust(trust, "p", false), 0.45, 1e-12)
	// With x trusting less, the same vote passes.
	trust["x"] = 0.1
	tl = tallyVotes(voters, "", target, trust)
	if !tl.Accepted {
		t.Fatalf("share %.3f should be accepted", tl.YesShare)
	}
	if got := updateTrust(trust, "p", true); got != 0.5 {
		t.Fatalf("trust after acceptance = %v, want exactly 0.5", got)
	}
	// Unknown proposer starts at 0.5; trust is clamped.
	tr := map[string]float64{"hi": 0.98, "lo": 0.02}
	if updateTrust(tr, "new", true) != 0.55 || updateTrust(tr, "hi", true) != 1 || updateTrust(tr, "lo", false) != 0 {
		t.Fatalf("trust updates = %v", tr)
	}
	// Nobody with a state: rejected, share 0.
	if tl := tallyVotes([]voter{{ID: "z"}}, "", target, nil); tl.Accepted || tl.YesShare != 0 {
		t.Fatalf("no ballots: %+v", tl)
	}
	// Zero trust everywhere: rejected.
	if tl := tallyVotes([]voter{{ID: "a", State: target}}, "", target, map[string]float64{"a": 0}); tl.Accepted {
		t.Fatal("zero trust must reject")
	}
}

// The proposer does not vote on its own proposal: with it left out, a
// proposal every other voter refuses is rejected however much the proposer
// is trusted. It voted yes on its own state, which turned a 1-against-1
// tie into an acceptance and let its trust climb against every other vote.
func TestTheProposerDoesNotVote(t *testing.T) {
	target := unitVec(1, 0)
	trust := map[string]float64{"p": 1, "x": 0.5}
	voters := []voter{{ID: "p", State: target}, {ID: "x", State: unitVec(0, 1)}}
	tl := tallyVotes(voters, "p", target, trust)
	if tl.Accepted || len(tl.Ballots) != 1 || tl.Ballots[0].ID != "x" || tl.YesShare != 0 {
		t.Fatalf("tally %+v: want x's ballot only, rejected", tl)
	}
	if tl := tallyVotes(voters[:1], "p", target, trust); tl.Accepted || len(tl.Ballots) != 0 {
		t.Fatalf("the proposer alone: %+v, want no ballot, rejected", tl)
	}
}

func TestNetworkStatePartitions(t *testing.T) {
	now := time.Unix(100, 0)
	st := newNetworkState(now)
	if st.Active != "default" {
		t.Fatalf("initial active = %q", st.Active)
	}
	st.join("s1", "s2", "s1")
	if !slices.Equal(st.active().Instances, []string{"s1", "s2"}) || st.active().Trust["s1"] != 0.5 {
		t.Fatalf("join: %+v", st.active())
	}
	if prev := st.switchTo("alice", now.Add(time.Second)); prev != "default" {
		t.Fatalf("first switch previous = %q, want default", prev)
	}
	if st.Partitions["default"].SavedAt != 101 {
		t.Fatal("switch did not stamp the saved partition")
	}
	if len(st.active().Instances) != 0 {
		t.Fatal("a new partition must start empty")
	}
	if prev := st.switchTo("default", now); prev != "alice" || len(st.active().Instances) != 2 {
		t.Fatalf("switch back: prev %q, instances %v", prev, st.active().Instances)
	}
	st.switchTo("alice", now)
	st.join("s1", "s3")
	if got := st.sessions(); !slices.Equal(got, []string{"s1", "s2", "s3"}) {
		t.Fatalf("the network = %v, want every partition's instances once", got)
	}
	st.switchTo("default", now)
	st.forget("s1")
	for user, p := range st.Partitions {
		if slices.Contains(p.Instances, "s1") || p.Trust["s1"] != 0 {
			t.Fatalf("forget: %s still holds s1: %+v", user, p)
		}
	}
	if !slices.Equal(st.active().Instances, []string{"s2"}) {
		t.Fatalf("forget: %+v", st.active())
	}
	// Round trip through JSON, each partition stored apart.
	stored := st.stored(nil, true)
	if len(stored.Partitions) != 2 || strings.Contains(string(stored.Data), "partitions") || !stored.All {
		t.Fatalf("stored %q with partitions %q", stored.Data, slices.Sorted(maps.Keys(stored.Partitions)))
	}
	back, whole, err := decodeNetworkState(stored, now)
	if err != nil || whole {
		t.Fatalf("decoded: whole %v, %v", whole, err)
	}
	if back.Active != "default" || !slices.Equal(back.Partitions["default"].Instances, []string{"s2"}) || back.Partitions["alice"] == nil {
		t.Fatalf("decoded %+v", back)
	}
	// A state saved in one blob (before partitions were stored apart)
	// reads the same, and must be saved whole. A blob holding partitions
	// next to rows was saved by an older binary after this one (which
	// empties the blob): its copy of a partition wins, rows fill in the
	// others.
	old, whole, err := decodeNetworkState(persistence.NetworkState{Data: mustJSON(st)}, now)
	if err != nil || !whole || string(mustJSON(old)) != string(mustJSON(back)) {
		t.Fatalf("one blob decoded to %s (whole %v, %v), want %s", mustJSON(old), whole, err, mustJSON(back))
	}
	earlier := st.Partitions["alice"].clone()
	earlier.Transfers = 9
	bob := st.Partitions["alice"].clone()
	old, _, err = decodeNetworkState(persistence.NetworkState{Data: mustJSON(st), Partitions: map[string][]byte{"alice": mustJSON(earlier), "bob": mustJSON(bob)}}, now)
	if err != nil || old.Partitions["alice"].Transfers != st.Partitions["alice"].Transfers || old.Partitions["default"] == nil || old.Partitions["bob"] == nil {
		t.Fatalf("rows under a blob an older binary saved later: %s, %v", mustJSON(old), err)
	}
	raw, ok := back.serialize("alice")
	if !ok {
		t.Fatal("serialize alice")
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"active", "trust_scores", "instances", "transfers", "proposals", "accepted_proposals", "created_at", "saved_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("serialized partition lacks %q: %v", k, m)
		}
	}
	if _, ok := back.serialize("nobody"); ok {
		t.Fatal("serialize of an unknown user must fail")
	}
	if _, _, err := decodeNetworkState(persistence.NetworkState{Data: []byte("{")}, now); err == nil {
		t.Fatal("corrupt state decoded")
	}
	if _, _, err := decodeNetworkState(persistence.NetworkState{Data: stored.Data, Partitions: map[string][]byte{"alice": []byte("[")}}, now); err == nil {
		t.Fatal("corrupt partition decoded")
	}
}

// The network (every partition's instances) holds at most maxInstances
// sessions: a session already in it enrols in any partition, a new one only
// while there is room.
func TestNetworkSessionsAreBounded(t *testing.T) {
	now := time.Unix(100, 0)
	st := newNetworkState(now)
	for i := range maxInstances {
		st.join(fmt.Sprintf("s%03d", i))
	}
	st.join("one-too-many")
	if n := len(st.sessions()); n != maxInstances || slices.Contains(st.active().Instances, "one-too-many") {
		t.Fatalf("the network holds %d sessions after %d joins, want %d", n, maxInstances+1, maxInstances)
	}
	st.switchTo("alice", now)
	st.join("s007", "another")
	if got := st.active().Instances; !slices.Equal(got, []string{"s007"}) {
		t.Fatalf("alice's instances = %v, want the network's s007 only", got)
	}
	st.forget("s000")
	st.join("another")
	if !slices.Contains(st.active().Instances, "another") {
		t.Fatal("a session did not enrol once the network had room")
	}
}

// The partitions hold at most maxEnrolments instances in all: the network
// state stays bounded, and a change saves only the partitions it edits.
func TestEnrolmentsAreBounded(t *testing.T) {
	now := time.Unix(100, 0)
	st := newNetworkState(now)
	ids := make([]string, maxInstances)
	for i := range ids {
		ids[i] = fmt.Sprintf("%0128d", i) // as long as a session id may be
	}
	for u := 0; u < maxEnrolments/maxInstances; u++ {
		st.switchTo(fmt.Sprintf("user%d", u), now)
		st.join(ids...)
		for _, id := range ids {
			updateTrust(st.active().Trust, id, true) // a score longer than 0.5
		}
	}
	st.switchTo("one-more", now)
	st.join(ids[0])
	if n := len(st.active().Instances); n != 0 {
		t.Fatalf("a partition enrolled %d sessions past %d enrolments in all", n, maxEnrolments)
	}
	size := func(s persistence.NetworkState) int {
		n := len(s.Data)
		for _, p := range s.Partitions {
			n += len(p)
		}
		return n
	}
	if n := size(st.stored(nil, true)); n > 4500<<10 {
		t.Fatalf("the network state at its bounds is %d bytes stored", n)
	}
	c := st.copyForChange()
	c.switchTo("user3", now)
	c.join(ids[0])
	c.edit(c.Active).Transfers++
	if n := size(c.stored(slices.Collect(maps.Keys(c.edited)), false)); n > 2*72<<10 {
		t.Fatalf("a switch and a transfer at the bounds save %d bytes", n)
	}
}

// A change is made to a copy of the network state (copyForChange) that
// shares the partitions it does not edit: whatever the change does, the
// state it was copied from is left as it was, so a change whose save fails
// changes nothing. (The copy was a full JSON round trip of the state.)
func TestAChangeToACopyLeavesTheStateAsItWas(t *testing.T) {
	now := time.Unix(100, 0)
	st := newNetworkState(now)
	st.join("s1", "s2")
	st.switchTo("alice", now)
	st.join("s2", "s3")
	st.switchTo("bob", now)
	st.join("s1")
	before := string(mustJSON(st))

	c := st.copyForChange()
	c.join("s4")
	c.edit(c.Active).Transfers++
	updateTrust(c.edit(c.Active).Trust, "s1", true)
	c.forget("s2")
	c.switchTo("carol", now.Add(time.Second))
	c.join("s1")
	c.edit("alice").SavedStates = 7
	c.RestoringFrom = "bob"
	if got := string(mustJSON(st)); got != before {
		t.Fatalf("a change to a copy changed the state:\n%s\nwas\n%s", got, before)
	}
	for _, user := range []string{defaultUserName, "alice"} {
		if slices.Contains(c.Partitions[user].Instances, "s2") || !slices.Contains(st.Partitions[user].Instances, "s2") {
			t.Fatalf("forget on the copy: %s's instances %v, the state's %v", user, c.Partitions[user].Instances, st.Partitions[user].Instances)
		}
	}
	if c.Partitions["bob"].Transfers != 1 || st.Partitions["bob"].Transfers != 0 || c.Partitions["bob"].Trust["s1"] != 0.55 {
		t.Fatalf("edits on the copy: %+v", c.Partitions["bob"])
	}
	// A partition no change touched is shared, not copied.
	d := st.copyForChange()
	d.edit(d.Active).Proposals++
	if d.Partitions["alice"] != st.Partitions["alice"] || d.Partitions["bob"] == st.Partitions["bob"] {
		t.Fatal("copyForChange copied an untouched partition, or shared an edited one")
	}
	// The partitions a change edited are the ones its save writes.
	for _, x := range []struct {
		st   *networkState
		want []string
	}{{c, []string{"alice", "bob", "carol", defaultUserName}}, {d, []string{"bob"}}} {
		if got := slices.Sorted(maps.Keys(x.st.edited)); !slices.Equal(got, x.want) {
			t.Fatalf("edited partitions %v, want %v", got, x.want)
		}
	}
}
