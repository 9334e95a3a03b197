package http

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec/http/api"
)

// recovery turns a panic in a later handler into 500
// {"detail":"Internal Server Error"} and logs the panic value, the stack and
// the request id. It never re-panics, with one exception: http.ErrAbortHandler
// is re-raised, because net/http uses that panic to abort a response on
// purpose and suppresses its logging. A panic caused by a broken client
// connection (EPIPE, ECONNRESET) is logged at warning level without a stack
// and nothing is written. If the handler had already started the response,
// the status can no longer change; the chain is just aborted.
func recovery(log *slog.Logger) gin.HandlerFunc {
	if log == nil {
		log = slog.Default()
	}
	return func(c *gin.Context) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler { // net/http compares the same way
				panic(rec)
			}
			attrs := []any{
				"request_id", RequestIDFrom(c),
				"method", c.Request.Method,
				"path", c.Request.URL.Path,
				"panic", fmt.Sprint(rec),
			}
			if err, ok := rec.(error); ok && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) {
				log.Warn("connection broken while handling request", attrs...)
				c.Abort()
				return
			}
			log.Error("panic recovered", append(attrs, "stack", string(debug.Stack()))...)
			if c.Writer.Written() {
				c.Abort()
				return
			}
			c.AbortWithStatusJSON(http.StatusInternalServerError, api.Error{Detail: "Internal Server Error"})
		}()
		c.Next()
	}
}
