// Package http is the Gin edge of semvec-go: routing, middleware (request id,
// metrics, auth, rate limit, errors) and the handlers that turn REST calls
// into actor requests. It imports net/http inside; callers alias it apihttp.
package http

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/http/api"
	"github.com/semvec-go/semvec/http/license"
	mcphttp "github.com/semvec-go/semvec/http/mcp"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// Pinger is what readiness needs from the database.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is everything the HTTP layer talks to.
type Deps struct {
	Log             *slog.Logger
	Verifier        *license.Verifier // nil only with Anonymous
	Anonymous       bool
	MetricsUser     string
	MetricsPassword string
	CORSOrigins     []string
	MaxBodyBytes    int64 // 413 above this; default 4 MiB
	Embedder        embed.Embedder
	Reranker        *embed.Reranker // nil: no reranking (SEMVEC_RERANKER_URL unset)
	Sessions        *actors.Sessions
	Layers          *actors.Layers // clusters, regions, observer, network; nil disables those routes
	DB              Pinger
	Metrics         *Metrics
	Limiter         *RateLimiter
	ActorsUp        func() bool // false once shutdown began
	// Cluster reports cluster membership for readiness: how many members
	// this node sees and whether it is one of them. nil in single-node
	// mode.
	Cluster func() (members int, self bool)
	// RequestTimeout is every request's deadline; actor asks never outlive
	// it. 0 means none.
	RequestTimeout time.Duration
	// AuthFailures limits failed authentication per client address (on
	// /v1 and /metrics); nil means NewAuthFailureLimiter(nil). It is always
	// on: only a test may need another budget.
	AuthFailures *AuthFailureLimiter
	// Bodies bounds the request bodies being received at once (on /v1 and
	// /mcp, once authenticated); nil means DefaultBodyBudgetBytes.
	Bodies *BodyBudget
}

// DefaultBodyBudgetBytes is the default of Deps.Bodies
// (SEMVEC_MAX_BODY_MEMORY_MB).
const DefaultBodyBudgetBytes = 256 << 20

// Request size limits. A request line or headers beyond MaxURIBytes /
// MaxHeaderBytes are refused with a JSON 414 / 431 by the first middleware;
// HeaderBackstopBytes is the http.Server's MaxHeaderBytes (request line and
// headers together), the hard limit past which net/http itself answers a
// plain-text 431 and closes the connection before any handler runs. It must
// stay above the two limits together so that every request that merely
// exceeds them gets the JSON answer, and no higher: it is also what one
// connection may make net/http hold while its header arrives (for up to
// the 10 s header timeout), without a token, on every connection
// SEMVEC_MAX_CONNECTIONS allows. At 256 KiB, 1,000 connections sending
// 250 KB of header each and not its end grew the server's RSS by 290 MB
// (2.9 GB at the default 10,000 connections); at 64 KiB, by 84 MB.
const (
	MaxURIBytes         = 8 << 10
	MaxHeaderBytes      = 32 << 10
	HeaderBackstopBytes = 64 << 10
)

// Server holds the handlers' dependencies.
type Server struct {
	d Deps
	specCache
}

// importLimit is the body limit of an import: the longest state_dict an
// import takes (actors.Sessions.ImportBound) and its envelope, never less
// than MaxBodyBytes, but not more than one address may hold in the body
// budget, or such an import would wait for room forever.
func importLimit(d Deps) int64 {
	limit := d.MaxBodyBytes
	if d.Sessions != nil {
		limit = max(limit, d.Sessions.ImportBound()+importEnvelopeBytes)
	}
	if q := d.Bodies.perAddr; d.Bodies.max > 0 && limit > q {
		limit = max(q, d.MaxBodyBytes)
	}
	return limit
}

// importEnvelopeBytes is room for what an import body holds besides its
// state_dict (the checksum, the keys).
const importEnvelopeBytes = 64 << 10

// New builds the Gin engine with every route of the semvec /v1 API.
func New(d Deps) *gin.Engine {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 4 << 20
	}
	if d.ActorsUp == nil {
		d.ActorsUp = func() bool { return true }
	}
	if d.AuthFailures == nil {
		d.AuthFailures = NewAuthFailureLimiter(nil)
	}
	if d.Bodies == nil {
		d.Bodies = NewBodyBudget(DefaultBodyBudgetBytes, d.MaxBodyBytes)
	}
	registerValidators()
	s := &Server{d: d}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	// Never answer with a redirect: a client that normalises a path (…/..,
	// a trailing or doubled slash) must get a 404 or 405 for what it sent,
	// not be sent on to another resource with its method and body (307) —
	// a DELETE of …/session/{id}/ must not become a DELETE of the session.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.RemoveExtraSlash = false
	// ClientIP is the TCP peer: no forwarding header is trusted.
	_ = r.SetTrustedProxies(nil)
	r.ForwardedByClientIP = false
	r.Use(requestContext(d.RequestTimeout), recovery(d.Log), d.Metrics.Middleware(), hangUpUnread(), errorResponder(d.Log),
		requestLimits(MaxURIBytes, MaxHeaderBytes), validText(), cors(d.CORSOrigins), maxBody(bodyLimits{normal: d.MaxBodyBytes, importing: importLimit(d)}))
	r.NoRoute(func(c *gin.Context) { abortUnread(c, http.StatusNotFound, "Not Found") })
	r.NoMethod(func(c *gin.Context) { abortUnread(c, http.StatusMethodNotAllowed, "Method Not Allowed") })

	r.GET("/v1/health", s.health)
	r.GET("/v1/readyz", s.readyz)
	// A licence token the verifier caches passes an address out of its
	// failure budget; a /metrics password never does (it can be guessed).
	knownToken := func(req *http.Request) bool { return d.Verifier != nil && d.Verifier.Known(tokenFrom(req)) }
	r.GET("/metrics", d.AuthFailures.Middleware(nil), d.Metrics.Handler(d.MetricsUser, d.MetricsPassword))
	r.GET("/openapi.json", s.openapi)

	v1 := r.Group("/v1", d.AuthFailures.Middleware(knownToken), authMiddleware(d.Verifier, d.Anonymous), d.Limiter.Middleware(), d.Bodies.Middleware())
	s.sessionRoutes(v1)
	if d.Layers != nil {
		s.layerRoutes(v1)
	}
	// MCP over streamable HTTP, behind the same auth and limits as /v1; its
	// tools call the /v1 routes through r with the caller's credentials. A
	// batch (at most mcphttp.MaxBatch messages) costs a request of the
	// caller's budget per message: the limiter spends the first, and the
	// handler has charge spend the rest once it has read the batch.
	mcp := mcphttp.Handler(r, d.Embedder, d.Anonymous, nil)
	r.POST("/mcp", d.AuthFailures.Middleware(knownToken), authMiddleware(d.Verifier, d.Anonymous), d.Limiter.Middleware(), d.Bodies.Middleware(),
		func(c *gin.Context) {
			mcp.ServeHTTP(c.Writer, mcphttp.WithCharge(c.Request, func(n int) bool { return d.Limiter.charge(c, n) }))
		})
	return r
}

func (s *Server) health(c *gin.Context) {
	c.JSON(http.StatusOK, api.Health{Status: "ok", ActiveSessions: s.d.Sessions.Active(), Version: semvec.Version})
}

// readyz answers 200 when the database answers, the actor system is up and,
// in cluster mode, this node is in the cluster's member list.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := api.ReadinessChecks{Database: "ok", Actors: "ok", Embedder: s.d.Embedder.Name(), Cluster: "off"}
	ready := true
	if s.d.Cluster != nil {
		n, self := s.d.Cluster()
		checks.Cluster, checks.ClusterMembers = "ok", n
		if !self {
			checks.Cluster = "unavailable"
			ready = false
		}
	}
	if err := s.d.DB.Ping(ctx); err != nil {
		checks.Database = "unavailable"
		ready = false
	}
	if p, ok := s.d.Embedder.(interface{ Ping(context.Context) error }); ok {
		if err := p.Ping(ctx); err != nil {
			checks.Embedder = "unavailable"
			ready = false
		}
	}
	if !s.d.ActorsUp() {
		checks.Actors = "stopping"
		ready = false
	}
	if !ready {
		c.JSON(http.StatusServiceUnavailable, api.Readiness{Detail: "Not ready", Status: "unavailable", Checks: checks})
		return
	}
	c.JSON(http.StatusOK, api.Readiness{Status: "ready", Checks: checks})
}

// requestLimits refuses a request whose request-target is longer than
// maxURI bytes (414) or whose header fields (names, values and the Host
// line, counted as they appear on the wire) exceed maxHeader bytes (431),
// with the usual JSON detail and without reading the body. net/http's own
// limit (HeaderBackstopBytes, 64 KiB) is above the two together and stops
// what no request within them could hold.
func requestLimits(maxURI, maxHeader int) gin.HandlerFunc {
	uriDetail := detailURITooLong + ": at most " + strconv.Itoa(maxURI) + " bytes"
	headerDetail := detailHeadersTooBig + ": at most " + strconv.Itoa(maxHeader) + " bytes"
	return func(c *gin.Context) {
		r := c.Request
		if len(r.RequestURI) > maxURI || (r.RequestURI == "" && len(r.URL.RequestURI()) > maxURI) {
			abortUnread(c, http.StatusRequestURITooLong, uriDetail)
			return
		}
		n := len("Host: \r\n") + len(r.Host)
		for name, values := range r.Header {
			for _, v := range values {
				n += len(name) + len(": \r\n") + len(v)
			}
		}
		if n > maxHeader {
			abortUnread(c, http.StatusRequestHeaderFieldsTooLarge, headerDetail)
			return
		}
		c.Next()
	}
}

// validText reads path parameters and the query string as Starlette does:
// percent-escapes that do not decode to UTF-8 become U+FFFD. (JSON bodies
// already do: encoding/json replaces invalid UTF-8 the same way.) Text that
// is not UTF-8 cannot be stored or logged (protobuf refuses to encode it).
func validText() gin.HandlerFunc {
	return func(c *gin.Context) {
		for i, p := range c.Params {
			c.Params[i].Value = strings.ToValidUTF8(p.Value, "\uFFFD")
		}
		if q := c.Request.URL.RawQuery; q != "" {
			// ParseQuery keeps the well-formed pairs of a query with a
			// malformed one (%zz, a ';'), as URL.Query does for the handlers.
			if values, _ := url.ParseQuery(q); !utf8Values(values) {
				for k, vs := range values {
					for i, v := range vs {
						vs[i] = strings.ToValidUTF8(v, "\uFFFD")
					}
					if fixed := strings.ToValidUTF8(k, "\uFFFD"); fixed != k {
						delete(values, k)
						values[fixed] = append(values[fixed], vs...)
					}
				}
				c.Request.URL.RawQuery = values.Encode()
			}
		}
		c.Next()
	}
}

// utf8Values reports whether every key and value is valid UTF-8.
func utf8Values(values url.Values) bool {
	for k, vs := range values {
		if !utf8.ValidString(k) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return false
			}
		}
	}
	return true
}

// cors allows the listed origins ("*" allows any). Preflight requests are
// answered here, before authentication.
func cors(origins []string) gin.HandlerFunc {
	anyOrigin := slices.Contains(origins, "*")
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin == "" || len(origins) == 0 || (!anyOrigin && !slices.Contains(origins, origin)) {
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, X-API-Key, Content-Type, X-Request-ID, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After, RateLimit-Reset, Mcp-Session-Id")
		c.Next()
	}
}

// owner is the licence subject that owns what the request touches.
func owner(c *gin.Context) string { return CallerFrom(c).Subject }

// embedTexts embeds texts on the request goroutine (never inside an actor);
// an embedder outage is a 503 and nothing has been changed yet.
func (s *Server) embedTexts(c *gin.Context, texts ...string) ([][]float32, bool) {
	vecs, err := s.d.Embedder.Embed(c.Request.Context(), texts)
	if err != nil {
		if semvec.KindOf(err) == semvec.KindInternal {
			err = semvec.Wrap(semvec.KindUnavailable, err, "embedder unavailable")
		}
		fail(c, err)
		return nil, false
	}
	return vecs, true
}
