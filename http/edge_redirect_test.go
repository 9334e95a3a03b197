package http

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// edgeNoRedirect fails if rec is a redirect or not a JSON error.
func edgeNoRedirect(t *testing.T, what string, code int, h http.Header, body []byte) {
	t.Helper()
	if code >= 300 && code < 400 || h.Get("Location") != "" {
		t.Errorf("%s: redirect %d to %q", what, code, h.Get("Location"))
		return
	}
	if code >= 400 {
		// {"detail": "..."}, or FastAPI's list of items for a 422
		if m := edgeJSON(t, what, h.Get("Content-Type"), body); m["detail"] == nil {
			t.Errorf("%s: no detail in %q", what, body)
		}
	}
}

// TestStateChangingRequestsAreNeverRedirected: a DELETE or POST to a
// trailing-slash, doubled-slash or otherwise non-canonical spelling of a real
// route answers a JSON 404/405 (no 301/307/308 that a client would follow
// with its method and body) and changes nothing; the resources are still
// there afterwards.
func TestStateChangingRequestsAreNeverRedirected(t *testing.T) {
	s := newEdgeServer(t, 0)
	sid := edgeCreate(t, s, "/v1/session/create", `{}`, "session_id")
	cid := edgeCreate(t, s, "/v1/cluster", `{"name":"c"}`, "cluster_id")
	rid := edgeCreate(t, s, "/v1/region", `{"name":"r"}`, "region_id")
	if rec := s.serve("POST", "/v1/session/"+sid+"/entities", "", s.tok, `{"key":"k","kind":"variable","value":"v"}`); rec.Code != http.StatusCreated {
		t.Fatalf("entity: %d %s", rec.Code, rec.Body)
	}

	for _, tc := range []struct{ method, target string }{
		{"DELETE", "/v1/session/" + sid + "/"},
		{"DELETE", "/v1/session/" + sid + "//"},
		{"DELETE", "//v1/session/" + sid},
		{"DELETE", "/v1//session/" + sid},
		{"DELETE", "/v1/session//" + sid},
		{"DELETE", "/V1/session/" + sid},
		{"DELETE", "/v1/SESSION/" + sid},
		{"DELETE", "/v1/session/" + sid + "/."},
		{"DELETE", "/v1/session/./" + sid},
		{"DELETE", "/v1/x/../session/" + sid},
		{"DELETE", "/v1/session/" + sid + "/trigger/"},
		{"DELETE", "/v1/cluster/" + cid + "/"},
		{"DELETE", "/v1//cluster/" + cid},
		{"DELETE", "/v1/region/" + rid + "/"},
		{"DELETE", "/v1/region//" + rid},
		{"DELETE", "/v1/observer/anomalies/"},
		{"POST", "/v1/session/create/"},
		{"POST", "/v1//session/create"},
		{"POST", "/v1/run/"},
		{"POST", "/v1/store/"},
		{"POST", "/v1/session/" + sid + "/import/"},
		{"POST", "/v1/session/" + sid + "/memory/"},
		{"POST", "/v1/cluster/" + cid + "/members/"},
		{"PUT", "/v1/session/" + sid + "/isolation/"},
	} {
		what := tc.method + " " + tc.target
		rec := s.serve(tc.method, tc.target, "", s.tok, `{"session_id":"`+sid+`","message":"m","response":"r"}`)
		edgeNoRedirect(t, what, rec.Code, rec.Header(), rec.Body.Bytes())
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d, want 404 or 405: %s", what, rec.Code, rec.Body)
		}
	}

	for _, path := range []string{"/v1/metrics/" + sid, "/v1/session/" + sid + "/entities", "/v1/cluster/" + cid, "/v1/region/" + rid} {
		if rec := s.serve("GET", path, "", s.tok, ""); rec.Code != http.StatusOK {
			t.Errorf("GET %s after the non-canonical requests: %d %s (something was deleted)", path, rec.Code, rec.Body)
		}
	}
	if rec := s.serve("GET", "/v1/session/"+sid+"/entities", "", s.tok, ""); !strings.Contains(rec.Body.String(), `"k"`) {
		t.Errorf("the entity is gone: %s", rec.Body)
	}
}

// TestNoRouteVariantRedirects sends every registered route, with its
// parameters filled in, as a trailing-slash and a doubled-slash variant:
// none is answered with a redirect, and every error is JSON. The collection
// routes registered with and without the slash keep answering 200.
func TestNoRouteVariantRedirects(t *testing.T) {
	s := newEdgeServer(t, 0)
	for _, ri := range s.h.(*gin.Engine).Routes() {
		path := ri.Path
		segs := strings.Split(path, "/")
		for i, seg := range segs {
			if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
				segs[i] = "x" + seg[1:]
			}
		}
		path = strings.Join(segs, "/")
		variants := []string{path + "/", strings.Replace(path, "/", "//", 1)}
		if strings.HasSuffix(path, "/") {
			variants = append(variants, strings.TrimSuffix(path, "/"))
		}
		if i := strings.LastIndex(path, "/"); i > 0 {
			variants = append(variants, path[:i]+"/"+path[i:])
		}
		for _, v := range variants {
			rec := s.serve(ri.Method, v, "", s.tok, `{}`)
			edgeNoRedirect(t, ri.Method+" "+v+" (route "+ri.Path+")", rec.Code, rec.Header(), rec.Body.Bytes())
		}
	}
	for _, p := range []string{"/v1/cluster/", "/v1/cluster", "/v1/region/", "/v1/region"} {
		if rec := s.serve("GET", p, "", s.tok, ""); rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, rec.Code, rec.Body)
		}
	}
}

// edgeCreate POSTs body to path and returns the string field key of the answer.
func edgeCreate(t *testing.T, s *edgeServer, path, body, key string) string {
	t.Helper()
	rec := s.serve("POST", path, "", s.tok, body)
	if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
	}
	id, _ := edgeJSON(t, "POST "+path, rec.Header().Get("Content-Type"), rec.Body.Bytes())[key].(string)
	if id == "" {
		t.Fatalf("POST %s: no %s in %s", path, key, rec.Body)
	}
	return id
}
