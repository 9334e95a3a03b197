package http

import (
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
)

// operation describes one route for /openapi.json. Request and response
// bodies are either Go types (converted by reflection) or hand-written schemas.
type operation struct {
	Method, Path, Summary, Tag string
	Body                       any               // Go value whose type is the JSON body, or nil
	Query                      any               // Go value whose type holds `form` query fields, or nil
	Response                   map[string]any    // JSON schema of the success body
	Status                     int               // success status, default 200
	Errors                     []int             // documented error statuses (401, 404, 422, … are added as fitting)
	NoAuth                     bool              // health, readyz, metrics, openapi
	Extra                      map[string]string // extra response descriptions by status
}

// obj builds an object schema from "name:type" pairs; type is string,
// number, integer, boolean, object, any, or []T for arrays.
func obj(fields ...string) map[string]any {
	props := map[string]any{}
	for _, f := range fields {
		name, typ, _ := strings.Cut(f, ":")
		props[name] = typeSchema(typ)
	}
	return map[string]any{"type": "object", "properties": props}
}

func typeSchema(t string) map[string]any {
	if strings.HasPrefix(t, "[]") {
		return map[string]any{"type": "array", "items": typeSchema(t[2:])}
	}
	switch t {
	case "any", "":
		return map[string]any{}
	case "number?":
		return map[string]any{"type": "number", "nullable": true}
	}
	return map[string]any{"type": t}
}

func arrayOf(s map[string]any) map[string]any { return map[string]any{"type": "array", "items": s} }

func sessionOperations() []operation {
	runResp := schemaOf(reflect.TypeOf(RunResult{}))
	return []operation{
		{Method: "GET", Path: "/v1/health", Tag: "infra", Summary: "Liveness and active-session count (no auth)", NoAuth: true,
			Response: obj("status:string", "active_sessions:integer", "version:string")},
		{Method: "GET", Path: "/v1/readyz", Tag: "infra", Summary: "Readiness: database answers and actors are up (503 otherwise)", NoAuth: true,
			Response: obj("status:string", "checks:object"), Errors: []int{503}},
		{Method: "GET", Path: "/metrics", Tag: "infra", Summary: "Prometheus metrics behind Basic Auth (METRICS_USER / METRICS_PASSWORD)", NoAuth: true,
			Response: map[string]any{"type": "string"}, Errors: []int{401, 503}},
		{Method: "GET", Path: "/openapi.json", Tag: "infra", Summary: "This document", NoAuth: true, Response: obj()},
		{Method: "POST", Path: "/mcp", Tag: "mcp", Summary: "Model Context Protocol over streamable HTTP (stateless, JSON answers): JSON-RPC messages; tools run, store, recall, remember, cache_put, cache_find, cache_delete, session_create, session_delete, session_metrics call these /v1 routes with the caller's credentials", Response: obj("jsonrpc:string", "id:any", "result:object", "error:object")},
		{Method: "POST", Path: "/v1/run", Tag: "sessions", Summary: "One turn: retrieve context, score drift and short-circuit, optionally store the previous answer", Body: RunBody{}, Response: runResp, Errors: []int{404, 422, 503}},
		{Method: "POST", Path: "/v1/store", Tag: "sessions", Summary: "Learn from an LLM response (paired with the pending question)", Body: storeBody{}, Response: obj("session_id:string", "stored:boolean", "total_memories:integer"), Errors: []int{404, 422, 503}},
		{Method: "POST", Path: "/v1/session/create", Tag: "sessions", Summary: "Explicit session creation (optional template and policy vectors, context top-k and budget)", Body: createBody{}, Response: obj("session_id:string", "created:boolean", "dimension:integer"), Errors: []int{422}},
		{Method: "DELETE", Path: "/v1/session/{id}", Tag: "sessions", Summary: "Delete a session", Response: obj("session_id:string", "deleted:boolean"), Errors: []int{404, 409}},
		{Method: "GET", Path: "/v1/metrics/{id}", Tag: "sessions", Summary: "Full metrics snapshot of a session",
			Response: obj("session_id:string", "phase:string", "interaction_count:integer", "total_memories:integer", "tiers:object",
				"beta_history:[]number", "similarity_history:[]number", "fsm_history:[]number", "norm_history:[]number",
				"phase_history:[]string", "drift_score:number", "drift_phase:string", "dimension:integer"), Errors: []int{404}},
		{Method: "GET", Path: "/v1/state/context", Tag: "sessions", Summary: "Relevant memories ranked against the session state; texts clipped to 500 characters", Query: contextQuery{},
			Response: arrayOf(schemaOf(reflect.TypeOf(ContextItem{}))), Errors: []int{404, 422}},
		{Method: "GET", Path: "/v1/session/{id}/memories/{hash}", Tag: "sessions", Summary: "Expand one memory to full text",
			Response: obj("session_id:string", "memory_hash:string", "text:string", "tier:string", "importance:number", "access_count:integer", "timestamp:number"), Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/{id}/trigger", Tag: "session control", Summary: "Add a resonance trigger (keyword or embedding)", Body: triggerBody{}, Response: obj("session_id:string", "trigger_count:integer"), Errors: []int{404, 422}},
		{Method: "DELETE", Path: "/v1/session/{id}/trigger", Tag: "session control", Summary: "Remove all triggers", Response: obj("session_id:string", "trigger_count:integer"), Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/{id}/anchor", Tag: "session control", Summary: "Add a drift anchor", Body: embeddingBody{}, Response: obj("session_id:string", "anchor_count:integer"), Errors: []int{404, 422}},
		{Method: "GET", Path: "/v1/session/{id}/anchor_score", Tag: "session control", Summary: "Anchor score and drift threshold",
			Response: obj("session_id:string", "anchor_score:number", "anchor_count:integer", "drift_threshold:number", "realignment_remaining:integer"), Errors: []int{404}},
		{Method: "PUT", Path: "/v1/session/{id}/isolation", Tag: "session control", Summary: "Set the input isolation level (OPEN, FILTER, QUARANTINE, LOCKDOWN)", Body: isolationBody{}, Response: obj("session_id:string", "level:string"), Errors: []int{404, 422}},
		{Method: "POST", Path: "/v1/session/{id}/isolation/release", Tag: "session control", Summary: "Release the quarantine shadow buffer into the state", Response: obj("session_id:string", "released_count:integer"), Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/{id}/memory", Tag: "session control", Summary: "Inject a synthetic memory", Body: injectBody{}, Response: obj("session_id:string", "tier:string", "total_memories:integer"), Errors: []int{404, 422}},
		{Method: "GET", Path: "/v1/session/{id}/export", Tag: "session control", Summary: "Serialize the session with a SHA-256 checksum", Response: obj("session_id:string", "state_dict:object", "checksum:string"), Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/{id}/import", Tag: "session control", Summary: "Restore from an exported state_dict (400 when malformed or tampered; nothing changes)", Body: importBody{}, Response: obj("session_id:string", "imported:boolean"), Errors: []int{400, 404, 422}},
		{Method: "POST", Path: "/v1/session/{id}/verify", Tag: "session control", Summary: "Behavioural consistency check against a reference session or the last export/import", Body: verifyBody{}, Response: obj("session_id:string", "consistent:boolean"), Errors: []int{404, 422}},
		{Method: "POST", Path: "/v1/session/{id}/entities", Tag: "literal cache", Summary: "Store a verbatim code entity (last write wins)", Body: entityBody{}, Status: http.StatusCreated, Response: obj("session_id:string", "key:string", "size:integer"), Errors: []int{400, 404, 422}},
		{Method: "GET", Path: "/v1/session/{id}/entities", Tag: "literal cache", Summary: "List or keyword-query entities", Query: entitiesQuery{},
			Response: map[string]any{"type": "object", "properties": map[string]any{"session_id": typeSchema("string"), "total": typeSchema("integer"), "entities": arrayOf(schemaOf(reflect.TypeOf(EntityItem{})))}}, Errors: []int{404, 422}},
		{Method: "DELETE", Path: "/v1/session/{id}/entities/{key}", Tag: "literal cache", Summary: "Remove an entity (keys may contain / and .)", Response: obj("session_id:string", "key:string", "removed:boolean"), Errors: []int{404}},
	}
}

// operations lists every documented route; a test checks it against the
// routes the engine actually registers.
func (s *Server) operations() []operation {
	ops := sessionOperations()
	if s.d.Layers != nil {
		ops = append(ops, layerOperations()...)
	}
	return ops
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func (s *Server) openapi(c *gin.Context) {
	s.specOnce.Do(func() { s.spec = buildSpec(s.operations(), s.d.Anonymous) })
	c.JSON(http.StatusOK, s.spec)
}

func buildSpec(ops []operation, anonymous bool) map[string]any {
	paths := map[string]any{}
	for _, op := range ops {
		item, _ := paths[op.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.Path] = item
		}
		status := op.Status
		if status == 0 {
			status = http.StatusOK
		}
		responses := map[string]any{
			itoa(status): map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": op.Response}}},
		}
		codes := append([]int(nil), op.Errors...)
		if !op.NoAuth {
			codes = append(codes, 401, 402, 429, 503, 504)
		}
		if op.Body != nil || op.Query != nil {
			codes = append(codes, 422)
		}
		for _, code := range codes {
			schema := map[string]any{"$ref": "#/components/schemas/Error"}
			if code == 422 {
				schema = map[string]any{"$ref": "#/components/schemas/ValidationError"}
			}
			responses[itoa(code)] = map[string]any{"description": http.StatusText(code), "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
		}
		o := map[string]any{"summary": op.Summary, "tags": []string{op.Tag}, "responses": responses}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(op.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": typeSchema("string")})
		}
		if op.Query != nil {
			t := reflect.TypeOf(op.Query)
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				name := strings.Split(f.Tag.Get("form"), ",")[0]
				if name == "" {
					continue
				}
				params = append(params, map[string]any{"name": name, "in": "query", "required": strings.Contains(f.Tag.Get("binding"), "required"), "schema": schemaOf(f.Type)})
			}
		}
		if params != nil {
			o["parameters"] = params
		}
		if op.Body != nil {
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(op.Body))}}}
		}
		if op.NoAuth {
			o["security"] = []any{}
		}
		item[strings.ToLower(op.Method)] = o
	}
	security := []any{map[string]any{"bearer": []any{}}, map[string]any{"apiKey": []any{}}}
	if anonymous {
		security = []any{}
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "semvec-go", "version": semvec.Version,
			"description": "Constant-cost semantic memory for LLM agents; wire-compatible with semvec[api]."},
		"paths":    paths,
		"security": security,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA licence)"},
				"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"},
			},
			"schemas": map[string]any{
				"Error": obj("detail:string"),
				"ValidationError": map[string]any{"type": "object", "properties": map[string]any{"detail": arrayOf(map[string]any{
					"type": "object", "properties": map[string]any{"loc": arrayOf(map[string]any{}), "msg": typeSchema("string"), "type": typeSchema("string")}})}},
			},
		},
	}
}

// schemaOf converts a Go type to a JSON schema using its json tags and
// binding constraints (required, gte/lte, oneof, max).
func schemaOf(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			var fs map[string]any
			if f.Type == reflect.TypeOf([]byte(nil)) || f.Type.Name() == "RawMessage" {
				fs = map[string]any{"type": "object"}
			} else {
				fs = schemaOf(f.Type)
			}
			for _, rule := range strings.Split(f.Tag.Get("binding"), ",") {
				k, v, _ := strings.Cut(rule, "=")
				switch k {
				case "required":
					required = append(required, name)
				case "gte":
					fs["minimum"] = num(v)
				case "lte":
					fs["maximum"] = num(v)
				case "gt":
					fs["minimum"], fs["exclusiveMinimum"] = num(v), true
				case "oneof":
					fs["enum"] = strings.Fields(v)
				case "max":
					if fs["type"] == "string" {
						fs["maxLength"] = num(v)
					} else if fs["type"] == "array" {
						fs["maxItems"] = num(v)
					}
				case "min":
					if fs["type"] == "array" {
						fs["minItems"] = num(v)
					}
				}
			}
			if d := f.Tag.Get("doc"); d != "" {
				fs["description"] = d
			}
			props[name] = fs
		}
		s := map[string]any{"type": "object", "properties": props}
		if required != nil {
			s["required"] = required
		}
		return s
	case reflect.Slice, reflect.Array:
		return arrayOf(schemaOf(t.Elem()))
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.String:
		return typeSchema("string")
	case reflect.Bool:
		return typeSchema("boolean")
	case reflect.Int, reflect.Int32, reflect.Int64:
		return typeSchema("integer")
	case reflect.Float32, reflect.Float64:
		return typeSchema("number")
	}
	return map[string]any{}
}

func num(s string) any {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return f
}

// specCache memoises the built document.
type specCache struct {
	specOnce sync.Once
	spec     map[string]any
}
