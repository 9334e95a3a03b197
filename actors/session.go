package actors

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// sessionActor owns one engine.Session. It is the single writer of that
// state: concurrent requests on one session queue in its mailbox and never
// interleave.
//
// Every request that changes the state is first appended to the session's
// durable log (changeLog, group-committed) and applied only once its entry
// is committed, so a reply means "on disk" and a failed commit changes
// nothing. Changes are pipelined: while one entry is being committed, the
// next changes are handed to the log at once (so a hot session's changes
// share commits), and every message waits in the in-flight queue, in
// arrival order, until what came before it is resolved — a read after a
// change sees the change. Checkpoints (snapshots) bound the replay: they are
// written every checkpointEvery entries, at each sweep and at passivation,
// never waited for.
type sessionActor struct {
	id, owner   string
	incarnation string // of the session row; every write carries it
	kind        string // of the session row (persistence.SessionKind*)
	epoch       int64  // this activation's fencing epoch; every write carries it
	eng         *engine.Session
	clusters    []string  // the clusters it is a member of: where its drift events go
	membership  uint64    // the newest membership load applied (see reloadMembership)
	loads       uint64    // membership loads started
	reloadLater selfTimer // schedules a reloadAgain of the memberships
	unsure      bool      // a commit failed: the log may hold a change this state lacks (see checkLog)
	failures    uint64    // commits failed so far: a look at the log answers for those before it
	checkLater  selfTimer // schedules a checkLog
	seq         int64     // the last log entry applied
	logged      int64     // the last log entry handed to the log (>= seq)
	checkpoint  int64     // the last entry covered by a saved checkpoint
	queued      int64     // the entry covered by a checkpoint in the writer's queue (0: none)
	inflight    []inflight
	blocked     bool      // a commit failed: no change is logged until the doomed ones are resolved
	deleted     bool      // the session was deleted (Discard, or a change refused as NotFound)
	size        footprint // reports the bytes it holds to the registry (its byte budget)
	deps        *sessionDeps
}

// inflight is a message waiting in order for the changes before it.
type inflight struct {
	msg    any
	sender *actor.PID
	seq    int64 // > 0: a change whose entry is in the log's hands
	done   bool  // its commit came back
	err    error // the commit's error
}

// checkpointEvery is how many log entries a session appends between two
// checkpoints: with the sweep's checkpoint of idle sessions, it bounds the
// log a session keeps on disk and replays when it is activated.
const checkpointEvery = 64

// maxInflight bounds the requests waiting on one session; beyond it a
// request is answered 503 at once.
const maxInflight = 1024

type sessionDeps struct {
	store    SessionStore // read only off the actor (membership reloads)
	writer   *snapshotWriter
	changes  *changeLog
	registry *Registry
	clusters atomic.Pointer[Registry] // where drift events go (the cluster actors); nil: nowhere
	log      *slog.Logger
	now      func() time.Time
}

// newSessionActor returns the producer of a loaded (or new) session actor.
func newSessionActor(a *sessionActor) actor.Producer {
	return func() actor.Actor { return a }
}

func (a *sessionActor) key() string { return ownedKey(a.owner, a.id) }

func (a *sessionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.size = a.deps.registry.footprintOf(a.key(), ctx.Self())
		a.measure()
	case *actor.Restarting, *actor.Stopping:
		// A panic must not persist half-updated state: the session comes
		// back from its last checkpoint and log.
	case *actor.Stopped:
		a.bounce(ctx)
		a.deps.registry.Stopped(a.key(), ctx.Self())
	case *pb.ChangeCommitted:
		a.committed(ctx, m)
	case *pb.SnapshotSaved:
		if m.GetOk() {
			a.checkpoint = max(a.checkpoint, m.GetVersion())
		}
		if m.GetVersion() == a.queued {
			a.queued = 0
		}
	case *pb.TopologyChanged:
		a.reloadMembership(ctx, m.GetUnsure())
	case reloadAgain:
		a.reloadLater.fired()
		a.reloadMembership(ctx, true)
	case membershipNotReloaded:
		a.reloadLater.after(ctx, reloadRetryDelay, reloadAgain{})
	case checkLog:
		a.checkLater.fired()
		a.checkLog(ctx)
	case logChecked:
		a.logChecked(ctx, m)
	case *pb.MembershipChanged:
		if m.GetLoad() > a.membership {
			a.membership = m.GetLoad()
			a.clusters = append([]string(nil), m.GetClusterIds()...)
		}
	case *pb.Discard:
		a.deleted = true
		a.deps.writer.cancel(a.owner, a.id, a.incarnation, a.epoch)
		ctx.Stop(ctx.Self())
	default:
		a.arrive(ctx, m, ctx.Sender())
	}
}

// arrive serves msg at once when nothing is in flight, else queues it (and
// hands a change to the log right away when it may).
func (a *sessionActor) arrive(ctx actor.Context, msg any, sender *actor.PID) {
	if len(a.inflight) == 0 {
		a.handle(ctx, msg, sender)
		return
	}
	if req, ok := msg.(OwnedRequest); ok && len(a.inflight) >= maxInflight {
		ctx.Send(sender, errorReply(req, semvec.Errorf(semvec.KindUnavailable, "too many requests are waiting for this session")))
		return
	}
	a.inflight = append(a.inflight, inflight{msg: msg, sender: sender})
	a.serveReady(ctx)
}

// handle serves one message whose turn has come, for sender.
func (a *sessionActor) handle(ctx actor.Context, msg any, sender *actor.PID) {
	switch m := msg.(type) {
	case *pb.Passivate:
		a.saveCheckpoint(nil)
		ctx.Stop(ctx.Self())
	case *pb.Flush:
		queued := a.saveCheckpoint(ctx.Self())
		if sender != nil {
			ctx.Send(sender, &pb.FlushResponse{SessionId: a.id, Saved: queued})
		}
	case OwnedRequest:
		if m.GetOwner() != a.owner { // unreachable: the actor's key holds its owner
			ctx.Send(sender, errorReply(m, semvec.NotFound("Session")))
			return
		}
		if changeOf(m, a.deps.now) == nil {
			a.respond(ctx, sender, m)
			return
		}
		a.inflight = append(a.inflight, inflight{msg: m, sender: sender})
		a.serveReady(ctx) // hands it to the log (or answers a refusal)
	default:
		a.deps.log.Warn("session actor: unexpected message", "session_id", a.id, "type", typeName(m))
	}
}

// membershipNotReloaded tells a session that a membership load following
// a failed write failed too (see reloadMembership; a local message).
type membershipNotReloaded struct{}

// membershipTimeout bounds one membership reload.
const membershipTimeout = 10 * time.Second

// reloadMembership reads the session's cluster memberships on a goroutine,
// sends them back as MembershipChanged, then answers TopologyReloaded; loads are numbered so an older
// one never replaces a newer (the newest load started after the last
// change, so the session converges on what is stored). A failed load is
// logged; the memberships are read again at the next change or activation,
// or, when the load followed a write that failed (unsure: its COMMIT may
// have landed, its answer lost), reloadRetryDelay later, until a load
// succeeds.
func (a *sessionActor) reloadMembership(ctx actor.Context, unsure bool) {
	a.loads++
	load, self, sender, root := a.loads, ctx.Self(), ctx.Sender(), ctx.ActorSystem().Root
	store, owner, id, log := a.deps.store, a.owner, a.id, a.deps.log
	go func() {
		lctx, cancel := context.WithTimeout(context.Background(), membershipTimeout)
		defer cancel()
		ids, err := store.ClustersOfSession(lctx, owner, id)
		if err != nil {
			log.Warn("session: memberships not reloaded", "session_id", id, "err", err)
			if unsure {
				root.Send(self, membershipNotReloaded{})
			}
		} else {
			root.Send(self, &pb.MembershipChanged{SessionId: id, ClusterIds: ids, Load: load})
		}
		// Sent after MembershipChanged: whatever the requester sends the
		// session next is queued behind it.
		if sender != nil {
			root.Send(sender, &pb.TopologyReloaded{Error: ToProtoError(err)})
		}
	}()
}

// logWaiting hands the log every queued change not yet handed to it, in
// order, unless a failed commit is still being resolved or a passivation
// is queued before it. It reports whether the log refused one (such a
// change is ready to be answered).
func (a *sessionActor) logWaiting(ctx actor.Context) (refused bool) {
	if a.blocked {
		return false
	}
	for i := range a.inflight {
		it := &a.inflight[i]
		if _, ok := it.msg.(*pb.Passivate); ok {
			return refused
		}
		req, ok := it.msg.(OwnedRequest)
		if !ok || it.seq != 0 {
			continue
		}
		change := changeOf(req, a.deps.now)
		if change == nil {
			continue
		}
		data, err := encodeChange(change)
		if err == nil {
			err = a.deps.changes.tryEnqueue(logJob{ack: ctx.Self(), entry: persistence.LogEntry{
				Owner: a.owner, SessionID: a.id, Incarnation: a.incarnation, Epoch: a.epoch, Seq: a.logged + 1, Data: data}})
		}
		if err != nil { // answered in its turn, changing nothing
			it.seq, it.done, it.err = -1, true, err
			refused = true
			continue
		}
		a.logged++
		it.seq = a.logged
	}
	return refused
}

// committed records the outcome of entry m.Seq and serves what is ready.
func (a *sessionActor) committed(ctx actor.Context, m *pb.ChangeCommitted) {
	found := false
	for i := range a.inflight {
		if it := &a.inflight[i]; it.seq == m.GetSeq() && !it.done {
			it.done, found = true, true
			if e := m.GetError(); e != nil {
				it.err = FromProtoError(e)
			}
			break
		}
	}
	if !found {
		a.deps.log.Error("session actor: unexpected commit", "session_id", a.id, "seq", m.GetSeq())
		return
	}
	if m.GetSuperseded() {
		// This state is stale: a newer activation of this session holds
		// its epoch (another process took it over, or a paused one woke
		// up), the log already holds this seq (an earlier commit reported
		// failed did reach the database), or the session was deleted (an
		// id created again is another incarnation). Stop at once, without a
		// checkpoint (it would be refused, or cover a change this state
		// lacks); when stopped, bounce answers this change 503 and the rest
		// as a stopped actor would, so their askers retry against the next
		// activation, which replays the log.
		a.deps.log.Warn("session state is stale: stopping", "session_id", a.id, "epoch", a.epoch, "seq", m.GetSeq(), "reason", m.GetError().GetDetail())
		if m.GetError().GetReason() == pb.ErrorReason_ERROR_REASON_NOT_FOUND {
			a.deleted = true // its other changes in flight answer 404 too (bounce)
		}
		a.deps.writer.cancel(a.owner, a.id, a.incarnation, a.epoch)
		ctx.Stop(ctx.Self())
		return
	}
	if m.GetError() != nil {
		// Entries handed to the log after this one are refused by the log
		// (a session's log has no gaps): take no new ones until they are
		// resolved, then number from the last applied entry again.
		a.blocked = true
		// The commit's outcome is unknown: check the log a little later
		// (checkLog), unless a change finds out first.
		a.unsure = true
		a.failures++
		a.checkLater.after(ctx, logCheckDelay, checkLog{})
	}
	a.serveReady(ctx)
}

// checkLog tells a session to look at its log after a failed commit; a
// local message, like logChecked, which carries the answer.
type checkLog struct{}

type logChecked struct {
	last     int64  // the highest seq the log holds past the one asked after (0: none)
	failures uint64 // the session's failed commits when the look began
	err      error
}

// logCheckDelay is how long a session waits after a failed commit before
// it looks at its log, and again after a look that failed.
const logCheckDelay = time.Second

// checkLog looks, off the actor, at what the session's log holds past the
// last entry handed to it. A failed commit's outcome is unknown (its COMMIT
// may have landed, its answer lost): a session that takes no further change
// would otherwise serve, for as long as it runs, a state without a change
// that the log, and any later activation, holds. The next change finds that
// out too (ErrBehindLog); this finds it without one.
func (a *sessionActor) checkLog(ctx actor.Context) {
	if !a.unsure || a.deleted {
		return
	}
	if a.blocked {
		a.checkLater.after(ctx, logCheckDelay, checkLog{}) // the failed entries are still being resolved
		return
	}
	self, root := ctx.Self(), ctx.ActorSystem().Root
	store, owner, id, after, failures := a.deps.store, a.owner, a.id, a.logged, a.failures
	go func() {
		lctx, cancel := context.WithTimeout(context.Background(), membershipTimeout)
		defer cancel()
		entries, err := store.LoadLog(lctx, owner, id, after)
		var last int64
		for _, e := range entries {
			last = max(last, e.Seq)
		}
		root.Send(self, logChecked{last: last, failures: failures, err: err})
	}()
}

// logChecked acts on checkLog's answer: when the log holds an entry past
// every one this activation handed it, the state is stale and the actor
// stops at once, without a checkpoint, as when a change finds it out (see
// committed); the next request activates the session from its checkpoint
// and log. A look that failed (the database is still away) is tried again
// later, while reads go on being served. A look that began before a later
// commit failed does not answer for that one (its own look is scheduled).
func (a *sessionActor) logChecked(ctx actor.Context, m logChecked) {
	switch {
	case m.err != nil:
		if semvec.KindOf(m.err) == semvec.KindNotFound {
			return
		}
		a.deps.log.Warn("session: log not checked after a failed commit; retrying", "session_id", a.id, "err", m.err)
		a.checkLater.after(ctx, logCheckDelay, checkLog{})
	case m.last > a.logged:
		a.deps.log.Warn("session state is stale (its log holds a change whose commit was reported failed): stopping", "session_id", a.id, "epoch", a.epoch, "seq", m.last)
		a.deps.writer.cancel(a.owner, a.id, a.incarnation, a.epoch)
		ctx.Stop(ctx.Self())
	case m.failures == a.failures && !a.blocked:
		a.unsure = false
	}
}

// serveReady answers, in order, the queued messages whose turn has come:
// a committed change is applied, a failed one answered with its error, a
// read served; it stops at the first change still being committed (or not
// yet handed to the log), and at a passivation, which stops the actor.
func (a *sessionActor) serveReady(ctx actor.Context) {
	for {
		popped := false
		for len(a.inflight) > 0 {
			it := a.inflight[0]
			if it.seq > 0 && !it.done {
				break
			}
			if req, ok := it.msg.(OwnedRequest); ok && it.seq == 0 && changeOf(req, a.deps.now) != nil {
				break // a change the log has not been handed yet
			}
			a.inflight[0] = inflight{}
			a.inflight = a.inflight[1:]
			popped = true
			switch {
			case it.seq == 0:
				a.handle(ctx, it.msg, it.sender)
				if _, ok := it.msg.(*pb.Passivate); ok {
					return // stopping: what is left is bounced when it has stopped
				}
			case it.err != nil:
				if it.sender != nil {
					ctx.Send(it.sender, a.refused(it.msg, it.err))
				}
			default:
				a.seq = it.seq
				a.respond(ctx, it.sender, it.msg.(OwnedRequest))
				a.measure()
				// One checkpoint at a time: while one is queued (the
				// writer paces them), later entries wait for it.
				if a.seq-a.checkpoint >= checkpointEvery && a.queued == 0 {
					a.saveCheckpoint(ctx.Self())
				}
			}
		}
		if a.blocked && !a.awaitingCommits() {
			a.blocked, a.logged = false, a.seq
		}
		// A change the log refused is ready now: it may be at the head.
		if refused := a.logWaiting(ctx); !popped && !refused {
			return
		}
	}
}

// refused is the reply to a change whose log entry was not committed: its
// error, except for the reads that are logged only for what they count or
// replace. While the database is unavailable they are served all the same,
// changing nothing: an export keeps the Verify reference it would have
// replaced, a context block or an entity keyword query counts no accesses.
// (As far as this activation knows, the log does not hold the change; if it
// does, its acknowledgement was lost, and the session's next change finds
// that out and activates it again from the log: ErrBehindLog.)
func (a *sessionActor) refused(msg any, err error) any {
	if semvec.KindOf(err) != semvec.KindUnavailable {
		return errorReply(msg, err)
	}
	switch m := msg.(type) {
	case *pb.ExportRequest:
		if dict, sum, xerr := a.eng.ExportKeepingReference(); xerr == nil {
			return &pb.ExportResponse{SessionId: a.id, StateDict: dict, Checksum: sum}
		}
	case *pb.ContextRequest:
		return a.contextReply(a.eng.PeekContextItems(int(m.GetTopK()), m.GetFullFirst(), int(m.GetMaxChars())))
	case *pb.ListEntitiesRequest:
		return a.entitiesReply(a.eng.PeekEntities(m.GetQ(), int(m.GetMaxResults())))
	}
	return errorReply(msg, err)
}

// awaitingCommits reports whether a change handed to the log is unresolved.
func (a *sessionActor) awaitingCommits() bool {
	for _, it := range a.inflight {
		if it.seq > 0 && !it.done {
			return true
		}
	}
	return false
}

// bounce answers what is still queued when the actor stops: a change whose
// commit is unresolved gets 503 (its outcome is unknown here), or 404 when
// the session was deleted (whatever it committed went with it); anything
// else is answered as a stopped actor would, so its asker activates the
// session again and retries.
func (a *sessionActor) bounce(ctx actor.Context) {
	for _, it := range a.inflight {
		if it.sender == nil {
			continue
		}
		if req, ok := it.msg.(OwnedRequest); ok && it.seq != 0 {
			err := it.err
			switch {
			case err != nil:
			case a.deleted:
				err = semvec.NotFound("Session")
			default:
				err = semvec.Errorf(semvec.KindUnavailable, "the session stopped while its change was being committed")
			}
			ctx.Send(it.sender, errorReply(req, err))
			continue
		}
		ctx.Send(it.sender, &actor.DeadLetterResponse{Target: ctx.Self()})
	}
	a.inflight = nil
}

// respond applies req to the state and answers sender.
func (a *sessionActor) respond(ctx actor.Context, sender *actor.PID, req OwnedRequest) {
	res, err := a.apply(req, true)
	if err != nil {
		res = errorReply(req, err)
	}
	if sender != nil {
		ctx.Send(sender, res)
	}
}

// saveCheckpoint hands a checkpoint to the writer, without waiting, when the
// state has entries that no saved or queued checkpoint covers; ack, when
// set, is told the outcome. It reports whether one was queued. A full queue
// or a failed save loses nothing: the log still holds every entry.
func (a *sessionActor) saveCheckpoint(ack *actor.PID) bool {
	if a.seq <= a.checkpoint || a.seq <= a.queued || a.deps.writer == nil {
		return false
	}
	if a.deps.writer.queue.full() { // don't encode what would be refused
		return false
	}
	data, err := a.eng.MarshalBinary()
	if err != nil {
		a.deps.log.Error("session checkpoint encode failed", "session_id", a.id, "err", err)
		return false
	}
	snap := persistence.Snapshot{Owner: a.owner, ID: a.id, Incarnation: a.incarnation, Epoch: a.epoch, Data: data, At: a.deps.now(), Seq: a.seq}
	if !a.deps.writer.tryEnqueue(snapshotJob{snap: snap, version: a.seq, ack: ack}) {
		return false
	}
	if ack != nil {
		a.queued = a.seq
	}
	return true
}

// measure reports the bytes the session holds (engine.ApproxSize: well
// under a microsecond for a conversation, plus sessionActorBytes) to its
// registry's byte budget, when it has one: on start and after every change.
func (a *sessionActor) measure() {
	if a.size.e == nil {
		return
	}
	a.size.set(int64(a.eng.ApproxSize()) + sessionActorBytes)
}

// sessionActorBytes is what a session holds besides its engine state: the
// actor, its mailbox and process, its registry entry (measured: 6,000
// one-turn sessions held ~3 KB each more than ApproxSize counts).
const sessionActorBytes = 3 << 10

func timeOf(ns int64, now func() time.Time) time.Time {
	if ns == 0 {
		return now()
	}
	return time.Unix(0, ns)
}
