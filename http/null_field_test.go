package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/semvec-go/semvec/http/api"
	"github.com/semvec-go/semvec/http/openapitest"
)

// A JSON null given for a field that is not Optional in the contract used
// to be taken as the field's absence, so {"top_k": null}-style bodies got
// the default where semvec's pydantic models answer 422. The rule (package
// api) is that only the fields tagged nullable take null; these tests pin
// which fields those are, that every other field refuses null over HTTP
// with pydantic's item, and that the nullable ones still take it.

// nullableFields lists the request fields that take null, as
// "Type.wire_name": the fields the contract makes Optional (package api
// says why each is).
var nullableFields = []string{
	"IsolationBody.allowlist_embeddings",
	"IsolationBody.exclusion_embeddings",
	"IsolationBody.similarity_threshold",
	"EntityBody.context",
	"ImportBody.checksum",
	"JSONRPCRequest.id", // JSON-RPC 2.0 allows it; /mcp is not read by bindJSON
	"RunBody.response",
	"RunBody.session_id",
	"SessionCreateBody.context_budget_chars",
	"SessionCreateBody.context_top_k",
	"SessionCreateBody.dimension",
	"SessionCreateBody.model_name",
	"SessionCreateBody.policy_vectors",
	"SessionCreateBody.template_embedding",
	"TriggerBody.embedding",
	"TriggerBody.keyword",
	"TriggerBody.threshold",
	"VerifyBody.reference_session_id",
}

// requestFields calls fn for every field of every request body of the
// documented routes, nested structs (policy vectors) included, once each.
func requestFields(fn func(owner reflect.Type, f reflect.StructField, wire string)) {
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeFor[api.RunBody]().PkgPath() || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if name, _ := wireName(f, "json"); f.IsExported() && name != "-" {
				fn(t, f, name)
				walk(f.Type)
			}
		}
	}
	for _, op := range append(sessionOperations(), layerOperations()...) {
		if op.Body != nil {
			walk(reflect.TypeOf(op.Body))
		}
	}
}

// TestNullableFieldsAreTheContractsOptionalOnes: the nullable tags are the
// table above; none is on a required field or one with a default value
// (those are not Optional in pydantic); /openapi.json marks exactly them
// nullable.
func TestNullableFieldsAreTheContractsOptionalOnes(t *testing.T) {
	doc, err := buildSpec(append(sessionOperations(), layerOperations()...), false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	requestFields(func(owner reflect.Type, f reflect.StructField, wire string) {
		name := owner.Name() + "." + wire
		nullable := f.Tag.Get("nullable") == "true"
		if nullable {
			got = append(got, name)
			if slices.Contains(strings.Split(f.Tag.Get("binding"), ","), "required") || f.Tag.Get("default") != "" {
				t.Errorf("%s: nullable, yet required or with a default value", name)
			}
		}
		if v := f.Tag.Get("nullable"); v != "" && v != "true" {
			t.Errorf("%s: nullable:%q means nothing; write nullable:\"true\" or nothing", name, v)
		}
		schema := doc.Components.Schemas[owner.Name()]
		if schema == nil || schema.Value.Properties[wire] == nil || schema.Value.Properties[wire].Value == nil {
			t.Errorf("%s: no schema", name)
			return
		}
		if prop := schema.Value.Properties[wire]; !strings.HasPrefix(prop.Ref, "#/") && permitsNull(prop.Value) != nullable {
			t.Errorf("%s: /openapi.json says nullable %v, the server takes null: %v", name, permitsNull(prop.Value), nullable)
		}
	})
	slices.Sort(got)
	want := slices.Sorted(slices.Values(nullableFields))
	if !slices.Equal(got, want) {
		t.Errorf("nullable fields\n got %v\nwant %v", got, want)
	}
	// A 422 item's input is any JSON value, null included.
	in := doc.Components.Schemas["ValidationItem"].Value.Properties["input"].Value
	for _, v := range []any{nil, "x", 1.5, true, map[string]any{"a": nil}, []any{nil, []any{1.0}, "x"}} {
		if err := in.VisitJSON(v); err != nil {
			t.Errorf("ValidationItem.input refuses %#v: %v", v, err)
		}
	}
	if !permitsNull(in) {
		t.Error("ValidationItem.input does not say it may be null")
	}
}

// permitsNull tells whether schema s takes null: it is nullable, or it is a
// union (anyOf, no type of its own) one of whose members is.
func permitsNull(s *openapi3.Schema) bool {
	if s.Nullable {
		return true
	}
	if s.Type != nil {
		return false
	}
	for _, m := range s.AnyOf {
		if m.Value != nil && permitsNull(m.Value) {
			return true
		}
	}
	return false
}

// TestHasNull: only a null outside the body's strings counts.
func TestHasNull(t *testing.T) {
	for body, want := range map[string]bool{
		`{"a":1}`:                        false,
		`{"a":"null"}`:                   false,
		`{"null":"n"}`:                   false,
		`{"a":"x\"null\"","b":[true]}`:   false,
		`{"a":"\\","b":null}`:            true,
		`{"a":"\u006eull","b":[1,null]}`: true,
		`{"a":null}`:                     true,
		`[null]`:                         true,
		`{"a":"x\\\"null"}`:              false,
	} {
		if got := hasNull([]byte(body)); got != want {
			t.Errorf("hasNull(%s) = %v, want %v", body, got, want)
		}
	}
}

// nfEnv is a server with one of each resource a request body can name.
type nfEnv struct {
	*lyServer
	sid, sid2, ref, cid, rid string
	vec                      string // a valid vector
	stateDict, checksum      string // sid's export
	check                    *openapitest.Validator
}

func newNFEnv(t *testing.T) *nfEnv {
	s := newLyServer(t)
	e := &nfEnv{lyServer: s, vec: nvVec(384, "0.125")}
	e.sid, e.sid2, e.ref = s.session(s.tokA), s.session(s.tokA), s.session(s.tokA)
	for _, id := range []string{e.sid, e.sid2, e.ref} {
		s.must(http.StatusOK, "POST", "/v1/run", s.tokA, `{"message":"how do I scale a deployment?","session_id":"`+id+`"}`)
	}
	e.cid = s.must(http.StatusCreated, "POST", "/v1/cluster/", s.tokA, `{"name":"c"}`)["cluster_id"].(string)
	e.rid = s.must(http.StatusCreated, "POST", "/v1/region/", s.tokA, `{"name":"r"}`)["region_id"].(string)
	s.must(http.StatusCreated, "POST", "/v1/observer/", s.tokA, `{}`)
	var exp struct {
		StateDict json.RawMessage `json:"state_dict"`
		Checksum  string          `json:"checksum"`
	}
	if code := s.do("GET", "/v1/session/"+e.sid+"/export", s.tokA, nil, &exp); code != http.StatusOK {
		t.Fatalf("export: %d", code)
	}
	e.stateDict, e.checksum = string(exp.StateDict), exp.Checksum
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	check, err := openapitest.Load(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	e.check = check
	return e
}

// send posts body and returns the status and the answer, which must be
// one /openapi.json describes.
func (e *nfEnv) send(method, path, body string) (int, []byte) {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.tokA)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if err := e.check.Check(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		e.t.Errorf("%s %s %s: answer not in /openapi.json: %v", method, path, body, err)
	}
	return rec.Code, rec.Body.Bytes()
}

// nfItems decodes a 422 body's items with every key they have.
func nfItems(t *testing.T, body []byte) []map[string]json.RawMessage {
	t.Helper()
	var out struct {
		Detail []map[string]json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("422 body %s: %v", body, err)
	}
	return out.Detail
}

// nfNullItem is the item pydantic gives for a None at loc.
func nfNullItem(loc, typ, msg string) string {
	parts := strings.Split(loc, ".")
	l := make([]string, len(parts))
	for i, p := range parts {
		if _, err := fmt.Sscan(p, new(int)); err == nil {
			l[i] = p
		} else {
			l[i] = `"` + p + `"`
		}
	}
	return fmt.Sprintf(`{"input":null,"loc":[%s],"msg":%q,"type":%q}`, strings.Join(l, ","), msg, typ)
}

// nfCanon renders an item with sorted keys, for comparison.
func nfCanon(item map[string]json.RawMessage) string {
	b, _ := json.Marshal(item) // map keys come out sorted
	var buf bytes.Buffer
	_ = json.Compact(&buf, b)
	return buf.String()
}

// TestNullForANonOptionalFieldIs422 sends, for a field of each type on each
// route family, the body with a valid value (the control, which must
// succeed) and with null: a 422 with pydantic's single item (type, loc,
// msg, "input": null), described by /openapi.json.
func TestNullForANonOptionalFieldIs422(t *testing.T) {
	e := newNFEnv(t)
	const (
		str  = "Input should be a valid string"
		num  = "Input should be a valid number"
		intg = "Input should be a valid integer"
		boo  = "Input should be a valid boolean"
		list = "Input should be a valid list"
		dict = "Input should be a valid dictionary"
	)
	member := e.session(e.tokA)
	q := func(s string) string { return `"` + s + `"` }
	for _, tc := range []struct {
		name, method, path string
		body               func(v string) string
		valid              string // the control's value
		status             int    // the control's status
		loc, typ, msg      string
	}{
		// sessions
		{"run message (required str)", "POST", "/v1/run",
			func(v string) string { return `{"message":` + v + `}` }, `"hi"`, 200, "body.message", "string_type", str},
		{"run short_circuit_threshold (float = 0.85)", "POST", "/v1/run",
			func(v string) string {
				return `{"message":"hi","session_id":"` + e.sid + `","short_circuit_threshold":` + v + `}`
			}, `0.5`, 200,
			"body.short_circuit_threshold", "float_type", num},
		{"run reset_context (bool = false)", "POST", "/v1/run",
			func(v string) string {
				return `{"message":"hi","session_id":"` + e.sid + `","reset_context":` + v + `}`
			}, `false`, 200,
			"body.reset_context", "bool_type", boo},
		{"store response (required str)", "POST", "/v1/store",
			func(v string) string { return `{"session_id":"` + e.sid + `","response":` + v + `}` }, `"an answer"`, 200, "body.response", "string_type", str},
		{"create use_cache (bool = false)", "POST", "/v1/session/create",
			func(v string) string { return `{"use_cache":` + v + `}` }, `true`, 200, "body.use_cache", "bool_type", boo},
		{"create enable_topic_switch (bool = true)", "POST", "/v1/session/create",
			func(v string) string { return `{"enable_topic_switch":` + v + `}` }, `false`, 200, "body.enable_topic_switch", "bool_type", boo},
		{"create policy vector weight (float = 1)", "POST", "/v1/session/create",
			func(v string) string { return `{"policy_vectors":[{"embedding":` + e.vec + `,"weight":` + v + `}]}` }, `1`, 200,
			"body.policy_vectors.0.weight", "float_type", num},
		{"create policy vector promote (bool = false)", "POST", "/v1/session/create",
			func(v string) string {
				return `{"policy_vectors":[{"embedding":` + e.vec + `},{"embedding":` + e.vec + `,"promote":` + v + `}]}`
			}, `false`, 200,
			"body.policy_vectors.1.promote", "bool_type", boo},
		{"create policy vector embedding (required list)", "POST", "/v1/session/create",
			func(v string) string { return `{"policy_vectors":[{"embedding":` + v + `}]}` }, e.vec, 200,
			"body.policy_vectors.0.embedding", "list_type", list},
		// session control
		{"memory access_count (int = 0)", "POST", "/v1/session/" + e.sid + "/memory",
			func(v string) string { return `{"embedding":` + e.vec + `,"text":"a fact","access_count":` + v + `}` }, `3`, 200,
			"body.access_count", "int_type", intg},
		{"memory importance (float = 1)", "POST", "/v1/session/" + e.sid + "/memory",
			func(v string) string { return `{"embedding":` + e.vec + `,"text":"a fact","importance":` + v + `}` }, `2`, 200,
			"body.importance", "float_type", num},
		{"memory tier (str = short_term)", "POST", "/v1/session/" + e.sid + "/memory",
			func(v string) string { return `{"embedding":` + e.vec + `,"text":"a fact","tier":` + v + `}` }, `"long_term"`, 200,
			"body.tier", "string_type", str},
		{"memory embedding (required list)", "POST", "/v1/session/" + e.sid + "/memory",
			func(v string) string { return `{"embedding":` + v + `,"text":"a fact"}` }, e.vec, 200, "body.embedding", "list_type", list},
		{"anchor embedding (required list)", "POST", "/v1/session/" + e.sid + "/anchor",
			func(v string) string { return `{"embedding":` + v + `}` }, e.vec, 200, "body.embedding", "list_type", list},
		{"isolation level (required str)", "PUT", "/v1/session/" + e.sid + "/isolation",
			func(v string) string { return `{"level":` + v + `}` }, `"OPEN"`, 200, "body.level", "string_type", str},
		{"verify tolerance (float = 0.001)", "POST", "/v1/session/" + e.sid + "/verify",
			func(v string) string {
				return `{"test_embeddings":[` + e.vec + `],"reference_session_id":"` + e.ref + `","tolerance":` + v + `}`
			}, `0.01`, 200, "body.tolerance", "float_type", num},
		{"import state_dict (required dict)", "POST", "/v1/session/" + e.sid + "/import",
			func(v string) string { return `{"state_dict":` + v + `,"checksum":"` + e.checksum + `"}` }, e.stateDict, 200,
			"body.state_dict", "dict_type", dict},
		// literal cache
		{"entity importance (float = 1)", "POST", "/v1/session/" + e.sid + "/entities",
			func(v string) string {
				return `{"key":"db.port","kind":"constant","value":"5432","importance":` + v + `}`
			}, `2`, 201,
			"body.importance", "float_type", num},
		{"entity kind (required str)", "POST", "/v1/session/" + e.sid + "/entities",
			func(v string) string { return `{"key":"db.host","kind":` + v + `,"value":"db"}` }, `"constant"`, 201, "body.kind", "string_type", str},
		// clusters
		{"cluster coupling_factor (float = 0)", "POST", "/v1/cluster/",
			func(v string) string { return `{"name":"c2","coupling_factor":` + v + `}` }, `0.3`, 201, "body.coupling_factor", "float_type", num},
		{"cluster aggregation_mode (str = weighted_average)", "POST", "/v1/cluster/",
			func(v string) string { return `{"name":"c3","aggregation_mode":` + v + `}` }, `"attention"`, 201, "body.aggregation_mode", "string_type", str},
		{"cluster run reset_context (bool = false)", "POST", "/v1/cluster/" + e.cid + "/run",
			func(v string) string { return `{"message":"hi","reset_context":` + v + `}` }, `false`, 200, "body.reset_context", "bool_type", boo},
		{"cluster store message (required str)", "POST", "/v1/cluster/" + e.cid + "/store",
			func(v string) string { return `{"message":` + v + `,"response":"an answer"}` }, `"a question"`, 200, "body.message", "string_type", str},
		{"cluster member session_id (required str)", "POST", "/v1/cluster/" + e.cid + "/members",
			func(v string) string { return `{"session_id":` + v + `}` }, q(member), 200, "body.session_id", "string_type", str},
		// regions
		{"region vote_window_seconds (float = 60)", "POST", "/v1/region/",
			func(v string) string { return `{"name":"r2","vote_window_seconds":` + v + `}` }, `30`, 201, "body.vote_window_seconds", "float_type", num},
		{"region consensus_threshold (float = 0.5)", "POST", "/v1/region/",
			func(v string) string { return `{"name":"r3","consensus_threshold":` + v + `}` }, `0.6`, 201, "body.consensus_threshold", "float_type", num},
		{"region attach cluster_id (required str)", "POST", "/v1/region/" + e.rid + "/clusters",
			func(v string) string { return `{"cluster_id":` + v + `}` }, q(e.cid), 200, "body.cluster_id", "string_type", str},
		// observer
		{"observer sample_interval_seconds (float = 30)", "POST", "/v1/observer/",
			func(v string) string { return `{"sample_interval_seconds":` + v + `}` }, `30`, 201, "body.sample_interval_seconds", "float_type", num},
		{"observer region_ids (list = [])", "POST", "/v1/observer/",
			func(v string) string { return `{"region_ids":` + v + `}` }, `[]`, 201, "body.region_ids", "list_type", list},
		{"observer register region_id (required str)", "POST", "/v1/observer/regions",
			func(v string) string { return `{"region_id":` + v + `}` }, q(e.rid), 200, "body.region_id", "string_type", str},
		// network
		{"transfer max_weight (float = 0.15)", "POST", "/v1/network/transfer",
			func(v string) string {
				return `{"source_session_id":"` + e.sid + `","target_session_id":"` + e.sid2 + `","max_weight":` + v + `}`
			}, `0.1`, 200, "body.max_weight", "float_type", num},
		{"switch user_id (required str)", "POST", "/v1/network/users/switch",
			func(v string) string { return `{"user_id":` + v + `}` }, `"alice"`, 200, "body.user_id", "string_type", str},
		{"consensus target_embedding (required list)", "POST", "/v1/network/consensus",
			func(v string) string { return `{"proposer_session_id":"` + e.sid + `","target_embedding":` + v + `}` }, e.vec, 200,
			"body.target_embedding", "list_type", list},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := e.send(tc.method, tc.path, tc.body(tc.valid)); code != tc.status {
				t.Fatalf("control: %d %s, want %d", code, body, tc.status)
			}
			code, body := e.send(tc.method, tc.path, tc.body("null"))
			items := nfItems(t, body)
			want := nfNullItem(tc.loc, tc.typ, tc.msg)
			if code != http.StatusUnprocessableEntity || len(items) != 1 || nfCanon(items[0]) != want {
				t.Fatalf("null: %d %s\nwant 422 with the one item %s", code, body, want)
			}
		})
	}

	// pydantic reports every error, in the fields' order: the nulls among
	// the others.
	code, body := e.send("POST", "/v1/run", `{"reset_context":null,"message":"","short_circuit_threshold":null}`)
	var got []string
	for _, it := range nfItems(t, body) {
		got = append(got, nfCanon(it))
	}
	want := []string{
		`{"loc":["body","message"],"msg":"String should have at least 1 character","type":"string_too_short"}`,
		nfNullItem("body.short_circuit_threshold", "float_type", num),
		nfNullItem("body.reset_context", "bool_type", boo),
	}
	if code != http.StatusUnprocessableEntity || !slices.Equal(got, want) {
		t.Fatalf("several errors: %d\n got %v\nwant %v", code, got, want)
	}
	code, body = e.send("POST", "/v1/cluster/", `{"name":null,"coupling_factor":null,"aggregation_mode":"attention"}`)
	got = nil
	for _, it := range nfItems(t, body) {
		got = append(got, nfCanon(it))
	}
	want = []string{nfNullItem("body.name", "string_type", str), nfNullItem("body.coupling_factor", "float_type", num)}
	if code != http.StatusUnprocessableEntity || !slices.Equal(got, want) {
		t.Fatalf("two nulls: %d\n got %v\nwant %v", code, got, want)
	}

	// A state_dict that is not an object names its input too.
	code, body = e.send("POST", "/v1/session/"+e.sid+"/import", `{"state_dict":"x"}`)
	if items := nfItems(t, body); code != http.StatusUnprocessableEntity || len(items) != 1 ||
		nfCanon(items[0]) != `{"input":"x","loc":["body","state_dict"],"msg":"Input should be a valid dictionary","type":"dict_type"}` {
		t.Fatalf("state_dict a string: %d %s", code, body)
	}

	// Of a key given twice the last counts, as in pydantic.
	if code, body := e.send("POST", "/v1/run", `{"message":"hi","reset_context":null,"reset_context":false}`); code != http.StatusOK {
		t.Fatalf("null then false: %d %s", code, body)
	}
	if code, _ := e.send("POST", "/v1/run", `{"message":"hi","reset_context":false,"reset_context":null}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("false then null: %d, want 422", code)
	}
}

// TestOptionalFieldsStillTakeNull: every nullable field given null is
// taken as absent, on every route that reads it; clients that send None
// for an Optional field keep working.
func TestOptionalFieldsStillTakeNull(t *testing.T) {
	e := newNFEnv(t)
	covered := map[string]bool{"JSONRPCRequest.id": true} // the MCP SDK reads /mcp, not bindJSON
	for _, tc := range []struct {
		method, path, body string
		status             int
		fields             []string
	}{
		{"POST", "/v1/run", `{"message":"hi","session_id":null,"response":null}`, 200, []string{"RunBody.session_id", "RunBody.response"}},
		{"POST", "/v1/cluster/" + e.cid + "/run", `{"message":"hi","session_id":null,"response":null}`, 200, nil},
		{"POST", "/v1/session/create", `{"dimension":null,"model_name":null,"template_embedding":null,"policy_vectors":null,"context_top_k":null,"context_budget_chars":null}`, 200,
			[]string{"SessionCreateBody.dimension", "SessionCreateBody.model_name", "SessionCreateBody.template_embedding",
				"SessionCreateBody.policy_vectors", "SessionCreateBody.context_top_k", "SessionCreateBody.context_budget_chars"}},
		{"POST", "/v1/session/" + e.sid + "/trigger", `{"keyword":"deploy","embedding":null,"threshold":null}`, 200,
			[]string{"TriggerBody.embedding", "TriggerBody.threshold"}},
		{"POST", "/v1/session/" + e.sid + "/trigger", `{"keyword":null,"embedding":` + e.vec + `}`, 200, []string{"TriggerBody.keyword"}},
		{"PUT", "/v1/session/" + e.sid + "/isolation", `{"level":"FILTER","exclusion_embeddings":null,"allowlist_embeddings":null,"similarity_threshold":null}`, 200,
			[]string{"IsolationBody.exclusion_embeddings", "IsolationBody.allowlist_embeddings", "IsolationBody.similarity_threshold"}},
		{"POST", "/v1/session/" + e.sid + "/import", `{"state_dict":` + e.stateDict + `,"checksum":null}`, 200, []string{"ImportBody.checksum"}},
		{"POST", "/v1/session/" + e.sid + "/verify", `{"test_embeddings":[` + e.vec + `],"reference_session_id":null}`, 200,
			[]string{"VerifyBody.reference_session_id"}},
		{"POST", "/v1/session/" + e.sid + "/entities", `{"key":"db.port","kind":"constant","value":"5432","context":null}`, 201,
			[]string{"EntityBody.context"}},
	} {
		code, body := e.send(tc.method, tc.path, tc.body)
		if code != tc.status {
			t.Errorf("%s %s %s: %d %s, want %d", tc.method, tc.path, tc.body, code, body, tc.status)
		}
		for _, f := range tc.fields {
			covered[f] = true
		}
	}
	for _, f := range nullableFields {
		if !covered[f] {
			t.Errorf("%s: nullable, but no case sends it null", f)
		}
	}

	// null is the absence: the defaults it stands for are the ones taken.
	var created struct {
		SessionID string `json:"session_id"`
		Dimension int    `json:"dimension"`
	}
	if code := e.do("POST", "/v1/session/create", e.tokA, `{"dimension":null}`, &created); code != http.StatusOK || created.Dimension != 384 {
		t.Fatalf("create with nulls: %d %+v", code, created)
	}
	entities := e.must(http.StatusOK, "GET", "/v1/session/"+e.sid+"/entities?q=db.port", e.tokA, nil)
	if list, _ := entities["entities"].([]any); len(list) != 1 || list[0].(map[string]any)["context"] != "" {
		t.Fatalf("entity stored with context null: %v", entities)
	}
}

// TestMCPToolsKeepWorkingWithNulls: the MCP tools build their REST bodies
// from what they are given, leaving out what is not; none sends a null the
// REST routes refuse. An optional tool argument may be null (left out)
// where REST takes null for its field or it is a query parameter; where
// REST refuses null (importance, which has a default value) the tool's
// schema refuses it too, naming the argument, before any REST call.
func TestMCPToolsKeepWorkingWithNulls(t *testing.T) {
	e := newNFEnv(t)
	id := 0
	call := func(tool, args, refused string) {
		t.Helper()
		id++
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args)
		req := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+e.tokA)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		var out struct {
			Result *struct {
				IsError bool `json:"isError"`
				Content []struct {
					Text string `json:"text"`
				} `json:"content"`
			} `json:"result"`
			Error json.RawMessage `json:"error"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Result == nil {
			t.Errorf("%s %s: %d %s", tool, args, rec.Code, rec.Body)
			return
		}
		switch {
		case refused == "" && out.Result.IsError:
			t.Errorf("%s %s: %s", tool, args, rec.Body)
		case refused != "" && (!out.Result.IsError || len(out.Result.Content) == 0 || !strings.Contains(out.Result.Content[0].Text, "/properties/"+refused)):
			t.Errorf("%s %s: %s, want the schema to refuse %s", tool, args, rec.Body, refused)
		}
	}
	sid := `"` + e.sid + `"`
	call("session_create", `{}`, "")
	call("session_create", `{"dimension":null}`, "")
	call("run", `{"message":"how do I roll back a deployment?"}`, "")
	call("run", `{"message":"and a new session?","session_id":null,"response":null}`, "")
	call("run", `{"message":"and scale it?","session_id":`+sid+`}`, "")
	call("run", `{"message":"and scale it?","session_id":`+sid+`,"reset_context":null}`, "reset_context")
	call("store", `{"session_id":`+sid+`,"response":"kubectl scale"}`, "")
	call("remember", `{"session_id":`+sid+`,"text":"the cluster runs 1.29"}`, "")
	call("remember", `{"session_id":`+sid+`,"text":"the registry is private","importance":null}`, "importance")
	call("remember", `{"session_id":`+sid+`,"text":"the registry is private","tier":null}`, "tier")
	call("recall", `{"session_id":`+sid+`}`, "")
	call("recall", `{"session_id":`+sid+`,"top_k":null,"query":null,"full_first":null}`, "")
	call("cache_put", `{"session_id":`+sid+`,"key":"db.port","kind":"constant","value":"5432"}`, "")
	call("cache_put", `{"session_id":`+sid+`,"key":"db.host","kind":"constant","value":"db","context":null}`, "")
	call("cache_put", `{"session_id":`+sid+`,"key":"db.user","kind":"constant","value":"app","importance":null}`, "importance")
	call("cache_find", `{"session_id":`+sid+`}`, "")
	call("cache_find", `{"session_id":`+sid+`,"q":"db","max_results":null}`, "")
	call("cache_find", `{"session_id":`+sid+`,"q":null}`, "")
	call("cache_delete", `{"session_id":`+sid+`,"key":"db.host"}`, "")
	call("session_metrics", `{"session_id":`+sid+`}`, "")
}
