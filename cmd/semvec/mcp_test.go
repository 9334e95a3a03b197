package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/semvec-go/semvec"
	mcphttp "github.com/semvec-go/semvec/http/mcp"
)

var mcpTools = []string{"cache_delete", "cache_find", "cache_put", "recall", "remember", "run",
	"session_create", "session_delete", "session_metrics", "store"}

// mcpOverHTTP connects the SDK's client to the server's /mcp over
// streamable HTTP with token (none when empty).
func mcpOverHTTP(t *testing.T, e *testEnv, token string) (*sdk.ClientSession, error) {
	t.Helper()
	c := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	hc := &http.Client{Transport: &bearer{token: token, next: http.DefaultTransport}}
	cs, err := c.Connect(context.Background(), &sdk.StreamableClientTransport{Endpoint: e.base + "/mcp", HTTPClient: hc, MaxRetries: -1}, nil)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

// mcpOverStdio connects the SDK's client to `semvec mcp`'s server (the
// proxy) over an in-memory transport, the proxy forwarding to e over HTTP.
func mcpOverStdio(t *testing.T, e *testEnv, token string) *sdk.ClientSession {
	t.Helper()
	endpoint, err := mcpEndpoint(e.base)
	if err != nil {
		t.Fatal(err)
	}
	rem := newRemote(endpoint, token)
	ctx, cancel := context.WithCancel(context.Background())
	st, ct := sdk.NewInMemoryTransports()
	done := make(chan struct{})
	go func() { defer close(done); _ = mcphttp.NewProxy(rem.session).Run(ctx, st) }()
	c := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); cancel(); <-done; rem.close() })
	return cs
}

type toolOut struct {
	res  *sdk.CallToolResult
	text string
	obj  map[string]any
}

func callTool(t *testing.T, cs *sdk.ClientSession, name string, args map[string]any) toolOut {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	obj, _ := res.StructuredContent.(map[string]any)
	return toolOut{res: res, text: b.String(), obj: obj}
}

func (o toolOut) ok(t *testing.T, name string) toolOut {
	t.Helper()
	if o.res.IsError {
		t.Fatalf("%s: error result: %s", name, o.text)
	}
	return o
}

func (o toolOut) failed(t *testing.T, name, want string) {
	t.Helper()
	if !o.res.IsError || !strings.Contains(o.text, want) {
		t.Fatalf("%s: want an error result containing %q, got IsError=%v %q", name, want, o.res.IsError, o.text)
	}
}

// conversation runs the scenario of issue 14 through an MCP client: list
// the tools, run a conversation, store a fact and get it back in a context
// block, plus recall, remember, the literal cache, metrics and deletion.
// It returns the session id it used (deleted at the end) and a live one.
func conversation(t *testing.T, cs *sdk.ClientSession) (live string) {
	t.Helper()
	lt, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range lt.Tools {
		names = append(names, tool.Name)
		if tool.InputSchema == nil || tool.Description == "" {
			t.Errorf("tool %s has no input schema or description", tool.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, mcpTools) {
		t.Fatalf("tools %v, want %v", names, mcpTools)
	}

	r := callTool(t, cs, "run", map[string]any{"message": "What is Kubernetes?"}).ok(t, "run")
	sid, _ := r.obj["session_id"].(string)
	if sid == "" || !strings.Contains(r.text, "session_id: "+sid) || !strings.Contains(r.text, "[Semvec Context") {
		t.Fatalf("run: %q %v", r.text, r.obj)
	}
	callTool(t, cs, "store", map[string]any{"session_id": sid, "response": "Kubernetes orchestrates containers across a cluster of machines."}).ok(t, "store")
	// null where REST takes null (or for a query parameter) is left out
	n := callTool(t, cs, "run", map[string]any{"message": "A turn of its own", "session_id": nil, "response": nil}).ok(t, "run with null session_id")
	if nsid, _ := n.obj["session_id"].(string); nsid == "" || nsid == sid {
		t.Fatalf("run with a null session_id: %v", n.obj)
	} else {
		callTool(t, cs, "session_delete", map[string]any{"session_id": nsid}).ok(t, "session_delete")
	}
	r = callTool(t, cs, "run", map[string]any{"session_id": sid, "message": "How does Kubernetes run containers?"}).ok(t, "run 2")
	if !strings.Contains(r.text, "Kubernetes orchestrates containers across a cluster of machines.") {
		t.Fatalf("the stored fact is not in the context block:\n%s", r.text)
	}

	callTool(t, cs, "remember", map[string]any{"session_id": sid, "text": "The staging cluster is called blue-falcon.", "tier": "long_term"}).ok(t, "remember")
	rc := callTool(t, cs, "recall", map[string]any{"session_id": sid, "query": "what is the staging cluster called", "top_k": 1}).ok(t, "recall")
	if !strings.Contains(rc.text, "blue-falcon") {
		t.Fatalf("recall with a query: %q", rc.text)
	}
	if mems, _ := rc.obj["memories"].([]any); len(mems) != 1 {
		t.Fatalf("recall top_k 1: %v", rc.obj)
	}
	rc = callTool(t, cs, "recall", map[string]any{"session_id": sid, "query": nil, "top_k": nil, "full_first": nil}).ok(t, "recall")
	if !strings.Contains(rc.text, "Kubernetes orchestrates") {
		t.Fatalf("recall: %q", rc.text)
	}

	callTool(t, cs, "cache_put", map[string]any{"session_id": sid, "key": "src/pss/core.py", "kind": "path", "value": "src/pss/core.py", "context": "entry point"}).ok(t, "cache_put")
	callTool(t, cs, "cache_put", map[string]any{"session_id": sid, "key": "Main", "kind": "function", "value": "func main()", "context": nil}).ok(t, "cache_put with a null context")
	f := callTool(t, cs, "cache_find", map[string]any{"session_id": sid, "q": nil, "max_results": nil}).ok(t, "cache_find with null q and max_results")
	if !strings.Contains(f.text, "function Main: func main()") || !strings.Contains(f.text, "path src/pss/core.py") {
		t.Fatalf("cache_find listing: %q", f.text)
	}
	callTool(t, cs, "cache_delete", map[string]any{"session_id": sid, "key": "Main"}).ok(t, "cache_delete")
	f = callTool(t, cs, "cache_find", map[string]any{"session_id": sid, "q": "core"}).ok(t, "cache_find")
	if !strings.Contains(f.text, "path src/pss/core.py") {
		t.Fatalf("cache_find: %q", f.text)
	}
	callTool(t, cs, "cache_delete", map[string]any{"session_id": sid, "key": "src/pss/core.py"}).ok(t, "cache_delete")
	f = callTool(t, cs, "cache_find", map[string]any{"session_id": sid, "q": "core"}).ok(t, "cache_find")
	if !strings.Contains(f.text, "no entities") {
		t.Fatalf("cache_find after delete: %q", f.text)
	}
	callTool(t, cs, "cache_delete", map[string]any{"session_id": sid, "key": "src/pss/core.py"}).failed(t, "cache_delete twice", "HTTP 404")

	m := callTool(t, cs, "session_metrics", map[string]any{"session_id": sid}).ok(t, "session_metrics")
	if !strings.Contains(m.text, "interactions") || m.obj["phase"] == nil {
		t.Fatalf("session_metrics: %q", m.text)
	}

	c := callTool(t, cs, "session_create", map[string]any{}).ok(t, "session_create")
	other, _ := c.obj["session_id"].(string)
	if other == "" {
		t.Fatalf("session_create: %v", c.obj)
	}
	callTool(t, cs, "session_delete", map[string]any{"session_id": other}).ok(t, "session_delete")
	callTool(t, cs, "session_metrics", map[string]any{"session_id": other}).failed(t, "metrics of a deleted session", "HTTP 404")

	// bad input: an error result, never a protocol error
	callTool(t, cs, "run", map[string]any{}).failed(t, "run without message", "message")
	callTool(t, cs, "run", map[string]any{"message": 42}).failed(t, "run with a number", "message")
	callTool(t, cs, "store", map[string]any{"session_id": sid, "response": "  "}).failed(t, "store blank", "HTTP 422")
	callTool(t, cs, "store", map[string]any{"session_id": "", "response": "x"}).failed(t, "store without session", "session_id")
	callTool(t, cs, "recall", map[string]any{"session_id": sid, "top_k": 1000}).failed(t, "recall top_k", "top_k")
	// a zero is a value, refused as REST refuses it, not taken for "absent";
	// the input schema (the REST field's bounds) refuses it before REST
	callTool(t, cs, "recall", map[string]any{"session_id": sid, "top_k": 0}).failed(t, "recall top_k 0", "top_k")
	callTool(t, cs, "cache_find", map[string]any{"session_id": sid, "max_results": 0}).failed(t, "cache_find max_results 0", "/properties/max_results")
	callTool(t, cs, "session_create", map[string]any{"dimension": 0}).failed(t, "session_create dimension 0", "/properties/dimension")
	callTool(t, cs, "remember", map[string]any{"session_id": sid, "text": "x", "importance": 0}).failed(t, "remember importance 0", "/properties/importance")
	callTool(t, cs, "recall", map[string]any{"session_id": sid, "query": strings.Repeat("q", 32001)}).failed(t, "recall with a query past 32,000 characters", "query")
	callTool(t, cs, "remember", map[string]any{"session_id": sid, "text": "x", "tier": "forever"}).failed(t, "remember tier", "/properties/tier")
	callTool(t, cs, "cache_put", map[string]any{"session_id": sid, "key": "k", "kind": "poem", "value": "v"}).failed(t, "cache_put kind", "/properties/kind")
	// null where REST refuses it (a field with a default value) is refused
	callTool(t, cs, "remember", map[string]any{"session_id": sid, "text": "x", "importance": nil}).failed(t, "remember importance null", "/properties/importance")
	callTool(t, cs, "run", map[string]any{"message": "hi", "reset_context": nil}).failed(t, "run reset_context null", "/properties/reset_context")
	callTool(t, cs, "session_metrics", map[string]any{"session_id": "../metrics"}).failed(t, "metrics with a path", "session_id")
	callTool(t, cs, "run", map[string]any{"session_id": "no-such-session", "message": "hi"}).failed(t, "run unknown session", "HTTP 404")
	return sid
}

func TestMCPOverStreamableHTTP(t *testing.T) {
	e := newEnv(t, "sqlite:///"+filepath.Join(t.TempDir(), "semvec.db"), nil)
	cs, err := mcpOverHTTP(t, e, e.token("acme", semvec.TierPro))
	if err != nil {
		t.Fatal(err)
	}
	sid := conversation(t, cs)

	// another tenant's session id is not found, through every tool
	other, err := mcpOverHTTP(t, e, e.token("globex", semvec.TierPro))
	if err != nil {
		t.Fatal(err)
	}
	callTool(t, other, "session_metrics", map[string]any{"session_id": sid}).failed(t, "other tenant metrics", "HTTP 404")
	callTool(t, other, "recall", map[string]any{"session_id": sid}).failed(t, "other tenant recall", "HTTP 404")
	callTool(t, other, "store", map[string]any{"session_id": sid, "response": "mine now"}).failed(t, "other tenant store", "HTTP 404")
	callTool(t, other, "run", map[string]any{"session_id": sid, "message": "hello"}).failed(t, "other tenant run", "HTTP 404")
	callTool(t, other, "session_delete", map[string]any{"session_id": sid}).failed(t, "other tenant delete", "HTTP 404")
	callTool(t, cs, "session_metrics", map[string]any{"session_id": sid}).ok(t, "owner still has it")

	// no token, or a bad one: the MCP endpoint answers like /v1
	if _, err := mcpOverHTTP(t, e, ""); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("connect without a token: %v", err)
	}
	want(t, e.do(http.MethodPost, "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`), http.StatusUnauthorized)
	want(t, e.do(http.MethodPost, "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, "Authorization", "Bearer not-a-token"), http.StatusUnauthorized)

	// A body that is not JSON is a JSON-RPC parse error, id null.
	tok := e.token("acme", semvec.TierPro)
	r := e.do(http.MethodPost, "/mcp", "nonsense", "Authorization", "Bearer "+tok, "Accept", "application/json, text/event-stream")
	want(t, r, http.StatusBadRequest)
	m := r.json(t)
	if rpcErr, _ := m["error"].(map[string]any); m["jsonrpc"] != "2.0" || rpcErr == nil || rpcErr["code"] != float64(-32700) {
		t.Fatalf("not JSON: %s", r.Body)
	}
	if id, ok := m["id"]; !ok || id != nil {
		t.Fatalf("not JSON: id is not null: %s", r.Body)
	}

	// The SDK's other transport errors answer like every other error: JSON
	// with a detail.
	for _, tc := range []struct {
		name, body string
		headers    []string
		status     int
		detail     string
	}{
		{"wrong content type", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType, "Content-Type"},
	} {
		r := e.do(http.MethodPost, "/mcp", tc.body, append([]string{"Authorization", "Bearer " + tok}, tc.headers...)...)
		want(t, r, tc.status)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s: Content-Type %q", tc.name, ct)
		}
		if d := r.detail(t); !strings.Contains(d, tc.detail) {
			t.Fatalf("%s: detail %q, want it to mention %q", tc.name, d, tc.detail)
		}
	}
}

func TestMCPRateLimitedLikeREST(t *testing.T) {
	e := newEnv(t, "sqlite:///"+filepath.Join(t.TempDir(), "semvec.db"), nil)
	cs, err := mcpOverHTTP(t, e, e.token("small", semvec.TierCommunity))
	if err != nil {
		t.Fatal(err)
	}
	// community: burst 50. Each tool call spends one request for the MCP
	// message and one per REST call, so the budget runs out well before 60
	// calls; the limited call is an error result (or a 429 transport error).
	limited := false
	for i := 0; i < 60 && !limited; i++ {
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "session_create", Arguments: map[string]any{}})
		switch {
		case err != nil:
			limited = strings.Contains(err.Error(), "429") || strings.Contains(err.Error(), "Too Many")
			if !limited {
				t.Fatal(err)
			}
		case res.IsError:
			text := res.Content[0].(*sdk.TextContent).Text
			if !strings.Contains(text, "HTTP 429") {
				t.Fatalf("unexpected error result: %s", text)
			}
			limited = true
		}
	}
	if !limited {
		t.Fatal("60 MCP tool calls at community tier were never rate limited")
	}
}

func TestMCPOverStdio(t *testing.T) {
	e := newEnv(t, "sqlite:///"+filepath.Join(t.TempDir(), "semvec.db"), nil)
	cs := mcpOverStdio(t, e, e.token("acme", semvec.TierPro))
	sid := conversation(t, cs)

	other := mcpOverStdio(t, e, e.token("globex", semvec.TierPro))
	callTool(t, other, "session_metrics", map[string]any{"session_id": sid}).failed(t, "other tenant metrics", "HTTP 404")
	callTool(t, other, "recall", map[string]any{"session_id": sid}).failed(t, "other tenant recall", "HTTP 404")

	// a bad token: the proxy still starts and lists its tools; calls fail clearly
	bad := mcpOverStdio(t, e, "not-a-token")
	if lt, err := bad.ListTools(context.Background(), nil); err != nil || len(lt.Tools) != len(mcpTools) {
		t.Fatalf("list tools with a bad token: %v", err)
	}
	// the server's own reason, not a transport status text
	callTool(t, bad, "session_create", map[string]any{}).failed(t, "bad token", "refused the licence token (HTTP 401: Invalid license:")
}

func TestMCPCommandFlags(t *testing.T) {
	_, stderr, err := runCmd("mcp", "--help")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "Usage: semvec mcp") {
		t.Fatalf("mcp --help: %v %q", err, stderr)
	}
	if _, _, err := runCmd("mcp", "--url", "localhost:8080"); err == nil || !strings.Contains(err.Error(), "http://") {
		t.Fatalf("mcp with a URL without scheme: %v", err)
	}
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":      "http://127.0.0.1:8080/mcp",
		"http://127.0.0.1:8080/":     "http://127.0.0.1:8080/mcp",
		"https://memory.example/mcp": "https://memory.example/mcp",
	} {
		if got, err := mcpEndpoint(in); err != nil || got != want {
			t.Errorf("mcpEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestMCPStdioProcess is `semvec mcp` as a real child process speaking MCP
// on its stdin/stdout (the test binary re-executed as the command), with
// the token from SEMVEC_TOKEN and the URL from --url.
func TestMCPStdioProcess(t *testing.T) {
	if os.Getenv("SEMVEC_TEST_MCP_CHILD") == "1" {
		err := run(context.Background(), []string{"mcp", "--url", os.Getenv("SEMVEC_TEST_MCP_URL")}, os.Getenv, os.Stdout, os.Stderr)
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	e := newEnv(t, "sqlite:///"+filepath.Join(t.TempDir(), "semvec.db"), nil)
	cmd := exec.Command(os.Args[0], "-test.run=^TestMCPStdioProcess$")
	cmd.Env = append(os.Environ(), "SEMVEC_TEST_MCP_CHILD=1", "SEMVEC_TEST_MCP_URL="+e.base, "SEMVEC_TOKEN="+e.token("acme", semvec.TierPro))
	cmd.Stderr = os.Stderr
	c := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	r := callTool(t, cs, "run", map[string]any{"message": "What is Kubernetes?"}).ok(t, "run")
	sid, _ := r.obj["session_id"].(string)
	callTool(t, cs, "store", map[string]any{"session_id": sid, "response": "Kubernetes orchestrates containers across a cluster of machines."}).ok(t, "store")
	r = callTool(t, cs, "run", map[string]any{"session_id": sid, "message": "How does Kubernetes run containers?"}).ok(t, "run 2")
	if !strings.Contains(r.text, "Kubernetes orchestrates containers across a cluster of machines.") {
		t.Fatalf("the stored fact is not in the context block:\n%s", r.text)
	}
	callTool(t, cs, "run", map[string]any{}).failed(t, "run without message", "message")
}
