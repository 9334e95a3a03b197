// Package http is the Gin edge of semvec-go: routing, middleware (request id,
// metrics, auth, rate limit, errors) and the handlers that turn REST calls
// into actor requests. It imports net/http inside; callers alias it apihttp.
package http

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/http/license"
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
	Sessions        *actors.Sessions
	Layers          *actors.Layers // clusters, regions, observer, network; nil disables those routes
	DB              Pinger
	Metrics         *Metrics
	Limiter         *RateLimiter
	ActorsUp        func() bool // false once shutdown began
	// RequestTimeout is every request's deadline; actor asks never outlive
	// it. 0 means none.
	RequestTimeout time.Duration
}

// Server holds the handlers' dependencies.
type Server struct {
	d    Deps
	fast fastPools // buffers of the /v1/run and /v1/store fast paths
	specCache
}

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
	registerValidatorTagNames()
	s := &Server{d: d}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	_ = r.SetTrustedProxies(nil)
	r.Use(requestContext(d.RequestTimeout), recovery(d.Log), d.Metrics.Middleware(), errorResponder(d.Log), cors(d.CORSOrigins), maxBody(d.MaxBodyBytes))
	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"detail": "Not Found"}) })
	r.NoMethod(func(c *gin.Context) { c.JSON(http.StatusMethodNotAllowed, gin.H{"detail": "Method Not Allowed"}) })

	r.GET("/v1/health", s.health)
	r.GET("/v1/readyz", s.readyz)
	r.GET("/metrics", d.Metrics.Handler(d.MetricsUser, d.MetricsPassword))
	r.GET("/openapi.json", s.openapi)

	v1 := r.Group("/v1", authMiddleware(d.Verifier, d.Anonymous), d.Limiter.Middleware())
	s.sessionRoutes(v1)
	if d.Layers != nil {
		s.layerRoutes(v1)
	}
	return r
}

func (s *Server) health(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok", "active_sessions": s.d.Sessions.Active(), "version": semvec.Version})
}

// readyz answers 200 when the database answers and the actor system is up.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := gin.H{"database": "ok", "actors": "ok", "embedder": s.d.Embedder.Name()}
	ready := true
	if err := s.d.DB.Ping(ctx); err != nil {
		checks["database"] = "unavailable"
		ready = false
	}
	if p, ok := s.d.Embedder.(interface{ Ping(context.Context) error }); ok {
		if err := p.Ping(ctx); err != nil {
			checks["embedder"] = "unavailable"
			ready = false
		}
	}
	if !s.d.ActorsUp() {
		checks["actors"] = "stopping"
		ready = false
	}
	if !ready {
		c.JSON(http.StatusServiceUnavailable, gin.H{"detail": "Not ready", "status": "unavailable", "checks": checks})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": checks})
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
			h.Set("Access-Control-Allow-Headers", "Authorization, X-API-Key, Content-Type, X-Request-ID")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
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

func blank(s string) bool { return strings.TrimSpace(s) == "" }
