package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/api"
	mcphttp "github.com/semvec-go/semvec/http/mcp"
)

// operation documents one route in /openapi.json. Body, Query, Response and
// the values of Other are zero values of wire types (package api): their
// schemas are generated from those types, the same the handlers encode and
// decode, so the document cannot say something else than the server does.
type operation struct {
	Method, Path string // Path in OpenAPI form: /v1/session/{id}
	ID           string // operationId: the name a generated client gives the call
	Tag, Summary string
	Body         any         // request body, or nil
	Query        any         // query parameters (a struct with form tags), or nil
	Response     any         // success body
	Status       int         // success status, default 200
	Errors       []int       // documented error statuses with an api.Error body (401, 422, … are added as fitting)
	Other        map[int]any // documented answers with another body (readyz's 503)
	NoAuth       bool        // health, readyz, metrics, openapi: no licence token
	BasicAuth    bool        // HTTP Basic instead (metrics: METRICS_USER / METRICS_PASSWORD)
	Text         bool        // the success body is text/plain (Prometheus metrics)
	// Batch, when positive, says the body may also be an array of up to
	// Batch bodies, answered by an array of responses (a JSON-RPC batch).
	Batch int
	// Accepted says a body of notifications only (JSON-RPC) is answered 202
	// without a body.
	Accepted bool
}

// orBatch is ref, or an array of 1 to n of it (n > 0).
func orBatch(ref *openapi3.SchemaRef, n int) *openapi3.SchemaRef {
	if n <= 0 {
		return ref
	}
	arr := openapi3.NewArraySchema()
	arr.Items, arr.MinItems, arr.MaxItems = ref, 1, openapi3.Ptr(uint64(n))
	return (&openapi3.Schema{OneOf: openapi3.SchemaRefs{ref, arr.NewRef()}}).NewRef()
}

func sessionOperations() []operation {
	return []operation{
		{Method: "GET", Path: "/v1/health", ID: "health", Tag: "infra", Summary: "Liveness and active-session count (no auth)", NoAuth: true, Response: api.Health{}},
		{Method: "GET", Path: "/v1/readyz", ID: "readyz", Tag: "infra", Summary: "Readiness: database answers, actors are up and, in cluster mode, this node is a member (503 otherwise)", NoAuth: true,
			Response: api.Readiness{}, Other: map[int]any{http.StatusServiceUnavailable: api.Readiness{}}},
		{Method: "GET", Path: "/metrics", ID: "prometheusMetrics", Tag: "infra", Summary: "Prometheus metrics behind Basic Auth (METRICS_USER / METRICS_PASSWORD)", NoAuth: true, BasicAuth: true,
			Response: "", Text: true, Errors: []int{401, 503}},
		{Method: "GET", Path: "/openapi.json", ID: "openapi", Tag: "infra", Summary: "This document", NoAuth: true, Response: map[string]any{}},
		{Method: "POST", Path: "/mcp", ID: "mcp", Tag: "mcp", Summary: "Model Context Protocol over streamable HTTP (stateless, JSON answers): JSON-RPC messages; tools run, store, recall, remember, cache_put, cache_find, cache_delete, session_create, session_delete, session_metrics call these /v1 routes with the caller's credentials. A body that is not JSON (-32700) or not a JSON-RPC message (-32600), or a method the server does not serve (-32601), is answered 400 with a JSON-RPC error (id null, or the request's id when it has one), and so is a request refused for its headers (-32000: an Accept without text/event-stream, an unknown MCP-Protocol-Version); other errors of the HTTP request itself (413, 415) are answered with {\"detail\"}. " +
			"A batch (protocol versions up to 2025-03-26) holds at most " + strconv.Itoa(mcphttp.MaxBatch) + " messages: a larger one is answered 400 with a JSON-RPC -32600 error (id null) and none of it is served. " +
			"A batch is answered 200 with an array of the answers to its requests, in any order; a body of notifications only, 202 without a body. " +
			"The request costs one request of the tier's rate limit per message (a batch of n costs n, answered 429 when the caller's bucket lacks them), plus one per /v1 call a tool makes",
			Body: api.JSONRPCRequest{}, Response: api.JSONRPCResponse{}, Batch: mcphttp.MaxBatch, Accepted: true, Other: map[int]any{http.StatusBadRequest: api.JSONRPCResponse{}}},
		{Method: "POST", Path: "/v1/run", ID: "run", Tag: "sessions", Summary: "One turn: retrieve context, score drift and short-circuit, optionally store the previous answer; a turn that creates a session answers 409 past the caller's session limit (SEMVEC_MAX_SESSIONS_PER_TENANT)", Body: api.RunBody{}, Response: api.RunResult{}, Errors: []int{404, 409}},
		{Method: "POST", Path: "/v1/store", ID: "store", Tag: "sessions", Summary: "Learn from an LLM response (paired with the pending question); a memory keeps at most 2,000 characters of text, cut with ... beyond", Body: api.StoreBody{}, Response: api.StoreResult{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/create", ID: "createSession", Tag: "sessions", Summary: "Explicit session creation (optional template and policy vectors); 409 past the caller's session limit (SEMVEC_MAX_SESSIONS_PER_TENANT)", Body: api.SessionCreateBody{}, Response: api.SessionCreated{}, Errors: []int{409}},
		{Method: "DELETE", Path: "/v1/session/{id}", ID: "deleteSession", Tag: "sessions", Summary: "Delete a session", Response: api.SessionDeleted{}, Errors: []int{404, 409}},
		{Method: "GET", Path: "/v1/metrics/{id}", ID: "sessionMetrics", Tag: "sessions", Summary: "Full metrics snapshot of a session", Response: api.SessionMetrics{}, Errors: []int{404}},
		{Method: "GET", Path: "/v1/state/context", ID: "stateContext", Tag: "sessions", Summary: "Relevant memories ranked against the session state; texts clipped to 500 characters", Query: api.ContextQuery{},
			Response: []api.ContextItem{}, Errors: []int{404}},
		{Method: "GET", Path: "/v1/session/{id}/memories/{hash}", ID: "getMemory", Tag: "sessions", Summary: "Expand one memory to its full text as stored", Response: api.Memory{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/{id}/trigger", ID: "addTrigger", Tag: "session control", Summary: "Add a resonance trigger (keyword or embedding); 409 when the session holds its 64 already", Body: api.TriggerBody{}, Response: api.TriggerCount{}, Errors: []int{404, 409}},
		{Method: "DELETE", Path: "/v1/session/{id}/trigger", ID: "clearTriggers", Tag: "session control", Summary: "Remove all triggers", Response: api.TriggerCount{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/{id}/anchor", ID: "addAnchor", Tag: "session control", Summary: "Add a drift anchor; 409 when the session holds its 64 already", Body: api.AnchorBody{}, Response: api.AnchorCount{}, Errors: []int{404, 409}},
		{Method: "GET", Path: "/v1/session/{id}/anchor_score", ID: "anchorScore", Tag: "session control", Summary: "Anchor score and drift threshold", Response: api.AnchorScore{}, Errors: []int{404}},
		{Method: "PUT", Path: "/v1/session/{id}/isolation", ID: "setIsolation", Tag: "session control", Summary: "Set the input isolation level (OPEN, FILTER, QUARANTINE, LOCKDOWN)", Body: api.IsolationBody{}, Response: api.IsolationLevel{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/{id}/isolation/release", ID: "releaseIsolation", Tag: "session control", Summary: "Release the quarantine shadow buffer into the state", Response: api.IsolationReleased{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/{id}/memory", ID: "injectMemory", Tag: "session control", Summary: "Inject a synthetic memory; its text is kept up to 2,000 characters (600 in the long-term tier), cut with ... beyond", Body: api.MemoryBody{}, Response: api.MemoryInjected{}, Errors: []int{404}},
		{Method: "GET", Path: "/v1/session/{id}/export", ID: "exportSession", Tag: "session control", Summary: "Serialize the session with a SHA-256 checksum", Response: api.SessionExport{}, Errors: []int{404, 409}},
		{Method: "POST", Path: "/v1/session/{id}/import", ID: "importSession", Tag: "session control", Summary: "Restore from an exported state_dict (400 when malformed or tampered; nothing changes)", Body: api.ImportBody{}, Response: api.SessionImported{}, Errors: []int{400, 404}},
		{Method: "POST", Path: "/v1/session/{id}/verify", ID: "verifySession", Tag: "session control", Summary: "Behavioural consistency check against a reference session or the last export/import", Body: api.VerifyBody{}, Response: api.SessionVerified{}, Errors: []int{404}},
		{Method: "POST", Path: "/v1/session/{id}/entities", ID: "putEntity", Tag: "literal cache", Summary: "Store a verbatim code entity (last write wins)", Body: api.EntityBody{}, Status: http.StatusCreated, Response: api.EntityStored{}, Errors: []int{400, 404}},
		{Method: "GET", Path: "/v1/session/{id}/entities", ID: "listEntities", Tag: "literal cache", Summary: "List or keyword-query entities", Query: api.EntitiesQuery{}, Response: api.EntityList{}, Errors: []int{404}},
		{Method: "DELETE", Path: "/v1/session/{id}/entities/{key}", ID: "deleteEntity", Tag: "literal cache", Summary: "Remove an entity (keys may contain / and .)", Response: api.EntityRemoved{}, Errors: []int{404}},
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
	s.specOnce.Do(func() { s.spec, s.specErr = buildSpec(s.operations(), s.d.Anonymous) })
	if s.specErr != nil { // a wire type the generator cannot describe: a programming error the tests catch
		fail(c, s.specErr)
		return
	}
	c.JSON(http.StatusOK, s.spec)
}

// metricsBasicScheme names the HTTP Basic security scheme of GET /metrics
// (METRICS_USER / METRICS_PASSWORD), which takes no licence token.
const metricsBasicScheme = "metricsBasic"

// buildSpec generates the OpenAPI 3.0 document of ops. Every struct type
// becomes a named component schema; binding tags become constraints
// (required, minimum/maximum, enum, maxLength/maxItems); a response field is
// required unless its json tag says omitempty; a response's pointer is
// nullable, and a request's field only when tagged nullable (as bindJSON
// takes null).
func buildSpec(ops []operation, anonymous bool) (*openapi3.T, error) {
	requests, responses := openapi3.Schemas{}, openapi3.Schemas{}
	reqGen, respGen := schemaGenerator(requestRole, false), schemaGenerator(responseRole, false)
	request := func(v any) (*openapi3.SchemaRef, error) { return reqGen.NewSchemaRefForValue(v, requests) }
	response := func(v any) (*openapi3.SchemaRef, error) { return respGen.NewSchemaRefForValue(v, responses) }
	errRef, err := response(api.Error{})
	if err != nil {
		return nil, err
	}
	validationRef, err := response(api.ValidationError{})
	if err != nil {
		return nil, err
	}
	header := func(desc string) *openapi3.HeaderRef {
		return &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{Description: desc, Schema: openapi3.NewIntegerSchema().NewRef()}}}
	}
	jsonResponse := func(status int, ref *openapi3.SchemaRef) *openapi3.ResponseRef {
		r := openapi3.NewResponse().WithDescription(http.StatusText(status)).WithJSONSchemaRef(ref)
		switch status {
		case http.StatusTooManyRequests:
			r.Headers = openapi3.Headers{
				"Retry-After":     header("always 60 (the REST contract's figure)"),
				"RateLimit-Reset": header("whole seconds until the caller's bucket holds the request's tokens again (one; n for an MCP batch of n); absent when it never does (no refill, or a burst below n)"),
			}
		case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			// A 504 to a change also means its outcome is unknown: retry.
			r.Headers = openapi3.Headers{"Retry-After": header("seconds to wait before retrying")}
		}
		return &openapi3.ResponseRef{Value: r}
	}

	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{Title: "semvec-go", Version: semvec.Version,
			Description: "Constant-cost semantic memory for LLM agents; wire-compatible with semvec[api]. Generated from the server's wire types (package http/api)."},
		// The server this document is served from: clients resolve the
		// paths against the URL they fetched it at.
		Servers: openapi3.Servers{{URL: "/", Description: "the server that serves this document"}},
		Paths:   openapi3.NewPaths(),
		Components: &openapi3.Components{
			SecuritySchemes: openapi3.SecuritySchemes{
				"bearer": {Value: openapi3.NewJWTSecurityScheme().WithBearerFormat("JWT (EdDSA licence)")},
				"apiKey": {Value: openapi3.NewSecurityScheme().WithType("apiKey").WithIn("header").WithName("X-API-Key")},
				metricsBasicScheme: {Value: openapi3.NewSecurityScheme().WithType("http").WithScheme("basic").
					WithDescription("METRICS_USER / METRICS_PASSWORD (GET /metrics only)")},
			},
		},
		Security: openapi3.SecurityRequirements{},
	}
	if !anonymous {
		doc.Security = *openapi3.NewSecurityRequirements().With(openapi3.SecurityRequirement{"bearer": {}}).With(openapi3.SecurityRequirement{"apiKey": {}})
	}
	for _, op := range ops {
		o := openapi3.NewOperation()
		o.OperationID, o.Summary, o.Tags = op.ID, op.Summary, []string{op.Tag}
		status := op.Status
		if status == 0 {
			status = http.StatusOK
		}
		ok, err := response(op.Response)
		if err != nil {
			return nil, fmt.Errorf("%s %s response: %w", op.Method, op.Path, err)
		}
		ok = orBatch(ok, op.Batch)
		o.Responses = openapi3.NewResponses()
		if op.Text {
			o.Responses.Set(strconv.Itoa(status), &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(http.StatusText(status)).
				WithContent(openapi3.NewContentWithSchemaRef(ok, []string{"text/plain"}))})
		} else {
			o.Responses.Set(strconv.Itoa(status), jsonResponse(status, ok))
		}
		if op.Accepted {
			o.Responses.Set("202", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("Accepted: the body held only notifications, which have no answer")})
		}
		codes := slices.Clone(op.Errors)
		if !op.NoAuth {
			codes = append(codes, 401, 402, 429, 503, 504)
		}
		for _, code := range codes {
			o.Responses.Set(strconv.Itoa(code), jsonResponse(code, errRef))
		}
		if op.Body != nil || op.Query != nil {
			o.Responses.Set("422", jsonResponse(http.StatusUnprocessableEntity, validationRef))
		}
		for code, body := range op.Other {
			ref, err := response(body)
			if err != nil {
				return nil, fmt.Errorf("%s %s %d: %w", op.Method, op.Path, code, err)
			}
			o.Responses.Set(strconv.Itoa(code), jsonResponse(code, ref))
		}
		// Every other error (404 of an unknown route, 405, 413, 414, 431, 500…)
		// carries {"detail": "..."} too.
		o.Responses.Set("default", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("Error").WithJSONSchemaRef(errRef)})

		for _, m := range pathParam.FindAllStringSubmatch(op.Path, -1) {
			o.AddParameter(openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema()))
		}
		if op.Query != nil {
			params, err := queryParameters(op.Query)
			if err != nil {
				return nil, fmt.Errorf("%s %s query: %w", op.Method, op.Path, err)
			}
			for _, p := range params {
				o.AddParameter(p)
			}
		}
		if op.Body != nil {
			body, err := request(op.Body)
			if err != nil {
				return nil, fmt.Errorf("%s %s body: %w", op.Method, op.Path, err)
			}
			o.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(orBatch(body, op.Batch))}
		}
		if op.NoAuth {
			o.Security = openapi3.NewSecurityRequirements()
		}
		if op.BasicAuth {
			o.Security = openapi3.NewSecurityRequirements().With(openapi3.SecurityRequirement{metricsBasicScheme: {}})
		}
		doc.AddOperation(op.Path, op.Method, o)
	}
	doc.Components.Schemas = responses
	for name, s := range requests {
		if _, dup := responses[name]; dup {
			return nil, fmt.Errorf("type %s is used both in a request and in a response", name)
		}
		doc.Components.Schemas[name] = s
	}
	if _, dup := doc.Components.Schemas[anyValueName]; dup {
		return nil, fmt.Errorf("a wire type is named %s, the schema of any JSON value", anyValueName)
	}
	doc.Components.Schemas[anyValueName] = anyValueSchema().NewRef()
	return doc, nil
}

// queryParameters describes the fields of a query struct (form tags) as
// query parameters, in field order.
func queryParameters(q any) ([]*openapi3.Parameter, error) {
	ref, err := schemaGenerator(requestRole, true).NewSchemaRefForValue(q, nil)
	if err != nil {
		return nil, err
	}
	t := reflect.TypeOf(q)
	var params []*openapi3.Parameter
	for i := range t.NumField() {
		name := formName(t.Field(i))
		if name == "" {
			continue
		}
		params = append(params, openapi3.NewQueryParameter(name).
			WithRequired(slices.Contains(ref.Value.Required, name)).WithSchema(ref.Value.Properties[name].Value))
	}
	return params, nil
}

func formName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("form"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

type schemaRole int

const (
	requestRole  schemaRole = iota // required and constraints come from binding tags
	responseRole                   // every field without omitempty is required
)

var rawMessage = reflect.TypeOf(json.RawMessage(nil))

// schemaGenerator returns an openapi3gen generator for one role. Queries
// name their fields by form tag and are inlined; bodies become components.
func schemaGenerator(role schemaRole, query bool) *openapi3gen.Generator {
	opts := []openapi3gen.Option{openapi3gen.SchemaCustomizer(func(_ string, t reflect.Type, tag reflect.StructTag, s *openapi3.Schema) error {
		switch {
		case t == rawMessage && tag.Get("schema") == "": // an exported state: a JSON object
			s.Type = &openapi3.Types{openapi3.TypeObject}
		case t == rawMessage || t.Kind() == reflect.Interface:
			// the JSON types its schema tag names (a 422 item's input and
			// loc, a JSON-RPC id); without one, any JSON value, null too
			types := tag.Get("schema")
			if types == "" {
				types = "any"
			}
			return jsonTypes(s, types)
		case t.Kind() == reflect.Struct:
			return constrain(t, s, role, query)
		}
		return nil
	})}
	if query {
		opts = append(opts, openapi3gen.UseAllExportedFields(),
			openapi3gen.CreateFieldNameGenerator(func(f reflect.StructField, _ string) string { return formName(f) }))
	} else {
		opts = append(opts, openapi3gen.CreateComponentSchemas(openapi3gen.ExportComponentSchemasOptions{ExportComponentSchemas: true, ExportTopLevelSchema: true}))
	}
	return openapi3gen.NewGenerator(opts...)
}

// anyValueName is the component schema of any JSON value, null included:
// the items of an array in a value that may be anything.
const anyValueName = "AnyValue"

// anyValueSchema is the schema of any JSON value, null included (its array
// member's items refer to itself, as anyValueName).
func anyValueSchema() *openapi3.Schema {
	s := &openapi3.Schema{Description: "Any JSON value, null included."}
	if err := jsonTypesWith(s, "any", openapi3.NewSchemaRef("#/components/schemas/"+anyValueName, s)); err != nil {
		panic(err) // "any" is always understood
	}
	return s
}

// jsonTypes makes s the schema of a value of the JSON types that spec, a
// schema tag, names (package api): comma-separated, or "any" for every type
// and null.
func jsonTypes(s *openapi3.Schema, spec string) error {
	return jsonTypesWith(s, spec, openapi3.NewSchemaRef("#/components/schemas/"+anyValueName, anyValueSchema()))
}

// jsonTypesWith is jsonTypes, an array's items being anyValue. OpenAPI 3.0
// has no null type and reads nullable only beside a type (as linters
// insist), so null is a nullable on the first type named; several types
// make an anyOf of one schema each.
func jsonTypesWith(s *openapi3.Schema, spec string, anyValue *openapi3.SchemaRef) error {
	names := strings.Split(spec, ",")
	if spec == "any" {
		names = []string{openapi3.TypeString, openapi3.TypeNumber, openapi3.TypeBoolean, openapi3.TypeObject, openapi3.TypeArray, openapi3.TypeNull}
	}
	var members openapi3.SchemaRefs
	nullable := false
	for _, name := range names {
		switch name {
		case openapi3.TypeNull:
			nullable = true
		case openapi3.TypeString, openapi3.TypeNumber, openapi3.TypeInteger, openapi3.TypeBoolean, openapi3.TypeObject:
			members = append(members, (&openapi3.Schema{Type: &openapi3.Types{name}}).NewRef())
		case openapi3.TypeArray:
			members = append(members, (&openapi3.Schema{Type: &openapi3.Types{name}, Items: anyValue}).NewRef())
		default:
			return fmt.Errorf("schema tag %q: %q is no JSON type", spec, name)
		}
	}
	if len(members) == 0 {
		return fmt.Errorf("schema tag %q names no JSON type but null", spec)
	}
	members[0].Value.Nullable = nullable
	if len(members) == 1 {
		s.Type, s.Items, s.Nullable = members[0].Value.Type, members[0].Value.Items, nullable
		return nil
	}
	s.Type, s.Nullable, s.AnyOf = nil, false, members
	return nil
}

// constrain sets the required properties of struct type t's schema s, the
// description of each field with a doc tag and, for requests, turns each
// field's nullable tag into the schema's nullable (false without it), its
// default tag into the schema's default, its pattern tag into the
// schema's pattern and its binding rules into schema constraints
// (api.ConstraintsOf reads them, as for the MCP tools' schemas).
func constrain(t reflect.Type, s *openapi3.Schema, role schemaRole, query bool) error {
	s.Required = nil
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if query {
			name, opts = formName(f), ""
		}
		prop := s.Properties[name]
		if name == "" || name == "-" || prop == nil {
			continue
		}
		if doc := f.Tag.Get("doc"); doc != "" && prop.Value != nil && !strings.HasPrefix(prop.Ref, "#/") {
			prop.Value.Description = doc
		}
		c, err := api.ConstraintsOf(f.Type, f.Tag.Get("binding"))
		if err != nil {
			return fmt.Errorf("%s.%s: %w", t.Name(), name, err)
		}
		if role == responseRole && !slices.Contains(strings.Split(opts, ","), "omitempty") || role == requestRole && c.Required {
			s.Required = append(s.Required, name)
		}
		if role != requestRole || prop.Value == nil || strings.HasPrefix(prop.Ref, "#/") {
			continue
		}
		target := prop.Value
		// A request field takes null only when tagged nullable (package api;
		// bindJSON refuses it elsewhere), whatever its Go type: a pointer
		// with a default is not nullable. A query value is never null. A
		// field with a schema tag says itself whether null is among its
		// types (a test checks that the two tags agree).
		if f.Tag.Get("schema") == "" {
			target.Nullable = !query && f.Tag.Get("nullable") == "true"
		}
		if d := f.Tag.Get("default"); d != "" {
			target.Default = defaultValue(target, d)
		}
		if p := f.Tag.Get("pattern"); p != "" { // a check the handler makes (RE2 syntax, for every tool)
			target.Pattern = p
		}
		constrainSchema(target, c)
	}
	return nil
}

// constrainSchema sets schema s from a field's constraints (see
// api.ConstraintsOf), its items' too where s describes them inline.
func constrainSchema(s *openapi3.Schema, c api.Constraints) {
	s.Min, s.Max = c.Minimum, c.Maximum
	if c.ExclusiveMinimum {
		s.WithExclusiveMin(true)
	}
	if c.ExclusiveMaximum {
		s.WithExclusiveMax(true)
	}
	if c.MinLength != nil {
		s.MinLength = uint64(*c.MinLength)
	}
	s.MaxLength = uint64Of(c.MaxLength)
	if c.MinItems != nil {
		s.MinItems = uint64(*c.MinItems)
	}
	s.MaxItems = uint64Of(c.MaxItems)
	for _, e := range c.Enum {
		s.Enum = append(s.Enum, e)
	}
	if pat := c.Pattern(); pat != "" {
		s.Pattern = pat
	}
	if c.Items != nil && s.Items != nil && s.Items.Value != nil && !strings.HasPrefix(s.Items.Ref, "#/") {
		constrainSchema(s.Items.Value, *c.Items)
	}
}

func uint64Of(p *int) *uint64 {
	if p == nil {
		return nil
	}
	n := uint64(max(*p, 0))
	return &n
}

// defaultValue is a default tag's text as a value of schema s's type.
func defaultValue(s *openapi3.Schema, text string) any {
	switch {
	case s.Type.Is(openapi3.TypeInteger):
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n
		}
	case s.Type.Is(openapi3.TypeNumber):
		if n, err := strconv.ParseFloat(text, 64); err == nil {
			return n
		}
	case s.Type.Is(openapi3.TypeBoolean):
		if b, err := strconv.ParseBool(text); err == nil {
			return b
		}
	}
	return text
}

// specCache memoises the built document.
type specCache struct {
	specOnce sync.Once
	spec     *openapi3.T
	specErr  error
}
