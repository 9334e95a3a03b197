package http

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A browser on an allowed origin can call the API and /mcp: the preflight
// allows the headers they send (MCP's protocol version among them), and
// the answers expose the headers a client reads (Retry-After,
// RateLimit-Reset, X-Request-ID). Another origin gets no CORS header.
func TestCORS(t *testing.T) {
	s := newEdgeServer(t, 0)
	preflight := func(origin, path, headers string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", headers)
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		return rec
	}
	for _, path := range []string{"/mcp", "/v1/run"} {
		rec := preflight(edgeOrigin, path, "authorization,content-type,mcp-protocol-version")
		allowed := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
		if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != edgeOrigin {
			t.Fatalf("preflight of %s: %d %v", path, rec.Code, rec.Header())
		}
		for _, h := range []string{"authorization", "x-api-key", "content-type", "mcp-protocol-version"} {
			if !strings.Contains(allowed, h) {
				t.Errorf("preflight of %s does not allow %s: %q", path, h, allowed)
			}
		}
	}
	if rec := preflight("https://evil.example", "/mcp", "authorization"); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin: %v", rec.Header())
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/cluster", nil)
	req.Header.Set("Origin", edgeOrigin)
	req.Header.Set("Authorization", "Bearer "+s.tok)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	exposed := strings.ToLower(rec.Header().Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"retry-after", "ratelimit-reset", "x-request-id"} {
		if !strings.Contains(exposed, h) {
			t.Errorf("%s not exposed: %q", h, exposed)
		}
	}
}
