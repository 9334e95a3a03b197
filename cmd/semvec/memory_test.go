package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors/engine"
	"github.com/semvec-go/semvec/actors/engine/memeval"
	"github.com/semvec-go/semvec/cmd/semvec/server"
	"github.com/semvec-go/semvec/http/api"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// TestRecallThroughHTTPMatchesEngine runs the recall harness through the
// whole server and through the engine in process: every probe's context
// block is the same, so the hit rates agree. -short runs the main set and
// the main facts injected through POST /v1/session/{id}/memory at 60 filler
// turns; the full test adds the held-out set at 120 (the floors at every
// filler count are held through the engine, in actors/engine/memeval).
func TestRecallThroughHTTPMatchesEngine(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/semvec.db", nil)
	tok := e.token("recall", semvec.TierEnterprise)
	cases := []struct {
		set memeval.Set
		f   int
	}{{memeval.Main(), 60}, {memeval.InjectedMain(), 60}} // facts taught by POST …/memory too
	if !testing.Short() {
		cases = append(cases, struct {
			set memeval.Set
			f   int
		}{memeval.HeldOut(), 120})
	}
	cfg := engine.DefaultConfig(embed.DefaultDim)
	ctx := context.Background()
	for _, c := range cases {
		hd := &memeval.HTTPDriver{Base: e.base, Token: tok, Embedder: embed.NewHashing(embed.DefaultDim)}
		if err := hd.CreateSession(ctx, nil); err != nil {
			t.Fatal(err)
		}
		viaHTTP, err := memeval.Evaluate(ctx, hd, c.set, c.f, cfg.ContextBudgetChars)
		if err != nil {
			t.Fatal(err)
		}
		inProc, err := memeval.Evaluate(ctx, memeval.NewEngineDriver(cfg, embed.NewHashing(embed.DefaultDim)), c.set, c.f, cfg.ContextBudgetChars)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s F=%d: HTTP %d/%d, engine %d/%d", c.set.Name, c.f, viaHTTP.Hits, viaHTTP.Total, inProc.Hits, inProc.Total)
		if viaHTTP.Hits != inProc.Hits || viaHTTP.OverBudget != 0 {
			t.Errorf("%s F=%d: HTTP %d hits (%d over budget), engine %d", c.set.Name, c.f, viaHTTP.Hits, viaHTTP.OverBudget, inProc.Hits)
		}
		for i := range viaHTTP.Blocks {
			if viaHTTP.Blocks[i] != inProc.Blocks[i] {
				t.Fatalf("%s F=%d probe %d:\nHTTP   %q\nengine %q", c.set.Name, c.f, i, viaHTTP.Blocks[i], inProc.Blocks[i])
			}
		}
	}
}

// TestContextKnobs: top-k and budget per session at creation, validated
// with 422s naming the field, and per deployment by environment variable.
func TestContextKnobs(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/semvec.db", map[string]string{"SEMVEC_RUN_TOP_K": "2", "SEMVEC_CONTEXT_BUDGET_CHARS": "3000"})
	tok := e.token("knobs", semvec.TierEnterprise)
	call := func(method, path string, body any) resp { t.Helper(); return e.as(tok, method, path, body) }
	for _, bad := range []map[string]any{
		{"context_top_k": 0}, {"context_top_k": 101}, {"context_top_k": "many"},
		{"context_budget_chars": 199}, {"context_budget_chars": 65537}, {"context_budget_chars": 1.5},
	} {
		r := call("POST", "/v1/session/create", bad)
		want(t, r, 422)
		var field string
		for k := range bad {
			field = k
		}
		if !strings.Contains(string(r.Body), `"loc":["body","`+field+`"]`) {
			t.Errorf("%v: %s", bad, r.Body)
		}
	}
	lines := func(sid string) int {
		t.Helper()
		var block string
		for i, q := range []string{"alpha apples", "beta bananas", "gamma grapes", "delta dates", "epsilon eggs", "apples bananas grapes dates eggs"} {
			r := call("POST", "/v1/run", map[string]any{"session_id": sid, "message": q, "response": "noted " + string(rune('a'+i))})
			want(t, r, 200)
			block = r.json(t)["context"].(string)
		}
		return strings.Count(memeval.RelevantLines(block), "\n  ")
	}
	// The deployment's top-k (2) …
	r := call("POST", "/v1/session/create", map[string]any{})
	want(t, r, 200)
	old := r.json(t)["session_id"].(string)
	if n := lines(old); n != 2 {
		t.Errorf("SEMVEC_RUN_TOP_K=2: %d lines", n)
	}
	// … stays the session's when the deployment changes it: a session
	// rebuilt from its log renders as it did.
	e.env["SEMVEC_RUN_TOP_K"] = "4"
	e.stopWithoutSaving()
	e.start()
	if n := lines(old); n != 2 {
		t.Errorf("after a restart with SEMVEC_RUN_TOP_K=4: %d lines in a session created under 2", n)
	}
	r = call("POST", "/v1/session/create", map[string]any{})
	want(t, r, 200)
	if n := lines(r.json(t)["session_id"].(string)); n != 4 {
		t.Errorf("SEMVEC_RUN_TOP_K=4: %d lines", n)
	}
	// … and a session's own (5).
	r = call("POST", "/v1/session/create", map[string]any{"context_top_k": 5, "context_budget_chars": 5000})
	want(t, r, 200)
	if n := lines(r.json(t)["session_id"].(string)); n != 5 {
		t.Errorf("context_top_k=5: %d lines", n)
	}
	for _, env := range []map[string]string{{"SEMVEC_RUN_TOP_K": "0"}, {"SEMVEC_RUN_TOP_K": "x"}, {"SEMVEC_CONTEXT_BUDGET_CHARS": "100000"}} {
		_, err := server.LoadConfig(func(k string) string { return env[k] })
		for k := range env {
			if err == nil || !strings.Contains(err.Error(), k+":") {
				t.Errorf("%v: %v", env, err)
			}
		}
	}
}

// TestRerankerThroughHTTP: with SEMVEC_RERANKER_URL the context block shows
// the reranker's choice first; a crash and replay of the log reproduce the
// session without calling the reranker; a failing reranker answers 503.
func TestRerankerThroughHTTP(t *testing.T) {
	var calls atomic.Int32
	var broken atomic.Bool
	tei := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if broken.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var req struct {
			Query string   `json:"query"`
			Texts []string `json:"texts"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		type item struct {
			Index int     `json:"index"`
			Score float64 `json:"score"`
		}
		out := []item{}
		for i, text := range req.Texts {
			sc := 0.0
			if strings.Contains(text, "zebra") { // the stand-in's cross-encoder loves zebras
				sc = 10
			}
			out = append(out, item{i, sc})
		}
		json.NewEncoder(w).Encode(out)
	}))
	defer tei.Close()
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/semvec.db", map[string]string{"SEMVEC_RERANKER_URL": tei.URL, "SEMVEC_RERANKER_TIMEOUT": "2s"})
	tok := e.token("rerank", semvec.TierEnterprise)
	call := func(method, path string, body any) resp { t.Helper(); return e.as(tok, method, path, body) }
	r := call("POST", "/v1/session/create", map[string]any{"context_top_k": 2})
	want(t, r, 200)
	sid := r.json(t)["session_id"].(string)
	prev := ""
	turns := []string{"the zebra lives in the savanna", "deploy the payment service", "payment service rollback steps",
		"payment service database migration", "payment service canary deploy", "how do I deploy the payment service"}
	var block string
	for i, q := range turns {
		body := map[string]any{"session_id": sid, "message": q}
		if prev != "" {
			body["response"] = prev
		}
		r := call("POST", "/v1/run", body)
		want(t, r, 200)
		block = r.json(t)["context"].(string)
		prev = "answer " + string(rune('a'+i)) + " about " + q
	}
	first := strings.SplitN(strings.TrimPrefix(memeval.RelevantLines(block), "\n"), "\n", 2)[0]
	if !strings.Contains(first, "zebra") || calls.Load() == 0 {
		t.Fatalf("the reranker's choice is not first (%d calls): %q", calls.Load(), block)
	}
	export := func() string {
		t.Helper()
		r := call("GET", "/v1/session/"+sid+"/export", nil)
		want(t, r, 200)
		return string(r.json(t)["state_dict"].(map[string]any)["memories"].([]any)[0].(map[string]any)["hash"].(string)) + string(r.Body)
	}
	before := export()
	n := calls.Load()
	e.stopWithoutSaving()
	e.start()
	if after := export(); after != before || calls.Load() != n {
		t.Fatalf("replay differs or called the reranker (%d → %d calls)", n, calls.Load())
	}
	broken.Store(true)
	r = call("POST", "/v1/run", map[string]any{"session_id": sid, "message": "zebra payment"})
	want(t, r, 503)
	if !strings.Contains(r.detail(t), "reranker unavailable") {
		t.Fatalf("503 detail: %s", r.Body)
	}
}

// TestMemoryInjectionAnswersTheTierTheMemoryIsIn: the outside tester's
// script. Injecting "alpha fact" into medium_term, then into long_term,
// answered {"tier":"long_term","total_memories":1} while the fact stayed in
// medium term; now the memory moves up to long term, and the answer, the
// metrics and GET …/memories/{hash} agree. A lower tier leaves it there,
// and the answer says long_term.
func TestMemoryInjectionAnswersTheTierTheMemoryIsIn(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/semvec.db", nil)
	c := e.api(e.token("tiers", semvec.TierEnterprise))
	ctx := context.Background()
	s, err := c.CreateSession(ctx, api.SessionCreateBody{})
	noErr(t, err)
	sid := s.SessionID
	v := vec32(embed.DefaultDim, 3)
	inject := func(tier, want string) {
		t.Helper()
		in, err := c.InjectMemory(ctx, sid, api.MemoryBody{Embedding: v, Text: "alpha fact", Tier: tier})
		noErr(t, err)
		if in.Tier != want || in.TotalMemories != 1 {
			t.Fatalf("inject into %s: %+v, want tier %s and 1 memory", tier, in, want)
		}
	}
	inject("medium_term", "medium_term")
	inject("long_term", "long_term")
	inject("short_term", "long_term")
	m, err := c.SessionMetrics(ctx, sid)
	noErr(t, err)
	if m.Tiers["long_term"] != 1 || m.Tiers["medium_term"] != 0 || m.Tiers["short_term"] != 0 {
		t.Fatalf("tiers %v", m.Tiers)
	}
	items, err := c.Context(ctx, api.ContextQuery{SessionID: sid})
	noErr(t, err)
	if len(items) != 1 {
		t.Fatalf("context %+v", items)
	}
	mv, err := c.Memory(ctx, sid, items[0].MemoryHash)
	noErr(t, err)
	if mv.Tier != "long_term" || mv.Text != "alpha fact" {
		t.Fatalf("memory %+v", mv)
	}
}
