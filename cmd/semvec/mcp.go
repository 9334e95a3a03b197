package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/semvec-go/semvec"
	mcphttp "github.com/semvec-go/semvec/http/mcp"
)

// cmdMCP serves the MCP tools over stdio (for clients that spawn a
// process), forwarding every call to the server at --url over streamable
// HTTP with the token. Nothing but MCP messages is written to stdout.
func cmdMCP(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defURL := getenv("SEMVEC_URL")
	if defURL == "" {
		defURL = "http://127.0.0.1:8080"
	}
	url := fs.String("url", defURL, "base URL of the semvec-go server (its /mcp endpoint is used; $SEMVEC_URL when set)")
	token := fs.String("token", "", "licence token sent as Authorization: Bearer (default $SEMVEC_TOKEN; none for an anonymous server)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: semvec mcp [--url URL] [--token TOKEN]\n\nServes semvec-go's MCP tools over stdio (for MCP clients that start a process),\nforwarding each call to the server at URL over streamable HTTP.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	tok := *token
	if tok == "" {
		tok = strings.TrimSpace(getenv("SEMVEC_TOKEN"))
	}
	endpoint, err := mcpEndpoint(*url)
	if err != nil {
		return err
	}
	remote := newRemote(endpoint, tok)
	defer remote.close()
	err = mcphttp.NewProxy(remote.session).Run(ctx, &sdk.StdioTransport{})
	if ctx.Err() != nil || errors.Is(err, io.EOF) {
		return nil // the client closed stdin, or we were signalled
	}
	return err
}

// mcpEndpoint is base's /mcp (base may already end in /mcp).
func mcpEndpoint(base string) (string, error) {
	base = strings.TrimRight(strings.TrimSpace(base), "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return "", fmt.Errorf("--url must start with http:// or https://, got %q", base)
	}
	if strings.HasSuffix(base, "/mcp") {
		return base, nil
	}
	return base + "/mcp", nil
}

// remote is a lazily connected MCP client session to a server's /mcp; a
// session that ends is replaced on the next call, so the stdio server
// starts (and lists its tools) even while the server is down.
type remote struct {
	endpoint string
	client   *http.Client
	auth     *bearer
	mu       sync.Mutex
	cs       *sdk.ClientSession
}

func newRemote(endpoint, token string) *remote {
	auth := &bearer{token: token, next: http.DefaultTransport}
	return &remote{endpoint: endpoint, auth: auth, client: &http.Client{Timeout: 2 * time.Minute, Transport: auth}}
}

func (r *remote) session(ctx context.Context) (*sdk.ClientSession, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cs != nil {
		return r.cs, nil
	}
	c := sdk.NewClient(&sdk.Implementation{Name: "semvec-mcp-stdio", Version: semvec.Version}, nil)
	r.auth.refused.Store(nil) // a refusal counts only if this connection meets it
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: r.endpoint, HTTPClient: r.client, MaxRetries: -1}, nil)
	if err != nil {
		if refusal := r.auth.refusal(); refusal != "" {
			// The server is there: it refused the token. Say so, with its
			// detail, rather than the SDK's bare status text.
			return nil, fmt.Errorf("%s refused the licence token (%s); check --token or $SEMVEC_TOKEN", r.endpoint, refusal)
		}
		return nil, fmt.Errorf("cannot reach %s: %w", r.endpoint, err)
	}
	r.cs = cs
	go func() {
		_ = cs.Wait()
		r.mu.Lock()
		if r.cs == cs {
			r.cs = nil
		}
		r.mu.Unlock()
	}()
	return cs, nil
}

func (r *remote) close() {
	r.mu.Lock()
	cs := r.cs
	r.cs = nil
	r.mu.Unlock()
	if cs != nil {
		_ = cs.Close()
	}
}

// bearer adds the licence token to every request, and keeps what the server
// said when it last refused one (401 or 402: "HTTP 401: Invalid license: …").
type bearer struct {
	token   string
	next    http.RoundTripper
	refused atomic.Pointer[string]
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	res, err := b.next.RoundTrip(req)
	if err != nil || (res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusPaymentRequired) {
		if err == nil {
			b.refused.Store(nil)
		}
		return res, err
	}
	data, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	_ = res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(data))
	var body struct {
		Detail string `json:"detail"`
	}
	msg := "HTTP " + strconv.Itoa(res.StatusCode)
	if json.Unmarshal(data, &body) == nil && body.Detail != "" {
		msg += ": " + body.Detail
	}
	b.refused.Store(&msg)
	return res, nil
}

// refusal is the server's last refusal of the token, "" when its last
// answer was not one.
func (b *bearer) refusal() string {
	if m := b.refused.Load(); m != nil {
		return *m
	}
	return ""
}
