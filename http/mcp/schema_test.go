package mcp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// restRecorder stands in for the REST engine: it records each request the
// tools make ("METHOD path?query body", the body's JSON with its keys
// sorted, embeddings left out) and answers it with a plausible 2xx.
type restRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (rr *restRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	line := r.Method + " " + r.URL.RequestURI()
	if r.Body == nil { // as Engine builds a request without a body
		r.Body = http.NoBody
	}
	if raw, _ := io.ReadAll(r.Body); len(raw) > 0 {
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		delete(body, "embedding")
		sorted, _ := json.Marshal(body) // encoding/json sorts a map's keys
		line += " " + string(sorted)
	}
	rr.mu.Lock()
	rr.seen = append(rr.seen, line)
	rr.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/v1/state/context":
		_, _ = io.WriteString(w, `[]`)
	case r.Method == http.MethodGet:
		_, _ = io.WriteString(w, `{"entities":[]}`)
	default:
		_, _ = io.WriteString(w, `{"session_id":"s-1","context":"c","tier":"short_term","total_memories":1}`)
	}
}

// take returns the requests recorded since the last call.
func (rr *restRecorder) take() []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	seen := rr.seen
	rr.seen = nil
	return seen
}

// toolServer serves the tools over real HTTP, their REST calls recorded,
// and returns an MCP client session to it.
func toolServer(t *testing.T) (*sdk.ClientSession, *restRecorder, string) {
	t.Helper()
	rr := &restRecorder{}
	srv := httptest.NewServer(Handler(rr, embed.NewHashing(8), false, nil))
	t.Cleanup(srv.Close)
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil).
		Connect(t.Context(), &sdk.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: srv.Client(), MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs, rr, srv.URL
}

// callText calls a tool with args (a JSON object) and returns its result's
// text and whether it is an error result.
func callText(t *testing.T, cs *sdk.ClientSession, name, args string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: json.RawMessage(args)})
	if err != nil {
		t.Fatalf("%s %s: %v", name, args, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

// TestToolNullArgumentIsLeftOut: an optional argument given null, where
// REST takes null for its field (or the field is a query parameter, or the
// argument is the tool's own), is taken as left out: the tool sends REST
// the request it sends without it.
func TestToolNullArgumentIsLeftOut(t *testing.T) {
	cs, rr, _ := toolServer(t)
	for _, tc := range []struct {
		tool, args string
		want       string // the REST request
	}{
		{"run", `{"message":"x","session_id":null}`, `POST /v1/run {"message":"x"}`},
		{"run", `{"message":"x","session_id":null,"response":null}`, `POST /v1/run {"message":"x"}`},
		{"run", `{"message":"x","session_id":"s-1","response":"r"}`, `POST /v1/run {"message":"x","response":"r","session_id":"s-1"}`},
		{"recall", `{"session_id":"s","query":null,"top_k":null,"full_first":null}`, `GET /v1/state/context?session_id=s&top_k=5`},
		{"recall", `{"session_id":"s","top_k":3,"full_first":true}`, `GET /v1/state/context?full_first=true&session_id=s&top_k=3`},
		{"cache_put", `{"session_id":"s","key":"k","kind":"path","value":"v","context":null}`, `POST /v1/session/s/entities {"key":"k","kind":"path","value":"v"}`},
		{"cache_find", `{"session_id":"s","q":null,"max_results":null}`, `GET /v1/session/s/entities`},
		{"session_create", `{"dimension":null}`, `POST /v1/session/create {}`},
	} {
		if text, isErr := callText(t, cs, tc.tool, tc.args); isErr {
			t.Errorf("%s %s: error result %q", tc.tool, tc.args, text)
			continue
		}
		if got := rr.take(); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s %s: REST got %q, want %q", tc.tool, tc.args, got, tc.want)
		}
	}
}

// TestToolSchemaRefusesWhatRESTRefuses: a value out of the REST field's
// bounds, not among its values, or null where REST refuses null (a field
// with a default value, a required one) is refused by the tool's input
// schema, naming the argument, and never reaches REST.
func TestToolSchemaRefusesWhatRESTRefuses(t *testing.T) {
	cs, rr, _ := toolServer(t)
	for _, tc := range []struct {
		tool, args, arg string
	}{
		{"recall", `{"session_id":"s","top_k":0}`, "top_k"},
		{"recall", `{"session_id":"s","top_k":101}`, "top_k"},
		{"recall", `{"session_id":null}`, "session_id"},
		{"remember", `{"session_id":"s","text":"t","importance":0}`, "importance"},
		{"remember", `{"session_id":"s","text":"t","importance":10.5}`, "importance"},
		{"remember", `{"session_id":"s","text":"t","importance":null}`, "importance"},
		{"remember", `{"session_id":"s","text":"t","tier":"forever"}`, "tier"},
		{"remember", `{"session_id":"s","text":"t","tier":null}`, "tier"},
		{"cache_put", `{"session_id":"s","key":"k","kind":"poem","value":"v"}`, "kind"},
		{"cache_put", `{"session_id":"s","key":"k","kind":"path","value":"v","importance":-1}`, "importance"},
		{"cache_put", `{"session_id":"s","key":"k","kind":"path","value":"` + strings.Repeat("v", 2001) + `"}`, "value"},
		{"cache_find", `{"session_id":"s","max_results":0}`, "max_results"},
		{"cache_find", `{"session_id":"s","max_results":1001}`, "max_results"},
		{"session_create", `{"dimension":0}`, "dimension"},
		{"run", `{"message":"x","reset_context":null}`, "reset_context"},
		{"run", `{"message":null}`, "message"},
		{"run", `{"message":"x","session_id":"` + strings.Repeat("s", 129) + `"}`, "session_id"},
		{"store", `{"session_id":"s","response":""}`, "response"},
	} {
		text, isErr := callText(t, cs, tc.tool, tc.args)
		if !isErr || !strings.Contains(text, "/properties/"+tc.arg) {
			t.Errorf("%s %.80s: error %v %q, want the schema to refuse %s", tc.tool, tc.args, isErr, text, tc.arg)
		}
		if got := rr.take(); len(got) > 0 {
			t.Errorf("%s %.80s: REST was called: %q", tc.tool, tc.args, got)
		}
	}
}

// TestToolsListCarriesTheRESTBounds: tools/list states the bounds, enums
// and nullability the tools enforce (those of the REST fields), and the
// stdio proxy lists the very same schemas.
func TestToolsListCarriesTheRESTBounds(t *testing.T) {
	cs, _, url := toolServer(t)
	lt, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	props := map[string]map[string]map[string]any{} // tool → argument → schema
	for _, tool := range lt.Tools {
		raw, err := json.Marshal(tool.InputSchema)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Properties map[string]map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		props[tool.Name] = s.Properties
	}
	kinds := []any{}
	for _, k := range engine.EntityKinds() {
		kinds = append(kinds, k)
	}
	nullable := func(typ string) []any { return []any{"null", typ} }
	for _, tc := range []struct {
		tool, arg, key string
		want           any
	}{
		{"run", "message", "type", "string"},
		{"run", "message", "maxLength", 32000.0},
		{"run", "session_id", "type", nullable("string")},
		{"run", "session_id", "maxLength", 128.0},
		{"run", "response", "type", nullable("string")},
		{"run", "reset_context", "type", "boolean"}, // REST refuses null: it has a default
		{"store", "session_id", "type", "string"},
		{"store", "response", "minLength", 1.0},
		{"recall", "query", "type", nullable("string")},
		{"recall", "top_k", "type", nullable("integer")},
		{"recall", "top_k", "minimum", 1.0},
		{"recall", "top_k", "maximum", 100.0},
		{"recall", "full_first", "type", nullable("boolean")},
		{"remember", "tier", "type", "string"},
		{"remember", "tier", "enum", []any{"short_term", "medium_term", "long_term"}},
		{"remember", "importance", "type", "number"},
		{"remember", "importance", "exclusiveMinimum", 0.0},
		{"remember", "importance", "maximum", 10.0},
		{"remember", "text", "maxLength", 64000.0},
		{"cache_put", "kind", "enum", kinds},
		{"cache_put", "key", "maxLength", 256.0},
		{"cache_put", "context", "type", nullable("string")},
		{"cache_put", "context", "maxLength", 1000.0},
		{"cache_put", "importance", "exclusiveMinimum", 0.0},
		{"cache_put", "importance", "maximum", 10.0},
		{"cache_find", "q", "type", nullable("string")},
		{"cache_find", "max_results", "type", nullable("integer")},
		{"cache_find", "max_results", "minimum", 1.0},
		{"cache_find", "max_results", "maximum", 1000.0},
		{"session_create", "dimension", "type", nullable("integer")},
		{"session_create", "dimension", "minimum", 1.0},
		{"session_delete", "session_id", "type", "string"},
	} {
		p := props[tc.tool][tc.arg]
		if p == nil {
			t.Errorf("%s has no argument %s", tc.tool, tc.arg)
			continue
		}
		if got := p[tc.key]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s.%s: %s = %#v, want %#v", tc.tool, tc.arg, tc.key, got, tc.want)
		}
	}

	// The stdio proxy's tools/list is the same.
	connect := func(ctx context.Context) (*sdk.ClientSession, error) {
		return sdk.NewClient(&sdk.Implementation{Name: "proxy", Version: "1"}, nil).
			Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1}, nil)
	}
	st, ct := sdk.NewInMemoryTransports()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = NewProxy(connect).Run(ctx, st) }()
	defer func() { cancel(); <-done }()
	pcs, err := sdk.NewClient(&sdk.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pcs.Close()
	plt, err := pcs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := schemasOf(t, lt.Tools), schemasOf(t, plt.Tools); a != b {
		t.Errorf("the proxy lists other schemas:\n%s\nwant\n%s", b, a)
	}
}

// schemasOf is the tools' names and input schemas as JSON, by name.
func schemasOf(t *testing.T, tools []*sdk.Tool) string {
	t.Helper()
	m := map[string]any{}
	for _, tool := range tools {
		m[tool.Name] = tool.InputSchema
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// inputSchema refuses a binding rule it cannot read rather than drop it.
func TestInputSchemaRefusesABadRule(t *testing.T) {
	type in struct {
		N *int `json:"n,omitempty"`
	}
	type rest struct {
		N *int `json:"n,omitempty" binding:"omitempty,lte=ten"`
	}
	if _, err := inputSchema[in](rest{}); err == nil {
		t.Fatal("lte=ten accepted")
	}
	s, err := inputSchema[in](nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&jsonschema.Schema{Types: []string{"null", "integer"}}); !reflect.DeepEqual(s.Properties["n"].Types, want.Types) {
		t.Fatalf("an argument of the tool's own: %v", s.Properties["n"].Types)
	}
}
