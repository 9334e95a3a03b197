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
	"github.com/semvec-go/semvec/http/openapitest"
)

// edgeMCP posts body to addr's /mcp as an MCP client would, with token tok
// ("" for none), and checks the answer against the served /openapi.json.
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
	if err := v.Check(req, res.StatusCode, res.Header, raw); err != nil {
		t.Errorf("not as /openapi.json says: %v", err)
	}
	return res.StatusCode, res.Header, raw
}

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

	status, _, body := edgeMCP(t, v, addr, s.tok, `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`)
	var list struct {
		ID     int                   `json:"id"`
		Result struct{ Tools []any } `json:"result"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil || list.ID != 9 || len(list.Result.Tools) == 0 {
		t.Fatalf("tools/list after the errors: %d %.300s", status, body)
	}
}
