package http

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	pb "github.com/semvec-go/semvec/proto"
)

// mwEngine is a bare gin engine for the middleware tests: JSON 404/405 and
// the given global middleware, nothing else.
func mwEngine(mw ...gin.HandlerFunc) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	_ = r.SetTrustedProxies(nil)
	r.Use(mw...)
	r.NoRoute(func(c *gin.Context) { c.JSON(http.StatusNotFound, gin.H{"detail": "Not Found"}) })
	r.NoMethod(func(c *gin.Context) { c.JSON(http.StatusMethodNotAllowed, gin.H{"detail": "Method Not Allowed"}) })
	return r
}

// mwDo serves one request and returns the recorded response.
func mwDo(h http.Handler, method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, target, nil)
	} else {
		req = httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestRequestID(t *testing.T) {
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	tests := []struct {
		name   string
		header string // "" = not sent
		echo   bool   // want the header echoed back
	}{
		{"absent", "", false},
		{"valid", "req-42.abc_DEF:1", true},
		{"128 chars", strings.Repeat("a", 128), true},
		{"129 chars", strings.Repeat("a", 129), false},
		{"space", "a b", false},
		{"control char", "a\x01b", false},
		{"non-ascii", "caf\xc3\xa9", false},
	}
	r := mwEngine(requestContext(0))
	r.GET("/x", func(c *gin.Context) { c.String(http.StatusOK, RequestIDFrom(c)) })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.header != "" {
				h["X-Request-ID"] = tc.header
			}
			w := mwDo(r, http.MethodGet, "/x", "", h)
			got := w.Header().Get("X-Request-ID")
			if tc.echo {
				if got != tc.header {
					t.Fatalf("X-Request-ID %q, want echo of %q", got, tc.header)
				}
			} else if !generated.MatchString(got) {
				t.Fatalf("X-Request-ID %q, want 16 generated hex digits", got)
			}
			if w.Body.String() != got {
				t.Fatalf("RequestIDFrom %q, header %q", w.Body.String(), got)
			}
		})
	}
	// Generated ids differ.
	a := mwDo(r, http.MethodGet, "/x", "", nil).Header().Get("X-Request-ID")
	b := mwDo(r, http.MethodGet, "/x", "", nil).Header().Get("X-Request-ID")
	if a == b {
		t.Fatalf("two generated ids are equal: %s", a)
	}
	// Also on unmatched routes.
	if got := mwDo(r, http.MethodGet, "/nope", "", nil).Header().Get("X-Request-ID"); !generated.MatchString(got) {
		t.Fatalf("404: X-Request-ID %q", got)
	}
}

func TestRequestIDFromWithoutMiddleware(t *testing.T) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	if id := RequestIDFrom(c); id != "" {
		t.Fatalf("got %q, want empty", id)
	}
}

// Behind the middleware a handler sees the deadline on the standard request
// context, the request id and the caller; the context ends with the request.
func TestRequestContextMiddleware(t *testing.T) {
	r := mwEngine(requestContext(time.Minute), authMiddleware(nil, true))
	var got struct {
		deadline time.Time
		ok       bool
		ginOK    bool
		id       string
		caller   semvec.Caller
		ctx      context.Context
	}
	r.GET("/x", func(c *gin.Context) {
		got.ctx = c.Request.Context()
		got.deadline, got.ok = got.ctx.Deadline()
		_, got.ginOK = c.Deadline()
		got.id, got.caller = RequestIDFrom(c), CallerFrom(c)
		c.Status(http.StatusNoContent)
	})
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set(headerRequestID, "req-42")
	before := time.Now()
	r.ServeHTTP(w, req)
	if w.Code != http.StatusNoContent || !got.ok || !got.ginOK || got.id != "req-42" || w.Header().Get("X-Request-ID") != "req-42" ||
		got.caller.Subject != semvec.AnonymousSubject {
		t.Fatalf("status %d, %+v", w.Code, got)
	}
	if got.deadline.Before(before.Add(time.Minute)) || got.deadline.After(time.Now().Add(time.Minute)) {
		t.Fatalf("deadline %v, want a minute after %v", got.deadline, before)
	}
	if !errors.Is(got.ctx.Err(), context.Canceled) {
		t.Fatalf("the request context must end with the request: %v", got.ctx.Err())
	}

	// No timeout: no deadline of its own.
	r0 := mwEngine(requestContext(0))
	r0.GET("/x", func(c *gin.Context) {
		_, got.ok = c.Request.Context().Deadline()
		c.Status(http.StatusNoContent)
	})
	if mwDo(r0, http.MethodGet, "/x", "", nil); got.ok {
		t.Fatal("no timeout, yet a deadline")
	}
}

// TestRequestDeadline504: past the request deadline (SEMVEC_REQUEST_TIMEOUT)
// an ask of an actor that never answers gives up, and the answer is a JSON
// 504, long before the asker's own timeout.
func TestRequestDeadline504(t *testing.T) {
	sys := actors.NewActorSystem(slog.New(slog.DiscardHandler))
	t.Cleanup(sys.Shutdown)
	silent := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {})) // never replies
	ask := &actors.Asker{Root: sys.Root, Timeout: 10 * time.Second}
	r := mwEngine(requestContext(100*time.Millisecond), errorResponder(slog.New(slog.DiscardHandler)))
	r.GET("/x", func(c *gin.Context) {
		if _, err := actors.Ask[*pb.RunResponse](c.Request.Context(), ask, silent, &pb.RunRequest{}); err != nil {
			fail(c, err)
			return
		}
		c.Status(http.StatusOK)
	})
	start := time.Now()
	w := mwDo(r, http.MethodGet, "/x", "", nil)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %v: the request deadline did not bound the ask", took)
	}
	if w.Code != http.StatusGatewayTimeout || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") ||
		!strings.HasPrefix(w.Body.String(), `{"detail":"`) {
		t.Fatalf("%d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}

	// A request whose deadline has already passed is not sent to the actor.
	r2 := mwEngine(requestContext(time.Nanosecond), errorResponder(slog.New(slog.DiscardHandler)))
	r2.GET("/x", func(c *gin.Context) {
		<-c.Request.Context().Done()
		_, err := actors.Ask[*pb.RunResponse](c.Request.Context(), ask, silent, &pb.RunRequest{})
		fail(c, err)
	})
	w = mwDo(r2, http.MethodGet, "/x", "", nil)
	if want := `{"detail":"request deadline exceeded before the actor was asked"}`; w.Code != http.StatusGatewayTimeout || w.Body.String() != want {
		t.Fatalf("expired: %d %s, want 504 %s", w.Code, w.Body.String(), want)
	}
}

// Over the wire the request id is read and echoed whatever the client's
// spelling of the header name.
func TestRequestIDHeaderSpelling(t *testing.T) {
	r := mwEngine(requestContext(time.Minute))
	r.GET("/x", func(c *gin.Context) { c.String(http.StatusOK, RequestIDFrom(c)) })
	srv := httptest.NewServer(r)
	defer srv.Close()
	for _, name := range []string{"x-request-id", "X-REQUEST-ID", "X-Request-ID", "X-Request-Id"} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header[name] = []string{"rid-" + name} // sent as spelt
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := "rid-" + name; string(body) != want || res.Header.Get("X-Request-ID") != want {
			t.Fatalf("%s: handler saw %q, response header %q, want %q", name, body, res.Header.Get("X-Request-ID"), want)
		}
	}
}
