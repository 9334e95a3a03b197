package http

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/gin-gonic/gin"
)

const (
	// headerRequestID carries the request id in and out.
	headerRequestID = "X-Request-ID"
	// requestIDKey is the gin context key holding the request id.
	requestIDKey = "request_id"
	// maxRequestIDLen bounds an id accepted from a client.
	maxRequestIDLen = 128
)

// requestID gives every request an id: the client's X-Request-ID when it is
// 1–128 printable ASCII characters without spaces, otherwise 16 random hex
// digits. The id is stored under "request_id" (see RequestIDFrom) and echoed
// in the X-Request-ID response header.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(headerRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Set(requestIDKey, id)
		c.Header(headerRequestID, id)
		c.Next()
	}
}

// RequestIDFrom returns the request id set by the request-id middleware, or ""
// when it did not run.
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

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes instead)
	return hex.EncodeToString(b[:])
}
