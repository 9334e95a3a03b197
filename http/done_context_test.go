package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A request whose context is already done when its handler asks the
// session layer keeps its status now that the Go API says "nothing was
// sent" for it (actors.Sessions.Create, actors.AskSession): a client that
// went away is still logged as 499, and a request past its deadline is
// still a 504 with Retry-After.
func TestADoneRequestContextKeepsItsStatus(t *testing.T) {
	s := newEdgeServer(t, 0)
	rec := s.serve(http.MethodPost, "/v1/session/create", "", s.tok, `{}`)
	var created struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &created); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		ctx    context.Context
		method string
		target string
		body   string
		want   int
	}{
		{canceled, http.MethodPost, "/v1/session/create", `{}`, 499},
		{canceled, http.MethodGet, "/v1/metrics/" + created.SessionID, "", 499},
		{expired, http.MethodGet, "/v1/metrics/" + created.SessionID, "", http.StatusGatewayTimeout},
	} {
		req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body)).WithContext(tc.ctx)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.tok)
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s with a done context (%v): %d %s, want %d", tc.method, tc.target, tc.ctx.Err(), rec.Code, rec.Body, tc.want)
		}
		if tc.want == http.StatusGatewayTimeout && rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s %s: 504 without Retry-After", tc.method, tc.target)
		}
	}
}
