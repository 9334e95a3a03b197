package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/vecmath/embed"
)

func vec(dim int, hot ...int) []float64 {
	v := make([]float64, dim)
	for _, i := range hot {
		v[i] = 1
	}
	return v
}

func TestSessionRoutes(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL func(*testing.T) string) {
		e := newEnv(t, dbURL(t), nil)
		tok := e.token("sessions", semvec.TierEnterprise)
		call := func(method, path string, body any) resp { t.Helper(); return e.as(tok, method, path, body) }

		// run without session_id creates one; an empty session has top_similarity 0
		r := call("POST", "/v1/run", map[string]any{"message": "What is Kubernetes?"})
		want(t, r, 200)
		first := r.json(t)
		sid := first["session_id"].(string)
		for _, k := range []string{"session_id", "context", "top_similarity", "short_circuit", "drift_score", "drift_detected", "drift_phase"} {
			if _, ok := first[k]; !ok {
				t.Fatalf("/v1/run response lacks %s: %v", k, first)
			}
		}
		if first["top_similarity"].(float64) != 0 || first["short_circuit"] != false || first["drift_phase"] != "stable" {
			t.Fatalf("first turn %v", first)
		}
		if !strings.HasPrefix(first["context"].(string), "[Semvec Context | Phase: initialization | Turn 0 | 0 memories]") {
			t.Fatalf("context header: %q", first["context"])
		}
		// unknown id without reset → 404; with reset → created under that id
		want(t, call("POST", "/v1/run", map[string]any{"session_id": "no-such-session", "message": "hi"}), 404)
		r = call("POST", "/v1/run", map[string]any{"session_id": "my-own-id", "message": "hi", "reset_context": true})
		want(t, r, 200)
		if r.json(t)["session_id"] != "my-own-id" {
			t.Fatalf("reset_context on unknown id: %s", r.Body)
		}

		// store pairs the answer with the pending question; a paraphrase short-circuits
		want(t, call("POST", "/v1/store", map[string]any{"session_id": sid, "response": "Kubernetes is a container orchestration system."}), 200)
		r = call("POST", "/v1/run", map[string]any{"session_id": sid, "message": "what is kubernetes"})
		want(t, r, 200)
		if m := r.json(t); m["short_circuit"] != true || m["top_similarity"].(float64) < 0.85 {
			t.Fatalf("paraphrase did not short-circuit: %v", m)
		}
		r = call("POST", "/v1/run", map[string]any{"session_id": sid, "message": "what is kubernetes", "short_circuit_threshold": 1.0})
		if r.json(t)["short_circuit"] == true && r.json(t)["top_similarity"].(float64) < 1.0 {
			t.Fatalf("threshold 1.0 ignored: %s", r.Body)
		}

		// metrics
		r = call("GET", "/v1/metrics/"+sid, nil)
		want(t, r, 200)
		m := r.json(t)
		if m["interaction_count"].(float64) != 3 || m["total_memories"].(float64) < 1 || len(m["beta_history"].([]any)) != 3 {
			t.Fatalf("metrics %v", m)
		}

		// state/context: list of items with hash + truncated; memory expand
		r = call("GET", "/v1/state/context?session_id="+sid+"&top_k=3&full_first=true", nil)
		want(t, r, 200)
		items := r.list(t)
		if len(items) == 0 {
			t.Fatal("no context items")
		}
		var item map[string]any
		for _, it := range items {
			if strings.Contains(it.(map[string]any)["text"].(string), "orchestration") {
				item = it.(map[string]any)
			}
		}
		if item == nil {
			t.Fatalf("the stored Q&A is not among the context items: %s", r.Body)
		}
		hash := item["memory_hash"].(string)
		if _, ok := item["truncated"].(bool); !ok || hash == "" {
			t.Fatalf("context item %v", item)
		}
		r = call("GET", "/v1/session/"+sid+"/memories/"+hash, nil)
		want(t, r, 200)
		if mv := r.json(t); !strings.Contains(mv["text"].(string), "container orchestration") || mv["access_count"].(float64) < 1 {
			t.Fatalf("memory %v", mv)
		}
		want(t, call("GET", "/v1/session/"+sid+"/memories/ffffffffffffffff", nil), 404)

		dim := 384
		// triggers
		want(t, call("POST", "/v1/session/"+sid+"/trigger", map[string]any{"keyword": "CRITICAL"}), 200)
		r = call("POST", "/v1/session/"+sid+"/trigger", map[string]any{"embedding": vec(dim, 1), "threshold": 0.75})
		want(t, r, 200)
		if r.json(t)["trigger_count"].(float64) != 2 {
			t.Fatalf("trigger_count %s", r.Body)
		}
		r = call("DELETE", "/v1/session/"+sid+"/trigger", nil)
		want(t, r, 200)
		if r.json(t)["trigger_count"].(float64) != 0 {
			t.Fatalf("trigger delete %s", r.Body)
		}
		// anchors
		r = call("POST", "/v1/session/"+sid+"/anchor", map[string]any{"embedding": vec(dim, 3)})
		want(t, r, 200)
		if r.json(t)["anchor_count"].(float64) != 1 {
			t.Fatalf("anchor %s", r.Body)
		}
		r = call("GET", "/v1/session/"+sid+"/anchor_score", nil)
		want(t, r, 200)
		for _, k := range []string{"anchor_score", "anchor_count", "drift_threshold", "realignment_remaining"} {
			if _, ok := r.json(t)[k]; !ok {
				t.Fatalf("anchor_score lacks %s: %s", k, r.Body)
			}
		}
		// isolation + release
		r = call("PUT", "/v1/session/"+sid+"/isolation", map[string]any{"level": "QUARANTINE", "exclusion_embeddings": [][]float64{vec(dim, 7)}, "similarity_threshold": 0.8})
		want(t, r, 200)
		if r.json(t)["level"] != "QUARANTINE" {
			t.Fatalf("isolation %s", r.Body)
		}
		r = call("POST", "/v1/session/"+sid+"/isolation/release", nil)
		want(t, r, 200)
		if _, ok := r.json(t)["released_count"].(float64); !ok {
			t.Fatalf("release %s", r.Body)
		}
		want(t, call("PUT", "/v1/session/"+sid+"/isolation", map[string]any{"level": "OPEN"}), 200)
		// synthetic memory
		r = call("POST", "/v1/session/"+sid+"/memory", map[string]any{"embedding": vec(dim, 9), "text": "synthetic fact", "tier": "long_term", "importance": 2.0, "access_count": 3})
		want(t, r, 200)
		if r.json(t)["tier"] != "long_term" {
			t.Fatalf("inject %s", r.Body)
		}

		// literal cache: keys with / and .
		for _, key := range []string{"src/pss/core.py", "pkg.Type.Method"} {
			r = call("POST", "/v1/session/"+sid+"/entities", map[string]any{"key": key, "kind": "path", "value": "value of " + key})
			want(t, r, 201)
		}
		r = call("POST", "/v1/session/"+sid+"/entities", map[string]any{"key": "src/pss/core.py", "kind": "path", "value": "overwritten"})
		want(t, r, 201)
		if r.json(t)["size"].(float64) != 2 {
			t.Fatalf("last write wins: %s", r.Body)
		}
		r = call("GET", "/v1/session/"+sid+"/entities?q=core", nil)
		want(t, r, 200)
		if ents := r.json(t)["entities"].([]any); len(ents) != 1 || ents[0].(map[string]any)["value"] != "overwritten" {
			t.Fatalf("entities?q=core: %s", r.Body)
		}
		want(t, call("DELETE", "/v1/session/"+sid+"/entities/src/pss/core.py", nil), 200)
		want(t, call("DELETE", "/v1/session/"+sid+"/entities/src/pss/core.py", nil), 404)
		want(t, call("DELETE", "/v1/session/"+sid+"/entities/pkg.Type.Method", nil), 200)

		// export → import into another session → verify
		r = call("GET", "/v1/session/"+sid+"/export", nil)
		want(t, r, 200)
		exp := r.json(t)
		if len(exp["checksum"].(string)) != 64 {
			t.Fatalf("checksum %v", exp["checksum"])
		}
		other := call("POST", "/v1/session/create", map[string]any{"dimension": dim}).json(t)["session_id"].(string)
		r = call("POST", "/v1/session/"+other+"/import", map[string]any{"state_dict": exp["state_dict"]})
		want(t, r, 200)
		r = call("POST", "/v1/session/"+other+"/verify", map[string]any{"test_embeddings": [][]float64{vec(dim, 1), vec(dim, 5, 6)}, "reference_session_id": sid})
		want(t, r, 200)
		if r.json(t)["consistent"] != true {
			t.Fatalf("verify after import: %s", r.Body)
		}
		// tampered import: 400 and nothing changes
		before := call("GET", "/v1/session/"+other+"/export", nil).json(t)["checksum"]
		tampered := strings.Replace(string(mustJSON(t, exp["state_dict"])), "container orchestration", "container orchestra", 1)
		r = call("POST", "/v1/session/"+other+"/import", `{"state_dict": `+tampered+`}`)
		want(t, r, 400)
		if !strings.Contains(r.detail(t), "tampered") {
			t.Fatalf("tampered detail %q", r.detail(t))
		}
		want(t, call("POST", "/v1/session/"+other+"/import", map[string]any{"state_dict": "not an object"}), 400)
		if after := call("GET", "/v1/session/"+other+"/export", nil).json(t)["checksum"]; after != before {
			t.Fatal("a rejected import changed the session")
		}

		// delete
		r = call("DELETE", "/v1/session/"+other, nil)
		want(t, r, 200)
		if r.json(t)["deleted"] != true {
			t.Fatalf("delete %s", r.Body)
		}
		want(t, call("GET", "/v1/metrics/"+other, nil), 404)
		want(t, call("DELETE", "/v1/session/"+other, nil), 404)
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSessionBadInputs(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/bad.db", nil)
	tok := e.token("bad", semvec.TierEnterprise)
	sid := e.as(tok, "POST", "/v1/session/create", map[string]any{}).json(t)["session_id"].(string)
	before := e.as(tok, "GET", "/v1/session/"+sid+"/export", nil).json(t)["checksum"]
	s := "/v1/session/" + sid
	cases := []struct {
		name, method, path string
		body               any
		status             int
		loc                string
	}{
		{"empty message", "POST", "/v1/run", map[string]any{"session_id": sid, "message": ""}, 422, "message"},
		{"blank message", "POST", "/v1/run", map[string]any{"session_id": sid, "message": "   "}, 422, "message"},
		{"oversized message", "POST", "/v1/run", map[string]any{"session_id": sid, "message": strings.Repeat("a", 32001)}, 422, "message"},
		{"threshold out of range", "POST", "/v1/run", map[string]any{"session_id": sid, "message": "x", "short_circuit_threshold": 1.5}, 422, "short_circuit_threshold"},
		{"message wrong type", "POST", "/v1/run", map[string]any{"message": 42}, 422, "message"},
		{"store without response", "POST", "/v1/store", map[string]any{"session_id": sid}, 422, "response"},
		{"store without session", "POST", "/v1/store", map[string]any{"response": "x"}, 422, "session_id"},
		{"wrong dimension on create", "POST", "/v1/session/create", map[string]any{"dimension": 768}, 422, "dimension"},
		{"template wrong length", "POST", "/v1/session/create", map[string]any{"template_embedding": []float64{1, 2, 3}}, 422, "template_embedding"},
		{"policy vector wrong length", "POST", "/v1/session/create", map[string]any{"policy_vectors": []any{map[string]any{"embedding": []float64{1}}}}, 422, "embedding"},
		{"anchor wrong length", "POST", s + "/anchor", map[string]any{"embedding": []float64{1, 2}}, 422, "embedding"},
		{"anchor missing", "POST", s + "/anchor", map[string]any{}, 422, "embedding"},
		{"anchor overflow to inf", "POST", s + "/anchor", `{"embedding": [1e39]}`, 422, "embedding"},
		{"trigger neither", "POST", s + "/trigger", map[string]any{}, 422, ""},
		{"trigger both", "POST", s + "/trigger", map[string]any{"keyword": "x", "embedding": vec(384, 1)}, 422, ""},
		{"trigger wrong length", "POST", s + "/trigger", map[string]any{"embedding": []float64{1}}, 422, "embedding"},
		{"unknown isolation level", "PUT", s + "/isolation", map[string]any{"level": "SOMETIMES"}, 422, "level"},
		{"isolation vector wrong length", "PUT", s + "/isolation", map[string]any{"level": "FILTER", "exclusion_embeddings": [][]float64{{1, 2}}}, 422, ""},
		{"unknown tier", "POST", s + "/memory", map[string]any{"embedding": vec(384, 1), "text": "t", "tier": "forever"}, 422, "tier"},
		{"memory without text", "POST", s + "/memory", map[string]any{"embedding": vec(384, 1)}, 422, "text"},
		{"negative importance", "POST", s + "/memory", map[string]any{"embedding": vec(384, 1), "text": "t", "importance": -1}, 422, "importance"},
		{"unknown entity kind", "POST", s + "/entities", map[string]any{"key": "k", "kind": "gizmo", "value": "v"}, 400, ""},
		{"entity without key", "POST", s + "/entities", map[string]any{"kind": "path", "value": "v"}, 422, "key"},
		{"import without state_dict", "POST", s + "/import", map[string]any{}, 422, "state_dict"},
		{"import garbage", "POST", s + "/import", map[string]any{"state_dict": map[string]any{"format": "nope"}}, 400, ""},
		{"verify without embeddings", "POST", s + "/verify", map[string]any{}, 422, "test_embeddings"},
		{"verify unknown reference", "POST", s + "/verify", map[string]any{"test_embeddings": [][]float64{vec(384, 1)}, "reference_session_id": "nope"}, 404, ""},
		{"context top_k 0", "GET", "/v1/state/context?session_id=" + sid + "&top_k=0", nil, 422, "top_k"},
		{"context top_k text", "GET", "/v1/state/context?session_id=" + sid + "&top_k=abc", nil, 422, "top_k"},
		{"context without session", "GET", "/v1/state/context", nil, 422, "session_id"},
		{"context unknown session", "GET", "/v1/state/context?session_id=nope", nil, 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.as(tok, c.method, c.path, c.body)
			want(t, r, c.status)
			if c.status == 422 && c.loc != "" {
				var d struct {
					Detail []struct{ Loc []any } `json:"detail"`
				}
				if err := json.Unmarshal(r.Body, &d); err != nil || len(d.Detail) == 0 {
					t.Fatalf("422 body %s", r.Body)
				}
				if !slices.Contains(d.Detail[0].Loc, any(c.loc)) {
					t.Fatalf("loc %v does not name %q: %s", d.Detail[0].Loc, c.loc, r.Body)
				}
			}
		})
	}
	if after := e.as(tok, "GET", "/v1/session/"+sid+"/export", nil).json(t)["checksum"]; after != before {
		t.Fatal("rejected requests changed the session")
	}
}

// TestDriftDiscriminates: with the built-in embedder a conversation that
// stays on one topic is not flagged, and an abrupt switch is.
func TestDriftDiscriminates(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/drift.db", nil)
	tok := e.token("drift", semvec.TierEnterprise)
	steady := []string{
		"How do I create a Kubernetes deployment with three replicas?",
		"What does kubectl apply do with a deployment manifest?",
		"How can I scale the deployment replicas with kubectl?",
		"How do I roll back a Kubernetes deployment rollout?",
		"What is the difference between a Kubernetes pod and a deployment?",
		"How do I expose the deployment pods with a Kubernetes service?",
		"How do I check the rollout status of my deployment with kubectl?",
		"Can a Kubernetes service load balance across deployment replicas?",
	}
	sid := ""
	for i, msg := range steady {
		body := map[string]any{"message": msg}
		if sid != "" {
			body["session_id"] = sid
		}
		r := e.as(tok, "POST", "/v1/run", body)
		want(t, r, 200)
		m := r.json(t)
		sid = m["session_id"].(string)
		if m["drift_detected"] == true {
			t.Fatalf("steady turn %d flagged as drift (score %v): %q", i+1, m["drift_score"], msg)
		}
	}
	r := e.as(tok, "POST", "/v1/run", map[string]any{"session_id": sid, "message": "What flour and hydration should I use for a sourdough bread starter?"})
	want(t, r, 200)
	if m := r.json(t); m["drift_detected"] != true || m["drift_phase"] != "drifted" {
		t.Fatalf("abrupt topic switch not detected: %v", m)
	}
}

func TestPassivationAndReactivation(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/p.db", map[string]string{
		"SEMVEC_SESSION_IDLE_TTL_S": "0.3", "SEMVEC_SESSION_SWEEP_S": "0.1", "SEMVEC_MAX_SESSIONS": "2",
	})
	tok := e.token("passive", semvec.TierEnterprise)
	var ids []string
	for i := 0; i < 4; i++ {
		r := e.as(tok, "POST", "/v1/run", map[string]any{"message": "remember the number " + string(rune('A'+i))})
		want(t, r, 200)
		ids = append(ids, r.json(t)["session_id"].(string))
		want(t, e.as(tok, "POST", "/v1/store", map[string]any{"session_id": ids[i], "response": "noted, letter " + string(rune('A'+i))}), 200)
	}
	active := func() float64 { return e.do("GET", "/v1/health", nil).json(t)["active_sessions"].(float64) }
	deadline := time.Now().Add(5 * time.Second)
	for active() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := active(); n != 0 {
		t.Fatalf("%v sessions still active after the idle TTL", n)
	}
	for i, id := range ids {
		m := e.as(tok, "GET", "/v1/metrics/"+id, nil)
		want(t, m, 200)
		if got := m.json(t); got["interaction_count"].(float64) != 1 || got["total_memories"].(float64) != 1 {
			t.Fatalf("session %d came back as %v", i, got)
		}
	}
}

func TestSessionCapPassivatesLeastRecentlyUsed(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/cap.db", map[string]string{"SEMVEC_SESSION_SWEEP_S": "0.05", "SEMVEC_MAX_SESSIONS": "2"})
	tok := e.token("cap", semvec.TierEnterprise)
	for i := 0; i < 5; i++ {
		want(t, e.as(tok, "POST", "/v1/run", map[string]any{"message": "hello"}), 200)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if e.do("GET", "/v1/health", nil).json(t)["active_sessions"].(float64) <= 2 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("active sessions stayed above SEMVEC_MAX_SESSIONS")
}

// TestEmbedderOutage: when the embeddings endpoint is down, /v1/run answers
// 503 with Retry-After and the session is left exactly as it was.
func TestEmbedderOutage(t *testing.T) {
	var down atomic.Bool
	h := embed.NewHashing(384)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		var req struct {
			Input []string `json:"input"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		vecs, _ := h.Embed(r.Context(), req.Input)
		type item struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		out := struct {
			Data []item `json:"data"`
		}{}
		for i, v := range vecs {
			out.Data = append(out.Data, item{i, v})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer fake.Close()
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/emb.db", map[string]string{
		"SEMVEC_EMBEDDER": "openai", "SEMVEC_EMBEDDER_URL": fake.URL + "/v1", "SEMVEC_EMBEDDER_MODEL": "stand-in",
		"SEMVEC_EMBEDDER_DIM": "384", "SEMVEC_EMBEDDER_TIMEOUT": "200ms",
	})
	tok := e.token("emb", semvec.TierEnterprise)
	r := e.as(tok, "POST", "/v1/run", map[string]any{"message": "first question about embeddings"})
	want(t, r, 200)
	sid := r.json(t)["session_id"].(string)
	before := e.as(tok, "GET", "/v1/session/"+sid+"/export", nil).json(t)["checksum"]
	down.Store(true)
	r = e.as(tok, "POST", "/v1/run", map[string]any{"session_id": sid, "message": "second question", "response": "an answer"})
	want(t, r, 503)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	want(t, e.as(tok, "POST", "/v1/store", map[string]any{"session_id": sid, "response": "an answer"}), 503)
	if r := e.do("GET", "/v1/readyz", nil); r.Status != 503 || r.json(t)["checks"].(map[string]any)["embedder"] != "unavailable" {
		t.Fatalf("readyz during the outage: %d %s", r.Status, r.Body)
	}
	if after := e.as(tok, "GET", "/v1/session/"+sid+"/export", nil).json(t)["checksum"]; after != before {
		t.Fatal("the session changed during the embedder outage")
	}
	down.Store(false)
	want(t, e.as(tok, "POST", "/v1/run", map[string]any{"session_id": sid, "message": "second question"}), 200)
	want(t, e.do("GET", "/v1/readyz", nil), 200)
}

// TestContextStaysBounded: the context block keeps its budget as turns grow.
func TestContextStaysBounded(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/bounded.db", nil)
	tok := e.token("bounded", semvec.TierEnterprise)
	sid := ""
	maxLen := 0
	for i := 0; i < 300; i++ {
		body := map[string]any{"message": "turn " + itoa64(int64(i)) + " about " + []string{"go channels", "rust lifetimes", "python asyncio", "sql indexes"}[i%4] + strings.Repeat(" detail", i%50),
			"response": "answer " + strings.Repeat("words ", 100)}
		if sid != "" {
			body["session_id"] = sid
		}
		r := e.as(tok, "POST", "/v1/run", body)
		want(t, r, 200)
		m := r.json(t)
		sid = m["session_id"].(string)
		maxLen = max(maxLen, len(m["context"].(string)))
	}
	if maxLen > 1400 {
		t.Fatalf("context block reached %d characters (budget 1400)", maxLen)
	}
	mt := e.as(tok, "GET", "/v1/metrics/"+sid, nil).json(t)
	if n := mt["total_memories"].(float64); n > 65 {
		t.Fatalf("%v memories after 300 turns: tiers are not bounded", n)
	}
}

// TestPeriodicFlushSurvivesACrash: changed sessions are written behind every
// sweep, so a process that dies without a graceful stop loses at most one
// sweep interval. A second server on the same database (standing in for the
// restarted process) sees the flushed state while the first never shut down.
func TestPeriodicFlushSurvivesACrash(t *testing.T) {
	db := "sqlite:///" + t.TempDir() + "/crash.db"
	e := newEnv(t, db, map[string]string{"SEMVEC_SESSION_SWEEP_S": "0.1"})
	tok := e.token("crash", semvec.TierEnterprise)
	r := e.as(tok, "POST", "/v1/run", map[string]any{"message": "the deploy key lives in vault", "response": ""})
	want(t, r, 200)
	sid := r.json(t)["session_id"].(string)
	want(t, e.as(tok, "POST", "/v1/store", map[string]any{"session_id": sid, "response": "noted: vault path secret/deploy"}), 200)

	other := &testEnv{t: t, priv: e.priv, env: e.env}
	deadline := time.Now().Add(5 * time.Second)
	for {
		other.start()
		m := other.as(tok, "GET", "/v1/metrics/"+sid, nil)
		other.stopWithoutSaving()
		if m.Status == 200 && m.json(t)["total_memories"].(float64) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flushed snapshot never reached the database: %d %s", m.Status, m.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
