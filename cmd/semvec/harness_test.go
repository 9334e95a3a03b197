package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/cmd/semvec/server"
	"github.com/semvec-go/semvec/http/client"
	"github.com/semvec-go/semvec/http/license"
	"github.com/semvec-go/semvec/http/openapitest"
)

// testEnv is one whole server started in-process on port 0, with a real
// database and a throwaway licence key pair.
type testEnv struct {
	t     testing.TB
	srv   *server.Server
	base  string
	priv  ed25519.PrivateKey
	env   map[string]string
	dbURL string

	specOnce sync.Once
	spec     *openapitest.Validator // the server's /openapi.json, fetched on the first request
}

// databases lists the databases every whole-server test runs against:
// SQLite in t.TempDir() always, PostgreSQL when TEST_DATABASE_URL is set.
func forEachDB(t *testing.T, fn func(t *testing.T, dbURL func(t *testing.T) string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(t *testing.T) string { return "sqlite:///" + filepath.Join(t.TempDir(), "semvec.db") })
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("TEST_DATABASE_URL")
		if base == "" {
			t.Skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
		}
		fn(t, func(t *testing.T) string { return freshSchema(t, base) })
	})
}

func newEnv(t testing.TB, dbURL string, extra map[string]string) *testEnv {
	t.Helper()
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := license.EncodePublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DATABASE_URL":              dbURL,
		"SEMVEC_LICENSE_PUBLIC_KEY": string(pem),
		"SEMVEC_LOG_LEVEL":          "error",
		"SEMVEC_ASK_TIMEOUT":        "5s",
	}
	for k, v := range extra {
		env[k] = v
	}
	e := &testEnv{t: t, priv: priv, env: env, dbURL: dbURL}
	e.start()
	t.Cleanup(func() { e.stop() })
	return e
}

func (e *testEnv) start() {
	e.t.Helper()
	getenv := func(k string) string { return e.env[k] }
	cfg, err := server.LoadConfig(getenv)
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.Host, cfg.Port = "127.0.0.1", "0"
	srv, err := server.Start(context.Background(), cfg, getenv, io.Discard, io.Discard)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.base = srv.URL()
}

func (e *testEnv) stop() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
	e.srv = nil
}

// stopWithoutSaving closes the listener and the database without passivating
// the sessions, like a process that is killed.
func (e *testEnv) stopWithoutSaving() {
	e.srv.Kill()
	e.srv = nil
}

// restart stops the server gracefully and starts it again on the same database.
func (e *testEnv) restart() {
	e.stop()
	e.start()
}

func (e *testEnv) token(sub string, tier semvec.Tier) string {
	tok, err := license.Issue(e.priv, sub, tier, time.Hour, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

func (r resp) list(t *testing.T) []any {
	t.Helper()
	var l []any
	if err := json.Unmarshal(r.Body, &l); err != nil {
		t.Fatalf("status %d: body is not a JSON list: %v: %s", r.Status, err, r.Body)
	}
	return l
}

func (r resp) detail(t *testing.T) string {
	t.Helper()
	d, ok := r.json(t)["detail"].(string)
	if !ok {
		t.Fatalf("no string detail in %s", r.Body)
	}
	return d
}

// do sends a request; body may be nil, a string (sent raw) or a value (JSON).
func (e *testEnv) do(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.httpClient().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// api returns a Go client of the server (package http/client) that sends
// token, or no token when it is "". Like do, it checks every answer against
// /openapi.json. It does not retry 429 and 503: tests see every answer. It
// calls the server that runs now; after restart, make another.
func (e *testEnv) api(token string) *client.Client {
	return client.New(e.base, client.WithToken(token), client.WithHTTPClient(e.httpClient()), client.WithRetries(0))
}

// httpClient sends the harness's requests and checks each answer against
// the server's /openapi.json.
func (e *testEnv) httpClient() *http.Client {
	return &http.Client{Transport: contractTransport{e}}
}

type contractTransport struct{ e *testEnv }

func (c contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c.e.checkContract(req, res.StatusCode, res.Header, raw)
	return res, nil
}

// checkContract fails the test when a response is not one the server's
// /openapi.json describes for the request (status, content type, body
// schema). Every request of the harness (do, as, api) goes through it.
func (e *testEnv) checkContract(req *http.Request, status int, header http.Header, body []byte) {
	e.t.Helper()
	e.specOnce.Do(func() {
		var err error
		if e.spec, err = openapitest.Fetch(context.Background(), http.DefaultClient, e.base); err != nil {
			e.t.Errorf("loading /openapi.json: %v", err)
		}
	})
	if e.spec == nil {
		return
	}
	if err := e.spec.Check(req, status, header, body); err != nil {
		e.t.Errorf("response not as /openapi.json says: %v", err)
	}
}

// as sends a request authenticated with token in X-API-Key.
func (e *testEnv) as(token, method, path string, body any) resp {
	e.t.Helper()
	return e.do(method, path, body, "X-API-Key", token)
}

func want(t *testing.T, r resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); r.Status != 204 && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q for status %d", ct, r.Status)
	}
}

// freshSchema returns base with a search_path to a new schema, dropped at cleanup.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	name := fmt.Sprintf("t_%d", time.Now().UnixNano())
	db := mustPG(t, base)
	if _, err := db.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA " + name + " CASCADE"); db.Close() })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
