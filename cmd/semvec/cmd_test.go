package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/cmd/semvec/server"
	"github.com/semvec-go/semvec/http/license"
)

func runCmd(args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	return out.String(), errb.String(), err
}

func TestCommands(t *testing.T) {
	out, _, err := runCmd("version")
	if err != nil || !strings.Contains(out, semvec.Version) {
		t.Fatalf("version: %q %v", out, err)
	}
	for _, args := range [][]string{{"serve", "--help"}, {"license", "issue", "--help"}, {"license", "keygen", "--help"}} {
		_, stderr, err := runCmd(args...)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "Usage: semvec") {
			t.Fatalf("%v: err %v, usage %q", args, err, stderr)
		}
	}
	if _, _, err := runCmd("frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}

	dir := t.TempDir()
	if out, _, err = runCmd("license", "keygen", "--dir", dir); err != nil || !strings.Contains(out, "license_public.pem") {
		t.Fatalf("keygen: %q %v", out, err)
	}
	if _, _, err = runCmd("license", "keygen", "--dir", dir); err == nil {
		t.Fatal("keygen overwrote an existing key pair")
	}
	out, _, err = runCmd("license", "issue", "--key", filepath.Join(dir, "license_private.pem"), "--sub", "acme", "--tier", "Enterprise", "--ttl", "1h")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "license_public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := license.ParsePublicKeys(string(pub))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := license.NewVerifier(keys).Verify(strings.TrimSpace(out))
	if err != nil || claims.Subject != "acme" || claims.Tier != semvec.TierEnterprise {
		t.Fatalf("issued token: %+v %v", claims, err)
	}
	if _, _, err = runCmd("license", "issue", "--key", filepath.Join(dir, "license_private.pem"), "--sub", "acme", "--tier", "gold"); err == nil {
		t.Fatal("unknown tier accepted")
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	for name, value := range map[string]string{
		"DATABASE_URL":              "mysql://x",
		"SEMVEC_ASK_TIMEOUT":        "soon",
		"SEMVEC_MAX_SESSIONS":       "-3",
		"SEMVEC_ALLOW_ANONYMOUS":    "maybe",
		"SEMVEC_LOG_LEVEL":          "chatty",
		"SEMVEC_SESSION_IDLE_TTL_S": "0",
		"CORS_ORIGINS":              "example.com",
		"SEMVEC_EMBEDDER_DIM":       "abc",
		"SEMVEC_LICENSE_PUBLIC_KEY": "not a key",
		"SEMVEC_PPROF_ADDR":         "notanaddr",
		"SEMVEC_SESSION_SWEEP_S":    "1e10",
	} {
		// SEMVEC_DEV_DIR: a value accepted by mistake starts the server, whose
		// development key pair must not land in the source tree.
		env := map[string]string{name: value, "DATABASE_URL": "sqlite:///" + t.TempDir() + "/x.db", "SEMVEC_DEV_DIR": t.TempDir()}
		if name == "DATABASE_URL" {
			env[name] = value
		}
		var stderr bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a server that did start stops at once
		err := run(ctx, []string{"serve", "--host", "127.0.0.1", "--port", "0"}, func(k string) string { return env[k] }, io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: error %v does not name the variable", name, value, err)
		}
	}
}

// A pprof address that is taken stops start-up too, with the variable named.
func TestPprofAddressInUseStopsStartUp(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	env := map[string]string{"DATABASE_URL": "sqlite:///" + t.TempDir() + "/p.db", "SEMVEC_ALLOW_ANONYMOUS": "1", "SEMVEC_LOG_LEVEL": "error",
		"SEMVEC_PPROF_ADDR": taken.Addr().String()}
	cfg, err := server.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", "0"
	srv, err := server.Start(context.Background(), cfg, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil {
		srv.Shutdown(context.Background())
		t.Fatal("started with its pprof address taken")
	}
	if !strings.Contains(err.Error(), "SEMVEC_PPROF_ADDR") {
		t.Fatalf("error %v does not name SEMVEC_PPROF_ADDR", err)
	}
}

func TestDevelopmentModeFirstRun(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:///" + dir + "/dev.db", "SEMVEC_DEV_DIR": dir + "/dev", "SEMVEC_LOG_LEVEL": "error"}
	cfg, err := server.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", "0"
	var out bytes.Buffer
	srv, err := server.Start(context.Background(), cfg, func(k string) string { return env[k] }, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	banner := out.String()
	tok, err := os.ReadFile(dir + "/dev/token")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner, strings.TrimSpace(string(tok))) || !strings.Contains(banner, "curl -s http://127.0.0.1:") {
		t.Fatalf("banner does not tell how to call the server:\n%s", banner)
	}
	e := &testEnv{t: t, base: srv.URL()}
	want(t, e.do("POST", "/v1/run", map[string]any{"message": "hi"}), 401) // auth is enforced
	r := e.as(strings.TrimSpace(string(tok)), "POST", "/v1/run", map[string]any{"message": "hi"})
	want(t, r, 200)
	if err := run(context.Background(), []string{"healthcheck", "--url", e.base + "/v1/readyz"}, os.Getenv, io.Discard, io.Discard); err != nil {
		t.Fatalf("healthcheck against a ready server: %v", err)
	}
}

// TestServeStopsCleanlyOnSignal: cancelling the context (what SIGTERM/SIGINT
// do) stops accepting, saves sessions, closes the database and returns nil
// (exit 0).
func TestServeStopsCleanlyOnSignal(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": "sqlite:///" + dir + "/sig.db", "SEMVEC_ALLOW_ANONYMOUS": "1", "SEMVEC_LOG_LEVEL": "error"}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--host", "127.0.0.1", "--port", "0"}, func(k string) string { return env[k] }, out, io.Discard)
	}()
	var base string
	for i := 0; i < 500 && base == ""; i++ {
		if _, rest, ok := strings.Cut(out.String(), "listening on "); ok {
			base = "http://" + strings.Fields(rest)[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if base == "" {
		t.Fatalf("server did not start: %s", out.String())
	}
	e := &testEnv{t: t, base: base}
	r := e.do("POST", "/v1/run", map[string]any{"message": "anonymous mode needs no token"})
	want(t, r, 200)
	sid := r.json(t)["session_id"].(string)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after the signal, want nil (exit 0)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after the signal")
	}
	// the session was saved: a new server on the same database continues it
	e2 := newEnv(t, env["DATABASE_URL"], map[string]string{"SEMVEC_ALLOW_ANONYMOUS": "1"})
	m := e2.do("GET", "/v1/metrics/"+sid, nil)
	want(t, m, 200)
	if m.json(t)["interaction_count"].(float64) != 1 {
		t.Fatalf("session after restart: %s", m.Body)
	}
}

// TestDatabaseDownIs503: a database error surfaces as 503 with a clear
// detail, never a hang, and readiness reports it.
func TestDatabaseDownIs503(t *testing.T) {
	e := newEnv(t, "sqlite:///"+t.TempDir()+"/down.db", nil)
	tok := e.token("dbdown", semvec.TierPro)
	if err := e.srv.Store().Close(); err != nil {
		t.Fatal(err)
	}
	r := e.as(tok, "POST", "/v1/session/create", map[string]any{})
	want(t, r, 503)
	if !strings.Contains(r.detail(t), "database") || r.Header.Get("Retry-After") == "" {
		t.Fatalf("503 detail %q, Retry-After %q", r.detail(t), r.Header.Get("Retry-After"))
	}
	want(t, e.do("GET", "/v1/readyz", nil), 503)
}

// TestARemovedDatabaseFileIs503: the SQLite file removed under a running
// server (a cleanup job, a mistaken rm) used to change nothing visible:
// SQLite kept writing to the unlinked file, every change answered 2xx and
// /v1/readyz 200, and a restart found an empty database without any of
// them. The first change after the removal now answers 503 with
// Retry-After, as does every later request that reaches the database,
// and readiness reports the database unavailable.
func TestARemovedDatabaseFileIs503(t *testing.T) {
	path := filepath.Join(t.TempDir(), "removed.db")
	e := newEnv(t, "sqlite:///"+path, nil)
	tok := e.token("removed", semvec.TierPro)
	r := e.as(tok, "POST", "/v1/run", map[string]any{"message": "before the file went away"})
	want(t, r, 200)
	sid := r.json(t)["session_id"].(string)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/run", map[string]any{"session_id": sid, "message": "after the file went away"}},
		{"/v1/run", map[string]any{"message": "a new session"}},
		{"/v1/session/create", map[string]any{}},
	} {
		r := e.as(tok, "POST", c.path, c.body)
		want(t, r, 503)
		if !strings.Contains(r.detail(t), "database") || r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: 503 detail %q, Retry-After %q", c.path, r.detail(t), r.Header.Get("Retry-After"))
		}
	}
	want(t, e.do("GET", "/v1/readyz", nil), 503)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
