package actors

import (
	"context"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	pb "github.com/semvec-go/semvec/proto"
)

// clusterActor is one cluster (contract Layer 2). It holds the cluster's
// view (metadata, members, regions) as last loaded (at activation and after
// each TopologyChanged), forwards
// drift events from its sessions to its regions, and computes the aggregate
// and the coupling feedback by asking the member sessions from a goroutine
// (Layers.async) without ever blocking its mailbox.
type clusterActor struct {
	l    *Layers
	key  string
	view *pb.ClusterView
	gen  int // bumped on every view change, so late results do not prune a newer view
	// membersGen is bumped when the members change (not the regions): a
	// feedback is joined, or finished, only on the members it read.
	membersGen int
	loads      viewLoads
	work       layerWork // its async work (gathers and feedback) and its stop
	drift      int64
	fb         feedbacks // the feedback being applied and the one to follow
}

// feedbacks is a cluster's feedback in progress: one at a time; a request
// that arrives while one runs on the same members joins it, one that
// arrives after the members changed joins the next, which starts when the
// running one ends if one of its askers still waits. A feedback that failed
// part way is finished, not started over, by the next one on the same
// members (see handleFeedback).
type feedbacks struct {
	running bool
	askers  []feedbackAsker // of the running feedback
	members int             // the membersGen of the members it read
	next    []feedbackAsker // of the next feedback
	end     context.CancelFunc
	resume  *unfinishedFeedback
}

// feedbackAsker is who asked for a feedback, and until when it waits (zero:
// not said).
type feedbackAsker struct {
	pid      *actor.PID
	deadline time.Time
}

// waiting keeps the askers that still wait at now.
func waiting(askers []feedbackAsker, now time.Time) []feedbackAsker {
	return slices.DeleteFunc(askers, func(a feedbackAsker) bool { return !a.deadline.IsZero() && now.After(a.deadline) })
}

// unfinishedFeedback is a feedback that failed part way (a member's blend
// failed): the members it has not blended, and what it blends them towards.
type unfinishedFeedback struct {
	members int       // the membersGen of the members it read
	at      time.Time // when it failed; it is finished within feedbackTimeout, else started over
	left    []string  // the members whose blend failed
	// expect holds, per member left, the hash of the state the feedback
	// read (stateHash): finishing blends a member only while it still has
	// that state, so a blend that timed out but landed is not made twice.
	expect  map[string]uint64
	target  []float32
	weight  float64
	updated int // members it changed so far
}

// feedbackRun is what a feedback's work did.
type feedbackRun struct {
	g      *clusterGather
	target []float32
	weight float64
	left   []string          // the members whose blend failed
	expect map[string]uint64 // their states' hashes when read (unfinishedFeedback.expect)
}

func newClusterActor(l *Layers, key string, v *pb.ClusterView) actor.Producer {
	return func() actor.Actor {
		a := &clusterActor{l: l, key: key, view: v, work: newLayerWork(l, l.clusters, key)}
		// A stopping cluster (deleted, a failed reload, shutdown) ends its
		// feedback rather than wait up to feedbackTimeout for it.
		a.work.onStop = func() {
			if a.fb.end != nil {
				a.fb.end()
			}
		}
		a.work.gone = func() { l.goneCluster(a.view) }
		return a
	}
}

// goneCluster does, for a cluster its actor found gone, what its deletion
// does once committed (DeleteCluster), off the actor: it stops the backing
// session's actor and tells the members and regions its view held. A
// deletion answered 503 whose COMMIT landed told none of them.
func (l *Layers) goneCluster(v *pb.ClusterView) {
	l.goBG(func(bg context.Context) {
		l.sessions.Discard(bg, v.GetOwner(), v.GetClusterId())
		l.tellUnsure(bg, l.clusterLinks(v)...)
	})
}

// clusterLinks are the actors holding a link to the cluster of v: its
// members' sessions and its regions.
func (l *Layers) clusterLinks(v *pb.ClusterView) []told {
	owner := v.GetOwner()
	actors := []told{}
	for _, sid := range v.GetMemberIds() {
		actors = append(actors, told{l.sessions.reg, ownedKey(owner, sid)})
	}
	for _, rid := range v.GetRegionIds() {
		actors = append(actors, told{l.regions, ownedKey(owner, rid)})
	}
	return actors
}

func (a *clusterActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started, *actor.Restarting, *actor.Stopping:
	case *actor.Stopped:
		a.abandonFeedbacks(ctx)
		a.l.clusters.Stopped(a.key, ctx.Self())
	case stopWhenIdle:
		a.work.reached(ctx)
	case *pb.TopologyChanged, reloadAgain:
		owner, id := a.view.GetOwner(), a.view.GetClusterId()
		reloadView(ctx, &a.work, &a.loads, func(c context.Context) (*pb.ClusterView, error) {
			return a.l.clusterView(c, owner, id)
		}, a.handleView)
	case *pb.DriftEvent:
		a.handleDrift(m)
	case *pb.ClusterStateRequest:
		a.handleState(ctx, m)
	case *pb.ClusterFeedbackRequest:
		a.handleFeedback(ctx, m)
	case *pb.ClusterExistsRequest:
		if m.GetOwner() != a.view.GetOwner() {
			ctx.Respond(&pb.ClusterExistsResponse{Error: ToProtoError(semvec.NotFound("Cluster"))})
			return
		}
		ctx.Respond(&pb.ClusterExistsResponse{})
	default:
		a.l.log.Warn("cluster actor: unexpected message", "key", a.key, "type", typeName(m))
	}
}

func (a *clusterActor) handleView(v *pb.ClusterView) {
	if !slices.Equal(a.view.GetMemberIds(), v.GetMemberIds()) {
		a.membersGen++
	}
	a.view = proto.Clone(v).(*pb.ClusterView)
	a.gen++
}

// handleDrift forwards a member's (or the backing session's) drift event to
// every region the cluster is attached to (activating the region actor when
// needed). Plain sends: nobody waits.
func (a *clusterActor) handleDrift(ev *pb.DriftEvent) {
	if ev.GetOwner() != a.view.GetOwner() {
		return
	}
	a.drift++
	for _, rid := range a.view.GetRegionIds() {
		out := proto.Clone(ev).(*pb.DriftEvent)
		out.ClusterId, out.RegionId = a.view.GetClusterId(), rid
		a.l.regions.Tell(ownedKey(a.view.GetOwner(), rid), out, true)
	}
}

// clusterGather is what the cluster's work goroutine collected.
type clusterGather struct {
	backing *pb.StateResponse
	members []memberState // initialised members, in membership order
	missing []string      // members whose session no longer exists
	updated int           // feedback: members whose state changed
	target  string        // feedback: what was blended in (feedbackAggregate or feedbackNone)
}

func (a *clusterActor) handleState(ctx actor.Context, m *pb.ClusterStateRequest) {
	if m.GetOwner() != a.view.GetOwner() {
		ctx.Respond(&pb.ClusterStateResponse{Error: ToProtoError(semvec.NotFound("Cluster"))})
		return
	}
	v, gen := a.view, a.gen
	a.work.async(ctx, func(wctx context.Context) (any, error) {
		return a.l.gatherCluster(wctx, v)
	}, func(res any, err error) {
		if err != nil {
			ctx.Respond(&pb.ClusterStateResponse{Error: ToProtoError(err)})
			return
		}
		g := res.(*clusterGather)
		a.prune(gen, g.missing)
		ctx.Respond(a.stateResponse(g))
	})
}

func (a *clusterActor) stateResponse(g *clusterGather) *pb.ClusterStateResponse {
	v := a.view
	agg := aggregate(v.GetAggregationMode(), g.members, a.l.sessions.Dim(), a.l.now())
	return &pb.ClusterStateResponse{
		ClusterId: v.GetClusterId(), Name: v.GetName(), AggregationMode: v.GetAggregationMode(),
		CouplingFactor: v.GetCouplingFactor(), MemberIds: slices.Clone(v.GetMemberIds()), RegionIds: slices.Clone(v.GetRegionIds()),
		Phase: g.backing.GetPhase(), InteractionCount: g.backing.GetInteractionCount(), TotalMemories: g.backing.GetTotalMemories(),
		AggregateVector: agg, InitializedMembers: int32(len(g.members)), DriftEvents: a.drift,
	}
}

// handleFeedback blends the cluster's aggregate (its members' vectors under
// the cluster's aggregation mode, the same aggregate_vector the state
// reports) into every initialised member with strength coupling_factor:
// member' = normalise((1−c)·member + c·aggregate). The backing session's
// own state is not what is fed back (contract: "blend aggregate back into
// members"). A factor of 0, or no initialised member, answers 0.
//
// Retrying a feedback must not blend the members twice. So a feedback
// request that arrives while one is being applied to the same members joins
// it and gets its answer, and a feedback is not cut short when its askers
// give up: it may run for feedbackTimeout (the ask timeout if longer). One
// whose member blends failed part way (under a small SEMVEC_MAX_SESSIONS, a
// member that could not be activated in time) is finished by the next
// feedback on the same members: it blends only the members left, towards
// the same target. A feedback ends early only when the actor stops (a
// deletion, a failed reload, a shutdown), and then starts over next time.
func (a *clusterActor) handleFeedback(ctx actor.Context, m *pb.ClusterFeedbackRequest) {
	if m.GetOwner() != a.view.GetOwner() {
		ctx.Respond(&pb.ClusterFeedbackResponse{Error: ToProtoError(semvec.NotFound("Cluster"))})
		return
	}
	me := feedbackAsker{pid: ctx.Sender()}
	if p := m.GetPatienceNanos(); p > 0 {
		me.deadline = a.l.now().Add(time.Duration(p)) // on this member's clock
	}
	if !a.fb.running {
		a.startFeedback(ctx, []feedbackAsker{me})
		return
	}
	now := a.l.now()
	a.fb.askers, a.fb.next = waiting(a.fb.askers, now), waiting(a.fb.next, now)
	switch {
	case len(a.fb.askers)+len(a.fb.next) >= maxInflight:
		ctx.Respond(&pb.ClusterFeedbackResponse{Error: ToProtoError(semvec.Errorf(semvec.KindUnavailable, "too many requests are waiting for this actor"))})
	case a.fb.members == a.membersGen:
		a.fb.askers = append(a.fb.askers, me)
	default: // the members changed since the running feedback read them
		a.fb.next = append(a.fb.next, me)
	}
}

// startFeedback starts a feedback on the current view for askers (see
// handleFeedback).
func (a *clusterActor) startFeedback(ctx actor.Context, askers []feedbackAsker) {
	v, gen, members := a.view, a.gen, a.membersGen
	resume := a.fb.resume
	a.fb.resume = nil
	if resume != nil && (resume.members != members || a.l.now().Sub(resume.at) > feedbackTimeout) {
		resume = nil // the members changed, or it is old: a new feedback, on the members as they are
	}
	switch {
	case a.work.stopping:
		answerAll(ctx, askers, &pb.ClusterFeedbackResponse{Error: ToProtoError(semvec.Errorf(semvec.KindUnavailable, "the cluster is stopping; retry"))})
		return
	case v.GetCouplingFactor() == 0 || len(v.GetMemberIds()) == 0:
		answerAll(ctx, askers, &pb.ClusterFeedbackResponse{ClusterId: v.GetClusterId(), SessionsUpdated: 0, Target: feedbackNone})
		return
	}
	fctx, end := context.WithCancel(a.l.bgCtx)
	a.fb = feedbacks{running: true, askers: askers, members: members, end: end}
	dim, now := a.l.sessions.Dim(), a.l.now()
	a.work.asyncFor(ctx, fctx, max(a.l.workTimeout(), feedbackTimeout), func(wctx context.Context) (any, error) {
		run := &feedbackRun{g: &clusterGather{target: feedbackAggregate}, weight: v.GetCouplingFactor()}
		ids, expect := []string(nil), map[string]uint64(nil)
		if resume != nil {
			run.target, run.weight, run.g.updated, ids, expect = resume.target, resume.weight, resume.updated, resume.left, resume.expect
		} else {
			g, err := a.l.gatherCluster(wctx, v)
			if err != nil {
				return nil, err
			}
			run.g = g
			run.target, g.target = feedbackTarget(v.GetAggregationMode(), g.members, dim, now)
			if run.target == nil {
				return run, nil
			}
			ids = memberIDs(g.members)
		}
		changed, left, err := a.l.blendAll(wctx, v.GetOwner(), ids, run.target, run.weight, expect)
		run.g.updated += changed
		run.left = left
		run.expect = make(map[string]uint64, len(left))
		for _, id := range left {
			if h, ok := expect[id]; ok {
				run.expect[id] = h
			}
		}
		for _, m := range run.g.members {
			if slices.Contains(left, m.ID) {
				run.expect[m.ID] = stateHash(true, m.Vec)
			}
		}
		return run, err
	}, func(res any, err error) {
		stopped := fctx.Err() != nil
		end()
		run, _ := res.(*feedbackRun)
		if err != nil && !stopped && run != nil && len(run.left) > 0 {
			a.fb.resume = &unfinishedFeedback{members: members, at: a.l.now(), left: run.left, expect: run.expect, target: run.target, weight: run.weight, updated: run.g.updated}
		}
		if err != nil && stopped {
			err = semvec.Errorf(semvec.KindUnavailable, "the cluster stopped (deleted, or the server is shutting down) before its feedback reached every member")
		}
		resp := &pb.ClusterFeedbackResponse{Error: ToProtoError(err)}
		if err == nil {
			a.prune(gen, run.g.missing)
			resp = &pb.ClusterFeedbackResponse{ClusterId: v.GetClusterId(), SessionsUpdated: int32(run.g.updated), Target: run.g.target}
		}
		answerAll(ctx, a.fb.askers, resp)
		next := waiting(a.fb.next, a.l.now())
		a.fb = feedbacks{resume: a.fb.resume}
		if len(next) > 0 {
			a.startFeedback(ctx, next)
		}
	})
}

// abandonFeedbacks answers the askers of a feedback the actor will not
// finish. A stop in order comes only once no work runs, so there are none;
// after a panic (panicStops) the feedback's work may have blended some
// members, and its askers get an internal error at once instead of waiting
// for their timeout (a local ask sees the stop too; one from another
// cluster member does not).
func (a *clusterActor) abandonFeedbacks(ctx actor.Context) {
	if a.fb.end != nil {
		a.fb.end()
	}
	err := semvec.Errorf(semvec.KindInternal, "the cluster's actor failed during its feedback; some members may have been blended")
	answerAll(ctx, append(a.fb.askers, a.fb.next...), &pb.ClusterFeedbackResponse{Error: ToProtoError(err)})
	a.fb = feedbacks{}
}

// answerAll sends each asker its own copy of resp.
func answerAll(ctx actor.Context, askers []feedbackAsker, resp *pb.ClusterFeedbackResponse) {
	for _, asker := range askers {
		if asker.pid != nil {
			ctx.Send(asker.pid, proto.Clone(resp))
		}
	}
}

// feedbackTimeout bounds a cluster feedback: long enough for a cluster of
// the most members (persistence.DefaultMaxLinks) to be visited twice when
// each must be activated in turn under a small SEMVEC_MAX_SESSIONS.
const feedbackTimeout = 60 * time.Second

// What feedback blended in (ClusterFeedbackResponse.target).
const (
	feedbackAggregate = "aggregate"
	feedbackNone      = "none"
)

// feedbackTarget is the vector cluster feedback blends into the members: the
// aggregate of the initialised members under mode. It is nil (and the
// target "none") when no member is initialised or the aggregate cancels
// out to zero, so that nothing is blended.
func feedbackTarget(mode string, members []memberState, dim int, now time.Time) ([]float32, string) {
	if len(members) == 0 {
		return nil, feedbackNone
	}
	agg := aggregate(mode, members, dim, now)
	if isZero(agg) {
		return nil, feedbackNone
	}
	return agg, feedbackAggregate
}

// prune drops members whose session was deleted (its memberships went with
// it), unless the view changed since the work began.
func (a *clusterActor) prune(gen int, missing []string) {
	if gen != a.gen || len(missing) == 0 {
		return
	}
	v := proto.Clone(a.view).(*pb.ClusterView)
	v.MemberIds = slices.DeleteFunc(v.MemberIds, func(id string) bool { return slices.Contains(missing, id) })
	a.view = v
	a.gen++
	a.membersGen++
}

// gatherCluster asks the backing session and every member for their state.
// It runs on a work goroutine, never inside the actor.
func (l *Layers) gatherCluster(ctx context.Context, v *pb.ClusterView) (*clusterGather, error) {
	ids := append([]string{v.GetClusterId()}, v.GetMemberIds()...)
	states, missing, err := l.sessionStates(ctx, v.GetOwner(), ids)
	if err != nil {
		return nil, err
	}
	g := &clusterGather{backing: states[v.GetClusterId()]}
	switch {
	case g.backing == nil && slices.Contains(missing, v.GetClusterId()):
		return nil, semvec.NotFound("Cluster") // deleted while we asked
	case g.backing == nil:
		return nil, semvec.Errorf(semvec.KindInternal, "the session backing cluster %s cannot be read", v.GetClusterId())
	}
	for _, id := range v.GetMemberIds() {
		st := states[id]
		if st == nil || !st.GetInitialized() || len(st.GetState()) != l.sessions.Dim() {
			continue
		}
		ms := memberState{ID: id, Vec: st.GetState(), Interactions: int(st.GetInteractionCount())}
		if ns := st.GetLastDriftUnixNano(); ns != 0 {
			ms.LastTurn = time.Unix(0, ns)
		}
		g.members = append(g.members, ms)
	}
	for _, id := range missing {
		if id != v.GetClusterId() {
			g.missing = append(g.missing, id)
		}
	}
	return g, nil
}

// blendAll sends BlendRequest{target, weight} to each session as owner,
// bound to the state hash expect gives it (none: unbound; a session whose
// state is another is skipped). It counts the sessions whose state changed
// and returns those whose blend failed (a deleted session is no failure)
// with the first such error; a blend that timed out may still have been
// applied.
func (l *Layers) blendAll(ctx context.Context, owner string, ids []string, target []float32, weight float64, expect map[string]uint64) (changed int, failed []string, err error) {
	changes, skipped := make([]bool, len(ids)), make([]bool, len(ids))
	errs := make([]error, len(ids))
	parallel(len(ids), func(i int) {
		res, err := askSession[*pb.BlendResponse](ctx, l.sessions, ids[i], &pb.BlendRequest{Owner: owner, SessionId: ids[i], Target: target, Weight: weight, IfStateHash: expect[ids[i]]})
		changes[i], skipped[i], errs[i] = res.GetChanged(), res.GetSkipped(), err
	})
	for i := range ids {
		switch {
		case errs[i] == nil:
			// A member skipped for its bound state changed since it was
			// read: most likely by the blend it is being finished for.
			if changes[i] || skipped[i] {
				changed++
			}
		case semvec.KindOf(errs[i]) == semvec.KindNotFound:
		default:
			failed = append(failed, ids[i])
			if err == nil {
				err = errs[i]
			}
		}
	}
	return changed, failed, err
}

func memberIDs(ms []memberState) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
