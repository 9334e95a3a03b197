package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	pb "github.com/semvec-go/semvec/proto"
)

// regionActor is one region (contract Layer 3): its attached clusters, the
// drift event log, one vote per cluster
// inside the rolling window, and realignment. Its view is loaded at
// activation and after each TopologyChanged.
type regionActor struct {
	l            *Layers
	key          string
	view         *pb.RegionView
	book         *voteBook
	lastRealign  int64 // unix nanos; 0 never
	realignments int32
	loads        viewLoads
}

func newRegionActor(l *Layers, key string, v *pb.RegionView) actor.Producer {
	return func() actor.Actor {
		return &regionActor{l: l, key: key, view: v, book: newVoteBook(maxRegionEvents), lastRealign: v.GetLastRealignmentUnixNano()}
	}
}

func (a *regionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started, *actor.Restarting, *actor.Stopping:
	case *actor.Stopped:
		a.l.regions.Stopped(a.key, ctx.Self())
	case *pb.TopologyChanged:
		owner, id := a.view.GetOwner(), a.view.GetRegionId()
		reloadView(ctx, a.l, &a.loads, a.key, func(c context.Context) (*pb.RegionView, error) {
			return a.l.regionView(c, owner, id)
		}, a.handleView)
	case *pb.DriftEvent:
		a.handleDrift(ctx, m)
	case *pb.RegionStateRequest:
		a.handleState(ctx, m)
	case *pb.RegionEventsRequest:
		a.handleEvents(ctx, m)
	default:
		a.l.log.Warn("region actor: unexpected message", "key", a.key, "type", typeName(m))
	}
}

func (a *regionActor) handleView(v *pb.RegionView) {
	a.view = proto.Clone(v).(*pb.RegionView)
	a.lastRealign = max(a.lastRealign, v.GetLastRealignmentUnixNano())
	a.book.retain(a.view.GetClusterIds())
}

func (a *regionActor) window() time.Duration {
	return time.Duration(a.view.GetVoteWindowSeconds() * float64(time.Second))
}

// handleDrift records a cluster's drift vote and realigns the region when
// the share of attached clusters voting inside the window exceeds the
// consensus threshold. Events of clusters not (or no longer) attached are
// ignored.
func (a *regionActor) handleDrift(ctx actor.Context, ev *pb.DriftEvent) {
	if ev.GetOwner() != a.view.GetOwner() || !slices.Contains(a.view.GetClusterIds(), ev.GetClusterId()) {
		return
	}
	now := a.l.now()
	at := ev.GetAtUnixNano()
	if at == 0 {
		at = now.UnixNano()
	}
	a.book.record(&pb.RegionDriftEvent{
		ClusterId: ev.GetClusterId(), RegionId: a.view.GetRegionId(), SessionId: ev.GetSessionId(),
		DriftScore: ev.GetDriftScore(), DriftPhase: ev.GetDriftPhase(), AtUnixNano: at,
	})
	a.book.expire(now, a.window())
	if shouldRealign(len(a.book.votes), len(a.view.GetClusterIds()), a.view.GetConsensusThreshold()) {
		a.realign(ctx, a.book.clearVotes(), now)
	}
}

// realign is the region's consensus action. It clears the votes (the
// caller did) and starts, on a work goroutine (the actor keeps serving
// messages meanwhile):
//
//  1. reading the voting clusters' backing-session states;
//  2. setting the meta session to their normalised mean (the consensus
//     vector): one meta-session turn records the realignment, then a blend
//     with weight 1 pins the state exactly to the mean;
//  3. blending each voting cluster's backing session towards the consensus
//     vector with weight realignWeight (0.3);
//  4. persisting last_realignment.
//
// When the work is done the actor sets last_realignment and counts the
// realignment, so a reader who sees last_realignment move sees the vectors
// already moved. Member sessions are left alone; cluster feedback carries the
// change to them when the caller asks for it.
func (a *regionActor) realign(ctx actor.Context, voters []string, now time.Time) {
	v := a.view
	a.l.log.Info("region realignment", "region_id", v.GetRegionId(), "clusters", voters)
	a.l.async(ctx, func(wctx context.Context) (any, error) {
		return nil, a.l.realignRegion(wctx, v, voters, now)
	}, func(_ any, err error) {
		if err != nil {
			a.l.log.Warn("region realignment incomplete", "region_id", v.GetRegionId(), "err", err)
		}
		a.lastRealign = max(a.lastRealign, now.UnixNano())
		a.realignments++
	})
}

func (a *regionActor) handleState(ctx actor.Context, m *pb.RegionStateRequest) {
	if m.GetOwner() != a.view.GetOwner() {
		ctx.Respond(&pb.RegionStateResponse{Error: ToProtoError(semvec.NotFound("Region"))})
		return
	}
	a.book.expire(a.l.now(), a.window())
	v := a.view
	ctx.Respond(&pb.RegionStateResponse{
		RegionId: v.GetRegionId(), Name: v.GetName(), MetaSessionId: v.GetMetaSessionId(),
		ConsensusThreshold: v.GetConsensusThreshold(), VoteWindowSeconds: v.GetVoteWindowSeconds(),
		ClusterIds: slices.Clone(v.GetClusterIds()), LastRealignmentUnixNano: a.lastRealign,
		RecentEvents: a.book.recent(int(m.GetEventsLimit())), ActiveVotes: a.book.activeVotes(),
		Realignments: a.realignments, LastEvents: a.book.lastEvents(),
	})
}

func (a *regionActor) handleEvents(ctx actor.Context, m *pb.RegionEventsRequest) {
	if m.GetOwner() != a.view.GetOwner() {
		ctx.Respond(&pb.RegionEventsResponse{Error: ToProtoError(semvec.NotFound("Region"))})
		return
	}
	ctx.Respond(&pb.RegionEventsResponse{Events: a.book.recent(int(m.GetLimit()))})
}

// realignRegion does the work of a realignment (see regionActor.realign). It
// runs on a work goroutine. last_realignment is persisted last, so a stored
// value means the vectors moved (as far as they could: errors are reported).
func (l *Layers) realignRegion(ctx context.Context, v *pb.RegionView, voters []string, at time.Time) error {
	err := l.alignVectors(ctx, v, voters, at)
	if perr := l.store.SetLastRealignment(ctx, v.GetOwner(), v.GetRegionId(), at); perr != nil && semvec.KindOf(perr) != semvec.KindNotFound {
		err = errors.Join(err, fmt.Errorf("last_realignment: %w", perr))
	}
	return err
}

// alignVectors sets the meta session to the consensus vector of the voting
// clusters and blends each of them towards it.
func (l *Layers) alignVectors(ctx context.Context, v *pb.RegionView, voters []string, at time.Time) error {
	var errs []string
	states, _, err := l.sessionStates(ctx, v.GetOwner(), voters)
	if err != nil {
		return err
	}
	var vecs [][]float32
	var initialised []string
	for _, id := range voters {
		if st := states[id]; st.GetInitialized() && len(st.GetState()) == l.sessions.Dim() {
			vecs = append(vecs, st.GetState())
			initialised = append(initialised, id)
		}
	}
	consensus := meanUnit(vecs)
	if consensus == nil {
		return nil // no voting cluster has a state yet: nothing to align
	}
	owner, meta := v.GetOwner(), v.GetMetaSessionId()
	_, err = AskSession[*pb.RunResponse](ctx, l.sessions, meta, &pb.RunRequest{
		Owner: owner, SessionId: meta, MessageVec: consensus, ShortCircuitThreshold: 1, NowUnixNano: at.UnixNano(),
		Message: fmt.Sprintf("realignment of region %s: clusters %s", v.GetRegionId(), strings.Join(initialised, ", ")),
	})
	if err != nil {
		errs = append(errs, "meta session turn: "+err.Error())
	}
	if _, err := AskSession[*pb.BlendResponse](ctx, l.sessions, meta, &pb.BlendRequest{Owner: owner, SessionId: meta, Target: consensus, Weight: 1}); err != nil {
		errs = append(errs, "meta session state: "+err.Error())
	}
	if _, err := l.blendAll(ctx, owner, initialised, consensus, realignWeight); err != nil {
		errs = append(errs, "cluster sessions: "+err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
