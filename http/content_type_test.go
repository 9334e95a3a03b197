package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/semvec-go/semvec/http/openapitest"
)

// FastAPI reads a body as JSON only when the request has no Content-Type
// or a JSON one; any other body reaches pydantic as bytes and is a 422
// (model_attributes_type at ["body"], the body as its input), so that a
// browser's cross-site "simple" request (text/plain, a form) is never read
// as JSON. semvec-go answers the same, on every route that binds a body.
func TestABodyThatIsNotJSONByItsContentTypeIs422(t *testing.T) {
	s := newLyServer(t)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	check, err := openapitest.Load(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path, contentType, body string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if contentType != "-" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Authorization", "Bearer "+s.tokA)
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		if err := check.Check(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Errorf("%s %s (%s): answer not in /openapi.json: %v", method, path, contentType, err)
		}
		return rec
	}
	routes := []struct{ method, path, body string }{
		{"POST", "/v1/run", `{"message":"hello"}`},
		{"POST", "/v1/cluster/", `{"name":"c"}`},
		{"POST", "/v1/session/create", `{}`},
	}
	for _, ct := range []string{"-", "application/json", "application/json; charset=utf-8", "Application/JSON",
		"application/vnd.semvec+json", "application/json; charset"} {
		for _, r := range routes {
			if rec := send(r.method, r.path, ct, r.body); rec.Code >= 300 {
				t.Errorf("%s %s with Content-Type %q: %d %s, want it read as JSON", r.method, r.path, ct, rec.Code, rec.Body)
			}
		}
	}
	for _, ct := range []string{"text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/jsonx", "text/json", "json", "application/json, text/plain"} {
		for _, r := range routes {
			rec := send(r.method, r.path, ct, r.body)
			var got struct {
				Detail []struct {
					Loc   []any  `json:"loc"`
					Msg   string `json:"msg"`
					Type  string `json:"type"`
					Input string `json:"input"`
				} `json:"detail"`
			}
			if rec.Code != http.StatusUnprocessableEntity || json.Unmarshal(rec.Body.Bytes(), &got) != nil || len(got.Detail) != 1 {
				t.Errorf("%s %s with Content-Type %q: %d %s, want one 422 item", r.method, r.path, ct, rec.Code, rec.Body)
				continue
			}
			d := got.Detail[0]
			if len(d.Loc) != 1 || d.Loc[0] != "body" || d.Type != "model_attributes_type" || d.Input != r.body ||
				d.Msg != "Input should be a valid dictionary or object to extract fields from" {
				t.Errorf("%s %s with Content-Type %q: item %+v", r.method, r.path, ct, d)
			}
		}
	}
	// An empty body is missing whatever its Content-Type, as in FastAPI.
	if rec := send("POST", "/v1/run", "text/plain", ""); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"type":"missing"`) {
		t.Errorf("an empty text/plain body: %d %s, want 422 missing", rec.Code, rec.Body)
	}
	// Nothing was created by the refused requests: tenant A has the
	// sessions and clusters of the accepted ones only.
	if n := len(s.list("GET", "/v1/cluster/", s.tokA)); n != 6 {
		t.Errorf("%d clusters, want the 6 created with a JSON Content-Type", n)
	}
}
