package http

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec/http/api"
)

type vItem struct {
	Name   string  `json:"name" binding:"required,max=4"`
	Weight float64 `json:"weight" binding:"gte=0"`
}

type vEmbedded struct {
	Extra string `json:"extra" binding:"omitempty,min=2"`
}

type vReq struct {
	vEmbedded
	Message  string         `json:"message" binding:"required"`
	Coupling *float64       `json:"coupling_factor" binding:"required,gte=0,lte=1"`
	TopK     *int           `json:"top_k" binding:"omitempty,gte=1,lte=100"`
	Ratio    float64        `json:"ratio" binding:"omitempty,gt=0,lt=1"`
	Mode     string         `json:"mode" binding:"omitempty,oneof=weighted_average attention"`
	Level    int            `json:"level" binding:"omitempty,oneof=1 2 3"`
	Name     string         `json:"name" binding:"omitempty,max=5"`
	Tags     []string       `json:"tags" binding:"omitempty,max=3,dive,min=1"`
	Vec      []float64      `json:"vec" binding:"omitempty,len=3"`
	Items    []vItem        `json:"items" binding:"omitempty,min=1,dive"`
	Meta     map[string]int `json:"meta" binding:"omitempty,dive,gte=0"`
	Flag     bool           `json:"flag"`
	Count    uint           `json:"count"`
}

// mwDetailJSON renders the 422 body bindJSON should produce.
func mwDetailJSON(t *testing.T, items ...api.ValidationItem) string {
	t.Helper()
	b, err := json.Marshal(gin.H{"detail": items})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// vReqEngine serves POST /v, which binds a vReq (bodies up to limit
// bytes) and answers it.
func vReqEngine(limit int64) *gin.Engine {
	r := mwEngine(maxBody(bodyLimits{normal: limit}))
	r.POST("/v", func(c *gin.Context) {
		var req vReq
		if !bindJSON(c, &req) {
			return
		}
		c.JSON(http.StatusOK, req)
	})
	return r
}

// wantBound posts body to r's /v and checks it binds to a vReq that check
// accepts.
func wantBound(t *testing.T, r *gin.Engine, body string, check func(vReq) bool) {
	t.Helper()
	w := mwDo(r, http.MethodPost, "/v", body, nil)
	var got vReq
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &got) != nil || !check(got) {
		t.Fatalf("got %d %s", w.Code, w.Body.String())
	}
}

// want422 posts body to r's /v and checks the 422 lists exactly items.
func want422(t *testing.T, r *gin.Engine, body string, items ...api.ValidationItem) {
	t.Helper()
	w := mwDo(r, http.MethodPost, "/v", body, nil)
	if want := mwDetailJSON(t, items...); w.Code != 422 || w.Body.String() != want {
		t.Errorf("%s: got %d %s, want %s", body, w.Code, w.Body.String(), want)
	}
}

func mwItem(msg, typ string, loc ...any) api.ValidationItem {
	return api.ValidationItem{Loc: loc, Msg: msg, Type: typ}
}

// mwNull is the item of a refused JSON null: pydantic names its input.
func mwNull(msg, typ string, loc ...any) api.ValidationItem {
	return api.ValidationItem{Loc: loc, Msg: msg, Type: typ, Input: json.RawMessage("null")}
}

func TestBindJSON(t *testing.T) {
	r := mwEngine(maxBody(bodyLimits{normal: 1 << 10}))
	r.POST("/v", func(c *gin.Context) {
		var req vReq
		if !bindJSON(c, &req) {
			return
		}
		rest, _ := io.ReadAll(c.Request.Body) // the body can be read again
		c.JSON(http.StatusOK, gin.H{"message": req.Message, "reread": len(rest) > 0})
	})
	const ok = `"message":"hi","coupling_factor":0.5`
	tests := []struct {
		name   string
		body   string
		status int
		want   []api.ValidationItem // nil: compare with wantRaw
		raw    string
	}{
		{name: "valid", body: `{` + ok + `}`, status: 200, raw: `{"message":"hi","reread":true}`},
		{name: "valid with every optional field", status: 200, raw: `{"message":"hi","reread":true}`,
			body: `{` + ok + `,"extra":"xy","top_k":1,"ratio":0.5,"mode":"attention","level":2,"name":"abcde","tags":["a"],"vec":[1,2,3],"items":[{"name":"a","weight":0}],"meta":{"a":0},"flag":true,"count":3}`},

		{name: "empty body", body: ``, status: 422, want: []api.ValidationItem{mwItem("Field required", "missing", "body")}},
		{name: "whitespace body", body: " \n", status: 422, want: []api.ValidationItem{mwItem("JSON decode error", "json_invalid", "body", 2)}}, // FastAPI: json.loads fails at its end
		{name: "null body", body: "null", status: 422, want: []api.ValidationItem{mwItem("Field required", "missing", "body")}},
		{name: "truncated JSON", body: `{"message":`, status: 422, want: []api.ValidationItem{mwItem("JSON decode error", "json_invalid", "body", 11)}},
		{name: "syntax error", body: `{"message" "x"}`, status: 422, want: []api.ValidationItem{mwItem("JSON decode error", "json_invalid", "body", 11)}},
		{name: "trailing data", body: `{` + ok + `} xyz`, status: 422, want: []api.ValidationItem{mwItem("JSON decode error", "json_invalid", "body", 39)}},

		{name: "required fields missing", body: `{}`, status: 422, want: []api.ValidationItem{
			mwItem("Field required", "missing", "body", "message"),
			mwItem("Field required", "missing", "body", "coupling_factor"),
		}},
		// Present but empty is not missing (pydantic: string_too_short).
		{name: "required string empty", body: `{"message":"","coupling_factor":0.5}`, status: 422, want: []api.ValidationItem{
			mwItem("String should have at least 1 character", "string_too_short", "body", "message")}},
		{name: "key in another case: an unknown key, so missing", body: `{"MESSAGE":"","coupling_factor":0.5}`, status: 422, want: []api.ValidationItem{
			mwItem("Field required", "missing", "body", "message")}},
		{name: "required nested string empty", body: `{` + ok + `,"items":[{"name":"ok"},{"name":""}]}`, status: 422, want: []api.ValidationItem{
			mwItem("String should have at least 1 character", "string_too_short", "body", "items", 1, "name")}},
		{name: "required string null", body: `{"message":null,"coupling_factor":0.5}`, status: 422, want: []api.ValidationItem{
			mwNull("Input should be a valid string", "string_type", "body", "message")}},
		{name: "gte", body: `{"message":"hi","coupling_factor":-0.1}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be greater than or equal to 0", "greater_than_equal", "body", "coupling_factor")}},
		{name: "lte", body: `{"message":"hi","coupling_factor":1.5}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be less than or equal to 1", "less_than_equal", "body", "coupling_factor")}},
		{name: "gte on optional pointer", body: `{` + ok + `,"top_k":0}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be greater than or equal to 1", "greater_than_equal", "body", "top_k")}},
		{name: "gt", body: `{` + ok + `,"ratio":-1}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be greater than 0", "greater_than", "body", "ratio")}},
		{name: "lt", body: `{` + ok + `,"ratio":1}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be less than 1", "less_than", "body", "ratio")}},
		{name: "oneof strings", body: `{` + ok + `,"mode":"median"}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be 'weighted_average' or 'attention'", "enum", "body", "mode")}},
		{name: "oneof numbers", body: `{` + ok + `,"level":7}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be 1, 2 or 3", "enum", "body", "level")}},
		{name: "string max", body: `{` + ok + `,"name":"toolong"}`, status: 422, want: []api.ValidationItem{
			mwItem("String should have at most 5 characters", "string_too_long", "body", "name")}},
		{name: "string min in embedded struct", body: `{` + ok + `,"extra":"x"}`, status: 422, want: []api.ValidationItem{
			mwItem("String should have at least 2 characters", "string_too_short", "body", "extra")}},
		{name: "list max", body: `{` + ok + `,"tags":["a","b","c","d"]}`, status: 422, want: []api.ValidationItem{
			mwItem("List should have at most 3 items after validation, not 4", "too_long", "body", "tags")}},
		{name: "list min", body: `{` + ok + `,"items":[]}`, status: 422, want: []api.ValidationItem{
			mwItem("List should have at least 1 item after validation, not 0", "too_short", "body", "items")}},
		{name: "list len short", body: `{` + ok + `,"vec":[1,2]}`, status: 422, want: []api.ValidationItem{
			mwItem("List should have at least 3 items after validation, not 2", "too_short", "body", "vec")}},
		{name: "list len long", body: `{` + ok + `,"vec":[1,2,3,4]}`, status: 422, want: []api.ValidationItem{
			mwItem("List should have at most 3 items after validation, not 4", "too_long", "body", "vec")}},
		{name: "dive into strings", body: `{` + ok + `,"tags":["a",""]}`, status: 422, want: []api.ValidationItem{
			mwItem("String should have at least 1 character", "string_too_short", "body", "tags", 1)}},
		{name: "dive into structs", body: `{` + ok + `,"items":[{"name":"ok"},{"weight":-1},{"name":"12345"}]}`, status: 422, want: []api.ValidationItem{
			mwItem("Field required", "missing", "body", "items", 1, "name"),
			mwItem("Input should be greater than or equal to 0", "greater_than_equal", "body", "items", 1, "weight"),
			mwItem("String should have at most 4 characters", "string_too_long", "body", "items", 2, "name"),
		}},
		{name: "dive into map", body: `{` + ok + `,"meta":{"a.b":-1}}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be greater than or equal to 0", "greater_than_equal", "body", "meta", "a.b")}},

		{name: "string type", body: `{"message":5,"coupling_factor":0.5}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid string", "string_type", "body", "message")}},
		{name: "float parsing", body: `{"message":"hi","coupling_factor":"abc"}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid number, unable to parse string as a number", "float_parsing", "body", "coupling_factor")}},
		{name: "float type", body: `{"message":"hi","coupling_factor":[0.5]}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid number", "float_type", "body", "coupling_factor")}},
		{name: "int from float", body: `{` + ok + `,"top_k":1.5}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid integer, got a number with a fractional part", "int_from_float", "body", "top_k")}},
		{name: "int parsing", body: `{` + ok + `,"top_k":"three"}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid integer, unable to parse string as an integer", "int_parsing", "body", "top_k")}},
		{name: "int type", body: `{` + ok + `,"top_k":{"n":3}}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid integer", "int_type", "body", "top_k")}},
		{name: "negative unsigned", body: `{` + ok + `,"count":-1}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be greater than or equal to 0", "greater_than_equal", "body", "count")}},
		{name: "bool parsing", body: `{` + ok + `,"flag":"maybe"}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid boolean, unable to interpret input", "bool_parsing", "body", "flag")}},
		{name: "bool parsing of a number", body: `{` + ok + `,"flag":2}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid boolean, unable to interpret input", "bool_parsing", "body", "flag")}},
		{name: "bool type", body: `{` + ok + `,"flag":[true]}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid boolean", "bool_type", "body", "flag")}},
		{name: "list type", body: `{` + ok + `,"tags":"a"}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid list", "list_type", "body", "tags")}},
		{name: "dict type", body: `{` + ok + `,"meta":[1]}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid dictionary", "dict_type", "body", "meta")}},
		{name: "nested wrong type keeps the index", body: `{` + ok + `,"items":[{"name":"a"},{"name":"b","weight":"heavy"}]}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid number, unable to parse string as a number", "float_parsing", "body", "items", 1, "weight")}},
		{name: "list element wrong type", body: `{` + ok + `,"items":[{"name":"a"},7]}`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid dictionary or object to extract fields from", "model_attributes_type", "body", "items", 1)}},
		{name: "top-level array", body: `[1]`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid dictionary or object to extract fields from", "model_attributes_type", "body")}},
		{name: "top-level string", body: `"hello"`, status: 422, want: []api.ValidationItem{
			mwItem("Input should be a valid dictionary or object to extract fields from", "model_attributes_type", "body")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mwDo(r, http.MethodPost, "/v", tc.body, nil)
			want := tc.raw
			if tc.want != nil {
				want = mwDetailJSON(t, tc.want...)
			}
			if w.Code != tc.status || w.Body.String() != want {
				t.Fatalf("got %d %s\nwant %d %s", w.Code, w.Body.String(), tc.status, want)
			}
		})
	}
}

// Pydantic v2's lax mode, FastAPI's default, converts what a Python client
// may send for an integer, number or boolean field; so does bindJSON, and
// the converted values are what the handler gets. Strings are never made
// of numbers.
func TestBindJSONLaxMode(t *testing.T) {
	r := vReqEngine(1 << 10)
	for _, tc := range []struct {
		name, body string
		check      func(vReq) bool
	}{
		{"integral float for an int", `"top_k":3.0`, func(q vReq) bool { return q.TopK != nil && *q.TopK == 3 }},
		{"exponent for an int", `"top_k":1e1`, func(q vReq) bool { return q.TopK != nil && *q.TopK == 10 }},
		{"string for an int", `"top_k":" 7 "`, func(q vReq) bool { return q.TopK != nil && *q.TopK == 7 }},
		{"string with zero decimals for an int", `"top_k":"7.0"`, func(q vReq) bool { return q.TopK != nil && *q.TopK == 7 }},
		{"string with a bare point for an int", `"top_k":"7."`, func(q vReq) bool { return q.TopK != nil && *q.TopK == 7 }},
		{"string for an unsigned", `"count":"4"`, func(q vReq) bool { return q.Count == 4 }},
		{"string for a number", `"ratio":"0.25"`, func(q vReq) bool { return q.Ratio == 0.25 }},
		{"string for a nested number", `"items":[{"name":"a","weight":"2.5"}]`, func(q vReq) bool { return len(q.Items) == 1 && q.Items[0].Weight == 2.5 }},
		{"strings for list elements", `"vec":["1",2,"3e0"]`, func(q vReq) bool { return slices.Equal(q.Vec, []float64{1, 2, 3}) }},
		{"1 for a bool", `"flag":1`, func(q vReq) bool { return q.Flag }},
		{"yes for a bool", `"flag":"yes"`, func(q vReq) bool { return q.Flag }},
		{"a bool for an int", `"top_k":true`, func(q vReq) bool { return q.TopK != nil && *q.TopK == 1 }},
		{"a bool for a number", `"vec":[false,true,2]`, func(q vReq) bool { return slices.Equal(q.Vec, []float64{0, 1, 2}) }},
		// Keys match exactly, as in pydantic: another spelling is an
		// unknown key, ignored (TestBindJSONExactKeys).
		{"a key in another case is ignored", `"TOP_K":"5"`, func(q vReq) bool { return q.TopK == nil }},
		{"case variants are ignored", `"name":"b","NAME":"a","flag":"true"`, func(q vReq) bool { return q.Name == "b" && q.Flag }},
		{"case variants are ignored, reversed", `"NAME":"a","name":"b","flag":"true"`, func(q vReq) bool { return q.Name == "b" && q.Flag }},
		{"a map keeps its keys", `"meta":{"z":"1","a":2,"A":"3"}`, func(q vReq) bool { return q.Meta["z"] == 1 && q.Meta["a"] == 2 && q.Meta["A"] == 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := mwDo(r, http.MethodPost, "/v", `{"message":"hi","coupling_factor":"0.5",`+tc.body+`}`, nil)
			var got vReq
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &got) != nil || got.Coupling == nil || *got.Coupling != 0.5 || !tc.check(got) {
				t.Fatalf("got %d %s", w.Code, w.Body.String())
			}
		})
	}
	// range rules still apply to what was converted, and a number is never
	// a string
	for body, want := range map[string]api.ValidationItem{
		`{"message":"hi","coupling_factor":"1.5"}`:             mwItem("Input should be less than or equal to 1", "less_than_equal", "body", "coupling_factor"),
		`{"message":7,"coupling_factor":0.5}`:                  mwItem("Input should be a valid string", "string_type", "body", "message"),
		`{"message":"hi","coupling_factor":0.5,"top_k":"7.5"}`: mwItem("Input should be a valid integer, unable to parse string as an integer", "int_parsing", "body", "top_k"),
		`{"message":"hi","coupling_factor":0.5,"top_k":".0"}`:  mwItem("Input should be a valid integer, unable to parse string as an integer", "int_parsing", "body", "top_k"),
		`{"message":"hi","coupling_factor":"Inf"}`:             mwItem("Input should be a valid number, unable to parse string as a number", "float_parsing", "body", "coupling_factor"),
		`{"message":"hi","coupling_factor":"0x1p-2"}`:          mwItem("Input should be a valid number, unable to parse string as a number", "float_parsing", "body", "coupling_factor"),
	} {
		want422(t, r, body, want)
	}
}

// Keys match fields exactly, as pydantic matches them: a key that
// encoding/json would take by folding case ("Message", "meſſage" with a
// long s, "\u212Aey" with a Kelvin sign) is an unknown key, ignored, at every
// depth; map keys are data and stay as they are.
func TestBindJSONExactKeys(t *testing.T) {
	r := vReqEngine(1 << 10)
	for _, tc := range []struct {
		name, body string
		check      func(vReq) bool
	}{
		{"upper case", `{"message":"hi","coupling_factor":0.5,"Flag":true,"NAME":"x"}`, func(q vReq) bool { return !q.Flag && q.Name == "" }},
		{"a later folded duplicate", `{"message":"hi","coupling_factor":0.5,"name":"a","Name":"b"}`, func(q vReq) bool { return q.Name == "a" }},
		{"long s", `{"message":"hi","coupling_factor":0.5,"ratio":0.5,"ſ":1,"Ratio":0.7}`, func(q vReq) bool { return q.Ratio == 0.5 }},
		{"an escaped key", `{"message":"hi","coupling_factor":0.5,"\u0046lag":true}`, func(q vReq) bool { return !q.Flag }},
		{"an escaped exact key", `{"message":"hi","coupling_factor":0.5,"\u0066lag":true}`, func(q vReq) bool { return q.Flag }},
		{"nested", `{"message":"hi","coupling_factor":0.5,"items":[{"name":"a","Weight":3}]}`, func(q vReq) bool { return len(q.Items) == 1 && q.Items[0].Weight == 0 }},
		{"embedded", `{"message":"hi","coupling_factor":0.5,"EXTRA":"zz"}`, func(q vReq) bool { return q.Extra == "" }},
		{"map keys are data", `{"message":"Hi","coupling_factor":0.5,"meta":{"A":1,"a":2}}`, func(q vReq) bool { return q.Meta["A"] == 1 && q.Meta["a"] == 2 && q.Message == "Hi" }},
	} {
		t.Run(tc.name, func(t *testing.T) { wantBound(t, r, tc.body, tc.check) })
	}
	for body, want := range map[string]api.ValidationItem{
		`{"Message":"hi","coupling_factor":0.5}`:                     mwItem("Field required", "missing", "body", "message"),
		`{"meſſage":"hi","coupling_factor":0.5}`:                     mwItem("Field required", "missing", "body", "message"),
		`{"message":"hi","Coupling_Factor":0.5}`:                     mwItem("Field required", "missing", "body", "coupling_factor"),
		`{"message":"hi","coupling_factor":0.5,"TOP_K":0,"top_k":0}`: mwItem("Input should be greater than or equal to 1", "greater_than_equal", "body", "top_k"),
	} {
		want422(t, r, body, want)
	}
}

// foldableKey finds the keys that could fold to a field, and only those:
// prose in values, escaped quotes and map-like data in arrays are not keys.
func TestFoldableKey(t *testing.T) {
	for body, want := range map[string]bool{
		`{"message":"Hello World","response":"Ünïcode \"Quoted\": yes"}`: false,
		`{"message":"a\"B\":c"}`:              false,
		`["Message",":"]`:                     false,
		`{"tags":["A","B"],"n":1}`:            false,
		`{"Message":"x"}`:                     true,
		`{"message":"x", "Top_K" :1}`:         true,
		`{"meſſage":"x"}`:                     true,
		`{"\u006dessage":"x"}`:                true,
		`{"items":[{"name":"a","Weight":1}]}`: true,
		"{\"k\":1,\"K\"\n\t :2}":              true,
	} {
		if !json.Valid([]byte(body)) {
			t.Fatalf("%s is not JSON", body)
		}
		if got := foldableKey([]byte(body)); got != want {
			t.Errorf("foldableKey(%s) = %v, want %v", body, got, want)
		}
	}
}

// foldableKey's premise: every field a request body binds, at every depth,
// has a lower-case ASCII wire name, so a key with no upper-case letter,
// escape or non-ASCII byte cannot name one by folding case.
func TestWireNamesAreLowerCase(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, at string)
	walk = func(typ reflect.Type, at string) {
		typ = derefType(typ)
		if seen[typ] || customJSON(typ) {
			return
		}
		seen[typ] = true
		switch typ.Kind() {
		case reflect.Slice, reflect.Array, reflect.Map:
			walk(typ.Elem(), at+"[]")
		case reflect.Struct:
			for _, f := range reflect.VisibleFields(typ) {
				if !f.IsExported() || f.Tag.Get("json") == "-" || f.Anonymous && f.Tag.Get("json") == "" && derefType(f.Type).Kind() == reflect.Struct {
					continue
				}
				name, _ := wireName(f, "json")
				if strings.ContainsFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) {
					t.Errorf("%s.%s: wire name %q is not lower-case ASCII", at, f.Name, name)
				}
				walk(f.Type, at+"."+name)
			}
		}
	}
	for _, v := range []any{api.AnchorBody{}, api.AttachBody{}, api.ClusterCreateBody{}, api.ClusterStoreBody{},
		api.ConsensusBody{}, api.EntityBody{}, api.ImportBody{}, api.IsolationBody{}, api.MemberBody{}, api.MemoryBody{},
		api.ObserverCreateBody{}, api.RegionBody{}, api.RegionCreateBody{}, api.RunBody{}, api.SessionCreateBody{},
		api.StoreBody{}, api.SwitchBody{}, api.TransferBody{}, api.TriggerBody{}, api.VerifyBody{}} {
		walk(reflect.TypeOf(v), reflect.TypeOf(v).Name())
	}
}

// A body with several wrong values reports every one, with the range
// errors of the values that were right, in the fields' order (pydantic's
// report); a value of the wrong type hides nothing.
func TestBindJSONReportsEveryError(t *testing.T) {
	r := vReqEngine(1 << 16)
	for _, tc := range []struct {
		body string
		want []api.ValidationItem
	}{
		{`{"message":5,"coupling_factor":2}`, []api.ValidationItem{
			mwItem("Input should be a valid string", "string_type", "body", "message"),
			mwItem("Input should be less than or equal to 1", "less_than_equal", "body", "coupling_factor")}},
		{`{"coupling_factor":0.5,"ratio":5,"message":"hi","top_k":"abc"}`, []api.ValidationItem{
			mwItem("Input should be a valid integer, unable to parse string as an integer", "int_parsing", "body", "top_k"),
			mwItem("Input should be less than 1", "less_than", "body", "ratio")}},
		{`{"message":[1],"flag":"maybe"}`, []api.ValidationItem{
			mwItem("Input should be a valid string", "string_type", "body", "message"),
			mwItem("Field required", "missing", "body", "coupling_factor"),
			mwItem("Input should be a valid boolean, unable to interpret input", "bool_parsing", "body", "flag")}},
		{`{"message":"hi","coupling_factor":0.5,"items":[{"name":5,"weight":-1},{"name":"toolong"}],"vec":["x",1,{}]}`, []api.ValidationItem{
			mwItem("Input should be a valid number, unable to parse string as a number", "float_parsing", "body", "vec", 0),
			mwItem("Input should be a valid number", "float_type", "body", "vec", 2),
			mwItem("Input should be a valid string", "string_type", "body", "items", 0, "name"),
			mwItem("Input should be greater than or equal to 0", "greater_than_equal", "body", "items", 0, "weight"),
			mwItem("String should have at most 4 characters", "string_too_long", "body", "items", 1, "name")}},
	} {
		want422(t, r, tc.body, tc.want...)
	}
	// A large body full of wrong values: the first and as many more as
	// bindJSON looks for, never a decoding per value.
	var b strings.Builder
	b.WriteString(`{"message":"hi","coupling_factor":0.5,"vec":[`)
	for i := range 5000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"x"`)
	}
	b.WriteString(`]}`)
	w := mwDo(r, http.MethodPost, "/v", b.String(), nil)
	var got api.ValidationError
	if w.Code != 422 || json.Unmarshal(w.Body.Bytes(), &got) != nil || len(got.Detail) == 0 || len(got.Detail) > 1+maxTypeErrors {
		t.Fatalf("a body of 5,000 wrong values: %d, %d items", w.Code, len(got.Detail))
	}
}

func TestBindJSONTooLarge(t *testing.T) {
	r := mwEngine(maxBody(bodyLimits{normal: 64}))
	r.POST("/v", func(c *gin.Context) {
		var req vReq
		if bindJSON(c, &req) {
			c.Status(http.StatusOK)
		}
	})
	big := `{"message":"` + strings.Repeat("x", 100) + `","coupling_factor":0.5}`
	const want = `{"detail":"Request body too large"}`

	// Declared Content-Length over the limit: refused before reading.
	w := mwDo(r, http.MethodPost, "/v", big, nil)
	if w.Code != http.StatusRequestEntityTooLarge || w.Body.String() != want {
		t.Fatalf("known length: %d %s", w.Code, w.Body.String())
	}
	// Unknown length (chunked): the read hits http.MaxBytesReader.
	req := httptest.NewRequest(http.MethodPost, "/v", io.NopCloser(strings.NewReader(big)))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || rec.Body.String() != want {
		t.Fatalf("chunked: %d %s", rec.Code, rec.Body.String())
	}
	// At the limit is fine.
	small := `{"message":"hi","coupling_factor":0.5}`
	if w := mwDo(r, http.MethodPost, "/v", small, nil); w.Code != http.StatusOK {
		t.Fatalf("small body: %d %s", w.Code, w.Body.String())
	}
}

type vQuery struct {
	SessionID string  `form:"session_id" binding:"required"`
	TopK      int     `form:"top_k,default=5" binding:"gte=1,lte=50"`
	FullFirst bool    `form:"full_first"`
	MinScore  float64 `form:"min_score"`
	IDs       []int   `form:"ids"`
}

func TestBindQuery(t *testing.T) {
	r := mwEngine()
	r.GET("/q", func(c *gin.Context) {
		var q vQuery
		if !bindQuery(c, &q) {
			return
		}
		c.JSON(http.StatusOK, q)
	})
	const intMsg = "Input should be a valid integer, unable to parse string as an integer"
	tests := []struct {
		name, query string
		status      int
		want        []api.ValidationItem
		raw         string
	}{
		{name: "valid", query: "session_id=s1&top_k=7&full_first=true&min_score=0.5&ids=1&ids=2", status: 200,
			raw: `{"SessionID":"s1","TopK":7,"FullFirst":true,"MinScore":0.5,"IDs":[1,2]}`},
		{name: "default", query: "session_id=s1", status: 200,
			raw: `{"SessionID":"s1","TopK":5,"FullFirst":false,"MinScore":0,"IDs":null}`},
		{name: "pydantic booleans", query: "session_id=s1&full_first=YES", status: 200,
			raw: `{"SessionID":"s1","TopK":5,"FullFirst":true,"MinScore":0,"IDs":null}`},
		{name: "pydantic booleans off", query: "session_id=s1&full_first=off", status: 200,
			raw: `{"SessionID":"s1","TopK":5,"FullFirst":false,"MinScore":0,"IDs":null}`},
		// pydantic reads " 7" (a "+7" whose "+" arrived as a space) and
		// "7.0" (Python's str(7.0) from a client computing top_k) as 7.
		{name: "integers as pydantic reads them", query: "session_id=s1&top_k=+7&ids=1.0&ids=%202%20&min_score=+0.5", status: 200,
			raw: `{"SessionID":"s1","TopK":7,"FullFirst":false,"MinScore":0.5,"IDs":[1,2]}`},
		{name: "zero decimals", query: "session_id=s1&top_k=7.", status: 200,
			raw: `{"SessionID":"s1","TopK":7,"FullFirst":false,"MinScore":0,"IDs":null}`},
		{name: "a fraction is no integer", query: "session_id=s&top_k=7.5&ids=1e1", status: 422, want: []api.ValidationItem{
			mwItem(intMsg, "int_parsing", "query", "top_k"), mwItem(intMsg, "int_parsing", "query", "ids", 0)}},
		{name: "missing", query: "", status: 422, want: []api.ValidationItem{mwItem("Field required", "missing", "query", "session_id")}},
		{name: "out of range", query: "session_id=s&top_k=100", status: 422, want: []api.ValidationItem{
			mwItem("Input should be less than or equal to 50", "less_than_equal", "query", "top_k")}},
		{name: "int parsing", query: "session_id=s&top_k=abc", status: 422, want: []api.ValidationItem{mwItem(intMsg, "int_parsing", "query", "top_k")}},
		// An empty value is a string to pydantic, not a zero (gin's reading).
		{name: "empty values", query: "session_id=s&top_k=&full_first=&min_score=", status: 422, want: []api.ValidationItem{
			mwItem(intMsg, "int_parsing", "query", "top_k"),
			mwItem("Input should be a valid boolean, unable to interpret input", "bool_parsing", "query", "full_first"),
			mwItem("Input should be a valid number, unable to parse string as a number", "float_parsing", "query", "min_score"),
		}},
		{name: "several parse errors", query: "session_id=s&top_k=abc&full_first=maybe&min_score=x", status: 422, want: []api.ValidationItem{
			mwItem(intMsg, "int_parsing", "query", "top_k"),
			mwItem("Input should be a valid boolean, unable to interpret input", "bool_parsing", "query", "full_first"),
			mwItem("Input should be a valid number, unable to parse string as a number", "float_parsing", "query", "min_score"),
		}},
		{name: "list element", query: "session_id=s&ids=1&ids=x", status: 422, want: []api.ValidationItem{mwItem(intMsg, "int_parsing", "query", "ids", 1)}},
		// Every error at once, in the fields' order, as pydantic reports
		// them: a value that does not parse does not hide the others.
		{name: "parse, range and missing together", query: "top_k=0&full_first=maybe", status: 422, want: []api.ValidationItem{
			mwItem("Field required", "missing", "query", "session_id"),
			mwItem("Input should be greater than or equal to 1", "greater_than_equal", "query", "top_k"),
			mwItem("Input should be a valid boolean, unable to interpret input", "bool_parsing", "query", "full_first"),
		}},
		{name: "a list element and a range error", query: "session_id=s&ids=x&top_k=99", status: 422, want: []api.ValidationItem{
			mwItem("Input should be less than or equal to 50", "less_than_equal", "query", "top_k"),
			mwItem(intMsg, "int_parsing", "query", "ids", 0),
		}},
		// A scalar given twice takes its last value, as in FastAPI; a list
		// takes them all.
		{name: "repeated scalar: the last wins", query: "session_id=a&session_id=s1&top_k=abc&top_k=7&full_first=no&full_first=on&ids=1&ids=2",
			status: 200, raw: `{"SessionID":"s1","TopK":7,"FullFirst":true,"MinScore":0,"IDs":[1,2]}`},
		{name: "repeated scalar: the last is validated", query: "session_id=s&top_k=7&top_k=abc", status: 422,
			want: []api.ValidationItem{mwItem(intMsg, "int_parsing", "query", "top_k")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mwDo(r, http.MethodGet, "/q?"+tc.query, "", nil)
			want := tc.raw
			if tc.want != nil {
				want = mwDetailJSON(t, tc.want...)
			}
			if w.Code != tc.status || w.Body.String() != want {
				t.Fatalf("got %d %s\nwant %d %s", w.Code, w.Body.String(), tc.status, want)
			}
		})
	}
}

func TestValidationErrorHelper(t *testing.T) {
	r := mwEngine()
	r.GET("/none", func(c *gin.Context) { validationError(c) })
	r.GET("/one", func(c *gin.Context) {
		validationError(c, api.ValidationItem{Loc: []any{"body", "embedding"}, Msg: "Value error, wrong dimension", Type: "value_error"})
	})
	r.GET("/noloc", func(c *gin.Context) { validationError(c, api.ValidationItem{Msg: "m", Type: "t"}) })
	for path, want := range map[string]string{
		"/none":  `{"detail":[]}`,
		"/one":   `{"detail":[{"loc":["body","embedding"],"msg":"Value error, wrong dimension","type":"value_error"}]}`,
		"/noloc": `{"detail":[{"loc":[],"msg":"m","type":"t"}]}`,
	} {
		w := mwDo(r, http.MethodGet, path, "", nil)
		if w.Code != http.StatusUnprocessableEntity || w.Body.String() != want {
			t.Errorf("%s: %d %s, want 422 %s", path, w.Code, w.Body.String(), want)
		}
	}
}

func TestRegisterValidatorsIdempotent(t *testing.T) {
	for range 3 {
		registerValidators()
	}
}

func TestNamespaceLoc(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type emb struct {
		Deep string `json:"deep"`
	}
	type named struct {
		emb
		Items  []inner           `json:"items"`
		ByKey  map[string]*inner `json:"by_key"`
		Grid   [][]int           `json:"grid"`
		NoTag  string
		Nested *struct {
			X int `json:"x"`
		} `json:"nested"`
	}
	root := reflect.TypeFor[*named]()
	tests := []struct {
		ns   string
		want []any
	}{
		{"named.Items[2].Name", []any{"items", 2, "name"}},
		{"named.ByKey[a.b].Name", []any{"by_key", "a.b", "name"}},
		{"named.Grid[1][0]", []any{"grid", 1, 0}},
		{"named.NoTag", []any{"NoTag"}},
		{"named.emb.Deep", []any{"deep"}},
		{"named.Nested.X", []any{"nested", "x"}},
		{"named.Unknown[3]", []any{"Unknown", 3}},
	}
	for _, tc := range tests {
		if got := namespaceLoc(tc.ns, root, "json"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.ns, got, tc.want)
		}
	}
	// Anonymous root structs have no root segment in the namespace.
	anon := reflect.TypeOf(&struct {
		Items []inner `json:"items"`
	}{})
	if got, want := namespaceLoc("Items[0].Name", anon, "json"), []any{"items", 0, "name"}; !reflect.DeepEqual(got, want) {
		t.Errorf("anonymous root: got %#v, want %#v", got, want)
	}
}

func TestJSONPathAt(t *testing.T) {
	body := []byte(`{"a":[1,{"b":[true,"x"]}],"c":{"d":null,"e":{}}}`)
	tests := []struct {
		off  int64
		want []any
	}{
		{int64(strings.Index(string(body), "1") + 1), []any{"a", 0}},
		{int64(strings.Index(string(body), "true") + 4), []any{"a", 1, "b", 0}},
		{int64(strings.Index(string(body), `"x"`) + 3), []any{"a", 1, "b", 1}},
		{int64(strings.Index(string(body), "null") + 4), []any{"c", "d"}},
		{int64(strings.Index(string(body), "{}") + 1), []any{"c", "e"}},
		{1, []any{}},
	}
	for _, tc := range tests {
		if got := jsonPathAt(body, tc.off); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("offset %d: got %#v, want %#v", tc.off, got, tc.want)
		}
	}
	if got := jsonPathAt([]byte(`{"a":`), 10); got != nil {
		t.Errorf("broken body: got %#v, want nil", got)
	}
}

func TestChoices(t *testing.T) {
	for param, want := range map[string]string{
		"a":                 "'a'",
		"a b":               "'a' or 'b'",
		"a b c":             "'a', 'b' or 'c'",
		"'x y' z":           "'x y' or 'z'",
		"OPEN FILTER  LOCK": "'OPEN', 'FILTER' or 'LOCK'",
	} {
		if got := enumChoices(param, true); got != want {
			t.Errorf("%q: got %s, want %s", param, got, want)
		}
	}
}

// vStrict fails to unmarshal any value other than "ok".
type vStrict string

func (s *vStrict) UnmarshalJSON(b []byte) error {
	if string(b) != `"ok"` {
		return errStrict
	}
	*s = "ok"
	return nil
}

var errStrict = errorString("must be \"ok\"")

type errorString string

func (e errorString) Error() string { return string(e) }

func TestBindJSONEdgeCases(t *testing.T) {
	type edge struct {
		Code   string            `json:"code" binding:"omitempty,gt=2,lt=5"`
		Labels map[string]string `json:"labels" binding:"omitempty,max=1"`
		Opt    *int              `json:"opt" binding:"gte=1"` // no required: a nil pointer still fails
		Strict vStrict           `json:"strict"`
	}
	r := mwEngine()
	r.POST("/edge", func(c *gin.Context) {
		var e edge
		if bindJSON(c, &e) {
			c.Status(http.StatusOK)
		}
	})
	r.POST("/list", func(c *gin.Context) {
		var items []vItem
		if bindJSON(c, &items) {
			c.Status(http.StatusOK)
		}
	})
	r.POST("/notptr", func(c *gin.Context) {
		var e edge
		bindJSON(c, e)
	})
	tests := []struct {
		name, path, body string
		status           int
		want             []api.ValidationItem
	}{
		{"ok", "/edge", `{"opt":1}`, 200, nil},
		{"gt on string", "/edge", `{"opt":1,"code":"ab"}`, 422, []api.ValidationItem{
			mwItem("String should have at least 3 characters", "string_too_short", "body", "code")}},
		{"lt on string", "/edge", `{"opt":1,"code":"abcde"}`, 422, []api.ValidationItem{
			mwItem("String should have at most 4 characters", "string_too_long", "body", "code")}},
		{"map max", "/edge", `{"opt":1,"labels":{"a":"1","b":"2"}}`, 422, []api.ValidationItem{
			mwItem("Dictionary should have at most 1 item after validation, not 2", "too_long", "body", "labels")}},
		{"nil pointer with a tag", "/edge", `{}`, 422, []api.ValidationItem{
			mwItem("Field required", "missing", "body", "opt")}},
		{"custom unmarshaler error", "/edge", `{"opt":1,"strict":"no"}`, 422, []api.ValidationItem{
			mwItem(`Value error, must be "ok"`, "value_error", "body")}},
		{"top-level list", "/list", `[{"name":"a"},{"name":"b"}]`, 200, nil},
		{"top-level list invalid", "/list", `[{"name":"a"},{"weight":1}]`, 422, []api.ValidationItem{
			mwItem("Field required", "missing", "body", "name")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mwDo(r, http.MethodPost, tc.path, tc.body, nil)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			if tc.want != nil {
				if want := mwDetailJSON(t, tc.want...); w.Body.String() != want {
					t.Fatalf("got %s\nwant %s", w.Body.String(), want)
				}
			}
		})
	}
	if w := mwDo(r, http.MethodPost, "/notptr", `{}`, nil); w.Code != http.StatusInternalServerError ||
		w.Body.String() != `{"detail":"Internal Server Error"}` {
		t.Fatalf("non-pointer destination: %d %s", w.Code, w.Body.String())
	}
}

// failingBody fails its first read after returning some bytes.
type failingBody struct {
	data []byte
	err  error
}

func (b *failingBody) Read(p []byte) (int, error) {
	if len(b.data) > 0 {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	return 0, b.err
}

// TestBindJSONBodyErrors: the body limit at its boundary, declared or
// chunked; a read error that is not the limit; no body at all. (Kept from
// the deleted fast-path tests, which compared these answers with bindJSON's.)
func TestBindJSONBodyErrors(t *testing.T) {
	r := mwEngine(maxBody(bodyLimits{normal: 64}))
	r.POST("/run", func(c *gin.Context) {
		var b api.RunBody
		if bindJSON(c, &b) {
			c.String(http.StatusOK, b.Message)
		}
	})
	serve := func(body io.Reader, chunked bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/run", body)
		if chunked {
			req.Body = io.NopCloser(body)
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}
	big := `{"message":"` + strings.Repeat("x", 100) + `"}`
	small := `{"message":"hi"}`
	for _, tc := range []struct {
		name    string
		body    string
		chunked bool
		code    int
	}{
		{"declared length over the limit", big, false, http.StatusRequestEntityTooLarge},
		{"chunked over the limit", big, true, http.StatusRequestEntityTooLarge},
		{"chunked under the limit", small, true, http.StatusOK},
		{"under the limit", small, false, http.StatusOK},
		{"exactly the limit", `{"message":"` + strings.Repeat("x", 64-14) + `"}`, true, http.StatusOK},
		{"one over the limit", `{"message":"` + strings.Repeat("x", 65-14) + `"}`, true, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(strings.NewReader(tc.body), tc.chunked)
			if w.Code != tc.code {
				t.Fatalf("%d %s", w.Code, w.Body.String())
			}
			if tc.code == http.StatusRequestEntityTooLarge && w.Body.String() != `{"detail":"Request body too large"}` {
				t.Fatalf("413 body %s", w.Body.String())
			}
		})
	}
	// A read error that is not the size limit: 400.
	w := serve(&failingBody{data: []byte(`{"message":`), err: errors.New("connection reset")}, true)
	if w.Code != http.StatusBadRequest || w.Body.String() != `{"detail":"Could not read request body"}` {
		t.Fatalf("read error: %d %s", w.Code, w.Body.String())
	}
	// No body at all.
	req := httptest.NewRequest(http.MethodPost, "/run", nil)
	req.Body = nil
	w = httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if want := mwDetailJSON(t, mwItem("Field required", "missing", "body")); w.Code != 422 || w.Body.String() != want {
		t.Fatalf("no body: %d %s", w.Code, w.Body.String())
	}
}

// TestRequestBodyRules: the rules of the real request bodies live in their
// binding tags, so bindJSON reports them as one 422 list — the non-blank
// texts (formerly checked in the handlers) and the ranges of the layer
// bodies (formerly inRange), with the same messages.
func TestRequestBodyRules(t *testing.T) {
	r := mwEngine()
	bind := func(path string, dst func() any) {
		r.POST(path, func(c *gin.Context) {
			if bindJSON(c, dst()) {
				c.Status(http.StatusOK)
			}
		})
	}
	bind("/run", func() any { return new(api.RunBody) })
	bind("/store", func() any { return new(api.StoreBody) })
	bind("/cluster/store", func() any { return new(api.ClusterStoreBody) })
	bind("/cluster", func() any { return new(api.ClusterCreateBody) })
	bind("/region", func() any { return new(api.RegionCreateBody) })
	bind("/observer", func() any { return new(api.ObserverCreateBody) })
	bind("/transfer", func() any { return new(api.TransferBody) })
	bind("/anchor", func() any { return new(api.AnchorBody) })
	const blank = "String should have at least 1 non-blank character"
	for _, tc := range []struct {
		path, body string
		want       []api.ValidationItem // nil: 200
	}{
		{"/run", `{"message":" \t\n"}`, []api.ValidationItem{mwItem(blank, "string_too_short", "body", "message")}},
		{"/run", `{"message":" x "}`, nil},
		{"/run", `{"message":""}`, []api.ValidationItem{mwItem("String should have at least 1 character", "string_too_short", "body", "message")}},
		{"/run", `{"message":null}`, []api.ValidationItem{mwNull("Input should be a valid string", "string_type", "body", "message")}},
		{"/run", `{}`, []api.ValidationItem{mwItem("Field required", "missing", "body", "message")}},
		{"/anchor", `{"embedding":null}`, []api.ValidationItem{mwNull("Input should be a valid list", "list_type", "body", "embedding")}},
		{"/anchor", `{}`, []api.ValidationItem{mwItem("Field required", "missing", "body", "embedding")}},
		{"/run", `{"message":"x","short_circuit_threshold":-1.5}`, []api.ValidationItem{
			mwItem("Input should be greater than or equal to -1", "greater_than_equal", "body", "short_circuit_threshold")}},
		{"/store", `{"session_id":"s","response":"  "}`, []api.ValidationItem{mwItem(blank, "string_too_short", "body", "response")}},
		{"/store", `{"session_id":"s","response":"r"}`, nil},
		{"/cluster/store", `{"message":" ","response":" "}`, []api.ValidationItem{
			mwItem(blank, "string_too_short", "body", "message"), mwItem(blank, "string_too_short", "body", "response")}},
		{"/cluster", `{"name":"c","coupling_factor":0}`, nil},
		{"/cluster", `{"name":"c","coupling_factor":1}`, nil},
		{"/cluster", `{"name":"c","coupling_factor":-0.1}`, []api.ValidationItem{
			mwItem("Input should be greater than or equal to 0", "greater_than_equal", "body", "coupling_factor")}},
		{"/cluster", `{"name":"c","coupling_factor":1.5}`, []api.ValidationItem{
			mwItem("Input should be less than or equal to 1", "less_than_equal", "body", "coupling_factor")}},
		{"/region", `{"name":"r","consensus_threshold":1,"vote_window_seconds":31536000}`, nil},
		{"/region", `{"name":"r","consensus_threshold":0}`, []api.ValidationItem{
			mwItem("Input should be greater than 0", "greater_than", "body", "consensus_threshold")}},
		{"/region", `{"name":"r","consensus_threshold":1.01,"vote_window_seconds":31536001}`, []api.ValidationItem{
			mwItem("Input should be less than or equal to 1", "less_than_equal", "body", "consensus_threshold"),
			mwItem("Input should be less than or equal to 31536000", "less_than_equal", "body", "vote_window_seconds")}},
		{"/region", `{"name":"r","vote_window_seconds":0}`, []api.ValidationItem{
			mwItem("Input should be greater than 0", "greater_than", "body", "vote_window_seconds")}},
		{"/observer", `{"sample_interval_seconds":0}`, []api.ValidationItem{
			mwItem("Input should be greater than 0", "greater_than", "body", "sample_interval_seconds")}},
		{"/observer", `{"sample_interval_seconds":0.5}`, nil},
		{"/transfer", `{"source_session_id":"a","target_session_id":"b","max_weight":0}`, []api.ValidationItem{
			mwItem("Input should be greater than 0", "greater_than", "body", "max_weight")}},
		{"/transfer", `{"source_session_id":"a","target_session_id":"b","max_weight":1.5}`, []api.ValidationItem{
			mwItem("Input should be less than or equal to 1", "less_than_equal", "body", "max_weight")}},
		{"/transfer", `{"source_session_id":"a","target_session_id":"b","max_weight":1}`, nil},
	} {
		w := mwDo(r, http.MethodPost, tc.path, tc.body, nil)
		if tc.want == nil {
			if w.Code != http.StatusOK {
				t.Errorf("%s %s: %d %s, want 200", tc.path, tc.body, w.Code, w.Body.String())
			}
			continue
		}
		if want := mwDetailJSON(t, tc.want...); w.Code != http.StatusUnprocessableEntity || w.Body.String() != want {
			t.Errorf("%s %s: %d %s\nwant 422 %s", tc.path, tc.body, w.Code, w.Body.String(), want)
		}
	}
}

// Rewriting a body (lax conversion, exact keys) builds a bounded number of
// values: an array of scalars that need no conversion is kept as it is,
// whatever its length, and a body with more values to convert than
// maxBuiltValues is not rewritten. A lax body's first wrong value is then
// its 422; a body whose keys must be dropped is a 413. (A 4 MiB array of
// strings where numbers belong took ~90 MB and a second of CPU to read.)
func TestRewritingABodyIsBounded(t *testing.T) {
	typ := reflect.TypeFor[vReq]()
	body := `{"message":"hi","coupling_factor":"0.5","vec":[` + strings.Repeat("0.5,", 200000) + `1]}`
	out, changed := laxBody([]byte(body), typ)
	var got vReq
	if !changed || json.Unmarshal(out, &got) != nil || len(got.Vec) != 200001 || got.Coupling == nil || *got.Coupling != 0.5 {
		t.Fatalf("a long plain vector beside a value to convert: changed %v, %d elements", changed, len(got.Vec))
	}

	body = `{"message":"hi","coupling_factor":0.5,"vec":[` + strings.Repeat(`"a",`, 1<<20) + `"a"]}`
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, changed = laxBody([]byte(body), typ)
	runtime.ReadMemStats(&after)
	if changed {
		t.Fatal("a body with more values to convert than the bound was rewritten")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*uint64(len(body)) {
		t.Errorf("reading a %d-byte body allocated %d bytes", len(body), alloc)
	}
	r := vReqEngine(8 << 20)
	w := mwDo(r, http.MethodPost, "/v", body, nil)
	var e struct{ Detail []api.ValidationItem }
	if w.Code != 422 || json.Unmarshal(w.Body.Bytes(), &e) != nil || len(e.Detail) == 0 ||
		!slices.Equal(e.Detail[0].Loc, []any{"body", "vec", float64(0)}) {
		t.Fatalf("strings where numbers belong, past the bound: %d %.300s", w.Code, w.Body)
	}

	body = `{"message":"hi","coupling_factor":0.5,"Flag":true,"items":[` + strings.Repeat(`{"name":"a"},`, 40000) + `{"name":"a"}]}`
	w = mwDo(r, http.MethodPost, "/v", body, nil)
	if w.Code != 413 || !strings.Contains(w.Body.String(), detailBodyTooComplex) {
		t.Fatalf("keys to drop in a body past the bound: %d %.300s", w.Code, w.Body)
	}
}

// plainScalars keeps an array as it is only when laxValue would change none
// of its elements.
func TestPlainScalars(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		kind reflect.Kind
		want bool
	}{
		{`[1, -2.5e3, null]`, reflect.Float64, true},
		{`[]`, reflect.Float32, true},
		{`[1, "2"]`, reflect.Float64, false},
		{`[1, true]`, reflect.Float64, false},
		{`[1, -2, 30]`, reflect.Int, true},
		{`[1, 2.0]`, reflect.Int, false},
		{`[1e2]`, reflect.Int, false},
		{`[true, false]`, reflect.Bool, true},
		{`[true, 1]`, reflect.Bool, false},
		{`["a", "b"]`, reflect.String, true},
		{`["a", 1]`, reflect.String, false},
		{`"a"`, reflect.String, false},
		{`{"a":1}`, reflect.Int, false},
	} {
		if got := plainScalars([]byte(tc.raw), tc.kind); got != tc.want {
			t.Errorf("plainScalars(%s, %s) = %v, want %v", tc.raw, tc.kind, got, tc.want)
		}
	}
}

// An object of more members than a body's rewriting builds is not scanned
// past the bound: a body of 600,000 keys, one of them folding to a field,
// is a 413 without building them all (it had cost 132 MB).
func TestAnObjectOfTooManyKeysIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"message":"hi","coupling_factor":0.5,"Flag":true`)
	for i := range 600_000 {
		b.WriteString(`,"k` + strconv.Itoa(i) + `":0`)
	}
	b.WriteString(`}`)
	body := b.String()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := exactKeys([]byte(body), reflect.TypeFor[vReq]())
	runtime.ReadMemStats(&after)
	if !errors.Is(err, errTooComplex) {
		t.Fatalf("exactKeys: %v, want errTooComplex", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 { // ~20 MB for the 65,536 members built, whatever the body's size
		t.Errorf("scanning a %d-byte body allocated %d bytes", len(body), alloc)
	}
	if w := mwDo(vReqEngine(16<<20), http.MethodPost, "/v", body, nil); w.Code != 413 {
		t.Fatalf("over HTTP: %d %.200s, want 413", w.Code, w.Body)
	}
}
