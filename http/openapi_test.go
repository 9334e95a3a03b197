package http

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/oapi-codegen/oapi-codegen/v2/pkg/codegen"
	// The generated client's one dependency. Importing it here keeps it in
	// go.mod, so TestGeneratedClientCompiles builds offline.
	_ "github.com/oapi-codegen/runtime"

	"github.com/semvec-go/semvec/actors"
)

// servedSpec returns /openapi.json as an engine with every route serves it.
func servedSpec(t *testing.T) (*gin.Engine, []byte) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	engine := New(Deps{Layers: &actors.Layers{}, Limiter: NewRateLimiter(nil), Anonymous: true})
	rec := httptest.NewRecorder()
	engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return engine, rec.Body.Bytes()
}

// TestOpenAPIDescribesEveryRoute fails when a registered route is missing
// from /openapi.json, or the document names a route that does not exist.
// A collection route registered without its trailing slash (see collection)
// is the documented operation itself, served by the same handler.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	engine, raw := servedSpec(t)
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`[:*]([A-Za-z_]+)`)
	registered := map[string]bool{}
	handlers := map[string]string{}
	for _, r := range engine.Routes() {
		handlers[r.Method+" "+r.Path] = r.Handler
	}
	for _, r := range engine.Routes() {
		path := param.ReplaceAllString(r.Path, "{$1}")
		if _, documented := doc.Paths[path]; !documented && handlers[r.Method+" "+r.Path+"/"] == r.Handler {
			path += "/" // the same operation, answered without the trailing slash too
		}
		key := strings.ToLower(r.Method) + " " + path
		registered[key] = true
		op, ok := doc.Paths[path][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("route %s %s is not in /openapi.json", r.Method, r.Path)
			continue
		}
		if _, ok := op["responses"]; !ok {
			t.Errorf("%s %s has no responses", r.Method, path)
		}
	}
	operationIDs := map[string]string{}
	for path, methods := range doc.Paths {
		if _, twin := doc.Paths[strings.TrimSuffix(path, "/")]; strings.HasSuffix(path, "/") && twin {
			t.Errorf("/openapi.json documents both %s and its twin without the slash", path)
		}
		for m, op := range methods {
			if !registered[m+" "+path] {
				t.Errorf("/openapi.json documents %s %s, which is not registered", strings.ToUpper(m), path)
			}
			id, _ := op["operationId"].(string)
			if id == "" || operationIDs[id] != "" {
				t.Errorf("%s %s: operationId %q missing or also used by %s", m, path, id, operationIDs[id])
			}
			operationIDs[id] = m + " " + path
		}
	}
	// request shapes come from the handlers' own types, as named schemas
	run := doc.Paths["/v1/run"]["post"]["requestBody"].(map[string]any)
	schema := run["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	if ref := schema["$ref"]; ref != "#/components/schemas/RunBody" {
		t.Fatalf("/v1/run request schema is %v, want the named schema RunBody", schema)
	}
	schema = doc.Components.Schemas["RunBody"]
	if req, _ := schema["required"].([]any); len(req) != 1 || req[0] != "message" {
		t.Fatalf("/v1/run request schema required = %v", schema["required"])
	}
	// defaults are documented as the schema's default
	threshold := schema["properties"].(map[string]any)["short_circuit_threshold"].(map[string]any)
	if threshold["default"] != 0.85 {
		t.Fatalf("short_circuit_threshold = %v, want its default 0.85", threshold)
	}
	var limit map[string]any
	for _, p := range doc.Paths["/v1/region/{id}/events"]["get"]["parameters"].([]any) {
		if p := p.(map[string]any); p["name"] == "limit" {
			limit = p["schema"].(map[string]any)
		}
	}
	if limit["default"] != 20.0 {
		t.Fatalf("events?limit = %v, want its default 20", limit)
	}
	for _, name := range []string{"RunResult", "ClusterState", "SessionMetrics", "Error", "ValidationError", "EntityItem"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("no component schema %s", name)
		}
	}
}

// TestOpenAPIDocumentIsValid loads /openapi.json with kin-openapi and
// validates it against the OpenAPI 3.0 rules.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	_, raw := servedSpec(t)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid document: %v", err)
	}
	// constraints come from the binding tags; coupling_factor has a
	// default (0), so it is no Optional field: null is refused
	c := doc.Components.Schemas["ClusterCreateBody"].Value.Properties["coupling_factor"].Value
	if c.Min == nil || *c.Min != 0 || c.Max == nil || *c.Max != 1 || c.Nullable {
		t.Fatalf("coupling_factor schema: min %v max %v nullable %v", c.Min, c.Max, c.Nullable)
	}
	if l := doc.Components.Schemas["IsolationBody"].Value.Properties["level"].Value; len(l.Enum) != 4 {
		t.Fatalf("isolation level enum %v", l.Enum)
	}
	// response fields are required: a response that lacks one fails validation
	if r := doc.Components.Schemas["RunResult"].Value.Required; len(r) != 7 {
		t.Fatalf("RunResult required %v", r)
	}
	// a 429 names both its headers, a 503 and a 504 their Retry-After
	run := doc.Paths.Find("/v1/run").Post.Responses
	if h := run.Status(429).Value.Headers; h["Retry-After"] == nil || h["RateLimit-Reset"] == nil {
		t.Fatalf("429 headers %v", h)
	}
	for _, code := range []int{503, 504} {
		if h := run.Status(code).Value.Headers; h["Retry-After"] == nil {
			t.Fatalf("%d headers %v", code, h)
		}
	}
}

// TestGeneratedClientCompiles generates a Go client from /openapi.json with
// oapi-codegen (the version go.mod pins) and builds it in a throwaway module
// that has this module's requirements.
func TestGeneratedClientCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	_, raw := servedSpec(t)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	src, err := codegen.Generate(doc, codegen.Configuration{
		PackageName: "semvecclient",
		Generate:    codegen.GenerateOptions{Client: true, Models: true},
	})
	if err != nil {
		t.Fatalf("oapi-codegen: %v", err)
	}
	for _, want := range []string{"func (c *ClientWithResponses) RunWithResponse(", "type RunResult struct", "func (c *Client) CreateCluster("} {
		if !strings.Contains(src, want) {
			t.Errorf("generated client lacks %q", want)
		}
	}
	dir := t.TempDir()
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile("../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	mod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(mod, []byte("module semvecclient"))
	for name, content := range map[string][]byte{"go.mod": mod, "go.sum": sum, "client.gen.go": []byte(src)} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the generated client does not compile: %v\n%s", err, out.String())
	}
}

// TestHandlersAnswerTypedStructs: no answer is built from gin.H; every body
// is a type of package api, which /openapi.json describes.
func TestHandlersAnswerTypedStructs(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "H" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "gin" {
					t.Errorf("%s uses gin.H: answer a type of package api", f)
				}
			}
			return true
		})
	}
}

// TestOpenAPINullableHasAType: OpenAPI 3.0 reads nullable only beside a
// type (3.0.3 says so; redocly's nullable-type-sibling rule refuses it
// alone), so no schema of the document says nullable without one; a value
// of any type, null included, is an anyOf whose first member is nullable.
// The document names its server (redocly's no-empty-servers): the one it
// is served from.
func TestOpenAPINullableHasAType(t *testing.T) {
	for _, anonymous := range []bool{true, false} {
		doc, err := buildSpec(append(sessionOperations(), layerOperations()...), anonymous)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		nullables := 0
		var walk func(at string, v any)
		walk = func(at string, v any) {
			switch v := v.(type) {
			case map[string]any:
				if v["nullable"] == true {
					nullables++
					if _, typed := v["type"]; !typed {
						t.Errorf("%s: nullable without a type", at)
					}
				}
				for k, e := range v {
					walk(at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), e)
				}
			case []any:
				for i, e := range v {
					walk(at+"/"+strconv.Itoa(i), e)
				}
			}
		}
		walk("#", v)
		if nullables == 0 {
			t.Error("no schema is nullable: the walk saw nothing")
		}
		if servers, _ := v.(map[string]any)["servers"].([]any); len(servers) == 0 {
			t.Error("the document names no server")
		}
	}
}

// TestOpenAPIMetricsNeedsBasicAuth: GET /metrics answers 401 without the
// METRICS_USER / METRICS_PASSWORD Basic credentials (the contract: "behind
// Basic Auth"), so the document names an HTTP Basic scheme for it rather than
// declaring it open like /v1/health; no other operation takes that scheme.
func TestOpenAPIMetricsNeedsBasicAuth(t *testing.T) {
	_, raw := servedSpec(t)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	scheme := doc.Components.SecuritySchemes[metricsBasicScheme]
	if scheme == nil || scheme.Value.Type != "http" || scheme.Value.Scheme != "basic" {
		t.Fatalf("security scheme %q: %+v, want type http, scheme basic", metricsBasicScheme, scheme)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			basic := false
			if op.Security != nil {
				for _, req := range *op.Security {
					if _, ok := req[metricsBasicScheme]; ok {
						basic = true
					}
				}
			}
			if want := path == "/metrics"; basic != want {
				t.Errorf("%s %s: takes Basic auth %v, want %v (security %v)", method, path, basic, want, op.Security)
			}
		}
	}
	if op := doc.Paths.Find("/v1/health").Get; op.Security == nil || len(*op.Security) != 0 {
		t.Errorf("GET /v1/health: security %v, want none", op.Security)
	}
}
