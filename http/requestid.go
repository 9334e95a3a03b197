package http

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	// headerRequestID carries the request id in and out (X-Request-ID),
	// spelt in Go's canonical form so that neither the lookup nor the
	// response header allocates a canonical copy of the name.
	headerRequestID = "X-Request-Id"
	// maxRequestIDLen bounds an id accepted from a client.
	maxRequestIDLen = 128
)

// requestContext gives every request its id and its deadline. The id is the
// client's X-Request-ID when it is 1–128 printable ASCII characters without
// spaces, otherwise 16 random hex digits; it is echoed in the X-Request-ID
// response header and read with RequestIDFrom. A positive timeout puts a
// deadline on the request's standard context (context.WithTimeout of
// c.Request.Context(), so it never outlives the client's connection either):
// actor asks and database calls made with c.Request.Context() give up at it,
// and an actor that did not answer in time is a 504 (see statusOf).
func requestContext(timeout time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.Request.Header.Get(headerRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Set(requestIDKey, id)
		c.Writer.Header()[headerRequestID] = []string{id}
		if timeout > 0 {
			ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
			defer cancel()
			c.Request = c.Request.WithContext(ctx)
		}
		c.Next()
	}
}

// RequestIDFrom returns the request id set by the request-context
// middleware, or "" when it did not run.
func RequestIDFrom(c *gin.Context) string {
	return c.GetString(requestIDKey)
}

// validRequestID accepts ids that are safe to log and echo: visible ASCII
// only, so no spaces, control characters or header/log injection.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID returns 16 hex digits from the runtime's per-thread
// generator (ChaCha8 seeded by the OS): ids only correlate logs, so they
// need to be unique, not secret.
func newRequestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	var h [16]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}
