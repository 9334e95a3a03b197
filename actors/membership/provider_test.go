package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/semvec-go/semvec/actors/membership/etcdtest"
)

// Tests of the provider against a real etcd, without protoactor's cluster
// (whose own code races): the member list goes to a recording view. They
// run under -race (Makefile). The TestCluster* tests in cluster_test.go
// drive real protoactor cluster members and run without -race.

const testTTL = 2 * time.Second

// view records the member lists a provider publishes.
type view struct {
	mu    sync.Mutex
	ids   []string
	count int
}

func (v *view) publish(ms cluster.Members) {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.Id
	}
	v.mu.Lock()
	v.ids, v.count = ids, v.count+1
	v.mu.Unlock()
}

func (v *view) members() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.ids)
}

// is reports whether the last published list is exactly ids.
func (v *view) is(ids ...string) bool {
	want := slices.Sorted(slices.Values(ids))
	return slices.Equal(v.members(), want)
}

func testLogger() *slog.Logger {
	if os.Getenv("SEMVEC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig is a provider config for the shared etcd with a short TTL.
func testConfig(e *etcdtest.Etcd) Config {
	return Config{Endpoints: e.Endpoints(), TTL: testTTL, DialTimeout: 3 * time.Second, Prefix: "/semvec-test", Logger: testLogger()}
}

// coreMember is a provider started as a member outside protoactor.
type coreMember struct {
	id string
	p  *Provider
	v  *view
}

func startCore(t *testing.T, cfg Config, clusterName, id string) (*coreMember, error) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &coreMember{id: id, p: p, v: &view{}}
	self := &cluster.Member{Id: id, Host: "127.0.0.1", Port: 4000, Kinds: []string{"counter"}}
	if err := p.start(clusterName, self, m.v.publish, nil); err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = p.Shutdown(true) })
	return m, nil
}

func mustStartCore(t *testing.T, cfg Config, clusterName, id string) *coreMember {
	t.Helper()
	m, err := startCore(t, cfg, clusterName, id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// crash stops p the way kill -9 would: no revoke, the lease runs out.
func (p *Provider) crash() {
	p.mu.Lock()
	p.state = stateStopped
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	_ = p.cli.Close()
}

func TestConfigValidation(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if d := p.cfg; !slices.Equal(d.Endpoints, []string{DefaultEndpoint}) || d.Prefix != DefaultPrefix || d.TTL != DefaultTTL || d.DialTimeout != DefaultDialTimeout {
		t.Fatalf("defaults: %+v", d)
	}
	good := []Config{
		{Endpoints: []string{"http://10.0.0.1:2379", "etcd:2379", "[::1]:2379"}},
		{Prefix: "/a/b-c_d.e"},
		{TTL: 2 * time.Second},
		{TTL: time.Hour},
		{DialTimeout: 100 * time.Millisecond},
	}
	for _, c := range good {
		if _, err := New(c); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := map[string]Config{
		"endpoint without port":  {Endpoints: []string{"127.0.0.1"}},
		"endpoint https":         {Endpoints: []string{"https://127.0.0.1:2379"}},
		"endpoint port 0":        {Endpoints: []string{"127.0.0.1:0"}},
		"endpoint port too high": {Endpoints: []string{"127.0.0.1:70000"}},
		"endpoint no host":       {Endpoints: []string{":2379"}},
		"prefix relative":        {Prefix: "semvec"},
		"prefix root":            {Prefix: "/"},
		"prefix trailing slash":  {Prefix: "/semvec/"},
		"prefix empty segment":   {Prefix: "/a//b"},
		"prefix space":           {Prefix: "/a b"},
		"prefix too long":        {Prefix: "/" + strings.Repeat("a", 300)},
		"TTL too short":          {TTL: time.Second},
		"TTL fractional":         {TTL: 2500 * time.Millisecond},
		"TTL negative":           {TTL: -5 * time.Second},
		"TTL too long":           {TTL: 2 * time.Hour},
		"dial timeout too short": {DialTimeout: time.Millisecond},
		"dial timeout negative":  {DialTimeout: -time.Second},
		"dial timeout too long":  {DialTimeout: 2 * time.Minute},
	}
	for name, c := range bad {
		if _, err := New(c); err == nil || !strings.HasPrefix(err.Error(), "membership: ") {
			t.Errorf("%s: got %v, want a membership: error", name, err)
		}
	}
	for _, name := range []string{"", "a/b", "a b", "tab\t"} {
		if err := validClusterName(name); err == nil {
			t.Errorf("cluster name %q accepted", name)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for _, c := range []struct {
		failures int
		want     time.Duration
	}{{0, time.Second}, {1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {4, 800 * time.Millisecond}, {5, time.Second}, {1000, time.Second}} {
		if got := retryAfter(c.failures, time.Second); got != c.want {
			t.Errorf("retryAfter(%d) = %v, want %v", c.failures, got, c.want)
		}
	}
}

// With etcd down (a closed port, an unroutable address) start-up fails
// with ErrUnavailable within the dial timeout instead of hanging.
func TestCoreDownAtStart(t *testing.T) {
	ports, err := etcdtest.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	for name, endpoint := range map[string]string{
		"refused":    fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"unroutable": "192.0.2.1:2379", // TEST-NET-1
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Endpoints: []string{endpoint}, DialTimeout: time.Second, Logger: testLogger()}
			start := time.Now()
			_, err := startCore(t, cfg, "down", "m1")
			took := time.Since(start)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("got %v, want ErrUnavailable", err)
			}
			if took > cfg.DialTimeout+500*time.Millisecond {
				t.Fatalf("start-up failed after %v, bound %v", took, cfg.DialTimeout)
			}
			t.Logf("etcd %s: start-up failed after %v (dial timeout %v): %v", name, took.Round(time.Millisecond), cfg.DialTimeout, err)
		})
	}
}

// Members started at the same moment all see each other: the upstream
// provider's window between its first read and its watch is closed.
func TestCoreConcurrentStarts(t *testing.T) {
	e := needEtcd(t)
	const rounds, n = 20, 5
	for round := range rounds {
		name := clusterName(t)
		members := make([]*coreMember, n)
		ids := make([]string, n)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		errs := make([]error, n)
		for i := range n {
			ids[i] = fmt.Sprintf("m%d", i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				members[i], errs[i] = startCore(t, testConfig(e), name, ids[i])
			}()
		}
		close(gate)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			eventually(t, 5*time.Second, fmt.Sprintf("round %d: %s sees all %d members (has %v)", round, m.id, n, m.v.members()),
				func() bool { return m.v.is(ids...) })
		}
		for _, m := range members {
			if err := m.p.Shutdown(true); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A member that leaves (revokes its lease) is dropped at once; one that
// crashes (stops refreshing its lease) about a TTL later.
func TestCoreMemberLeaves(t *testing.T) {
	e := needEtcd(t)
	name := clusterName(t)
	a := mustStartCore(t, testConfig(e), name, "a")
	b := mustStartCore(t, testConfig(e), name, "b")
	c := mustStartCore(t, testConfig(e), name, "c")
	eventually(t, 5*time.Second, "a sees a, b, c", func() bool { return a.v.is("a", "b", "c") })

	if err := b.p.Shutdown(true); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, time.Second, "a drops b after its shutdown", func() bool { return a.v.is("a", "c") })
	t.Logf("graceful leave seen after %v", took.Round(time.Millisecond))

	c.p.crash()
	took = eventually(t, testTTL+1500*time.Millisecond, "a drops c after its crash", func() bool { return a.v.is("a") })
	if took < testTTL/2 {
		t.Fatalf("c dropped after %v, before its lease (%v) could expire", took, testTTL)
	}
	t.Logf("crash seen after %v (TTL %v)", took.Round(time.Millisecond), testTTL)
}

// A client follows the member list without registering.
func TestCoreClient(t *testing.T) {
	e := needEtcd(t)
	name := clusterName(t)
	mustStartCore(t, testConfig(e), name, "a")
	p, err := New(testConfig(e))
	if err != nil {
		t.Fatal(err)
	}
	v := &view{}
	if err := p.start(name, nil, v.publish, nil); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(true)
	if !v.is("a") {
		t.Fatalf("client sees %v after start, want [a]", v.members())
	}
	mustStartCore(t, testConfig(e), name, "b")
	eventually(t, 2*time.Second, "client sees a, b", func() bool { return v.is("a", "b") })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := e.Client(t).Get(ctx, p.dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 2 {
		t.Fatalf("%d keys (%v), want 2: a client does not register", resp.Count, err)
	}
}

// OnSelfLost fires when the member's key is deleted or its lease revoked;
// the others drop it, and its own Shutdown still works.
func TestCoreSelfLost(t *testing.T) {
	e := needEtcd(t)
	cli := e.Client(t)
	for _, how := range []string{"key deleted", "lease revoked"} {
		t.Run(strings.ReplaceAll(how, " ", "_"), func(t *testing.T) {
			name := clusterName(t)
			lost := make(chan time.Time, 2)
			cfg := testConfig(e)
			cfg.OnSelfLost = func() { lost <- time.Now() }
			a := mustStartCore(t, cfg, name, "a")
			b := mustStartCore(t, testConfig(e), name, "b")
			eventually(t, 5*time.Second, "b sees a", func() bool { return b.v.is("a", "b") })

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			var err error
			if how == "key deleted" {
				_, err = cli.Delete(ctx, a.p.key)
			} else {
				_, err = cli.Revoke(ctx, a.p.lease) // read before any re-registration: a has none
			}
			if err != nil {
				t.Fatal(err)
			}
			select {
			case at := <-lost:
				t.Logf("%s: OnSelfLost after %v", how, at.Sub(start).Round(time.Millisecond))
			case <-time.After(testTTL + time.Second):
				t.Fatalf("%s: OnSelfLost not called", how)
			}
			eventually(t, time.Second, "b drops a", func() bool { return b.v.is("b") })
			if !a.v.is("a", "b") {
				t.Fatalf("a's own list changed to %v: it keeps its last list until it restarts", a.v.members())
			}
			if err := a.p.Shutdown(true); err != nil {
				t.Fatal(err)
			}
			select {
			case <-lost:
				t.Fatal("OnSelfLost called twice")
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// Without OnSelfLost, a member whose key was deleted registers again
// under a new lease.
func TestCoreRegistersAgainWithoutCallback(t *testing.T) {
	e := needEtcd(t)
	cli := e.Client(t)
	a := mustStartCore(t, testConfig(e), clusterName(t), "a")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, a.p.key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("a's key: %v %v", resp, err)
	}
	oldLease := resp.Kvs[0].Lease
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(oldLease)); err != nil {
		t.Fatal(err)
	}
	var newLease int64
	took := eventually(t, testTTL+time.Second, "a's key is back", func() bool {
		resp, err := cli.Get(ctx, a.p.key)
		if err != nil || len(resp.Kvs) != 1 {
			return false
		}
		newLease = resp.Kvs[0].Lease
		return true
	})
	if newLease == oldLease {
		t.Fatalf("same lease %x after a revoke", newLease)
	}
	t.Logf("registered again after %v", took.Round(time.Millisecond))
}

// etcd killed for longer than the TTL and restarted on its data: members
// keep their list meanwhile, are not lost, keep their leases (etcd renews
// leases when it starts), and follow changes again afterwards.
func TestCoreEtcdRestart(t *testing.T) {
	e := needEtcd(t)
	name := clusterName(t)
	lost := make(chan string, 2)
	cfg := testConfig(e)
	cfg.OnSelfLost = func() { lost <- "a" }
	a := mustStartCore(t, cfg, name, "a")
	cfg.OnSelfLost = func() { lost <- "b" }
	b := mustStartCore(t, cfg, name, "b")
	eventually(t, 5*time.Second, "a sees a, b", func() bool { return a.v.is("a", "b") })

	e.Stop()
	time.Sleep(testTTL + time.Second)
	if !a.v.is("a", "b") || !b.v.is("a", "b") {
		t.Fatalf("during the outage the lists changed: a %v, b %v", a.v.members(), b.v.members())
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()

	c := mustStartCore(t, testConfig(e), name, "c")
	eventually(t, 10*time.Second, "a and b see c", func() bool { return a.v.is("a", "b", "c") && b.v.is("a", "b", "c") })
	t.Logf("etcd down %v: a member started after the restart was seen by the old ones %v after it answered",
		testTTL+time.Second, time.Since(restarted).Round(time.Millisecond))
	if !c.v.is("a", "b", "c") {
		t.Fatalf("c sees %v", c.v.members())
	}
	// Past a TTL after the restart the leases must have been refreshed.
	time.Sleep(time.Until(restarted.Add(2 * testTTL)))
	cli := e.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, a.p.dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 3 {
		t.Fatalf("%d keys 2 TTLs after the restart (%v), want 3", resp.Count, err)
	}
	select {
	case who := <-lost:
		t.Fatalf("%s reported itself lost", who)
	default:
	}
	b.p.crash()
	eventually(t, testTTL+1500*time.Millisecond, "a drops crashed b after the restart", func() bool { return a.v.is("a", "c") })
}

// etcd restarted without its data: every lease is gone, so a member finds
// itself lost once etcd answers again.
func TestCoreEtcdDataLoss(t *testing.T) {
	e := needEtcd(t)
	lost := make(chan time.Time, 1)
	cfg := testConfig(e)
	cfg.OnSelfLost = func() { lost <- time.Now() }
	mustStartCore(t, cfg, clusterName(t), "a")

	e.Stop()
	if err := os.RemoveAll(e.Dir + "/data"); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-lost:
		t.Logf("OnSelfLost %v after etcd was started again, empty", at.Sub(restarted).Round(time.Millisecond))
	case <-time.After(3 * testTTL):
		t.Fatal("OnSelfLost not called after etcd lost its data")
	}
}
