// Package mcp serves semvec-go's memory as Model Context Protocol tools,
// with the official Go SDK (github.com/modelcontextprotocol/go-sdk).
//
// Every tool is a thin wrapper over the REST API: it builds the REST request
// and has it served by a Backend. On the server (Handler, mounted at /mcp)
// the backend is the Gin engine itself, called in-process with the MCP
// caller's own Authorization / X-API-Key header and address, so licence
// auth, tenancy, validation and rate limits are exactly the REST ones.
// `semvec mcp` (NewProxy) serves the same tools over stdio and forwards each
// call to a server's /mcp over streamable HTTP.
package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// PeerHeader carries the TCP peer of an MCP request from Handler to the
// tools (the SDK hands tools the request's headers, not its address). Any
// value a client sends is replaced; it is never forwarded.
const PeerHeader = "X-Semvec-Mcp-Peer"

// Backend serves one REST request for a tool on behalf of the MCP caller.
type Backend interface {
	Do(ctx context.Context, req *sdk.CallToolRequest, method, path string, body any) (status int, respBody []byte, err error)
}

// Engine is a Backend that serves REST requests in-process with h (the Gin
// engine), carrying the MCP request's own credentials and peer address.
type Engine struct{ H http.Handler }

// Do builds the REST request and serves it with e.H.
func (e Engine) Do(ctx context.Context, req *sdk.CallToolRequest, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	r, err := http.NewRequestWithContext(ctx, method, "http://semvec.internal"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.RemoteAddr = "127.0.0.1:0"
	if req != nil && req.Extra != nil && req.Extra.Header != nil {
		h := req.Extra.Header
		for _, name := range []string{"Authorization", "X-Api-Key", "X-Request-Id"} {
			if v := h.Values(name); len(v) > 0 {
				r.Header[name] = v
			}
		}
		if peer := h.Get(PeerHeader); peer != "" {
			r.RemoteAddr = peer
		}
	}
	w := httptest.NewRecorder()
	e.H.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes(), nil
}

// Handler is the streamable-HTTP MCP endpoint: stateless (no Mcp-Session-Id,
// so no MCP session can be shared or taken over between callers; every
// request carries its own credentials) and answering plain JSON. engine
// serves the tools' REST calls; emb embeds the texts of remember and of a
// recall query, as the REST handlers would.
//
// A body that is not a JSON-RPC message (-32700 when it is not JSON, -32600
// otherwise) or names a method the SDK does not serve (-32601) is answered
// 400 with a JSON-RPC error object, as is every other 400; the other errors
// of the HTTP request itself (413, 415) keep the service's
// {"detail": "..."} (see jsonErrors). A batch of more than MaxBatch messages
// is refused (400, -32600) before the SDK serves any of it; one within the
// bound first has the request's Charge (WithCharge) spend its cost beyond
// the first message.
//
// anonymous turns on the SDK's DNS-rebinding protection (a request that
// reached a loopback listener with a non-loopback Host is refused): without
// authentication a web page could otherwise drive a local server's tools
// through a rebound name. With licence auth a browser cannot send the
// token on its own, and the protection would refuse every request that a
// reverse proxy on the same host forwards with the public Host.
func Handler(engine http.Handler, emb embed.Embedder, anonymous bool, log *slog.Logger) http.Handler {
	srv := NewServer(Engine{H: engine}, emb)
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv },
		&sdk.StreamableHTTPOptions{Stateless: true, JSONResponse: true, Logger: log, DisableLocalhostProtection: !anonymous})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set(PeerHeader, r.RemoteAddr)
		if r.Body == nil {
			r.Body = http.NoBody
		}
		charge, _ := r.Context().Value(chargeKey{}).(Charge)
		body := &rpcBody{rc: r.Body, size: r.ContentLength, charge: charge, ctx: r.Context()}
		r.Body = body
		jw := &jsonErrors{ResponseWriter: w, body: body}
		h.ServeHTTP(jw, r)
		jw.finish(errors.Is(r.Context().Err(), context.DeadlineExceeded))
	})
}

func impl() *sdk.Implementation {
	return &sdk.Implementation{Name: "semvec-go", Title: "semvec-go memory", Version: semvec.Version}
}

const instructions = `semvec-go keeps a constant-size semantic memory per conversation (session).
Call run with the user's message before answering: it returns a session_id and a context block to use as
system context. After answering, call store with the same session_id and your answer, so later turns recall it.
recall lists the session's memories ranked against its state (or a query), remember injects a fact directly,
cache_put/cache_find/cache_delete keep verbatim code entities (paths, functions, errors) per session.`

// NewServer is an MCP server whose tools call the REST API through b. emb
// embeds texts for remember and recall; nil makes those two tools answer
// an error.
func NewServer(b Backend, emb embed.Embedder) *sdk.Server {
	s := sdk.NewServer(impl(), &sdk.ServerOptions{Instructions: instructions})
	register(s, &tools{b: b, emb: emb}, nil)
	return s
}

// Connector returns a client session to a semvec-go server's /mcp.
type Connector func(ctx context.Context) (*sdk.ClientSession, error)

// NewProxy is an MCP server (for stdio) with the same tools, names and input
// schemas as NewServer, each call forwarded to the session connect returns.
func NewProxy(connect Connector) *sdk.Server {
	s := sdk.NewServer(impl(), &sdk.ServerOptions{Instructions: instructions})
	register(s, nil, connect)
	return s
}

// add registers one tool whose REST request is rest (see inputSchema):
// typed (input validated by the SDK against the schema, handler run here)
// when t is set, else a forwarder with the same schema.
func add[In any](s *sdk.Server, t *tools, connect Connector, name, desc string, rest any, h func(*tools, context.Context, *sdk.CallToolRequest, In) (*sdk.CallToolResult, error)) {
	schema, err := inputSchema[In](rest)
	if err != nil {
		panic(fmt.Sprintf("mcp: schema of %s: %v", name, err))
	}
	tool := &sdk.Tool{Name: name, Description: desc, InputSchema: schema}
	if t != nil {
		sdk.AddTool(s, tool, func(ctx context.Context, req *sdk.CallToolRequest, in In) (*sdk.CallToolResult, any, error) {
			res, err := h(t, ctx, req, in)
			return res, nil, err
		})
		return
	}
	s.AddTool(tool, func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		cs, err := connect(ctx)
		if err != nil {
			return errorResult("semvec-go server: %v", err), nil
		}
		var args any
		if req.Params.Arguments != nil {
			args = req.Params.Arguments
		}
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
		if err != nil {
			return errorResult("semvec-go server: %v", err), nil
		}
		return res, nil
	})
}

func errorResult(format string, args ...any) *sdk.CallToolResult {
	var r sdk.CallToolResult
	r.SetError(fmt.Errorf(format, args...))
	return &r
}

// tools holds what the tool handlers need.
type tools struct {
	b   Backend
	emb embed.Embedder
}

// call serves one REST request and decodes a 2xx JSON answer into out (when
// non-nil). A non-2xx answer becomes an error result naming the status and
// the REST detail.
func (t *tools) call(ctx context.Context, req *sdk.CallToolRequest, method, path string, body, out any) (*sdk.CallToolResult, []byte) {
	status, raw, err := t.b.Do(ctx, req, method, path, body)
	if err != nil {
		return errorResult("%s %s: %v", method, path, err), nil
	}
	if status < 200 || status > 299 {
		return errorResult("%s", restError(status, raw)), nil
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return errorResult("%s %s: unexpected answer: %v", method, path, err), nil
		}
	}
	return nil, raw
}

// restError is the text of a REST error: "HTTP 404: Session not found", or
// the 422 validation items.
func restError(status int, raw []byte) string {
	var e struct {
		Detail json.RawMessage `json:"detail"`
	}
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &e) == nil && len(e.Detail) > 0 {
		var s string
		if json.Unmarshal(e.Detail, &s) == nil {
			msg = s
		} else {
			var items []struct {
				Loc []any  `json:"loc"`
				Msg string `json:"msg"`
			}
			if json.Unmarshal(e.Detail, &items) == nil && len(items) > 0 {
				parts := make([]string, len(items))
				for i, it := range items {
					loc := make([]string, 0, len(it.Loc))
					for _, l := range it.Loc {
						if l != "body" && l != "query" {
							loc = append(loc, fmt.Sprint(l))
						}
					}
					parts[i] = strings.Join(loc, ".") + ": " + it.Msg
				}
				msg = strings.Join(parts, "; ")
			} else {
				msg = string(e.Detail)
			}
		}
	}
	if status == http.StatusTooManyRequests {
		msg += " (retry later)"
	}
	return "HTTP " + strconv.Itoa(status) + ": " + msg
}

// jsonResult is a successful result: text for the model, and the REST
// answer as structured content (an object).
func jsonResult(text string, raw []byte) *sdk.CallToolResult {
	r := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}
	if len(raw) > 0 && raw[0] == '{' {
		r.StructuredContent = json.RawMessage(raw)
	}
	return r
}

// sessionPath is /v1/<prefix>/<id><suffix> for a session id given by the
// caller; an id that is empty or would change the route is an error.
func sessionPath(prefix, id, suffix string) (string, error) {
	if err := checkID("session_id", id); err != nil {
		return "", err
	}
	return prefix + url.PathEscape(id) + suffix, nil
}

func checkID(field, id string) error {
	switch {
	case strings.TrimSpace(id) == "":
		return fmt.Errorf("%s is required", field)
	case len(id) > 128:
		return fmt.Errorf("%s is longer than 128 characters", field)
	case strings.ContainsAny(id, "/?#%\\") || id == "." || id == "..":
		return fmt.Errorf("%s must not be . or .. nor contain /, ?, #, %% or \\", field)
	}
	return nil
}

var errNoEmbedder = errors.New("this server has no embedder for MCP tools")
