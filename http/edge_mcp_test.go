package http

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	mcphttp "github.com/semvec-go/semvec/http/mcp"
	"github.com/semvec-go/semvec/http/openapitest"
)

// edgeMCP posts body to addr's /mcp as an MCP client would, with token tok
// ("" for none), and checks the answer against the served /openapi.json
// (v nil: not checked).
func edgeMCP(t *testing.T, v *openapitest.Validator, addr, tok, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return res.StatusCode, res.Header, raw
	}
	if err := v.Check(req, res.StatusCode, res.Header, raw); err != nil {
		t.Errorf("not as /openapi.json says: %v", err)
	}
	return res.StatusCode, res.Header, raw
}

// toolsListMsg is one tools/list request, id 9.
const toolsListMsg = `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`

// TestMCPMalformedBodiesBehindTheEdge: on the whole server, /mcp answers a
// body that is not JSON-RPC with a JSON-RPC error (400, id null), but only
// once the caller is authenticated: without a token, with a bad or an
// expired one, the REST refusal (401, 402, {"detail"}) comes first, and a
// body over the limit is still a 413 {"detail"}, declared or chunked. A
// valid request works after them all; every answer is as /openapi.json
// says.
func TestMCPMalformedBodiesBehindTheEdge(t *testing.T) {
	s := newEdgeServer(t, 64<<10)
	addr := s.listen()
	v, err := openapitest.Fetch(t.Context(), http.DefaultClient, "http://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	expired := s.issueAt("edge", semvec.TierEnterprise, time.Hour, time.Now().Add(-2*time.Hour))

	for _, tc := range []struct {
		name, tok string
		want      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"bad token", "not.a.token", http.StatusUnauthorized},
		{"expired token", expired, http.StatusPaymentRequired},
	} {
		status, h, body := edgeMCP(t, v, addr, tc.tok, "nonsense")
		if status != tc.want {
			t.Errorf("%s: status %d, want %d: %s", tc.name, status, tc.want, body)
		}
		edgeDetail(t, tc.name, h.Get("Content-Type"), body)
	}

	for _, tc := range []struct {
		name, body string
		code       float64
		id         any
	}{
		{"not JSON", "nonsense", -32700, nil},
		{"cut short", `{"jsonrpc":"2.0","id":1,"method":"tools/list"`, -32700, nil},
		{"empty array", `[]`, -32600, nil},
		{"empty object", `{}`, -32600, nil},
		{"number", `42`, -32600, nil},
		{"no method", `{"jsonrpc":"2.0","id":1,"params":{}}`, -32600, nil},
		{"unknown method", `{"jsonrpc":"2.0","id":5,"method":"no/such"}`, -32601, 5.0},
	} {
		status, h, body := edgeMCP(t, v, addr, s.tok, tc.body)
		if status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", tc.name, status, body)
		}
		m := edgeJSON(t, tc.name, h.Get("Content-Type"), body)
		e, _ := m["error"].(map[string]any)
		if id, ok := m["id"]; m["jsonrpc"] != "2.0" || e == nil || e["code"] != tc.code || !ok || id != tc.id {
			t.Errorf("%s: %s, want a JSON-RPC error %v with id %v", tc.name, body, tc.code, tc.id)
		}
	}

	declared := "POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nAuthorization: Bearer " + s.tok
	over := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"pad":"` + strings.Repeat("p", 70000) + `"}}`
	for _, tc := range []struct{ name, head, body string }{
		{"declared body over the limit", declared + "\r\nContent-Length: " + strconv.Itoa(len(over)), ""},
		{"chunked body over the limit", declared + "\r\nTransfer-Encoding: chunked", strconv.FormatInt(int64(len(over)), 16) + "\r\n" + over + "\r\n0\r\n\r\n"},
	} {
		r, _ := rawExchange(t, addr, tc.head, tc.body)
		if r.resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d, want 413: %.200s", tc.name, r.resp.StatusCode, r.body)
		}
		edgeDetail(t, tc.name, r.resp.Header.Get("Content-Type"), r.body)
	}

	status, _, body := edgeMCP(t, v, addr, s.tok, toolsListMsg)
	var list struct {
		ID     int                   `json:"id"`
		Result struct{ Tools []any } `json:"result"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil || list.ID != 9 || len(list.Result.Tools) == 0 {
		t.Fatalf("tools/list after the errors: %d %.300s", status, body)
	}
}

// edgeBatch is a JSON-RPC batch of n tools/list requests (ids 1 to n).
func edgeBatch(n int) string {
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = `{"jsonrpc":"2.0","id":` + strconv.Itoa(i+1) + `,"method":"tools/list"}`
	}
	return "[" + strings.Join(msgs, ",") + "]"
}

// TestMCPBatchesBehindTheEdge: on the whole server, a batch of
// mcphttp.MaxBatch messages is served; one more is a 400 with a JSON-RPC
// -32600 error (id null) and none of it runs (its tool calls create no
// session), as is the outside tester's body of 10,000 tools/list requests.
// A community caller pays a token per message of a batch: after batches
// that cost its whole burst, a batch finds the bucket short and gets the
// usual 429 with nothing served; refilled, a batch of exactly the tokens
// held is served and the next request is refused. Single messages cost one
// token, as before.
func TestMCPBatchesBehindTheEdge(t *testing.T) {
	s := newEdgeServer(t, 0)
	addr := s.listen()
	v, err := openapitest.Fetch(t.Context(), http.DefaultClient, "http://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	com := s.issue("batcher", semvec.TierCommunity, time.Hour) // 5/s, burst 50; the clock stands still
	const full = mcphttp.MaxBatch

	served := func(what, tok string, n int) {
		t.Helper()
		status, _, body := edgeMCP(t, v, addr, tok, edgeBatch(n))
		var answers []struct {
			ID     int                   `json:"id"`
			Result struct{ Tools []any } `json:"result"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &answers) != nil || len(answers) != n {
			t.Fatalf("%s: %d %.300s, want %d answers", what, status, body, n)
		}
		seen := map[int]bool{}
		for _, a := range answers { // in any order
			if a.ID < 1 || a.ID > n || seen[a.ID] || len(a.Result.Tools) == 0 {
				t.Fatalf("%s: an answer with id %d and %d tools", what, a.ID, len(a.Result.Tools))
			}
			seen[a.ID] = true
		}
	}
	overLimit := func(what, tok, body string) {
		t.Helper()
		status, h, raw := edgeMCP(t, v, addr, tok, body)
		m := edgeJSON(t, what, h.Get("Content-Type"), raw)
		e, _ := m["error"].(map[string]any)
		if id, ok := m["id"]; status != http.StatusBadRequest || m["jsonrpc"] != "2.0" || e == nil || e["code"] != -32600.0 || !ok || id != nil {
			t.Fatalf("%s: %d %.300s, want 400 with a JSON-RPC -32600 error, id null", what, status, raw)
		}
	}
	rateLimited := func(what, tok, body string) {
		t.Helper()
		status, h, raw := edgeMCP(t, v, addr, tok, body)
		if status != http.StatusTooManyRequests || h.Get("Retry-After") != "60" || h.Get("RateLimit-Reset") == "" {
			t.Fatalf("%s: %d %v %.300s, want 429 with Retry-After 60 and RateLimit-Reset", what, status, h, raw)
		}
		if d := edgeDetail(t, what, h.Get("Content-Type"), raw); !strings.HasPrefix(d, "Rate limit exceeded: community tier") {
			t.Fatalf("%s: detail %q", what, d)
		}
	}
	activeSessions := func() float64 {
		t.Helper()
		rec := s.serve(http.MethodGet, "/v1/health", "", "", "")
		return edgeJSON(t, "health", rec.Header().Get("Content-Type"), rec.Body.Bytes())["active_sessions"].(float64)
	}

	// None of a batch over the limit runs: tool calls that would each
	// create a session create none (enterprise: no rate limit in the way).
	create := func(n int) string {
		msgs := make([]string, n)
		for i := range msgs {
			msgs[i] = `{"jsonrpc":"2.0","id":` + strconv.Itoa(i+1) + `,"method":"tools/call","params":{"name":"session_create","arguments":{}}}`
		}
		return "[" + strings.Join(msgs, ",") + "]"
	}
	before := activeSessions()
	overLimit("tool calls, one over", s.tok, create(full+1))
	if got := activeSessions(); got != before {
		t.Fatalf("a refused batch created %v sessions", got-before)
	}
	if status, _, body := edgeMCP(t, v, addr, s.tok, create(2)); status != http.StatusOK || activeSessions() != before+2 {
		t.Fatalf("a batch of two session_create: %d %.300s, %v sessions more, want 2", status, body, activeSessions()-before)
	}

	// The community caller's burst of 50: 16 + 1 (a refused batch costs its
	// first token) + 16 + 16 = 49.
	served("a full batch", com, full)
	overLimit("one over", com, edgeBatch(full+1))
	served("a second full batch", com, full)
	served("a third full batch", com, full)
	// One token left: a batch of two gets past the middleware with it and
	// finds none for its second message. Were a batch one token, 46 would
	// be left.
	rateLimited("a batch of two with one token left", com, edgeBatch(2))
	rateLimited("a single request with none left", com, toolsListMsg)

	// Refilled with 5 tokens: a batch of 5 takes them all.
	s.clock.Advance(time.Second)
	served("a batch of the tokens held", com, 5)
	rateLimited("a single request after it", com, toolsListMsg)

	// Single messages cost one token each.
	s.clock.Advance(time.Second)
	for i := range 5 {
		if status, _, body := edgeMCP(t, v, addr, com, toolsListMsg); status != http.StatusOK {
			t.Fatalf("single request %d of 5: %d %.300s", i+1, status, body)
		}
	}
	rateLimited("a sixth single request", com, toolsListMsg)

	// The outside tester's body: 10,000 tools/list requests (~500 KB) are a
	// 400 like any batch over the limit, for the one token of the request.
	var flood strings.Builder
	flood.WriteString("[")
	for i := range 10_000 {
		if i > 0 {
			flood.WriteString(",")
		}
		flood.WriteString(`{"jsonrpc":"2.0","id":` + strconv.Itoa(i) + `,"method":"tools/list"}`)
	}
	flood.WriteString("]")
	s.clock.Advance(time.Second)
	overLimit("10,000 messages", com, flood.String())
	served("a batch of the 4 tokens left", com, 4)
	rateLimited("after the flood and a batch of 4", com, toolsListMsg)
}

// TestMCPNotificationsBehindTheEdge: a notification, alone or in a batch of
// notifications, is accepted with 202 and no body, as the MCP transport
// says; a batch mixing requests and notifications answers the requests
// only. Every answer is as /openapi.json says.
func TestMCPNotificationsBehindTheEdge(t *testing.T) {
	s := newEdgeServer(t, 0)
	addr := s.listen()
	v, err := openapitest.Fetch(t.Context(), http.DefaultClient, "http://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	const note = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	for what, body := range map[string]string{"one notification": note, "a batch of notifications": "[" + note + "," + note + "]"} {
		if status, _, raw := edgeMCP(t, v, addr, s.tok, body); status != http.StatusAccepted || len(raw) != 0 {
			t.Errorf("%s: %d %.200q, want 202 without a body", what, status, raw)
		}
	}
	status, _, raw := edgeMCP(t, v, addr, s.tok, "["+note+","+toolsListMsg+"]")
	var answers []struct {
		ID int `json:"id"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &answers) != nil || len(answers) != 1 || answers[0].ID != 9 {
		t.Errorf("a request and a notification: %d %.200s, want the request's answer alone", status, raw)
	}
}
