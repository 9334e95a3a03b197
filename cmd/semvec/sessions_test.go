package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors/actortest"
	"github.com/semvec-go/semvec/cmd/semvec/server"
	"github.com/semvec-go/semvec/http/api"
	"github.com/semvec-go/semvec/http/client"
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
		c := e.api(tok)
		ctx := context.Background()
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
		_, err := c.Run(ctx, api.RunBody{SessionID: "no-such-session", Message: "hi"})
		wantStatus(t, err, 404)
		run, err := c.Run(ctx, api.RunBody{SessionID: "my-own-id", Message: "hi", ResetContext: true})
		if err != nil || run.SessionID != "my-own-id" {
			t.Fatalf("reset_context on unknown id: %+v %v", run, err)
		}

		// store pairs the answer with the pending question; a paraphrase short-circuits
		_, err = c.Store(ctx, api.StoreBody{SessionID: sid, Response: "Kubernetes is a container orchestration system."})
		noErr(t, err)
		run, err = c.Run(ctx, api.RunBody{SessionID: sid, Message: "what is kubernetes"})
		noErr(t, err)
		if !run.ShortCircuit || run.TopSimilarity < 0.85 {
			t.Fatalf("paraphrase did not short-circuit: %+v", run)
		}
		one := 1.0
		run, err = c.Run(ctx, api.RunBody{SessionID: sid, Message: "what is kubernetes", ShortCircuitThreshold: &one})
		noErr(t, err)
		if run.ShortCircuit && run.TopSimilarity < 1.0 {
			t.Fatalf("threshold 1.0 ignored: %+v", run)
		}

		// metrics
		m, err := c.SessionMetrics(ctx, sid)
		noErr(t, err)
		if m.InteractionCount != 3 || m.TotalMemories < 1 || len(m.BetaHistory) != 3 {
			t.Fatalf("metrics %+v", m)
		}

		// state/context: list of items with hash + truncated; memory expand
		topK := 3
		items, err := c.Context(ctx, api.ContextQuery{SessionID: sid, TopK: &topK, FullFirst: true})
		noErr(t, err)
		if len(items) == 0 {
			t.Fatal("no context items")
		}
		var item *api.ContextItem
		for i := range items {
			if strings.Contains(items[i].Text, "orchestration") {
				item = &items[i]
			}
		}
		if item == nil {
			t.Fatalf("the stored Q&A is not among the context items: %+v", items)
		}
		if item.MemoryHash == "" { // truncated is a boolean: the document says so and the harness checks it
			t.Fatalf("context item %+v", item)
		}
		mv, err := c.Memory(ctx, sid, item.MemoryHash)
		noErr(t, err)
		if !strings.Contains(mv.Text, "container orchestration") || mv.AccessCount < 1 {
			t.Fatalf("memory %+v", mv)
		}
		_, err = c.Memory(ctx, sid, "ffffffffffffffff")
		wantStatus(t, err, 404)

		dim := 384
		// triggers
		_, err = c.AddTrigger(ctx, sid, api.TriggerBody{Keyword: "CRITICAL"})
		noErr(t, err)
		threshold := 0.75
		tc, err := c.AddTrigger(ctx, sid, api.TriggerBody{Embedding: vec32(dim, 1), Threshold: &threshold})
		noErr(t, err)
		if tc.TriggerCount != 2 {
			t.Fatalf("trigger_count %+v", tc)
		}
		tc, err = c.ClearTriggers(ctx, sid)
		noErr(t, err)
		if tc.TriggerCount != 0 {
			t.Fatalf("trigger delete %+v", tc)
		}
		// anchors
		a, err := c.AddAnchor(ctx, sid, api.AnchorBody{Embedding: vec32(dim, 3)})
		noErr(t, err)
		if a.AnchorCount != 1 {
			t.Fatalf("anchor %+v", a)
		}
		r = call("GET", "/v1/session/"+sid+"/anchor_score", nil)
		want(t, r, 200)
		for _, k := range []string{"anchor_score", "anchor_count", "drift_threshold", "realignment_remaining"} {
			if _, ok := r.json(t)[k]; !ok {
				t.Fatalf("anchor_score lacks %s: %s", k, r.Body)
			}
		}
		// isolation + release
		similarity := 0.8
		iso, err := c.SetIsolation(ctx, sid, api.IsolationBody{Level: "QUARANTINE", ExclusionEmbeddings: [][]float32{vec32(dim, 7)}, SimilarityThreshold: &similarity})
		noErr(t, err)
		if iso.Level != "QUARANTINE" {
			t.Fatalf("isolation %+v", iso)
		}
		_, err = c.ReleaseIsolation(ctx, sid) // released_count is an integer: the harness checks the answer against the document
		noErr(t, err)
		_, err = c.SetIsolation(ctx, sid, api.IsolationBody{Level: "OPEN"})
		noErr(t, err)
		// synthetic memory
		importance := 2.0
		in, err := c.InjectMemory(ctx, sid, api.MemoryBody{Embedding: vec32(dim, 9), Text: "synthetic fact", Tier: "long_term", Importance: &importance, AccessCount: 3})
		noErr(t, err)
		if in.Tier != "long_term" {
			t.Fatalf("inject %+v", in)
		}

		// literal cache: keys with / and .
		for _, key := range []string{"src/pss/core.py", "pkg.Type.Method"} {
			_, err = c.PutEntity(ctx, sid, api.EntityBody{Key: key, Kind: "path", Value: "value of " + key})
			noErr(t, err)
		}
		st, err := c.PutEntity(ctx, sid, api.EntityBody{Key: "src/pss/core.py", Kind: "path", Value: "overwritten"})
		noErr(t, err)
		if st.Size != 2 {
			t.Fatalf("last write wins: %+v", st)
		}
		found, err := c.ListEntities(ctx, sid, api.EntitiesQuery{Q: "core"})
		noErr(t, err)
		if ents := found.Entities; len(ents) != 1 || ents[0].Value != "overwritten" {
			t.Fatalf("entities?q=core: %+v", ents)
		}
		_, err = c.DeleteEntity(ctx, sid, "src/pss/core.py")
		noErr(t, err)
		_, err = c.DeleteEntity(ctx, sid, "src/pss/core.py")
		wantStatus(t, err, 404)
		_, err = c.DeleteEntity(ctx, sid, "pkg.Type.Method")
		noErr(t, err)

		// export → import into another session → verify
		exp, err := c.ExportSession(ctx, sid)
		noErr(t, err)
		if len(exp.Checksum) != 64 {
			t.Fatalf("checksum %v", exp.Checksum)
		}
		created, err := c.CreateSession(ctx, api.SessionCreateBody{Dimension: &dim})
		noErr(t, err)
		other := created.SessionID
		_, err = c.ImportSession(ctx, other, api.ImportBody{StateDict: exp.StateDict})
		noErr(t, err)
		v, err := c.VerifySession(ctx, other, api.VerifyBody{TestEmbeddings: [][]float32{vec32(dim, 1), vec32(dim, 5, 6)}, ReferenceSessionID: sid})
		noErr(t, err)
		if !v.Consistent {
			t.Fatalf("verify after import: %+v", v)
		}
		// Naming sid as another session's reference reads sid without
		// replacing sid's own Verify reference (its last export).
		probe := [][]float32{vec32(dim, 1), vec32(dim, 5, 6), vec32(dim, 7)}
		_, err = c.Run(ctx, api.RunBody{SessionID: sid, Message: "Completely different: sourdough starters and rye flour hydration.", Response: "Feed the starter twice a day."})
		noErr(t, err)
		own, err := c.VerifySession(ctx, sid, api.VerifyBody{TestEmbeddings: probe})
		noErr(t, err)
		if own.Consistent {
			t.Fatalf("a session moved since its export still verifies against it: the probe cannot tell")
		}
		_, err = c.VerifySession(ctx, other, api.VerifyBody{TestEmbeddings: probe, ReferenceSessionID: sid})
		noErr(t, err)
		own, err = c.VerifySession(ctx, sid, api.VerifyBody{TestEmbeddings: probe})
		noErr(t, err)
		if own.Consistent {
			t.Fatalf("being another verify's reference replaced the session's own Verify reference")
		}
		// tampered import: 400 and nothing changes
		exp2, err := c.ExportSession(ctx, other)
		noErr(t, err)
		before := exp2.Checksum
		tampered := strings.Replace(string(exp.StateDict), "container orchestration", "container orchestra", 1)
		_, err = c.ImportSession(ctx, other, api.ImportBody{StateDict: json.RawMessage(tampered)})
		wantStatus(t, err, 400)
		if detail := err.(*client.Error).Detail; !strings.Contains(detail, "tampered") {
			t.Fatalf("tampered detail %q", detail)
		}
		_, err = c.ImportSession(ctx, other, api.ImportBody{StateDict: json.RawMessage(`"not an object"`)})
		wantStatus(t, err, 422) // pydantic's dict_type (TestSessionBadInputs checks its loc)
		exp2, err = c.ExportSession(ctx, other)
		noErr(t, err)
		if exp2.Checksum != before {
			t.Fatal("a rejected import changed the session")
		}

		// delete
		d, err := c.DeleteSession(ctx, other)
		noErr(t, err)
		if !d.Deleted {
			t.Fatalf("delete %+v", d)
		}
		_, err = c.SessionMetrics(ctx, other)
		wantStatus(t, err, 404)
		_, err = c.DeleteSession(ctx, other)
		wantStatus(t, err, 404)
	})
}

// noErr fails the test at once when a call failed.
func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantStatus fails the test unless err is an error answer with status.
func wantStatus(t *testing.T, err error, status int) {
	t.Helper()
	if got := client.StatusOf(err); got != status {
		t.Fatalf("status %d (%v), want %d", got, err, status)
	}
}

// vec32 is vec for the client's []float32 vectors.
func vec32(dim int, hot ...int) []float32 {
	v := make([]float32, dim)
	for _, i := range hot {
		v[i] = 1
	}
	return v
}

func TestSessionBadInputs(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/bad.db", nil)
	tok := e.token("bad", semvec.TierEnterprise)
	c := e.api(tok)
	ctx := context.Background()
	created, err := c.CreateSession(ctx, api.SessionCreateBody{})
	noErr(t, err)
	sid := created.SessionID
	exp, err := c.ExportSession(ctx, sid)
	noErr(t, err)
	before := exp.Checksum
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
		{"zero importance", "POST", s + "/memory", map[string]any{"embedding": vec(384, 1), "text": "t", "importance": 0}, 422, "importance"}, // not silently 1.0
		{"zero entity importance", "POST", s + "/entities", map[string]any{"key": "k", "kind": "path", "value": "v", "importance": 0}, 422, "importance"},
		{"unknown entity kind", "POST", s + "/entities", map[string]any{"key": "k", "kind": "gizmo", "value": "v"}, 400, ""},
		{"entity without key", "POST", s + "/entities", map[string]any{"kind": "path", "value": "v"}, 422, "key"},
		{"import without state_dict", "POST", s + "/import", map[string]any{}, 422, "state_dict"},
		{"import garbage", "POST", s + "/import", map[string]any{"state_dict": map[string]any{"format": "nope"}}, 400, ""},
		{"import null state_dict", "POST", s + "/import", `{"state_dict": null}`, 422, "state_dict"},
		{"import string state_dict", "POST", s + "/import", `{"state_dict": "x"}`, 422, "state_dict"},
		{"import list state_dict", "POST", s + "/import", `{"state_dict": [1]}`, 422, "state_dict"},
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
	exp, err = c.ExportSession(ctx, sid)
	noErr(t, err)
	if exp.Checksum != before {
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
	c := e.api(tok)
	ctx := context.Background()
	sid := ""
	for i, msg := range steady {
		run, err := c.Run(ctx, api.RunBody{SessionID: sid, Message: msg})
		noErr(t, err)
		sid = run.SessionID
		if run.DriftDetected {
			t.Fatalf("steady turn %d flagged as drift (score %v): %q", i+1, run.DriftScore, msg)
		}
	}
	run, err := c.Run(ctx, api.RunBody{SessionID: sid, Message: "What flour and hydration should I use for a sourdough bread starter?"})
	noErr(t, err)
	if !run.DriftDetected || run.DriftPhase != "drifted" {
		t.Fatalf("abrupt topic switch not detected: %+v", run)
	}
}

func TestPassivationAndReactivation(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/p.db", map[string]string{
		"SEMVEC_SESSION_IDLE_TTL_S": "0.3", "SEMVEC_SESSION_SWEEP_S": "0.1", "SEMVEC_MAX_SESSIONS": "2",
	})
	tok := e.token("passive", semvec.TierEnterprise)
	c := e.api(tok)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 4; i++ {
		run, err := c.Run(ctx, api.RunBody{Message: "remember the number " + string(rune('A'+i))})
		noErr(t, err)
		ids = append(ids, run.SessionID)
		_, err = c.Store(ctx, api.StoreBody{SessionID: ids[i], Response: "noted, letter " + string(rune('A'+i))})
		noErr(t, err)
	}
	active := func() int {
		h, err := c.Health(ctx)
		noErr(t, err)
		return h.ActiveSessions
	}
	deadline := time.Now().Add(5 * time.Second)
	for active() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := active(); n != 0 {
		t.Fatalf("%v sessions still active after the idle TTL", n)
	}
	for i, id := range ids {
		got, err := c.SessionMetrics(ctx, id)
		noErr(t, err)
		if got.InteractionCount != 1 || got.TotalMemories != 1 {
			t.Fatalf("session %d came back as %+v", i, got)
		}
	}
}

func TestSessionCapPassivatesLeastRecentlyUsed(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/cap.db", map[string]string{"SEMVEC_SESSION_SWEEP_S": "0.05", "SEMVEC_MAX_SESSIONS": "2"})
	tok := e.token("cap", semvec.TierEnterprise)
	c := e.api(tok)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		_, err := c.Run(ctx, api.RunBody{Message: "hello"})
		noErr(t, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h, err := c.Health(ctx)
		noErr(t, err)
		if h.ActiveSessions <= 2 {
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
	fake := fakeEmbeddings(t, 384, &down)
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/emb.db", map[string]string{
		"SEMVEC_EMBEDDER": "openai", "SEMVEC_EMBEDDER_URL": fake.URL + "/v1", "SEMVEC_EMBEDDER_MODEL": "stand-in",
		"SEMVEC_EMBEDDER_DIM": "384", "SEMVEC_EMBEDDER_TIMEOUT": "200ms",
	})
	tok := e.token("emb", semvec.TierEnterprise)
	c := e.api(tok)
	ctx := context.Background()
	run, err := c.Run(ctx, api.RunBody{Message: "first question about embeddings"})
	noErr(t, err)
	sid := run.SessionID
	exp, err := c.ExportSession(ctx, sid)
	noErr(t, err)
	before := exp.Checksum
	down.Store(true)
	_, err = c.Run(ctx, api.RunBody{SessionID: sid, Message: "second question", Response: "an answer"})
	wantStatus(t, err, 503)
	if err.(*client.Error).RetryAfter <= 0 {
		t.Fatal("503 without Retry-After")
	}
	_, err = c.Store(ctx, api.StoreBody{SessionID: sid, Response: "an answer"})
	wantStatus(t, err, 503)
	if r := e.do("GET", "/v1/readyz", nil); r.Status != 503 || r.json(t)["checks"].(map[string]any)["embedder"] != "unavailable" {
		t.Fatalf("readyz during the outage: %d %s", r.Status, r.Body)
	}
	exp, err = c.ExportSession(ctx, sid)
	noErr(t, err)
	if exp.Checksum != before {
		t.Fatal("the session changed during the embedder outage")
	}
	down.Store(false)
	_, err = c.Run(ctx, api.RunBody{SessionID: sid, Message: "second question"})
	noErr(t, err)
	// readyz reuses an embedder check for 5 s (probes cannot spend the
	// embedding quota), so it turns ready again within that.
	actortest.Eventually(t, "readyz 200 after the outage", func() bool { return e.do("GET", "/v1/readyz", nil).Status == 200 })
}

// fakeEmbeddings serves an OpenAI-compatible /v1/embeddings answering
// hashing vectors of dim dimensions, or 503 while down is set.
func fakeEmbeddings(t *testing.T, dim int, down *atomic.Bool) *httptest.Server {
	h := embed.NewHashing(dim)
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
	t.Cleanup(fake.Close)
	return fake
}

// An OpenAI-compatible embedder without SEMVEC_EMBEDDER_DIM learns its
// dimension at start-up: the server serves sessions of that dimension (it
// wired them with dimension 0, and every /v1/run answered 422
// "body.dimension: must be between 1 and 8192, got 0"). A service that
// does not answer at start-up, or whose vectors no session takes, stops
// start-up with the variable named.
func TestEmbedderDimensionLearntAtStartUp(t *testing.T) {
	var down atomic.Bool
	fake := fakeEmbeddings(t, 96, &down)
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/learn.db", map[string]string{
		"SEMVEC_EMBEDDER_URL": fake.URL + "/v1", "SEMVEC_EMBEDDER_MODEL": "stand-in", "SEMVEC_EMBEDDER_TIMEOUT": "200ms",
	})
	c := e.api(e.token("learn", semvec.TierEnterprise))
	run, err := c.Run(context.Background(), api.RunBody{Message: "what dimension do sessions get?"})
	noErr(t, err)
	m, err := c.SessionMetrics(context.Background(), run.SessionID)
	noErr(t, err)
	if m.Dimension != 96 {
		t.Fatalf("session dimension %d, want the service's 96", m.Dimension)
	}

	start := func(url string) error {
		env := map[string]string{"DATABASE_URL": "sqlite:///" + t.TempDir() + "/l.db", "SEMVEC_ALLOW_ANONYMOUS": "1", "SEMVEC_LOG_LEVEL": "error",
			"SEMVEC_EMBEDDER_URL": url, "SEMVEC_EMBEDDER_TIMEOUT": "200ms"}
		cfg, err := server.LoadConfig(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		cfg.Host, cfg.Port = "127.0.0.1", "0"
		srv, err := server.Start(context.Background(), cfg, func(k string) string { return env[k] }, io.Discard, io.Discard)
		if err == nil {
			srv.Shutdown(context.Background())
		}
		return err
	}
	down.Store(true)
	if err := start(fake.URL + "/v1"); err == nil || !strings.Contains(err.Error(), "SEMVEC_EMBEDDER_DIM") {
		t.Fatalf("start-up with the embedding service down: %v, want an error naming SEMVEC_EMBEDDER_DIM", err)
	}
	var up atomic.Bool
	wide := fakeEmbeddings(t, 10000, &up)
	if err := start(wide.URL + "/v1"); err == nil || !strings.Contains(err.Error(), "10000") {
		t.Fatalf("start-up with 10000-dimensional vectors: %v, want an error naming the dimension", err)
	}
}

// TestContextStaysBounded: the context block keeps its budget as turns grow.
func TestContextStaysBounded(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/bounded.db", nil)
	tok := e.token("bounded", semvec.TierEnterprise)
	c := e.api(tok)
	ctx := context.Background()
	sid := ""
	maxLen := 0
	for i := 0; i < 300; i++ {
		run, err := c.Run(ctx, api.RunBody{SessionID: sid,
			Message:  "turn " + itoa64(int64(i)) + " about " + []string{"go channels", "rust lifetimes", "python asyncio", "sql indexes"}[i%4] + strings.Repeat(" detail", i%50),
			Response: "answer " + strings.Repeat("words ", 100)})
		noErr(t, err)
		sid = run.SessionID
		maxLen = max(maxLen, len(run.Context))
	}
	if maxLen > 1400 {
		t.Fatalf("context block reached %d characters (budget 1400)", maxLen)
	}
	mt, err := c.SessionMetrics(ctx, sid)
	noErr(t, err)
	if n := mt.TotalMemories; n > 65 {
		t.Fatalf("%v memories after 300 turns: tiers are not bounded", n)
	}
}

// The contract lists every entity when no q is given; a query returns the
// best 50 unless max_results says otherwise.
func TestEntityListWithoutQueryListsEveryEntity(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/entities.db", nil)
	c := e.api(e.token("entities", semvec.TierEnterprise))
	ctx := context.Background()
	run, err := c.Run(ctx, api.RunBody{Message: "hello"})
	noErr(t, err)
	sid := run.SessionID
	const n = 60
	for i := range n {
		_, err := c.PutEntity(ctx, sid, api.EntityBody{Key: "cfg.key" + itoa64(int64(i)), Kind: "constant", Value: "shared value " + itoa64(int64(i))})
		noErr(t, err)
	}
	five := 5
	for _, tc := range []struct {
		q    api.EntitiesQuery
		want int
	}{
		{api.EntitiesQuery{}, n},
		{api.EntitiesQuery{Q: "   "}, n},
		{api.EntitiesQuery{MaxResults: &five}, 5},
		{api.EntitiesQuery{Q: "shared"}, 50},
		{api.EntitiesQuery{Q: "shared", MaxResults: &five}, 5},
	} {
		got, err := c.ListEntities(ctx, sid, tc.q)
		noErr(t, err)
		if len(got.Entities) != tc.want || int(got.Total) != tc.want {
			t.Fatalf("entities %+v: %d listed, total %d, want %d", tc.q, len(got.Entities), got.Total, tc.want)
		}
	}
}

// /v1/store answers stored:false when the response was dropped: under
// LOCKDOWN (read-only), or when it answers a message QUARANTINE stopped.
func TestStoreSaysWhenItDroppedTheResponse(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/stored.db", nil)
	c := e.api(e.token("stored", semvec.TierEnterprise))
	ctx := context.Background()
	run, err := c.Run(ctx, api.RunBody{Message: "how do I rotate the keys"})
	noErr(t, err)
	sid := run.SessionID
	stored := func(want bool) {
		t.Helper()
		res, err := c.Store(ctx, api.StoreBody{SessionID: sid, Response: "rotate them with the admin tool"})
		noErr(t, err)
		if res.Stored != want {
			t.Fatalf("store: %+v, want stored %v", res, want)
		}
	}
	stored(true)
	_, err = c.SetIsolation(ctx, sid, api.IsolationBody{Level: "LOCKDOWN"})
	noErr(t, err)
	stored(false)
	high := 0.99
	_, err = c.SetIsolation(ctx, sid, api.IsolationBody{Level: "QUARANTINE", SimilarityThreshold: &high, AllowlistEmbeddings: [][]float32{vec32(384, 1)}})
	noErr(t, err)
	_, err = c.Run(ctx, api.RunBody{SessionID: sid, Message: "something off topic entirely"})
	noErr(t, err)
	stored(false) // the answer to a quarantined message goes to the shadow buffer
	_, err = c.SetIsolation(ctx, sid, api.IsolationBody{Level: "OPEN"})
	noErr(t, err)
	_, err = c.Run(ctx, api.RunBody{SessionID: sid, Message: "and how often"})
	noErr(t, err)
	stored(true)
}

// TestPeriodicFlushSurvivesACrash: changed sessions are written behind every
// sweep, so a process that dies without a graceful stop loses at most one
// sweep interval. A second server on the same database (standing in for the
// restarted process) sees the flushed state while the first never shut down.
func TestPeriodicFlushSurvivesACrash(t *testing.T) {
	db := "sqlite:///" + t.TempDir() + "/crash.db"
	e := newEnv(t, db, map[string]string{"SEMVEC_SESSION_SWEEP_S": "0.1"})
	tok := e.token("crash", semvec.TierEnterprise)
	c := e.api(tok)
	ctx := context.Background()
	run, err := c.Run(ctx, api.RunBody{Message: "the deploy key lives in vault"})
	noErr(t, err)
	sid := run.SessionID
	_, err = c.Store(ctx, api.StoreBody{SessionID: sid, Response: "noted: vault path secret/deploy"})
	noErr(t, err)

	other := &testEnv{t: t, priv: e.priv, env: e.env}
	deadline := time.Now().Add(5 * time.Second)
	for {
		other.start()
		m, err := other.api(tok).SessionMetrics(ctx, sid)
		other.stopWithoutSaving()
		if err == nil && m.TotalMemories == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flushed snapshot never reached the database: %+v %v", m, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Inputs a hostile or just unusual client sends answer what the contract
// says: a message or answer of symbols only ("?", "👍") is a text like any
// other; "." and ".." are no session ids (a client's URL normalisation
// would send /v1/session/./trigger to another resource); a NUL in a stored
// name is a 422 at its field, not a 503 "database unavailable" that a
// client would retry for ever.
func TestUnusualInputs(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL func(*testing.T) string) {
		e := newEnv(t, dbURL(t), nil)
		tok := e.token("inputs", semvec.TierEnterprise)
		call := func(method, path string, body any) resp { t.Helper(); return e.as(tok, method, path, body) }

		r := call("POST", "/v1/run", map[string]any{"message": "?", "response": "👍"})
		want(t, r, 200)
		sid := r.json(t)["session_id"].(string)
		want(t, call("POST", "/v1/store", map[string]any{"session_id": sid, "response": "🎉🎉"}), 200)

		for _, id := range []string{".", "..", "...", "\u0000"} {
			r := call("POST", "/v1/run", map[string]any{"message": "hello", "session_id": id, "reset_context": true})
			want(t, r, 422)
			if !strings.Contains(string(r.Body), `"session_id"`) {
				t.Fatalf("session_id %q: 422 without its loc: %s", id, r.Body)
			}
		}
		for _, c := range []struct{ path, field string }{
			{"/v1/cluster/", "name"}, {"/v1/region/", "name"}, {"/v1/session/create", "model_name"},
		} {
			r := call("POST", c.path, map[string]any{c.field: "a\u0000b"})
			want(t, r, 422)
			if !strings.Contains(string(r.Body), `"`+c.field+`"`) || !strings.Contains(string(r.Body), "NUL") {
				t.Fatalf("%s with a NUL in %s: %s", c.path, c.field, r.Body)
			}
		}
	})
}

// Path parameters and query values whose percent-escapes are not UTF-8 are
// read as Starlette reads them (U+FFFD for each bad byte): an entity key
// %ff is a key like any other, answered at once. It was a 500, or a 504
// after the ask timeout.
func TestTextThatIsNotUTF8IsReadAsStarletteReadsIt(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/utf8.db", nil)
	tok := e.token("utf8", semvec.TierEnterprise)
	r := e.as(tok, "POST", "/v1/run", map[string]any{"message": "hello"})
	want(t, r, 200)
	sid, _ := r.json(t)["session_id"].(string)
	for range 2 { // the second used to wait for the first's stuck answer
		r = e.as(tok, "DELETE", "/v1/session/"+sid+"/entities/%ff", nil)
		want(t, r, 404)
		if d := r.detail(t); d != "Entity not found: \uFFFD" {
			t.Fatalf("detail %q, want the key read as U+FFFD", d)
		}
	}
	for _, q := range []string{"q=k%ff&max_results=5", "q=k%ff&max_results=5", "q=k%ff&x=%zz", "q=k%ff&a;b"} {
		// (a malformed pair beside it is dropped, as URL.Query drops it)
		want(t, e.as(tok, "GET", "/v1/session/"+sid+"/entities?"+q, nil), 200)
	}
	want(t, e.as(tok, "GET", "/v1/session/%ff/state", nil), 404)
}

// Another process holding the SQLite file's write lock (a backup, the
// sqlite3 shell) makes a change answer 503 with Retry-After within the ask
// timeout, not 504: SQLite's busy wait (which ignores deadlines) is shorter
// than the ask. Once the lock is released the same session takes changes.
func TestAnotherProcessHoldingTheWriteLockIsA503(t *testing.T) {
	path := t.TempDir() + "/locked.db"
	e := newEnv(t, "sqlite:///"+path, nil)
	tok := e.token("locked", semvec.TierEnterprise)
	r := e.as(tok, "POST", "/v1/run", map[string]any{"message": "how do I rotate the keys"})
	want(t, r, 200)
	sid, _ := r.json(t)["session_id"].(string)

	other, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(t.Context(), nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	r = e.as(tok, "POST", "/v1/store", map[string]any{"session_id": sid, "response": "with the admin tool"})
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a change while another process holds the write lock: %d (Retry-After %q) %s, want 503 with Retry-After", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The next change may still meet the refused one's aftermath once (503);
	// then the session takes changes again.
	for i := 0; ; i++ {
		r = e.as(tok, "POST", "/v1/store", map[string]any{"session_id": sid, "response": "with the admin tool"})
		if r.Status == 200 {
			break
		}
		if r.Status != 503 || i == 5 {
			t.Fatalf("a change after the lock was released: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Body keys match exactly, as in semvec (pydantic): a key in another case
// is an unknown key and ignored, so "Reset_Context" does not wipe a
// session and "Message" is no message.
func TestBodyKeysMatchExactly(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/semvec.db", nil)
	tok := e.token("acme", semvec.TierEnterprise)
	r := e.as(tok, "POST", "/v1/run", map[string]any{"message": "What is the vault code?"})
	want(t, r, 200)
	id := r.json(t)["session_id"].(string)
	want(t, e.as(tok, "POST", "/v1/store", map[string]any{"session_id": id, "response": "The vault code is ALPHA-7731."}), 200)
	want(t, e.as(tok, "POST", "/v1/run", map[string]any{"session_id": id, "message": "hi", "Reset_Context": true, "Session_Id": "other"}), 200)
	if m := e.as(tok, "GET", "/v1/metrics/"+id, nil).json(t); m["total_memories"].(float64) < 1 {
		t.Fatalf("Reset_Context wiped the session: %v", m)
	}
	r = e.as(tok, "POST", "/v1/run", map[string]any{"Message": "hi"})
	want(t, r, 422)
	if !strings.Contains(string(r.Body), `"loc":["body","message"]`) || !strings.Contains(string(r.Body), `"missing"`) {
		t.Fatalf("Message for message: %s", r.Body)
	}
}
