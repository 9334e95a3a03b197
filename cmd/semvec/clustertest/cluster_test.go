//go:build linux

// Package clustertest runs semvec-go in cluster mode as real processes:
// the semvec binary, built once, started three times on loopback against
// one etcd (started here; the tests skip without the etcd binary) and one
// PostgreSQL (TEST_DATABASE_URL; skipped without it). Nothing here runs
// protoactor in the test process, but the Makefile runs this package
// without -race like the other cluster tests.
package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/semvec-go/semvec/actors/membership/etcdtest"
)

// The binary and etcd, shared by the package's tests.
var (
	testBin  string
	testEtcd *etcdtest.Etcd
)

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "semvec-clustertest-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		testBin = filepath.Join(dir, "semvec")
		build := exec.Command("go", "build", "-o", testBin, "github.com/semvec-go/semvec/cmd/semvec")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "clustertest: go build: %v\n%s", err, out)
			return 1
		}
		bin, err := exec.LookPath("etcd")
		if err != nil {
			fmt.Println("clustertest: etcd not installed (apt-get install -y etcd-server): cluster process tests skipped")
			return m.Run()
		}
		e, err := etcdtest.Start(bin, "semvec-clustertest-etcd-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "clustertest: cannot start etcd:", err)
			return 1
		}
		testEtcd = e
		defer e.Close()
		return m.Run()
	}()
	os.Exit(code)
}

func needEtcd(t testing.TB) *etcdtest.Etcd {
	t.Helper()
	if testEtcd == nil {
		t.Skip("etcd binary not found: apt-get install -y etcd-server (.ci/run does)")
	}
	return testEtcd
}

// needDatabase returns a PostgreSQL URL whose search_path is a new schema
// (dropped at cleanup), shared by the nodes of one test.
func needDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL not set: cluster process tests need PostgreSQL")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("clustertest_%d", time.Now().UnixNano())
	if _, err := db.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
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

// node is one semvec serve process.
type node struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
	base   string // http://127.0.0.1:port, once the banner said it
	member string // its cluster member id, once the banner said it
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// clusterEnv is the environment of a node of cluster name on etcd and db:
// anonymous mode, HTTP and remote on free loopback ports, a 2 s lease.
func clusterEnv(name, etcd, db string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"DATABASE_URL=" + db,
		"SEMVEC_ALLOW_ANONYMOUS=1",
		"SEMVEC_LOG_LEVEL=info",
		"SEMVEC_CLUSTER=1",
		"SEMVEC_CLUSTER_NAME=" + name,
		"SEMVEC_CLUSTER_ETCD=" + etcd,
		"SEMVEC_CLUSTER_HOST=127.0.0.1",
		"SEMVEC_CLUSTER_PORT=0",
		"SEMVEC_CLUSTER_TTL=2s",
		"METRICS_USER=m", "METRICS_PASSWORD=p",
	}
}

// startNodes starts n nodes A, B, … with env at once and waits until each
// is ready and sees all of them.
func startNodes(t testing.TB, env []string, n int) []*node {
	t.Helper()
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = startNode(t, string(rune('A'+i)), env)
	}
	for _, nd := range nodes {
		nd.waitStarted(60 * time.Second)
	}
	for _, nd := range nodes {
		nd.waitMembers(n, 30*time.Second)
	}
	return nodes
}

// startNode starts semvec serve on 127.0.0.1:0 with env; it does not wait.
func startNode(t testing.TB, name string, env []string) *node {
	t.Helper()
	n := &node{t: t, name: name, out: &lockedBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(testBin, "serve", "--host", "127.0.0.1", "--port", "0")
	n.cmd.Env = env
	n.cmd.Dir = t.TempDir()
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives the test
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("output of node %s:\n%s", n.name, n.out.String())
		}
	})
	return n
}

var (
	listening = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)
	memberRe  = regexp.MustCompile(`Cluster "[^"]+": member (\S+) at `)
)

// waitStarted waits until the node printed its banner (it has joined the
// cluster and listens) and records its URL and member id.
func (n *node) waitStarted(d time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(d)
	for {
		out := n.out.String()
		// The banner's lines arrive one write at a time: wait for both.
		if m, mm := listening.FindStringSubmatch(out), memberRe.FindStringSubmatch(out); m != nil && mm != nil {
			n.base, n.member = "http://"+m[1], mm[1]
			return
		}
		select {
		case <-n.done:
			n.t.Fatalf("node %s exited before it started (%v):\n%s", n.name, n.cmd.ProcessState, out)
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("node %s: not started within %v:\n%s", n.name, d, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (n *node) kill() {
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Kill()
	<-n.done
}

// exited waits at most d for the process to end by itself.
func (n *node) exited(d time.Duration) bool {
	select {
	case <-n.done:
		return true
	case <-time.After(d):
		return false
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

type readiness struct {
	Status string `json:"status"`
	Checks struct {
		Cluster        string `json:"cluster"`
		ClusterMembers int    `json:"cluster_members"`
	} `json:"checks"`
}

// ready fetches the node's /v1/readyz.
func (n *node) ready() (readiness, int, error) {
	var r readiness
	res, err := httpClient.Get(n.base + "/v1/readyz")
	if err != nil {
		return r, 0, err
	}
	defer res.Body.Close()
	return r, res.StatusCode, json.NewDecoder(res.Body).Decode(&r)
}

// waitMembers polls the node's readyz until it is ready and sees want
// members, at most d, and returns how long that took.
func (n *node) waitMembers(want int, d time.Duration) time.Duration {
	n.t.Helper()
	start := time.Now()
	var last string
	for {
		r, status, err := n.ready()
		if err == nil && status == 200 && r.Checks.Cluster == "ok" && r.Checks.ClusterMembers == want {
			return time.Since(start)
		}
		last = fmt.Sprintf("status %d, %+v, err %v", status, r, err)
		if time.Since(start) > d {
			n.t.Fatalf("node %s: readyz does not show %d members within %v (last: %s)", n.name, want, d, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// post sends a JSON body and decodes a 200's JSON answer into out.
func (n *node) post(path string, body, out any) {
	n.t.Helper()
	b, _ := json.Marshal(body)
	res, err := httpClient.Post(n.base+path, "application/json", bytes.NewReader(b))
	if err != nil {
		n.t.Fatalf("node %s: POST %s: %v", n.name, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != 200 {
		n.t.Fatalf("node %s: POST %s: status %d: %s", n.name, path, res.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		n.t.Fatalf("node %s: POST %s: %v: %s", n.name, path, err, raw)
	}
}

// metric returns the value of an unlabelled metric on the node's /metrics.
func (n *node) metric(name string) string {
	n.t.Helper()
	req, err := http.NewRequest("GET", n.base+"/metrics", nil)
	if err != nil {
		n.t.Fatal(err)
	}
	req.SetBasicAuth("m", "p")
	res, err := httpClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		n.t.Fatalf("node %s: /metrics: status %d", n.name, res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

func clusterName(t testing.TB) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

// TestClusterThreeNodes: three real processes join one cluster, every node
// serves the session routes over the shared database, a killed node is
// dropped by the survivors, and a node whose registration disappears from
// etcd exits with status 3.
func TestClusterThreeNodes(t *testing.T) {
	e := needEtcd(t)
	db := needDatabase(t)
	name := clusterName(t)
	env := clusterEnv(name, e.ClientURL, db)

	start := time.Now()
	nodes := startNodes(t, env, 3)
	t.Logf("three nodes started at once: all ready with 3 members %v after the first start", time.Since(start).Round(time.Millisecond))
	if v := nodes[0].metric("semvec_cluster_members"); v != "3" {
		t.Errorf("node A: semvec_cluster_members = %q, want 3", v)
	}
	a, b, c := nodes[0], nodes[1], nodes[2]

	// Sessions are still per-node actors over the one database: a session
	// created through A is served through B and C.
	var created struct {
		SessionID string `json:"session_id"`
	}
	a.post("/v1/session/create", map[string]any{}, &created)
	if created.SessionID == "" {
		t.Fatal("node A: session/create answered no session_id")
	}
	var ran struct {
		SessionID string `json:"session_id"`
	}
	b.post("/v1/run", map[string]any{"session_id": created.SessionID, "message": "What is Kubernetes?"}, &ran)
	if ran.SessionID != created.SessionID {
		t.Fatalf("node B: run answered session %q, want %q", ran.SessionID, created.SessionID)
	}
	res, err := httpClient.Get(c.base + "/v1/metrics/" + created.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("node C: metrics of a session created through A: status %d", res.StatusCode)
	}

	// A crash (no graceful leave): the survivors drop C once its 2 s lease
	// has run out.
	killed := time.Now()
	c.kill()
	for _, n := range []*node{a, b} {
		n.waitMembers(2, 15*time.Second)
	}
	t.Logf("node C killed (SIGKILL): both survivors show 2 members %v later (lease TTL 2s)", time.Since(killed).Round(time.Millisecond))

	// B's registration disappears from etcd (as when its lease expired
	// while it was paused): B exits with status 3 and says why; A drops it.
	cli := e.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := "/semvec/members/" + name + "/" + b.member
	deleted := time.Now()
	if r, err := cli.Delete(ctx, key); err != nil || r.Deleted != 1 {
		t.Fatalf("deleting node B's key %s: %v (%+v)", key, err, r)
	}
	if !b.exited(40 * time.Second) {
		t.Fatalf("node B still runs 40 s after its registration was deleted")
	}
	t.Logf("node B's key deleted: B exited %v later (after its own graceful shutdown)", time.Since(deleted).Round(time.Millisecond))
	if code := b.cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("node B exited with status %d, want 3", code)
	}
	if out := b.out.String(); !strings.Contains(out, "no longer in the member list") {
		t.Errorf("node B does not say why it exited:\n%s", out)
	}
	a.waitMembers(1, 15*time.Second)

	// A leaves gracefully on SIGTERM and exits 0.
	term := time.Now()
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	if !a.exited(40 * time.Second) {
		t.Fatal("node A still runs 40 s after SIGTERM")
	}
	t.Logf("node A stopped %v after SIGTERM", time.Since(term).Round(time.Millisecond))
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("node A exited with status %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(a.out.String(), "left the cluster") {
		t.Errorf("node A did not leave the cluster on SIGTERM:\n%s", a.out.String())
	}
}

// TestClusterEtcdUnreachable: a node whose etcd does not answer fails to
// start, within its start-up bound, with a message naming the variable.
func TestClusterEtcdUnreachable(t *testing.T) {
	db := needDatabase(t)
	ports, err := etcdtest.FreePorts(1) // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "lonely", clusterEnv(clusterName(t), fmt.Sprintf("127.0.0.1:%d", ports[0]), db))
	if !n.exited(60 * time.Second) {
		t.Fatalf("node with an unreachable etcd still runs after 60 s:\n%s", n.out.String())
	}
	if code := n.cmd.ProcessState.ExitCode(); code == 0 {
		t.Fatalf("node with an unreachable etcd exited 0:\n%s", n.out.String())
	}
	if out := n.out.String(); !strings.Contains(out, "SEMVEC_CLUSTER_ETCD") || !strings.Contains(out, "etcd unavailable") {
		t.Fatalf("no clear message:\n%s", out)
	}
}

// TestClusterRefusesAnotherEmbedder: a node whose embedder dimension
// differs from its peers' does not join. Before, it joined silently: every
// request it relayed to a session of the others answered 422 ("expected
// 384 dimensions, got 128"), and the sessions it created were stored at
// 128 dimensions, unusable through the others for good.
func TestClusterRefusesAnotherEmbedder(t *testing.T) {
	e := needEtcd(t)
	db := needDatabase(t)
	env := clusterEnv(clusterName(t), e.ClientURL, db)
	a := startNodes(t, env, 1)[0]
	odd := startNode(t, "odd", append(slices.Clone(env), "SEMVEC_EMBEDDER_DIM=128"))
	if !odd.exited(60 * time.Second) {
		t.Fatalf("a node embedding at 128 dimensions joined a cluster at 384 and still runs after 60 s:\n%s", odd.out.String())
	}
	out := odd.out.String()
	if code := odd.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(out, "SEMVEC_EMBEDDER/SEMVEC_EMBEDDER_DIM") ||
		!strings.Contains(out, "hashing-v1/384") || !strings.Contains(out, "hashing-v1/128") {
		t.Fatalf("exit status %d, want 1 with a message naming the variables and both embedders:\n%s", code, out)
	}
	a.waitMembers(1, 15*time.Second)
	// A node like the first still joins.
	b := startNode(t, "B", env)
	b.waitStarted(60 * time.Second)
	b.waitMembers(2, 30*time.Second)
}

// A node trusting other licence keys than a member it sees joins (a key
// rotation adds the new key one member at a time) but warns, naming both
// sets of keys: a token would work through one member and not another.
func TestClusterWarnsOfOtherLicenceKeys(t *testing.T) {
	e := needEtcd(t)
	db := needDatabase(t)
	name := clusterName(t)
	licensedEnv, _ := licensedTenants(t, clusterEnv(name, e.ClientURL, db))
	a := startNodes(t, licensedEnv, 1)[0]
	otherEnv, _ := licensedTenants(t, clusterEnv(name, e.ClientURL, db)) // a key pair of its own
	b := startNode(t, "B", otherEnv)
	b.waitStarted(60 * time.Second)
	b.waitMembers(2, 30*time.Second)
	a.waitMembers(2, 30*time.Second)
	if out := b.out.String(); !strings.Contains(out, "another member trusts other licence keys") || !strings.Contains(out, "licence-keys") {
		t.Fatalf("no warning of the other member's licence keys:\n%s", out)
	}
}

// TestClusterRefusesSQLite: cluster mode without a PostgreSQL DATABASE_URL
// does not start, and says why. Needs neither etcd nor PostgreSQL.
func TestClusterRefusesSQLite(t *testing.T) {
	env := clusterEnv(clusterName(t), "127.0.0.1:2379", "sqlite:///"+filepath.Join(t.TempDir(), "semvec.db"))
	n := startNode(t, "sqlite", env)
	if !n.exited(30 * time.Second) {
		t.Fatal("node with SQLite in cluster mode still runs after 30 s")
	}
	if code := n.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if out := n.out.String(); !strings.Contains(out, "SEMVEC_CLUSTER: cluster mode needs one PostgreSQL database") {
		t.Fatalf("no clear message:\n%s", out)
	}
}

// TestClusterPortInUse: a cluster port that cannot be bound stops start-up
// with a message naming the variables, instead of protoactor's panic.
func TestClusterPortInUse(t *testing.T) {
	db := needDatabase(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	env := clusterEnv(clusterName(t), "127.0.0.1:2379", db)
	env = append(env, fmt.Sprintf("SEMVEC_CLUSTER_PORT=%d", l.Addr().(*net.TCPAddr).Port)) // the last one wins
	n := startNode(t, "busy", env)
	if !n.exited(30 * time.Second) {
		t.Fatalf("node on a busy cluster port still runs after 30 s:\n%s", n.out.String())
	}
	out := n.out.String()
	if code := n.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(out, "SEMVEC_CLUSTER_HOST/SEMVEC_CLUSTER_PORT") || strings.Contains(out, "panic") {
		t.Fatalf("exit status %d, want 1 with a message naming the variables:\n%s", code, out)
	}
}
