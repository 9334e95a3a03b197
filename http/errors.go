package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/api"
)

// statusOf is the one table from error kinds to HTTP statuses.
//
//	KindNotFound    404  missing, or owned by another caller (same body)
//	KindInvalid     400  bad import payload, unknown aggregation mode / entity kind
//	KindValidation  422  FastAPI-shaped detail list naming the field
//	KindConflict    409
//	KindUnavailable 503  + Retry-After: database, embedder or actor cannot serve now
//	KindTimeout     504  + Retry-After: an actor did not answer before the deadline
//	                     (for a change: its outcome is unknown; retry)
//	anything else   500  generic detail; the cause is logged with the request id
func statusOf(k semvec.Kind) int {
	switch k {
	case semvec.KindNotFound:
		return http.StatusNotFound
	case semvec.KindInvalid:
		return http.StatusBadRequest
	case semvec.KindValidation:
		return http.StatusUnprocessableEntity
	case semvec.KindConflict:
		return http.StatusConflict
	case semvec.KindUnavailable:
		return http.StatusServiceUnavailable
	case semvec.KindTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// retryAfterBusy is the Retry-After of every 503 and 504: the database,
// embedder or actor could not serve the request now, or did not answer in
// time, and a retry a little later may well succeed.
const retryAfterBusy = "5"

// fail records err for errorResponder and stops the handler chain.
func fail(c *gin.Context, err error) {
	_ = c.Error(err)
	c.Abort()
}

// errorResponder writes the JSON body of an error recorded with fail. It is
// the only place that turns errors into HTTP responses.
func errorResponder(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if len(c.Errors) == 0 || c.Writer.Written() {
			return
		}
		err := c.Errors.Last().Err
		if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
			c.Status(499) // client went away; nobody reads the body
			return
		}
		var se *semvec.Error
		if !errors.As(err, &se) {
			log.Error("unhandled error", "request_id", RequestIDFrom(c), "path", c.FullPath(), "err", err)
			c.JSON(http.StatusInternalServerError, api.Error{Detail: "Internal Server Error"})
			return
		}
		status := statusOf(se.Kind)
		switch status {
		case http.StatusInternalServerError:
			log.Error("internal error", "request_id", RequestIDFrom(c), "path", c.FullPath(), "err", err)
			c.JSON(status, api.Error{Detail: "Internal Server Error"})
		case http.StatusUnprocessableEntity:
			validationError(c, api.ValidationItem{Loc: fieldLoc(se.Field), Msg: se.Detail, Type: "value_error"})
		case http.StatusServiceUnavailable:
			log.Warn("service unavailable", "request_id", RequestIDFrom(c), "path", c.FullPath(), "err", err)
			c.Header("Retry-After", retryAfterBusy)
			c.JSON(status, api.Error{Detail: se.Detail})
		case http.StatusGatewayTimeout:
			log.Warn("actor timeout", "request_id", RequestIDFrom(c), "path", c.FullPath(), "err", err)
			c.Header("Retry-After", retryAfterBusy)
			c.JSON(status, api.Error{Detail: se.Detail})
		default:
			c.JSON(status, api.Error{Detail: se.Detail})
		}
	}
}

// Details of the answers the edge middleware writes itself.
const (
	detailAuthFailures  = "Too many failed authentication attempts: retry later"
	detailURITooLong    = "Request URI too long"
	detailHeadersTooBig = "Request headers too large"
)

// abortUnread ends the request with status and {"detail": detail} without
// reading the request body. When the request announced a body (a
// Content-Length or a chunked one), the answer carries "Connection: close":
// otherwise net/http would read up to 256 KiB of the unread body before
// sending the answer, so a client that announces a body and never sends it
// would wait for the read timeout to get its answer. hangUpUnread then
// bounds how long the connection may wait for the body it will not use.
func abortUnread(c *gin.Context, status int, detail string) {
	if c.Request.ContentLength != 0 {
		c.Header("Connection", "close")
	}
	c.AbortWithStatusJSON(status, api.Error{Detail: detail})
}

// unreadBodyGrace is how long net/http may still read the unread body of a
// refused request (see hangUpUnread): long enough for a client that is
// sending its body to finish (closing with unread data would reset the
// connection, and the client could lose the answer), short enough that one
// that never sends it cannot hold the connection for the read timeout.
const unreadBodyGrace = 2 * time.Second

// hangUpUnread: once the rest of the chain has answered a request that
// announced a body with "Connection: close" (a refusal: 401, 402, 404, 405,
// 413, 414, 429, 431), it moves the connection's read deadline to at most
// unreadBodyGrace from now. net/http reads up to 256 KiB of an unread body
// after the handler (to find the end of the request) before it closes the
// connection; without this it would wait for a body that never comes until
// the server's read timeout. The answer itself is sent before that read.
// The handler is done with the body by then.
//
// It does the same for every answer that starts while the body it announced
// has not been read to its end, whatever route or status: a route that
// takes no body (GET /v1/health, /openapi.json, any GET or DELETE) answered
// a body it never reads only after net/http had waited for it, up to the
// read timeout (45 s), so a client without a token could hold a busy
// connection that long by announcing a body and sending none — busy
// connections are the ones LimitConnections never closes to make room. Such
// an answer now carries "Connection: close" (the client cannot reuse the
// connection before sending the body it announced anyway) and goes out at
// once, and net/http waits at most unreadBodyGrace more for the body.
func hangUpUnread() gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			c.Next()
			return
		}
		body := &readToEnd{ReadCloser: r.Body}
		r.Body = body
		w := &unreadAnswer{ResponseWriter: c.Writer, body: body}
		c.Writer = w
		c.Next()
		if c.Writer.Header().Get("Connection") == "close" {
			// Not every ResponseWriter supports it (a test recorder).
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(unreadBodyGrace))
		}
		w.starting() // an answer gin writes after the chain (no handler wrote one)
	}
}

// readToEnd is a request body that knows whether it has been read to its
// end (or failed: a body over the limit, a read past the deadline, which
// net/http and the handlers deal with already).
type readToEnd struct {
	io.ReadCloser
	ended atomic.Bool
}

func (b *readToEnd) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.ended.Store(true)
	}
	return n, err
}

// unreadAnswer is the ResponseWriter of a request with a body: when its
// answer starts (the first byte of it, or its header alone) while the body
// has not been read to its end, it adds "Connection: close" and bounds the
// wait for the rest of the body (see hangUpUnread). net/http reads an unread
// body before it sends the header of an answer that may keep the connection
// (golang.org/issue/15527) — with the read timeout, for a body that may
// never come — and after the answer of one that closes it.
type unreadAnswer struct {
	gin.ResponseWriter
	body    *readToEnd
	started atomic.Bool
}

func (w *unreadAnswer) starting() {
	if !w.started.CompareAndSwap(false, true) || w.body.ended.Load() {
		return
	}
	if !w.ResponseWriter.Written() {
		w.Header().Set("Connection", "close")
	}
	_ = http.NewResponseController(w.ResponseWriter).SetReadDeadline(time.Now().Add(unreadBodyGrace))
}

func (w *unreadAnswer) Write(p []byte) (int, error) {
	w.starting()
	return w.ResponseWriter.Write(p)
}

func (w *unreadAnswer) WriteString(s string) (int, error) {
	w.starting()
	return w.ResponseWriter.WriteString(s)
}

func (w *unreadAnswer) WriteHeaderNow() {
	w.starting()
	w.ResponseWriter.WriteHeaderNow()
}

func (w *unreadAnswer) Flush() {
	w.starting()
	w.ResponseWriter.Flush()
}

// Unwrap lets http.ResponseController reach net/http's writer.
func (w *unreadAnswer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fieldLoc is the 422 loc of a semvec.Error's Field: ["body", …] with the
// field's dot-separated path, numeric steps as list indexes
// ("policy_vectors.1.weight" → ["body", "policy_vectors", 1, "weight"]).
func fieldLoc(field string) []any {
	loc := []any{"body"}
	if field == "" {
		return append(loc, "body")
	}
	for _, p := range strings.Split(field, ".") {
		if i, err := strconv.Atoi(p); err == nil {
			loc = append(loc, i)
		} else {
			loc = append(loc, p)
		}
	}
	return loc
}
