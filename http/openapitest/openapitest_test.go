package openapitest_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/semvec-go/semvec/actors"
	apihttp "github.com/semvec-go/semvec/http"
	"github.com/semvec-go/semvec/http/openapitest"
)

// servedValidator loads the document a server with every route serves.
func servedValidator(t *testing.T) *openapitest.Validator {
	t.Helper()
	gin.SetMode(gin.TestMode)
	engine := apihttp.New(apihttp.Deps{Layers: &actors.Layers{}, Limiter: apihttp.NewRateLimiter(nil), Anonymous: true})
	rec := httptest.NewRecorder()
	engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	v, err := openapitest.Load(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCheck(t *testing.T) {
	v := servedValidator(t)
	jsonCT := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	run := `{"session_id":"s","context":"c","top_similarity":0.5,"short_circuit":false,"drift_score":0,"drift_detected":false,"drift_phase":"stable"}`
	for _, tc := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		ok                 bool
	}{
		{"run", "POST", "/v1/run", 200, jsonCT, run, true},
		{"run lacks a field", "POST", "/v1/run", 200, jsonCT, strings.Replace(run, `"drift_phase":"stable"`, `"x":1`, 1), false},
		{"run field of the wrong type", "POST", "/v1/run", 200, jsonCT, strings.Replace(run, `"short_circuit":false`, `"short_circuit":"no"`, 1), false},
		{"run answered 201", "POST", "/v1/run", 201, jsonCT, run, false},
		{"422", "POST", "/v1/run", 422, jsonCT, `{"detail":[{"loc":["body","message"],"msg":"Field required","type":"missing"}]}`, true},
		{"422 with a string detail", "POST", "/v1/run", 422, jsonCT, `{"detail":"no"}`, false},
		{"422 with a null input", "POST", "/v1/run", 422, jsonCT, `{"detail":[{"loc":["body","reset_context"],"msg":"Input should be a valid boolean","type":"bool_type","input":null}]}`, true},
		{"422 with a body as input", "POST", "/v1/run", 422, jsonCT, `{"detail":[{"loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","type":"model_attributes_type","input":"x=1"}]}`, true},
		{"422 with any value as input", "POST", "/v1/session/s/import", 422, jsonCT, `{"detail":[{"loc":["body","state_dict"],"msg":"Input should be a valid dictionary","type":"dict_type","input":[null,[1,{"a":null}],true,"x"]}]}`, true},
		{"422 with an index in loc", "POST", "/v1/session/create", 422, jsonCT, `{"detail":[{"loc":["body","policy_vectors",0,"embedding"],"msg":"expected 384 dimensions, got 3","type":"value_error"}]}`, true},
		{"422 with a null in loc", "POST", "/v1/run", 422, jsonCT, `{"detail":[{"loc":["body",null],"msg":"Field required","type":"missing"}]}`, false},
		{"mcp error with a null id", "POST", "/mcp", 400, jsonCT, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}`, true},
		{"mcp answer with a string id", "POST", "/mcp", 200, jsonCT, `{"jsonrpc":"2.0","id":"q-1","result":{}}`, true},
		{"mcp answer with an object id", "POST", "/mcp", 200, jsonCT, `{"jsonrpc":"2.0","id":{},"result":{}}`, false},
		{"404 of a documented route", "GET", "/v1/metrics/x", 404, jsonCT, `{"detail":"Session not found"}`, true},
		{"collection without its slash", "GET", "/v1/cluster", 200, jsonCT, `[]`, true},
		{"collection with a null list", "GET", "/v1/cluster/", 200, jsonCT, `null`, false},
		{"entity key with slashes", "DELETE", "/v1/session/s/entities/src/a.go", 200, jsonCT, `{"session_id":"s","key":"src/a.go","removed":true}`, true},
		{"literal segment beats a parameter", "POST", "/v1/session/create", 200, jsonCT, `{"session_id":"s","created":true,"dimension":384}`, true},
		{"nullable", "GET", "/v1/observer/summary", 200, jsonCT, `{"observer_id":"o","meta_session_id":"m","registered_regions":0,"region_ids":[],"sample_interval_seconds":30,"total_clusters_observed":0,"last_sample_at":null,"anomaly_count":0,"recent_anomalies":[],"samples":0}`, true},
		{"unknown route refused", "GET", "/v2/nothing", 404, jsonCT, `{"detail":"Not Found"}`, true},
		{"unknown route refused without detail", "GET", "/v2/nothing", 404, jsonCT, `{}`, false},
		{"unknown route answered", "GET", "/v2/nothing", 200, jsonCT, `{}`, false},
		{"metrics text", "GET", "/metrics", 200, http.Header{"Content-Type": {"text/plain; version=0.0.4"}}, "go_goroutines 1\n", true},
	} {
		err := v.Check(httptest.NewRequest(tc.method, tc.path, nil), tc.status, tc.header, []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestOperationID(t *testing.T) {
	v := servedValidator(t)
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/v1/run", "run"},
		{"GET", "/v1/cluster", "listClusters"},
		{"GET", "/v1/cluster/c1", "getCluster"},
		{"POST", "/v1/session/create", "createSession"},
		{"DELETE", "/v1/session/s/entities/src/a.go", "deleteEntity"},
		{"GET", "/v2/nothing", ""},
		{"PATCH", "/v1/run", ""},
	} {
		if got := v.OperationID(tc.method, tc.path); got != tc.want {
			t.Errorf("OperationID(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
	ids := v.OperationIDs()
	if !slices.Contains(ids, "run") || !slices.Contains(ids, "deleteEntity") || len(ids) < 50 {
		t.Errorf("OperationIDs = %v", ids)
	}
}
