package http

import (
	"strings"
	"testing"

	"github.com/semvec-go/semvec/http/api"
)

// TestZeroVectorNamesItsRequestField: a vector of the right dimension that
// the engine refuses (the zero vector) is a 422 whose loc names the request
// field that carried it. POST /v1/session/create used to name the engine's
// own argument instead: ["body","state"] for template_embedding and
// ["body","embedding"] for a policy vector, fields the request has not got.
func TestZeroVectorNamesItsRequestField(t *testing.T) {
	s := newLyServer(t)
	zero, ok := "["+strings.TrimSuffix(strings.Repeat("0,", 384), ",")+"]", nvVec(384, "")
	cases := []struct {
		name, body, loc, msg string
	}{
		{"template", `{"template_embedding":` + zero + `}`, "body.template_embedding", "must not be the zero vector"},
		{"first policy vector", `{"policy_vectors":[{"embedding":` + zero + `}]}`, "body.policy_vectors.0.embedding", "policy_vectors[0].embedding: must not be the zero vector"},
		{"second policy vector", `{"policy_vectors":[{"embedding":` + ok + `},{"embedding":` + zero + `}]}`, "body.policy_vectors.1.embedding", "policy_vectors[1].embedding: must not be the zero vector"},
	}
	for _, c := range cases {
		var out struct {
			Detail []api.ValidationItem `json:"detail"`
		}
		if got := s.do("POST", "/v1/session/create", s.tokA, c.body, &out); got != 422 {
			t.Errorf("%s: status %d, want 422: %v", c.name, got, out)
			continue
		}
		if len(out.Detail) != 1 || nvLoc(out.Detail[0].Loc) != c.loc || out.Detail[0].Msg != c.msg || out.Detail[0].Type != "value_error" {
			t.Errorf("%s: detail %+v, want one value_error at %s: %q", c.name, out.Detail, c.loc, c.msg)
		}
	}
	// The same vectors, valid, create the session.
	if got := s.do("POST", "/v1/session/create", s.tokA, `{"template_embedding":`+ok+`,"policy_vectors":[{"embedding":`+ok+`}]}`, nil); got != 200 {
		t.Fatalf("valid template and policy vector: status %d", got)
	}
}

// TestListVectorNamesItsElement: a vector of a list field (test_embeddings,
// exclusion_embeddings, allowlist_embeddings) that the engine refuses is a
// 422 at its element, not at the whole list.
func TestListVectorNamesItsElement(t *testing.T) {
	s := newLyServer(t)
	sid := s.session(s.tokA)
	ok, short := nvVec(384, ""), nvVec(383, "")
	cases := []struct {
		name, method, path, body, loc string
	}{
		{"verify", "POST", "/v1/session/" + sid + "/verify", `{"test_embeddings":[` + ok + `,` + short + `]}`, "body.test_embeddings.1"},
		{"exclusion", "PUT", "/v1/session/" + sid + "/isolation", `{"level":"FILTER","exclusion_embeddings":[` + short + `]}`, "body.exclusion_embeddings.0"},
		{"allowlist", "PUT", "/v1/session/" + sid + "/isolation", `{"level":"FILTER","allowlist_embeddings":[` + ok + `,` + ok + `,` + short + `]}`, "body.allowlist_embeddings.2"},
	}
	for _, c := range cases {
		var out struct {
			Detail []api.ValidationItem `json:"detail"`
		}
		if got := s.do(c.method, c.path, s.tokA, c.body, &out); got != 422 {
			t.Errorf("%s: status %d, want 422: %v", c.name, got, out)
			continue
		}
		if len(out.Detail) != 1 || nvLoc(out.Detail[0].Loc) != c.loc || out.Detail[0].Msg != "expected 384 dimensions, got 383" {
			t.Errorf("%s: detail %+v, want one item at %s", c.name, out.Detail, c.loc)
		}
	}
}
