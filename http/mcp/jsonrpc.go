package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// JSON-RPC errors of /mcp. The SDK's streamable-HTTP handler answers a
// body it cannot use with a plain-text 400 ("malformed payload: …", "JSON
// RPC not handled: …"), and takes an object with an id but neither "method"
// nor "result"/"error" for a response (202). MCP clients expect a JSON-RPC
// 2.0 error object instead (JSON-RPC 2.0 §5.1; the streamable-HTTP
// transport: an HTTP error status whose body may be a JSON-RPC error
// response without an id). rpcBody checks the body when the SDK reads it,
// that is after the SDK's own checks of the request's method and headers,
// and jsonErrors writes the error object in place of the SDK's text.

// maxMessageBytes bounds the body rpcBody reads: the SDK's own limit, which
// it answers with 413 (behind the server's maxBody, the lower limit of the
// two applies).
const maxMessageBytes = sdk.DefaultMaxRequestBodyBytes

// MaxBatch is the most messages a JSON-RPC batch may hold. A larger batch
// is refused whole (400, -32600, id null) when rpcBody reads it, before the
// SDK decodes or serves any of it. Batches exist only up to protocol
// version 2025-03-26 (2025-06-18 removed them; the SDK refuses them from
// then on), and the clients that send them batch a handful of messages (an
// initialize with its initialized notification, a few calls issued
// together); without a bound, one HTTP request could carry thousands of
// messages, each answered in full. Every message beyond the first also
// costs one request of the caller's rate-limit budget (Charge).
const MaxBatch = 16

// errNotJSONRPC ends the SDK's read of a body that rpcBody refused. The SDK
// answers it with a plain-text 400, which jsonErrors replaces.
var errNotJSONRPC = errors.New("mcp: the body is not a JSON-RPC message")

// errCharged ends the SDK's read of a batch whose Charge was refused: the
// refusal has been answered, and jsonErrors drops what the SDK writes.
var errCharged = errors.New("mcp: the batch is over the caller's rate limit")

// Charge spends n more requests (n >= 1) of the caller's rate-limit budget
// for the HTTP request Handler serves: the messages of a batch beyond the
// first, the first being the HTTP request the rate limit counted before
// Handler ran. Handler calls it once the batch has been read and checked,
// before the SDK serves any of it. When the budget lacks them, Charge
// answers the HTTP request itself (429) and returns false; none of the batch
// is served then.
type Charge func(n int) bool

type chargeKey struct{}

// WithCharge returns r carrying charge, which Handler calls for a batch (see
// Charge). Without one a batch costs nothing beyond its HTTP request.
func WithCharge(r *http.Request, charge Charge) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), chargeKey{}, charge))
}

// errBodyTimeout is the read error of a body still arriving at the
// server's read deadline (past the request's own).
var errBodyTimeout = errors.New("request body not received within the request timeout")

// rpcBody is a request body that is read whole and checked the first time
// the SDK reads it.
type rpcBody struct {
	rc       io.ReadCloser
	size     int64           // the declared Content-Length, -1 when unknown
	ctx      context.Context // the request's: a body read whole after its deadline is refused like one cut at it
	charge   Charge          // spends a batch's cost beyond its first message; nil: nothing
	checked  bool            // the SDK has read the body
	data     *bytes.Reader   // the body, when it is a JSON-RPC message
	err      error           // the read's error: the body's, errNotJSONRPC or errCharged
	refusal  *jsonrpc.Error  // why the body is not a JSON-RPC message
	id       jsonrpc.ID      // the id of a body that is one request, else zero
	answered bool            // charge refused the batch and answered the request
}

func (b *rpcBody) Read(p []byte) (int, error) {
	if !b.checked {
		b.checked = true
		b.load()
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.data.Read(p)
}

func (b *rpcBody) Close() error { return b.rc.Close() }

// load reads and checks the body, and has charge spend the cost of a batch
// beyond its first message. A read error (a body over maxBody's limit:
// *http.MaxBytesError, which the SDK answers with 413) is the SDK's to
// answer, as before.
func (b *rpcBody) load() {
	raw, err := b.read()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded),
		err == nil && b.ctx != nil && errors.Is(b.ctx.Err(), context.DeadlineExceeded):
		// The server's read deadline, or a body that came in whole after
		// the request's (a slow upload): say so, not which sockets timed
		// out, and serve none of it (as REST answers 408).
		b.err = errBodyTimeout
	case err != nil:
		b.err = err
	case len(raw) > maxMessageBytes:
		b.err = &http.MaxBytesError{Limit: maxMessageBytes}
	default:
		var n int
		if b.refusal, b.id, n = checkMessage(raw); b.refusal != nil {
			b.err = errNotJSONRPC
		} else if n > 1 && b.charge != nil && !b.charge(n-1) {
			b.err, b.answered = errCharged, true
		} else {
			b.data = bytes.NewReader(raw)
		}
	}
}

// read reads the body whole, at most maxMessageBytes+1 bytes. A body of
// declared length is read into a buffer of exactly that size (one over the
// limit is refused unread), so it holds no more than the body budget
// reserved for it; one of unknown length (chunked) grows as it arrives.
func (b *rpcBody) read() ([]byte, error) {
	switch {
	case b.size > maxMessageBytes:
		return nil, &http.MaxBytesError{Limit: maxMessageBytes}
	case b.size > 0:
		raw := make([]byte, b.size)
		if _, err := io.ReadFull(b.rc, raw); err != nil {
			return nil, err
		}
		return raw, nil
	}
	return io.ReadAll(io.LimitReader(b.rc, maxMessageBytes+1))
}

// checkMessage returns why body is not one JSON-RPC 2.0 message or a batch
// of at most MaxBatch of them (-32700 when it is not JSON, -32600 otherwise;
// nil when it is), the id of a body that is one request, and how many
// messages the body holds. Whether the SDK serves a message (its method, its
// params, a batch) is the SDK's to say.
func checkMessage(body []byte) (*jsonrpc.Error, jsonrpc.ID, int) {
	var none jsonrpc.ID
	var value json.RawMessage // Unmarshal checks all of body, trailing data too
	if err := json.Unmarshal(body, &value); err != nil {
		return &jsonrpc.Error{Code: jsonrpc.CodeParseError, Message: "Parse error: " + err.Error()}, none, 0
	}
	if !utf8.Valid(body) { // JSON text is UTF-8; decoded, the bad bytes would be stored as U+FFFD
		return &jsonrpc.Error{Code: jsonrpc.CodeParseError, Message: "Parse error: the body is not UTF-8"}, none, 0
	}
	if value[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(value, &batch); err != nil || len(batch) == 0 {
			return invalidRequest("an empty batch"), none, 0
		}
		if len(batch) > MaxBatch {
			return invalidRequest("a batch of " + strconv.Itoa(len(batch)) + " messages, over the limit of " +
				strconv.Itoa(MaxBatch)), none, 0
		}
		for _, m := range batch {
			if _, err := decodeMessage(m); err != nil {
				return invalidRequest("in a batch: " + err.Error()), none, 0
			}
		}
		return nil, none, len(batch)
	}
	msg, err := decodeMessage(value)
	if err != nil {
		return invalidRequest(err.Error()), none, 0
	}
	if req, ok := msg.(*jsonrpc.Request); ok {
		return nil, req.ID, 1
	}
	return nil, none, 1
}

// decodeMessage decodes one JSON-RPC message as the SDK does, and also
// refuses an object the SDK would take for a response although it has
// neither a result nor an error.
func decodeMessage(raw json.RawMessage) (jsonrpc.Message, error) {
	if raw[0] != '{' {
		return nil, errors.New("a message is a JSON object")
	}
	msg, err := jsonrpc.DecodeMessage(raw)
	if err != nil {
		return nil, err
	}
	if _, ok := msg.(*jsonrpc.Response); ok {
		var r struct{ Result, Error json.RawMessage }
		if json.Unmarshal(raw, &r) != nil || (r.Result == nil && r.Error == nil) {
			return nil, errors.New(`a message without "method" must have "result" or "error"`)
		}
	}
	return msg, nil
}

func invalidRequest(why string) *jsonrpc.Error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "Invalid Request: " + why}
}

// codeRequestRefused is the JSON-RPC error code of a 400 for the HTTP
// request rather than its message (JSON-RPC 2.0 reserves -32000 to -32099
// for implementation-defined server errors).
const codeRequestRefused = -32000

// sdkNotHandled begins the SDK's text for a method it does not serve
// (jsonrpc2.ErrNotHandled, internal to the SDK); TestMCPJSONRPCErrors fails
// if an SDK update changes it.
const sdkNotHandled = "JSON RPC not handled"

// jsonErrors turns the SDK's plain-text transport errors (written with
// http.Error) into JSON. Every 400 is a JSON-RPC error response, what MCP
// clients read:
//
//   - a body that is not a JSON-RPC message, or a batch over MaxBatch: the
//     error rpcBody found (-32700, -32600), id null;
//   - a JSON-RPC message the SDK refused: -32601 for a method it does not
//     serve, -32600 otherwise (a request without its params, a batch in a
//     protocol version without batches), with the request's id (null for a
//     notification or a batch);
//   - a request the SDK refused before reading its body (a missing Accept,
//     an unknown Mcp-Protocol-Version): -32000, a server error of the
//     implementation's own, id null.
//
// Its other errors (a wrong Content-Type: 415; a body over the limit: 413)
// keep the service's error shape, {"detail": "..."}, like every other error
// the server answers. Other answers pass through, except after a refused
// Charge: that answer is the one sent, and what the SDK writes is dropped.
type jsonErrors struct {
	http.ResponseWriter
	body    *rpcBody
	status  int
	plain   bool         // an error body is being collected
	detail  bytes.Buffer // its text (bounded)
	dropped http.Header  // the SDK's headers after a refused Charge
	// A success status is held back (held) until the first byte of its
	// body: an answer the SDK gives up on when the request's deadline
	// passes has headers and no body, and is sent as a 504 instead (see
	// finish).
	held  int
	wrote bool // a body byte has been written
	sent  bool // a status has been sent
}

// Header is the response's, or a throwaway one after a refused Charge.
func (w *jsonErrors) Header() http.Header {
	if w.body.answered {
		if w.dropped == nil {
			w.dropped = http.Header{}
		}
		return w.dropped
	}
	return w.ResponseWriter.Header()
}

// maxTransportError bounds the text of one SDK transport error kept.
const maxTransportError = 4096

func (w *jsonErrors) WriteHeader(code int) {
	if w.body.answered {
		return
	}
	if code >= 400 && strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.plain = true
		w.status = code
		w.Header().Set("Content-Type", "application/json")
		w.Header().Del("Content-Length")
	}
	if code < 300 && !w.plain && !w.wrote {
		w.held = code
		return
	}
	w.sent = true
	w.ResponseWriter.WriteHeader(code)
}

// sendHeld sends a held success status.
func (w *jsonErrors) sendHeld() {
	if w.held != 0 {
		w.sent = true
		w.ResponseWriter.WriteHeader(w.held)
		w.held = 0
	}
}

func (w *jsonErrors) Write(b []byte) (int, error) {
	if w.body.answered {
		return len(b), nil
	}
	if !w.plain {
		if len(b) > 0 {
			w.sendHeld()
			w.wrote = true
		}
		return w.ResponseWriter.Write(b)
	}
	w.detail.Write(b[:min(len(b), maxTransportError-w.detail.Len())])
	return len(b), nil
}

// errDeadline answers a request whose deadline (SEMVEC_REQUEST_TIMEOUT)
// passed before the SDK had an answer to write: 504 with Retry-After, as
// the REST routes answer it, in JSON-RPC's error shape.
func errDeadline() *jsonrpc.Error {
	return &jsonrpc.Error{Code: codeRequestRefused, Message: "request deadline exceeded before an answer was ready; retry"}
}

// finish writes a collected error's JSON body; or, when the request's
// deadline passed (expired) and the SDK wrote no answer (nothing, or a
// success status without a body), a 504; or the held status of an answer
// without a body (a 202 for notifications).
func (w *jsonErrors) finish(expired bool) {
	if w.body.answered {
		return
	}
	if !w.plain {
		switch {
		case !w.sent && !w.wrote && expired: // nothing, or a status without a body
			w.held = 0
			w.ResponseWriter.Header().Set("Content-Type", "application/json")
			w.ResponseWriter.Header().Del("Content-Length")
			w.ResponseWriter.Header().Set("Retry-After", "5")
			w.ResponseWriter.WriteHeader(http.StatusGatewayTimeout)
			_, _ = w.ResponseWriter.Write(rpcError(w.body.id, errDeadline()))
		default:
			w.sendHeld()
		}
		return
	}
	text := strings.TrimSpace(w.detail.String())
	var body []byte
	switch {
	case w.status != http.StatusBadRequest:
		body, _ = json.Marshal(map[string]string{"detail": text})
	case w.body.refusal != nil:
		body = rpcError(jsonrpc.ID{}, w.body.refusal)
	case w.body.checked && w.body.err == nil:
		code := int64(jsonrpc.CodeInvalidRequest)
		if strings.HasPrefix(text, sdkNotHandled) {
			code = jsonrpc.CodeMethodNotFound
		}
		body = rpcError(w.body.id, &jsonrpc.Error{Code: code, Message: text})
	default:
		body = rpcError(jsonrpc.ID{}, &jsonrpc.Error{Code: codeRequestRefused, Message: text})
	}
	_, _ = w.ResponseWriter.Write(body)
}

// rpcError is a JSON-RPC 2.0 error response. A zero id is written as null,
// as JSON-RPC 2.0 §5 asks when the request's id is unknown (the SDK's
// encoder would leave it out).
func rpcError(id jsonrpc.ID, e *jsonrpc.Error) []byte {
	b, _ := json.Marshal(struct {
		JSONRPC string         `json:"jsonrpc"`
		ID      any            `json:"id"`
		Error   *jsonrpc.Error `json:"error"`
	}{"2.0", id.Raw(), e})
	return b
}

// Flush and Unwrap keep the writer's other abilities (the SDK streams).
func (w *jsonErrors) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.plain && !w.body.answered {
		w.sendHeld()
		f.Flush()
	}
}

func (w *jsonErrors) Unwrap() http.ResponseWriter { return w.ResponseWriter }
