package http

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec/http/api"
)

// FuzzBindJSON feeds arbitrary bodies to bindJSON for every kind of request
// body (the lax-mode rewrite included): it never panics, and answers either
// a bound request or a 422 in FastAPI's shape with at least one item whose
// loc starts at "body". `go test` runs the seeds; `go test -fuzz
// FuzzBindJSON ./http/` searches further.
func FuzzBindJSON(f *testing.F) {
	for _, seed := range []string{
		`{"message":"hi"}`, `{"message":"hi","short_circuit_threshold":"0.5","reset_context":"yes"}`,
		`{"dimension":"384","template_embedding":["1",true,3e0],"policy_vectors":[{"embedding":[1],"weight":"1"}]}`,
		`{"level":"FILTER","exclusion_embeddings":[[1,"x"]],"similarity_threshold":true}`,
		`{"test_embeddings":[[null]],"tolerance":"1e-3"}`, `{"key":"k","kind":"path","value":"v","importance":"2"}`,
		`{"name":"c","coupling_factor":"2","aggregation_mode":7}`, `{"MESSAGE":"a","Message":5}`,
		`[1,2]`, `"x"`, `null`, `{"a":{"b":{"c":[[[[]]]]}}}`, `{"dimension":1e400}`, `{"dimension":-9223372036854775809}`,
		`{"dimension":9007199254740993.0}`, `{"state_dict":{"x":1},"checksum":5}`,
	} {
		f.Add(seed)
	}
	r := mwEngine(maxBody(bodyLimits{normal: 1 << 16}))
	bind := func(path string, newDst func() any) {
		r.POST(path, func(c *gin.Context) {
			if bindJSON(c, newDst()) {
				c.JSON(http.StatusOK, gin.H{"ok": true})
			}
		})
	}
	bind("/run", func() any { return new(api.RunBody) })
	bind("/create", func() any { return new(api.SessionCreateBody) })
	bind("/isolation", func() any { return new(api.IsolationBody) })
	bind("/verify", func() any { return new(api.VerifyBody) })
	bind("/entity", func() any { return new(api.EntityBody) })
	bind("/cluster", func() any { return new(api.ClusterCreateBody) })
	bind("/import", func() any { return new(api.ImportBody) })
	bind("/observer", func() any { return new(api.ObserverCreateBody) })
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/run", "/create", "/isolation", "/verify", "/entity", "/cluster", "/import", "/observer"} {
			w := mwDo(r, http.MethodPost, path, body, nil)
			switch w.Code {
			case http.StatusOK:
			case http.StatusUnprocessableEntity:
				var d api.ValidationError
				if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || len(d.Detail) == 0 {
					t.Fatalf("%s %q: 422 body %s", path, body, w.Body.String())
				}
				for _, it := range d.Detail {
					if len(it.Loc) == 0 || it.Loc[0] != "body" || it.Msg == "" || it.Type == "" {
						t.Fatalf("%s %q: item %+v", path, body, it)
					}
				}
			default:
				t.Fatalf("%s %q: %d %s", path, body, w.Code, w.Body.String())
			}
		}
	})
}

// FuzzExactKeys checks exactKeys' shortcut against the plain version: a
// body foldableKey lets through unread is one that dropFolded leaves alone,
// for every request type below.
func FuzzExactKeys(f *testing.F) {
	for _, seed := range []string{
		`{"message":"Hello World","response":"Ünïcode \"Quoted\": yes"}`, `{"Message":"x"}`,
		`{"meſſage":"x"}`, `{"\u004dessage":"x"}`, `{"items":[{"Name":"A"}]}`, `{"state_dict":{"K":{"A":1}}}`,
		`{"x":"a\"B\":"}`, `["A",{"b" :"C"}]`, `{"policy_vectors":[{"Weight":2,"embedding":[1]}]}`,
	} {
		f.Add(seed)
	}
	types := []reflect.Type{reflect.TypeFor[api.RunBody](), reflect.TypeFor[api.SessionCreateBody](),
		reflect.TypeFor[api.ImportBody](), reflect.TypeFor[api.IsolationBody](), reflect.TypeFor[api.ConsensusBody]()}
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) || foldableKey([]byte(body)) {
			return
		}
		for _, typ := range types {
			if out, changed, _ := rewriteBody([]byte(body), typ, func(v any) (any, bool) { return dropFolded(v, typ) }); changed {
				t.Fatalf("%s: foldableKey let %q through, dropFolded made %s", typ, body, out)
			}
		}
	})
}
