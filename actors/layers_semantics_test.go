package actors

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
	"github.com/semvec-go/semvec/vecmath"
)

// Layer semantics of issue 11: cluster feedback feeds back the aggregate,
// drift indicators expire and an ongoing anomaly is raised once,
// cluster_divergence compares a cluster with the rest of its region, and
// policy vector knobs the engine cannot honour are refused.

// blendExpect is normalise((1−c)·m + c·t), the feedback formula.
func blendExpect(m, t []float32, c float64) []float32 {
	acc := make([]float64, len(m))
	for i := range m {
		acc[i] = (1-c)*float64(m[i]) + c*float64(t[i])
	}
	return unit64(acc, make([]float32, len(m)))
}

// heldAfterArm holds the first log append made after arm is set until
// release is closed, then makes it.
type heldAfterArm struct {
	*persistence.Store
	arm              atomic.Bool
	held             atomic.Bool
	entered, release chan struct{}
}

func (h *heldAfterArm) AppendLog(ctx context.Context, e []persistence.LogEntry) ([]error, error) {
	if h.arm.Load() && h.held.CompareAndSwap(false, true) {
		close(h.entered)
		<-h.release
	}
	return h.Store.AppendLog(ctx, e)
}

// heldFeedback is a cluster whose feedback can be held in flight: its two
// members a and b have a state (coupling 0.5), and their sessions' log
// appends go through held.
type heldFeedback struct {
	e              *layersEnv
	held           *heldAfterArm
	release        func() // lets the held append through (also at cleanup)
	own, cid, a, b string
}

const heldCoupling = 0.5

// newHeldFeedback builds it; layers, when not nil, wraps the layers' store,
// and configure, when given, sets more of the environment before it starts.
func newHeldFeedback(t *testing.T, layers func(*persistence.Store) LayerStore, configure ...func(*layersEnv)) *heldFeedback {
	h := &heldFeedback{held: &heldAfterArm{entered: make(chan struct{}), release: make(chan struct{})}, own: "tenant-a"}
	h.e = &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db"), wrap: layers,
		wrapSessions: func(s *persistence.Store) SessionStore { h.held.Store = s; return h.held }}
	for _, c := range configure {
		c(h.e)
	}
	h.e.start()
	t.Cleanup(h.e.stop)
	h.release = sync.OnceFunc(func() { close(h.held.release) })
	t.Cleanup(h.release) // before the stop, also when the test fails early
	h.cid, h.a, h.b = twoMemberCluster(t, h.e, h.own)
	return h
}

// twoMemberCluster creates owner's cluster (coupling heldCoupling) with two
// members a and b that have a state, on different topics.
func twoMemberCluster(t *testing.T, e *layersEnv, owner string) (cid, a, b string) {
	ctx := ctxT(t)
	a, b = e.session(owner), e.session(owner)
	cid = e.cluster(owner, AggregationWeightedAverage, heldCoupling)
	for _, sid := range []string{a, b} {
		ok(e.layers.AddMember(ctx, owner, cid, sid))(t)
	}
	e.steady(owner, a, 0, 3)
	e.steady(owner, b, 1, 1)
	return cid, a, b
}

// start sends a feedback request to the cluster's actor and returns its
// answer's future once a member's blend is held: the feedback is under way
// and stays so until release.
func (h *heldFeedback) start(t *testing.T) *actor.Future {
	h.held.arm.Store(true)
	f := h.ask(t)
	<-h.held.entered
	return f
}

// ask sends one more feedback request to the cluster's actor.
func (h *heldFeedback) ask(t *testing.T) *actor.Future {
	pid := ok(h.e.layers.clusters.Get(ctxT(t), ownedKey(h.own, h.cid)))(t)
	return h.e.sys.Root.RequestFuture(pid, &pb.ClusterFeedbackRequest{Owner: h.own, ClusterId: h.cid}, 20*time.Second)
}

// handled returns once the cluster's actor has handled every message sent
// to it before (its mailbox is FIFO, and it answers this one at once).
func (h *heldFeedback) handled(t *testing.T) {
	pid := ok(h.e.layers.clusters.Get(ctxT(t), ownedKey(h.own, h.cid)))(t)
	if _, err := h.e.sys.Root.RequestFuture(pid, &pb.ClusterExistsRequest{Owner: h.own, ClusterId: h.cid}, 10*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
}

// feedbackAnswer is f's answer.
func feedbackAnswer(t *testing.T, f *actor.Future) *pb.ClusterFeedbackResponse {
	t.Helper()
	res, err := f.Result()
	if err != nil {
		t.Fatal(err)
	}
	return res.(*pb.ClusterFeedbackResponse)
}

// A feedback request that arrives while the cluster is applying one joins
// it: both askers get its answer and every member is blended once (a
// client retrying a feedback whose answer timed out must not blend the
// members twice). A feedback asked after it has finished blends again.
func TestFeedbackDuringFeedbackJoinsIt(t *testing.T) {
	h := newHeldFeedback(t, nil)
	ctx := ctxT(t)
	agg := ok(h.e.layers.ClusterState(ctx, h.own, h.cid))(t).GetAggregateVector()
	before := map[string][]float32{h.a: h.e.state(h.own, h.a).GetState(), h.b: h.e.state(h.own, h.b).GetState()}

	first := h.start(t)
	second := h.ask(t)
	h.handled(t) // the second request reached the actor while the first feedback runs
	h.release()
	for i, f := range []*actor.Future{first, second} {
		if fb := feedbackAnswer(t, f); fb.GetError() != nil || fb.GetTarget() != feedbackAggregate || fb.GetSessionsUpdated() != 2 {
			t.Fatalf("feedback %d = %+v, want the first feedback's answer: the aggregate blended into 2 members", i+1, fb)
		}
	}
	for id, vec := range before {
		got, want := h.e.state(h.own, id).GetState(), blendExpect(vec, agg, heldCoupling)
		if c := vecmath.Cosine(got, want); c < 1-1e-4 {
			t.Fatalf("member %s: cos(state, blended once) = %.6f, want 1 (blended twice?)", id, c)
		}
	}

	fb := ok(h.e.layers.ClusterFeedback(ctx, h.own, h.cid))(t)
	if fb.GetSessionsUpdated() != 2 {
		t.Fatalf("a feedback after the first = %+v, want 2 members blended again", fb)
	}
}

// A feedback asked after the members changed does not join the running
// one, which read the old members: it runs next, on the new ones.
func TestFeedbackAfterTheMembersChangedIsNotJoined(t *testing.T) {
	h := newHeldFeedback(t, nil)
	ctx := ctxT(t)
	c := h.e.session(h.own)
	h.e.steady(h.own, c, 2, 2)
	cBefore := h.e.state(h.own, c).GetState()

	first := h.start(t)                               // on a and b
	ok(h.e.layers.AddMember(ctx, h.own, h.cid, c))(t) // answered once the cluster actor has the new members
	second := h.ask(t)
	h.handled(t) // the second request reached the actor while the first feedback runs
	h.release()
	for i, want := range []int32{2, 3} {
		if fb := feedbackAnswer(t, []*actor.Future{first, second}[i]); fb.GetError() != nil || fb.GetSessionsUpdated() != want {
			t.Fatalf("feedback %d = %+v, want %d members blended", i+1, fb, want)
		}
	}
	if cos := vecmath.Cosine(h.e.state(h.own, c).GetState(), cBefore); cos > 1-1e-6 {
		t.Fatal("the member added before the second feedback was not blended")
	}
}

// Askers that stopped waiting (their deadline passed) are not counted: a
// storm of feedback requests that each gave up at once does not refuse one
// that waits, and what they queued for after a member change is not run
// for nobody.
func TestFeedbackAskersThatGaveUpDoNotCount(t *testing.T) {
	h := newHeldFeedback(t, nil)
	ctx := ctxT(t)
	first := h.start(t)
	pid := ok(h.e.layers.clusters.Get(ctx, ownedKey(h.own, h.cid)))(t)
	for range maxInflight + 8 { // each waits a nanosecond
		h.e.sys.Root.Send(pid, &pb.ClusterFeedbackRequest{Owner: h.own, ClusterId: h.cid, PatienceNanos: 1})
	}
	waits := h.ask(t) // no deadline given: it waits
	h.handled(t)
	h.release()
	for i, f := range []*actor.Future{first, waits} {
		if fb := feedbackAnswer(t, f); fb.GetError() != nil || fb.GetSessionsUpdated() != 2 {
			t.Fatalf("feedback %d = %+v, want the aggregate blended into 2 members", i+1, fb)
		}
	}
}

// An asker's patience is a duration, read on the clock of the member that
// hosts the cluster: a host whose clock is ahead of the asker's does not
// take an asker that still waits for one that gave up.
func TestFeedbackAskersOnAnotherClock(t *testing.T) {
	ahead := func(e *layersEnv) { e.layersNow = func() time.Time { return time.Now().Add(10 * time.Second) } }
	h := newHeldFeedback(t, nil, ahead)
	ctx := ctxT(t)
	c := h.e.session(h.own)
	h.e.steady(h.own, c, 2, 2)
	first := h.start(t)
	ok(h.e.layers.AddMember(ctx, h.own, h.cid, c))(t)
	pid := ok(h.e.layers.clusters.Get(ctx, ownedKey(h.own, h.cid)))(t)
	// asked after the member change, on a clock 10 s behind the host's:
	// queued for the next feedback, and waiting 5 s
	queued := h.e.sys.Root.RequestFuture(pid, &pb.ClusterFeedbackRequest{Owner: h.own, ClusterId: h.cid, PatienceNanos: int64(5 * time.Second)}, 10*time.Second)
	h.handled(t)
	h.release()
	for i, f := range []*actor.Future{first, queued} {
		if fb := feedbackAnswer(t, f); fb.GetError() != nil {
			t.Fatalf("feedback %d: %+v", i+1, fb)
		}
	}
}

// refuseOnce refuses the first log entry of session sid (once set) that
// reaches the log, as a database that failed that write would, and writes
// the others.
type refuseOnce struct {
	*persistence.Store
	sid  atomic.Value // string
	done atomic.Bool
}

func (r *refuseOnce) AppendLog(ctx context.Context, entries []persistence.LogEntry) ([]error, error) {
	target, _ := r.sid.Load().(string)
	at := -1
	if target != "" && !r.done.Load() {
		at = slices.IndexFunc(entries, func(e persistence.LogEntry) bool { return e.SessionID == target })
	}
	if at < 0 {
		return r.Store.AppendLog(ctx, entries)
	}
	r.done.Store(true)
	rest := slices.Delete(slices.Clone(entries), at, at+1)
	refused, err := r.Store.AppendLog(ctx, rest)
	if err != nil {
		return nil, err
	}
	out := make([]error, 0, len(entries))
	for i := range rest {
		if i == at {
			out = append(out, semvec.Errorf(semvec.KindUnavailable, "database unavailable"))
		}
		if refused != nil {
			out = append(out, refused[i])
		} else {
			out = append(out, nil)
		}
	}
	if at == len(rest) {
		out = append(out, semvec.Errorf(semvec.KindUnavailable, "database unavailable"))
	}
	return out, nil
}

// partlyFailedFeedback is a two-member cluster whose feedback failed for
// member b (its blend refused by the database) after blending a; before
// holds each member's state and agg the aggregate from before it.
type partlyFailedFeedback struct {
	e              *layersEnv
	own, cid, a, b string
	agg            []float32
	before         map[string][]float32
}

func newPartlyFailedFeedback(t *testing.T) *partlyFailedFeedback {
	refuse := &refuseOnce{}
	f := &partlyFailedFeedback{own: "tenant-a"}
	f.e = newWrappedSessionsEnv(t, func(s *persistence.Store) SessionStore { refuse.Store = s; return refuse })
	ctx := ctxT(t)
	f.cid, f.a, f.b = twoMemberCluster(t, f.e, f.own)
	f.agg = ok(f.e.layers.ClusterState(ctx, f.own, f.cid))(t).GetAggregateVector()
	f.before = map[string][]float32{f.a: f.e.state(f.own, f.a).GetState(), f.b: f.e.state(f.own, f.b).GetState()}
	refuse.sid.Store(f.b)
	if _, err := f.e.layers.ClusterFeedback(ctx, f.own, f.cid); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("feedback with b's blend refused: %v, want unavailable", err)
	}
	return f
}

// blendedOnce reports whether member id is blended once towards agg.
func (f *partlyFailedFeedback) blendedOnce(id string) bool {
	return vecmath.Cosine(f.e.state(f.own, id).GetState(), blendExpect(f.before[id], f.agg, heldCoupling)) > 1-1e-4
}

// A feedback whose blend failed for one member answers the error, and the
// next feedback on the same members finishes it: it blends the member
// left, towards the same target, and not the ones already blended.
func TestAFeedbackThatFailedPartWayIsFinishedNotRepeated(t *testing.T) {
	f := newPartlyFailedFeedback(t)
	if !f.blendedOnce(f.a) || vecmath.Cosine(f.e.state(f.own, f.b).GetState(), f.before[f.b]) < 1-1e-6 {
		t.Fatal("want a blended and b untouched after the failed feedback")
	}
	fb := ok(f.e.layers.ClusterFeedback(ctxT(t), f.own, f.cid))(t)
	if fb.GetSessionsUpdated() != 2 || fb.GetTarget() != feedbackAggregate {
		t.Fatalf("the retry = %+v, want the feedback finished: 2 members blended in all", fb)
	}
	for _, id := range []string{f.a, f.b} {
		if !f.blendedOnce(id) {
			t.Fatalf("member %s is not blended exactly once", id)
		}
	}
}

// An unfinished feedback is finished only on the members it read: after a
// member was removed and added again (the same list, a different
// membership), the next feedback is a new one, on every member.
func TestAnUnfinishedFeedbackIsNotFinishedAfterAMemberChange(t *testing.T) {
	f := newPartlyFailedFeedback(t)
	ctx := ctxT(t)
	if err := f.e.layers.RemoveMember(ctx, f.own, f.cid, f.b); err != nil {
		t.Fatal(err)
	}
	ok(f.e.layers.AddMember(ctx, f.own, f.cid, f.b))(t)
	aBefore := f.e.state(f.own, f.a).GetState()
	fb := ok(f.e.layers.ClusterFeedback(ctx, f.own, f.cid))(t)
	if fb.GetSessionsUpdated() != 2 {
		t.Fatalf("feedback after b was removed and added again = %+v, want a new one on both members", fb)
	}
	if vecmath.Cosine(f.e.state(f.own, f.a).GetState(), aBefore) > 1-1e-6 {
		t.Fatal("member a was not blended: the old feedback was finished instead of a new one")
	}
}

// failingViews fails the cluster's view reload while fail is set.
type failingViews struct {
	*persistence.Store
	fail atomic.Bool
}

func (f *failingViews) GetCluster(ctx context.Context, owner, id string) (persistence.ClusterRecord, error) {
	if f.fail.Load() {
		return persistence.ClusterRecord{}, semvec.Errorf(semvec.KindUnavailable, "database unavailable")
	}
	return f.Store.GetCluster(ctx, owner, id)
}

// A cluster whose view reload fails stops, and a stop ends its feedback:
// the cluster answers again at once (from a new activation) instead of
// after the feedback, which may run for up to a minute.
func TestAFailedReloadEndsTheFeedback(t *testing.T) {
	views := &failingViews{}
	h := newHeldFeedback(t, func(s *persistence.Store) LayerStore { views.Store = s; return views })
	ctx := ctxT(t)
	fb := h.start(t) // a member's blend is held until the test ends
	views.fail.Store(true)
	h.e.layers.clusterChanged(ctx, h.own, h.cid) // the reload fails: the actor stops
	views.fail.Store(false)
	if got := feedbackAnswer(t, fb).GetError(); got.GetReason() != pb.ErrorReason_ERROR_REASON_UNAVAILABLE {
		t.Fatalf("the feedback of a cluster that stopped answered %v, want unavailable", got)
	}
	if err := h.e.layers.ClusterExists(ctx, h.own, h.cid); err != nil {
		t.Fatalf("the cluster after its failed reload: %v", err)
	}
}

// Deleting a cluster ends the feedback it is applying: the deletion does
// not wait for the feedback (which may run long after its asker gave up),
// and the feedback's askers are told the cluster stopped.
func TestDeletingAClusterEndsItsFeedback(t *testing.T) {
	h := newHeldFeedback(t, nil)
	ctx := ctxT(t)
	fb := h.start(t) // a member's blend is held until the test ends
	deleted := make(chan error, 1)
	go func() { deleted <- h.e.layers.DeleteCluster(ctx, h.own, h.cid) }()
	if got := feedbackAnswer(t, fb).GetError(); got.GetReason() != pb.ErrorReason_ERROR_REASON_UNAVAILABLE {
		t.Fatalf("the feedback of a deleted cluster answered %v, want unavailable (the cluster stopped)", got)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
}

// A feedback that outlasts its asker's timeout is not cut short (under a
// small session cap, every member must be activated in turn, which can take
// longer than the ask): the asker gets a timeout; the feedback goes on, a
// retry joins it and gets its answer, and every member ends blended exactly
// once. Here a member's blend is held until the asker has given up.
func TestFeedbackOutlastsItsAskersTimeout(t *testing.T) {
	h := newHeldFeedback(t, nil)
	ctx := ctxT(t)
	agg := ok(h.e.layers.ClusterState(ctx, h.own, h.cid))(t).GetAggregateVector()
	before := map[string][]float32{h.a: h.e.state(h.own, h.a).GetState(), h.b: h.e.state(h.own, h.b).GetState()}

	h.held.arm.Store(true)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := h.e.layers.ClusterFeedback(short, h.own, h.cid)
		first <- err
	}()
	<-h.held.entered
	if err := <-first; semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("the asker of a held feedback got %v, want its timeout", err)
	}
	retry := h.ask(t)
	h.handled(t) // the retry reached the actor while the feedback runs
	h.release()
	if fb := feedbackAnswer(t, retry); fb.GetError() != nil || fb.GetSessionsUpdated() != 2 {
		t.Fatalf("the retry = %+v, want the running feedback's answer: 2 members blended", fb)
	}
	for id, vec := range before {
		if c := vecmath.Cosine(h.e.state(h.own, id).GetState(), blendExpect(vec, agg, heldCoupling)); c < 1-1e-4 {
			t.Fatalf("member %s: cos(state, blended once) = %.6f, want 1", id, c)
		}
	}
}

func TestFeedbackTargetIsTheAggregate(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ms := []memberState{
		{ID: "a", Vec: unitVec(1, 0, 0), Interactions: 3, LastTurn: now},
		{ID: "b", Vec: unitVec(0, 1, 0), Interactions: 1, LastTurn: now},
	}
	for _, mode := range []string{AggregationWeightedAverage, AggregationAttention} {
		got, what := feedbackTarget(mode, ms, 3, now)
		if what != feedbackAggregate || !slices.Equal(got, aggregate(mode, ms, 3, now)) {
			t.Fatalf("%s: target %v (%s), want the aggregate %v", mode, got, what, aggregate(mode, ms, 3, now))
		}
	}
	if got, what := feedbackTarget(AggregationWeightedAverage, nil, 3, now); got != nil || what != feedbackNone {
		t.Fatalf("no initialised member: %v (%s), want nothing", got, what)
	}
	opposite := []memberState{{ID: "a", Vec: unitVec(1, 0)}, {ID: "b", Vec: unitVec(-1, 0)}}
	if got, what := feedbackTarget(AggregationWeightedAverage, opposite, 2, now); got != nil || what != feedbackNone {
		t.Fatalf("cancelling members: %v (%s), want nothing", got, what)
	}
}

// The backing session has its own state, on a topic no member talks about;
// feedback must still blend the members' aggregate, not that state.
func TestLayersClusterFeedbackBlendsTheAggregateNotTheBackingSession(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	const coupling = 0.5
	a, b := e.session(own), e.session(own)
	cid := e.cluster(own, AggregationWeightedAverage, coupling)
	for _, sid := range []string{a, b} {
		ok(e.layers.AddMember(ctx, own, cid, sid))(t)
	}
	e.steady(own, a, 0, 3)
	e.steady(own, b, 1, 1)
	e.steady(own, cid, 2, 3) // the cluster session itself, elsewhere
	backing := e.state(own, cid).GetState()

	agg := ok(e.layers.ClusterState(ctx, own, cid))(t).GetAggregateVector()
	sa, sb := e.state(own, a).GetState(), e.state(own, b).GetState()
	fb := ok(e.layers.ClusterFeedback(ctx, own, cid))(t)
	if fb.GetTarget() != feedbackAggregate || fb.GetSessionsUpdated() != 2 {
		t.Fatalf("feedback = %+v, want the aggregate blended into 2 members", fb)
	}
	for _, m := range []struct {
		id     string
		before []float32
	}{{a, sa}, {b, sb}} {
		got := e.state(own, m.id).GetState()
		want := blendExpect(m.before, agg, coupling)
		if c := vecmath.Cosine(got, want); c < 1-1e-4 {
			t.Fatalf("member %s: cos(state, normalise(0.5·member + 0.5·aggregate)) = %.6f, want 1", m.id, c)
		}
		if c := vecmath.Cosine(got, blendExpect(m.before, backing, coupling)); c > 1-1e-3 {
			t.Fatalf("member %s was blended towards the backing session (cos %.6f)", m.id, c)
		}
	}
}

func TestSystemicDriftIndicatorExpires(t *testing.T) {
	now := time.Now()
	c := func(drift string, at time.Time) observedCluster {
		return observedCluster{Phase: "exploration", Interactions: 4, DriftPhase: drift, DriftAt: at}
	}
	// The region's vote window is a minute (obs). A drifted last turn inside
	// it is an indicator…
	o := obs(now, map[string][]string{"r1": {"a"}}, map[string]observedCluster{"a": c("drifted", now.Add(-30*time.Second))})
	if got := detectAnomalies(o); len(got) != 1 || got[0].Type != AnomalySystemicDrift {
		t.Fatalf("fresh drifted turn: %v, want systemic_drift", types(got))
	}
	// …one older than the window is not, however long the cluster stays unused.
	for _, age := range []time.Duration{2 * time.Minute, 24 * time.Hour} {
		o = obs(now, map[string][]string{"r1": {"a"}}, map[string]observedCluster{"a": c("drifted", now.Add(-age))})
		if got := detectAnomalies(o); len(got) != 0 {
			t.Fatalf("drifted turn %v ago: %v, want none (the indicator expired)", age, types(got))
		}
	}
	// Without a time the phase alone is no indicator.
	o = obs(now, map[string][]string{"r1": {"a"}}, map[string]observedCluster{"a": c("drifted", time.Time{})})
	if got := detectAnomalies(o); len(got) != 0 {
		t.Fatalf("drifted turn of unknown time: %v, want none", types(got))
	}
	// The window is that of a region the cluster is attached to: a cluster
	// outside every observed region's cluster list has no indicator.
	o = obs(now, map[string][]string{"r1": {"b"}}, map[string]observedCluster{
		"a": c("drifted", now), "b": c("stable", time.Time{})})
	if o.drifting(o.Clusters["a"]) {
		t.Fatal("a cluster attached to no observed region counted as drifting")
	}
}

func TestAnomalyRaisedOncePerEpisode(t *testing.T) {
	drift := func(ids ...string) anomaly {
		return anomaly{Type: AnomalySystemicDrift, Clusters: ids, Severity: 1}
	}
	div := func(id string) anomaly {
		return anomaly{Type: AnomalyClusterDivergence, Clusters: []string{id}, Episode: id, Severity: 0.5}
	}
	var active map[string]bool
	step := func(found ...anomaly) []anomaly {
		var fresh []anomaly
		fresh, active = raiseOnce(active, found)
		return fresh
	}
	if got := step(drift("a")); len(got) != 1 {
		t.Fatalf("first sample: %v, want the systemic drift", got)
	}
	// The same condition at the next samples: nothing new, even when the
	// drifting set or the severity moves within the episode.
	if got := step(drift("a")); len(got) != 0 {
		t.Fatalf("identical finding raised again: %v", got)
	}
	if got := step(drift("a", "b"), div("x")); len(got) != 1 || got[0].Type != AnomalyClusterDivergence {
		t.Fatalf("ongoing drift plus a new divergence: %v, want only the divergence", got)
	}
	// Divergence is per cluster: another cluster starts its own episode.
	if got := step(drift("a", "b"), div("x"), div("y")); len(got) != 1 || got[0].Clusters[0] != "y" {
		t.Fatalf("second diverging cluster: %v, want y only", got)
	}
	// The condition ends; its recurrence is a new anomaly.
	if got := step(); len(got) != 0 {
		t.Fatalf("quiet sample: %v", got)
	}
	if got := step(drift("a")); len(got) != 1 {
		t.Fatalf("drift after a quiet sample: %v, want a new systemic drift", got)
	}
}

// One drifted cluster, sampled again and again: one anomaly, not one per
// sample.
func TestLayersObserverRaisesAnOngoingSystemicDriftOnce(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "drift-once"
	r := e.region(own, 0.99, 60) // no realignment in the way
	c := e.cluster(own, AggregationWeightedAverage, 0)
	ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	e.steady(own, c, 0, 4)
	ok2(e.layers.EnsureObserver(ctx, own, 3600, []string{r.ID}))(t)
	e.switchTopic(own, c, 5)

	s := ok(e.layers.ObserverSample(ctx, own))(t)
	if len(s.GetNewAnomalies()) != 1 || s.GetNewAnomalies()[0].GetAnomalyType() != AnomalySystemicDrift {
		t.Fatalf("first sample: %v, want systemic_drift", s.GetNewAnomalies())
	}
	for i := range 3 {
		s = ok(e.layers.ObserverSample(ctx, own))(t)
		if len(s.GetNewAnomalies()) != 0 || s.GetTotalAnomalies() != 1 {
			t.Fatalf("sample %d of the same drift: new %v, total %d; want none new, 1 in all", i+2, s.GetNewAnomalies(), s.GetTotalAnomalies())
		}
	}
	if as := ok(e.layers.ObserverAnomalies(ctx, own, 20))(t); len(as) != 1 {
		t.Fatalf("anomaly log = %v, want the one systemic_drift", as)
	}
}

func TestClusterDivergenceExcludesTheClusterFromItsBaseline(t *testing.T) {
	now := time.Now()
	c := func(n int) observedCluster {
		return observedCluster{Phase: "exploration", Interactions: n, DriftPhase: "stable"}
	}
	div := func(o observation) []anomaly {
		var out []anomaly
		for _, a := range detectAnomalies(o) {
			if a.Type == AnomalyClusterDivergence {
				out = append(out, a)
			}
		}
		return out
	}
	// Two clusters: 10 against the other's 2 is 5×.
	got := div(obs(now, map[string][]string{"r1": {"a", "b"}}, map[string]observedCluster{"a": c(10), "b": c(2)}))
	if len(got) != 1 || !slices.Equal(got[0].Clusters, []string{"a"}) {
		t.Fatalf("two clusters 10/2: %+v, want divergence on a", got)
	}
	approx(t, "severity", got[0].Severity, 0.5, 1e-9)
	// Three clusters: 7 against the others' average 1.
	got = div(obs(now, map[string][]string{"r1": {"a", "b", "c"}}, map[string]observedCluster{"a": c(7), "b": c(1), "c": c(1)}))
	if len(got) != 1 || !slices.Equal(got[0].Clusters, []string{"a"}) {
		t.Fatalf("three clusters 7/1/1: %+v, want divergence on a", got)
	}
	approx(t, "severity", got[0].Severity, 0.7, 1e-9)
	// Exactly 3× the others is not more than 3×.
	if got := div(obs(now, map[string][]string{"r1": {"a", "b", "c"}}, map[string]observedCluster{"a": c(3), "b": c(1), "c": c(1)})); len(got) != 0 {
		t.Fatalf("exactly 3x: %+v, want none", got)
	}
	// No baseline: a cluster alone in its region.
	if got := div(obs(now, map[string][]string{"r1": {"a"}}, map[string]observedCluster{"a": c(50)})); len(got) != 0 {
		t.Fatalf("alone: %+v, want none", got)
	}
	// Peers without any interaction: any activity is more than 3× none
	// (the contract's "> 3× region average"), at full severity; a region
	// where nobody has worked yet reports nothing.
	got = div(obs(now, map[string][]string{"r1": {"a", "b"}}, map[string]observedCluster{"a": c(2), "b": c(0)}))
	if len(got) != 1 || !slices.Equal(got[0].Clusters, []string{"a"}) {
		t.Fatalf("idle peer: %+v, want divergence on a", got)
	}
	approx(t, "severity", got[0].Severity, 1, 1e-9)
	got = div(obs(now, map[string][]string{"r1": {"a", "b", "c"}}, map[string]observedCluster{"a": c(5), "b": c(0), "c": c(0)}))
	if len(got) != 1 || !slices.Equal(got[0].Clusters, []string{"a"}) {
		t.Fatalf("two idle peers: %+v, want divergence on a", got)
	}
	if got := div(obs(now, map[string][]string{"r1": {"a", "b"}}, map[string]observedCluster{"a": c(0), "b": c(0)})); len(got) != 0 {
		t.Fatalf("nobody active: %+v, want none", got)
	}
}

func TestCreateRefusesPolicyWeightAndPromote(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "policy"
	w := func(x float64) *float64 { return &x }
	for name, p := range map[string]PolicyVector{
		"weight 0":       {Embedding: topic(0, 0), Weight: w(0)},
		"weight -1":      {Embedding: topic(0, 0), Weight: w(-1)},
		"weight 101":     {Embedding: topic(0, 0), Weight: w(101)},
		"weight NaN":     {Embedding: topic(0, 0), Weight: w(math.NaN())},
		"promote true":   {Embedding: topic(0, 0), Promote: true},
		"promote, w 1.5": {Embedding: topic(0, 0), Weight: w(1.5), Promote: true},
	} {
		_, err := e.sessions.Create(ctx, own, CreateOptions{Policy: []PolicyVector{{Embedding: topic(1, 0)}, p}})
		want := "policy_vectors.1.weight"
		if p.Promote {
			want = "policy_vectors.1.promote"
		}
		var se *semvec.Error
		if semvec.KindOf(err) != semvec.KindValidation || !errors.As(err, &se) || se.Field != want {
			t.Fatalf("%s: err = %v, want a 422 on %s", name, err, want)
		}
	}
	// Weights in range, given or not, register weighted anchors: a session
	// whose state is the first anchor scores the weighted mean.
	a, b := topic(0, 0), topic(1, 0)
	sid, err := e.sessions.Create(ctx, own, CreateOptions{Template: a, Policy: []PolicyVector{
		{Embedding: a, Weight: w(3)}, {Embedding: b},
	}})
	if err != nil {
		t.Fatalf("weights 3 and the default: %v", err)
	}
	as, err := AskSession[*pb.AnchorScoreResponse](ctx, e.sessions, sid, &pb.AnchorScoreRequest{Owner: own, SessionId: sid})
	if err != nil || as.GetAnchorCount() != 2 {
		t.Fatalf("anchors = %v (%v), want 2", as.GetAnchorCount(), err)
	}
	if want := (3 + float64(vecmath.Dot(a, b))) / 4; math.Abs(as.GetAnchorScore()-want) > 1e-5 { // unit vectors
		t.Fatalf("anchor score %v, want the weighted mean %v", as.GetAnchorScore(), want)
	}
}

// heldAnomalyStore is a LayerStore whose first RecordSample waits until
// the test releases it and then answers fail (nil: success): a sample's
// write still in flight.
type heldAnomalyStore struct {
	*persistence.Store
	entered chan struct{}
	release chan struct{}
	fail    error
	calls   atomic.Int32
}

func (s *heldAnomalyStore) RecordSample(ctx context.Context, owner, observerID string, epoch int64, items []persistence.LoggedItem, keep int, state string) error {
	if s.calls.Add(1) == 1 {
		close(s.entered)
		<-s.release
		if s.fail != nil {
			return s.fail
		}
	}
	return s.Store.RecordSample(ctx, owner, observerID, epoch, items, keep, state)
}

// Two samples overlap (a periodic tick and POST /v1/observer/sample): the
// second one is asked while the first is still writing the anomaly it
// raised. The observer commits samples one at a time, each against the
// episodes recorded before it, so the ongoing condition is not raised a
// second time; and when the first write fails, the second sample raises it
// (a failed sample records nothing). Either way the log holds it once.
func TestOverlappingSamplesRaiseAnEpisodeOnce(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(map[bool]string{false: "write succeeds", true: "write fails"}[fail], func(t *testing.T) {
			ctx := ctxT(t)
			held := &heldAnomalyStore{entered: make(chan struct{}), release: make(chan struct{})}
			if fail {
				held.fail = semvec.Errorf(semvec.KindUnavailable, "database down")
			}
			st := newWrappedStack(t, func(s *persistence.Store) LayerStore { held.Store = s; return held })
			const own = "overlap"
			run := func(sid string, vec []float32) *pb.RunResponse {
				return ok(AskSession[*pb.RunResponse](ctx, st.sessions, sid, &pb.RunRequest{
					Owner: own, SessionId: sid, Message: "turn", MessageVec: vec,
					ShortCircuitThreshold: 0.85, NowUnixNano: time.Now().UnixNano(),
				}))(t)
			}
			r := ok(st.layers.CreateRegion(ctx, own, "r", 0.99, 60))(t)
			c := ok(st.layers.CreateCluster(ctx, own, "c", AggregationWeightedAverage, 0))(t)
			ok(st.layers.AttachCluster(ctx, own, r.ID, c.ID))(t)
			for j := range 4 {
				run(c.ID, topic(0, j))
			}
			ok2(st.layers.EnsureObserver(ctx, own, 3600, []string{r.ID}))(t)
			if !run(c.ID, topic(5, 0)).GetDriftDetected() {
				t.Fatal("the topic switch detected no drift")
			}

			first := make(chan error, 1)
			go func() { _, err := st.layers.ObserverSample(ctx, own); first <- err }()
			<-held.entered // the first sample is writing its systemic_drift
			type sampled struct {
				res *pb.ObserverSampleResponse
				err error
			}
			second := make(chan sampled, 1)
			go func() { res, err := st.layers.ObserverSample(ctx, own); second <- sampled{res, err} }()
			close(held.release)
			err := <-first
			s := <-second
			if s.err != nil {
				t.Fatal(s.err)
			}
			want := 0 // the first raised it
			if fail {
				if err == nil {
					t.Fatal("the first sample's write failed but it answered no error")
				}
				want = 1 // nothing recorded by the first: the second raises it
			} else if err != nil {
				t.Fatal(err)
			}
			if got := s.res.GetNewAnomalies(); len(got) != want || (want == 1 && got[0].GetAnomalyType() != AnomalySystemicDrift) {
				t.Fatalf("the overlapping sample raised %v; want %d systemic_drift", got, want)
			}
			if as := ok(st.layers.ObserverAnomalies(ctx, own, 20))(t); len(as) != 1 {
				t.Fatalf("anomaly log = %v, want one systemic_drift", as)
			}
		})
	}
}

// An actor that panics is stopped (panicStops). A cluster that panics while
// a feedback runs answers that feedback's askers at once with an internal
// error (the feedback may have blended some members), asked directly as a
// cluster-mode member asks, not after their timeout.
func TestAPanicEndsTheClustersFeedback(t *testing.T) {
	var panicNext atomic.Bool
	clock := func(e *layersEnv) {
		e.layersNow = func() time.Time {
			if panicNext.CompareAndSwap(true, false) {
				panic("test: the cluster's clock")
			}
			return time.Now()
		}
	}
	h := newHeldFeedback(t, nil, clock)
	fb := h.start(t) // a member's blend is held until the test ends
	pid := ok(h.e.layers.clusters.Get(ctxT(t), ownedKey(h.own, h.cid)))(t)
	start := time.Now()
	panicNext.Store(true)
	// handled while a feedback runs, it reads the clock, which panics
	h.e.sys.Root.Send(pid, &pb.ClusterFeedbackRequest{Owner: h.own, ClusterId: h.cid})
	if got := feedbackAnswer(t, fb).GetError(); got.GetReason() != pb.ErrorReason_ERROR_REASON_INTERNAL {
		t.Fatalf("the feedback of a cluster that panicked answered %v, want internal", got)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the feedback's asker was answered after %v: it waited for its timeout", took)
	}
	if panicNext.Load() {
		t.Fatal("the cluster did not read the clock: no panic")
	}
}

// An observer samples at least every minSampleInterval; a shorter interval
// is stored and reported as that, not as what it was asked for.
func TestAnObserversIntervalIsTheOneItSamplesAt(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	info, created, err := e.layers.EnsureObserver(ctx, "tenant-a", 0.05, nil)
	if err != nil || !created {
		t.Fatalf("EnsureObserver: %v (created %v)", err, created)
	}
	if info.SampleIntervalSeconds != minSampleInterval.Seconds() {
		t.Fatalf("interval reported %v, want the %v it samples at", info.SampleIntervalSeconds, minSampleInterval.Seconds())
	}
	sum := ok(e.layers.ObserverSummary(ctx, "tenant-a", 10))(t)
	if sum.GetSampleIntervalSeconds() != minSampleInterval.Seconds() {
		t.Fatalf("summary interval %v", sum.GetSampleIntervalSeconds())
	}
}

// A member's blend that timed out may still land. The feedback that
// finishes the one it failed in binds each blend to the state the member
// had when it was read, so a member whose late blend landed is not blended
// again: every member ends blended exactly once.
func TestAFeedbackBlendThatTimedOutButLandedIsNotRepeated(t *testing.T) {
	h := newHeldFeedback(t, nil, func(e *layersEnv) { e.askTimeout = time.Second })
	ctx := ctxT(t)
	agg := ok(h.e.layers.ClusterState(ctx, h.own, h.cid))(t).GetAggregateVector()
	before := map[string][]float32{h.a: h.e.state(h.own, h.a).GetState(), h.b: h.e.state(h.own, h.b).GetState()}

	fb := h.start(t) // one member's blend is held past its ask's timeout
	if got := feedbackAnswer(t, fb).GetError(); got.GetReason() != pb.ErrorReason_ERROR_REASON_TIMEOUT {
		t.Fatalf("a feedback whose member did not answer in time answered %v, want a timeout", got)
	}
	h.release() // the held blend lands now
	blendedOnce := func() bool {
		for id, vec := range before {
			if c := vecmath.Cosine(h.e.state(h.own, id).GetState(), blendExpect(vec, agg, heldCoupling)); c < 1-1e-4 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !blendedOnce(); {
		if time.Now().After(deadline) {
			t.Fatal("the held blend did not land")
		}
		time.Sleep(10 * time.Millisecond)
	}

	if fb := feedbackAnswer(t, h.ask(t)); fb.GetError() != nil || fb.GetSessionsUpdated() != 2 {
		t.Fatalf("the retry = %+v, want the feedback finished: 2 members blended", fb)
	}
	if !blendedOnce() {
		t.Fatal("after the retry a member is not blended exactly once (blended twice?)")
	}
}
