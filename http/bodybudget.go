package http

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"
)

// BodyBudget bounds the request bodies being received and held at once, in
// bytes: once a request is authenticated and within its rate limit, its
// body reserves its declared length (the body limit when it declares none,
// as a chunked body) until the request is answered, and a body that does
// not fit is answered 503 with Retry-After, unread. One client address
// (IPv6 per /64) may hold at most a quarter of the budget. Without it a
// client holding many connections, each with a large body it never
// finishes, kept ~6 MB of memory per connection until the read timeout
// (1,000 connections: ~6 GB), outside every other bound. Safe for
// concurrent use.
type BodyBudget struct {
	max, perAddr, limit int64

	mu     sync.Mutex
	held   int64
	byAddr map[netip.Addr]int64 // only addresses holding some
}

// NewBodyBudget returns a budget of max bytes for bodies of at most limit
// bytes each (the server's SEMVEC_MAX_BODY_BYTES); max <= 0 bounds nothing.
func NewBodyBudget(max, limit int64) *BodyBudget {
	return &BodyBudget{max: max, perAddr: max / 4, limit: limit, byAddr: map[netip.Addr]int64{}}
}

// Middleware reserves the request's body in the budget for the rest of the
// chain, or answers 503 {"detail": "..."} when it does not fit. A nil
// budget, or one of no bytes, lets everything through.
func (b *BodyBudget) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if b == nil || b.max <= 0 || r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 ||
			r.Context().Value(bodyReservedKey{}) != nil {
			c.Next()
			return
		}
		limit := b.limit
		if l, ok := c.Get(bodyLimitKey); ok { // the route's (maxBody)
			limit = l.(int64)
		}
		n := r.ContentLength
		if n < 0 || n > limit {
			n = limit
		}
		addr := failAddr(r.RemoteAddr)
		if why := b.reserve(addr, n); why != "" {
			c.Header("Retry-After", "1")
			abortUnread(c, http.StatusServiceUnavailable, why)
			return
		}
		defer b.release(addr, n)
		// An MCP tool call serves its REST request in-process, through
		// this middleware again, with the caller's address and a context
		// derived from this one: its body is built in memory from the
		// /mcp body reserved here, and counting it again would have a
		// tool call refused by its own request (a chunked /mcp body
		// reserves the limit, all of an address's quarter at the
		// smallest budget).
		c.Request = r.WithContext(context.WithValue(r.Context(), bodyReservedKey{}, true))
		c.Next()
	}
}

// bodyReservedKey marks the context of a request whose body holds a
// reservation (Middleware), for the requests served in-process on its
// behalf.
type bodyReservedKey struct{}

// reserve takes n bytes for addr, or says why they do not fit.
func (b *BodyBudget) reserve(addr netip.Addr, n int64) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.held+n > b.max:
		return "Too many request bodies are being received (" + strconv.FormatInt(b.max>>20, 10) + " MiB): retry"
	case b.byAddr[addr]+n > b.perAddr:
		return "Too many request bodies are being received from this address: retry"
	}
	b.held += n
	b.byAddr[addr] += n
	return ""
}

func (b *BodyBudget) release(addr netip.Addr, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= n
	if b.byAddr[addr] -= n; b.byAddr[addr] <= 0 {
		delete(b.byAddr, addr)
	}
}

// Held is what the bodies being received hold in the budget, in bytes.
func (b *BodyBudget) Held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}
