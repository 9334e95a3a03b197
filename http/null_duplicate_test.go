package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec/http/api"
)

// Of a key given twice pydantic keeps the last value (Python's json keeps
// the last of equal keys), None included: a nullable field whose last
// value is null is absent. encoding/json ignores null for a string, so it
// used to keep the earlier value: {"session_id":"abc","session_id":null}
// ran on session "abc".

// dupBind binds body into the value newDst returns, as a handler does, and
// returns the bound value, the status (204: bound) and the answer.
func dupBind(t *testing.T, newDst func() any, body string) (any, int, string) {
	t.Helper()
	dst := newDst()
	r := mwEngine(maxBody(bodyLimits{normal: 1 << 20}))
	r.POST("/b", func(c *gin.Context) {
		if bindJSON(c, dst) {
			c.Status(http.StatusNoContent)
		}
	})
	w := mwDo(r, http.MethodPost, "/b", body, nil)
	return dst, w.Code, w.Body.String()
}

// TestBindJSONDuplicateKeys: a key given twice binds its last value; a
// last null binds a nullable field as absent, and is a 422 for any other.
func TestBindJSONDuplicateKeys(t *testing.T) {
	run := func() any { return new(api.RunBody) }
	create := func() any { return new(api.SessionCreateBody) }
	long := strings.Repeat("x", 200) // over session_id's 128
	f := func(x float64) *float64 { return &x }
	n := func(x int) *int { return &x }
	for _, tc := range []struct {
		name   string
		newDst func() any
		body   string
		want   any    // the bound value, or nil for a 422
		items  string // the 422's detail
	}{
		// last null, nullable: absent, on each route family's nullable fields
		{"run: the brief's body", run, `{"message":"hi","session_id":"abc","session_id":null,"response":"prev","response":null}`,
			&api.RunBody{Message: "hi"}, ""},
		{"run: dropped key first", run, `{"session_id":"abc","message":"hi","session_id":null}`, &api.RunBody{Message: "hi"}, ""},
		{"run: dropped keys first and last, spaced", run, ` { "session_id" : "abc" , "session_id":null ,"message":"hi" , "response" : "p", "response" :null } `,
			&api.RunBody{Message: "hi"}, ""},
		{"run: three times, null last", run, `{"message":"hi","session_id":"a","session_id":"b","session_id":null}`, &api.RunBody{Message: "hi"}, ""},
		{"run: an escaped key is the same key", run, `{"message":"hi","session_id":"abc","session\u005fid":null}`, &api.RunBody{Message: "hi"}, ""},
		{"run: a null under another key stays", run, `{"message":"hi","x":{"session_id":null},"session_id":"abc","y":[null]}`,
			&api.RunBody{Message: "hi", SessionID: "abc"}, ""},
		{"run: a key folding to the field is not it", run, `{"message":"hi","session_id":"abc","Session_id":null}`,
			&api.RunBody{Message: "hi", SessionID: "abc"}, ""},
		{"run: the dropped value is not checked", run, `{"message":"hi","session_id":"` + long + `","session_id":null}`, &api.RunBody{Message: "hi"}, ""},
		{"create: every nullable field", create, `{"dimension":7,"dimension":null,"model_name":"m","model_name":null,` +
			`"template_embedding":[1],"template_embedding":null,"policy_vectors":[{"embedding":[1]}],"policy_vectors":null,` +
			`"context_top_k":5,"context_top_k":null,"context_budget_chars":300,"context_budget_chars":null,"use_cache":true}`,
			&api.SessionCreateBody{UseCache: true}, ""},
		{"trigger", func() any { return new(api.TriggerBody) }, `{"keyword":"k","keyword":null,"embedding":[1],"threshold":0.5,"threshold":null}`,
			&api.TriggerBody{Embedding: []float32{1}}, ""},
		{"isolation", func() any { return new(api.IsolationBody) },
			`{"level":"FILTER","exclusion_embeddings":[[1]],"exclusion_embeddings":null,"allowlist_embeddings":[[1]],"allowlist_embeddings":null,"similarity_threshold":0.5,"similarity_threshold":null}`,
			&api.IsolationBody{Level: "FILTER"}, ""},
		{"import", func() any { return new(api.ImportBody) }, `{"state_dict":{"a":1},"checksum":"c","checksum":null}`,
			&api.ImportBody{StateDict: json.RawMessage(`{"a":1}`)}, ""},
		{"verify", func() any { return new(api.VerifyBody) }, `{"test_embeddings":[[1]],"reference_session_id":"r","reference_session_id":null}`,
			&api.VerifyBody{TestEmbeddings: [][]float32{{1}}}, ""},
		{"entity", func() any { return new(api.EntityBody) }, `{"key":"k","kind":"constant","value":"v","context":"c","context":null}`,
			&api.EntityBody{Key: "k", Kind: "constant", Value: "v"}, ""},

		// last a value: it wins, null before it or not
		{"run: null then a value", run, `{"message":"hi","session_id":null,"session_id":"abc","response":null,"response":"p"}`,
			&api.RunBody{Message: "hi", SessionID: "abc", Response: "p"}, ""},
		{"run: a value then another", run, `{"message":"hi","session_id":"a","session_id":"b"}`, &api.RunBody{Message: "hi", SessionID: "b"}, ""},
		{"run: null, a value, null, a value", run, `{"message":"hi","session_id":null,"session_id":"a","session_id":null,"session_id":"b"}`,
			&api.RunBody{Message: "hi", SessionID: "b"}, ""},
		{"run: a non-nullable field, null then a value", run, `{"message":null,"message":"hi","short_circuit_threshold":null,"short_circuit_threshold":0.5}`,
			&api.RunBody{Message: "hi", ShortCircuitThreshold: f(0.5)}, ""},
		{"create: null then a value", create, `{"dimension":null,"dimension":7,"context_top_k":null,"context_top_k":5}`,
			&api.SessionCreateBody{Dimension: n(7), ContextTopK: n(5)}, ""},
		{"cluster: null then a value", func() any { return new(api.ClusterCreateBody) }, `{"name":null,"name":"c"}`, &api.ClusterCreateBody{Name: "c"}, ""},

		// last null, not nullable: 422, as before
		{"run: message", run, `{"message":"hi","message":null}`, nil,
			`[{"loc":["body","message"],"msg":"Input should be a valid string","type":"string_type","input":null}]`},
		{"run: short_circuit_threshold and reset_context", run, `{"message":"hi","short_circuit_threshold":0.5,"short_circuit_threshold":null,"reset_context":true,"reset_context":null}`, nil,
			`[{"loc":["body","short_circuit_threshold"],"msg":"Input should be a valid number","type":"float_type","input":null},` +
				`{"loc":["body","reset_context"],"msg":"Input should be a valid boolean","type":"bool_type","input":null}]`},
		{"run: a refused null beside a dropped key", run, `{"message":null,"session_id":"` + long + `","session_id":null}`, nil,
			`[{"loc":["body","message"],"msg":"Input should be a valid string","type":"string_type","input":null}]`},
		{"store", func() any { return new(api.StoreBody) }, `{"session_id":"s","response":"a","response":null}`, nil,
			`[{"loc":["body","response"],"msg":"Input should be a valid string","type":"string_type","input":null}]`},
		{"memory", func() any { return new(api.MemoryBody) }, `{"embedding":[1],"text":"t","access_count":3,"access_count":null}`, nil,
			`[{"loc":["body","access_count"],"msg":"Input should be a valid integer","type":"int_type","input":null}]`},
		{"cluster", func() any { return new(api.ClusterCreateBody) }, `{"name":"c","name":null}`, nil,
			`[{"loc":["body","name"],"msg":"Input should be a valid string","type":"string_type","input":null}]`},
		{"region", func() any { return new(api.RegionCreateBody) }, `{"name":"r","consensus_threshold":0.6,"consensus_threshold":null}`, nil,
			`[{"loc":["body","consensus_threshold"],"msg":"Input should be a valid number","type":"float_type","input":null}]`},
		{"observer", func() any { return new(api.ObserverCreateBody) }, `{"region_ids":["r"],"region_ids":null}`, nil,
			`[{"loc":["body","region_ids"],"msg":"Input should be a valid list","type":"list_type","input":null}]`},
		{"consensus", func() any { return new(api.ConsensusBody) }, `{"proposer_session_id":"p","target_embedding":[1],"target_embedding":[1,null]}`, nil,
			`[{"loc":["body","target_embedding",1],"msg":"Input should be a valid number","type":"float_type","input":null}]`},
		{"policy vector weight", create, `{"policy_vectors":[{"embedding":[1],"weight":1,"weight":null}]}`, nil,
			`[{"loc":["body","policy_vectors",0,"weight"],"msg":"Input should be a valid number","type":"float_type","input":null}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, code, answer := dupBind(t, tc.newDst, tc.body)
			if tc.want != nil {
				if code != http.StatusNoContent || !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("%s\ngot %d %s, bound %+v\nwant bound %+v", tc.body, code, answer, got, tc.want)
				}
				return
			}
			if want := `{"detail":` + tc.items + `}`; code != http.StatusUnprocessableEntity || answer != want {
				t.Fatalf("%s\n got %d %s\nwant 422 %s", tc.body, code, answer, want)
			}
		})
	}
}

// TestNullItemsStopsAtTheCap: nullItems stops at maxNullItems, and a later
// value of the same key still replaces what it found.
func TestNullItemsStopsAtTheCap(t *testing.T) {
	nulls := "[" + strings.Repeat("null,", 2*maxNullItems) + "null]"
	anchor := func() any { return new(api.AnchorBody) }
	if _, code, answer := dupBind(t, anchor, `{"embedding":`+nulls+`}`); code != http.StatusUnprocessableEntity ||
		len(nfItems(t, []byte(answer))) != maxNullItems {
		t.Fatalf("%d nulls: %d %s, want %d items", 2*maxNullItems+1, code, answer, maxNullItems)
	}
	if got, code, answer := dupBind(t, anchor, `{"embedding":`+nulls+`,"embedding":[1,2]}`); code != http.StatusNoContent ||
		!slices.Equal(got.(*api.AnchorBody).Embedding, []float32{1, 2}) {
		t.Fatalf("nulls, then a vector: %d %s", code, answer)
	}
	_, code, answer := dupBind(t, anchor, `{"embedding":`+nulls+`,"embedding":[1,null]}`)
	if items := nfItems(t, []byte(answer)); code != http.StatusUnprocessableEntity || len(items) != 1 ||
		string(items[0]["loc"]) != `["body","embedding",1]` {
		t.Fatalf("nulls, then one null: %d %s", code, answer)
	}
}

// orderedMembers reads the top-level object of body with encoding/json's
// Decoder (keys decoded, values as written), or reports false.
func orderedMembers(body []byte) (keys []string, vals []string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, false
		}
		keys, vals = append(keys, kt.(string)), append(vals, string(raw))
	}
	return keys, vals, true
}

// FuzzNullItemsBound checks the byte scanner against encoding/json and
// nullItems' bound body against its rule, for every request type below:
// objectMembers reads a valid object's members as json.Decoder does;
// bound is valid JSON, and is body without exactly the top-level members
// of a nullable field whose last value is null. Invalid bodies must not
// make the scanner panic.
func FuzzNullItemsBound(f *testing.F) {
	for _, seed := range []string{
		`{"message":"hi","session_id":"abc","session_id":null,"response":"prev","response":null}`,
		`{"session_id":null}`, `{ "session_id" : null , "message" : "x" }`, `{"a":"\"}","session_id":[{"}":null}],"session_id":null}`,
		`{"session\u005fid":"x","session_id":null}`, `{"keyword":"k","keyword":null,"embedding":[1,null]}`,
		`{"checksum":"c","state_dict":{"k":null},"checksum":null}`, `[null,{"a":null}]`, `{"a":1e5,"b":true,"c":null}`,
		`{"message":"ü","model_name":"\ud83d\ude00","model_name":null}`, `{"x":[1,`, `{"x":"\`,
	} {
		f.Add(seed)
	}
	types := []reflect.Type{reflect.TypeFor[api.RunBody](), reflect.TypeFor[api.SessionCreateBody](),
		reflect.TypeFor[api.TriggerBody](), reflect.TypeFor[api.ImportBody](), reflect.TypeFor[api.EntityBody](),
		reflect.TypeFor[api.VerifyBody](), reflect.TypeFor[api.IsolationBody]()}
	f.Fuzz(func(t *testing.T, body string) {
		b := []byte(body)
		i := skipSpace(b, 0)
		ms, scanned := []member(nil), false
		if i < len(b) && b[i] == '{' {
			ms, scanned = objectMembers(b, i)
		}
		valueEnd(b, i)
		if i < len(b) && b[i] == '[' {
			arrayElements(b, i, func(int, int) bool { return true })
		}
		if !json.Valid(b) {
			for _, typ := range types {
				nullItems(b, reflect.New(typ).Interface()) // must not panic
			}
			return
		}
		keys, vals, isObject := orderedMembers(b)
		if isObject {
			if !scanned || len(ms) != len(keys) {
				t.Fatalf("%q: objectMembers %v (%v), json.Decoder %q", body, ms, scanned, keys)
			}
			for n, m := range ms {
				if m.key != keys[n] || string(b[m.valStart:m.valEnd]) != vals[n] {
					t.Fatalf("%q: member %d is %q: %q, json.Decoder has %q: %q", body, n, m.key, b[m.valStart:m.valEnd], keys[n], vals[n])
				}
			}
		}
		for _, typ := range types {
			_, bound := nullItems(b, reflect.New(typ).Interface())
			if !json.Valid(bound) {
				t.Fatalf("%s %q: bound %q is not JSON", typ, body, bound)
			}
			if !isObject {
				continue
			}
			absent := map[string]bool{}
			for n, k := range keys {
				if fld, ok := jsonField(typ, k); ok && fld.Tag.Get("nullable") == "true" {
					absent[k] = vals[n] == "null" // the last one counts
				}
			}
			var wantKeys, wantVals []string
			for n, k := range keys {
				if !absent[k] {
					wantKeys, wantVals = append(wantKeys, k), append(wantVals, vals[n])
				}
			}
			gotKeys, gotVals, _ := orderedMembers(bound)
			if !slices.Equal(gotKeys, wantKeys) || !slices.Equal(gotVals, wantVals) {
				t.Fatalf("%s %q: bound %q, want the members %q %q", typ, body, bound, wantKeys, wantVals)
			}
		}
	})
}

// TestDuplicateKeyLastNullOverHTTP: over the whole server, a nullable
// field given a value and then null acts as if it were left out, on every
// route family that has one; a non-nullable one is a 422; a last value
// wins.
func TestDuplicateKeyLastNullOverHTTP(t *testing.T) {
	e := newNFEnv(t)
	var ran struct {
		SessionID string `json:"session_id"`
	}
	// "abc" names no session (404 if it were used): a new one is created.
	if code := e.do("POST", "/v1/run", e.tokA, `{"message":"hi","session_id":"abc","session_id":null,"response":"prev","response":null}`, &ran); code != http.StatusOK ||
		ran.SessionID == "abc" || ran.SessionID == "" {
		t.Fatalf("run, session_id then null: %d %+v", code, ran)
	}
	// A last value wins over a null before it.
	if code := e.do("POST", "/v1/run", e.tokA, `{"message":"hi","session_id":null,"session_id":"`+e.sid+`"}`, &ran); code != http.StatusOK || ran.SessionID != e.sid {
		t.Fatalf("run, null then session_id: %d %+v", code, ran)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"cluster run", "POST", "/v1/cluster/" + e.cid + "/run", `{"message":"hi","session_id":"abc","session_id":null}`, 200},
		// model_name holding a NUL is a 422, if it were taken
		{"create", "POST", "/v1/session/create", `{"model_name":"a\u0000b","model_name":null,"dimension":7,"dimension":null}`, 200},
		// keyword and embedding together are a 422, if keyword were taken
		{"trigger", "POST", "/v1/session/" + e.sid + "/trigger", `{"keyword":"deploy","keyword":null,"embedding":` + e.vec + `}`, 200},
		{"isolation", "PUT", "/v1/session/" + e.sid + "/isolation", `{"level":"OPEN","similarity_threshold":0.5,"similarity_threshold":null}`, 200},
		// a wrong checksum is refused, if it were taken
		{"import", "POST", "/v1/session/" + e.sid + "/import", `{"state_dict":` + e.stateDict + `,"checksum":"bad","checksum":null}`, 200},
		// an unknown reference session is a 404, if it were taken
		{"verify", "POST", "/v1/session/" + e.sid + "/verify", `{"test_embeddings":[` + e.vec + `],"reference_session_id":"nope","reference_session_id":null}`, 200},
		{"entity", "POST", "/v1/session/" + e.sid + "/entities", `{"key":"db.port","kind":"constant","value":"5432","context":"ctx","context":null}`, 201},
		// not nullable: a last null is a 422
		{"run message", "POST", "/v1/run", `{"message":"hi","message":null}`, 422},
		{"store response", "POST", "/v1/store", `{"session_id":"` + e.sid + `","response":"a","response":null}`, 422},
		{"cluster name", "POST", "/v1/cluster/", `{"name":"c","name":null}`, 422},
		{"region name", "POST", "/v1/region/", `{"name":"r","name":null}`, 422},
		{"observer region_ids", "POST", "/v1/observer/", `{"region_ids":[],"region_ids":null}`, 422},
		{"switch user_id", "POST", "/v1/network/users/switch", `{"user_id":"alice","user_id":null}`, 422},
		// a last value wins
		{"cluster name, null then a value", "POST", "/v1/cluster/", `{"name":null,"name":"c9"}`, 201},
	} {
		if code, body := e.send(tc.method, tc.path, tc.body); code != tc.status {
			t.Errorf("%s: %s: %d %s, want %d", tc.name, tc.body, code, body, tc.status)
		}
	}
	entities := e.must(http.StatusOK, "GET", "/v1/session/"+e.sid+"/entities?q=db.port", e.tokA, nil)
	if list, _ := entities["entities"].([]any); len(list) != 1 || list[0].(map[string]any)["context"] != "" {
		t.Fatalf("entity stored with context given then null: %v", entities)
	}
}
