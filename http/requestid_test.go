package http

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
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
