package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// restStub stands in for the REST engine behind the tools: it creates
// session s-1 and knows nothing else.
func restStub() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost && r.URL.Path == "/v1/session/create" {
			_, _ = io.WriteString(w, `{"session_id":"s-1"}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"detail":"Not Found"}`)
	})
}

// mcpAnswer is one answer of /mcp.
type mcpAnswer struct {
	status int
	header http.Header
	body   []byte
	reused bool // it came over a connection an earlier request used
}

// postMCP sends body to the MCP endpoint url as an MCP client would (JSON,
// accepting JSON and event streams), with header's extra name/value pairs.
func postMCP(t *testing.T, c *http.Client, url, body string, header ...string) mcpAnswer {
	t.Helper()
	var a mcpAnswer
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { a.reused = i.Reused }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if a.body, err = io.ReadAll(res.Body); err != nil {
		t.Fatal(err)
	}
	a.status, a.header = res.StatusCode, res.Header
	return a
}

// rpcErrorOf fails unless a is a JSON-RPC 2.0 error response with code, id
// (its JSON text: "null" for null) and a message.
func rpcErrorOf(t *testing.T, what string, a mcpAnswer, code int64, id string) {
	t.Helper()
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var r struct {
		JSONRPC string           `json:"jsonrpc"`
		ID      json.RawMessage  `json:"id"`
		Result  json.RawMessage  `json:"result"`
		Error   *jsonrpc.Error   `json:"error"`
		Detail  *json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(a.body, &r); err != nil {
		t.Errorf("%s: %.300s is not a JSON object: %v", what, a.body, err)
		return
	}
	switch {
	case r.JSONRPC != "2.0" || r.Error == nil || r.Result != nil || r.Detail != nil:
		t.Errorf("%s: %.300s is not a JSON-RPC 2.0 error response", what, a.body)
	case r.Error.Code != code:
		t.Errorf("%s: error code %d, want %d: %s", what, r.Error.Code, code, a.body)
	case string(r.ID) != id: // a missing id is "", not "null"
		t.Errorf("%s: id %q, want %s: %s", what, r.ID, id, a.body)
	case r.Error.Message == "":
		t.Errorf("%s: no message: %s", what, a.body)
	}
}

const toolsList = `{"jsonrpc":"2.0","id":100,"method":"tools/list"}`

// wantToolsList fails unless a is the answer to toolsList.
func wantToolsList(t *testing.T, what string, a mcpAnswer) {
	t.Helper()
	var r struct {
		ID     int `json:"id"`
		Result struct {
			Tools []struct{ Name string } `json:"tools"`
		} `json:"result"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &r) != nil || r.ID != 100 || len(r.Result.Tools) != 10 {
		t.Errorf("%s: tools/list answered %d %.300s", what, a.status, a.body)
	}
}

// TestMCPJSONRPCErrors: over real HTTP, a body that is not JSON is answered
// with a JSON-RPC -32700 error, a JSON value that is not a JSON-RPC message
// with -32600, both with id null; a method the SDK does not serve with
// -32601 and the request's id (null for a notification); a message the SDK
// refuses otherwise with -32600. Each is HTTP 400 (404 for an unknown method
// in the 2026-07-28 protocol, the SDK's own answer), and after each the same
// connection, and an MCP client session opened before them all, still serve
// valid requests.
func TestMCPJSONRPCErrors(t *testing.T) {
	srv := httptest.NewServer(Handler(restStub(), nil, false, nil))
	t.Cleanup(srv.Close)
	c := srv.Client()

	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil).
		Connect(t.Context(), &sdk.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: c, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })

	const parse, invalid, notFound = jsonrpc.CodeParseError, jsonrpc.CodeInvalidRequest, jsonrpc.CodeMethodNotFound
	for _, tc := range []struct {
		name, body string
		header     []string
		status     int
		code       int64
		id         string
	}{
		{"not JSON", "nonsense", nil, 400, parse, "null"},
		{"cut short", `{"jsonrpc":"2.0","id":1,"method":"tools/list"`, nil, 400, parse, "null"},
		{"trailing data", toolsList + ` {}`, nil, 400, parse, "null"},
		{"trailing comma", `{"jsonrpc":"2.0","id":1,"method":"tools/list",}`, nil, 400, parse, "null"},
		{"empty body", "", nil, 400, parse, "null"},
		{"not UTF-8 outside strings", "\xff", nil, 400, parse, "null"},
		{"not UTF-8 inside a string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"remember","arguments":{"session_id":"s","text":"caf` + "\xe9" + `"}}}`, nil, 400, parse, "null"},

		{"empty array", `[]`, nil, 400, invalid, "null"},
		{"empty object", `{}`, nil, 400, invalid, "null"},
		{"number", `42`, nil, 400, invalid, "null"},
		{"null", `null`, nil, 400, invalid, "null"},
		{"string", `"tools/list"`, nil, 400, invalid, "null"},
		{"batch of a number", `[1]`, nil, 400, invalid, "null"},
		{"batch with an empty object", `[` + toolsList + `,{}]`, nil, 400, invalid, "null"},
		{"no method, no result", `{"jsonrpc":"2.0","id":1}`, nil, 400, invalid, "null"},
		{"no method, params", `{"jsonrpc":"2.0","id":1,"params":{}}`, nil, 400, invalid, "null"},
		{"no jsonrpc member", `{"id":1,"method":"tools/list"}`, nil, 400, invalid, "null"},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"method":"tools/list"}`, nil, 400, invalid, "null"},
		{"id an object", `{"jsonrpc":"2.0","id":{},"method":"tools/list"}`, nil, 400, invalid, "null"},
		{"method a number", `{"jsonrpc":"2.0","id":1,"method":5}`, nil, 400, invalid, "null"},

		{"unknown method", `{"jsonrpc":"2.0","id":7,"method":"no/such"}`, nil, 400, notFound, "7"},
		{"unknown method, string id", `{"jsonrpc":"2.0","id":"q-1","method":"no/such"}`, nil, 400, notFound, `"q-1"`},
		{"unknown notification", `{"jsonrpc":"2.0","method":"notifications/no_such"}`, nil, 400, notFound, "null"},
		{"unknown method, 2026-07-28", `{"jsonrpc":"2.0","id":8,"method":"no/such"}`, []string{"Mcp-Protocol-Version", "2026-07-28"}, 404, notFound, "8"},

		{"request without its params", `{"jsonrpc":"2.0","id":3,"method":"tools/call"}`, nil, 400, invalid, "3"},
		{"notification with an id", `{"jsonrpc":"2.0","id":4,"method":"notifications/initialized"}`, nil, 400, invalid, "4"},
		{"batch in 2025-06-18", `[` + toolsList + `]`, []string{"Mcp-Protocol-Version", "2025-06-18"}, 400, invalid, "null"},
	} {
		a := postMCP(t, c, srv.URL, tc.body, tc.header...)
		if a.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, a.status, tc.status, a.body)
		}
		rpcErrorOf(t, tc.name, a, tc.code, tc.id)

		next := postMCP(t, c, srv.URL, toolsList)
		wantToolsList(t, "after "+tc.name, next)
		if !next.reused {
			t.Errorf("after %s: the connection was not kept", tc.name)
		}
	}

	// What is a JSON-RPC message still reaches the SDK: a response (202), a
	// batch in the protocol version that has them.
	if a := postMCP(t, c, srv.URL, `{"jsonrpc":"2.0","id":1,"result":{}}`); a.status != http.StatusAccepted {
		t.Errorf("a response: %d %s", a.status, a.body)
	}
	if a := postMCP(t, c, srv.URL, `[`+toolsList+`]`); a.status != http.StatusOK || !strings.HasPrefix(string(a.body), `[{"jsonrpc":"2.0","id":100,"result":{`) {
		t.Errorf("a batch: %d %.200s", a.status, a.body)
	}

	// The client session opened before it all still works.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if lt, err := cs.ListTools(ctx, nil); err != nil || len(lt.Tools) != 10 {
		t.Fatalf("list tools after the errors: %v", err)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "session_create", Arguments: map[string]any{}})
	if err != nil || res.IsError || !strings.Contains(res.Content[0].(*sdk.TextContent).Text, "s-1") {
		t.Fatalf("call a tool after the errors: %v %+v", err, res)
	}
}

// TestMCPRequestErrors: what is wrong with the HTTP request rather than its
// JSON-RPC message is found before the body is looked at. A body that is not
// JSON still gets a 400 with a JSON-RPC -32000 error (id null) for a missing
// Accept or an unknown protocol version, and a 415 with the service's
// {"detail"} for a wrong Content-Type; a body over the SDK's limit is a 413
// {"detail"} (the read stops at the limit).
func TestMCPRequestErrors(t *testing.T) {
	srv := httptest.NewServer(Handler(restStub(), nil, false, nil))
	t.Cleanup(srv.Close)
	c := srv.Client()

	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"no event streams accepted", []string{"Accept", "application/json"}},
		{"unknown protocol version", []string{"Mcp-Protocol-Version", "1999-01-01"}},
	} {
		a := postMCP(t, c, srv.URL, "nonsense", tc.header...)
		if a.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", tc.name, a.status, a.body)
		}
		rpcErrorOf(t, tc.name, a, codeRequestRefused, "null")
	}

	for _, tc := range []struct {
		name, body string
		header     []string
		status     int
		detail     string
	}{
		{"wrong Content-Type", "nonsense", []string{"Content-Type", "text/plain"}, 415, "Content-Type"},
		{"body over the limit", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"pad":"` + strings.Repeat("p", maxMessageBytes) + `"}}`,
			nil, 413, "exceeds"},
	} {
		a := postMCP(t, c, srv.URL, tc.body, tc.header...)
		if a.status != tc.status {
			t.Errorf("%s: status %d, want %d: %.300s", tc.name, a.status, tc.status, a.body)
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(a.body, &r); err != nil || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %q %s is not JSON: %v", tc.name, a.header.Get("Content-Type"), a.body, err)
			continue
		}
		if d, _ := r["detail"].(string); !strings.Contains(d, tc.detail) || len(r) != 1 {
			t.Errorf("%s: %s, want only a detail mentioning %q", tc.name, a.body, tc.detail)
		}
	}
}

// checkMessage on its own: the id it returns is a single request's, the
// count how many messages the body holds.
func TestCheckMessage(t *testing.T) {
	for _, tc := range []struct {
		body string
		code int64 // 0: a JSON-RPC message
		id   any
		n    int
	}{
		{toolsList, 0, int64(100), 1},
		{" \n" + toolsList + "\n", 0, int64(100), 1},
		{`{"jsonrpc":"2.0","id":"a","method":"x"}`, 0, "a", 1},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, 0, nil, 1},
		{`{"jsonrpc":"2.0","id":1,"result":null}`, 0, nil, 1},
		{`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}`, 0, nil, 1},
		{`[` + toolsList + `]`, 0, nil, 1},
		{batchOf(MaxBatch, listCall), 0, nil, MaxBatch},
		{batchOf(MaxBatch+1, listCall), jsonrpc.CodeInvalidRequest, nil, 0},
		{batchOf(MaxBatch+1, `{}`), jsonrpc.CodeInvalidRequest, nil, 0},
		{`{"jsonrpc":"2.0","id":1,"method":"x"} x`, jsonrpc.CodeParseError, nil, 0},
		{"", jsonrpc.CodeParseError, nil, 0},
		{`[]`, jsonrpc.CodeInvalidRequest, nil, 0},
		{`[[]]`, jsonrpc.CodeInvalidRequest, nil, 0},
		{`true`, jsonrpc.CodeInvalidRequest, nil, 0},
	} {
		e, id, n := checkMessage([]byte(tc.body))
		switch {
		case tc.code == 0 && e != nil:
			t.Errorf("%.80q refused: %v", tc.body, e)
		case tc.code != 0 && (e == nil || e.Code != tc.code):
			t.Errorf("%.80q: %v, want code %d", tc.body, e, tc.code)
		case id.Raw() != tc.id:
			t.Errorf("%.80q: id %#v, want %#v", tc.body, id.Raw(), tc.id)
		case n != tc.n:
			t.Errorf("%.80q: %d messages, want %d", tc.body, n, tc.n)
		}
	}
}

// batchOf is a JSON-RPC batch of n copies of msg, each with its own id
// (1 to n in place of msg's "id":0; the SDK answers one message per id).
func batchOf(n int, msg string) string {
	msgs := make([]string, n)
	for i := range msgs {
		msgs[i] = strings.Replace(msg, `"id":0`, `"id":`+strconv.Itoa(i+1), 1)
	}
	return "[" + strings.Join(msgs, ",") + "]"
}

// listCall is tools/list and createCall a tools/call of session_create,
// which makes one REST call, with the id batchOf sets.
const (
	listCall   = `{"jsonrpc":"2.0","id":0,"method":"tools/list"}`
	createCall = `{"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"session_create","arguments":{}}}`
)

// counted counts the requests h serves.
func counted(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	})
}

// batchAnswers fails unless a is a 200 answering a batch with n results,
// and returns them.
func batchAnswers(t *testing.T, what string, a mcpAnswer, n int) []json.RawMessage {
	t.Helper()
	var answers []struct {
		Result json.RawMessage `json:"result"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &answers) != nil || len(answers) != n {
		t.Fatalf("%s: %d %.300s, want %d answers", what, a.status, a.body, n)
	}
	results := make([]json.RawMessage, n)
	for i, r := range answers {
		if r.Result == nil {
			t.Fatalf("%s: answer %d has no result: %.300s", what, i, a.body)
		}
		results[i] = r.Result
	}
	return results
}

// TestMCPBatchBound: a batch of MaxBatch messages is served in full; one of
// MaxBatch+1 is refused whole with a JSON-RPC -32600 error (HTTP 400, id
// null) before any of it runs, its tool calls included, as is the outside
// tester's batch of 10,000 (a body under the size limit); the connection
// stays usable, and single messages are served as before.
func TestMCPBatchBound(t *testing.T) {
	var rest atomic.Int64
	srv := httptest.NewServer(Handler(counted(restStub(), &rest), nil, false, nil))
	t.Cleanup(srv.Close)
	c := srv.Client()

	batchAnswers(t, "a full batch of tools/list", postMCP(t, c, srv.URL, batchOf(MaxBatch, listCall)), MaxBatch)
	for i, r := range batchAnswers(t, "a full batch of tool calls", postMCP(t, c, srv.URL, batchOf(MaxBatch, createCall)), MaxBatch) {
		if !strings.Contains(string(r), "s-1") {
			t.Errorf("tool call %d: %s", i, r)
		}
	}
	if got := rest.Load(); got != MaxBatch {
		t.Fatalf("a full batch of tool calls made %d REST calls, want %d", got, MaxBatch)
	}

	var flood strings.Builder
	flood.WriteString("[")
	for i := range 10_000 {
		if i > 0 {
			flood.WriteString(",")
		}
		flood.WriteString(`{"jsonrpc":"2.0","id":` + strconv.Itoa(i) + `,"method":"tools/list"}`)
	}
	flood.WriteString("]")
	for _, tc := range []struct{ name, body string }{
		{"one over", batchOf(MaxBatch+1, listCall)},
		{"tool calls, one over", batchOf(MaxBatch+1, createCall)},
		{"10,000 messages", flood.String()},
	} {
		rest.Store(0)
		a := postMCP(t, c, srv.URL, tc.body)
		if a.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %.300s", tc.name, a.status, a.body)
		}
		rpcErrorOf(t, tc.name, a, jsonrpc.CodeInvalidRequest, "null")
		if !strings.Contains(string(a.body), "over the limit of "+strconv.Itoa(MaxBatch)) {
			t.Errorf("%s: %.300s does not name the limit", tc.name, a.body)
		}
		if got := rest.Load(); got != 0 {
			t.Errorf("%s: %d REST calls ran", tc.name, got)
		}
		next := postMCP(t, c, srv.URL, toolsList)
		wantToolsList(t, "after "+tc.name, next)
		if !next.reused {
			t.Errorf("after %s: the connection was not kept", tc.name)
		}
	}
}

// TestMCPBatchCharge: Handler has the request's Charge spend a batch's
// messages beyond the first, once, before the SDK serves any of it, and
// never for a single message or a batch it refuses. A refused Charge's
// answer (429) is the one sent, whole, and nothing of the batch runs.
func TestMCPBatchCharge(t *testing.T) {
	var rest atomic.Int64
	var mu sync.Mutex
	var charged []int
	refuse := false
	h := Handler(counted(restStub(), &rest), nil, false, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, WithCharge(r, func(n int) bool {
			mu.Lock()
			defer mu.Unlock()
			charged = append(charged, n)
			if refuse {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "60")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"detail":"Rate limit exceeded"}`)
			}
			return !refuse
		}))
	}))
	t.Cleanup(srv.Close)
	c := srv.Client()
	took := func() []int {
		mu.Lock()
		defer mu.Unlock()
		got := charged
		charged = nil
		return got
	}

	for _, tc := range []struct {
		name, body string
		want       string // the charges, as fmt prints them
	}{
		{"a single request", toolsList, "[]"},
		{"a notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "[]"},
		{"a batch of one", batchOf(1, listCall), "[]"},
		{"a batch of two", batchOf(2, listCall), "[1]"},
		{"a full batch", batchOf(MaxBatch, createCall), "[" + strconv.Itoa(MaxBatch-1) + "]"},
		{"a batch one over", batchOf(MaxBatch+1, listCall), "[]"},
		{"a batch that is not JSON-RPC", batchOf(3, `{}`), "[]"},
		{"no text/event-stream accepted", batchOf(3, listCall), "[]"},
	} {
		var header []string
		if tc.name == "no text/event-stream accepted" {
			header = []string{"Accept", "application/json"}
		}
		postMCP(t, c, srv.URL, tc.body, header...)
		if got := fmt.Sprint(took()); got != tc.want {
			t.Errorf("%s: charged %s, want %s", tc.name, got, tc.want)
		}
	}

	mu.Lock()
	refuse = true
	mu.Unlock()
	rest.Store(0)
	a := postMCP(t, c, srv.URL, batchOf(3, createCall))
	if a.status != http.StatusTooManyRequests || string(a.body) != `{"detail":"Rate limit exceeded"}` ||
		a.header.Get("Retry-After") != "60" || a.header.Get("Content-Type") != "application/json" ||
		a.header.Get("X-Content-Type-Options") != "" { // http.Error's, had the SDK's 400 got through
		t.Errorf("a refused charge: %d %v %s, want the charge's 429 alone", a.status, a.header, a.body)
	}
	if got := fmt.Sprint(took()); got != "[2]" {
		t.Errorf("a refused batch of three: charged %s, want [2]", got)
	}
	if got := rest.Load(); got != 0 {
		t.Errorf("a refused batch ran %d REST calls", got)
	}
	// A single message needs no charge: still served.
	next := postMCP(t, c, srv.URL, toolsList)
	wantToolsList(t, "after a refused charge", next)
	if !next.reused {
		t.Error("after a refused charge: the connection was not kept")
	}
}

// A request whose deadline (SEMVEC_REQUEST_TIMEOUT, set by the server's
// middleware) passes while a tool waits is answered 504 with Retry-After
// and a JSON-RPC error for its id, as a REST route answers its deadline.
// Before, the SDK gave up on it and the answer was a 200 without a body.
func TestMCPRequestPastItsDeadlineIs504(t *testing.T) {
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // the inner request's own deadline comes after the outer one's
		case <-r.Context().Done():
		case <-time.After(600 * time.Millisecond):
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGatewayTimeout)
		_, _ = io.WriteString(w, `{"detail":"actor timeout"}`)
	})
	h := Handler(slow, nil, false, nil)
	deadline := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 200*time.Millisecond)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	srv := httptest.NewServer(deadline(h))
	t.Cleanup(srv.Close)
	a := postMCP(t, srv.Client(), srv.URL, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"session_create","arguments":{}}}`)
	if a.status != http.StatusGatewayTimeout || a.header.Get("Retry-After") != "5" {
		t.Fatalf("a tool call past the deadline: %d, Retry-After %q, %s; want 504 with Retry-After 5", a.status, a.header.Get("Retry-After"), a.body)
	}
	rpcErrorOf(t, "past the deadline", a, codeRequestRefused, "7")

	// Within the deadline, answers and notifications are as before.
	fast := httptest.NewServer(deadline(Handler(restStub(), nil, false, nil)))
	t.Cleanup(fast.Close)
	if a := postMCP(t, fast.Client(), fast.URL, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"session_create","arguments":{}}}`); a.status != http.StatusOK || !strings.Contains(string(a.body), "s-1") {
		t.Fatalf("a tool call within the deadline: %d %s", a.status, a.body)
	}
	if a := postMCP(t, fast.Client(), fast.URL, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); a.status != http.StatusAccepted || len(a.body) != 0 {
		t.Fatalf("a notification: %d %q, want 202 without a body", a.status, a.body)
	}
}

// A body of declared length is read into a buffer of exactly that length
// (what the body budget reserved), one declared over the limit is refused
// without a read, and one of unknown length is read up to one byte past it.
func TestRPCBodyReadsTheDeclaredLength(t *testing.T) {
	body := strings.Repeat("x", 5000)
	b := &rpcBody{rc: io.NopCloser(strings.NewReader(body)), size: int64(len(body))}
	raw, err := b.read()
	if err != nil || string(raw) != body || cap(raw) != len(body) {
		t.Errorf("declared length: %d bytes (cap %d), %v; want %d bytes in a buffer of that size", len(raw), cap(raw), err, len(body))
	}

	short := &rpcBody{rc: io.NopCloser(strings.NewReader(body[:10])), size: int64(len(body))}
	if _, err := short.read(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body shorter than declared: %v, want io.ErrUnexpectedEOF", err)
	}

	over := &rpcBody{rc: io.NopCloser(iotest.ErrReader(errors.New("read"))), size: maxMessageBytes + 1}
	var tooLarge *http.MaxBytesError
	if _, err := over.read(); !errors.As(err, &tooLarge) {
		t.Errorf("declared over the limit: %v, want *http.MaxBytesError without reading", err)
	}

	chunked := &rpcBody{rc: io.NopCloser(strings.NewReader(strings.Repeat("x", maxMessageBytes+100))), size: -1}
	if raw, err := chunked.read(); err != nil || len(raw) != maxMessageBytes+1 {
		t.Errorf("unknown length: %d bytes, %v; want %d", len(raw), err, maxMessageBytes+1)
	}
}
