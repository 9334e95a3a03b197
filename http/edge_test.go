package http

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/actors/actortest"
	"github.com/semvec-go/semvec/http/license"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// Whole-server tests of the edge: what a caller without credentials, or with
// invented methods, paths and oversized requests, can do. The engine runs
// over real actors and SQLite in t.TempDir(), behind a real net/http server
// on loopback where the wire matters.

const (
	edgeMetricsUser = "prom"
	edgeMetricsPass = "scrape-secret"
)

type edgeServer struct {
	t       *testing.T
	h       http.Handler
	priv    ed25519.PrivateKey
	tok     string // enterprise tier: never rate limited
	metrics *Metrics
	fails   *AuthFailureLimiter
	clock   *mwClock
}

// newEdgeServer builds the whole engine; maxBody 0 keeps the default. The
// rate limiter and the failed-authentication limiter run on s.clock.
func newEdgeServer(t *testing.T, maxBody int64) *edgeServer {
	t.Helper()
	return newEdgeServerWith(t, maxBody, nil)
}

// newEdgeServerWith is newEdgeServer with its Deps changed by with (nil:
// as they are) before the handler is built.
func newEdgeServerWith(t *testing.T, maxBody int64, with func(*Deps)) *edgeServer {
	t.Helper()
	gin.SetMode(gin.TestMode)
	log := slog.New(slog.DiscardHandler)
	emb := embed.NewHashing(384)
	st := actortest.New(t, actortest.Options{Session: actors.SessionConfig{Dim: emb.Dim(), ModelName: emb.Name()}, Log: log})
	store, sessions, layers := st.Store, st.Sessions, st.Layers
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &edgeServer{t: t, priv: priv, metrics: NewMetrics(prometheus.NewRegistry()), clock: newMWClock()}
	s.fails = NewAuthFailureLimiter(s.clock.Now)
	s.tok = s.issue("edge", semvec.TierEnterprise, time.Hour)
	d := Deps{
		Log: log, Verifier: license.NewVerifier([]ed25519.PublicKey{pub}), Embedder: emb,
		Sessions: sessions, Layers: layers, DB: store, MaxBodyBytes: maxBody,
		MetricsUser: edgeMetricsUser, MetricsPassword: edgeMetricsPass,
		Metrics: s.metrics, Limiter: NewRateLimiter(s.clock.Now), AuthFailures: s.fails,
		CORSOrigins: []string{edgeOrigin},
	}
	if with != nil {
		with(&d)
	}
	s.h = New(d)
	return s
}

// edgeOrigin is the one browser origin the edge server allows (CORS).
const edgeOrigin = "https://app.example"

func (s *edgeServer) issue(sub string, tier semvec.Tier, ttl time.Duration) string {
	s.t.Helper()
	return s.issueAt(sub, tier, ttl, time.Now())
}

func (s *edgeServer) issueAt(sub string, tier semvec.Tier, ttl time.Duration, now time.Time) string {
	s.t.Helper()
	tok, err := license.Issue(s.priv, sub, tier, ttl, now)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// listen serves the engine on loopback with the production server's limits
// (cmd/semvec/serve.go) and returns its address.
func (s *edgeServer) listen() string {
	s.t.Helper()
	ts := httptest.NewUnstartedServer(s.h)
	ts.Config.ReadHeaderTimeout = 10 * time.Second
	ts.Config.ReadTimeout = 60 * time.Second
	ts.Config.MaxHeaderBytes = HeaderBackstopBytes
	ts.Start()
	s.t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

// serve sends one in-process request from remote (host:port; "" keeps
// httptest's 192.0.2.1:1234) with token tok ("" for none).
func (s *edgeServer) serve(method, target, remote, tok, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if remote != "" {
		req.RemoteAddr = remote
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

// mustJSON decodes rec's body and fails unless it is a JSON object.
func edgeJSON(t *testing.T, what string, contentType string, body []byte) map[string]any {
	t.Helper()
	if !strings.HasPrefix(contentType, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json (body %q)", what, contentType, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("%s: body %q is not a JSON object: %v", what, body, err)
	}
	return m
}

// edgeDetail fails unless the answer is JSON {"detail": "<non-empty string>"}.
func edgeDetail(t *testing.T, what string, contentType string, body []byte) string {
	t.Helper()
	m := edgeJSON(t, what, contentType, body)
	d, ok := m["detail"].(string)
	if !ok || d == "" {
		t.Errorf("%s: body %q has no string detail", what, body)
	}
	return d
}

// rawResponse is one answer read off a raw connection.
type rawResponse struct {
	resp *http.Response
	body []byte
}

// rawExchange opens a connection to addr, writes head (the request line and
// headers, without the blank line that ends them, which it adds) and then
// only what body holds, and reads one response. The connection's deadline
// only keeps a broken server from hanging the test: the point is that the
// answer comes while the announced body has not been sent.
func rawExchange(t *testing.T, addr, head, body string) (rawResponse, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // the server waits up to 60 s
	if _, err := io.WriteString(conn, head+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer while the announced body was not sent: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	_ = resp.Body.Close()
	return rawResponse{resp: resp, body: b}, conn
}
