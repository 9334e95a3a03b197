package http

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/actors/actortest"
	"github.com/semvec-go/semvec/http/license"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// HTTP tests of the Layer 2–5 routes: the whole engine (auth, validation,
// error table) over a real actor system and SQLite in t.TempDir(), with the
// built-in hashing embedder and two licence subjects.

type lyServer struct {
	t          *testing.T
	h          http.Handler
	tokA, tokB string
	layers     *actors.Layers
	stack      *actortest.Stack
}

func newLyServer(t *testing.T) *lyServer {
	return newLyServerWith(t, actortest.Options{})
}

// newLyServerWith is newLyServer over a stack built with opts (its session
// configuration and log are set here).
func newLyServerWith(t *testing.T, opts actortest.Options) *lyServer {
	t.Helper()
	gin.SetMode(gin.TestMode)
	log := slog.New(slog.DiscardHandler)
	emb := embed.NewHashing(384)
	opts.Session.Dim, opts.Session.ModelName, opts.Log = emb.Dim(), emb.Name(), log
	st := actortest.New(t, opts)
	store, sessions, layers := st.Store, st.Sessions, st.Layers

	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	issue := func(sub string) string {
		tok, err := license.Issue(priv, sub, semvec.TierEnterprise, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	h := New(Deps{
		Log: log, Verifier: license.NewVerifier([]ed25519.PublicKey{pub}), Embedder: emb,
		Sessions: sessions, Layers: layers, DB: store,
		Metrics: NewMetrics(prometheus.NewRegistry()), Limiter: NewRateLimiter(nil),
	})
	return &lyServer{t: t, h: h, tokA: issue("tenant-a"), tokB: issue("tenant-b"), layers: layers, stack: st}
}

// do sends a request with token tok and decodes the JSON answer into out
// (when not nil); it returns the status.
func (s *lyServer) do(method, path, tok string, body any, out any) int {
	s.t.Helper()
	rec := s.send(method, path, tok, body)
	if out != nil && rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, rec.Code, rec.Body.String(), err)
		}
	}
	return rec.Code
}

// send sends a request (body JSON-encoded unless a string) and returns the
// recorded answer.
func (s *lyServer) send(method, path, tok string, body any) *httptest.ResponseRecorder {
	s.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

// must sends a request that must answer want and returns the decoded body.
func (s *lyServer) must(want int, method, path, tok string, body any) map[string]any {
	s.t.Helper()
	var out any
	if got := s.do(method, path, tok, body, &out); got != want {
		s.t.Fatalf("%s %s: status %d, want %d: %v", method, path, got, want, out)
	}
	m, _ := out.(map[string]any)
	return m
}

func (s *lyServer) list(method, path, tok string) []any {
	s.t.Helper()
	var out []any
	if got := s.do(method, path, tok, nil, &out); got != http.StatusOK {
		s.t.Fatalf("%s %s: status %d", method, path, got)
	}
	return out
}

func (s *lyServer) session(tok string) string {
	s.t.Helper()
	return s.must(200, "POST", "/v1/session/create", tok, map[string]any{})["session_id"].(string)
}

func TestLayersHTTPClusterSharesMemoryAcrossAgents(t *testing.T) {
	s := newLyServer(t)
	agentA, agentB := s.session(s.tokA), s.session(s.tokA)

	c := s.must(201, "POST", "/v1/cluster/", s.tokA, map[string]any{"name": "payments team", "aggregation_mode": "attention", "coupling_factor": 0.3})
	cid := c["cluster_id"].(string)
	if c["name"] != "payments team" || c["aggregation_mode"] != "attention" || c["coupling_factor"] != 0.3 {
		t.Fatalf("create = %v", c)
	}
	for _, sid := range []string{agentA, agentB} {
		m := s.must(200, "POST", "/v1/cluster/"+cid+"/members", s.tokA, map[string]any{"session_id": sid})
		if m["added"] != true || m["session_id"] != sid || m["cluster_id"] != cid {
			t.Fatalf("add member = %v", m)
		}
	}
	if m := s.must(200, "POST", "/v1/cluster/"+cid+"/members", s.tokA, map[string]any{"session_id": agentA}); m["added"] != false {
		t.Fatalf("second add = %v", m)
	}

	// Agent A seeds a finding; agent B's paraphrase on the cluster short-circuits.
	st := s.must(200, "POST", "/v1/cluster/"+cid+"/store", s.tokA, map[string]any{
		"message":  "How do I configure the retry policy for the payment service client?",
		"response": "Set max_retries to 3 with exponential backoff starting at 200 ms in payment-client.yaml.",
	})
	if st["cluster_id"] != cid || st["session_id"] != cid || st["total_memories"].(float64) < 1 {
		t.Fatalf("store = %v", st)
	}
	run := s.must(200, "POST", "/v1/cluster/"+cid+"/run", s.tokA, map[string]any{
		"message": "How can I configure the retry policy of the payment service client?",
	})
	if run["session_id"] != cid || run["short_circuit"] != true {
		t.Fatalf("paraphrase on the cluster: %v", run)
	}
	if !strings.Contains(run["context"].(string), "max_retries") {
		t.Fatalf("context lacks the stored answer: %q", run["context"])
	}
	// An unrelated question does not.
	run = s.must(200, "POST", "/v1/cluster/"+cid+"/run", s.tokA, map[string]any{"message": "What is the best flour for sourdough bread?"})
	if run["short_circuit"] != false {
		t.Fatalf("unrelated question short-circuited: %v", run)
	}
	// /v1/run with session_id = cluster_id is the same session.
	run = s.must(200, "POST", "/v1/run", s.tokA, map[string]any{"session_id": cid, "message": "How do I configure the retry policy for the payment service client?"})
	if run["session_id"] != cid || run["short_circuit"] != true {
		t.Fatalf("/v1/run on the cluster id: %v", run)
	}

	// Members run their own conversations; the aggregate has the session dimension.
	s.must(200, "POST", "/v1/run", s.tokA, map[string]any{"session_id": agentA, "message": "Deploying the payment service to Kubernetes"})
	s.must(200, "POST", "/v1/run", s.tokA, map[string]any{"session_id": agentB, "message": "Tuning retries of the payment client"})
	g := s.must(200, "GET", "/v1/cluster/"+cid, s.tokA, nil)
	vec := g["aggregate_vector"].([]any)
	if len(vec) != 384 || g["member_count"].(float64) != 2 || g["interaction_count"].(float64) != 3 || g["phase"] == "" {
		t.Fatalf("cluster state: member_count %v, interaction_count %v, %d dims", g["member_count"], g["interaction_count"], len(vec))
	}
	for _, k := range []string{"cluster_id", "name", "member_count", "phase", "interaction_count", "total_memories", "aggregation_mode", "coupling_factor", "aggregate_vector"} {
		if _, ok := g[k]; !ok {
			t.Errorf("GET cluster lacks %q", k)
		}
	}
	// Feedback blends the cluster session into both members.
	if fb := s.must(200, "POST", "/v1/cluster/"+cid+"/feedback", s.tokA, nil); fb["sessions_updated"].(float64) != 2 {
		t.Fatalf("feedback = %v", fb)
	}

	// List with and without the trailing slash; another tenant sees nothing.
	for _, p := range []string{"/v1/cluster", "/v1/cluster/"} {
		l := s.list("GET", p, s.tokA)
		if len(l) != 1 || l[0].(map[string]any)["member_count"].(float64) != 2 {
			t.Fatalf("GET %s = %v", p, l)
		}
	}
	if l := s.list("GET", "/v1/cluster/", s.tokB); len(l) != 0 {
		t.Fatalf("tenant b lists %v", l)
	}

	// Members and deletion.
	if m := s.must(200, "DELETE", "/v1/cluster/"+cid+"/members/"+agentB, s.tokA, nil); m["removed"] != true {
		t.Fatalf("remove = %v", m)
	}
	s.must(404, "DELETE", "/v1/cluster/"+cid+"/members/"+agentB, s.tokA, nil)
	if d := s.must(200, "DELETE", "/v1/cluster/"+cid, s.tokA, nil); d["deleted"] != true {
		t.Fatalf("delete = %v", d)
	}
	s.must(404, "GET", "/v1/cluster/"+cid, s.tokA, nil)
	s.must(404, "POST", "/v1/run", s.tokA, map[string]any{"session_id": cid, "message": "still there?"})
	// The members are ordinary sessions and live on.
	s.must(200, "GET", "/v1/metrics/"+agentA, s.tokA, nil)
}

func TestLayersHTTPValidation(t *testing.T) {
	s := newLyServer(t)
	tiny := make([]float32, 384) // its norm underflows in float32: zero, as for every other vector field
	for i := range tiny {
		tiny[i] = 1e-45
	}
	cases := []struct {
		method, path string
		body         any
		want         int
		field        string
	}{
		{"POST", "/v1/cluster/", map[string]any{"name": "x", "aggregation_mode": "median"}, 400, ""},
		{"POST", "/v1/cluster", map[string]any{"name": "x", "coupling_factor": 1.5}, 422, "coupling_factor"},
		{"POST", "/v1/cluster/", map[string]any{"name": "x", "coupling_factor": -0.1}, 422, "coupling_factor"},
		{"POST", "/v1/cluster/", map[string]any{"name": "x", "aggregation_mode": "median", "coupling_factor": 2}, 422, "coupling_factor"},
		{"POST", "/v1/cluster/", map[string]any{"aggregation_mode": "attention"}, 422, "name"},
		{"POST", "/v1/region/", map[string]any{"name": "r", "consensus_threshold": 0}, 422, "consensus_threshold"},
		{"POST", "/v1/region", map[string]any{"name": "r", "consensus_threshold": 1.01}, 422, "consensus_threshold"},
		{"POST", "/v1/region/", map[string]any{"name": "r", "vote_window_seconds": 0}, 422, "vote_window_seconds"},
		{"POST", "/v1/observer/", map[string]any{"sample_interval_seconds": 0}, 422, "sample_interval_seconds"},
		{"POST", "/v1/network/transfer", map[string]any{"source_session_id": "a", "target_session_id": "b", "max_weight": 0}, 422, "max_weight"},
		{"POST", "/v1/network/transfer", map[string]any{"source_session_id": "a", "target_session_id": "b", "max_weight": 1.5}, 422, "max_weight"},
		{"POST", "/v1/network/users/switch", map[string]any{"user_id": "no spaces"}, 422, "user_id"},
		{"POST", "/v1/network/users/switch", map[string]any{"user_id": ".."}, 422, "user_id"},
		{"POST", "/v1/network/users/switch", map[string]any{"user_id": "a/b@example.com"}, 422, "user_id"},
		{"POST", "/v1/network/consensus", map[string]any{"proposer_session_id": "a", "target_embedding": []float32{1, 2}}, 422, "target_embedding"},
		{"POST", "/v1/network/consensus", map[string]any{"proposer_session_id": "a", "target_embedding": tiny}, 422, "target_embedding"},
		{"GET", "/v1/region/x/events?limit=0", nil, 422, "limit"},
		{"GET", "/v1/region/x/events?limit=1001", nil, 422, "limit"},
		{"GET", "/v1/observer/anomalies?limit=0", nil, 422, "limit"},
	}
	for _, c := range cases {
		var out struct {
			Detail json.RawMessage `json:"detail"`
		}
		got := s.do(c.method, c.path, s.tokA, c.body, &out)
		if got != c.want {
			t.Errorf("%s %s %v: status %d, want %d: %s", c.method, c.path, c.body, got, c.want, out.Detail)
			continue
		}
		if c.field != "" && !strings.Contains(string(out.Detail), `"`+c.field+`"`) {
			t.Errorf("%s %s: detail %s does not name %q", c.method, c.path, out.Detail, c.field)
		}
	}
	// Defaults.
	c := s.must(201, "POST", "/v1/cluster/", s.tokA, map[string]any{"name": "defaults"})
	if c["aggregation_mode"] != "weighted_average" || c["coupling_factor"] != 0.0 {
		t.Fatalf("cluster defaults = %v", c)
	}
	r := s.must(201, "POST", "/v1/region/", s.tokA, map[string]any{"name": "defaults"})
	if r["consensus_threshold"] != 0.5 || r["vote_window_seconds"] != 60.0 || r["meta_session_id"] == "" {
		t.Fatalf("region defaults = %v", r)
	}
	// An empty body creates the observer with its defaults.
	o := s.must(201, "POST", "/v1/observer/", s.tokA, nil)
	if o["sample_interval_seconds"] != 30.0 || o["created"] != true || o["registered_regions"] != 0.0 {
		t.Fatalf("observer defaults = %v", o)
	}
	// A cluster cannot be its own member: a 422 naming session_id (the
	// contract keeps 400 for import payloads, aggregation modes and entity
	// kinds; this answered 400).
	cid := c["cluster_id"].(string)
	var self struct {
		Detail []map[string]any `json:"detail"`
	}
	if got := s.do("POST", "/v1/cluster/"+cid+"/members", s.tokA, map[string]any{"session_id": cid}, &self); got != 422 ||
		len(self.Detail) != 1 || fmt.Sprint(self.Detail[0]["loc"]) != "[body session_id]" || self.Detail[0]["msg"] != "a cluster cannot be a member of itself" {
		t.Fatalf("cluster as its own member: %d %v", got, self.Detail)
	}
	// A zero coupling factor answers 0 at once.
	s.must(200, "POST", "/v1/cluster/"+c["cluster_id"].(string)+"/members", s.tokA, map[string]any{"session_id": s.session(s.tokA)})
	if fb := s.must(200, "POST", "/v1/cluster/"+c["cluster_id"].(string)+"/feedback", s.tokA, nil); fb["sessions_updated"] != 0.0 {
		t.Fatalf("feedback with coupling 0 = %v", fb)
	}
}

// k8s and bread are a steady conversation and an abrupt topic switch.
var (
	lyK8s = []string{
		"How do I create a Kubernetes deployment for my web app?",
		"What does the replicas field in the Kubernetes deployment spec control?",
		"How can I scale the Kubernetes deployment to five replicas with kubectl?",
		"Some pods of the deployment are stuck in CrashLoopBackOff, how do I debug the pods?",
		"How do I mount a config file into the pods of the Kubernetes deployment?",
		"After changing the pod template, how does the rolling update of the deployment work?",
		"How do I roll back a Kubernetes deployment rollout with kubectl?",
		"How do I expose the Kubernetes deployment pods with a service?",
	}
	lyBread = "Completely different question: what flour is best for baking sourdough bread at home?"
)

func TestLayersHTTPDriftReachesRegionAndRealigns(t *testing.T) {
	s := newLyServer(t)
	cid := s.must(201, "POST", "/v1/cluster/", s.tokA, map[string]any{"name": "k8s"})["cluster_id"].(string)
	member := s.session(s.tokA)
	s.must(200, "POST", "/v1/cluster/"+cid+"/members", s.tokA, map[string]any{"session_id": member})
	r := s.must(201, "POST", "/v1/region/", s.tokA, map[string]any{"name": "platform", "consensus_threshold": 0.5, "vote_window_seconds": 60})
	rid := r["region_id"].(string)
	if a := s.must(200, "POST", "/v1/region/"+rid+"/clusters", s.tokA, map[string]any{"cluster_id": cid}); a["added"] != true {
		t.Fatalf("attach = %v", a)
	}

	// A steady conversation on the cluster raises no drift and no event.
	for i, q := range lyK8s {
		run := s.must(200, "POST", "/v1/cluster/"+cid+"/run", s.tokA, map[string]any{"message": q})
		if run["drift_detected"] == true {
			t.Fatalf("steady turn %d detected drift: %v", i, run)
		}
	}
	// The member's steady conversation neither.
	for _, q := range lyK8s[:4] {
		s.must(200, "POST", "/v1/run", s.tokA, map[string]any{"session_id": member, "message": q})
	}
	// Drift travels session → cluster → region as actor messages; reading
	// the cluster, then the region, queues behind anything sent so far.
	s.must(200, "GET", "/v1/cluster/"+cid, s.tokA, nil)
	g := s.must(200, "GET", "/v1/region/"+rid, s.tokA, nil)
	if len(g["recent_drift_events"].([]any)) != 0 || g["last_realignment"] != nil {
		t.Fatalf("steady conversation: %v", g)
	}

	// The abrupt switch: /run answers at once with drift; the event reaches
	// the region and 1 of 1 clusters > 0.5 realigns it.
	run := s.must(200, "POST", "/v1/cluster/"+cid+"/run", s.tokA, map[string]any{"message": lyBread})
	if run["drift_detected"] != true || run["drift_phase"] != "drifted" {
		t.Fatalf("topic switch: %v", run)
	}
	actortest.Eventually(t, "the realignment", func() bool {
		return s.must(200, "GET", "/v1/region/"+rid, s.tokA, nil)["last_realignment"] != nil
	})
	g = s.must(200, "GET", "/v1/region/"+rid, s.tokA, nil)
	evs := g["recent_drift_events"].([]any)
	if len(evs) != 1 || g["cluster_count"].(float64) != 1 {
		t.Fatalf("region after the switch: %v", g)
	}
	e := evs[0].(map[string]any)
	if e["cluster_id"] != cid || e["region_id"] != rid || e["drift_phase"] != "drifted" || e["timestamp"].(float64) < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("event = %v", e)
	}
	if lr := g["last_realignment"].(float64); lr < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("last_realignment = %v", lr)
	}
	if l := s.list("GET", "/v1/region/"+rid+"/events?limit=20", s.tokA); len(l) != 1 {
		t.Fatalf("events = %v", l)
	}
	// The meta session took the consensus turn.
	meta := r["meta_session_id"].(string)
	actortest.Eventually(t, "the meta session's realignment turn", func() bool {
		return s.must(200, "GET", "/v1/metrics/"+meta, s.tokA, nil)["interaction_count"].(float64) == 1
	})
	// The list shows the persisted last_realignment.
	actortest.Eventually(t, "last_realignment in the region list", func() bool {
		l := s.list("GET", "/v1/region", s.tokA)
		return len(l) == 1 && l[0].(map[string]any)["last_realignment"] != nil
	})

	// The observer: the drifted cluster is a systemic drift (1 of 1 > 50 %).
	o := s.must(201, "POST", "/v1/observer/", s.tokA, map[string]any{"sample_interval_seconds": 3600, "region_ids": []string{rid}})
	if o["registered_regions"].(float64) != 1 || o["created"] != true {
		t.Fatalf("observer = %v", o)
	}
	again := s.must(201, "POST", "/v1/observer", s.tokA, map[string]any{})
	if again["observer_id"] != o["observer_id"] || again["created"] != false || again["registered_regions"].(float64) != 1 {
		t.Fatalf("second create = %v, want the existing observer", again)
	}
	sm := s.must(200, "POST", "/v1/observer/sample", s.tokA, nil)
	if sm["clusters_sampled"].(float64) != 1 || sm["regions_sampled"].(float64) != 1 || sm["new_anomalies"].(float64) != 1 {
		t.Fatalf("sample = %v", sm)
	}
	an := sm["anomalies"].([]any)[0].(map[string]any)
	if an["anomaly_type"] != "systemic_drift" || an["severity"] != 1.0 || !slices.Equal(an["affected_cluster_ids"].([]any), []any{cid}) {
		t.Fatalf("anomaly = %v", an)
	}
	sum := s.must(200, "GET", "/v1/observer/summary", s.tokA, nil)
	if sum["anomaly_count"].(float64) != 1 || sum["last_sample_at"] == nil || sum["total_clusters_observed"].(float64) != 1 || len(sum["recent_anomalies"].([]any)) != 1 {
		t.Fatalf("summary = %v", sum)
	}
	if l := s.list("GET", "/v1/observer/anomalies?limit=5", s.tokA); len(l) != 1 {
		t.Fatalf("anomalies = %v", l)
	}
	if c := s.must(200, "DELETE", "/v1/observer/anomalies", s.tokA, nil); c["cleared"].(float64) != 1 {
		t.Fatalf("clear = %v", c)
	}
	if c := s.must(200, "DELETE", "/v1/observer/regions/"+rid, s.tokA, nil); c["registered_regions"].(float64) != 0 {
		t.Fatalf("unregister = %v", c)
	}
	if c := s.must(200, "POST", "/v1/observer/regions", s.tokA, map[string]any{"region_id": rid}); c["registered_regions"].(float64) != 1 || c["observer_id"] != o["observer_id"] {
		t.Fatalf("register = %v", c)
	}

	// Detach, delete.
	s.must(200, "DELETE", "/v1/region/"+rid+"/clusters/"+cid, s.tokA, nil)
	s.must(404, "DELETE", "/v1/region/"+rid+"/clusters/"+cid, s.tokA, nil)
	if d := s.must(200, "DELETE", "/v1/region/"+rid, s.tokA, nil); d["deleted"] != true {
		t.Fatalf("delete = %v", d)
	}
	s.must(404, "GET", "/v1/region/"+rid, s.tokA, nil)
	s.must(404, "GET", "/v1/metrics/"+meta, s.tokA, nil)
	if sum := s.must(200, "GET", "/v1/observer/summary", s.tokA, nil); sum["registered_regions"].(float64) != 0 {
		t.Fatalf("deleted region still registered: %v", sum)
	}
}

func TestLayersHTTPObserverBeforeCreation(t *testing.T) {
	s := newLyServer(t)
	for _, m := range []string{"summary", "sample"} {
		method := map[string]string{"summary": "GET", "sample": "POST"}[m]
		var out map[string]any
		if got := s.do(method, "/v1/observer/"+m, s.tokA, nil, &out); got != 404 || out["detail"] != "Observer not found" {
			t.Errorf("%s before creation: %d %v", m, got, out)
		}
	}
	if l := s.list("GET", "/v1/observer/anomalies", s.tokA); len(l) != 0 {
		t.Fatalf("anomalies = %v", l)
	}
	if c := s.must(200, "DELETE", "/v1/observer/anomalies", s.tokA, nil); c["cleared"] != 0.0 {
		t.Fatalf("clear = %v", c)
	}
	s.must(404, "POST", "/v1/observer/regions", s.tokA, map[string]any{"region_id": "r1"})
}

func TestLayersHTTPNetwork(t *testing.T) {
	s := newLyServer(t)
	s1, s2, s3 := s.session(s.tokA), s.session(s.tokA), s.session(s.tokA)
	s.must(200, "POST", "/v1/run", s.tokA, map[string]any{"session_id": s1, "message": "Kubernetes deployments and pods"})
	s.must(200, "POST", "/v1/run", s.tokA, map[string]any{"session_id": s2, "message": "Baking sourdough bread with strong flour"})

	tr := s.must(200, "POST", "/v1/network/transfer", s.tokA, map[string]any{"source_session_id": s1, "target_session_id": s2})
	if tr["delta_norm"].(float64) <= 0.5 || tr["max_weight"] != 0.15 || tr["transferred"] != true || tr["source_session_id"] != s1 {
		t.Fatalf("transfer = %v", tr)
	}
	// Unrelated unit vectors are about √2 apart; the second transfer sees a smaller delta.
	tr2 := s.must(200, "POST", "/v1/network/transfer", s.tokA, map[string]any{"source_session_id": s1, "target_session_id": s2, "max_weight": 0.5})
	if tr2["delta_norm"].(float64) >= tr["delta_norm"].(float64) {
		t.Fatalf("delta did not shrink: %v then %v", tr["delta_norm"], tr2["delta_norm"])
	}

	// Partitions.
	if a := s.must(200, "GET", "/v1/network/users/active", s.tokA, nil); a["active_user"] != "default" {
		t.Fatalf("active = %v", a)
	}
	sw := s.must(200, "POST", "/v1/network/users/switch", s.tokA, map[string]any{"user_id": "alice"})
	if sw["active_user"] != "alice" || sw["previous_user"] != "default" {
		t.Fatalf("switch = %v", sw)
	}
	if a := s.must(200, "GET", "/v1/network/users/active", s.tokA, nil); a["active_user"] != "alice" {
		t.Fatalf("active = %v", a)
	}
	// An e-mail address names a user (as a semvec client is likely to).
	if sw := s.must(200, "POST", "/v1/network/users/switch", s.tokA, map[string]any{"user_id": "bob+test@example.com"}); sw["active_user"] != "bob+test@example.com" {
		t.Fatalf("switch = %v", sw)
	}
	s.must(200, "POST", "/v1/network/users/switch", s.tokA, map[string]any{"user_id": "alice"})
	if ser := s.must(200, "POST", "/v1/network/users/bob+test@example.com/serialize", s.tokA, nil); ser["user_id"] != "bob+test@example.com" {
		t.Fatalf("serialize = %v", ser)
	}
	ser := s.must(200, "POST", "/v1/network/users/default/serialize", s.tokA, nil)
	state := ser["state"].(map[string]any)
	if ser["user_id"] != "default" || state["active"] != false || len(state["instances"].([]any)) != 2 || state["transfers"].(float64) != 2 {
		t.Fatalf("serialize default = %v", ser)
	}
	s.must(404, "POST", "/v1/network/users/nobody/serialize", s.tokA, nil)
	// Tenant b has its own partitions.
	if a := s.must(200, "GET", "/v1/network/users/active", s.tokB, nil); a["active_user"] != "default" {
		t.Fatalf("tenant b active = %v", a)
	}
	s.must(404, "POST", "/v1/network/users/alice/serialize", s.tokB, nil)

	// Consensus in alice's partition: s3 has no state and abstains, s1
	// proposes (and does not vote), s2 (blended towards s1 by the earlier
	// transfers) votes yes on s1's topic. Accepted, s1's trust 0.5 → 0.55.
	vecs, err := embed.NewHashing(384).Embed(context.Background(), []string{"Kubernetes deployments and pods", "Volcanic eruptions on Iceland"})
	if err != nil {
		t.Fatal(err)
	}
	s.must(200, "POST", "/v1/network/transfer", s.tokA, map[string]any{"source_session_id": s1, "target_session_id": s3})
	c := s.must(200, "POST", "/v1/network/consensus", s.tokA, map[string]any{"proposer_session_id": s1, "target_embedding": vecs[0]})
	if c["accepted"] != true || c["trust_scores"].(map[string]any)[s1] != 0.55 {
		t.Fatalf("consensus = %v", c)
	}
	c = s.must(200, "POST", "/v1/network/consensus", s.tokA, map[string]any{"proposer_session_id": s1, "target_embedding": vecs[1]})
	if c["accepted"] != false || c["trust_scores"].(map[string]any)[s1] != 0.5 {
		t.Fatalf("consensus = %v", c)
	}
	trust := s.must(200, "GET", "/v1/network/consensus/trust", s.tokA, nil)["trust_scores"].(map[string]any)
	if len(trust) != 2 || trust[s1] != 0.5 || trust[s3] != 0.5 {
		t.Fatalf("trust = %v", trust)
	}
	// The default partition kept its own trust scores.
	s.must(200, "POST", "/v1/network/users/switch", s.tokA, map[string]any{"user_id": "default"})
	trust = s.must(200, "GET", "/v1/network/consensus/trust", s.tokA, nil)["trust_scores"].(map[string]any)
	if len(trust) != 2 || trust[s2] != 0.5 {
		t.Fatalf("default trust = %v", trust)
	}
}

// TestLayersHTTPForeignResources404 tries every Layer 2–5 route with the
// other tenant's token on tenant a's resources, including ids inside
// request bodies: all answer 404.
func TestLayersHTTPForeignResources404(t *testing.T) {
	s := newLyServer(t)
	aSess := s.session(s.tokA)
	aCluster := s.must(201, "POST", "/v1/cluster/", s.tokA, map[string]any{"name": "a"})["cluster_id"].(string)
	s.must(200, "POST", "/v1/cluster/"+aCluster+"/members", s.tokA, map[string]any{"session_id": aSess})
	aRegion := s.must(201, "POST", "/v1/region/", s.tokA, map[string]any{"name": "a"})["region_id"].(string)
	s.must(200, "POST", "/v1/region/"+aRegion+"/clusters", s.tokA, map[string]any{"cluster_id": aCluster})
	s.must(201, "POST", "/v1/observer/", s.tokA, map[string]any{"region_ids": []string{aRegion}})
	s.must(200, "POST", "/v1/network/users/switch", s.tokA, map[string]any{"user_id": "alice"})

	bSess := s.session(s.tokB)
	bCluster := s.must(201, "POST", "/v1/cluster/", s.tokB, map[string]any{"name": "b"})["cluster_id"].(string)
	bRegion := s.must(201, "POST", "/v1/region/", s.tokB, map[string]any{"name": "b"})["region_id"].(string)

	unitTarget := make([]float32, 384)
	unitTarget[0] = 1
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/cluster/" + aCluster, nil},
		{"DELETE", "/v1/cluster/" + aCluster, nil},
		{"POST", "/v1/cluster/" + aCluster + "/run", map[string]any{"message": "hello"}},
		{"POST", "/v1/cluster/" + aCluster + "/store", map[string]any{"message": "q", "response": "a"}},
		{"POST", "/v1/cluster/" + aCluster + "/feedback", nil},
		{"POST", "/v1/cluster/" + aCluster + "/members", map[string]any{"session_id": bSess}},
		{"POST", "/v1/cluster/" + bCluster + "/members", map[string]any{"session_id": aSess}}, // id in the body
		{"DELETE", "/v1/cluster/" + aCluster + "/members/" + aSess, nil},
		{"GET", "/v1/region/" + aRegion, nil},
		{"DELETE", "/v1/region/" + aRegion, nil},
		{"POST", "/v1/region/" + aRegion + "/clusters", map[string]any{"cluster_id": bCluster}},
		{"POST", "/v1/region/" + bRegion + "/clusters", map[string]any{"cluster_id": aCluster}}, // id in the body
		{"DELETE", "/v1/region/" + aRegion + "/clusters/" + aCluster, nil},
		{"GET", "/v1/region/" + aRegion + "/events", nil},
		{"GET", "/v1/observer/summary", nil},
		{"POST", "/v1/observer/sample", nil},
		{"POST", "/v1/observer/", map[string]any{"region_ids": []string{aRegion}}}, // id in the body
		{"POST", "/v1/network/transfer", map[string]any{"source_session_id": aSess, "target_session_id": bSess}},
		{"POST", "/v1/network/transfer", map[string]any{"source_session_id": bSess, "target_session_id": aSess}},
		{"POST", "/v1/network/consensus", map[string]any{"proposer_session_id": aSess, "target_embedding": unitTarget}},
		{"POST", "/v1/network/users/alice/serialize", nil},
		{"POST", "/v1/run", map[string]any{"session_id": aCluster, "message": "hello"}},
	}
	for _, r := range routes {
		var out map[string]any
		if got := s.do(r.method, r.path, s.tokB, r.body, &out); got != 404 {
			t.Errorf("%s %s with tenant b's token: %d %v, want 404", r.method, r.path, got, out)
		}
	}
	// Tenant b's own observer cannot register or unregister a's region.
	s.must(201, "POST", "/v1/observer/", s.tokB, nil)
	s.must(404, "POST", "/v1/observer/regions", s.tokB, map[string]any{"region_id": aRegion})
	s.must(404, "DELETE", "/v1/observer/regions/"+aRegion, s.tokB, nil)
	// Nothing of a's changed.
	g := s.must(200, "GET", "/v1/cluster/"+aCluster, s.tokA, nil)
	if g["member_count"].(float64) != 1 {
		t.Fatalf("a's cluster changed: %v", g)
	}
	if r := s.must(200, "GET", "/v1/region/"+aRegion, s.tokA, nil); r["cluster_count"].(float64) != 1 {
		t.Fatalf("a's region changed: %v", r)
	}
	// Without a token: 401.
	s.must(401, "GET", "/v1/cluster/", "", nil)
}
