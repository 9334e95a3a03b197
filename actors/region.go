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
// realignment count and time are stored with the region, written by the
// actor (see realign).
type regionActor struct {
	l            *Layers
	key          string
	view         *pb.RegionView
	epoch        int64 // this activation's fencing epoch (persistence.Store.ActivateRegion)
	book         *voteBook
	size         footprint // reports the bytes it holds to the regions' budget
	lastRealign  int64     // unix nanos; 0 never
	realignments int64
	realigning   bool // a realignment is in flight (one at a time)
	loads        viewLoads
	work         layerWork // its async work and its stop; superseded once a write is refused

	seq        int64                    // the last event numbered
	unsaved    []persistence.LoggedItem // numbered, not yet written
	writing    bool
	retryLater selfTimer // schedules a retryEventWrite

	// unsure: the last write of the realignment record failed, so the
	// database may hold a record the region does not (a COMMIT that landed
	// with its answer lost); recheckLater schedules a recheckRecord.
	unsure       bool
	recheckLater selfTimer
}

// recheckRecord tells a region to settle its realignment record after a
// failed write of it (see regionActor.recheck; a local message).
type recheckRecord struct{}

// recordRetryDelay is how long a region waits after a failed write of its
// realignment record before it settles it.
const recordRetryDelay = time.Second

// retryEventWrite tells a region to write its unsaved events again after a
// failed write (a local message, never sent to another member).
type retryEventWrite struct{}

// eventRetryDelay is how long a region waits after a failed write of its
// drift events before it tries again, when no new event comes first.
const eventRetryDelay = time.Second

// newRegionActor builds the region's actor from its view and its event log;
// attached holds when each attached cluster was attached: a cluster's
// events from before then (an earlier attachment, whose vote and latest
// event its detachment dropped) neither vote nor count as its latest event.
func newRegionActor(l *Layers, key string, v *pb.RegionView, epoch int64, events []*pb.RegionDriftEvent, seq int64, attached map[string]time.Time) actor.Producer {
	return func() actor.Actor {
		a := &regionActor{l: l, key: key, view: v, epoch: epoch, book: newVoteBook(maxRegionEvents),
			lastRealign: v.GetLastRealignmentUnixNano(), realignments: v.GetRealignments(), seq: seq,
			work: newLayerWork(l, l.regions, key)}
		a.book.restore(events, a.lastRealign)
		a.book.retain(v.GetClusterIds())
		a.book.since(attached)
		a.work.gone = func() { l.goneRegion(a.view) }
		return a
	}
}

// goneRegion does, for a region its actor found gone, what its deletion
// does once committed (DeleteRegion), off the actor: it stops the meta
// session's actor and tells the clusters its view held and the observer.
// A deletion answered 503 whose COMMIT landed told none of them.
func (l *Layers) goneRegion(v *pb.RegionView) {
	l.goBG(func(bg context.Context) {
		l.sessions.Discard(bg, v.GetOwner(), v.GetMetaSessionId())
		l.tellUnsure(bg, l.regionLinks(v)...)
	})
}

// regionLinks are the actors holding a link to the region of v: its
// clusters and the owner's observer.
func (l *Layers) regionLinks(v *pb.RegionView) []told {
	owner := v.GetOwner()
	actors := []told{{l.observers, owner}}
	for _, cid := range v.GetClusterIds() {
		actors = append(actors, told{l.clusters, ownedKey(owner, cid)})
	}
	return actors
}

func (a *regionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.size = a.l.regions.footprintOf(a.key, ctx.Self())
		a.measure()
	case *actor.Restarting:
	case *actor.Stopping:
	case *actor.Stopped:
		a.writeOnStop(ctx.Self())
	case stopWhenIdle:
		a.work.reached(ctx)
	case *pb.TopologyChanged, reloadAgain:
		owner, id := a.view.GetOwner(), a.view.GetRegionId()
		reloadView(ctx, &a.work, &a.loads, func(c context.Context) (*pb.RegionView, error) {
			return a.l.regionView(c, owner, id)
		}, a.handleView)
	case *pb.DriftEvent:
		a.handleDrift(ctx, m)
	case retryEventWrite:
		a.retryLater.fired()
		a.writeUnsaved(ctx)
	case recheckRecord:
		a.recheckLater.fired()
		a.recheck(ctx)
	case *pb.RegionStateRequest:
		a.handleState(ctx, m)
	case *pb.RegionEventsRequest:
		a.handleEvents(ctx, m)
	default:
		a.l.log.Warn("region actor: unexpected message", "key", a.key, "type", typeName(m))
	}
}

// regionBaseBytes is what a region actor holds besides its event log,
// roughly: the actor, its view, its vote maps.
const regionBaseBytes = 4 << 10

// measure reports the bytes the region holds to its registry's budget,
// when it has one (Layers.LimitRegionMemory): on start and after each
// event it logs.
func (a *regionActor) measure() {
	a.size.set(regionBaseBytes + a.book.bytes)
}

func (a *regionActor) handleView(v *pb.RegionView) {
	a.view = proto.Clone(v).(*pb.RegionView)
	a.book.retain(a.view.GetClusterIds())
}

func (a *regionActor) window() time.Duration {
	return time.Duration(a.view.GetVoteWindowSeconds() * float64(time.Second))
}

// handleDrift records a cluster's drift vote and realigns the region when
// the share of attached clusters voting inside the window exceeds the
// consensus threshold. Events of clusters not (or no longer) attached are
// ignored, and so are all events once the region is superseded; an event
// stamped at or before the last realignment is logged but does not vote
// (see voteBook).
func (a *regionActor) handleDrift(ctx actor.Context, ev *pb.DriftEvent) {
	if ev.GetOwner() != a.view.GetOwner() || !slices.Contains(a.view.GetClusterIds(), ev.GetClusterId()) {
		return
	}
	if a.work.superseded { // its writes are refused: the newer activation takes the events
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
	a.measure()
	a.maybeRealign(ctx)
}

// maybeRealign expires the votes older than the window and realigns the
// region when the share of attached clusters voting exceeds the consensus
// threshold and no realignment is in flight.
func (a *regionActor) maybeRealign(ctx actor.Context) {
	now := a.l.now()
	a.book.expire(now, a.window())
	if a.realigning || !shouldRealign(len(a.book.votes), len(a.view.GetClusterIds()), a.view.GetConsensusThreshold()) {
		return
	}
	a.realign(ctx, now)
}

// realign is the region's consensus action, one at a time. On a work
// goroutine (the actor keeps serving messages meanwhile) it
//
//  1. writes the region's realignment record: its time (see realignTime)
//     and the new count, for this activation (fenced by its epoch);
//  2. reads the voting clusters' backing-session states;
//  3. sets the meta session to their normalised mean (the consensus
//     vector): one meta-session turn records the realignment, then a blend
//     with weight 1 pins the state exactly to the mean;
//  4. blends each voting cluster's backing session towards the consensus
//     vector with weight realignWeight (0.3).
//
// When the work is done the actor takes the new record and clears the votes
// stamped up to the realignment's time, so a reader who sees
// last_realignment move sees the vectors already moved, and the votes
// rebuilt at activation are the ones it keeps. If the record is not written
// (the database is down), nothing moved and nothing changes: the votes stay,
// and the next drift event realigns again. The record is written as a value
// (time, count), not an increment, so a write whose answer was lost is
// overwritten by the next one and nothing is counted twice. Member sessions
// are left alone; cluster feedback carries the change to them when the
// caller asks for it.
func (a *regionActor) realign(ctx actor.Context, now time.Time) {
	v, epoch, voters := a.view, a.epoch, a.book.voters()
	at, count := realignTime(now, a.lastRealign, a.book.latestVote()), a.realignments+1
	a.realigning = true
	a.l.log.Info("region realignment", "region_id", v.GetRegionId(), "clusters", voters)
	a.work.async(ctx, func(wctx context.Context) (any, error) {
		return a.l.realignRegion(wctx, v, epoch, voters, at, count)
	}, func(res any, err error) {
		a.realigning = false
		if recorded, _ := res.(bool); !recorded {
			switch {
			case errors.Is(err, persistence.ErrSuperseded):
				a.l.log.Warn("region superseded by a newer activation: stopping", "region_id", v.GetRegionId(), "epoch", epoch)
				a.work.supersede(ctx)
			case semvec.KindOf(err) == semvec.KindNotFound: // the region is gone, or being deleted
				a.work.stop(ctx)
			default:
				a.l.log.Warn("region realignment not recorded: nothing moved, the votes stay", "region_id", v.GetRegionId(), "err", err)
				a.recordFailed(ctx)
			}
			return
		}
		if err != nil {
			a.l.log.Warn("region realignment incomplete", "region_id", v.GetRegionId(), "err", err)
		}
		a.unsure = false // the record written is the one it now holds
		a.lastRealign, a.realignments = at.UnixNano(), count
		a.book.clearVotes(a.lastRealign)
		a.maybeRealign(ctx) // votes stamped after it may have arrived meanwhile
	})
}

// recordFailed notes that a write of the realignment record failed and
// schedules a recheck: its outcome is unknown (its COMMIT may have landed,
// its answer lost), and the database may hold a realignment the region
// neither reports nor carried out.
func (a *regionActor) recordFailed(ctx actor.Context) {
	a.unsure = true
	a.recheckLater.after(ctx, recordRetryDelay, recheckRecord{})
}

// recheck settles a realignment record whose write failed (see
// recordFailed): the realignment is done again while its votes still call
// for it (its record overwrites the lost one: a value, counted once);
// otherwise the region writes back the record it holds. A failure
// schedules another recheck, until a write succeeds.
func (a *regionActor) recheck(ctx actor.Context) {
	if !a.unsure || a.realigning || a.work.stopping {
		return // settled, or the realignment in flight writes the record
	}
	a.maybeRealign(ctx)
	if a.realigning {
		return
	}
	v, epoch, last, count := a.view, a.epoch, a.lastRealign, a.realignments
	var at time.Time // none: no realignment yet
	if last != 0 {
		at = time.Unix(0, last).UTC()
	}
	a.realigning = true // no realignment starts until the record is written
	a.work.async(ctx, func(wctx context.Context) (any, error) {
		return nil, a.l.store.RecordRealignment(wctx, v.GetOwner(), v.GetRegionId(), epoch, at, count)
	}, func(_ any, err error) {
		a.realigning = false
		switch {
		case err == nil:
			a.unsure = false
		case errors.Is(err, persistence.ErrSuperseded):
			a.work.supersede(ctx)
			return
		case semvec.KindOf(err) == semvec.KindNotFound:
			a.work.stop(ctx)
			return
		default:
			a.l.log.Warn("region realignment record not written back; retried", "region_id", v.GetRegionId(), "err", err)
			a.recordFailed(ctx)
		}
		a.maybeRealign(ctx)
	})
}

// realignTime is the time a realignment records: now, but no earlier than
// the newest vote it acts on (a member's clock may be ahead: the votes it
// clears are then all stamped at or before it, here and when they are
// rebuilt at activation) and later than the previous realignment, rounded up
// to whole microseconds (as the database keeps it, so the region reports the
// same time after a restart).
func realignTime(now time.Time, last, newestVote int64) time.Time {
	at := max(now.UnixNano(), newestVote, last+1)
	if r := at % int64(time.Microsecond); r != 0 {
		at += int64(time.Microsecond) - r
	}
	return time.Unix(0, at).UTC()
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
	a.work.async(ctx, func(wctx context.Context) (any, error) {
		return nil, a.l.regionLog.write(wctx, persistence.RegionEvents{Owner: owner, RegionID: id, Epoch: epoch, Items: batch})
	}, func(_ any, err error) {
		a.writing = false
		if errors.Is(err, persistence.ErrSuperseded) {
			// A newer activation of this region exists (another member
			// took it over): stop, writing nothing more.
			a.l.log.Warn("region superseded by a newer activation: stopping", "region_id", id, "epoch", epoch)
			a.unsaved = nil
			a.work.supersede(ctx)
			return
		}
		if semvec.KindOf(err) == semvec.KindNotFound {
			// The region is gone, or being deleted: stop, writing nothing
			// more. Should the deletion fail, the next activation writes.
			a.unsaved = nil
			a.work.stop(ctx)
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
			a.retryLater.after(ctx, eventRetryDelay, retryEventWrite{})
			return
		}
		a.writeUnsaved(ctx)
	})
}

// writeOnStop writes the events still waiting behind the write in flight
// (their write failed, and its retry had not come) on a tracked goroutine
// (Layers.Shutdown waits for it), bounded by stopSaveTimeout, in a
// transaction of its own, and only then reports the actor stopped to its
// registry: the registry starts the region's next activation (for a
// request, or an event told while it stopped) only once it has reported,
// and that activation takes a new epoch, which would fence this write off
// and lose its events. With nothing to write it reports at once.
func (a *regionActor) writeOnStop(self *actor.PID) {
	l, key := a.l, a.key
	if len(a.unsaved) == 0 {
		l.regions.Stopped(key, self)
		return
	}
	batch, owner, id, epoch := a.unsaved, a.view.GetOwner(), a.view.GetRegionId(), a.epoch
	a.unsaved = nil
	write := func(bg context.Context) {
		defer l.regions.Stopped(key, self)
		ctx, cancel := context.WithTimeout(bg, stopSaveTimeout)
		defer cancel()
		// Straight to the store, not through the group commit's queue: the
		// log may be closing (a shutdown), and a write waiting there would
		// hold up the report.
		err := appendAlone(ctx, l.store, persistence.RegionEvents{Owner: owner, RegionID: id, Epoch: epoch, Items: batch})
		switch {
		case err == nil || semvec.KindOf(err) == semvec.KindNotFound: // written, or the region is gone
		case errors.Is(err, persistence.ErrSuperseded):
			l.log.Warn("region: drift events not written at stop: a newer activation of the region exists", "region_id", id, "events", len(batch))
		default:
			l.log.Error("region: drift events lost at stop", "region_id", id, "events", len(batch), "err", err)
		}
	}
	if !l.goBG(write) {
		// Shutdown no longer tracks new work (an actor activated by the
		// last work, stopped by its second pass): the registry's
		// WaitStopped, which that pass waits on, covers the write.
		go write(context.Background())
	}
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

// realignRegion does the work of a realignment (see regionActor.realign) on
// a work goroutine: it writes the region's realignment record (at, count)
// for the activation of epoch, then moves the vectors. recorded says whether
// the record was written; when it was not, nothing moved. The vectors are
// moved as far as they can be: err reports what failed.
func (l *Layers) realignRegion(ctx context.Context, v *pb.RegionView, epoch int64, voters []string, at time.Time, count int64) (recorded bool, err error) {
	if err := l.store.RecordRealignment(ctx, v.GetOwner(), v.GetRegionId(), epoch, at, count); err != nil {
		return false, err
	}
	return true, l.alignVectors(ctx, v, voters, at)
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
	_, err = askSession[*pb.RunResponse](ctx, l.sessions, meta, &pb.RunRequest{
		Owner: owner, SessionId: meta, MessageVec: consensus, ShortCircuitThreshold: 1, NowUnixNano: at.UnixNano(),
		Message: fmt.Sprintf("realignment of region %s: clusters %s", v.GetRegionId(), strings.Join(initialised, ", ")),
	})
	if err != nil {
		errs = append(errs, "meta session turn: "+err.Error())
	}
	if _, err := askSession[*pb.BlendResponse](ctx, l.sessions, meta, &pb.BlendRequest{Owner: owner, SessionId: meta, Target: consensus, Weight: 1}); err != nil {
		errs = append(errs, "meta session state: "+err.Error())
	}
	if _, _, err := l.blendAll(ctx, owner, initialised, consensus, realignWeight, nil); err != nil {
		errs = append(errs, "cluster sessions: "+err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
