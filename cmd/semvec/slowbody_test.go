package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
)

// TestABodyPastTheRequestDeadlineIs408: a client that sends its body more
// slowly than SEMVEC_REQUEST_TIMEOUT allows gets 408 with a JSON detail
// saying so, and nothing is done. Before, the handler ran on the spent
// context and the answer blamed the server: 503 "database unavailable"
// (session create, run, cluster create, observer create) or 504, logged as
// a database failure (found by an outside tester).
func TestABodyPastTheRequestDeadlineIs408(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/slow.db", map[string]string{"SEMVEC_REQUEST_TIMEOUT": timeout.String()})
	tok := e.token("slow", semvec.TierEnterprise)
	slowPost := func(path, body string) (int, http.Header, []byte) {
		t.Helper()
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, body[:1])
			time.Sleep(2 * timeout)
			_, _ = io.WriteString(pw, body[1:])
			_ = pw.Close()
		}()
		req, err := http.NewRequest(http.MethodPost, e.base+path, pr)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(len(body))
		req.Header.Set("X-API-Key", tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := e.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b
	}
	for _, tc := range []struct{ path, body string }{
		{"/v1/session/create", `{}`},
		{"/v1/run", `{"message":"hello"}`},
		{"/v1/cluster/", `{"name":"c"}`},
		{"/v1/observer/", `{"sample_interval_seconds":30}`},
		{"/v1/observer/", `  `}, // an optional body, all white space
		{"/v1/network/users/switch", `{"user_id":"u"}`},
	} {
		status, h, b := slowPost(tc.path, tc.body)
		var d struct{ Detail string }
		if status != http.StatusRequestTimeout || json.Unmarshal(b, &d) != nil || !strings.Contains(d.Detail, "request timeout") {
			t.Errorf("POST %s, body sent past the deadline: %d %s, want 408 with a detail naming the request timeout", tc.path, status, b)
		}
		if h.Get("Retry-After") != "" {
			t.Errorf("POST %s: Retry-After %q on a client-side timeout", tc.path, h.Get("Retry-After"))
		}
	}
	// Nothing was done: no session, cluster or observer exists.
	if r := e.do("GET", "/v1/cluster/", nil, "X-API-Key", tok); r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != "[]" {
		t.Errorf("clusters after the slow creates: %d %s, want []", r.Status, r.Body)
	}
	if r := e.do("GET", "/v1/observer/summary", nil, "X-API-Key", tok); r.Status != http.StatusNotFound {
		t.Errorf("observer after the slow create: %d %s, want 404", r.Status, r.Body)
	}
}

// TestABodyPastTheWriteTimeoutIsAnswered: a body still arriving when the
// request's deadline has passed gets its 408 (on /mcp a JSON-RPC error
// naming the request timeout), whether it comes in whole later or never,
// cut by the server's read timeout. The read timeout (deadline + header
// timeout + 5 s, from the first byte) ends past the deadline whatever the
// headers took, and the write timeout (5 s later) after it, so the answer
// is written. The server used to read such a body until its 60 s read
// timeout, then write the 408 past the write deadline: the client got the
// connection closed without an answer (found by an outside tester).
func TestABodyPastTheWriteTimeoutIsAnswered(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the server's read timeout")
	}
	const timeout = 300 * time.Millisecond // read timeout 15.3 s, write timeout 20.3 s
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/slow.db", map[string]string{"SEMVEC_REQUEST_TIMEOUT": timeout.String()})
	tok := e.token("slow", semvec.TierEnterprise)
	type answer struct {
		what   string
		status int
		body   []byte
		err    error
	}
	// post sends body's first byte, and the rest after late (never: 0).
	post := func(path, body string, late time.Duration, out chan<- answer) {
		what := path + " (rest after " + late.String() + ")"
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			_, _ = io.WriteString(pw, body[:1])
			var rest <-chan time.Time
			if late > 0 {
				rest = time.After(late)
			}
			select {
			case <-rest:
				_, _ = io.WriteString(pw, body[1:])
				_ = pw.Close()
			case <-done:
				_ = pw.CloseWithError(io.ErrClosedPipe)
			}
		}()
		defer close(done)
		req, err := http.NewRequest(http.MethodPost, e.base+path, pr)
		if err != nil {
			out <- answer{what: what, err: err}
			return
		}
		req.ContentLength = int64(len(body))
		req.Header.Set("X-API-Key", tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		res, err := e.httpClient().Do(req)
		if err != nil {
			out <- answer{what: what, err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		out <- answer{what, res.StatusCode, b, err}
	}
	out := make(chan answer, 4)
	for _, late := range []time.Duration{2 * time.Second, 0} {
		go post("/v1/run", `{"message":"hello"}`, late, out)
		go post("/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run","arguments":{"message":"hello"}}}`, late, out)
	}
	for range 4 {
		a := <-out
		if a.err != nil {
			t.Errorf("POST %s: %v, want an answer", a.what, a.err)
			continue
		}
		if !json.Valid(a.body) || a.status < 400 || (strings.HasPrefix(a.what, "/v1/run") && a.status != http.StatusRequestTimeout) {
			t.Errorf("POST %s: %d %s, want a JSON error (408 on REST)", a.what, a.status, a.body)
		}
		if !strings.Contains(string(a.body), "request timeout") || strings.Contains(string(a.body), "tcp") {
			t.Errorf("POST %s: %s, want the request timeout named (and no socket addresses)", a.what, a.body)
		}
	}
}
