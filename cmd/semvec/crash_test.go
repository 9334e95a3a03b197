//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/http/license"
)

// These tests run the real binary in its own process, kill it with SIGKILL
// (and, in the outage test, stop its PostgreSQL) under load, and check that
// every write the server acknowledged with a 2xx is there afterwards
// (issue 12: a 2xx means "on disk").

// crashDim is the dimension of the built-in hashing embedder.
const crashDim = 384

// buildServer builds cmd/semvec into dir (CGO_ENABLED=0, as `make build`
// and .ci/run build it, so the build cache is shared) and returns its path.
func buildServer(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(t.TempDir(), "semvec")
	cmd := exec.Command(gobin, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serverProc is one semvec process.
type serverProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	base    string
	logPath string
	done    chan struct{}
}

// startServerProc starts bin serve with env on a free port and waits (at
// most 60 s) until /v1/readyz answers 200. Its output is appended to logPath.
func startServerProc(t *testing.T, bin string, env []string, logPath string) *serverProc {
	t.Helper()
	port := freeTCPPort(t)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the test
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{t: t, cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port), logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("server exited before it was ready (%v):\n%s", cmd.ProcessState, p.logTail())
		default:
		}
		if res, err := hc.Get(p.base + "/v1/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 60 s:\n%s", p.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serverProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and waits at most 40 s (then kills).
func (p *serverProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.t.Errorf("server did not stop within 40 s of SIGTERM:\n%s", p.logTail())
		p.kill()
	}
}

func (p *serverProc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// procEnv is the environment of a server process on dbURL whose tokens
// verify against pem.
func procEnv(t *testing.T, dbURL string, pem []byte) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SEMVEC_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"DATABASE_URL="+dbURL,
		"SEMVEC_LICENSE_PUBLIC_KEY="+string(pem),
		"SEMVEC_LOG_LEVEL=warn",
		"SEMVEC_DEV_DIR="+filepath.Join(t.TempDir(), "dev"),
	)
}

func licenceForProcs(t *testing.T) (pem []byte, token string) {
	t.Helper()
	pub, priv, err := license.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if pem, err = license.EncodePublicKeyPEM(pub); err != nil {
		t.Fatal(err)
	}
	if token, err = license.Issue(priv, "crash-tenant", semvec.TierEnterprise, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	return pem, token
}

// apiClient talks to one server process.
type apiClient struct {
	base, token string
	hc          *http.Client
}

func newAPIClient(base, token string) *apiClient {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	return &apiClient{base: base, token: token, hc: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
}

type apiReply struct {
	status int
	header http.Header
	body   []byte
}

func (r apiReply) ok() bool { return r.status >= 200 && r.status < 300 }

// call sends one request. err is a transport error (no status received). A
// status received with a body that could not be read is still returned: the
// server only writes its status once the change is committed.
func (c *apiClient) call(method, path string, body any) (apiReply, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return apiReply{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return apiReply{}, err
	}
	req.Header.Set("X-API-Key", c.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return apiReply{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return apiReply{status: res.StatusCode, header: res.Header, body: raw}, nil
}

// ackedSession is what the server acknowledged about one session.
type ackedSession struct {
	id       string
	template []float32 // set: created with it and never run, its state must be it
	runs     []string  // markers of acknowledged /v1/run (message "question <marker>")
	stores   []string  // markers of acknowledged /v1/store (response "answer <marker>")
	attempts int       // /v1/run requests sent (acknowledged or not)
}

// ledger records every acknowledged write of a load run and every status
// that was not a 2xx.
type ledger struct {
	mu       sync.Mutex
	sessions []*ackedSession
	statuses map[string]int // "POST /v1/run 503" -> count
	bad      []string       // answers that are never acceptable, with their bodies
	noRetry  int            // 503s without Retry-After
	writes   atomic.Int64   // acknowledged writes
}

func newLedger() *ledger { return &ledger{statuses: map[string]int{}} }

func (l *ledger) add(s *ackedSession) {
	l.mu.Lock()
	l.sessions = append(l.sessions, s)
	l.mu.Unlock()
}

// note records a reply that is not a 2xx. A 503 must carry Retry-After;
// anything else but a 503 is a failure of the test.
func (l *ledger) note(what string, r apiReply) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[fmt.Sprintf("%s %d", what, r.status)]++
	switch {
	case r.status == http.StatusServiceUnavailable:
		if r.header.Get("Retry-After") == "" {
			l.noRetry++
		}
	case len(l.bad) < 10:
		l.bad = append(l.bad, fmt.Sprintf("%s: %d %s", what, r.status, r.body))
	}
}

func (l *ledger) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, v := range l.statuses {
		if strings.Contains(k, substr) {
			n += v
		}
	}
	return n
}

func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	runs, stores, tmpl := 0, 0, 0
	for _, s := range l.sessions {
		runs += len(s.runs)
		stores += len(s.stores)
		if s.template != nil {
			tmpl++
		}
	}
	return fmt.Sprintf("%d sessions created (%d with a template), %d runs and %d stores acknowledged; other answers: %v",
		len(l.sessions), tmpl, runs, stores, l.statuses)
}

// clientFor returns the client of the moment (it changes when the server
// is restarted on another port).
type clientFor func() *apiClient

// loadWorker creates sessions and runs /v1/run + /v1/store pairs with unique
// markers on them until ctx ends, recording every acknowledged write in led.
// One session in three is created with a template and left alone (its state
// must stay the template); the others get up to three pairs each.
func loadWorker(ctx context.Context, w int, cl clientFor, led *ledger) {
	rng := rand.New(rand.NewPCG(uint64(w), 12))
	pause := func() { // after a failure: don't spin while the server is down
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	for i := 0; ctx.Err() == nil; i++ {
		c := cl()
		body := map[string]any{}
		var tmpl []float32
		if i%3 == 0 {
			tmpl = make([]float32, crashDim)
			for k := range tmpl {
				tmpl[k] = float32(rng.NormFloat64())
			}
			body["template_embedding"] = tmpl
		}
		r, err := c.call("POST", "/v1/session/create", body)
		if err != nil {
			pause()
			continue
		}
		if !r.ok() {
			led.note("POST /v1/session/create", r)
			pause()
			continue
		}
		var created struct {
			SessionID string `json:"session_id"`
		}
		if json.Unmarshal(r.body, &created) != nil || created.SessionID == "" {
			continue // acknowledged, but the id was lost with the connection
		}
		s := &ackedSession{id: created.SessionID, template: tmpl}
		led.add(s)
		led.writes.Add(1)
		if tmpl != nil {
			continue
		}
		for k := 0; k < 3 && ctx.Err() == nil; k++ {
			marker := fmt.Sprintf("mk-w%d-i%d-p%dx", w, i, k)
			led.mu.Lock()
			s.attempts++
			led.mu.Unlock()
			r, err := c.call("POST", "/v1/run", map[string]any{"session_id": s.id, "message": "question " + marker + " about the crash"})
			if err != nil {
				break
			}
			if !r.ok() {
				led.note("POST /v1/run", r)
				pause()
				break
			}
			led.mu.Lock()
			s.runs = append(s.runs, marker)
			led.mu.Unlock()
			led.writes.Add(1)
			r, err = c.call("POST", "/v1/store", map[string]any{"session_id": s.id, "response": "answer " + marker + " is durable"})
			if err != nil {
				break
			}
			if !r.ok() {
				led.note("POST /v1/store", r)
				pause()
				break
			}
			led.mu.Lock()
			s.stores = append(s.stores, marker)
			led.mu.Unlock()
			led.writes.Add(1)
		}
	}
}

// runLoad starts n load workers; stop ends them and waits.
func runLoad(n int, cl clientFor, led *ledger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() { defer wg.Done(); loadWorker(ctx, w, cl, led) }()
	}
	return func() { cancel(); wg.Wait() }
}

// waitWrites polls until led holds at least n acknowledged writes, at most d.
func waitWrites(t *testing.T, led *ledger, n int64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for led.writes.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in %s, want %d: %s", led.writes.Load(), d, n, led.summary())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// verifyAcked checks, on a server restarted after the load, that every
// session the load created exists, every acknowledged run and store is in
// its session's export, and a template session's state is its template.
func verifyAcked(t *testing.T, c *apiClient, led *ledger) {
	t.Helper()
	led.mu.Lock()
	sessions := append([]*ackedSession(nil), led.sessions...)
	led.mu.Unlock()
	var mu sync.Mutex
	var failures []string
	fail := func(f string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(f, args...))
		}
	}
	jobs := make(chan *ackedSession)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				verifySession(c, s, fail)
			}
		}()
	}
	for _, s := range sessions {
		jobs <- s
	}
	close(jobs)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("acknowledged writes lost after the restart (%s):\n  %s", led.summary(), strings.Join(failures, "\n  "))
	}
}

func verifySession(c *apiClient, s *ackedSession, fail func(string, ...any)) {
	r, err := c.call("GET", "/v1/metrics/"+s.id, nil)
	if err != nil || r.status != 200 {
		fail("session %s: metrics %d %v %s", s.id, r.status, err, r.body)
		return
	}
	var m struct {
		InteractionCount int `json:"interaction_count"`
	}
	if err := json.Unmarshal(r.body, &m); err != nil {
		fail("session %s: metrics %s", s.id, r.body)
		return
	}
	if m.InteractionCount < len(s.runs) || m.InteractionCount > s.attempts {
		fail("session %s: %d turns, %d acknowledged of %d sent", s.id, m.InteractionCount, len(s.runs), s.attempts)
	}
	r, err = c.call("GET", "/v1/session/"+s.id+"/export", nil)
	if err != nil || r.status != 200 {
		fail("session %s: export %d %v %s", s.id, r.status, err, r.body)
		return
	}
	for _, mk := range s.runs {
		if !bytes.Contains(r.body, []byte("question "+mk)) {
			fail("session %s: acknowledged run %s is missing", s.id, mk)
		}
	}
	for _, mk := range s.stores {
		if !bytes.Contains(r.body, []byte("answer "+mk)) {
			fail("session %s: acknowledged store %s is missing", s.id, mk)
		}
	}
	if s.template == nil {
		return
	}
	var ex struct {
		StateDict struct {
			Initialized bool      `json:"initialized"`
			State       []float32 `json:"state"`
			Turn        int       `json:"turn"`
		} `json:"state_dict"`
	}
	if err := json.Unmarshal(r.body, &ex); err != nil {
		fail("session %s: export: %v", s.id, err)
		return
	}
	sd := ex.StateDict
	if !sd.Initialized || sd.Turn != 0 || len(sd.State) != len(s.template) {
		fail("session %s: created with a template, its state is initialized=%v turn=%d dim=%d", s.id, sd.Initialized, sd.Turn, len(sd.State))
		return
	}
	var n2 float64
	for _, x := range s.template {
		n2 += float64(x) * float64(x)
	}
	norm := math.Sqrt(n2)
	for k, x := range s.template {
		if d := math.Abs(float64(x)/norm - float64(sd.State[k])); d > 1e-5 {
			fail("session %s: state[%d] = %g, template gives %g", s.id, k, sd.State[k], float64(x)/norm)
			return
		}
	}
}

// rememberFact stores a fact in session id and returns once it is
// acknowledged.
func rememberFact(t *testing.T, c *apiClient, id string) {
	t.Helper()
	r, err := c.call("POST", "/v1/run", map[string]any{"session_id": id, "message": "What is the vault code?", "reset_context": true})
	if err != nil || r.status != 200 {
		t.Fatalf("run: %d %v %s", r.status, err, r.body)
	}
	r, err = c.call("POST", "/v1/store", map[string]any{"session_id": id, "response": "The vault code is ALPHA-7731."})
	if err != nil || r.status != 200 {
		t.Fatalf("store: %d %v %s", r.status, err, r.body)
	}
}

// checkFact asks session id about the fact: it must be in the context block.
func checkFact(t *testing.T, c *apiClient, id string) {
	t.Helper()
	r, err := c.call("POST", "/v1/run", map[string]any{"session_id": id, "message": "What is the vault code?"})
	if err != nil || r.status != 200 {
		t.Fatalf("run after restart: %d %v %s", r.status, err, r.body)
	}
	var res struct {
		Context string `json:"context"`
	}
	if err := json.Unmarshal(r.body, &res); err != nil || !strings.Contains(res.Context, "ALPHA-7731") {
		t.Fatalf("the fact stored just before the kill is not in the next context block: %s", r.body)
	}
}

// exportThenMove runs a few turns in session id, exports it (which makes
// that state its Verify reference), then moves its state with turns on
// other topics, and returns the test embeddings for verify: the exported
// state and a few axes, on which the moved state differs from it.
func exportThenMove(t *testing.T, c *apiClient, id string) [][]float32 {
	t.Helper()
	turn := func(msg string, reset bool) {
		r, err := c.call("POST", "/v1/run", map[string]any{"session_id": id, "message": msg, "response": "noted: " + msg, "reset_context": reset})
		if err != nil || r.status != 200 {
			t.Fatalf("run: %d %v %s", r.status, err, r.body)
		}
	}
	turn("How do I bake sourdough bread?", true)
	turn("How long should the dough proof?", false)
	r, err := c.call("GET", "/v1/session/"+id+"/export", nil)
	if err != nil || r.status != 200 {
		t.Fatalf("export: %d %v %s", r.status, err, r.body)
	}
	var ex struct {
		StateDict struct {
			State []float32 `json:"state"`
		} `json:"state_dict"`
	}
	if err := json.Unmarshal(r.body, &ex); err != nil || len(ex.StateDict.State) == 0 {
		t.Fatalf("export: %v %.200s", err, r.body)
	}
	tests := [][]float32{ex.StateDict.State}
	for k := range 4 {
		axis := make([]float32, len(ex.StateDict.State))
		axis[k] = 1
		tests = append(tests, axis)
	}
	for _, msg := range []string{"Which GPU is best for training transformers?", "Explain CUDA kernels and tensor cores.", "How much VRAM does fine-tuning need?"} {
		turn(msg, false)
	}
	if verifyConsistent(t, c, id, tests) {
		t.Fatal("the moved session still verifies against its export: the test embeddings cannot tell the states apart")
	}
	return tests
}

// verifyConsistent asks verify, without a reference session, whether
// session id is consistent with its reference on tests.
func verifyConsistent(t *testing.T, c *apiClient, id string, tests [][]float32) bool {
	t.Helper()
	r, err := c.call("POST", "/v1/session/"+id+"/verify", map[string]any{"test_embeddings": tests})
	if err != nil || r.status != 200 {
		t.Fatalf("verify: %d %v %s", r.status, err, r.body)
	}
	var v struct {
		Consistent bool `json:"consistent"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("verify: %v %s", err, r.body)
	}
	return v.Consistent
}

func checkLedger(t *testing.T, led *ledger) {
	t.Helper()
	led.mu.Lock()
	defer led.mu.Unlock()
	if len(led.bad) > 0 {
		t.Fatalf("answers other than 2xx and 503:\n  %s", strings.Join(led.bad, "\n  "))
	}
	if led.noRetry > 0 {
		t.Fatalf("%d answers 503 without Retry-After", led.noRetry)
	}
}

// Every write acknowledged before a SIGKILL survives it: 8 clients create
// sessions (some with a template) and run /v1/run + /v1/store pairs with
// unique markers for about 3 s; the server is killed while they are still
// sending and restarted on the same database. Every created session exists
// with its template, every acknowledged run and store is in its session,
// a fact stored just before the kill is in the next context block, and a
// session exported and then changed still verifies against its export.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	bin := buildServer(t)
	forEachDB(t, func(t *testing.T, dbURL func(*testing.T) string) {
		pem, token := licenceForProcs(t)
		env := procEnv(t, dbURL(t), pem)
		logPath := filepath.Join(t.TempDir(), "server.log")
		p := startServerProc(t, bin, env, logPath)
		c := newAPIClient(p.base, token)

		led := newLedger()
		stop := runLoad(8, func() *apiClient { return c }, led)
		start := time.Now()
		waitWrites(t, led, 200, 30*time.Second)
		if d := 3*time.Second - time.Since(start); d > 0 {
			time.Sleep(d) // the load's length, not an assertion
		}
		rememberFact(t, c, "vault")
		refTests := exportThenMove(t, c, "exported")
		p.kill() // the 8 clients are still sending
		stop()
		t.Logf("before the kill: %s", led.summary())
		checkLedger(t, led)

		p = startServerProc(t, bin, env, logPath)
		c = newAPIClient(p.base, token)
		checkFact(t, c, "vault")
		if verifyConsistent(t, c, "exported", refTests) {
			t.Fatal("after the kill the exported session verifies as consistent: its Verify reference (the export) was lost")
		}
		verifyAcked(t, c, led)
		p.stop()
	})
}

// ownPostgres is a throwaway PostgreSQL cluster started by the test.
type ownPostgres struct {
	t    *testing.T
	bin  string // /usr/lib/postgresql/15/bin
	dir  string
	port int
}

// pgAs runs a PostgreSQL command line as the postgres user when the test
// runs as root (initdb refuses root), as the current user otherwise.
func pgAs(cmdline string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("su", "postgres", "-c", cmdline)
	}
	return exec.Command("bash", "-c", cmdline)
}

// startOwnPostgres initdb's a cluster in a new directory and starts it on a
// free port; it is stopped and removed at cleanup. It skips the test when
// the PostgreSQL 15 server binaries are not installed.
func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	pgbin := "/usr/lib/postgresql/15/bin"
	for _, b := range []string{"initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(pgbin, b)); err != nil {
			t.Skipf("%s/%s not found: the database outage test needs the PostgreSQL 15 server (apt-get install postgresql)", pgbin, b)
		}
	}
	dir, err := os.MkdirTemp("", "semvec-outage-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg := &ownPostgres{t: t, bin: pgbin, dir: dir, port: freeTCPPort(t)}
	t.Cleanup(func() {
		_ = pgAs(fmt.Sprintf("%s/pg_ctl -D %s/data -m immediate stop", pgbin, dir)).Run()
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Skipf("chown postgres %s: %v %s (no postgres user?)", dir, err, out)
		}
	}
	if out, err := pgAs(fmt.Sprintf("%s/initdb -D %s/data -U postgres -A trust -N", pgbin, dir)).CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg.start()
	return pg
}

func (pg *ownPostgres) url() string {
	return fmt.Sprintf("postgresql://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
}

func (pg *ownPostgres) start() {
	pg.t.Helper()
	cmd := pgAs(fmt.Sprintf("%s/pg_ctl -D %s/data -l %s/log -w -t 60 -o '-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c max_connections=100' start",
		pg.bin, pg.dir, pg.dir, pg.port, pg.dir))
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(pg.dir, "log"))
		pg.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// crash stops PostgreSQL at once, like a crash (its WAL brings it back).
func (pg *ownPostgres) crash() {
	pg.t.Helper()
	if out, err := pgAs(fmt.Sprintf("%s/pg_ctl -D %s/data -m immediate -w stop", pg.bin, pg.dir)).CombinedOutput(); err != nil {
		pg.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// A database outage under load: while PostgreSQL is down, state-changing
// requests answer 503 with Retry-After and reads of active sessions keep
// answering 200; when it is back, the same server process takes writes
// again by itself; and after a SIGKILL and a restart, nothing that was
// acknowledged before, during or after the outage is missing.
func TestDatabaseOutageLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	if os.Getenv("TEST_DATABASE_URL") == "" {
		t.Skip("TEST_DATABASE_URL not set: PostgreSQL tests skipped")
	}
	pg := startOwnPostgres(t)
	bin := buildServer(t)
	pem, token := licenceForProcs(t)
	env := procEnv(t, pg.url(), pem)
	logPath := filepath.Join(t.TempDir(), "server.log")
	p := startServerProc(t, bin, env, logPath)
	c := newAPIClient(p.base, token)
	rememberFact(t, c, "vault")

	led := newLedger()
	stop := runLoad(6, func() *apiClient { return c }, led)
	waitWrites(t, led, 100, 30*time.Second)

	// Sessions active before the outage, for the reads during it.
	led.mu.Lock()
	var active []string
	for _, s := range led.sessions[:min(8, len(led.sessions))] {
		active = append(active, s.id)
	}
	led.mu.Unlock()

	pg.crash()
	down := led.count(" 503")
	// While it is down: the load goes on (its writes answer 503), a
	// dedicated write answers 503 + Retry-After, and reads of active
	// sessions answer 200.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.call("POST", "/v1/store", map[string]any{"session_id": "vault", "response": "written while the database is down"})
		if err != nil {
			t.Fatalf("store during the outage: %v", err)
		}
		if r.status == 503 {
			if r.header.Get("Retry-After") == "" {
				t.Fatalf("503 without Retry-After: %v", r.header)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still answer %d %s 20 s into the outage", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range active {
		for _, path := range []string{"/v1/metrics/" + id, "/v1/session/" + id + "/export"} {
			if r, err := c.call("GET", path, nil); err != nil || r.status != 200 {
				t.Fatalf("read %s during the outage: %d %v %s", path, r.status, err, r.body)
			}
		}
	}
	// The load must have met the outage too (bounded wait).
	deadline = time.Now().Add(20 * time.Second)
	for led.count(" 503") <= down && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if led.count(" 503") <= down {
		t.Fatalf("the load saw no 503 during the outage: %s", led.summary())
	}

	pg.start()
	// The server recovers by itself: a write succeeds again, then the load
	// makes progress again.
	deadline = time.Now().Add(60 * time.Second)
	for {
		r, err := c.call("POST", "/v1/run", map[string]any{"session_id": "vault", "message": "Is the database back?"})
		if err == nil && r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail 60 s after the database came back: %d %v %s\n%s", r.status, err, r.body, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitWrites(t, led, led.writes.Load()+100, 30*time.Second)
	stop()
	t.Logf("load over the outage: %s", led.summary())
	checkLedger(t, led)

	// Nothing acknowledged was lost: kill, restart, check.
	p.kill()
	p = startServerProc(t, bin, env, logPath)
	c = newAPIClient(p.base, token)
	checkFact(t, c, "vault")
	verifyAcked(t, c, led)
	p.stop()
}
