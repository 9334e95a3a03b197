package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors/engine"
	pb "github.com/semvec-go/semvec/proto"
)

// snapshotSaveTimeout bounds the one blocking call a session actor makes:
// writing its snapshot when it flushes or passivates.
const snapshotSaveTimeout = 5 * time.Second

// SnapshotSaver persists a session's snapshot (implemented by persistence.Store).
type SnapshotSaver interface {
	SaveSnapshot(ctx context.Context, id string, data []byte, at time.Time) error
}

// sessionActor owns one engine.Session. It is the single writer of that
// state: concurrent requests on one session queue in its mailbox and never
// interleave.
type sessionActor struct {
	id, owner string
	eng       *engine.Session
	clusters  []string
	dirty     bool
	discarded bool
	deps      *sessionDeps
}

type sessionDeps struct {
	saver    SnapshotSaver
	registry *Registry
	notify   func(*pb.DriftEvent) // drift fan-out to the session's clusters; may be nil
	log      *slog.Logger
	now      func() time.Time
}

func newSessionActor(id, owner string, eng *engine.Session, clusters []string, dirty bool, deps *sessionDeps) actor.Producer {
	return func() actor.Actor {
		return &sessionActor{id: id, owner: owner, eng: eng, clusters: clusters, dirty: dirty, deps: deps}
	}
}

func (a *sessionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started, *actor.Restarting:
	case *actor.Stopping:
		if !a.discarded {
			a.save() // graceful shutdown: keep every session's state
		}
	case *actor.Stopped:
		a.deps.registry.Stopped(a.id, ctx.Self())
	case *pb.Passivate:
		a.save()
		ctx.Stop(ctx.Self())
	case *pb.Discard:
		a.discarded = true
		ctx.Stop(ctx.Self())
	case *pb.Flush:
		ctx.Respond(&pb.FlushResponse{SessionId: a.id, Saved: a.save()})
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

// save writes the snapshot when the state changed since the last save. It
// blocks for at most snapshotSaveTimeout: the one bounded exception to "no
// blocking in Receive", so that a passivated or stopped session is on disk
// before anyone can re-activate it.
func (a *sessionActor) save() bool {
	if !a.dirty || a.deps.saver == nil {
		return false
	}
	data, err := a.eng.MarshalBinary()
	if err != nil {
		a.deps.log.Error("session snapshot encode failed", "session_id", a.id, "err", err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), snapshotSaveTimeout)
	defer cancel()
	if err := a.deps.saver.SaveSnapshot(ctx, a.id, data, a.deps.now()); err != nil {
		a.deps.log.Error("session snapshot save failed", "session_id", a.id, "err", err)
		return false
	}
	a.dirty = false
	return true
}

func timeOf(ns int64, now func() time.Time) time.Time {
	if ns == 0 {
		return now()
	}
	return time.Unix(0, ns)
}
