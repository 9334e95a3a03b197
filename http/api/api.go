// Package api holds the wire types of the semvec /v1 REST API: every request
// body, query and response, as the server decodes and encodes them. The
// server's handlers (package http), its /openapi.json (generated from these
// types) and the Go client (package client) share them, so the three cannot
// drift apart.
//
// It imports only the standard library. Request types carry gin `binding`
// tags, which the server validates and the OpenAPI generator turns into
// schema constraints; they mean nothing to a client. Optional request fields
// are omitempty, so a client sends only what it sets; response fields never
// are: a response always carries every field (lists are [] rather than
// null; a nullable value is a pointer).
//
// JSON null in a request body is taken only where the REST contract makes
// the field Optional, pydantic's `X | None = None`; those fields, and only
// those, carry the tag nullable:"true", and for them null means the same as
// leaving the field out. The contract makes a field Optional when it lists
// it without a default value, its absence meaning "none" (no session id yet,
// no previous answer, no template vector, no reference session, a trigger's
// other half), or when its default is whatever the server runs with, which
// FastAPI spells `None` and settles in the handler: the embedder's
// dimension and model name (the contract's 384 and all-MiniLM-L6-v2 are the
// default embedder's), the server's context knobs, the trigger and
// isolation thresholds (the contract gives only clients' defaults). Every
// other field is not Optional: a required one, or one whose default value
// the contract names (0.85, false, "weighted_average", [] …: pydantic's
// `X = default`). A null there is a 422 item of pydantic's type error for
// the field (int_type, float_type, bool_type, string_type, list_type,
// dict_type) with "input": null, as is a null element of a list or value
// of a map (a vector's component), whatever the field. /openapi.json marks
// exactly the nullable fields nullable.
//
// A field that holds any JSON value (any, json.RawMessage) may say which
// with the tag schema:"…": the JSON types it takes, comma-separated (string,
// number, integer, boolean, object, array, null), or "any" for every one,
// null included; /openapi.json describes it so. Without the tag such a field
// is an object (json.RawMessage) or any JSON value (any).
//
// The field order is the order of the JSON keys on the wire. Answers that
// the server once built as maps keep their keys sorted (as encoding/json
// writes a map's), so every answer is byte for byte what clients got before
// the types existed.
package api

import "encoding/json"

// Error is the body of every error response except 422: {"detail": "..."}.
type Error struct {
	Detail string `json:"detail"`
}

// ValidationError is the body of a 422, shaped as FastAPI's:
// {"detail": [{"loc": ["body", "message"], "msg": "Field required", "type": "missing"}]}.
type ValidationError struct {
	Detail []ValidationItem `json:"detail"`
}

// ValidationItem is one entry of a 422 body:
// {"loc": ["body", "items", 0, "name"], "msg": "Field required", "type": "missing"}.
// Msg and Type follow pydantic v2's wording so clients written for semvec can
// match on them.
type ValidationItem struct {
	Loc  []any  `json:"loc" schema:"string,integer"` // field names and list indices
	Msg  string `json:"msg"`
	Type string `json:"type"`
	// Input is the value that failed, as pydantic reports it; the server
	// sets it for a null it refuses ("input": null), for a body that is not
	// JSON by its Content-Type (a string) and for a state_dict that is not
	// an object (any JSON value), and leaves it out of its other items.
	Input json.RawMessage `json:"input,omitempty" schema:"any"`
}

// ---------------------------------------------------------------- infra

// Health is the body of GET /v1/health.
type Health struct {
	ActiveSessions int    `json:"active_sessions"`
	Status         string `json:"status"`
	Version        string `json:"version"`
}

// Readiness is the body of GET /v1/readyz: 200 with status "ready", or 503
// with status "unavailable" and a detail.
type Readiness struct {
	Checks ReadinessChecks `json:"checks"`
	Detail string          `json:"detail,omitempty"`
	Status string          `json:"status"`
}

// ReadinessChecks is the state of each dependency: "ok", "unavailable" (or
// "stopping" for the actors); embedder is the embedder's name when it is up.
// Cluster is "off" in single-node mode; in cluster mode it is "ok" while
// this node is in the cluster's member list and "unavailable" otherwise,
// and ClusterMembers counts the members this node sees (itself included;
// 0 when off).
type ReadinessChecks struct {
	Actors         string `json:"actors"`
	Cluster        string `json:"cluster"`
	ClusterMembers int    `json:"cluster_members"`
	Database       string `json:"database"`
	Embedder       string `json:"embedder"`
}

// JSONRPCRequest and JSONRPCResponse document POST /mcp: JSON-RPC 2.0
// messages of the Model Context Protocol (the MCP SDK reads and writes them;
// the server has no handler of its own). A 400 of /mcp is a JSONRPCResponse
// with an error (a body that is not a JSON-RPC message, an unknown method).
type JSONRPCRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      any             `json:"id,omitempty" nullable:"true" schema:"string,number,null"` // JSON-RPC 2.0 allows a null id
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// JSONRPCResponse: see JSONRPCRequest.
type JSONRPCResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      any             `json:"id,omitempty" schema:"string,number,null"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}
