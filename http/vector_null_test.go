package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec/http/api"
)

// A JSON null inside a vector used to decode as 0 (encoding/json leaves a
// non-pointer element alone for null), so [0.1, null, 0.3] was accepted as
// [0.1, 0, 0.3]. It is a 422 naming the element, as any other non-number is.

// nvVec is a JSON array of n components, all 0.125 except that each index in
// at holds lit.
func nvVec(n int, lit string, at ...int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "0.125"
	}
	for _, i := range at {
		parts[i] = lit
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// nvDetail decodes a 422 body into its items.
func nvDetail(t *testing.T, body []byte) []api.ValidationItem {
	t.Helper()
	var out struct {
		Detail []api.ValidationItem `json:"detail"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("422 body %s: %v", body, err)
	}
	return out.Detail
}

// nvLoc renders a loc for comparison (JSON numbers decode as float64).
func nvLoc(loc []any) string {
	parts := make([]string, len(loc))
	for i, p := range loc {
		parts[i] = fmt.Sprint(p)
	}
	return strings.Join(parts, ".")
}

// TestVectorNullEveryEndpoint sends, to every route whose body carries a
// vector, the same valid body with one component replaced: by 0 (accepted,
// the control), then by null and by other non-numbers (422 at that
// component). The control passing shows the null alone makes the 422.
func TestVectorNullEveryEndpoint(t *testing.T) {
	s := newLyServer(t)
	const dim = 384
	sid := s.session(s.tokA)
	ref := s.session(s.tokA)

	type route struct {
		name, method, path string
		body               func(vec string) string // vec: the vector under test
		loc                string                  // loc of the vector, before the index
	}
	routes := []route{
		{"create template_embedding", "POST", "/v1/session/create",
			func(v string) string { return `{"template_embedding":` + v + `}` }, "body.template_embedding"},
		{"create policy_vectors embedding", "POST", "/v1/session/create",
			func(v string) string { return `{"policy_vectors":[{"embedding":` + v + `,"weight":1}]}` }, "body.policy_vectors.0.embedding"},
		{"create second policy vector", "POST", "/v1/session/create",
			func(v string) string {
				return `{"policy_vectors":[{"embedding":` + nvVec(dim, "0") + `},{"embedding":` + v + `,"promote":false}]}`
			}, "body.policy_vectors.1.embedding"},
		{"trigger embedding", "POST", "/v1/session/" + sid + "/trigger",
			func(v string) string { return `{"embedding":` + v + `,"threshold":0.9}` }, "body.embedding"},
		{"anchor embedding", "POST", "/v1/session/" + sid + "/anchor",
			func(v string) string { return `{"embedding":` + v + `}` }, "body.embedding"},
		{"isolation exclusion_embeddings", "PUT", "/v1/session/" + sid + "/isolation",
			func(v string) string { return `{"level":"FILTER","exclusion_embeddings":[` + v + `]}` }, "body.exclusion_embeddings.0"},
		{"isolation allowlist_embeddings", "PUT", "/v1/session/" + sid + "/isolation",
			func(v string) string {
				return `{"level":"FILTER","allowlist_embeddings":[` + nvVec(dim, "1") + `,` + v + `]}`
			}, "body.allowlist_embeddings.1"},
		{"memory embedding", "POST", "/v1/session/" + sid + "/memory",
			func(v string) string { return `{"embedding":` + v + `,"text":"a fact","tier":"long_term"}` }, "body.embedding"},
		{"verify test_embeddings", "POST", "/v1/session/" + sid + "/verify",
			func(v string) string { return `{"test_embeddings":[` + v + `],"reference_session_id":"` + ref + `"}` }, "body.test_embeddings.0"},
		{"consensus target_embedding", "POST", "/v1/network/consensus",
			func(v string) string { return `{"proposer_session_id":"` + sid + `","target_embedding":` + v + `}` }, "body.target_embedding"},
	}
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		var raw json.RawMessage
		code := s.do(method, path, s.tokA, body, &raw)
		return code, raw
	}
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			for _, at := range [][]int{{0}, {dim / 2}, {dim - 1}} {
				if code, body := do(r.method, r.path, r.body(nvVec(dim, "0", at...))); code != http.StatusOK {
					t.Fatalf("control with 0 at %v: %d %s", at, code, body)
				}
				code, body := do(r.method, r.path, r.body(nvVec(dim, "null", at...)))
				if code != http.StatusUnprocessableEntity {
					t.Fatalf("null at %v: %d %s, want 422", at, code, body)
				}
				items := nvDetail(t, body)
				want := fmt.Sprintf("%s.%d", r.loc, at[0])
				if len(items) != 1 || nvLoc(items[0].Loc) != want ||
					items[0].Type != "float_type" || items[0].Msg != "Input should be a valid number" {
					t.Fatalf("null at %v: items %+v, want one float_type at %s", at, items, want)
				}
			}
			// Several nulls: one item each.
			code, body := do(r.method, r.path, r.body(nvVec(dim, "null", 1, 7, 300)))
			if items := nvDetail(t, body); code != http.StatusUnprocessableEntity || len(items) != 3 ||
				nvLoc(items[2].Loc) != r.loc+".300" {
				t.Fatalf("three nulls: %d %s", code, body)
			}
			// What pydantic's lax mode reads as a number is taken…
			for _, lit := range []string{`"0.5"`, `" 1e-3 "`, `true`, `false`} {
				if code, body := do(r.method, r.path, r.body(nvVec(dim, lit, 5))); code != http.StatusOK {
					t.Fatalf("%s at 5: %d %s, want 200 (pydantic's lax mode)", lit, code, body)
				}
			}
			// …and every other non-number is refused the same way.
			for _, lit := range []string{`"null"`, `"nan"`, `"0x1p-2"`, `[]`, `[0.5]`, `{}`, `{"v":1}`, `1e39`} {
				code, body := do(r.method, r.path, r.body(nvVec(dim, lit, 5)))
				items := nvDetail(t, body)
				if code != http.StatusUnprocessableEntity || len(items) != 1 || nvLoc(items[0].Loc) != r.loc+".5" {
					t.Fatalf("%s at 5: %d %s, want 422 at %s.5", lit, code, body, r.loc)
				}
			}
		})
	}

	// A null where a whole vector (or policy object) is expected is no
	// vector, not an empty one.
	for _, tc := range []struct{ name, method, path, body, loc, typ string }{
		{"isolation exclusion vector null", "PUT", "/v1/session/" + sid + "/isolation",
			`{"level":"FILTER","exclusion_embeddings":[null]}`, "body.exclusion_embeddings.0", "list_type"},
		{"verify test vector null", "POST", "/v1/session/" + sid + "/verify",
			`{"test_embeddings":[` + nvVec(dim, "0") + `,null]}`, "body.test_embeddings.1", "list_type"},
		{"policy vector null", "POST", "/v1/session/create",
			`{"policy_vectors":[null]}`, "body.policy_vectors.0", "model_attributes_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(tc.method, tc.path, tc.body)
			items := nvDetail(t, body)
			if code != http.StatusUnprocessableEntity || len(items) != 1 || nvLoc(items[0].Loc) != tc.loc || items[0].Type != tc.typ {
				t.Fatalf("%d %s, want 422 %s at %s", code, body, tc.typ, tc.loc)
			}
		})
	}

	// An Optional field given null is an absent one (null_field_test.go
	// has the fields that are not Optional), and "null" inside a string is
	// text.
	s.must(http.StatusOK, "POST", "/v1/session/create", s.tokA, `{"template_embedding":null,"policy_vectors":null,"dimension":null}`)
	s.must(http.StatusOK, "POST", "/v1/session/"+sid+"/memory", s.tokA,
		`{"embedding":`+nvVec(dim, "0")+`,"text":"[0.5, null]"}`)
}

// nvBody is a bindJSON destination covering the shapes bindJSON must see
// through: nested slices, structs in slices, maps, pointers, embedded
// structs (exported and not), and elements that may legitimately be null.
// The fields tagged nullable take null; the others refuse it.
type nvInner struct {
	Vec []float32 `json:"vec"`
}

type nvEmbedded struct {
	Hidden []float64 `json:"hidden"`
}

type NvExported struct {
	Shown []int `json:"shown" nullable:"true"`
}

type nvBody struct {
	nvEmbedded
	*NvExported
	Vec      []float32            `json:"vec" nullable:"true"`
	Mat      [][]float64          `json:"mat" nullable:"true"`
	Fixed    [3]float32           `json:"fixed" nullable:"true"`
	Inner    []nvInner            `json:"inner" nullable:"true"`
	PInner   *nvInner             `json:"p_inner" nullable:"true"`
	ByName   map[string][]float32 `json:"by_name" nullable:"true"`
	Weights  map[string]float64   `json:"weights"`
	Names    []string             `json:"names"`
	Ptrs     []*float64           `json:"ptrs"`
	Anys     []any                `json:"anys"`
	Raws     []json.RawMessage    `json:"raws"`
	Bytes    []byte               `json:"bytes"`
	Ignored  []float32            `json:"-"`
	NoTag    []float32
	internal []float32 //lint:ignore U1000 an unexported field: binding must skip it
}

func TestBindJSONNullElements(t *testing.T) {
	r := mwEngine()
	r.POST("/v", func(c *gin.Context) {
		var b nvBody
		if bindJSON(c, &b) {
			c.JSON(http.StatusOK, gin.H{"vec": b.Vec, "ptrs": b.Ptrs})
		}
	})
	num := func(loc ...any) api.ValidationItem {
		return mwNull("Input should be a valid number", "float_type", loc...)
	}
	tests := []struct {
		name string
		body string
		want []api.ValidationItem // nil: 200
	}{
		{"no null", `{"vec":[1,2],"mat":[[1]],"ptrs":[1]}`, nil},
		{"nullable fields given null are absent", `{"vec":null,"mat":null,"inner":null,"p_inner":null,"by_name":null,"fixed":null,"shown":null}`, nil},
		{"other fields refuse null", `{"names":null,"weights":null,"vec":null,"NoTag":null}`, []api.ValidationItem{
			mwNull("Input should be a valid dictionary", "dict_type", "body", "weights"),
			mwNull("Input should be a valid list", "list_type", "body", "names"),
			mwNull("Input should be a valid list", "list_type", "body", "NoTag")}},
		{"a field's last value counts", `{"names":null,"names":["a"],"vec":[1],"vec":null}`, nil},
		{"null in a string", `{"names":["null","[null]"],"vec":[0]}`, nil},
		{"null where the element may be nil", `{"ptrs":[null,1],"anys":[null],"raws":[null]}`, nil},
		{"null in an ignored field", `{"Ignored":[null],"internal":[null]}`, nil},
		{"vec", `{"vec":[1,null,3]}`, []api.ValidationItem{num("body", "vec", 1)}},
		{"vec, key in another case: an unknown key", `{"VEC":[null]}`, nil},
		{"vec, duplicate key", `{"vec":[1],"vec":[null]}`, []api.ValidationItem{num("body", "vec", 0)}},
		{"untagged field", `{"NoTag":[null]}`, []api.ValidationItem{num("body", "NoTag", 0)}},
		{"matrix row element", `{"mat":[[1],[2,null]]}`, []api.ValidationItem{num("body", "mat", 1, 1)}},
		{"matrix row", `{"mat":[[1],null]}`, []api.ValidationItem{mwNull("Input should be a valid list", "list_type", "body", "mat", 1)}},
		{"array", `{"fixed":[1,2,null]}`, []api.ValidationItem{num("body", "fixed", 2)}},
		{"short array", `{"fixed":[1]}`, nil},
		{"long array: extra elements are dropped", `{"fixed":[1,2,3,null]}`, nil},
		{"struct in slice", `{"inner":[{"vec":[1]},{"vec":[null]}]}`, []api.ValidationItem{num("body", "inner", 1, "vec", 0)}},
		{"struct null in slice", `{"inner":[null]}`, []api.ValidationItem{mwNull("Input should be a valid dictionary or object to extract fields from", "model_attributes_type", "body", "inner", 0)}},
		{"pointer to struct", `{"p_inner":{"vec":[null]}}`, []api.ValidationItem{num("body", "p_inner", "vec", 0)}},
		{"map of vectors, in the body's order", `{"by_name":{"b":[null],"a":[1,null]}}`, []api.ValidationItem{num("body", "by_name", "b", 0), num("body", "by_name", "a", 1)}},
		{"map value", `{"weights":{"w":null}}`, []api.ValidationItem{num("body", "weights", "w")}},
		{"string element", `{"names":["a",null]}`, []api.ValidationItem{mwNull("Input should be a valid string", "string_type", "body", "names", 1)}},
		{"unexported embedded struct", `{"hidden":[null]}`, []api.ValidationItem{num("body", "hidden", 0)}},
		{"exported embedded pointer", `{"shown":[1,null]}`, []api.ValidationItem{mwNull("Input should be a valid integer", "int_type", "body", "shown", 1)}},
		{"several", `{"vec":[null],"inner":[{"vec":[null]}]}`, []api.ValidationItem{num("body", "vec", 0), num("body", "inner", 0, "vec", 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mwDo(r, http.MethodPost, "/v", tc.body, nil)
			if tc.want == nil {
				if w.Code != http.StatusOK {
					t.Fatalf("%d %s, want 200", w.Code, w.Body)
				}
				return
			}
			if want := mwDetailJSON(t, tc.want...); w.Code != http.StatusUnprocessableEntity || w.Body.String() != want {
				t.Fatalf("got %d %s\nwant 422 %s", w.Code, w.Body, want)
			}
		})
	}

	t.Run("items are bounded", func(t *testing.T) {
		w := mwDo(r, http.MethodPost, "/v", `{"vec":`+nvVec(1000, "null", func() []int {
			all := make([]int, 1000)
			for i := range all {
				all[i] = i
			}
			return all
		}()...)+`}`, nil)
		if items := nvDetail(t, w.Body.Bytes()); w.Code != http.StatusUnprocessableEntity || len(items) != maxNullItems {
			t.Fatalf("%d, %d items, want 422 with %d", w.Code, len(items), maxNullItems)
		}
	})
}

// policy_vectors[].weight out of (0, 100] and promote true are refused (the
// engine cannot honour them): a 422 whose loc names the vector's field, as
// any other validation failure does. A weight in range is taken.
func TestPolicyVectorKnobsAre422AtTheirField(t *testing.T) {
	s := newLyServer(t)
	v := nvVec(384, "0.125")
	for _, c := range []struct{ body, loc, typ string }{
		{`{"policy_vectors":[{"embedding":` + v + `,"weight":0}]}`, "body.policy_vectors.0.weight", "greater_than"},
		{`{"policy_vectors":[{"embedding":` + v + `},{"embedding":` + v + `,"weight":100.5}]}`, "body.policy_vectors.1.weight", "less_than_equal"},
		{`{"policy_vectors":[{"embedding":` + v + `},{"embedding":` + v + `,"promote":true}]}`, "body.policy_vectors.1.promote", "value_error"},
		// The embedding is required, as /openapi.json says: left out it is
		// missing, not a vector of 0 dimensions.
		{`{"policy_vectors":[{"embedding":` + v + `},{"weight":2}]}`, "body.policy_vectors.1.embedding", "missing"},
	} {
		var raw json.RawMessage
		code := s.do("POST", "/v1/session/create", s.tokA, c.body, &raw)
		items := nvDetail(t, raw)
		if code != http.StatusUnprocessableEntity || len(items) != 1 || nvLoc(items[0].Loc) != c.loc || items[0].Type != c.typ {
			t.Fatalf("%s: %d %s, want one 422 item at %s of type %s", c.loc, code, raw, c.loc, c.typ)
		}
	}
	s.must(http.StatusOK, "POST", "/v1/session/create", s.tokA, `{"policy_vectors":[{"embedding":`+v+`,"weight":1,"promote":false}]}`)
	s.must(http.StatusOK, "POST", "/v1/session/create", s.tokA, `{"policy_vectors":[{"embedding":`+v+`,"weight":1.5,"promote":false},{"embedding":`+v+`}]}`)
}
