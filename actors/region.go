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
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// regionActor is one region (contract Layer 3): its attached clusters, the
// drift event log, one vote per cluster inside the rolling window, and
// realignment. Its view is loaded at activation and after each
// TopologyChanged.
//
// The event log is durable: each event is appended to region_events
// (write-behind, one write in flight, the events that arrive meanwhile
// share the next), and activation rebuilds the log, the votes cast since
// the last realignment and each cluster's latest event from it. The
// realignment count and time are stored with the region.
type regionActor struct {
	l            *Layers
	key          string
	view         *pb.RegionView
	epoch        int64 // this activation's fencing epoch (persistence.Store.ActivateRegion)
	book         *voteBook
	lastRealign  int64 // unix nanos; 0 never
	realignments int64
	loads        viewLoads

	seq      int64                    // the last event numbered
	unsaved  []persistence.LoggedItem // numbered, not yet written
	writing  bool
	retrying bool // a retryEventWrite is scheduled
}

// retryEventWrite tells a region to write its unsaved events again after a
// failed write (a local message, never sent to another member).
type retryEventWrite struct{}

// eventRetryDelay is how long a region waits after a failed write of its
// drift events before it tries again, when no new event comes first.
var eventRetryDelay = time.Second

// newRegionActor builds the region's actor from its view and its event log;
// attached holds when each attached cluster was attached: a cluster's
// events from before then (an earlier attachment, whose vote and latest
// event its detachment dropped) neither vote nor count as its latest event.
func newRegionActor(l *Layers, key string, v *pb.RegionView, epoch int64, events []*pb.RegionDriftEvent, seq int64, attached map[string]time.Time) actor.Producer {
	return func() actor.Actor {
		a := &regionActor{l: l, key: key, view: v, epoch: epoch, book: newVoteBook(maxRegionEvents),
			lastRealign: v.GetLastRealignmentUnixNano(), realignments: v.GetRealignments(), seq: seq}
		a.book.restore(events, a.lastRealign)
		a.book.retain(v.GetClusterIds())
		a.book.since(attached)
		return a
	}
}

func (a *regionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started, *actor.Restarting:
	case *actor.Stopping:
		a.writeOnStop()
	case *actor.Stopped:
		a.l.regions.Stopped(a.key, ctx.Self())
	case *pb.TopologyChanged:
		owner, id := a.view.GetOwner(), a.view.GetRegionId()
		reloadView(ctx, a.l, &a.loads, a.key, func(c context.Context) (*pb.RegionView, error) {
			return a.l.regionView(c, owner, id)
		}, a.handleView)
	case *pb.DriftEvent:
		a.handleDrift(ctx, m)
	case retryEventWrite:
		a.retrying = false
		a.writeUnsaved(ctx)
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
	rev := &pb.RegionDriftEvent{
		ClusterId: ev.GetClusterId(), RegionId: a.view.GetRegionId(), SessionId: ev.GetSessionId(),
		DriftScore: ev.GetDriftScore(), DriftPhase: ev.GetDriftPhase(), AtUnixNano: at,
	}
	a.save(ctx, rev)
	a.book.record(rev)
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

// save numbers ev and writes it to the region's durable log, behind the
// write in flight if there is one. A failed write is retried with the next
// event or after eventRetryDelay; the unsaved backlog is bounded like the
// log.
func (a *regionActor) save(ctx actor.Context, ev *pb.RegionDriftEvent) {
	data, err := proto.Marshal(ev)
	if err != nil {
		a.l.log.Error("region: drift event not encoded", "region_id", a.view.GetRegionId(), "err", err)
		return
	}
	a.seq++
	a.unsaved = append(a.unsaved, persistence.LoggedItem{Seq: a.seq, Data: data})
	if over := len(a.unsaved) - maxRegionEvents; over > 0 {
		a.unsaved = slices.Delete(a.unsaved, 0, over)
	}
	a.writeUnsaved(ctx)
}

func (a *regionActor) writeUnsaved(ctx actor.Context) {
	if a.writing || len(a.unsaved) == 0 {
		return
	}
	a.writing = true
	batch := a.unsaved
	a.unsaved = nil
	owner, id, epoch := a.view.GetOwner(), a.view.GetRegionId(), a.epoch
	a.l.async(ctx, func(wctx context.Context) (any, error) {
		return nil, a.l.store.AppendRegionEvents(wctx, owner, id, epoch, batch, maxRegionEvents)
	}, func(_ any, err error) {
		a.writing = false
		if errors.Is(err, persistence.ErrSuperseded) {
			// A newer activation of this region exists (another member
			// took it over): stop, writing nothing more.
			a.l.log.Warn("region superseded by a newer activation: stopping", "region_id", id, "epoch", epoch)
			a.unsaved = nil
			ctx.Stop(ctx.Self())
			return
		}
		if semvec.KindOf(err) == semvec.KindNotFound {
			a.unsaved = nil // the region is gone, and its log with it
			return
		}
		if err != nil {
			a.l.log.Warn("region: drift events not written yet; retried", "region_id", id, "events", len(batch), "err", err)
			a.unsaved = append(batch, a.unsaved...)
			if over := len(a.unsaved) - maxRegionEvents; over > 0 {
				a.unsaved = slices.Delete(a.unsaved, 0, over)
			}
			// Retried with the next event, or after eventRetryDelay when
			// none comes: the events reach the database once it is back,
			// not only when the region stops.
			if !a.retrying {
				a.retrying = true
				self, root := ctx.Self(), a.l.root
				time.AfterFunc(eventRetryDelay, func() { root.Send(self, retryEventWrite{}) })
			}
			return
		}
		a.writeUnsaved(ctx)
	})
}

// writeOnStop writes the events still waiting behind the write in flight
// on a tracked goroutine (Layers.Shutdown waits for it), bounded by
// stopSaveTimeout.
func (a *regionActor) writeOnStop() {
	if len(a.unsaved) == 0 {
		return
	}
	batch, owner, id, epoch, l := a.unsaved, a.view.GetOwner(), a.view.GetRegionId(), a.epoch, a.l
	a.unsaved = nil
	l.goBG(func(bg context.Context) {
		ctx, cancel := context.WithTimeout(bg, stopSaveTimeout)
		defer cancel()
		err := l.store.AppendRegionEvents(ctx, owner, id, epoch, batch, maxRegionEvents)
		if err != nil && semvec.KindOf(err) != semvec.KindNotFound && !errors.Is(err, persistence.ErrSuperseded) {
			l.log.Error("region: drift events lost at stop", "region_id", id, "events", len(batch), "err", err)
		}
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
		Realignments: int32(a.realignments), LastEvents: a.book.lastEvents(),
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
	if perr := l.store.RecordRealignment(ctx, v.GetOwner(), v.GetRegionId(), at); perr != nil && semvec.KindOf(perr) != semvec.KindNotFound {
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
