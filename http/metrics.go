package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/semvec-go/semvec/http/api"
)

// Ask outcomes accepted by Metrics.ObserveAsk; anything else is counted as
// AskError so the label set stays bounded.
const (
	AskOK          = "ok"
	AskTimeout     = "timeout"
	AskCanceled    = "canceled" // the client went away before the ask
	AskUnavailable = "unavailable"
	AskError       = "error"
)

// unmatchedEndpoint labels requests that matched no route.
const unmatchedEndpoint = "unmatched"

// otherMethod labels requests whose method is not one of the standard HTTP
// methods: net/http accepts any token as a method, and one label value per
// invented method would let an unauthenticated caller grow the registry
// without bound.
const otherMethod = "OTHER"

// otherStatus labels a status outside 100–599 (never written by this server;
// the label set stays finite whatever a handler does).
const otherStatus = "other"

// methodLabel maps a request method to a fixed set: the standard methods
// (RFC 9110 and PATCH) as themselves, anything else to otherMethod. The
// comparison is exact: methods are case-sensitive, so "get" is not GET.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return otherMethod
}

// statusLabel is the status code in decimal when it is a valid HTTP status
// (100–599), otherStatus otherwise.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return otherStatus
	}
	return strconv.Itoa(code)
}

// latencyBuckets span 0.5 ms to 10 s (a fresh slice per histogram).
func latencyBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}

// Metrics holds the service's Prometheus collectors, all registered on
// Registry (never on the global default registry).
type Metrics struct {
	// Registry is where every collector is registered and what /metrics serves.
	Registry *prometheus.Registry

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	askDuration *prometheus.HistogramVec
	askTotal    *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them, plus the Go runtime
// and process collectors, on reg (a fresh registry when reg is nil):
//
//	semvec_requests_total{method,endpoint,status}
//	semvec_request_duration_seconds{method,endpoint}
//	semvec_actor_ask_duration_seconds{message}
//	semvec_actor_ask_total{message,outcome}
//
// It panics if reg already holds collectors with these names (a wiring bug).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semvec_requests_total",
			Help: "HTTP requests by method, route template and status code.",
		}, []string{"method", "endpoint", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "semvec_request_duration_seconds",
			Help:    "HTTP request latency by method and route template.",
			Buckets: latencyBuckets(),
		}, []string{"method", "endpoint"}),
		askDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "semvec_actor_ask_duration_seconds",
			Help:    "Latency of HTTP-to-actor requests by message type.",
			Buckets: latencyBuckets(),
		}, []string{"message"}),
		askTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semvec_actor_ask_total",
			Help: "HTTP-to-actor requests by message type and outcome (ok, timeout, canceled, unavailable, error).",
		}, []string{"message", "outcome"}),
	}
	reg.MustRegister(
		m.requests, m.duration, m.askDuration, m.askTotal,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Middleware counts and times every request. Every label comes from a fixed
// set: the endpoint is the route template (c.FullPath(), e.g.
// /v1/session/:id/export), or "unmatched" for requests that matched no route,
// so raw ids and invented paths never become label values; the method is a
// standard method or "OTHER"; the status is a code in 100–599. A
// request whose handler panics is counted with status 500 (the panic goes on
// to the recovery middleware). A nil *Metrics records nothing.
func (m *Metrics) Middleware() gin.HandlerFunc {
	if m == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		start := time.Now()
		completed := false
		defer func() {
			endpoint := c.FullPath()
			if endpoint == "" {
				endpoint = unmatchedEndpoint
			}
			status := c.Writer.Status()
			if !completed {
				status = http.StatusInternalServerError
			}
			method := methodLabel(c.Request.Method)
			m.requests.WithLabelValues(method, endpoint, statusLabel(status)).Inc()
			m.duration.WithLabelValues(method, endpoint).Observe(time.Since(start).Seconds())
		}()
		c.Next()
		completed = true
	}
}

// ObserveAsk records one HTTP-to-actor request: message is the message type
// (e.g. "Run"), outcome one of AskOK, AskTimeout, AskCanceled,
// AskUnavailable, AskError.
// Safe on a nil *Metrics.
func (m *Metrics) ObserveAsk(message string, d time.Duration, outcome string) {
	if m == nil {
		return
	}
	switch outcome {
	case AskOK, AskTimeout, AskCanceled, AskUnavailable, AskError:
	default:
		outcome = AskError
	}
	m.askDuration.WithLabelValues(message).Observe(d.Seconds())
	m.askTotal.WithLabelValues(message, outcome).Inc()
}

// Handler serves the registry in the Prometheus text format behind HTTP
// Basic Auth:
//
//	user or password not configured  503 {"detail":"Metrics disabled: set METRICS_USER and METRICS_PASSWORD"}
//	missing or wrong credentials     401 {"detail":"Invalid metrics credentials"} + WWW-Authenticate: Basic realm="metrics"
//
// Both the user and the password are compared in constant time over their
// SHA-256 digests, so neither their content nor their length leaks.
func (m *Metrics) Handler(user, password string) gin.HandlerFunc {
	if user == "" || password == "" || m == nil {
		return func(c *gin.Context) {
			c.AbortWithStatusJSON(http.StatusServiceUnavailable,
				api.Error{Detail: "Metrics disabled: set METRICS_USER and METRICS_PASSWORD"})
		}
	}
	wantUser := sha256.Sum256([]byte(user))
	wantPass := sha256.Sum256([]byte(password))
	prom := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
	return func(c *gin.Context) {
		u, p, ok := c.Request.BasicAuth()
		gotUser := sha256.Sum256([]byte(u))
		gotPass := sha256.Sum256([]byte(p))
		// Evaluate both comparisons: no short-circuit on the user name.
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			c.Header("WWW-Authenticate", `Basic realm="metrics"`)
			abortUnread(c, http.StatusUnauthorized, "Invalid metrics credentials")
			return
		}
		prom.ServeHTTP(c.Writer, c.Request)
	}
}
