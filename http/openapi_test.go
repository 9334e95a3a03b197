package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec/actors"
)

// TestOpenAPIDescribesEveryRoute fails when a registered route is missing
// from /openapi.json, or the document names a route that does not exist.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	gin.SetMode(gin.TestMode)
	engine := New(Deps{Layers: &actors.Layers{}, Limiter: NewRateLimiter(nil), Anonymous: true})
	rec := httptest.NewRecorder()
	engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	param := regexp.MustCompile(`[:*]([A-Za-z_]+)`)
	registered := map[string]bool{}
	for _, r := range engine.Routes() {
		path := param.ReplaceAllString(r.Path, "{$1}")
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
	for path, methods := range doc.Paths {
		for m := range methods {
			if !registered[m+" "+path] {
				t.Errorf("/openapi.json documents %s %s, which is not registered", strings.ToUpper(m), path)
			}
		}
	}
	// request shapes come from the handlers' own types
	run := doc.Paths["/v1/run"]["post"]["requestBody"].(map[string]any)
	schema := run["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	if req, _ := schema["required"].([]any); len(req) != 1 || req[0] != "message" {
		t.Fatalf("/v1/run request schema required = %v", schema["required"])
	}
}
