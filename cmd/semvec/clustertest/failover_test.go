package clustertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// load is 8 clients running turns on their own sessions through whichever
// nodes are marked usable, retrying a turn on 503 (as a client honouring
// Retry-After does, sooner) and on a refused connection, and counting what
// was acknowledged.
type load struct {
	t        *testing.T
	token    string
	nodes    []atomic.Pointer[node] // replaced during a rolling restart
	usable   []atomic.Bool
	sessions []string
	acked    []atomic.Int64 // per session: turns answered 200
	tried    []atomic.Int64 // per session: attempts that got no 200 (may or may not have landed)
	u503     atomic.Int64
	slowest  []atomic.Int64 // per node, nanoseconds
	stop     chan struct{}
	wg       sync.WaitGroup
	failures chan string
}

// requestTimeout is the nodes' SEMVEC_REQUEST_TIMEOUT in these tests: no
// request may take much longer, whatever fails.
const requestTimeout = 4 * time.Second

func startLoad(t *testing.T, token string, nodes []*node, sessions []string) *load {
	l := &load{t: t, token: token, nodes: make([]atomic.Pointer[node], len(nodes)), usable: make([]atomic.Bool, len(nodes)), sessions: sessions,
		acked: make([]atomic.Int64, len(sessions)), tried: make([]atomic.Int64, len(sessions)), slowest: make([]atomic.Int64, len(nodes)),
		stop: make(chan struct{}), failures: make(chan string, 64)}
	for i := range l.usable {
		l.nodes[i].Store(nodes[i])
		l.usable[i].Store(true)
	}
	client := &http.Client{Timeout: requestTimeout + 3*time.Second}
	for c := range 8 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for k := 0; ; k++ {
				select {
				case <-l.stop:
					return
				default:
				}
				s := c + 8*(k%(len(sessions)/8)) // each client its own sessions
				l.turn(client, s, fmt.Sprintf("client %d turn %d: what about topic %d?", c, k, k%13))
			}
		}()
	}
	return l
}

// turn runs one turn on session s until a node answers 200 (or the load
// stops), retrying elsewhere on 503 and connection errors.
func (l *load) turn(client *http.Client, s int, msg string) {
	body, _ := json.Marshal(map[string]any{"session_id": l.sessions[s], "message": msg})
	for attempt := 0; ; attempt++ {
		select {
		case <-l.stop:
			return
		default:
		}
		var live []int
		for i := range l.nodes {
			if l.usable[i].Load() {
				live = append(live, i)
			}
		}
		i := live[rand.IntN(len(live))]
		n := l.nodes[i].Load()
		start := time.Now()
		res, err := call(client, l.token, "POST", n.base+"/v1/run", body)
		took := time.Since(start)
		for {
			old := l.slowest[i].Load()
			if int64(took) <= old || l.slowest[i].CompareAndSwap(old, int64(took)) {
				break
			}
		}
		if err != nil {
			l.tried[s].Add(1)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch res.StatusCode {
		case 200:
			l.acked[s].Add(1)
			return
		case 503:
			l.tried[s].Add(1)
			l.u503.Add(1)
			if res.Header.Get("Retry-After") == "" {
				l.fail("503 without Retry-After from node %s: %s", n.name, raw)
			}
			time.Sleep(100 * time.Millisecond)
		default:
			l.tried[s].Add(1)
			l.fail("node %s answered %d: %s", n.name, res.StatusCode, raw)
			return
		}
	}
}

func (l *load) fail(format string, args ...any) {
	select {
	case l.failures <- fmt.Sprintf(format, args...):
	default:
	}
}

// finish stops the load and reports what went wrong during it. Requests
// to nodes that were never paused or killed (running) must all have been
// answered within the request deadline (a paused process cannot answer
// anything, a killed one anything in flight).
func (l *load) finish(running ...int) {
	close(l.stop)
	l.wg.Wait()
	close(l.failures)
	for f := range l.failures {
		l.t.Error(f)
	}
	for _, i := range running {
		if slow := time.Duration(l.slowest[i].Load()); slow > requestTimeout+time.Second {
			l.t.Errorf("a request to node %s took %v, past the request deadline (%v)", l.nodes[i].Load().name, slow, requestTimeout)
		}
	}
}

// check asks every session's turn count through n: every acknowledged turn
// is there, and nothing beyond the attempts that were made.
func (l *load) check(n *node) {
	l.t.Helper()
	total := int64(0)
	for s, id := range l.sessions {
		var m struct {
			InteractionCount int64 `json:"interaction_count"`
		}
		res, err := call(httpClient, l.token, "GET", n.base+"/v1/metrics/"+id, nil)
		if err != nil {
			l.t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || json.Unmarshal(raw, &m) != nil {
			l.t.Fatalf("metrics of %s through %s: %d %s", id, n.name, res.StatusCode, raw)
		}
		acked, tried := l.acked[s].Load(), l.tried[s].Load()
		if m.InteractionCount < acked || m.InteractionCount > acked+tried {
			l.t.Errorf("session %d: %d turns stored, %d acknowledged and %d other attempts", s, m.InteractionCount, acked, tried)
		}
		total += acked
	}
	l.t.Logf("%d turns acknowledged on %d sessions, %d answers 503, slowest request to node %s %v", total, len(l.sessions),
		l.u503.Load(), n.name, time.Duration(l.slowest[0].Load()).Round(time.Millisecond))
}

// call sends a request with the licence token.
func call(client *http.Client, token, method, url string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", token)
	req.Header.Set("Content-Type", "application/json")
	return client.Do(req)
}

// licensed replaces anonymous mode in env with a licence key pair made for
// the test and returns an enterprise token (no rate limit gets in the way
// of the load).
func licensed(t testing.TB, env []string) ([]string, string) {
	t.Helper()
	env, issue := licensedTenants(t, env)
	return env, issue("load")
}

// licensedTenants is licensed that returns a function issuing an
// enterprise token for any tenant (subject).
func licensedTenants(t testing.TB, env []string) ([]string, func(sub string) string) {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command(testBin, "license", "keygen", "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("license keygen: %v\n%s", err, out)
	}
	issue := func(sub string) string {
		t.Helper()
		out, err := exec.Command(testBin, "license", "issue", "--key", filepath.Join(dir, "license_private.pem"), "--sub", sub, "--tier", "enterprise").Output()
		if err != nil {
			t.Fatalf("license issue: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	env = slices.DeleteFunc(slices.Clone(env), func(v string) bool { return strings.HasPrefix(v, "SEMVEC_ALLOW_ANONYMOUS=") })
	return append(env, "SEMVEC_LICENSE_PUBLIC_KEY_FILE="+filepath.Join(dir, "license_public.pem")), issue
}

// TestClusterFailoverUnderLoad: three nodes under load; one is killed
// (SIGKILL), then another is paused (SIGSTOP) for 10 s and resumed. The
// sessions they hosted move to the survivors; every acknowledged turn is
// still there and no turn that was not attempted appears (a superseded
// activation's writes never land); requests caught in the failover answer
// 503 with Retry-After, never hang past the request deadline; the paused
// node, dropped by the others meanwhile, exits when it finds out.
func TestClusterFailoverUnderLoad(t *testing.T) {
	e := needEtcd(t)
	db := needDatabase(t)
	env, token := licensed(t, append(clusterEnv(clusterName(t), e.ClientURL, db), "SEMVEC_REQUEST_TIMEOUT="+requestTimeout.String(), "SEMVEC_ASK_TIMEOUT=2s"))
	nodes := startNodes(t, env, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	sessions := createSessions(t, token, nodes, 24)
	l := startLoad(t, token, nodes, sessions)
	time.Sleep(2 * time.Second)
	// C dies: its sessions reactivate on A and B from the log.
	l.usable[2].Store(false)
	c.kill()
	time.Sleep(4 * time.Second)

	// B pauses for 10 s (a GC or VM freeze): A takes over B's sessions
	// once B's lease has run out; B, resumed, finds it has been dropped.
	l.usable[1].Store(false)
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second)
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if !b.exited(30 * time.Second) {
		t.Error("node B still runs 30 s after it was resumed, although the others dropped it")
	} else if code := b.cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("node B exited with status %d after its pause, want 3", code)
	}
	time.Sleep(2 * time.Second)
	l.finish(0)
	a.waitMembers(1, 15*time.Second)
	l.check(a)
}

// TestClusterRollingRestart: under load, each of three nodes in turn gets
// SIGTERM (it passivates its actors and leaves) and is started again; a
// client that retries on 503 and on a refused connection sees no other
// failure, and every acknowledged turn is there afterwards.
func TestClusterRollingRestart(t *testing.T) {
	e := needEtcd(t)
	db := needDatabase(t)
	env, token := licensed(t, append(clusterEnv(clusterName(t), e.ClientURL, db), "SEMVEC_REQUEST_TIMEOUT="+requestTimeout.String(), "SEMVEC_ASK_TIMEOUT=2s"))
	nodes := startNodes(t, env, 3)
	sessions := createSessions(t, token, nodes, 24)
	l := startLoad(t, token, nodes, sessions)
	time.Sleep(time.Second)
	for i := range nodes {
		old := l.nodes[i].Load()
		l.usable[i].Store(false)
		if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if !old.exited(40 * time.Second) {
			t.Fatalf("node %s still runs 40 s after SIGTERM", old.name)
		}
		if code := old.cmd.ProcessState.ExitCode(); code != 0 {
			out := old.out.String()
			t.Errorf("node %s exited %d after SIGTERM, want 0; its last output:\n%s", old.name, code, out[max(0, len(out)-3000):])
		}
		fresh := startNode(t, old.name+"'", env)
		fresh.waitStarted(60 * time.Second)
		fresh.waitMembers(3, 30*time.Second)
		l.nodes[i].Store(fresh)
		l.usable[i].Store(true)
		time.Sleep(time.Second)
	}
	l.finish()
	l.check(l.nodes[0].Load())
}

// createSessions creates n sessions through the nodes in turn.
func createSessions(t testing.TB, token string, nodes []*node, n int) []string {
	t.Helper()
	sessions := make([]string, n)
	for i := range sessions {
		var created struct {
			SessionID string `json:"session_id"`
		}
		res, err := call(httpClient, token, "POST", nodes[i%len(nodes)].base+"/v1/session/create", []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || json.Unmarshal(raw, &created) != nil || created.SessionID == "" {
			t.Fatalf("session/create: %d %s", res.StatusCode, raw)
		}
		sessions[i] = created.SessionID
	}
	return sessions
}

// TestClusterJoiningNodeActivatesOnlyItsOwn: while a node joins, the others
// already route grains to it (from its registration, a second before it
// has started), and the actors those grains activate ask other
// identities: a cluster's state asks its member sessions. Those asks must
// go through the placement to the sessions' owners. They went to the
// joining node's own registry (its placement was started only after it
// had joined), which activated sessions owned by other members: each took
// the session's fencing epoch from the owner's running actor, so once the
// membership had settled that actor refused the session's next change
// (503, "served by a newer activation") and served reads from a state
// another activation may have changed. Rolling restarts under load left
// up to 15% of the sessions so (79 of 528 in one run).
func TestClusterJoiningNodeActivatesOnlyItsOwn(t *testing.T) {
	e := needEtcd(t)
	db := needDatabase(t)
	env, token := licensed(t, clusterEnv(clusterName(t), e.ClientURL, db))
	nodes := startNodes(t, env, 2)
	a, b := nodes[0], nodes[1]
	// Clusters of two sessions each, every session with a turn (running
	// on its owner).
	var clusters, sessions []string
	for i := range 16 {
		var cl struct {
			ClusterID string `json:"cluster_id"`
		}
		postStatus(t, token, a, "/v1/cluster/", map[string]any{"name": fmt.Sprint("c", i), "coupling_factor": 0.3}, 201, &cl)
		clusters = append(clusters, cl.ClusterID)
		for j := range 2 {
			var run struct {
				SessionID string `json:"session_id"`
			}
			postStatus(t, token, nodes[j], "/v1/run", map[string]any{"message": fmt.Sprintf("cluster %d member %d: how do I rotate the logs?", i, j)}, 200, &run)
			sessions = append(sessions, run.SessionID)
			postStatus(t, token, nodes[1-j], "/v1/cluster/"+cl.ClusterID+"/members", map[string]any{"session_id": run.SessionID}, 200, nil)
		}
	}
	// C joins while the clusters' states are asked through A and B, so
	// that the clusters C comes to own are activated on C as it joins.
	c := startNode(t, "C", env)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range []*node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if res, err := call(httpClient, token, "GET", n.base+"/v1/cluster/"+clusters[k%len(clusters)], nil); err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}
		}()
	}
	c.waitStarted(60 * time.Second)
	c.waitMembers(3, 30*time.Second)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	for _, n := range nodes {
		n.waitMembers(3, 30*time.Second)
	}

	// The membership has settled: every session takes a change through
	// every node, at the first try.
	nodes = append(nodes, c)
	refused := 0
	for i, id := range sessions {
		for k := range nodes {
			n := nodes[(i+k)%len(nodes)]
			body, _ := json.Marshal(map[string]any{"session_id": id, "message": fmt.Sprint("after the join, through ", n.name)})
			res, err := call(httpClient, token, "POST", n.base+"/v1/run", body)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				refused++
				t.Errorf("session %d through node %s after the membership settled: %d %s", i, n.name, res.StatusCode, raw)
			}
		}
	}
	t.Logf("%d sessions of %d clusters, %d turns through the three nodes after C joined: %d refused", len(sessions), len(clusters), 3*len(sessions), refused)
}

// postStatus posts body to n and wants status; out (when not nil) gets
// the JSON answer.
func postStatus(t *testing.T, token string, n *node, path string, body any, status int, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := call(httpClient, token, "POST", n.base+path, b)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		t.Fatalf("node %s: POST %s: %d %s", n.name, path, res.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("node %s: POST %s: %v: %s", n.name, path, err, raw)
		}
	}
}
