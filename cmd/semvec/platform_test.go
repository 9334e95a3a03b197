package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/license"
)

func TestPlatform(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL func(*testing.T) string) {
		e := newEnv(t, dbURL(t), map[string]string{"METRICS_USER": "prom", "METRICS_PASSWORD": "s3cret"})
		t.Run("health needs no auth", func(t *testing.T) {
			r := e.do("GET", "/v1/health", nil)
			want(t, r, 200)
			m := r.json(t)
			if m["status"] != "ok" || m["version"] != semvec.Version {
				t.Fatalf("health body %v", m)
			}
			if _, ok := m["active_sessions"].(float64); !ok {
				t.Fatalf("active_sessions missing: %v", m)
			}
		})
		t.Run("readiness", func(t *testing.T) {
			want(t, e.do("GET", "/v1/readyz", nil), 200)
		})
		t.Run("auth outcomes", func(t *testing.T) { testAuthOutcomes(t, e) })
		t.Run("tenant isolation", func(t *testing.T) { testTenantIsolation(t, e) })
		t.Run("errors are JSON", func(t *testing.T) { testErrorShapes(t, e) })
		t.Run("metrics", func(t *testing.T) { testMetrics(t, e) })
		t.Run("rate limit", func(t *testing.T) {
			tok := e.token("ratelimited", semvec.TierCommunity)
			var limited resp
			for i := 0; i < 80; i++ {
				r := e.as(tok, "GET", "/v1/metrics/does-not-exist", nil)
				if r.Status == 429 {
					limited = r
					break
				}
				if r.Status != 404 {
					t.Fatalf("request %d: status %d: %s", i, r.Status, r.Body)
				}
			}
			if limited.Status != 429 {
				t.Fatal("80 quick community-tier requests were never limited (burst is 50)")
			}
			if limited.Header.Get("Retry-After") != "60" {
				t.Fatalf("Retry-After = %q, want 60", limited.Header.Get("Retry-After"))
			}
			if !strings.Contains(strings.ToLower(limited.detail(t)), "rate limit") {
				t.Fatalf("detail %q", limited.detail(t))
			}
			// another caller is not affected
			want(t, e.as(e.token("other-caller", semvec.TierCommunity), "GET", "/v1/metrics/does-not-exist", nil), 404)
		})
		t.Run("restart keeps metadata and state", func(t *testing.T) { testRestart(t, e) })
	})
}

func testAuthOutcomes(t *testing.T, e *testEnv) {
	good := e.token("alice", semvec.TierPro)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	wrongKey, _ := license.Issue(otherPriv, "alice", semvec.TierPro, time.Hour, time.Now())
	expired, _ := license.Issue(e.priv, "alice", semvec.TierPro, time.Millisecond, time.Now().Add(-time.Hour))
	noneTok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","tier":"pro","exp":`+itoa64(time.Now().Add(time.Hour).Unix())+`}`)) + "."
	pub := e.priv.Public().(ed25519.PublicKey)
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(pub))
	tampered := good[:len(good)-4] + "AAAA"
	if tampered == good {
		tampered = good[:len(good)-4] + "BBBB"
	}
	cases := []struct {
		name   string
		header []string
		status int
		detail string
	}{
		{"missing", nil, 401, "Missing license token"},
		{"bearer ok", []string{"Authorization", "Bearer " + good}, 404, "Session not found"},
		{"x-api-key ok", []string{"X-API-Key", good}, 404, "Session not found"},
		{"garbage bearer", []string{"Authorization", "Bearer not-a-jwt"}, 401, "Invalid license:"},
		{"garbage x-api-key", []string{"X-API-Key", "not-a-jwt"}, 401, "Invalid license:"},
		{"wrong key", []string{"X-API-Key", wrongKey}, 401, "Invalid license:"},
		{"tampered signature", []string{"Authorization", "Bearer " + tampered}, 401, "Invalid license:"},
		{"alg none", []string{"X-API-Key", noneTok}, 401, "Invalid license:"},
		{"hs256 keyed with the public key", []string{"Authorization", "Bearer " + hs}, 401, "Invalid license:"},
		{"expired bearer", []string{"Authorization", "Bearer " + expired}, 402, "https://www.semvec.io"},
		{"expired x-api-key", []string{"X-API-Key", expired}, 402, "https://www.semvec.io"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("GET", "/v1/metrics/nope", nil, c.header...)
			want(t, r, c.status)
			if d := r.detail(t); !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q does not contain %q", d, c.detail)
			}
		})
	}
}

func itoa64(n int64) string { b, _ := json.Marshal(n); return string(b) }

func testTenantIsolation(t *testing.T, e *testEnv) {
	alice, bob := e.token("alice", semvec.TierPro), e.token("bob", semvec.TierPro)
	r := e.as(alice, "POST", "/v1/session/create", map[string]any{})
	want(t, r, 200)
	sid := r.json(t)["session_id"].(string)
	want(t, e.as(alice, "POST", "/v1/run", map[string]any{"session_id": sid, "message": "hello there"}), 200)
	missing := e.as(bob, "GET", "/v1/metrics/00000000-0000-4000-8000-000000000000", nil)
	want(t, missing, 404)
	for _, probe := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/metrics/" + sid, nil},
		{"GET", "/v1/session/" + sid + "/export", nil},
		{"POST", "/v1/run", map[string]any{"session_id": sid, "message": "steal"}},
		{"POST", "/v1/store", map[string]any{"session_id": sid, "response": "steal"}},
		{"DELETE", "/v1/session/" + sid, nil},
		{"GET", "/v1/state/context?session_id=" + sid, nil},
		{"POST", "/v1/session/" + sid + "/entities", map[string]any{"key": "k", "kind": "path", "value": "v"}},
	} {
		got := e.as(bob, probe.method, probe.path, probe.body)
		want(t, got, 404)
		if got.detail(t) != missing.detail(t) {
			t.Fatalf("%s %s: foreign 404 %q differs from missing 404 %q", probe.method, probe.path, got.detail(t), missing.detail(t))
		}
	}
	// alice still owns it, untouched
	m := e.as(alice, "GET", "/v1/metrics/"+sid, nil)
	want(t, m, 200)
	if n := m.json(t)["interaction_count"].(float64); n != 1 {
		t.Fatalf("interaction_count %v after bob's attempts, want 1", n)
	}
}

func testErrorShapes(t *testing.T, e *testEnv) {
	tok := e.token("shapes", semvec.TierPro)
	r := e.as(tok, "POST", "/v1/run", map[string]any{})
	want(t, r, 422)
	var body struct {
		Detail []struct {
			Loc  []any  `json:"loc"`
			Msg  string `json:"msg"`
			Type string `json:"type"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Detail) == 0 {
		t.Fatalf("422 body not FastAPI-shaped: %s", r.Body)
	}
	if body.Detail[0].Loc[0] != "body" || body.Detail[0].Loc[1] != "message" || body.Detail[0].Type != "missing" {
		t.Fatalf("422 detail %+v", body.Detail[0])
	}
	r = e.as(tok, "POST", "/v1/run", `{"message": "unterminated`)
	want(t, r, 422)
	if !strings.Contains(string(r.Body), "json_invalid") {
		t.Fatalf("malformed JSON: %s", r.Body)
	}
	r = e.as(tok, "GET", "/v1/no/such/route", nil)
	want(t, r, 404)
	if r.detail(t) != "Not Found" {
		t.Fatalf("404 detail %q", r.detail(t))
	}
	r = e.as(tok, "PATCH", "/v1/run", nil)
	want(t, r, 405)
	big := `{"message": "` + strings.Repeat("x", 5<<20) + `"}`
	r = e.as(tok, "POST", "/v1/run", big)
	want(t, r, 413)
	if r.detail(t) == "" {
		t.Fatal("413 without detail")
	}
}

func testMetrics(t *testing.T, e *testEnv) {
	tok := e.token("metrics-user", semvec.TierPro)
	sid := e.as(tok, "POST", "/v1/session/create", map[string]any{}).json(t)["session_id"].(string)
	want(t, e.as(tok, "GET", "/v1/session/"+sid+"/export", nil), 200)
	want(t, e.do("GET", "/metrics", nil), 401)
	want(t, e.do("GET", "/metrics", nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("prom:wrong"))), 401)
	r := e.do("GET", "/metrics", nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("prom:s3cret")))
	if r.Status != 200 {
		t.Fatalf("metrics status %d: %s", r.Status, r.Body)
	}
	text := string(r.Body)
	for _, wantLine := range []string{
		`semvec_requests_total{endpoint="/v1/session/:id/export",method="GET",status="200"}`,
		`semvec_request_duration_seconds_bucket{endpoint="/v1/session/:id/export",method="GET"`,
		`semvec_actor_ask_total{message="ExportRequest",outcome="ok"}`,
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(text, wantLine) {
			t.Errorf("metrics lack %s", wantLine)
		}
	}
	if strings.Contains(text, sid) {
		t.Error("a raw session id leaked into metric labels")
	}
	// The exported session runs here: at least one session actor, and a
	// gauge for every layer kind.
	for _, kind := range []string{"session", "cluster", "region", "observer", "network"} {
		var n float64
		line := regexp.MustCompile(`(?m)^semvec_actors_active\{kind="` + kind + `"\} (\S+)$`).FindStringSubmatch(text)
		if line == nil {
			t.Errorf("metrics lack semvec_actors_active{kind=%q}", kind)
			continue
		}
		if _, err := fmt.Sscan(line[1], &n); err != nil || (kind == "session" && n < 1) {
			t.Errorf("semvec_actors_active{kind=%q} = %s, want a count (≥ 1 for sessions)", kind, line[1])
		}
	}
}

func testRestart(t *testing.T, e *testEnv) {
	tok := e.token("restarter", semvec.TierPro)
	r := e.as(tok, "POST", "/v1/run", map[string]any{"message": "My favourite database is PostgreSQL with logical replication"})
	want(t, r, 200)
	sid := r.json(t)["session_id"].(string)
	want(t, e.as(tok, "POST", "/v1/run", map[string]any{"session_id": sid, "message": "How do I set up logical replication slots?",
		"response": "Use PostgreSQL publications and subscriptions for logical replication."}), 200)
	want(t, e.as(tok, "POST", "/v1/session/"+sid+"/entities", map[string]any{"key": "pkg/db.Open", "kind": "function", "value": "func Open(url string) (*DB, error)"}), 201)
	before := e.as(tok, "GET", "/v1/metrics/"+sid, nil).json(t)
	exportBefore := e.as(tok, "GET", "/v1/session/"+sid+"/export", nil).json(t)

	e.restart()

	after := e.as(tok, "GET", "/v1/metrics/"+sid, nil)
	want(t, after, 200)
	if a := after.json(t); a["interaction_count"] != before["interaction_count"] || a["total_memories"] != before["total_memories"] {
		t.Fatalf("after restart metrics %v, before %v", a, before)
	}
	exportAfter := e.as(tok, "GET", "/v1/session/"+sid+"/export", nil).json(t)
	if exportAfter["checksum"] != exportBefore["checksum"] {
		t.Fatal("state changed across a graceful restart")
	}
	r = e.as(tok, "POST", "/v1/run", map[string]any{"session_id": sid, "message": "Remind me about logical replication"})
	want(t, r, 200)
	if ctx := r.json(t)["context"].(string); !strings.Contains(ctx, "publications") {
		t.Fatalf("the conversation lost its memories across the restart; context:\n%s", ctx)
	}
	ents := e.as(tok, "GET", "/v1/session/"+sid+"/entities?q=Open", nil)
	want(t, ents, 200)
	if ents.json(t)["total"].(float64) != 1 {
		t.Fatalf("entities after restart: %s", ents.Body)
	}
}

func TestConcurrentRunsOnOneSession(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/c.db", nil)
	tok := e.token("concurrent", semvec.TierEnterprise)
	sid := e.as(tok, "POST", "/v1/session/create", map[string]any{}).json(t)["session_id"].(string)
	const clients, turns = 16, 10
	var wg sync.WaitGroup
	errs := make(chan string, clients*turns)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < turns; i++ {
				r := e.as(tok, "POST", "/v1/run", map[string]any{"session_id": sid, "message": "client message about topic", "response": "an answer"})
				if r.Status != 200 {
					errs <- string(r.Body)
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Fatalf("concurrent run failed: %s", msg)
	}
	m := e.as(tok, "GET", "/v1/metrics/"+sid, nil).json(t)
	if m["interaction_count"].(float64) != clients*turns {
		t.Fatalf("interaction_count %v, want %d: turns were lost or interleaved", m["interaction_count"], clients*turns)
	}
}
