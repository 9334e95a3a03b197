// Package membership is a protoactor-go cluster provider
// (cluster.ClusterProvider) that keeps the member list in etcd.
//
// It replaces protoactor's own etcd provider, which has two defects
// (docs/cluster.md, "Membership"): it starts its watch only after its first
// read, so a member that registers in between is never seen (one member
// blind, identities activated twice), and it waits forever when etcd is down
// at start. Here a member registers itself under a lease, reads the member
// list, and watches from the revision right after that read, so that every
// later change is seen; every etcd request is bounded.
//
// One goroutine owns the member list (the watch) and one the registration
// (the lease); they meet only through Provider.noteLost.
package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// ErrUnavailable is returned (wrapped) by StartMember and StartClient when
// etcd did not answer within Config.DialTimeout.
var ErrUnavailable = errors.New("membership: etcd unavailable")

// Provider is a cluster.ClusterProvider backed by etcd. Create it with New,
// hand it to cluster.Configure, and start the cluster with Start (or
// cluster.StartMember, which panics on a start-up error). One Provider
// serves one cluster member or client, once.
type Provider struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex // guards state, startErr
	state    int
	startErr error

	// Set by start, read-only afterwards.
	cli     *clientv3.Client
	dir     string          // "<prefix>/<cluster>/": every member's key starts with it
	self    *cluster.Member // nil for a client
	key     string          // dir + self.Id
	publish func(cluster.Members)
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// Owned by the watch goroutine (after start).
	members map[string]*cluster.Member

	// Owned by the registration goroutine; Shutdown reads them after it
	// ended.
	lease  clientv3.LeaseID
	putRev int64 // the revision of our latest registration
	gone   bool  // OnSelfLost was called: we are out of the cluster

	lastMu sync.Mutex
	last   cluster.Members // as last published

	// From the watch goroutine to the registration one: the highest
	// revision at which our key was seen missing.
	lostMu  sync.Mutex
	lostRev int64
	lostNew chan struct{}
}

const (
	stateNew = iota
	stateRunning
	stateStopped
)

var _ cluster.ClusterProvider = (*Provider)(nil)

// New validates cfg (zero fields take their defaults) and returns a
// provider. It does not contact etcd: StartMember does.
func New(cfg Config) (*Provider, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Provider{cfg: cfg, lostNew: make(chan struct{}, 1)}, nil
}

// StartMember registers this member and starts following the member list.
// It returns within Config.DialTimeout (wrapping ErrUnavailable when etcd
// did not answer); cluster.StartMember calls it and panics on its error.
func (p *Provider) StartMember(c *cluster.Cluster) error {
	host, port, err := splitAddress(c.ActorSystem.Address())
	if err != nil {
		return p.failed(err)
	}
	self := &cluster.Member{Id: c.ActorSystem.ID, Host: host, Port: port, Kinds: c.GetClusterKinds()}
	return p.start(c.Config.Name, self, c.MemberList.UpdateClusterTopology, c.Logger())
}

// StartClient follows the member list without registering.
func (p *Provider) StartClient(c *cluster.Cluster) error {
	return p.start(c.Config.Name, nil, c.MemberList.UpdateClusterTopology, c.Logger())
}

// Shutdown stops following the member list and, for a member, revokes its
// lease, which deletes its key: the others drop it at once. Further calls
// return nil. protoactor calls it from cluster.Shutdown(true) only; after
// cluster.Shutdown(false), call it yourself (or let the lease expire).
func (p *Provider) Shutdown(graceful bool) error {
	p.mu.Lock()
	running := p.state == stateRunning
	p.state = stateStopped
	p.mu.Unlock()
	if !running {
		return nil
	}
	p.cancel()
	p.wg.Wait()
	var err error
	if p.self != nil && !p.gone {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DialTimeout)
		_, err = p.cli.Revoke(ctx, p.lease)
		cancel()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			err = nil
		}
	}
	err = errors.Join(err, p.cli.Close())
	if err != nil {
		return fmt.Errorf("membership: leaving: %w", err)
	}
	return nil
}

// Start starts c as a cluster member, like c.StartMember, but returns the
// provider's start-up error (etcd down, bad cluster name) instead of
// panicking with it; the half-started cluster is shut down first. c must
// be configured with a *Provider.
func Start(c *cluster.Cluster) (err error) {
	p, ok := c.Config.ClusterProvider.(*Provider)
	if !ok {
		return fmt.Errorf("membership: Start: cluster provider is %T, not *membership.Provider", c.Config.ClusterProvider)
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		p.mu.Lock()
		startErr := p.startErr
		p.mu.Unlock()
		if e, ok := r.(error); !ok || startErr == nil || e != startErr {
			panic(r)
		}
		c.Shutdown(false)
		err = startErr
	}()
	c.StartMember()
	return nil
}

// failed records a start-up error for Start and returns it.
func (p *Provider) failed(err error) error {
	p.mu.Lock()
	p.startErr = err
	p.mu.Unlock()
	return err
}

// start connects, registers self (when not nil), reads the member list,
// publishes it, and starts the watch at the revision after that read plus,
// for a member, the registration loop.
func (p *Provider) start(clusterName string, self *cluster.Member, publish func(cluster.Members), log *slog.Logger) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != stateNew {
		return errors.New("membership: provider already started (one Provider per cluster member)")
	}
	fail := func(err error) error { p.startErr = err; return err }
	if err := validClusterName(clusterName); err != nil {
		return fail(err)
	}
	p.log = p.cfg.Logger
	if p.log == nil {
		p.log = log
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("component", "membership", "cluster", clusterName)
	p.dir = p.cfg.Prefix + "/" + clusterName + "/"
	p.self, p.publish = self, publish
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   p.cfg.Endpoints,
		DialTimeout: p.cfg.DialTimeout,
		Logger:      zap.NewNop(),
		// gRPC's default reconnect backoff grows to 2 minutes: after a long
		// etcd outage the member would stay away that long.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: p.cfg.TTL / 3},
			MinConnectTimeout: p.cfg.DialTimeout,
		})},
	})
	if err != nil {
		return fail(fmt.Errorf("membership: etcd client: %w", err))
	}
	p.cli = cli

	// One bound for the whole start-up: etcd requests wait for a
	// connection for as long as their context allows.
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DialTimeout)
	defer cancel()
	unavailable := func(err error) error {
		if p.lease != 0 { // registered but could not read: do not linger for a TTL
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = cli.Revoke(rctx, p.lease)
			cancel()
		}
		_ = cli.Close()
		return fail(fmt.Errorf("%w: %s did not answer within %v: %v",
			ErrUnavailable, strings.Join(p.cfg.Endpoints, ","), p.cfg.DialTimeout, err))
	}
	if self != nil {
		p.key = p.dir + self.Id
		if err := p.register(ctx); err != nil {
			return unavailable(err)
		}
	}
	// Everyone registered before this read is in it; everyone after is
	// at a later revision, which the watch starts from.
	resp, err := cli.Get(ctx, p.dir, clientv3.WithPrefix())
	if err != nil {
		return unavailable(err)
	}
	p.members = p.decodeAll(resp.Kvs)
	p.publishMembers()

	p.log.Info("membership: started", "member", p.selfID(), "members", len(p.members))

	run, stop := context.WithCancel(context.Background())
	p.cancel = stop
	p.wg.Add(1)
	go p.watchLoop(run, resp.Header.Revision)
	if self != nil {
		p.wg.Add(1)
		go p.registrationLoop(run)
	}
	p.state = stateRunning
	return nil
}

// register takes a new lease and puts our key under it.
func (p *Provider) register(ctx context.Context) error {
	value, err := protojson.Marshal(p.self)
	if err != nil {
		return err
	}
	lease, err := p.cli.Grant(ctx, int64(p.cfg.TTL/time.Second))
	if err != nil {
		return err
	}
	put, err := p.cli.Put(ctx, p.key, string(value), clientv3.WithLease(lease.ID))
	if err != nil {
		return err
	}
	p.lease, p.putRev = lease.ID, put.Header.Revision
	return nil
}

// registrationLoop refreshes the lease every TTL/3. While etcd is
// unreachable it retries with backoff and the member keeps its last member
// list; once the registration is gone (lease not found, or our key seen
// deleted) it hands over to selfLost.
func (p *Provider) registrationLoop(ctx context.Context) {
	defer p.wg.Done()
	interval := p.cfg.TTL / 3
	timer := time.NewTimer(interval)
	defer timer.Stop()
	failures := 0
	var downSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.lostNew:
			p.lostMu.Lock()
			rev := p.lostRev
			p.lostMu.Unlock()
			if rev > p.putRev && !p.selfLost(ctx, "its key was deleted") {
				return
			}
			continue
		case <-timer.C:
		}
		rctx, cancel := context.WithTimeout(ctx, min(interval, p.cfg.DialTimeout))
		_, err := p.cli.KeepAliveOnce(rctx, p.lease)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if failures > 0 {
				p.log.Info("membership: etcd reachable again", "member", p.selfID(), "after", time.Since(downSince).Round(time.Millisecond))
			}
			failures = 0
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			if !p.selfLost(ctx, "its lease expired or was revoked") {
				return
			}
			failures = 0
		default:
			if failures == 0 {
				downSince = time.Now()
				p.log.Warn("membership: etcd unreachable, keeping the last member list", "member", p.selfID(), "error", err)
			}
			failures++
		}
		timer.Reset(retryAfter(failures, interval))
	}
}

// selfLost handles the loss of our registration: with OnSelfLost it calls
// it and reports false (stop the registration loop); without, it registers
// again (retrying until it succeeds or ctx ends) and reports whether it
// did.
func (p *Provider) selfLost(ctx context.Context, why string) bool {
	if p.cfg.OnSelfLost != nil {
		p.log.Error("membership: this member is no longer in the member list; calling OnSelfLost", "member", p.selfID(), "why", why)
		p.gone = true
		go p.cfg.OnSelfLost()
		return false
	}
	p.log.Error("membership: this member is no longer in the member list; registering it again "+
		"(peers that saw it leave keep its ID blocked: set OnSelfLost to restart it instead)", "member", p.selfID(), "why", why)
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
		err := p.register(rctx)
		cancel()
		if err == nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(retryAfter(attempt+1, p.cfg.TTL/3)):
		}
	}
}

// noteLost tells the registration loop that our key was missing at rev.
func (p *Provider) noteLost(rev int64) {
	p.lostMu.Lock()
	p.lostRev = max(p.lostRev, rev)
	p.lostMu.Unlock()
	select {
	case p.lostNew <- struct{}{}:
	default:
	}
}

// watchLoop follows the member list from rev+1. When a watch ends (etcd
// lost its leader, the revision was compacted) it reads the whole list
// again, retrying with backoff, and watches on from that read. While etcd
// is unreachable the client keeps the watch open and the last published
// member list stands.
func (p *Provider) watchLoop(ctx context.Context, rev int64) {
	defer p.wg.Done()
	for {
		p.watch(ctx, rev)
		for failures := 0; ; failures++ {
			if ctx.Err() != nil {
				return
			}
			read, err := p.resync(ctx)
			if err == nil {
				rev = read
				break
			}
			if failures == 0 {
				p.log.Warn("membership: cannot read the member list, keeping the last one", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryAfter(failures+1, p.cfg.TTL/3)):
			}
		}
	}
}

// watch applies watch events from rev+1 on until the watch ends (the caller
// then reads the whole list again).
func (p *Provider) watch(ctx context.Context, rev int64) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range p.cli.Watch(wctx, p.dir, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			if ctx.Err() == nil {
				p.log.Warn("membership: watch ended, reading the member list again", "error", err)
			}
			return
		}
		changed := false
		for _, ev := range resp.Events {
			changed = p.apply(ev) || changed
		}
		if changed {
			p.publishMembers()
		}
	}
}

// apply applies one watch event to the member list and reports whether
// the list changed. Our own key is not applied (we are always in our own
// list); its deletion is reported to the registration loop.
func (p *Provider) apply(ev *clientv3.Event) bool {
	id := strings.TrimPrefix(string(ev.Kv.Key), p.dir)
	if p.self != nil && id == p.self.Id {
		if ev.Type == mvccpb.DELETE {
			p.noteLost(ev.Kv.ModRevision)
		}
		return false
	}
	switch ev.Type {
	case mvccpb.PUT:
		m := p.decode(ev.Kv)
		if m == nil {
			return false
		}
		old := p.members[id]
		p.members[id] = m
		return old == nil || !proto.Equal(old, m)
	case mvccpb.DELETE:
		_, ok := p.members[id]
		delete(p.members, id)
		return ok
	}
	return false
}

// resync reads the whole member list, publishes it if it changed, and
// returns the read's revision.
func (p *Provider) resync(ctx context.Context) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	resp, err := p.cli.Get(rctx, p.dir, clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	read := p.decodeAll(resp.Kvs)
	if p.self != nil && !slices.ContainsFunc(resp.Kvs, func(kv *mvccpb.KeyValue) bool { return string(kv.Key) == p.key }) {
		p.noteLost(resp.Header.Revision)
	}
	if !maps.EqualFunc(read, p.members, func(a, b *cluster.Member) bool { return proto.Equal(a, b) }) {
		p.members = read
		p.publishMembers()
	}
	return resp.Header.Revision, nil
}

// decodeAll builds a member list from a read, with self in it.
func (p *Provider) decodeAll(kvs []*mvccpb.KeyValue) map[string]*cluster.Member {
	members := make(map[string]*cluster.Member, len(kvs)+1)
	for _, kv := range kvs {
		if m := p.decode(kv); m != nil {
			members[m.Id] = m
		}
	}
	if p.self != nil {
		members[p.self.Id] = p.self
	}
	return members
}

// decode reads one member's key; it logs and skips a malformed one.
func (p *Provider) decode(kv *mvccpb.KeyValue) *cluster.Member {
	var m cluster.Member
	err := protojson.Unmarshal(kv.Value, &m)
	if err == nil && p.dir+m.Id != string(kv.Key) {
		err = fmt.Errorf("member id %q does not match the key", m.Id)
	}
	if err != nil {
		p.log.Warn("membership: skipping a malformed member", "key", string(kv.Key), "error", err)
		return nil
	}
	return &m
}

// publishMembers hands the member list, sorted by id, to the cluster.
func (p *Provider) publishMembers() {
	list := make(cluster.Members, 0, len(p.members))
	for _, m := range p.members {
		list = append(list, m)
	}
	slices.SortFunc(list, func(a, b *cluster.Member) int { return strings.Compare(a.Id, b.Id) })
	p.publish(list)
	// After publish returned: Members promises that the cluster took it.
	p.lastMu.Lock()
	p.last = list
	p.lastMu.Unlock()
}

// Members returns the member list as last published to the cluster (this
// member included), sorted by id. It changes only once the cluster has
// taken the list (its UpdateClusterTopology returned, so its identity
// lookup places grains by it); protoactor's own MemberList.Members changes
// earlier, before the identity lookup hears of the change.
func (p *Provider) Members() cluster.Members {
	p.lastMu.Lock()
	defer p.lastMu.Unlock()
	return slices.Clone(p.last)
}

func (p *Provider) selfID() string {
	if p.self == nil {
		return "(client)"
	}
	return p.self.Id
}

// retryAfter is 100 ms doubled per failure, capped at limit.
func retryAfter(failures int, limit time.Duration) time.Duration {
	if failures <= 0 {
		return limit
	}
	return min(100*time.Millisecond<<min(failures-1, 16), limit)
}

// splitAddress splits the actor system's address; the remote must be
// started (cluster.StartMember does it before calling the provider).
func splitAddress(addr string) (string, int32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		if n, err = strconv.Atoi(port); err == nil && n > 0 && n <= 65535 {
			return host, int32(n), nil
		}
	}
	return "", 0, fmt.Errorf("membership: actor system address %q is not host:port (remote not started?)", addr)
}
