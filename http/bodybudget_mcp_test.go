package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// An MCP tool call serves its REST request in-process, through the /v1
// routes and their middleware, with the caller's address: the body budget
// must not count that request's body (built in memory from the /mcp body,
// which holds its own reservation) a second time, or a tool call is
// refused by its own /mcp request. With the smallest budget the
// configuration allows (four bodies of the limit: one per address), a
// chunked /mcp body reserves the whole address's quarter, and a declared
// one of more than half the limit leaves too little for its copy.
func TestMCPToolCallsAreNotRefusedByTheirOwnBody(t *testing.T) {
	const limit = 64 << 10
	budget := NewBodyBudget(4*limit, limit)
	s := newEdgeServerWith(t, limit, func(d *Deps) { d.Bodies = budget })
	h, tok := s.h, s.tok
	call := func(what, tool, args string, chunked bool) map[string]any {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		if chunked {
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out struct {
			Result *struct {
				IsError           bool           `json:"isError"`
				StructuredContent map[string]any `json:"structuredContent"`
				Content           []struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"result"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Result == nil || out.Result.IsError {
			t.Fatalf("%s: %d %.400s", what, rec.Code, rec.Body)
		}
		return out.Result.StructuredContent
	}
	created := call("session_create, chunked", "session_create", `{}`, true)
	sid, _ := created["session_id"].(string)
	if sid == "" {
		t.Fatalf("session_create: %v", created)
	}
	text := strings.Repeat("a fact worth keeping. ", 40<<10/22)
	call("remember of 40 KiB, declared", "remember", `{"session_id":"`+sid+`","text":"`+text+`"}`, false)
	if held := budget.Held(); held != 0 {
		t.Fatalf("%d bytes held once answered", held)
	}
}
