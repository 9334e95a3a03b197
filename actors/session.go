package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

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
// durable log (changeLog, group-committed) and applied only once the entry
// is committed, so a reply means "on disk" and a failed commit changes
// nothing. While an entry is being committed the actor keeps receiving but
// stashes what arrives, and handles it in order afterwards. Checkpoints
// (snapshots) bound the replay: they are written every checkpointEvery
// entries, at each sweep and at passivation, never waited for.
type sessionActor struct {
	id, owner   string
	incarnation string // of the session row; every write carries it
	eng         *engine.Session
	clusters    []string
	seq         int64 // the last log entry applied
	checkpoint  int64 // the last entry covered by a saved checkpoint
	queued      int64 // the entry covered by a checkpoint in the writer's queue (0: none)
	pending     *pendingChange
	stash       []stashed
	deps        *sessionDeps
}

// pendingChange is the request whose log entry is being committed.
type pendingChange struct {
	req    OwnedRequest
	sender *actor.PID
	seq    int64
}

// stashed is a message that arrived while a change was being committed.
type stashed struct {
	msg    any
	sender *actor.PID
}

// checkpointEvery is how many log entries a session appends between two
// checkpoints: with the sweep's checkpoint of idle sessions, it bounds the
// log a session keeps on disk and replays when it is activated.
const checkpointEvery = 64

// maxStash bounds the requests waiting behind one commit; beyond it a
// request is answered 503 at once.
const maxStash = 1024

type sessionDeps struct {
	writer   *snapshotWriter
	changes  *changeLog
	registry *Registry
	notify   func(*pb.DriftEvent) // drift fan-out to the session's clusters; may be nil
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
	case *actor.Started, *actor.Restarting, *actor.Stopping:
		// A panic must not persist half-updated state: the session comes
		// back from its last checkpoint and log.
	case *actor.Stopped:
		a.bounceStash(ctx)
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
	case *pb.Discard:
		a.deps.writer.cancel(a.owner, a.id, a.incarnation)
		ctx.Stop(ctx.Self())
	default:
		if a.pending != nil {
			a.hold(ctx, m, ctx.Sender())
			return
		}
		a.handle(ctx, m, ctx.Sender())
	}
}

// handle serves one message (from the mailbox or the stash) for sender.
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
	case *pb.MembershipChanged:
		a.clusters = append([]string(nil), m.GetClusterIds()...)
	case OwnedRequest:
		a.request(ctx, m, sender)
	default:
		a.deps.log.Warn("session actor: unexpected message", "session_id", a.id, "type", typeName(m))
	}
}

// request answers req: a read at once, a change once its log entry is
// committed.
func (a *sessionActor) request(ctx actor.Context, req OwnedRequest, sender *actor.PID) {
	if req.GetOwner() != a.owner { // unreachable: the actor's key holds its owner
		ctx.Send(sender, errorReply(req, semvec.NotFound("Session")))
		return
	}
	change := changeOf(req, a.deps.now)
	if change == nil {
		a.respond(ctx, sender, req)
		return
	}
	data, err := proto.Marshal(change)
	if err == nil {
		seq := a.seq + 1
		err = a.deps.changes.tryEnqueue(logJob{ack: ctx.Self(), entry: persistence.LogEntry{
			Owner: a.owner, SessionID: a.id, Incarnation: a.incarnation, Seq: seq, Data: data}})
		if err == nil {
			a.pending = &pendingChange{req: req, sender: sender, seq: seq}
			return
		}
	}
	ctx.Send(sender, errorReply(req, err))
}

// committed applies the pending change once its entry is on disk (or
// answers the commit's error, changing nothing), then serves the stash.
func (a *sessionActor) committed(ctx actor.Context, m *pb.ChangeCommitted) {
	p := a.pending
	if p == nil || m.GetSeq() != p.seq {
		a.deps.log.Error("session actor: unexpected commit", "session_id", a.id, "seq", m.GetSeq())
		return
	}
	a.pending = nil
	if e := m.GetError(); e != nil {
		ctx.Send(p.sender, errorReply(p.req, FromProtoError(e)))
	} else {
		a.seq = p.seq
		a.respond(ctx, p.sender, p.req)
		if a.seq-a.checkpoint >= checkpointEvery {
			a.saveCheckpoint(ctx.Self())
		}
	}
	for a.pending == nil && len(a.stash) > 0 {
		s := a.stash[0]
		a.stash[0] = stashed{}
		a.stash = a.stash[1:]
		a.handle(ctx, s.msg, s.sender)
	}
}

// hold stashes msg until the pending change is committed.
func (a *sessionActor) hold(ctx actor.Context, msg any, sender *actor.PID) {
	if req, ok := msg.(OwnedRequest); ok && len(a.stash) >= maxStash {
		ctx.Send(sender, errorReply(req, semvec.Errorf(semvec.KindUnavailable, "too many requests are waiting for this session")))
		return
	}
	a.stash = append(a.stash, stashed{msg: msg, sender: sender})
}

// bounceStash answers the requests still stashed when the actor stops as a
// stopped actor would, so their askers activate it again and retry; the
// change being committed, if any, is answered 503.
func (a *sessionActor) bounceStash(ctx actor.Context) {
	for _, s := range a.stash {
		if s.sender != nil {
			ctx.Send(s.sender, &actor.DeadLetterResponse{Target: ctx.Self()})
		}
	}
	if p := a.pending; p != nil && p.sender != nil { // its commit's outcome is unknown here
		ctx.Send(p.sender, errorReply(p.req, semvec.Errorf(semvec.KindUnavailable, "the session stopped while its change was being committed")))
	}
	a.stash, a.pending = nil, nil
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
	data, err := a.eng.MarshalBinary()
	if err != nil {
		a.deps.log.Error("session checkpoint encode failed", "session_id", a.id, "err", err)
		return false
	}
	snap := persistence.Snapshot{Owner: a.owner, ID: a.id, Incarnation: a.incarnation, Data: data, At: a.deps.now(), Seq: a.seq}
	if !a.deps.writer.tryEnqueue(snapshotJob{snap: snap, version: a.seq, ack: ack}) {
		return false
	}
	if ack != nil {
		a.queued = a.seq
	}
	return true
}

func timeOf(ns int64, now func() time.Time) time.Time {
	if ns == 0 {
		return now()
	}
	return time.Unix(0, ns)
}
