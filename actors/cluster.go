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
	l     *Layers
	key   string
	view  *pb.ClusterView
	gen   int // bumped on every view change, so late results do not prune a newer view
	loads viewLoads
	work  layerWork // its async work (gathers and feedback) and its stop
	drift int64
	fb    feedbacks // the feedback being applied and the one to follow
}

// feedbacks is a cluster's feedback in progress: one at a time; a request
// that arrives while one runs on the same view joins it, one that arrives
// after the view changed (a member added or removed) joins the next, which
// starts when the running one ends.
type feedbacks struct {
	askers []*actor.PID // of the running feedback; nil: none runs
	gen    int          // the view generation it read
	next   []*actor.PID // of the next feedback
	end    context.CancelFunc
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
		return a
	}
}

func (a *clusterActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started, *actor.Restarting, *actor.Stopping:
	case *actor.Stopped:
		a.l.clusters.Stopped(a.key, ctx.Self())
	case stopWhenIdle:
		a.work.reached(ctx)
	case *pb.TopologyChanged:
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
// A feedback request that arrives while one is being applied to the same
// members joins it and gets its answer: a client that retries a feedback
// whose answer it did not wait for (a 504) gets the one still running
// instead of blending the members a second time. For the same reason a
// feedback is not cut short when its askers give up: it may run for
// feedbackTimeout (the ask timeout if longer). It ends early only when the
// actor stops (a deletion, a failed reload, a shutdown).
func (a *clusterActor) handleFeedback(ctx actor.Context, m *pb.ClusterFeedbackRequest) {
	if m.GetOwner() != a.view.GetOwner() {
		ctx.Respond(&pb.ClusterFeedbackResponse{Error: ToProtoError(semvec.NotFound("Cluster"))})
		return
	}
	switch {
	case a.fb.askers == nil:
		a.startFeedback(ctx, []*actor.PID{ctx.Sender()})
	case len(a.fb.askers)+len(a.fb.next) >= maxInflight:
		ctx.Respond(&pb.ClusterFeedbackResponse{Error: ToProtoError(semvec.Errorf(semvec.KindUnavailable, "too many requests are waiting for this actor"))})
	case a.fb.gen == a.gen:
		a.fb.askers = append(a.fb.askers, ctx.Sender())
	default: // the members changed since the running feedback read them
		a.fb.next = append(a.fb.next, ctx.Sender())
	}
}

// startFeedback starts a feedback on the current view for askers (see
// handleFeedback); the first asker is the message being handled.
func (a *clusterActor) startFeedback(ctx actor.Context, askers []*actor.PID) {
	v, gen := a.view, a.gen
	switch {
	case a.work.stopping:
		answerAll(ctx, askers, &pb.ClusterFeedbackResponse{Error: ToProtoError(semvec.Errorf(semvec.KindUnavailable, "the cluster is stopping; retry"))})
		return
	case v.GetCouplingFactor() == 0 || len(v.GetMemberIds()) == 0:
		answerAll(ctx, askers, &pb.ClusterFeedbackResponse{ClusterId: v.GetClusterId(), SessionsUpdated: 0, Target: feedbackNone})
		return
	}
	fctx, end := context.WithCancel(a.l.bgCtx)
	a.fb.askers, a.fb.gen, a.fb.end = askers, gen, end
	dim, now := a.l.sessions.Dim(), a.l.now()
	a.work.asyncFor(ctx, fctx, max(a.l.workTimeout(), feedbackTimeout), func(wctx context.Context) (any, error) {
		g, err := a.l.gatherCluster(wctx, v)
		if err != nil {
			return nil, err
		}
		var target []float32
		target, g.target = feedbackTarget(v.GetAggregationMode(), g.members, dim, now)
		if target == nil {
			return g, nil
		}
		g.updated, err = a.l.blendAll(wctx, v.GetOwner(), memberIDs(g.members), target, v.GetCouplingFactor())
		return g, err
	}, func(res any, err error) {
		if err != nil && fctx.Err() != nil {
			err = semvec.Errorf(semvec.KindUnavailable, "the cluster stopped (deleted, or the server is shutting down) before its feedback reached every member")
		}
		end()
		resp := &pb.ClusterFeedbackResponse{Error: ToProtoError(err)}
		if err == nil {
			g := res.(*clusterGather)
			a.prune(gen, g.missing)
			resp = &pb.ClusterFeedbackResponse{ClusterId: v.GetClusterId(), SessionsUpdated: int32(g.updated), Target: g.target}
		}
		answerAll(ctx, a.fb.askers, resp)
		next := a.fb.next
		a.fb = feedbacks{}
		if len(next) > 0 {
			a.startFeedback(ctx, next)
		}
	})
}

// answerAll sends each asker its own copy of resp.
func answerAll(ctx actor.Context, askers []*actor.PID, resp *pb.ClusterFeedbackResponse) {
	for _, asker := range askers {
		if asker != nil {
			ctx.Send(asker, proto.Clone(resp))
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
	if g.backing == nil {
		return nil, semvec.NotFound("Cluster") // deleted while we asked
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

// blendAll sends BlendRequest{target, weight} to each session as owner and
// counts the sessions whose state changed.
func (l *Layers) blendAll(ctx context.Context, owner string, ids []string, target []float32, weight float64) (int, error) {
	changed := make([]bool, len(ids))
	errs := make([]error, len(ids))
	parallel(len(ids), func(i int) {
		res, err := AskSession[*pb.BlendResponse](ctx, l.sessions, ids[i], &pb.BlendRequest{Owner: owner, SessionId: ids[i], Target: target, Weight: weight})
		changed[i], errs[i] = res.GetChanged(), err
	})
	n := 0
	for i := range ids {
		switch {
		case errs[i] == nil:
			if changed[i] {
				n++
			}
		case semvec.KindOf(errs[i]) == semvec.KindNotFound:
		default:
			return n, errs[i]
		}
	}
	return n, nil
}

func memberIDs(ms []memberState) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}
