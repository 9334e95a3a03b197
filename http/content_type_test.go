package http

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

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

// TestALargeBodyThatIsNotJSONEchoesABoundedInput: the 422 for a body that
// is not JSON by its Content-Type echoes at most maxEchoedInput bytes of
// it, cut at a character boundary, then "…". Before, a 4 MB text/plain
// body of control characters was echoed whole, JSON-escaped to 24 MB, and
// 16 such requests at once took the server past 2 GB resident (found by an
// outside tester).
func TestALargeBodyThatIsNotJSONEchoesABoundedInput(t *testing.T) {
	const bound = 4096 // maxEchoedInput
	s := newLyServer(t)
	for name, body := range map[string]string{
		"control characters": strings.Repeat("\x01", 4<<20-1),
		"invalid bytes":      strings.Repeat("\xff", 1<<20),
		"multi-byte text":    "a" + strings.Repeat("é", 1<<19), // the cut falls inside a character
		"just over":          strings.Repeat("x", bound+1),
	} {
		req := httptest.NewRequest("POST", "/v1/run", strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Authorization", "Bearer "+s.tokA)
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, req)
		var got struct {
			Detail []struct {
				Type  string `json:"type"`
				Input string `json:"input"`
			} `json:"detail"`
		}
		if rec.Code != http.StatusUnprocessableEntity || json.Unmarshal(rec.Body.Bytes(), &got) != nil || len(got.Detail) != 1 ||
			got.Detail[0].Type != "model_attributes_type" {
			t.Fatalf("%s: %d %.200s, want one 422 model_attributes_type item", name, rec.Code, rec.Body)
		}
		if n := rec.Body.Len(); n > 6*bound+200 {
			t.Errorf("%s: a %d-byte body got a %d-byte answer", name, len(body), n)
		}
		in := got.Detail[0].Input
		if !strings.HasSuffix(in, "…") || !utf8.ValidString(in) {
			t.Errorf("%s: input %.40q… (%d bytes) is not a clipped prefix ending in …", name, in, len(in))
		}
		if strings.Contains(name, "multi-byte") && strings.TrimSuffix(strings.TrimPrefix(in, "a"), "…") != strings.Repeat("é", (bound-1)/2) {
			t.Errorf("%s: input not cut at a character boundary: %d bytes", name, len(in))
		}
	}
	// A short body is still echoed whole, as FastAPI does.
	req := httptest.NewRequest("POST", "/v1/run", strings.NewReader(strings.Repeat("x", bound)))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+s.tokA)
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"input":"`+strings.Repeat("x", bound)+`"`) {
		t.Errorf("a body of exactly %d bytes: %.200s, want it echoed whole", bound, rec.Body)
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
