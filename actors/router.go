package actors

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/semvec-go/semvec"
	pb "github.com/semvec-go/semvec/proto"
)

// router is the grain of one identity in cluster mode (see Placement): it
// runs on the member that owns the identity and hands every message to the
// actor of that identity in the member's Registry, keeping each request's
// sender so the actor answers the asker directly, wherever it is. It never
// waits inside Receive: an actor that is not running is activated on a
// goroutine, and the messages that arrive meanwhile wait here, in order.
// It stops itself a while (Placement.RouterIdle) after its actor stopped
// (passivation, deletion) or failed to start, so routers do not outlive
// actors for long; it does not stop at once, so that a request already on
// its way (a caller holds its PID) is still served. A caller whose request
// meets a stopped router gets a dead letter and looks the identity up
// again.
type router struct {
	reg      *Registry
	idle     time.Duration // Placement.RouterIdle
	wait     time.Duration // how long an activation for waiting requests may take (0: activationTimeout)
	key      string
	watched  *actor.PID // the actor it watches (stops with it)
	waiting  []routed   // messages that arrived while the actor activates
	locating bool
}

type routed struct {
	msg    any
	sender *actor.PID
	at     time.Time // when it began to wait here (zero: handed over as it came)
}

var errRouterBusy = semvec.Errorf(semvec.KindUnavailable, "too many requests are waiting for this actor to start; retry shortly")

// located is the outcome of a router's activation of its actor. The actor
// is pinned (not evicted for another activation) until release, which
// flush calls once it has handed over what waited; should the router stop
// before it reads located, the pin ends after locatedPinLimit.
type located struct {
	pid     *actor.PID
	err     error
	release func()
}

// locatedPinLimit bounds the pin of a located actor that no router reads.
const locatedPinLimit = time.Second

func (r *router) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.key = cluster.GetClusterIdentity(ctx).Identity
		r.adopt(ctx)
	case *actor.ReceiveTimeout:
		r.adopt(ctx)
	case *actor.Stopping:
		r.leave(ctx)
	case *actor.Stopped, *actor.Restarting, *cluster.ClusterInit:
	case *actor.Terminated:
		if r.watched != nil && m.GetWho().Equal(r.watched) {
			r.watched = nil
			r.adopt(ctx) // stops after r.idle unless the actor runs again
		}
	case *located:
		r.locating = false
		r.flush(ctx, m)
	case *pb.StopRequest:
		r.stop(ctx, m)
	default:
		r.route(ctx, routed{msg: m, sender: ctx.Sender()})
	}
}

// adopt watches the identity's actor when it runs (it may have been
// activated through the member's own registry, when the member asked for
// it directly: a router is placed by every lookup, local ones included),
// else stops the router once it has been idle for r.idle.
func (r *router) adopt(ctx actor.Context) {
	if r.watched != nil || r.locating || len(r.waiting) > 0 {
		ctx.CancelReceiveTimeout()
		return
	}
	if pid := r.reg.running(r.key); pid != nil {
		r.watched = pid
		ctx.Watch(pid)
		ctx.CancelReceiveTimeout()
		return
	}
	if _, idle := ctx.Message().(*actor.ReceiveTimeout); idle {
		ctx.Stop(ctx.Self())
		return
	}
	ctx.SetReceiveTimeout(r.idle)
}

// route delivers msg to the running actor, or queues it and activates it.
func (r *router) route(ctx actor.Context, m routed) {
	if len(r.waiting) == 0 && r.deliver(ctx, m) {
		return
	}
	if len(r.waiting) >= maxInflight {
		if m.sender != nil {
			ctx.Send(m.sender, &pb.RouteFailed{Error: ToProtoError(errRouterBusy)})
		}
		return
	}
	m.at = time.Now()
	r.waiting = append(r.waiting, m)
	if !r.locating {
		r.locate(ctx)
	}
}

// locate finds (activating it when needed) the actor on a goroutine, which
// tells the router with a located message.
func (r *router) locate(ctx actor.Context) {
	r.locating = true
	self, root, reg, key := ctx.Self(), ctx.ActorSystem().Root, r.reg, r.key
	wait := cmp.Or(r.wait, activationTimeout)
	go func() {
		actx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		l := &located{release: func() {}}
		if e, err := reg.lookup(actx, key); err != nil {
			l.err = err
		} else {
			l.pid, l.release = e.pid, sync.OnceFunc(func() { reg.unpin(e) })
			time.AfterFunc(locatedPinLimit, l.release)
		}
		root.Send(self, l)
	}()
}

// flush delivers (or fails) what waited for the activation. An actor that
// is stopping already (deleted or passivated as it started) would drop
// them: they wait for the next activation instead (which finds the
// resource or answers that it is gone).
func (r *router) flush(ctx actor.Context, l *located) {
	defer l.release()
	for len(r.waiting) > 0 {
		m := r.waiting[0]
		if l.err == nil && !r.deliver(ctx, m) {
			r.locate(ctx)
			return
		}
		if l.err != nil && m.sender != nil {
			ctx.Send(m.sender, &pb.RouteFailed{Error: ToProtoError(l.err)})
		}
		r.waiting[0] = routed{}
		r.waiting = r.waiting[1:]
	}
	r.waiting = nil
	r.adopt(ctx)
}

// deliver hands m to the running actor with its original sender (a
// notification has none) and watches the actor; it reports false when the
// actor is not running (or is stopping). Registry.sendRunning makes the
// check and the send one step, so m is never queued behind a stop. A
// patient request that waited here goes with the time it waited taken off
// its patience (lessPatience; router and actor share this member's clock),
// since the actor counts its patience from when it takes it.
func (r *router) deliver(ctx actor.Context, m routed) bool {
	msg := m.msg
	if !m.at.IsZero() {
		msg = lessPatience(msg, time.Since(m.at))
	}
	pid := r.reg.sendRunning(r.key, msg, m.sender)
	if pid == nil {
		return false
	}
	if r.watched == nil || !r.watched.Equal(pid) {
		r.watched = pid
		ctx.Watch(pid)
	}
	return true
}

// leave runs when the router stops: when it was idle, or when protoactor
// moves its identity to another member after a membership change. The
// actor it hands messages to stops too (on a goroutine: its passivation
// saves a checkpoint), so that this member never serves the identity again
// from a stale state, and what waits here is answered as a stopped actor
// would, so that each asker looks the identity up again at once.
func (r *router) leave(ctx actor.Context) {
	for _, m := range r.waiting {
		if m.sender != nil {
			ctx.Send(m.sender, &actor.DeadLetterResponse{Target: ctx.Self()})
		}
	}
	r.waiting = nil
	if r.reg.running(r.key) == nil {
		return
	}
	reg, key := r.reg, r.key
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), activationTimeout)
		defer cancel()
		reg.stopLocal(sctx, key, false, false)
	}()
}

// stop stops the actor on a goroutine (waiting for it) and answers the
// asker; the router stops with it.
func (r *router) stop(ctx actor.Context, m *pb.StopRequest) {
	sender, root, reg, key := ctx.Sender(), ctx.ActorSystem().Root, r.reg, r.key
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), activationTimeout)
		defer cancel()
		reg.stopLocal(sctx, key, m.GetDiscard(), m.GetSettle())
		if sender != nil {
			root.Send(sender, &pb.StopResponse{})
		}
	}()
}
