package mcp

import (
	"net/http"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func newCallToolRequest(h http.Header) *sdk.CallToolRequest {
	return &sdk.CallToolRequest{Extra: &sdk.RequestExtra{Header: h}}
}

func TestRestError(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   string
	}{
		{404, `{"detail":"Session not found"}`, "HTTP 404: Session not found"},
		{422, `{"detail":[{"loc":["body","response"],"msg":"Field required","type":"missing"}]}`, "HTTP 422: response: Field required"},
		{429, `{"detail":"Rate limit exceeded"}`, "HTTP 429: Rate limit exceeded (retry later)"},
		{502, `upstream down`, "HTTP 502: upstream down"},
	} {
		if got := restError(c.status, []byte(c.body)); got != c.want {
			t.Errorf("restError(%d, %s) = %q, want %q", c.status, c.body, got, c.want)
		}
	}
}

func TestSessionPathRefusesRouteChanges(t *testing.T) {
	for _, id := range []string{"", "  ", "a/b", "..", ".", "a?b", "a#b", "a%2Fb", strings.Repeat("x", 129)} {
		if _, err := sessionPath("/v1/metrics/", id, ""); err == nil {
			t.Errorf("session id %q accepted", id)
		}
	}
	if p, err := sessionPath("/v1/session/", "abc-123", "/entities"); err != nil || p != "/v1/session/abc-123/entities" {
		t.Errorf("got %q %v", p, err)
	}
}

// The in-process backend forwards the caller's credentials and address,
// and nothing else from the MCP request.
func TestEngineForwardsCredentials(t *testing.T) {
	var got *http.Request
	e := Engine{H: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r; w.WriteHeader(204) })}
	req := newCallToolRequest(http.Header{
		"Authorization": {"Bearer tok"}, "X-Api-Key": {"key"}, PeerHeader: {"10.1.2.3:4567"},
		"Cookie": {"session=1"}, "Mcp-Session-Id": {"x"},
	})
	status, _, err := e.Do(t.Context(), req, http.MethodPost, "/v1/run", map[string]any{"message": "hi"})
	if err != nil || status != 204 {
		t.Fatal(status, err)
	}
	if got.Header.Get("Authorization") != "Bearer tok" || got.Header.Get("X-API-Key") != "key" || got.RemoteAddr != "10.1.2.3:4567" {
		t.Fatalf("credentials not forwarded: %v %s", got.Header, got.RemoteAddr)
	}
	if got.Header.Get("Cookie") != "" || got.Header.Get(PeerHeader) != "" || got.Header.Get("Mcp-Session-Id") != "" {
		t.Fatalf("other headers forwarded: %v", got.Header)
	}
	if got.URL.Path != "/v1/run" || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("request: %s %v", got.URL, got.Header)
	}
}
