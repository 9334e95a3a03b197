package actors

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
	"github.com/semvec-go/semvec/vecmath"
)

// Actor-level tests of the layers: a real actor system, real session actors
// and a real SQLite store in t.TempDir(); no HTTP. Vectors are crafted in a
// small dimension so drift can be provoked at will.

const testDim = 16

type layersEnv struct {
	t        *testing.T
	dbPath   string
	store    *persistence.Store
	sys      *actor.ActorSystem
	sessions *Sessions
	layers   *Layers
	cancel   context.CancelFunc
	done     chan struct{}
	stopped  bool
	// wrap, when set, is the store the layers use (a store that fails on
	// purpose); the sessions use the plain one.
	wrap func(*persistence.Store) LayerStore
	// wrapSessions, when set, is the store the sessions use.
	wrapSessions func(*persistence.Store) SessionStore
	// maxSessions, when set, is the sessions' SEMVEC_MAX_SESSIONS.
	maxSessions int
	// layersNow, when set, is the layers' clock.
	layersNow func() time.Time
	// askTimeout, when set, replaces the 5 s ask timeout (a test that
	// queues a thousand changes behind one).
	askTimeout time.Duration
}

func newLayersEnv(t *testing.T) *layersEnv {
	t.Helper()
	e := &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db")}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// newWrappedLayersEnv is newLayersEnv whose layers use the store wrap
// returns (one that fails or holds on purpose); the sessions use the plain
// one.
func newWrappedLayersEnv(t *testing.T, wrap func(*persistence.Store) LayerStore) *layersEnv {
	t.Helper()
	e := &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db"), wrap: wrap}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// newWrappedSessionsEnv is newWrappedLayersEnv for the sessions' store: the
// stack's sessions use wrap's store.
func newWrappedSessionsEnv(t *testing.T, wrap func(*persistence.Store) SessionStore) *layersEnv {
	t.Helper()
	e := &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db"), wrapSessions: wrap}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start opens the store and starts an actor system, sessions and layers on
// it (again after stop: a restart).
func (e *layersEnv) start() {
	ctx := context.Background()
	store, err := persistence.Open(ctx, "sqlite:///"+e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e.store = store
	e.sys = NewActorSystem(log)
	ask := &Asker{Root: e.sys.Root, Timeout: cmp.Or(e.askTimeout, 5*time.Second)}
	var ss SessionStore = store
	if e.wrapSessions != nil {
		ss = e.wrapSessions(store)
	}
	e.sessions = NewSessions(e.sys.Root, ss, ask, SessionConfig{Dim: testDim, ModelName: "test", MaxSessions: e.maxSessions}, log, nil)
	var ls LayerStore = store
	if e.wrap != nil {
		ls = e.wrap(store)
	}
	e.layers = NewLayers(e.sys.Root, ls, ask, e.sessions, log, e.layersNow)
	rctx, cancel := context.WithCancel(ctx)
	e.cancel, e.done = cancel, make(chan struct{})
	go func() { defer close(e.done); e.layers.Run(rctx) }()
	e.stopped = false
}

// stop shuts everything down as cmd/semvec does: layers, then sessions.
func (e *layersEnv) stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	e.cancel()
	<-e.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.layers.Shutdown(ctx); err != nil {
		e.t.Errorf("layers shutdown: %v", err)
	}
	if err := e.sessions.Shutdown(ctx); err != nil {
		e.t.Errorf("sessions shutdown: %v", err)
	}
	e.sys.Shutdown()
	_ = e.store.Close()
}

func (e *layersEnv) restart() {
	e.stop()
	e.start()
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// topic returns a unit vector near basis vector k; j varies it slightly.
func topic(k, j int) []float32 {
	v := make([]float32, testDim)
	v[k] = 1
	v[8+(j%8)] = 0.15
	vecmath.Normalize(v)
	return v
}

func (e *layersEnv) session(owner string) string {
	e.t.Helper()
	id, err := e.sessions.Create(ctxT(e.t), owner, CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *layersEnv) run(owner, sid string, vec []float32) *pb.RunResponse {
	e.t.Helper()
	res, err := AskSession[*pb.RunResponse](ctxT(e.t), e.sessions, sid, &pb.RunRequest{
		Owner: owner, SessionId: sid, Message: fmt.Sprintf("turn %v", vec[:3]), MessageVec: vec,
		ShortCircuitThreshold: 0.85, NowUnixNano: time.Now().UnixNano(),
	})
	if err != nil {
		e.t.Fatalf("run on %s: %v", sid, err)
	}
	return res
}

// steady runs n turns on topic k and fails on any drift.
func (e *layersEnv) steady(owner, sid string, k, n int) {
	e.t.Helper()
	for j := range n {
		if res := e.run(owner, sid, topic(k, j)); res.GetDriftDetected() {
			e.t.Fatalf("steady turn %d on %s detected drift (score %.2f)", j, sid, res.GetDriftScore())
		}
	}
}

// switchTopic runs one turn on topic k and requires drift.
func (e *layersEnv) switchTopic(owner, sid string, k int) {
	e.t.Helper()
	if res := e.run(owner, sid, topic(k, 0)); !res.GetDriftDetected() {
		e.t.Fatalf("topic switch on %s detected no drift (score %.2f)", sid, res.GetDriftScore())
	}
}

func (e *layersEnv) state(owner, sid string) *pb.StateResponse {
	e.t.Helper()
	st, err := AskSession[*pb.StateResponse](ctxT(e.t), e.sessions, sid, &pb.StateRequest{Owner: owner, SessionId: sid})
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *layersEnv) cluster(owner, mode string, coupling float64) string {
	e.t.Helper()
	info, err := e.layers.CreateCluster(ctxT(e.t), owner, "c", mode, coupling)
	if err != nil {
		e.t.Fatal(err)
	}
	return info.ID
}

func (e *layersEnv) region(owner string, threshold, window float64) RegionInfo {
	e.t.Helper()
	info, err := e.layers.CreateRegion(ctxT(e.t), owner, "r", threshold, window)
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

// ok turns (v, err) into v, failing the test on err: ok(f())(t).
func ok[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if semvec.KindOf(err) != semvec.KindNotFound {
		t.Errorf("%s: err = %v, want NotFound", what, err)
	}
}

func TestLayersClusterAggregateAndFeedback(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	a, b := e.session(own), e.session(own)
	cid := e.cluster(own, AggregationWeightedAverage, 0.5)

	st := ok(e.layers.ClusterState(ctx, own, cid))(t)
	if len(st.GetAggregateVector()) != testDim || !isZero(st.GetAggregateVector()) || len(st.GetMemberIds()) != 0 {
		t.Fatalf("empty cluster: %+v", st)
	}
	if st.GetPhase() == "" {
		t.Fatal("cluster state lacks the backing session's phase")
	}
	for _, sid := range []string{a, b} {
		if added := ok(e.layers.AddMember(ctx, own, cid, sid))(t); !added {
			t.Fatalf("member %s not added", sid)
		}
	}
	if added := ok(e.layers.AddMember(ctx, own, cid, a))(t); added {
		t.Fatal("adding a member twice reported added")
	}
	e.steady(own, a, 0, 3)
	e.steady(own, b, 1, 1)

	st = ok(e.layers.ClusterState(ctx, own, cid))(t)
	agg := st.GetAggregateVector()
	if len(st.GetMemberIds()) != 2 || st.GetInitializedMembers() != 2 {
		t.Fatalf("members = %v (initialised %d)", st.GetMemberIds(), st.GetInitializedMembers())
	}
	approx(t, "aggregate norm", float64(vecmath.Norm(agg)), 1, 1e-4)
	sa, sb := e.state(own, a).GetState(), e.state(own, b).GetState()
	// weighted_average: a (3 turns) outweighs b (1 turn).
	if vecmath.Cosine(agg, sa) <= vecmath.Cosine(agg, sb) {
		t.Fatalf("aggregate is closer to the less active member: cos(a)=%.3f cos(b)=%.3f", vecmath.Cosine(agg, sa), vecmath.Cosine(agg, sb))
	}

	// Feedback blends the aggregate into both members.
	fb := ok(e.layers.ClusterFeedback(ctx, own, cid))(t)
	if fb.GetSessionsUpdated() != 2 || fb.GetTarget() != "aggregate" {
		t.Fatalf("feedback = %+v, want 2 sessions updated towards the aggregate", fb)
	}
	if vecmath.Cosine(e.state(own, b).GetState(), agg) <= vecmath.Cosine(sb, agg) {
		t.Fatal("feedback did not move member b towards the aggregate")
	}
	// Once the cluster session has a state, feedback still blends the
	// aggregate (TestLayersClusterFeedbackBlendsTheAggregateNotTheBackingSession).
	e.steady(own, cid, 2, 1)
	fb = ok(e.layers.ClusterFeedback(ctx, own, cid))(t)
	if fb.GetTarget() != "aggregate" || fb.GetSessionsUpdated() != 2 {
		t.Fatalf("feedback = %+v, want the aggregate blended into 2 members", fb)
	}

	// Coupling 0: nothing, at once.
	zero := e.cluster(own, AggregationAttention, 0)
	ok(e.layers.AddMember(ctx, own, zero, a))(t)
	if fb := ok(e.layers.ClusterFeedback(ctx, own, zero))(t); fb.GetSessionsUpdated() != 0 {
		t.Fatalf("coupling 0 updated %d sessions", fb.GetSessionsUpdated())
	}

	// A deleted member session drops out of the cluster.
	if err := e.sessions.Delete(ctx, own, b); err != nil {
		t.Fatal(err)
	}
	st = ok(e.layers.ClusterState(ctx, own, cid))(t)
	if !slices.Equal(st.GetMemberIds(), []string{a}) {
		t.Fatalf("after deleting b, members = %v", st.GetMemberIds())
	}
	// Removing and deleting.
	if err := e.layers.RemoveMember(ctx, own, cid, a); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, "remove non-member", e.layers.RemoveMember(ctx, own, cid, a))
	if err := e.layers.DeleteCluster(ctx, own, cid); err != nil {
		t.Fatal(err)
	}
	_, err := e.layers.ClusterState(ctx, own, cid)
	wantNotFound(t, "state of a deleted cluster", err)
	_, err = AskSession[*pb.StateResponse](ctx, e.sessions, cid, &pb.StateRequest{Owner: own, SessionId: cid})
	wantNotFound(t, "backing session of a deleted cluster", err)
	// The session's membership list no longer names the deleted cluster.
	if got := ok(e.store.ClustersOfSession(ctx, own, a))(t); !slices.Equal(got, []string{zero}) {
		t.Fatalf("a's clusters = %v", got)
	}
}

func TestLayersDriftTravelsToRegionAndRealigns(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	ca, cb := e.cluster(own, AggregationWeightedAverage, 0), e.cluster(own, AggregationWeightedAverage, 0)
	member := e.session(own)
	ok(e.layers.AddMember(ctx, own, ca, member))(t)
	r := e.region(own, 0.5, 60)
	for _, c := range []string{ca, cb} {
		ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	}
	// Both cluster sessions get a state, on different topics.
	e.steady(own, ca, 0, 3)
	e.steady(own, cb, 1, 3)

	// A steady conversation on the member raises nothing.
	e.steady(own, member, 2, 5)
	// Drift is a chain of sends: session → cluster → region. Each ask below
	// queues behind whatever the previous hop sent, so no sleep is needed.
	ok(e.layers.ClusterState(ctx, own, ca))(t)
	rs := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if len(rs.GetRecentEvents()) != 0 {
		t.Fatalf("steady conversation produced events: %v", rs.GetRecentEvents())
	}

	// The member switches topic: the event reaches the region through ca.
	e.switchTopic(own, member, 5)
	ok(e.layers.ClusterState(ctx, own, ca))(t) // behind the drift event: it has been passed on
	evs := ok(e.layers.RegionEvents(ctx, own, r.ID, 20))(t)
	if len(evs) != 1 {
		t.Fatalf("region events after the member's drift = %v, want 1", evs)
	}
	if evs[0].GetClusterId() != ca || evs[0].GetSessionId() != member || evs[0].GetRegionId() != r.ID || evs[0].GetDriftPhase() != "drifted" {
		t.Fatalf("event = %+v", evs[0])
	}
	// 1 of 2 clusters voted: 0.5 does not exceed 0.5.
	rs = ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if rs.GetLastRealignmentUnixNano() != 0 || len(rs.GetActiveVotes()) != 1 {
		t.Fatalf("after one vote: last_realignment %d, votes %d", rs.GetLastRealignmentUnixNano(), len(rs.GetActiveVotes()))
	}

	// cb's own session drifts: 2 of 2 > 0.5 fires the realignment.
	before := [][]float32{e.state(own, ca).GetState(), e.state(own, cb).GetState()}
	e.switchTopic(own, cb, 6)
	eventually(t, "the realignment", func() bool {
		return ok(e.layers.RegionState(ctx, own, r.ID, 20))(t).GetLastRealignmentUnixNano() != 0
	})
	rs = ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if len(rs.GetActiveVotes()) != 0 || rs.GetRealignments() != 1 || len(rs.GetRecentEvents()) != 2 {
		t.Fatalf("after realignment: votes %d, realignments %d, events %d", len(rs.GetActiveVotes()), rs.GetRealignments(), len(rs.GetRecentEvents()))
	}
	if rs.GetRecentEvents()[0].GetClusterId() != cb {
		t.Fatal("events are not newest first")
	}
	// The meta session holds the consensus vector, persisted last_realignment.
	eventually(t, "the meta session's state", func() bool { return e.state(own, r.MetaSessionID).GetInitialized() })
	meta := e.state(own, r.MetaSessionID)
	if meta.GetInteractionCount() != 1 {
		t.Fatalf("meta session turns = %d, want 1 per realignment", meta.GetInteractionCount())
	}
	eventually(t, "last_realignment in the store", func() bool {
		rec := ok(e.store.GetRegion(ctx, own, r.ID))(t)
		return rec.LastRealignment != nil
	})
	// Each voting cluster session moved towards the consensus vector.
	for i, c := range []string{ca, cb} {
		now := e.state(own, c).GetState()
		if vecmath.Cosine(now, meta.GetState()) <= vecmath.Cosine(before[i], meta.GetState())+1e-6 &&
			vecmath.Cosine(e.state(own, c).GetState(), meta.GetState()) < 0.999 {
			t.Errorf("cluster %d did not move towards the consensus vector", i)
		}
	}
}

func TestLayersRealignmentMath(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	ca, cb := e.cluster(own, AggregationWeightedAverage, 0), e.cluster(own, AggregationWeightedAverage, 0)
	e.steady(own, ca, 0, 2)
	e.steady(own, cb, 1, 2)
	r := e.region(own, 0.5, 60)
	sa, sb := e.state(own, ca).GetState(), e.state(own, cb).GetState()
	v := ok(e.layers.regionView(ctx, own, r.ID))(t)
	if err := e.layers.alignVectors(ctx, v, []string{ca, cb}, time.Now()); err != nil {
		t.Fatal(err)
	}
	consensus := meanUnit([][]float32{sa, sb})
	meta := e.state(own, r.MetaSessionID).GetState()
	approx(t, "cos(meta, mean of voters)", float64(vecmath.Cosine(meta, consensus)), 1, 1e-5)
	// Each voter: normalise(0.7·s + 0.3·consensus).
	for _, c := range [][2][]float32{{sa, e.state(own, ca).GetState()}, {sb, e.state(own, cb).GetState()}} {
		want := make([]float64, testDim)
		for i := range want {
			want[i] = 0.7*float64(c[0][i]) + 0.3*float64(consensus[i])
		}
		w := unit64(want, make([]float32, testDim))
		approx(t, "cos(voter, expected blend)", float64(vecmath.Cosine(c[1], w)), 1, 1e-5)
	}
}

func TestLayersObserverAnomaliesThroughActors(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)

	t.Run("cross_cluster_convergence", func(t *testing.T) {
		const own = "conv"
		r1, r2 := e.region(own, 0.5, 60), e.region(own, 0.5, 60)
		var cs []string
		for i, r := range []RegionInfo{r1, r1, r2} {
			c := e.cluster(own, AggregationWeightedAverage, 0)
			ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
			e.steady(own, c, 0, 13) // the same script: the same phase (initialization ends after turn 10)
			cs = append(cs, c)
			_ = i
		}
		if ph := e.state(own, cs[0]).GetPhase(); ph == "initialization" {
			t.Fatalf("13 steady turns left the cluster session in %q", ph)
		}
		// Only r1 registered: its 2 clusters are not enough.
		ok2(e.layers.EnsureObserver(ctx, own, 3600, []string{r1.ID}))(t)
		if s := ok(e.layers.ObserverSample(ctx, own))(t); len(s.GetNewAnomalies()) != 0 || s.GetClustersSampled() != 2 {
			t.Fatalf("one region: %d clusters sampled, anomalies %v", s.GetClustersSampled(), s.GetNewAnomalies())
		}
		ok2(e.layers.RegisterRegion(ctx, own, r2.ID))(t)
		s := ok(e.layers.ObserverSample(ctx, own))(t)
		if len(s.GetNewAnomalies()) != 1 || s.GetNewAnomalies()[0].GetAnomalyType() != AnomalyCrossClusterConvergence {
			t.Fatalf("anomalies = %v, want one cross_cluster_convergence", s.GetNewAnomalies())
		}
		slices.Sort(cs)
		if a := s.GetNewAnomalies()[0]; !slices.Equal(a.GetAffectedClusterIds(), cs) || a.GetSeverity() != 0.8 {
			t.Fatalf("anomaly = %+v", a)
		}
	})

	t.Run("systemic_drift", func(t *testing.T) {
		const own = "drift"
		r := e.region(own, 0.99, 60) // no realignment in the way
		var cs []string
		for k := range 3 {
			c := e.cluster(own, AggregationWeightedAverage, 0)
			ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
			e.steady(own, c, k, 4)
			cs = append(cs, c)
		}
		ok2(e.layers.EnsureObserver(ctx, own, 3600, []string{r.ID}))(t)
		e.switchTopic(own, cs[0], 6)
		s := ok(e.layers.ObserverSample(ctx, own))(t)
		if len(s.GetNewAnomalies()) != 0 {
			t.Fatalf("1 of 3 drifting: anomalies %v, want none", s.GetNewAnomalies())
		}
		e.switchTopic(own, cs[1], 7)
		s = ok(e.layers.ObserverSample(ctx, own))(t)
		if len(s.GetNewAnomalies()) != 1 || s.GetNewAnomalies()[0].GetAnomalyType() != AnomalySystemicDrift {
			t.Fatalf("2 of 3 drifting: anomalies %v, want systemic_drift", s.GetNewAnomalies())
		}
		a := s.GetNewAnomalies()[0]
		want := []string{cs[0], cs[1]}
		slices.Sort(want)
		if !slices.Equal(a.GetAffectedClusterIds(), want) {
			t.Fatalf("affected = %v, want %v", a.GetAffectedClusterIds(), want)
		}
		approx(t, "severity", a.GetSeverity(), 2.0/3, 1e-9)
	})

	t.Run("cluster_divergence", func(t *testing.T) {
		const own = "div"
		r := e.region(own, 0.5, 60)
		var cs []string
		for range 3 {
			c := e.cluster(own, AggregationWeightedAverage, 0)
			ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
			cs = append(cs, c)
		}
		ok2(e.layers.EnsureObserver(ctx, own, 3600, []string{r.ID}))(t)
		e.steady(own, cs[0], 0, 3) // 3, 1, 1: 3 is exactly 3× the others' average 1
		e.steady(own, cs[1], 1, 1)
		e.steady(own, cs[2], 2, 1)
		if s := ok(e.layers.ObserverSample(ctx, own))(t); len(s.GetNewAnomalies()) != 0 {
			t.Fatalf("3,1,1: anomalies %v, want none", s.GetNewAnomalies())
		}
		e.steady(own, cs[0], 0, 4) // 7, 1, 1: 7 > 3 (a region of 3 clusters)
		s := ok(e.layers.ObserverSample(ctx, own))(t)
		if len(s.GetNewAnomalies()) != 1 || s.GetNewAnomalies()[0].GetAnomalyType() != AnomalyClusterDivergence ||
			!slices.Equal(s.GetNewAnomalies()[0].GetAffectedClusterIds(), []string{cs[0]}) {
			t.Fatalf("anomalies = %v, want cluster_divergence on %s", s.GetNewAnomalies(), cs[0])
		}
		approx(t, "severity", s.GetNewAnomalies()[0].GetSeverity(), 0.7, 1e-9)
		// The same divergence at the next sample is not raised again.
		if s := ok(e.layers.ObserverSample(ctx, own))(t); len(s.GetNewAnomalies()) != 0 {
			t.Fatalf("ongoing divergence raised again: %v", s.GetNewAnomalies())
		}
		// It ends (7, 4, 1: the others' average 2.5), then starts again
		// (11, 4, 1): a second anomaly.
		e.steady(own, cs[1], 1, 3)
		if s := ok(e.layers.ObserverSample(ctx, own))(t); len(s.GetNewAnomalies()) != 0 {
			t.Fatalf("7,4,1: anomalies %v, want none", s.GetNewAnomalies())
		}
		e.steady(own, cs[0], 0, 4)

		// The log: newest first, bounded by limit, cleared on demand.
		sum := ok(e.layers.ObserverSummary(ctx, own, 20))(t)
		if sum.GetAnomalyCount() != 1 || sum.GetLastSampleUnixNano() == 0 || sum.GetTotalClustersObserved() != 3 {
			t.Fatalf("summary = %+v", sum)
		}
		if s := ok(e.layers.ObserverSample(ctx, own))(t); len(s.GetNewAnomalies()) != 1 {
			t.Fatalf("11,4,1: anomalies %v, want a new cluster_divergence", s.GetNewAnomalies())
		}
		as := ok(e.layers.ObserverAnomalies(ctx, own, 20))(t)
		if len(as) != 2 || as[0].GetAtUnixNano() < as[1].GetAtUnixNano() {
			t.Fatalf("anomalies not newest first: %v", as)
		}
		if n := ok(e.layers.ClearAnomalies(ctx, own))(t); n != 2 {
			t.Fatalf("cleared %d, want 2", n)
		}
		if as := ok(e.layers.ObserverAnomalies(ctx, own, 20))(t); len(as) != 0 {
			t.Fatalf("after clear: %v", as)
		}
	})

	t.Run("no observer", func(t *testing.T) {
		_, err := e.layers.ObserverSummary(ctx, "nobody", 20)
		wantNotFound(t, "summary", err)
		_, err = e.layers.ObserverSample(ctx, "nobody")
		wantNotFound(t, "sample", err)
		if as := ok(e.layers.ObserverAnomalies(ctx, "nobody", 20))(t); len(as) != 0 {
			t.Fatalf("anomalies = %v", as)
		}
		if n := ok(e.layers.ClearAnomalies(ctx, "nobody"))(t); n != 0 {
			t.Fatalf("cleared = %d", n)
		}
		_, _, err = e.layers.RegisterRegion(ctx, "nobody", NewID())
		wantNotFound(t, "register", err)
	})
}

// ok2 is ok for functions with two results before the error.
func ok2[A, B any](a A, _ B, err error) func(t *testing.T) A { return ok(a, err) }

func TestLayersObserverPeriodicSamplingSurvivesRestart(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.5, 60)
	c := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	info, created, err := e.layers.EnsureObserver(ctx, own, 0.1, []string{r.ID})
	if err != nil || !created || info.RegisteredRegions != 1 {
		t.Fatalf("EnsureObserver = %+v, %v, %v", info, created, err)
	}
	again, created, err := e.layers.EnsureObserver(ctx, own, 5, nil)
	if err != nil || created || again.ID != info.ID || again.SampleIntervalSeconds != minSampleInterval.Seconds() {
		t.Fatalf("second EnsureObserver = %+v, %v, %v; want the first, unchanged", again, created, err)
	}
	eventually(t, "periodic samples", func() bool {
		return ok(e.layers.ObserverSummary(ctx, own, 1))(t).GetSamples() >= 2
	})

	e.restart()
	ctx = ctxT(t)
	// Run re-activated the observer: it has sampled before anyone asked (an
	// observer activated by the summary request would report 0 samples).
	eventually(t, "the observer's own sample after the restart", func() bool {
		s := ok(e.layers.ObserverSummary(ctx, own, 1))(t)
		return s.GetSamples() >= 1 && s.GetTotalClustersObserved() == 1
	})
	if s := ok(e.layers.ObserverSummary(ctx, own, 1))(t); s.GetObserverId() != info.ID || !slices.Equal(s.GetRegionIds(), []string{r.ID}) {
		t.Fatalf("summary after restart = %+v", s)
	}
	// Unregistering and deleting regions reach the observer.
	ok2(e.layers.UnregisterRegion(ctx, own, r.ID))(t)
	if s := ok(e.layers.ObserverSample(ctx, own))(t); s.GetRegionsSampled() != 0 {
		t.Fatalf("sampled %d regions after unregistering", s.GetRegionsSampled())
	}
	ok2(e.layers.RegisterRegion(ctx, own, r.ID))(t)
	if err := e.layers.DeleteRegion(ctx, own, r.ID); err != nil {
		t.Fatal(err)
	}
	if s := ok(e.layers.ObserverSummary(ctx, own, 1))(t); len(s.GetRegionIds()) != 0 {
		t.Fatalf("deleted region still registered: %v", s.GetRegionIds())
	}
}

// A new observer samples from its creation, not from the first request
// that happens to activate its actor: a client that creates it and then
// only reads the anomaly log (or nothing) gets periodic samples. Before,
// the actor started on the first summary or sample request (or at the
// next restart), so an observer created on a running server never sampled
// on its own.
func TestANewObserverSamplesBeforeItIsAsked(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.5, 60)
	c := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	if _, created, err := e.layers.EnsureObserver(ctx, own, 0.1, []string{r.ID}); err != nil || !created {
		t.Fatalf("EnsureObserver: created %v, err %v", created, err)
	}
	// Its actor runs once the create is answered (a summary request would
	// start it, so it is not what tells).
	if !e.layers.observers.Has(own) {
		t.Fatal("the observer's actor is not running after its creation: it samples only once something asks it")
	}
	eventually(t, "periodic samples", func() bool {
		s := ok(e.layers.ObserverSummary(ctx, own, 1))(t)
		return s.GetSamples() >= 2 && s.GetTotalClustersObserved() == 1
	})
}

func TestLayersDurabilityAndDriftAfterRestart(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	c := e.cluster(own, AggregationAttention, 0.25)
	m := e.session(own)
	ok(e.layers.AddMember(ctx, own, c, m))(t)
	r := e.region(own, 0.5, 60)
	ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	e.steady(own, m, 0, 4)

	e.restart()
	ctx = ctxT(t)
	st := ok(e.layers.ClusterState(ctx, own, c))(t)
	if !slices.Equal(st.GetMemberIds(), []string{m}) || !slices.Equal(st.GetRegionIds(), []string{r.ID}) ||
		st.GetAggregationMode() != AggregationAttention || st.GetCouplingFactor() != 0.25 || st.GetInitializedMembers() != 1 {
		t.Fatalf("cluster after restart = %+v", st)
	}
	rs := ok(e.layers.RegionState(ctx, own, r.ID, 20))(t)
	if !slices.Equal(rs.GetClusterIds(), []string{c}) || rs.GetMetaSessionId() != r.MetaSessionID {
		t.Fatalf("region after restart = %+v", rs)
	}
	// The member session came back from its snapshot knowing its cluster:
	// its drift still reaches the region, and 1 of 1 > 0.5 realigns.
	e.switchTopic(own, m, 7)
	eventually(t, "drift after restart realigns the region", func() bool {
		return ok(e.layers.RegionState(ctx, own, r.ID, 20))(t).GetLastRealignmentUnixNano() != 0
	})
	// Detached clusters no longer vote.
	if err := e.layers.DetachCluster(ctx, own, r.ID, c); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, "detach twice", e.layers.DetachCluster(ctx, own, r.ID, c))
	if st := ok(e.layers.ClusterState(ctx, own, c))(t); len(st.GetRegionIds()) != 0 {
		t.Fatalf("cluster still lists regions %v", st.GetRegionIds())
	}
}

func TestLayersNetwork(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own, other = "tenant-a", "tenant-b"
	s1, s2, s3 := e.session(own), e.session(own), e.session(own)
	foreign := e.session(other)
	e.steady(own, s1, 0, 2)
	e.steady(own, s2, 1, 2)

	// Transfer: target' = normalise(t̂ + w·(ŝ − t̂)), delta_norm = ‖ŝ − t̂‖.
	src, dst := e.state(own, s1).GetState(), e.state(own, s2).GetState()
	res := ok(e.layers.Transfer(ctx, own, s1, s2, 0.15))(t)
	approx(t, "delta_norm", res.GetDeltaNorm(), unitDeltaNorm(src, dst), 1e-6)
	if !res.GetTransferred() {
		t.Fatal("not transferred")
	}
	want := make([]float64, testDim)
	for i := range want {
		want[i] = float64(dst[i]) + 0.15*(float64(src[i])-float64(dst[i]))
	}
	approx(t, "cos(target, expected)", float64(vecmath.Cosine(e.state(own, s2).GetState(), unit64(want, make([]float32, testDim)))), 1, 1e-5)
	// Uninitialised target: nothing moves.
	if res := ok(e.layers.Transfer(ctx, own, s1, s3, 0.5))(t); res.GetTransferred() || res.GetDeltaNorm() != 0 {
		t.Fatalf("transfer into an empty session = %+v", res)
	}
	_, err := e.layers.Transfer(ctx, own, s1, foreign, 0.15)
	wantNotFound(t, "transfer to another tenant's session", err)
	_, err = e.layers.Transfer(ctx, own, foreign, s1, 0.15)
	wantNotFound(t, "transfer from another tenant's session", err)
	_, err = e.layers.Transfer(ctx, own, s1, "missing", 0.15)
	wantNotFound(t, "transfer to a missing session", err)
	if _, err := e.layers.Transfer(ctx, own, s1, s2, 0); semvec.KindOf(err) != semvec.KindValidation {
		t.Fatalf("max_weight 0: %v", err)
	}

	// Trust: s1, s2, s3 joined the default partition at 0.5.
	trust := ok(e.layers.Trust(ctx, own))(t)
	if len(trust) != 3 || trust[s1] != 0.5 {
		t.Fatalf("trust = %v", trust)
	}
	// Consensus on s1's topic: s1 proposes (no vote), s2 (moved a little)
	// no, s3 abstains. 0 / 0.5 < 0.5: rejected, s1 → 0.45.
	c := ok(e.layers.Propose(ctx, own, s1, topic(0, 0)))(t)
	if c.GetAccepted() || c.GetTrustScores()[s1] != 0.45 || len(c.GetVotes()) != 1 || c.GetVotes()[0].GetSessionId() != s2 {
		t.Fatalf("proposal = %+v", c)
	}
	// A proposal nobody shares: rejected, s2 → 0.45.
	c = ok(e.layers.Propose(ctx, own, s2, topic(9, 3)))(t)
	if c.GetAccepted() || c.GetTrustScores()[s2] != 0.45 {
		t.Fatalf("proposal = %+v", c)
	}
	_, err = e.layers.Propose(ctx, own, foreign, topic(0, 0))
	wantNotFound(t, "proposal by another tenant's session", err)
	if _, err := e.layers.Propose(ctx, own, s1, []float32{1, 2}); semvec.KindOf(err) != semvec.KindValidation {
		t.Fatalf("short target: %v", err)
	}

	// Partitions: default → alice (fresh, no trust) → default again.
	if u := ok(e.layers.ActiveUser(ctx, own))(t); u != "default" {
		t.Fatalf("active = %q", u)
	}
	sw := ok(e.layers.SwitchUser(ctx, own, "alice"))(t)
	if sw.GetPreviousUser() != "default" || sw.GetActiveUser() != "alice" {
		t.Fatalf("switch = %+v", sw)
	}
	if tr := ok(e.layers.Trust(ctx, own))(t); len(tr) != 0 {
		t.Fatalf("alice's trust = %v, want empty", tr)
	}
	// Another tenant has its own partitions.
	if u := ok(e.layers.ActiveUser(ctx, other))(t); u != "default" {
		t.Fatalf("other tenant active = %q", u)
	}
	ser := ok(e.layers.SerializeUser(ctx, own, "default"))(t)
	if ser.GetUserId() != "default" || len(ser.GetState()) == 0 {
		t.Fatalf("serialize = %+v", ser)
	}
	_, err = e.layers.SerializeUser(ctx, other, "alice")
	wantNotFound(t, "another tenant's partition", err)

	// Everything survives a restart.
	e.restart()
	ctx = ctxT(t)
	if u := ok(e.layers.ActiveUser(ctx, own))(t); u != "alice" {
		t.Fatalf("active after restart = %q", u)
	}
	sw = ok(e.layers.SwitchUser(ctx, own, "default"))(t)
	if sw.GetPreviousUser() != "alice" {
		t.Fatalf("switch back = %+v", sw)
	}
	tr := ok(e.layers.Trust(ctx, own))(t)
	if tr[s1] != 0.45 || tr[s2] != 0.45 || tr[s3] != 0.5 {
		t.Fatalf("trust after restart = %v", tr)
	}
	// A deleted instance leaves the partition at the next vote.
	if err := e.sessions.Delete(ctx, own, s3); err != nil {
		t.Fatal(err)
	}
	c = ok(e.layers.Propose(ctx, own, s1, topic(0, 1)))(t)
	if _, ok := c.GetTrustScores()[s3]; ok {
		t.Fatalf("deleted session still scored: %v", c.GetTrustScores())
	}
}

func TestLayersIsolation(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own, other = "tenant-a", "tenant-b"
	c := e.cluster(own, AggregationWeightedAverage, 0.5)
	r := e.region(own, 0.5, 60)
	s := e.session(own)
	mine := e.session(other)
	otherCluster := e.cluster(other, AggregationWeightedAverage, 0)
	otherRegion := e.region(other, 0.5, 60)
	ok2(e.layers.EnsureObserver(ctx, own, 3600, nil))(t)
	// The sessions backing a cluster, a region and the observer are not
	// deleted through the session API (409, saying what to do instead).
	obs := ok(e.layers.ObserverSummary(ctx, own, 0))(t)
	for id, want := range map[string]string{
		c: "backs a cluster; delete the cluster instead", r.MetaSessionID: "backs a region; delete the region instead",
		obs.GetMetaSessionId(): "backs the caller's observer, which is never deleted",
	} {
		err := e.sessions.Delete(ctx, own, id)
		if semvec.KindOf(err) != semvec.KindConflict || !strings.HasSuffix(err.Error(), want) {
			t.Fatalf("deleting backing session %s: %v, want a conflict ending %q", id, err, want)
		}
	}

	checks := map[string]error{
		"exists":          e.layers.ClusterExists(ctx, other, c),
		"delete cluster":  e.layers.DeleteCluster(ctx, other, c),
		"remove member":   e.layers.RemoveMember(ctx, other, c, s),
		"delete region":   e.layers.DeleteRegion(ctx, other, r.ID),
		"detach":          e.layers.DetachCluster(ctx, other, r.ID, c),
		"invalid id":      e.layers.ClusterExists(ctx, own, "../x"),
		"unregister":      func() error { _, _, err := e.layers.UnregisterRegion(ctx, other, r.ID); return err }(),
		"state":           func() error { _, err := e.layers.ClusterState(ctx, other, c); return err }(),
		"feedback":        func() error { _, err := e.layers.ClusterFeedback(ctx, other, c); return err }(),
		"add to foreign":  func() error { _, err := e.layers.AddMember(ctx, other, c, mine); return err }(),
		"add foreign":     func() error { _, err := e.layers.AddMember(ctx, own, c, mine); return err }(),
		"region state":    func() error { _, err := e.layers.RegionState(ctx, other, r.ID, 20); return err }(),
		"region events":   func() error { _, err := e.layers.RegionEvents(ctx, other, r.ID, 20); return err }(),
		"attach foreign":  func() error { _, err := e.layers.AttachCluster(ctx, own, r.ID, otherCluster); return err }(),
		"attach to other": func() error { _, err := e.layers.AttachCluster(ctx, other, r.ID, otherCluster); return err }(),
		"register other":  func() error { _, _, err := e.layers.RegisterRegion(ctx, own, otherRegion.ID); return err }(),
		"observer body":   func() error { _, _, err := e.layers.EnsureObserver(ctx, own, 30, []string{otherRegion.ID}); return err }(),
		"summary":         func() error { _, err := e.layers.ObserverSummary(ctx, other, 20); return err }(),
	}
	for name, err := range checks {
		wantNotFound(t, name, err)
	}
	if got := ok(e.layers.ListClusters(ctx, other))(t); len(got) != 1 || got[0].ID != otherCluster {
		t.Fatalf("other's clusters = %+v", got)
	}
	if got := ok(e.layers.ListRegions(ctx, other))(t); len(got) != 1 || got[0].ID != otherRegion.ID {
		t.Fatalf("other's regions = %+v", got)
	}
	// Invalid arguments.
	if _, err := e.layers.CreateCluster(ctx, own, "x", "median", 0); semvec.KindOf(err) != semvec.KindInvalid {
		t.Fatalf("unknown mode: %v", err)
	}
	if _, err := e.layers.CreateCluster(ctx, own, "x", AggregationAttention, 1.5); semvec.KindOf(err) != semvec.KindValidation {
		t.Fatalf("coupling 1.5: %v", err)
	}
	if _, err := e.layers.CreateRegion(ctx, own, "x", 0, 60); semvec.KindOf(err) != semvec.KindValidation {
		t.Fatalf("threshold 0: %v", err)
	}
	if _, err := e.layers.AddMember(ctx, own, c, c); semvec.KindOf(err) != semvec.KindValidation {
		t.Fatalf("cluster as its own member: %v", err)
	}
}

// ClusterExists is answered by the cluster's actor: an existing cluster
// passes, a plain session's id is no cluster, and a deleted cluster is gone
// at once (its actor stopped with it).
func TestClusterExists(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant"
	c := e.cluster(own, AggregationWeightedAverage, 0.5)
	if err := e.layers.ClusterExists(ctx, own, c); err != nil {
		t.Fatalf("existing cluster: %v", err)
	}
	wantNotFound(t, "a session is no cluster", e.layers.ClusterExists(ctx, own, e.session(own)))
	wantNotFound(t, "unknown id", e.layers.ClusterExists(ctx, own, "no-such-cluster"))
	if err := e.layers.DeleteCluster(ctx, own, c); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, "deleted cluster", e.layers.ClusterExists(ctx, own, c))
}

// gatedStore holds the first cluster activation that reads its regions
// (after it has read the cluster) until release is closed.
type gatedStore struct {
	*persistence.Store
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gatedStore) RegionsOfCluster(ctx context.Context, owner, id string) ([]string, error) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return g.Store.RegionsOfCluster(ctx, owner, id)
}

// A cluster deleted while its actor is being activated (the activation
// read the cluster before the deletion) does not live on in that actor:
// the deletion waits for the activation and stops what it started, so the
// cluster is gone, and a plain session later given its id is no cluster.
// (Found by a review: the actor used to survive until the process ended.)
func TestClusterDeletedDuringActivation(t *testing.T) {
	ctx := ctxT(t)
	var gs *gatedStore
	st := newWrappedStack(t, func(s *persistence.Store) LayerStore {
		gs = &gatedStore{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
		return gs
	})
	store, sessions, layers := st.store, st.sessions, st.layers
	info, err := layers.CreateCluster(ctx, "o", "c", AggregationWeightedAverage, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	c := info.ID
	gs.armed.Store(true)
	first := make(chan error, 1)
	go func() { first <- layers.ClusterExists(ctx, "o", c) }()
	<-gs.entered // the activation has read the cluster
	deleted := make(chan error, 1)
	go func() { deleted <- layers.DeleteCluster(ctx, "o", c) }()
	// The deletion commits, then waits for the activation to finish.
	eventually(t, "the deletion committed", func() bool {
		_, err := store.GetCluster(ctx, "o", c)
		return semvec.KindOf(err) == semvec.KindNotFound
	})
	close(gs.release)
	<-first // either answer: it raced with the deletion
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, "a cluster deleted during its activation", layers.ClusterExists(ctx, "o", c))
	if n := layers.Active()["cluster"]; n != 0 {
		t.Fatalf("%d cluster actors still run after the deletion", n)
	}
	if _, err := sessions.Create(ctx, "o", CreateOptions{ID: c}); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, "a plain session with the deleted cluster's id", layers.ClusterExists(ctx, "o", c))
}

// wrappedStack is a session and layer stack on a SQLite file whose layers
// see the store through wrap (a store that holds or fails a call); the
// session layer sees the store itself. It stops when the test ends.
type wrappedStack struct {
	store    *persistence.Store
	sessions *Sessions
	layers   *Layers
}

func newWrappedStack(t *testing.T, wrap func(*persistence.Store) LayerStore) *wrappedStack {
	t.Helper()
	store, err := persistence.Open(ctxT(t), "sqlite:///"+filepath.Join(t.TempDir(), "wrapped.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	t.Cleanup(sys.Shutdown)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	sessions := NewSessions(sys.Root, store, ask, SessionConfig{Dim: testDim, ModelName: "test"}, log, nil)
	layers := NewLayers(sys.Root, wrap(store), ask, sessions, log, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = layers.Shutdown(ctx)
		_ = sessions.Shutdown(ctx)
	})
	return &wrappedStack{store: store, sessions: sessions, layers: layers}
}
