package http

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestCapConflictsAreDocumented: a session holds at most 64 triggers and 64
// anchors; one more answers 409 with a detail. /openapi.json listed no 409
// for those operations (nor for export, which answers 409 for a state too
// large to snapshot, nor for the 1,001st user partition), so a client
// generated from it had no case for the answer the server gives.
func TestCapConflictsAreDocumented(t *testing.T) {
	s := newLyServer(t)
	sid := s.session(s.tokA)
	for i := range 64 {
		s.must(200, "POST", "/v1/session/"+sid+"/trigger", s.tokA, map[string]any{"keyword": fmt.Sprintf("kw%d", i)})
		s.must(200, "POST", "/v1/session/"+sid+"/anchor", s.tokA, fmt.Sprintf(`{"embedding":%s}`, nvVec(384, "1", i)))
	}
	if out := s.must(409, "POST", "/v1/session/"+sid+"/trigger", s.tokA, map[string]any{"keyword": "one too many"}); out["detail"] != "trigger limit reached (64)" {
		t.Fatalf("65th trigger: %v", out)
	}
	if out := s.must(409, "POST", "/v1/session/"+sid+"/anchor", s.tokA, fmt.Sprintf(`{"embedding":%s}`, nvVec(384, "1", 100))); out["detail"] != "anchor limit reached (64)" {
		t.Fatalf("65th anchor: %v", out)
	}
	// A keyword already held (ignoring case) replaces it: no conflict.
	s.must(200, "POST", "/v1/session/"+sid+"/trigger", s.tokA, map[string]any{"keyword": "KW3"})

	_, raw := servedSpec(t)
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                     `json:"operationId"`
			Responses   map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"addTrigger": true, "addAnchor": true, "exportSession": true, "switchUser": true}
	for path, item := range doc.Paths {
		for method, op := range item {
			if !want[op.OperationID] {
				continue
			}
			delete(want, op.OperationID)
			if _, ok := op.Responses["409"]; !ok {
				t.Errorf("%s %s (%s) documents no 409", strings.ToUpper(method), path, op.OperationID)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("operations not in the document: %v", want)
	}
}
