package http

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/http/api"
)

// TestCreateBodyContextBounds: the 422 bounds of the context knobs in
// /v1/session/create are the engine's.
func TestCreateBodyContextBounds(t *testing.T) {
	rt := reflect.TypeOf(api.SessionCreateBody{})
	for field, want := range map[string]string{
		"ContextTopK":        fmt.Sprintf("omitempty,gte=%d,lte=%d", engine.MinContextTopK, engine.MaxContextTopK),
		"ContextBudgetChars": fmt.Sprintf("omitempty,gte=%d,lte=%d", engine.MinContextBudgetChars, engine.MaxContextBudgetChars),
	} {
		f, ok := rt.FieldByName(field)
		if !ok {
			t.Fatalf("SessionCreateBody has no %s", field)
		}
		if got := f.Tag.Get("binding"); got != want {
			t.Errorf("%s: binding %q, want %q", field, got, want)
		}
		if !strings.Contains(string(f.Tag), `doc:"`) {
			t.Errorf("%s: no OpenAPI description", field)
		}
	}
	doc, err := buildSpec(sessionOperations(), false)
	if err != nil {
		t.Fatal(err)
	}
	body := doc.Components.Schemas["SessionCreateBody"].Value
	for _, name := range []string{"context_top_k", "context_budget_chars"} {
		if p := body.Properties[name]; p == nil || !strings.Contains(p.Value.Description, "context block") {
			t.Errorf("/openapi.json: %s has no description", name)
		}
	}
}

// The isolation body's list bounds are the engine's (so /openapi.json
// advertises the bound the server enforces).
func TestIsolationBodyBounds(t *testing.T) {
	want := fmt.Sprintf("max=%d", engine.DefaultConfig(384).MaxIsolationVectors)
	rt := reflect.TypeOf(api.IsolationBody{})
	for _, field := range []string{"ExclusionEmbeddings", "AllowlistEmbeddings"} {
		if f, _ := rt.FieldByName(field); f.Tag.Get("binding") != want {
			t.Errorf("%s: binding %q, want %q", field, f.Tag.Get("binding"), want)
		}
	}
}
