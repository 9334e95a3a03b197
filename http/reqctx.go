package http

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
)

// requestCtx is the context of one request: the server's request context
// (canceled when the client goes away) with the request deadline, carrying
// the request id and the authenticated caller. It is one allocation where
// context.WithTimeout plus gin's key map cost a dozen, and it arms no timer
// until something waits on Done: the actor asks of the hot routes only read
// Deadline and Err (their own timer covers the deadline), while database
// calls and anything else that selects on Done get a real deadline context,
// made on first use.
type requestCtx struct {
	context.Context           // the parent
	start           time.Time // when the request-context middleware ran
	deadline        time.Time
	hasDeadline     bool

	once   sync.Once
	timed  atomic.Pointer[context.Context] // the parent with the deadline, once made
	cancel context.CancelFunc
	ended  atomic.Bool // release ran

	id        string
	caller    semvec.Caller
	hasCaller bool
}

// requestCtxKey finds the requestCtx among a context's values.
type requestCtxKey struct{}

// newRequestCtx returns the context of a request with id under parent,
// started now; a positive timeout sets the deadline (never later than
// parent's).
func newRequestCtx(parent context.Context, id string, timeout time.Duration) *requestCtx {
	rc := &requestCtx{Context: parent, id: id, start: time.Now()}
	if timeout > 0 {
		rc.deadline, rc.hasDeadline = rc.start.Add(timeout), true
	}
	if dl, ok := parent.Deadline(); ok && (!rc.hasDeadline || dl.Before(rc.deadline)) {
		rc.deadline, rc.hasDeadline = dl, true
	}
	return rc
}

// Deadline is the request deadline.
func (rc *requestCtx) Deadline() (time.Time, bool) { return rc.deadline, rc.hasDeadline }

// Done makes the deadline context on first use.
func (rc *requestCtx) Done() <-chan struct{} { return rc.timedCtx().Done() }

// Err is the parent's error or, past the deadline, DeadlineExceeded, without
// making the deadline context.
func (rc *requestCtx) Err() error {
	if t := rc.timed.Load(); t != nil {
		return (*t).Err()
	}
	if rc.ended.Load() {
		return context.Canceled
	}
	if err := rc.Context.Err(); err != nil {
		return err
	}
	if rc.hasDeadline && time.Until(rc.deadline) <= 0 { // monotonic clock only: cheaper than time.Now
		return context.DeadlineExceeded
	}
	return nil
}

// Value answers requestCtxKey with rc itself and asks the parent otherwise.
func (rc *requestCtx) Value(key any) any {
	if key == (requestCtxKey{}) {
		return rc
	}
	return rc.Context.Value(key)
}

func (rc *requestCtx) timedCtx() context.Context {
	rc.once.Do(func() {
		var ctx context.Context
		if rc.hasDeadline {
			ctx, rc.cancel = context.WithDeadline(rc.Context, rc.deadline)
		} else {
			ctx, rc.cancel = context.WithCancel(rc.Context)
		}
		rc.timed.Store(&ctx)
	})
	if t := rc.timed.Load(); t != nil {
		return *t
	}
	// Released before anything waited: the request is over.
	ctx, cancel := context.WithCancel(rc.Context)
	cancel()
	return ctx
}

// release ends the request: a deadline context made for it is canceled (its
// timer stopped), and Done asked for later is already closed.
func (rc *requestCtx) release() {
	rc.ended.Store(true)
	rc.once.Do(func() {})
	if rc.cancel != nil {
		rc.cancel()
	}
}

// requestStart is when the request began (the request-context middleware
// ran), or now when that middleware did not run: the start of the request's
// duration for metrics. A turn's own time is read just before its actor is
// asked, after the body, the embedder and any database work, so that
// memories are stamped in the order their session processes them.
func requestStart(c *gin.Context) time.Time {
	if rc := requestCtxOf(c); rc != nil {
		return rc.start
	}
	return time.Now()
}

// requestCtxOf returns the requestCtx of c's request, nil when the
// request-context middleware did not run.
func requestCtxOf(c *gin.Context) *requestCtx {
	if c.Request == nil {
		return nil
	}
	if rc, ok := c.Request.Context().(*requestCtx); ok {
		return rc
	}
	rc, _ := c.Request.Context().Value(requestCtxKey{}).(*requestCtx)
	return rc
}
