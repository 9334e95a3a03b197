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
	send := checkedSender(t, s)
	routes := []struct{ method, path, body string }{
		{"POST", "/v1/run", `{"message":"hello"}`},
		{"POST", "/v1/cluster/", `{"name":"c"}`},
		{"POST", "/v1/session/create", `{}`},
	}
	for _, ct := range []string{"-", "application/json", "application/json; charset=utf-8", "Application/JSON",
		"application/vnd.semvec+json", "application/json; charset", "application/json;CHARSET=UTF-8;charset=utf-8",
		"application/vnd.x+json; v=1; v=2", " application/json "} {
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
	// An empty body is missing whatever its Content-Type, as in FastAPI;
	// a body of null or blanks is not read as JSON when its Content-Type
	// is not JSON either; with a JSON one, null is missing and blanks do
	// not parse.
	for _, c := range []struct{ ct, body, want string }{
		{"text/plain", "", `"type":"missing"`},
		{"text/plain", "null", `"type":"model_attributes_type"`},
		{"text/plain", "  ", `"type":"model_attributes_type"`},
		{"application/json", "null", `"type":"missing"`},
		{"application/json", "  ", `{"detail":[{"loc":["body",2],"msg":"JSON decode error","type":"json_invalid"}]}`},
	} {
		if rec := send("POST", "/v1/run", c.ct, c.body); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("a %s body %q: %d %s, want 422 with %s", c.ct, c.body, rec.Code, rec.Body, c.want)
		}
	}
	// Nothing was created by the refused requests: tenant A has the
	// sessions and clusters of the accepted ones only.
	if n := len(s.list("GET", "/v1/cluster/", s.tokA)); n != 9 {
		t.Errorf("%d clusters, want the 9 created with a JSON Content-Type", n)
	}
}

// checkedSender returns a function that sends a request to s as its tenant
// A, with the given Content-Type ("-": none), and checks the answer against
// s's /openapi.json.
func checkedSender(t *testing.T, s *lyServer) func(method, path, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	check, err := openapitest.Load(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return func(method, path, contentType, body string) *httptest.ResponseRecorder {
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
}
