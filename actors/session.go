package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// snapshotSaveTimeout bounds the one blocking wait of a session actor:
// its final snapshot write when it passivates.
const snapshotSaveTimeout = 15 * time.Second

// sessionActor owns one engine.Session. It is the single writer of that
// state: concurrent requests on one session queue in its mailbox and never
// interleave.
type sessionActor struct {
	id, owner string
	eng       *engine.Session
	clusters  []string
	version   int64 // bumped by every change
	saved     int64 // the version known to be in the database
	discarded bool
	deps      *sessionDeps
}

// touch records a change of state that the next snapshot must include.
func (a *sessionActor) touch() { a.version++ }

type sessionDeps struct {
	writer   *snapshotWriter
	registry *Registry
	notify   func(*pb.DriftEvent) // drift fan-out to the session's clusters; may be nil
	log      *slog.Logger
	now      func() time.Time
}

// newSessionActor builds the actor around eng; a session that is not yet in
// the database (unsaved) starts dirty.
func newSessionActor(id, owner string, eng *engine.Session, clusters []string, unsaved bool, deps *sessionDeps) actor.Producer {
	return func() actor.Actor {
		a := &sessionActor{id: id, owner: owner, eng: eng, clusters: clusters, deps: deps}
		if unsaved {
			a.touch()
		}
		return a
	}
}

func (a *sessionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started, *actor.Restarting, *actor.Stopping:
		// Stopping saves nothing: a graceful stop comes through Passivate
		// (which saves first), a deletion through Discard, and a panic must
		// not persist half-updated state — the session comes back from its
		// last good snapshot.
	case *actor.Stopped:
		a.deps.registry.Stopped(a.id, ctx.Self())
	case *pb.Passivate:
		a.saveAndWait()
		ctx.Stop(ctx.Self())
	case *pb.Discard:
		a.discarded = true
		ctx.Stop(ctx.Self())
	case *pb.Flush:
		queued := a.flush(ctx.Self())
		if ctx.Sender() != nil {
			ctx.Respond(&pb.FlushResponse{SessionId: a.id, Saved: queued})
		}
	case *pb.SnapshotSaved:
		if m.GetOk() && m.GetVersion() > a.saved {
			a.saved = m.GetVersion()
		}
	case *pb.MembershipChanged:
		a.clusters = append([]string(nil), m.GetClusterIds()...)
	case *pb.RunRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.run(m) })
	case *pb.StoreRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.store(m) })
	case *pb.MetricsRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.metrics(), nil })
	case *pb.ContextRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.context(m), nil })
	case *pb.MemoryRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.memory(m) })
	case *pb.TriggerRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.trigger(m) })
	case *pb.AnchorRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.anchor(m) })
	case *pb.AnchorScoreRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.anchorScore(), nil })
	case *pb.IsolationRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.isolation(m) })
	case *pb.ReleaseRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.release(m), nil })
	case *pb.InjectMemoryRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.inject(m) })
	case *pb.ExportRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.export() })
	case *pb.ImportRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.importState(m) })
	case *pb.VerifyRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.verify(m) })
	case *pb.PutEntityRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.putEntity(m) })
	case *pb.ListEntitiesRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.listEntities(m), nil })
	case *pb.DeleteEntityRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.deleteEntity(m) })
	case *pb.StateRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.state(), nil })
	case *pb.BlendRequest:
		a.reply(ctx, m.GetOwner(), func() (Reply, error) { return a.blend(m) })
	default:
		a.deps.log.Warn("session actor: unexpected message", "session_id", a.id, "type", typeName(m))
	}
}

// reply runs fn after the owner check and responds with its message, or with
// the error carried in an empty message of the request's reply type. An owner
// mismatch answers exactly like a missing session.
func (a *sessionActor) reply(ctx actor.Context, owner string, fn func() (Reply, error)) {
	if owner != a.owner {
		ctx.Respond(errorReply(ctx.Message(), semvec.NotFound("Session")))
		return
	}
	res, err := fn()
	if err != nil {
		ctx.Respond(errorReply(ctx.Message(), err))
		return
	}
	ctx.Respond(res)
}

// snapshot encodes the state when it changed since the last save.
func (a *sessionActor) snapshot() ([]byte, bool) {
	if a.version == a.saved || a.deps.writer == nil {
		return nil, false
	}
	data, err := a.eng.MarshalBinary()
	if err != nil {
		a.deps.log.Error("session snapshot encode failed", "session_id", a.id, "err", err)
		return nil, false
	}
	return data, true
}

// flush hands a changed snapshot to the writer without waiting; the writer
// answers with SnapshotSaved. It reports whether a snapshot was queued.
func (a *sessionActor) flush(self *actor.PID) bool {
	data, ok := a.snapshot()
	if ok {
		a.deps.writer.enqueue(snapshotJob{snap: persistence.Snapshot{ID: a.id, Data: data, At: a.deps.now()}, version: a.version, ack: self})
	}
	return ok
}

// saveAndWait writes a changed snapshot and waits for it, at most
// snapshotSaveTimeout: the one bounded exception to "no blocking in
// Receive", so that a passivated session is on disk before anyone can
// re-activate it. Earlier queued flushes of this session are written first.
func (a *sessionActor) saveAndWait() {
	data, ok := a.snapshot()
	if !ok {
		return
	}
	done := make(chan error, 1)
	a.deps.writer.enqueue(snapshotJob{snap: persistence.Snapshot{ID: a.id, Data: data, At: a.deps.now()}, version: a.version, done: done})
	select {
	case err := <-done:
		if err == nil {
			a.saved = a.version
		}
	case <-time.After(snapshotSaveTimeout):
		a.deps.log.Error("session snapshot save timed out", "session_id", a.id)
	}
}

func timeOf(ns int64, now func() time.Time) time.Time {
	if ns == 0 {
		return now()
	}
	return time.Unix(0, ns)
}
