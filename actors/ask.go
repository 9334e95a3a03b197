package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/semvec-go/semvec"
	pb "github.com/semvec-go/semvec/proto"
)

// Reply is what every actor response message implements: it carries an
// optional typed error.
type Reply interface {
	proto.Message
	GetError() *pb.Error
}

// AskObserver records the latency and outcome of one ask; outcome is one of
// "ok", "timeout", "canceled" (the caller's context was canceled before the
// ask), "unavailable", "error".
type AskObserver func(message string, d time.Duration, outcome string)

// Asker is the one seam between request handlers and actors. An Asker must
// not be copied after first use.
type Asker struct {
	Root     actor.SenderContext
	Timeout  time.Duration // upper bound of every ask; 0: the context's deadline, else defaultAskTimeout
	Observer AskObserver   // optional

	boxes replyBoxes // reusable reply addresses
}

// defaultAskTimeout bounds an ask of an Asker without a Timeout whose
// context has no deadline either.
const defaultAskTimeout = 30 * time.Second

// errDeadLetter marks an ask that reached no live actor; callers that can
// re-activate the target retry on it.
var errDeadLetter = errors.New("actor is not running")

// errDeadLetterDetail is what a client reads when the actors it asked kept
// stopping before they handled its request (the callers that can retry
// already did): passivation, deletion or shutdown.
const errDeadLetterDetail = "the actor stopped before it handled the request; retry"

// Bound returns ctx limited to a.Timeout (when set): what a request may
// spend on finding its actor (waiting for its activation) and asking it.
func (a *Asker) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, a.Timeout)
}

// Ask sends req to pid and waits for a reply of type R. The timeout is the
// smaller of a.Timeout and the time left before ctx's deadline; a request
// with a patience_nanos field is sent with it set to that timeout (see
// withPatience). Failures
// come back as *semvec.Error: KindTimeout when no reply came in time (the
// actor may still apply req: the outcome is unknown, as for a 503 whose
// commit could not be confirmed), KindUnavailable when the actor is gone,
// and the reply's own error reason otherwise.
// A nil req (or a typed nil message) is KindInvalid, and nothing is sent.
func Ask[R Reply](ctx context.Context, a *Asker, pid *actor.PID, req proto.Message) (R, error) {
	if isNil(req) {
		var zero R
		return zero, errNilRequest
	}
	return ask[R](ctx, a, pid, nil, req)
}

// errNilRequest is the answer of Ask and AskSession to a nil request.
var errNilRequest = semvec.Errorf(semvec.KindInvalid, "the request is nil")

// isNil reports whether req is nil or a typed nil message.
func isNil(req proto.Message) bool { return req == nil || !req.ProtoReflect().IsValid() }

// notSent is the error of a call of the Go API (Sessions.Create,
// AskSession) whose context was already done when it was made, with err the
// context's error: nothing was sent and nothing was done; when says before
// what. errors.Is finds err. A canceled context is KindInvalid: the caller
// ended it, and neither KindTimeout nor KindUnavailable fits, since both say
// the outcome is unknown (and the same call with the same context fails the
// same way). A context past its deadline is KindTimeout, the 504 the HTTP
// layer answers for a request past its deadline (a canceled one is a client
// that went away there: 499, whatever the kind).
func notSent(err error, when string) error {
	if errors.Is(err, context.Canceled) {
		return semvec.Wrap(semvec.KindInvalid, err, "the context was canceled "+when)
	}
	return semvec.Wrap(semvec.KindTimeout, err, "the deadline passed "+when)
}

// askEntry is Ask of the actor of e, an entry of r that r.lookup returned
// (and pinned: it is unpinned once req is sent). An actor that stopped
// without answering never handled req, which fails as a dead letter does
// (errDeadLetter; the caller asks its next activation) instead of waiting
// for the ask to time out, unless it panicked (it may have applied req
// before: KindInternal, never retried).
func askEntry[R Reply](ctx context.Context, a *Asker, r *Registry, e *entry, req proto.Message) (R, error) {
	return ask[R](ctx, a, e.pid, &pinned{r, e}, req)
}

// pinned is the entry an askEntry watches, and its registry.
type pinned struct {
	r *Registry
	e *entry
}

func (p *pinned) unpin() { p.r.unpin(p.e) }

// ask is Ask, watching p (nil: none) as askEntry says.
func ask[R Reply](ctx context.Context, a *Asker, pid *actor.PID, p *pinned, req proto.Message) (R, error) {
	var zero R
	name := string(req.ProtoReflect().Descriptor().Name())
	start := time.Now()
	observe := func(outcome string) {
		if a.Observer != nil {
			a.Observer(name, time.Since(start), outcome)
		}
	}
	d := a.Timeout
	if dl, ok := ctx.Deadline(); ok {
		d = dl.Sub(start)
		if a.Timeout > 0 {
			d = min(d, a.Timeout)
		}
	} else if d <= 0 {
		d = defaultAskTimeout
	}
	if err := ctx.Err(); err != nil || d <= 0 {
		if p != nil {
			p.unpin()
		}
		if errors.Is(err, context.Canceled) { // the client went away
			observe("canceled")
			return zero, semvec.Wrap(semvec.KindTimeout, err, "the request was canceled before the actor was asked")
		}
		observe("timeout")
		return zero, semvec.Wrap(semvec.KindTimeout, context.DeadlineExceeded, "request deadline exceeded before the actor was asked")
	}
	req = withPatience(req, d)
	sys := a.Root.ActorSystem()
	box := a.boxes.get(sys)
	var stopped <-chan struct{} // nil: never
	var sent func()
	if p != nil {
		stopped = p.e.stopped
		sent = p.unpin
	}
	res, outcome := box.request(a.Root, pid, req, d, stopped, ctx.Done(), sent)
	if outcome == abandoned && !errors.Is(ctx.Err(), context.Canceled) {
		outcome = timedOut // the context's deadline, which the timer shares
	}
	switch outcome {
	case abandoned:
		a.boxes.discard(sys, box) // the reply may still come: never reuse the box
		observe("canceled")
		return zero, semvec.Wrap(semvec.KindTimeout, ctx.Err(), fmt.Sprintf("%s: the request was canceled before the actor answered", name))
	case timedOut:
		a.boxes.discard(sys, box) // the reply may still come: never reuse the box
		observe("timeout")
		return zero, semvec.Wrap(semvec.KindTimeout, actor.ErrTimeout, fmt.Sprintf("%s: the actor did not answer within %s", name, d.Round(time.Millisecond)))
	case unanswered:
		a.boxes.discard(sys, box) // a dead letter's response may still come
		if p.e.failed.Load() {
			observe("error")
			return zero, semvec.Errorf(semvec.KindInternal, "%s: the actor failed while handling requests", name)
		}
		observe("unavailable")
		return zero, semvec.Wrap(semvec.KindUnavailable, errDeadLetter, errDeadLetterDetail)
	}
	a.boxes.put(sys, box)
	if _, dead := res.(*actor.DeadLetterResponse); dead {
		observe("unavailable")
		return zero, semvec.Wrap(semvec.KindUnavailable, errDeadLetter, errDeadLetterDetail)
	}
	if f, failed := res.(*pb.RouteFailed); failed { // cluster mode: the owning member could not activate it
		observe("error")
		return zero, FromProtoError(f.GetError())
	}
	r, ok := res.(R)
	if !ok {
		observe("error")
		return zero, semvec.Errorf(semvec.KindInternal, "ask %s: unexpected reply %T", name, res)
	}
	if e := r.GetError(); e != nil && e.GetReason() != pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
		observe("ok")
		return zero, FromProtoError(e)
	}
	observe("ok")
	return r, nil
}

// patient is a request that tells its actor how long its asker waits for
// the answer (a patience_nanos field: a cluster feedback, a network
// switch, transfer or proposal), so that the actor can answer before the
// asker gives up.
type patient interface{ GetPatienceNanos() int64 }

// withPatience returns req with its patience set to d, the time the ask is
// about to wait, when req is patient: a copy, so that the caller's message
// is never changed (it may be sent again, to the next activation).
// Other requests are returned as they are.
//
// The actor counts its patience from when it takes the request (a zero
// patience, a request sent without the ask, has no deadline). In cluster
// mode a request may first wait in the router of its actor while the
// router activates the actor (up to nine tenths of the ask, see
// Placement.routerWait); the router then hands it over with that wait
// taken off its patience (lessPatience), so that the actor still answers
// before the asker gives up.
func withPatience(req proto.Message, d time.Duration) proto.Message {
	if _, ok := req.(patient); !ok {
		return req
	}
	m := proto.Clone(req).ProtoReflect()
	m.Set(m.Descriptor().Fields().ByName("patience_nanos"), protoreflect.ValueOfInt64(int64(d)))
	return m.Interface()
}

// lessPatience returns msg with held, the time it waited since it was
// received, taken off its patience, when msg is a patient request that has
// one (withPatience: a copy); other messages, and a patient request with
// no deadline (zero patience), are returned as they are. The patience left
// is at least 1 ns, never zero: a request whose asker has given up already
// must not become one with no deadline (a network operation then answers
// at once, as a step left no time does; a cluster feedback counts its
// asker as gone).
func lessPatience(msg any, held time.Duration) any {
	req, ok := msg.(interface {
		proto.Message
		patient
	})
	if !ok || req.GetPatienceNanos() <= 0 || held <= 0 {
		return msg
	}
	return withPatience(req, max(time.Duration(req.GetPatienceNanos())-held, time.Nanosecond))
}

// isDeadLetter reports whether err came from asking an actor that is gone.
func isDeadLetter(err error) bool { return errors.Is(err, errDeadLetter) }

// reasons are the error reasons an actor replies with, each for its kind.
func reasons() [7]struct {
	reason pb.ErrorReason
	kind   semvec.Kind
} {
	return [...]struct {
		reason pb.ErrorReason
		kind   semvec.Kind
	}{
		{pb.ErrorReason_ERROR_REASON_NOT_FOUND, semvec.KindNotFound},
		{pb.ErrorReason_ERROR_REASON_INVALID, semvec.KindInvalid},
		{pb.ErrorReason_ERROR_REASON_VALIDATION, semvec.KindValidation},
		{pb.ErrorReason_ERROR_REASON_CONFLICT, semvec.KindConflict},
		{pb.ErrorReason_ERROR_REASON_UNAVAILABLE, semvec.KindUnavailable},
		{pb.ErrorReason_ERROR_REASON_INTERNAL, semvec.KindInternal},
		{pb.ErrorReason_ERROR_REASON_TIMEOUT, semvec.KindTimeout},
	}
}

// FromProtoError turns a reply's error into a *semvec.Error (an unknown
// reason is an internal error).
func FromProtoError(e *pb.Error) error {
	k := semvec.KindInternal
	for _, r := range reasons() {
		if r.reason == e.GetReason() {
			k = r.kind
		}
	}
	return &semvec.Error{Kind: k, Detail: e.GetDetail(), Field: e.GetField()}
}

// ToProtoError turns any error into the typed error an actor replies with.
// Internal causes are not exposed.
func ToProtoError(err error) *pb.Error {
	if err == nil {
		return nil
	}
	var se *semvec.Error
	if !errors.As(err, &se) {
		return &pb.Error{Reason: pb.ErrorReason_ERROR_REASON_INTERNAL, Detail: "internal error"}
	}
	for _, r := range reasons() {
		if r.kind == se.Kind {
			return &pb.Error{Reason: r.reason, Detail: se.Detail, Field: se.Field}
		}
	}
	return &pb.Error{Reason: pb.ErrorReason_ERROR_REASON_INTERNAL, Detail: "internal error"}
}
