package actors

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// networkActor is one owner's network layer (contract Layer 5): user
// partitions, delta transfer between two of the owner's sessions, and trust
// consensus. Its state is saved with SaveNetworkState after every change; a
// mutating request is answered once its change is on disk.
//
// Each activation takes the next epoch of the owner's network state row
// (ActivateNetwork) before it reads the state, and its saves land only while
// the row still holds that epoch: when another activation of the same owner
// exists (cluster mode: a process paused past a failover), the older one's
// change is refused (ErrSuperseded, 503) instead of overwriting the newer
// one's, and it stops, so that the next request activates it again from
// what is committed.
//
// st is the committed state: a change is made to a copy of it (one that
// shares its partitions and copies those the change edits, copyForChange),
// the copy is saved, and only a saved copy replaces st. A change whose save fails
// changes nothing (reads never see it, and no later save carries it to
// disk). Changes are committed one at a time, in order (commits): the ones
// that are ready while a save is in flight wait, so that each is made on
// top of every change committed before it.
//
// A failed save's outcome is unknown: its COMMIT may have reached the
// database although the answer did not (a connection lost or a database
// frozen just after it). The change was answered 503 and is not in st, so
// the actor then saves st again (resync, resyncDelay later and again after
// every failure, until a save succeeds): what it serves is what is on disk
// once the database answers, and a restart cannot bring back a change that
// reads never showed.
type networkActor struct {
	l       *Layers
	owner   string
	epoch   int64 // fencing: this activation's epoch of the owner's row
	st      *networkState
	version uint64 // bumped on every change
	saver   *netSaver
	parts   partSaver            // step 1's partition writes, in order
	commits oneAtATime           // changes, each saved before the next is made
	work    layerWork            // its async work and its stop; superseded once a save is refused (a newer activation exists)
	ops     oneAtATime           // switches, transfers and proposals, each from its reads to its last write
	retry   scheduler.CancelFunc // cancels the retryRestore scheduled after a failed third step of a switch
	// unsure: the last save failed, so the disk may hold a change st does
	// not; resyncLater schedules a resync. The next save then writes every
	// partition (persistence.NetworkState.All), as the first one does when
	// the state was loaded in one blob (saved before partitions were
	// stored apart).
	unsure      bool
	resyncLater selfTimer
}

// resync tells a network actor to save its committed state again after a
// failed save (see networkActor).
type resync struct{}

// resyncDelay is how long a network actor waits after a failed save before
// it saves its committed state again, and an observer after a failed write
// before it reads its rows again (observerActor.resync).
const resyncDelay = time.Second

// netSaver writes versions of one owner's network state in order: a save
// never overwrites a newer one that landed first.
type netSaver struct {
	mu    sync.Mutex
	saved uint64
}

func (s *netSaver) save(ctx context.Context, store LayerStore, owner string, epoch int64, version uint64, st persistence.NetworkState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if version <= s.saved {
		return nil
	}
	if err := store.SaveNetworkState(ctx, owner, epoch, st); err != nil {
		return err
	}
	s.saved = version
	return nil
}

// partSaver writes the partitions a switch saves (its step 1) in the order
// the switches took them, as netSaver does the network state: a step cut
// short at its operation's deadline may still be writing when the next
// switch saves the same partition, and its late write must not replace the
// newer one (a switch answered 503 would undo an acknowledged one's).
// Writes hold mu across the database call; one whose number is not above
// the last written is skipped (its switch answered 503 long ago).
type partSaver struct {
	seq   uint64 // the last number handed out; the actor's alone
	mu    sync.Mutex
	saved uint64 // the number of the last partition written
}

func (s *partSaver) save(ctx context.Context, store LayerStore, owner string, epoch int64, user string, seq uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.saved {
		return nil
	}
	if err := store.SavePartitionStates(ctx, owner, epoch, user, data); err != nil {
		return err
	}
	s.saved = seq
	return nil
}

func newNetworkActor(l *Layers, owner string, epoch int64, st *networkState, whole bool) actor.Producer {
	return func() actor.Actor {
		// A switch, transfer or proposal that waited behind the others for
		// half an ask is refused: the steps it still has to make would end
		// past its asker's timeout.
		return &networkActor{l: l, owner: owner, epoch: epoch, st: st, saver: &netSaver{}, work: newLayerWork(l, l.networks, owner),
			ops: oneAtATime{maxWait: l.workTimeout() / 2}, unsure: whole}
	}
}

func (a *networkActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if a.st.RestoringFrom != "" { // a switch was cut short in its third step
			ctx.Send(ctx.Self(), retryRestore{})
		}
	case *actor.Restarting, *actor.Stopping:
		// Nothing to write at stop: the state held is the one saved last.
	case retryRestore:
		a.retryRestore(ctx)
	case resync:
		a.resyncLater.fired()
		if a.unsure && !a.work.stopping && !a.work.superseded {
			a.commit(ctx, time.Time{}, func(*networkState) {}, func(error) {})
		}
	case *actor.Stopped:
		if a.retry != nil {
			a.retry()
		}
		a.l.networks.Stopped(a.owner, ctx.Self())
	case stopWhenIdle:
		a.work.reached(ctx)
	case *pb.TransferRequest:
		a.handleTransfer(ctx, m)
	case *pb.SwitchUserRequest:
		a.handleSwitch(ctx, m)
	case *pb.ActiveUserRequest:
		a.handleActive(ctx, m)
	case *pb.SerializeUserRequest:
		a.handleSerialize(ctx, m)
	case *pb.ConsensusRequest:
		a.handleConsensus(ctx, m)
	case *pb.TrustRequest:
		a.handleTrust(ctx, m)
	default:
		a.l.log.Warn("network actor: unexpected message", "owner", a.owner, "type", typeName(m))
	}
}

// replyTo answers the sender of the message being handled, also from a
// continuation that runs while another message is current (a change that
// waited for commit runs in the continuation of the change before it, where
// ctx.Respond would answer that one's sender).
func replyTo(ctx actor.Context) func(proto.Message) {
	sender := ctx.Sender()
	return func(m proto.Message) {
		if sender != nil {
			ctx.Send(sender, m)
		}
	}
}

// commit makes a change to a copy of the committed state (change runs on
// the actor, on top of every change committed before it), saves the copy on
// a work goroutine — the partitions the change edited, or all of them while
// the disk may differ from the committed state elsewhere (unsure) — and,
// once it is on disk, makes it the committed state;
// then done runs on the actor with the save's outcome. A failed save leaves
// the committed state as it was. While a save is in flight the change waits
// for it (at most maxInflight changes wait; one more is refused, 503).
// The save is a step of the operation whose deadline is by (see step; zero:
// none): a change whose turn comes after by is refused (errOutOfTime)
// without being made, and a save cut short at by fails as any failed save.
// A save refused because a newer activation holds the row (ErrSuperseded)
// is answered 503, as is every change waiting or arriving after it, and the
// actor stops.
func (a *networkActor) commit(ctx actor.Context, by time.Time, change func(st *networkState), done func(error)) {
	a.commits.run(func(finished func()) {
		if a.work.superseded {
			done(errNetworkSuperseded)
			finished()
			return
		}
		if !by.IsZero() && !time.Now().Before(by) {
			done(errOutOfTime)
			finished()
			return
		}
		next := a.st.copyForChange()
		change(next)
		a.version++
		version, owner, epoch, all := a.version, a.owner, a.epoch, a.unsure
		edited := slices.Collect(maps.Keys(next.edited))
		a.step(ctx, by, func(wctx context.Context) (any, error) {
			// Encoded here, off the actor: nothing changes next or its
			// partitions any more (the next change edits copies).
			return nil, a.saver.save(wctx, a.l.store, owner, epoch, version, next.stored(edited, all))
		}, func(_ any, err error) {
			defer finished()
			a.unsure = err != nil
			if err == nil {
				next.edited = nil // its partitions are the committed ones now: the next change copies those it edits
				a.st = next
			}
			if err != nil && !errors.Is(err, persistence.ErrSuperseded) && !a.work.stopping {
				a.resyncLater.after(ctx, resyncDelay, resync{})
			}
			if errors.Is(err, persistence.ErrSuperseded) {
				// A newer activation of this network state exists (another
				// member took it over): refuse every change from now on
				// and stop once the work in flight has answered
				// (layerWork); the next request activates it again from
				// what is committed.
				a.l.log.Warn("network superseded by a newer activation: stopping", "owner", owner, "epoch", epoch)
				a.work.supersede(ctx)
				err = errNetworkSuperseded
			}
			done(err)
		})
	}, done)
}

// errNetworkSuperseded answers a change refused because a newer activation
// of the owner's network state exists (it wraps persistence.ErrSuperseded).
var errNetworkSuperseded = semvec.Wrap(semvec.KindUnavailable, persistence.ErrSuperseded,
	"this network state is now served by a newer activation; retry")

// opMargin is how long before its asker gives up a network operation
// (switch, transfer, proposal) stops and answers: time for the answer to
// reach the asker (see switchUser).
const opMargin = 250 * time.Millisecond

// opDeadline is when a network operation whose asker waits patience (a
// request's patience_nanos) from now must have answered: opMargin before
// the asker gives up (a quarter of patience when that is less). Zero when the asker did not say (the actor's own
// retries, a request sent without the ask): the operation's steps then
// have the work timeout each, as they had before.
func opDeadline(patience int64) time.Time {
	if patience <= 0 {
		return time.Time{}
	}
	p := time.Duration(patience)
	return time.Now().Add(p - min(opMargin, p/4)) // a short ask (SEMVEC_ASK_TIMEOUT) keeps three quarters of it
}

// outOfTime is the detail of errOutOfTime.
const outOfTime = "the operation ran out of time (the database is slow or unavailable); retry"

// errOutOfTime answers a network operation that reached its deadline (see
// switchUser) before its steps were done: the database, or a session, did
// not answer in time.
var errOutOfTime = semvec.Errorf(semvec.KindUnavailable, outOfTime)

// step runs one step of a network operation, work, on a work goroutine
// (layerWork), and continues on the actor with its outcome (cont). With a
// deadline (by, see switchUser), the step's context ends at by and cont
// runs by then whether or not work has returned: a step left no time does
// not start, and one cut short fails with errOutOfTime (a 503), like a step
// the database refused. Without one (zero by), the step has the work
// timeout, and one that outlives it fails with KindTimeout.
func (a *networkActor) step(ctx actor.Context, by time.Time, work func(context.Context) (any, error), cont func(any, error)) {
	if by.IsZero() {
		a.work.async(ctx, work, cont)
		return
	}
	left := time.Until(by)
	if left <= 0 {
		cont(nil, errOutOfTime)
		return
	}
	parent, cancel := context.WithDeadline(a.l.bgCtx, by)
	a.work.asyncFor(ctx, parent, min(left, a.l.workTimeout()), work, func(v any, err error) {
		cancel()
		if semvec.KindOf(err) == semvec.KindTimeout { // the work, or an ask it made, was cut short at by
			err = semvec.Wrap(semvec.KindUnavailable, err, outOfTime)
		}
		cont(v, err)
	})
}

// wrongOwner answers 404 to a request of another owner.
func (a *networkActor) wrongOwner(owner string, reply func(*pb.Error)) bool {
	if owner == a.owner {
		return false
	}
	reply(ToProtoError(semvec.NotFound("Session")))
	return true
}

// refuseEarly answers a change that must not start: the wrong owner
// (404), or a superseded actor that is stopping (503; a change's reads and
// session blends must not start when its commit would be refused).
func (a *networkActor) refuseEarly(owner string, reply func(*pb.Error)) bool {
	if a.wrongOwner(owner, reply) {
		return true
	}
	if a.work.superseded {
		reply(ToProtoError(errNetworkSuperseded))
		return true
	}
	return false
}

// transferGather is what a transfer's work goroutine did.
type transferGather struct {
	delta       float64
	transferred bool
}

// handleTransfer moves the target session towards the source:
// target' = normalise(target + w·(ŝ − t̂)), w = max_weight, reported as
// delta_norm = ‖ŝ − t̂‖. Both sessions must be the owner's; when either has
// no state yet, or when they are one session, nothing moves (delta_norm 0,
// transferred false). Otherwise both join the active partition.
//
// The transfer reads both states, then saves its enrolment and count in
// the network state, and only then blends the target: a transfer that
// answers 503 because the network state could not be saved has moved
// nothing (the blend, a durable change of the target session, came first
// before, and a 503 could follow it). One whose blend fails after the
// enrolment was saved leaves the enrolment and the count. Transfers run one
// at a time with switches and proposals (ops), so none falls between a
// switch's reads and its writes. A transfer answers by its asker's deadline
// as a switch does (see switchUser).
func (a *networkActor) handleTransfer(ctx actor.Context, m *pb.TransferRequest) {
	reply := replyTo(ctx)
	early := func(e *pb.Error) { reply(&pb.TransferResponse{Error: e}) }
	if a.refuseEarly(m.GetOwner(), early) {
		return
	}
	by := opDeadline(m.GetPatienceNanos())
	owner, src, dst, w := a.owner, m.GetSourceSessionId(), m.GetTargetSessionId(), m.GetMaxWeight()
	a.ops.run(func(finished func()) {
		fail := func(err error) {
			reply(&pb.TransferResponse{Error: ToProtoError(err)})
			finished()
		}
		if a.refuseEarly(owner, early) { // superseded while it waited
			finished()
			return
		}
		a.step(ctx, by, func(wctx context.Context) (any, error) {
			return a.l.transferStates(wctx, owner, src, dst)
		}, func(res any, err error) {
			if err != nil {
				fail(err)
				return
			}
			states := res.([2]*pb.StateResponse)
			if src == dst { // a session moved towards itself: nothing moves, nothing is saved
				reply(&pb.TransferResponse{SourceSessionId: src, TargetSessionId: dst})
				finished()
				return
			}
			a.commit(ctx, by, func(st *networkState) {
				st.join(src, dst)
				st.edit(st.Active).Transfers++
			}, func(err error) {
				if err != nil {
					fail(err)
					return
				}
				a.step(ctx, by, func(wctx context.Context) (any, error) {
					return a.l.transfer(wctx, owner, dst, states[0], states[1], w)
				}, func(res any, err error) {
					if err != nil {
						fail(err)
						return
					}
					g := res.(*transferGather)
					reply(&pb.TransferResponse{SourceSessionId: src, TargetSessionId: dst, DeltaNorm: g.delta, Transferred: g.transferred})
					finished()
				})
			})
		})
	}, func(err error) { reply(&pb.TransferResponse{Error: ToProtoError(err)}) })
}

// transferStates reads the states of a transfer's source and target on a
// work goroutine: both must be owner's, and neither a layer's meta session.
func (l *Layers) transferStates(ctx context.Context, owner, src, dst string) ([2]*pb.StateResponse, error) {
	var states [2]*pb.StateResponse
	var errs [2]error
	ids := [2]string{src, dst}
	parallel(2, func(i int) {
		states[i], errs[i] = askSession[*pb.StateResponse](ctx, l.sessions, ids[i], &pb.StateRequest{Owner: owner, SessionId: ids[i]})
	})
	for i, what := range []string{"Source session", "Target session"} {
		if errs[i] != nil {
			if semvec.KindOf(errs[i]) == semvec.KindNotFound {
				return states, semvec.NotFound(what)
			}
			return states, errs[i]
		}
	}
	for i, st := range states {
		if what := backsLayer(st.GetKind()); what != "" {
			return states, semvec.Errorf(semvec.KindConflict, "Session %s backs %s and takes no part in the network", ids[i], what)
		}
	}
	return states, nil
}

// transfer blends dst, whose state was t, towards the source's state s on
// a work goroutine (nothing moves when either has none). The blend is bound
// to the incarnation read: a target deleted since answers NotFound.
func (l *Layers) transfer(ctx context.Context, owner, dst string, s, t *pb.StateResponse, w float64) (*transferGather, error) {
	g := &transferGather{}
	if !s.GetInitialized() || !t.GetInitialized() {
		return g, nil
	}
	g.delta = unitDeltaNorm(s.GetState(), t.GetState())
	// With unit states, normalise((1−w)·t̂ + w·ŝ) = normalise(t̂ + w·(ŝ − t̂)).
	res, err := askSession[*pb.BlendResponse](ctx, l.sessions, dst, &pb.BlendRequest{Owner: owner, SessionId: dst, Target: s.GetState(), Weight: w, Incarnation: t.GetIncarnation()})
	if semvec.KindOf(err) == semvec.KindNotFound || res.GetSkipped() { // deleted since (and maybe created again)
		return nil, semvec.NotFound("Target session")
	}
	if err != nil {
		return nil, err
	}
	g.transferred = true
	return g, nil
}

// handleSwitch saves the active partition and activates user's (see
// switchUser). Switching to the active user changes nothing, unless a
// switch to it did not finish setting its sessions back (then it finishes
// that). A new partition beyond maxPartitions is refused (409). Switches,
// transfers and proposals run one at a time, each from its reads to its
// last write (ops; the next one waits, at most maxInflight), so each starts
// from the partition the one before made active, none falls between a
// switch's reads and its writes, and the partition cap holds.
func (a *networkActor) handleSwitch(ctx actor.Context, m *pb.SwitchUserRequest) {
	a.switchUser(ctx, m, replyTo(ctx))
}

// switchUser switches from the active partition to m's user in three
// steps, each durable before the next:
//
//  1. the current state of every session of the network is saved as the
//     active partition's (Layers.saveNetworkStates);
//  2. the network state is saved with the new user active and marked
//     restoring from the partition left (RestoringFrom);
//  3. the sessions saved with the new user's partition are set back to
//     those states (Layers.restoreStates), and the mark is cleared. Each
//     blend is bound to the state the session had in step 1, so a session
//     used meanwhile keeps what it was given.
//
// A failure or crash in step 3 leaves the new user active and marked: the
// next switch first finishes step 3 before it saves anything, so no
// partition saves states half set back. Finishing it again sets back only
// the sessions still in their step-1 state: one set back already, or used
// since (its answers were 2xx), is left as it is, so no acknowledged work
// is undone. A retry of the same switch finishes it. The answer is 503 when
// a step fails; as for any change, a 503 does not say how far it got.
//
// A switch answers before its asker gives up, however long the database
// takes. Each step may wait on the database for up to an operation timeout,
// so the three together could outlast the ask, which would answer 504 while
// the switch still ran. The request therefore says how long its asker waits
// (patience_nanos, set by the ask as it sends), and the switch must have
// answered opMargin before that (its deadline, opDeadline, counted from
// when the actor takes the request, its wait for its turn included). Every
// step runs under a context that ends at the deadline and is not waited for
// past it (step, commit): a step left no time does not start, and one cut
// short fails, answered 503 (errOutOfTime, "retry"), exactly as a step the
// database refused: a cut-short step 2 leaves the state as it was (and the
// actor saves it again, see networkActor), a cut-short step 3 leaves the
// mark, and it is finished later (retryLater). Transfers and proposals
// answer by their deadline the same way. A request without patience (the
// actor's own retryRestore) has no deadline: each step then has the work
// timeout.
func (a *networkActor) switchUser(ctx actor.Context, m *pb.SwitchUserRequest, reply func(proto.Message)) {
	fail := func(err error) { reply(&pb.SwitchUserResponse{Error: ToProtoError(err)}) }
	early := func(e *pb.Error) { reply(&pb.SwitchUserResponse{Error: e}) }
	if a.refuseEarly(m.GetOwner(), early) {
		return
	}
	by := opDeadline(m.GetPatienceNanos())
	a.ops.run(func(finished func()) {
		if a.refuseEarly(m.GetOwner(), early) { // superseded while it waited
			finished()
			return
		}
		user, from := m.GetUserId(), a.st.Active
		if user != from && a.st.Partitions[user] == nil && len(a.st.Partitions) >= maxPartitions {
			fail(semvec.Errorf(semvec.KindConflict, "Too many user partitions: at most %d per licence subject", maxPartitions))
			finished()
			return
		}
		a.finishRestore(ctx, by, func(restored int, err error) {
			switch {
			case err != nil:
				fail(err)
				finished()
				return
			case user == from:
				reply(&pb.SwitchUserResponse{ActiveUser: user, PreviousUser: user, RestoredSessions: int32(restored)})
				finished()
				return
			}
			owner, epoch, network := a.owner, a.epoch, a.st.sessions()
			a.parts.seq++
			seq := a.parts.seq
			a.step(ctx, by, func(wctx context.Context) (any, error) {
				return a.l.saveNetworkStates(wctx, owner, from, network, func(ctx context.Context, data []byte) error {
					return a.parts.save(ctx, a.l.store, owner, epoch, from, seq, data)
				})
			}, func(res any, err error) {
				if errors.Is(err, persistence.ErrSuperseded) {
					// Fenced like the commit (see commit): a newer
					// activation holds the network state, and this one
					// stops without having written the partition's states.
					a.l.log.Warn("network superseded by a newer activation: stopping", "owner", owner, "epoch", epoch)
					a.work.supersede(ctx)
					err = errNetworkSuperseded
				}
				if err != nil {
					fail(err)
					finished()
					return
				}
				g := res.(*stateGather)
				var prev, active string
				a.commit(ctx, by, func(st *networkState) {
					st.forget(g.gone...)
					if p := st.edit(from); p != nil {
						p.SavedStates = g.count
					}
					prev = st.switchTo(user, a.l.now())
					active = st.Active
					st.RestoringFrom = from
				}, func(err error) {
					if err != nil {
						fail(err)
						finished()
						return
					}
					a.finishRestore(ctx, by, func(restored int, err error) {
						defer finished()
						if err != nil {
							fail(err)
							a.retryLater(ctx, err)
							return
						}
						reply(&pb.SwitchUserResponse{ActiveUser: active, PreviousUser: prev,
							SavedSessions: int32(g.count), RestoredSessions: int32(restored)})
					})
				})
			})
		})
	}, func(err error) { fail(err) })
}

// finishRestore does step 3 of a switch (see switchUser) when the active
// partition is marked restoring, and commits that it is done, by deadline
// by (zero: none); then done runs on the actor with the number of sessions
// set back.
func (a *networkActor) finishRestore(ctx actor.Context, by time.Time, done func(restored int, err error)) {
	from := a.st.RestoringFrom
	if from == "" {
		done(0, nil)
		return
	}
	owner, user := a.owner, a.st.Active
	a.step(ctx, by, func(wctx context.Context) (any, error) {
		return a.l.restoreStates(wctx, owner, user, from)
	}, func(res any, err error) {
		if err != nil {
			done(0, err)
			return
		}
		g := res.(*stateGather)
		a.commit(ctx, by, func(st *networkState) {
			st.forget(g.gone...)
			st.RestoringFrom = ""
		}, func(err error) { done(g.count, err) })
	})
}

// retryRestore makes the network actor finish a switch cut short in its
// third step without waiting for the next switch: sent to itself when it
// starts with the mark set, and again restoreRetry after a failed attempt.
type retryRestore struct{}

// restoreRetry is how long a network actor waits before it tries again to
// finish a switch's third step that failed.
const restoreRetry = 5 * time.Second

// retryRestore finishes a cut-short switch in its turn among the network's
// operations; a failure is tried again restoreRetry later (while the actor
// runs).
func (a *networkActor) retryRestore(ctx actor.Context) {
	if a.st.RestoringFrom == "" || a.work.stopping {
		return
	}
	a.ops.run(func(finished func()) {
		a.finishRestore(ctx, time.Time{}, func(_ int, err error) {
			defer finished()
			a.retryLater(ctx, err)
		})
	}, func(error) {})
}

// retryLater schedules retryRestore after a failed attempt to finish a
// switch (err not nil), while the actor runs.
func (a *networkActor) retryLater(ctx actor.Context, err error) {
	if err == nil || a.work.stopping || a.st.RestoringFrom == "" {
		return
	}
	a.l.log.Warn("network: a switch's sessions could not all be set back; retrying", "owner", a.owner, "err", err, "retry_in", restoreRetry)
	if a.retry != nil {
		a.retry()
	}
	a.retry = scheduler.NewTimerScheduler(ctx).SendOnce(restoreRetry, ctx.Self(), retryRestore{})
}

// stateGather is what saving or restoring a partition's states did: how
// many states it saved or set back, and the network's sessions it found
// deleted (they leave every partition).
type stateGather struct {
	count int
	gone  []string
}

// saveNetworkStates saves, as partition user's (through write: the
// actor's partSaver), the current state of every session of the owner's
// network (every partition's instances: a session one user's partition
// holds may have been used by another user since), each with its
// incarnation, on a work goroutine.
func (l *Layers) saveNetworkStates(ctx context.Context, owner, user string, network []string, write func(context.Context, []byte) error) (*stateGather, error) {
	states, gone, err := l.sessionStates(ctx, owner, network)
	if err != nil {
		return nil, err
	}
	saved := &pb.PartitionStates{}
	for _, id := range network {
		st := states[id]
		if backsLayer(st.GetKind()) != "" { // enrolled before meta sessions were refused
			gone = append(gone, id)
			continue
		}
		if st.GetInitialized() && len(st.GetState()) == l.sessions.Dim() {
			saved.States = append(saved.States, &pb.SavedState{SessionId: id, State: st.GetState(), Incarnation: st.GetIncarnation()})
		}
	}
	data, err := proto.Marshal(saved)
	if err != nil {
		return nil, err
	}
	if err := write(ctx, data); err != nil {
		return nil, err
	}
	return &stateGather{count: len(saved.States), gone: gone}, nil
}

// restoreStates sets every session saved with partition user back to its
// saved state (a blend of weight 1, logged like any change), on a work
// goroutine. Each blend is bound to the state the session had when the
// switch saved partition from (step 1 of switchUser): a session that has
// changed since — set back already by an earlier attempt, or used since —
// is skipped, so running this again after a failure never undoes
// acknowledged work. One deleted since is reported gone; one deleted and
// created again under its id (another incarnation) is skipped: a deleted
// session's state never comes back.
func (l *Layers) restoreStates(ctx context.Context, owner, user, from string) (*stateGather, error) {
	target, err := l.partitionStates(ctx, owner, user)
	if err != nil || len(target) == 0 {
		return &stateGather{}, err // a new partition, or one never switched away from: nothing to restore
	}
	before, err := l.partitionStates(ctx, owner, from)
	if err != nil {
		return nil, err
	}
	was := make(map[string]uint64, len(before))
	for _, s := range before {
		was[s.GetSessionId()] = stateHash(true, s.GetState())
	}
	restore := slices.DeleteFunc(target, func(s *pb.SavedState) bool { return len(s.GetState()) != l.sessions.Dim() })
	res := make([]*pb.BlendResponse, len(restore))
	errs := make([]error, len(restore))
	parallel(len(restore), func(i int) {
		s := restore[i]
		id := s.GetSessionId()
		expect, ok := was[id]
		if !ok { // it had no state when from was saved
			expect = stateHash(false, nil)
		}
		res[i], errs[i] = askSession[*pb.BlendResponse](ctx, l.sessions, id, &pb.BlendRequest{Owner: owner, SessionId: id,
			Target: s.GetState(), Weight: 1, Incarnation: s.GetIncarnation(), IfStateHash: expect})
	})
	g := &stateGather{}
	for i, err := range errs {
		switch {
		case err == nil && !res[i].GetSkipped():
			g.count++
		case err == nil:
		case semvec.KindOf(err) == semvec.KindNotFound:
			g.gone = append(g.gone, restore[i].GetSessionId())
		default:
			return nil, err
		}
	}
	return g, nil
}

// partitionStates reads the states saved with partition user (none when it
// was never switched away from).
func (l *Layers) partitionStates(ctx context.Context, owner, user string) ([]*pb.SavedState, error) {
	data, err := l.store.LoadPartitionStates(ctx, owner, user)
	if semvec.KindOf(err) == semvec.KindNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	saved := &pb.PartitionStates{}
	if err := proto.Unmarshal(data, saved); err != nil {
		return nil, semvec.Wrap(semvec.KindInternal, err, "saved partition states are corrupt")
	}
	return saved.GetStates(), nil
}

func (a *networkActor) handleActive(ctx actor.Context, m *pb.ActiveUserRequest) {
	if a.wrongOwner(m.GetOwner(), func(e *pb.Error) { ctx.Respond(&pb.ActiveUserResponse{Error: e}) }) {
		return
	}
	ctx.Respond(&pb.ActiveUserResponse{ActiveUser: a.st.Active})
}

func (a *networkActor) handleSerialize(ctx actor.Context, m *pb.SerializeUserRequest) {
	fail := func(e *pb.Error) { ctx.Respond(&pb.SerializeUserResponse{Error: e}) }
	if a.wrongOwner(m.GetOwner(), fail) {
		return
	}
	data, ok := a.st.serialize(m.GetUserId())
	if !ok {
		fail(ToProtoError(semvec.NotFound("User partition")))
		return
	}
	ctx.Respond(&pb.SerializeUserResponse{UserId: m.GetUserId(), State: data})
}

func (a *networkActor) handleTrust(ctx actor.Context, m *pb.TrustRequest) {
	if a.wrongOwner(m.GetOwner(), func(e *pb.Error) { ctx.Respond(&pb.TrustResponse{Error: e}) }) {
		return
	}
	ctx.Respond(&pb.TrustResponse{TrustScores: a.st.active().trustCopy()})
}

// consensusGather is what a proposal's work goroutine collected.
type consensusGather struct {
	voters  []voter
	missing []string // instances whose session no longer exists
}

// handleConsensus puts target to a vote of the electorate (see
// gatherVoters and tallyVotes), updates the proposer's trust (see
// updateTrust) and saves the partition. It answers by its asker's deadline
// as a switch does (see switchUser).
func (a *networkActor) handleConsensus(ctx actor.Context, m *pb.ConsensusRequest) {
	reply := replyTo(ctx)
	early := func(e *pb.Error) { reply(&pb.ConsensusResponse{Error: e}) }
	if a.refuseEarly(m.GetOwner(), early) {
		return
	}
	by := opDeadline(m.GetPatienceNanos())
	a.ops.run(func(finished func()) {
		a.propose(ctx, m, by, reply, finished)
	}, func(err error) { early(ToProtoError(err)) })
}

// propose is handleConsensus's turn among the network's operations (ops):
// the partition it reads is the one it commits to, by deadline by.
func (a *networkActor) propose(ctx actor.Context, m *pb.ConsensusRequest, by time.Time, reply func(proto.Message), finished func()) {
	fail := func(e *pb.Error) {
		reply(&pb.ConsensusResponse{Error: e})
		finished()
	}
	if a.refuseEarly(m.GetOwner(), fail) { // superseded while it waited
		return
	}
	owner, proposer, target := a.owner, m.GetProposerSessionId(), m.GetTargetEmbedding()
	instances := slices.Clone(a.st.active().Instances)
	if !slices.Contains(instances, proposer) {
		instances = append(instances, proposer)
	}
	a.step(ctx, by, func(wctx context.Context) (any, error) {
		return a.l.gatherVoters(wctx, owner, proposer, instances)
	}, func(res any, err error) {
		if err != nil {
			fail(ToProtoError(err))
			return
		}
		g := res.(*consensusGather)
		out := &pb.ConsensusResponse{ProposerSessionId: proposer}
		a.commit(ctx, by, func(st *networkState) {
			st.forget(g.missing...)
			st.join(proposer)
			p := st.edit(st.Active)
			t := tallyVotes(g.voters, proposer, target, p.Trust)
			// Trust scores are the instances': a proposer the full network
			// could not enrol keeps no score (else every such proposer
			// would add one for good, past the instance caps). A proposal
			// nobody else voted on moves no trust.
			if _, enrolled := slices.BinarySearch(p.Instances, proposer); enrolled && len(t.Ballots) > 0 {
				updateTrust(p.Trust, proposer, t.Accepted)
			}
			p.Proposals++
			if t.Accepted {
				p.Accepted++
			}
			out.Accepted, out.TrustScores, out.WeightedYesShare = t.Accepted, p.trustCopy(), t.YesShare
			for _, b := range t.Ballots {
				out.Votes = append(out.Votes, &pb.ConsensusVote{SessionId: b.ID, Similarity: b.Similarity, Yes: b.Yes, Trust: b.Trust})
			}
		}, func(err error) {
			if err != nil {
				fail(ToProtoError(err))
				return
			}
			reply(out)
			finished()
		})
	})
}

// maxElectorate is how many of the owner's most recently created sessions
// vote on a proposal besides the active partition's instances.
const maxElectorate = 128

// gatherVoters reads, on a work goroutine, the state of every voter: the
// active partition's instances (the proposer among them), and the owner's
// maxElectorate most recently created ordinary and cluster sessions — the
// caller's sessions in the network. The proposer must be one of owner's
// sessions; missing lists instances whose session no longer exists. A
// voter other than the proposer whose state cannot be read for an internal
// fault (a checkpoint or log that does not load: the error of every request
// to it) is logged and does not vote, rather than failing every proposal of
// its owner; an unavailable database or a timeout still fails the vote.
func (l *Layers) gatherVoters(ctx context.Context, owner, proposer string, instances []string) (*consensusGather, error) {
	recent, err := l.store.RecentSessions(ctx, owner, maxElectorate)
	if err != nil {
		return nil, err
	}
	electorate := slices.Clone(instances)
	for _, id := range recent {
		if !slices.Contains(electorate, id) {
			electorate = append(electorate, id)
		}
	}
	res, errs := l.askStates(ctx, owner, electorate)
	states := make(map[string]*pb.StateResponse, len(electorate))
	var gone []string
	for i, id := range electorate {
		switch err := errs[i]; {
		case err == nil:
			states[id] = res[i]
		case semvec.KindOf(err) == semvec.KindNotFound:
			gone = append(gone, id)
		case semvec.KindOf(err) == semvec.KindInternal && id != proposer:
			l.log.Warn("consensus: a voter's state cannot be read; it does not vote", "owner", owner, "session_id", id, "err", err)
		default:
			return nil, err
		}
	}
	var missing []string
	for _, id := range gone {
		if slices.Contains(instances, id) {
			missing = append(missing, id)
		}
	}
	instances = electorate
	if states[proposer] == nil {
		return nil, semvec.NotFound("Proposer session")
	}
	if what := backsLayer(states[proposer].GetKind()); what != "" {
		return nil, semvec.Errorf(semvec.KindConflict, "Session %s backs %s and takes no part in the network", proposer, what)
	}
	g := &consensusGather{missing: missing}
	for _, id := range instances {
		st := states[id]
		if st == nil || backsLayer(st.GetKind()) != "" { // enrolled before meta sessions were refused
			continue
		}
		v := voter{ID: id}
		if st.GetInitialized() && len(st.GetState()) == l.sessions.Dim() {
			v.State = st.GetState()
		}
		g.voters = append(g.voters, v)
	}
	return g, nil
}
