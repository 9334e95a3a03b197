package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/semvec-go/semvec/actors/membership"
)

// ErrMembershipLost is what Server.Lost's owner returns when this node
// dropped out of the cluster's member list (its etcd lease expired while it
// was paused or cut off, or its key was deleted). protoactor never lets a
// member id that left come back, so the process must end and be restarted
// by its supervisor; semvec serve exits with status 3.
var ErrMembershipLost = errors.New("cluster membership lost: this node is no longer in the member list; exiting so that the supervisor restarts it")

// clusterNode is this process's membership in a semvec-go cluster: the
// protoactor cluster on the server's actor system, with the etcd
// membership provider.
type clusterNode struct {
	c    *cluster.Cluster
	p    *membership.Provider
	log  *slog.Logger
	sys  *actor.ActorSystem
	sub  *eventstream.Subscription // topology events
	lost chan struct{}             // closed once by OnSelfLost

	members atomic.Int32 // members in the latest topology, self included
	self    atomic.Bool  // whether the latest topology lists this node
	left    sync.Once
}

// A member tells its peers how it is configured through marker kinds,
// "semvec.<setting>:<value>", on which nothing is ever placed: they travel
// in its etcd record with the grain kinds, and a member joining compares
// them with those of every member it sees (sameSetting).
const markerPrefix = "semvec."

// marker is one setting a member advertises.
type marker struct{ setting, value string }

func (m marker) kind() string { return markerPrefix + m.setting + ":" + m.value }

// startCluster builds the protoactor cluster on sys with the grain kinds
// and starts it as a member. It returns within the membership provider's
// start-up bound, with a clear error when etcd does not answer or the
// remote port cannot be bound, or when a member it sees embeds otherwise.
// embedder ("name/dim") and licenceKeys (the key ids of the licence keys
// it trusts) are this node's. Every member must embed alike: the member
// that takes a request embeds its text and the member that owns the
// session applies the vector, so a member with another dimension answered
// every request it relayed to the others' sessions with 422 and created
// sessions (stored) that the others could not use. Members trusting other
// licence keys only get a warning: a rotation adds the new key one member
// at a time. On error nothing is left running, and sys has been shut down
// (protoactor's cluster shutdown closes it).
//
// beforeJoin, when not nil, gets the cluster once it is built and before
// it joins: the other members route grains to this node from the moment
// it registers (a second before StartMember returns), and the actors those
// grains activate ask and tell other identities, which must then already
// go through the placement (see server.Start), not to this node's own
// registries as in single-node mode.
func startCluster(cfg ClusterConfig, embedder, licenceKeys string, sys *actor.ActorSystem, kinds []*cluster.Kind, log *slog.Logger, beforeJoin func(*cluster.Cluster)) (*clusterNode, error) {
	n := &clusterNode{sys: sys, log: log.With("component", "cluster"), lost: make(chan struct{})}
	lostOnce := sync.Once{}
	p, err := membership.New(membership.Config{
		Endpoints: cfg.Etcd,
		TTL:       cfg.TTL,
		Logger:    log,
		OnSelfLost: func() {
			lostOnce.Do(func() {
				n.log.Error("this node is no longer in the cluster's member list (its etcd lease expired or its key was removed); leaving so that the supervisor restarts it", "member", sys.ID)
				close(n.lost)
			})
		},
	})
	if err != nil {
		return nil, fmt.Errorf("SEMVEC_CLUSTER: %w", err)
	}
	n.p = p
	// gRPC's 4 MiB default would refuse (and break the link over) an
	// import or export of a session owned by another node: those carry a
	// state_dict of up to ~32 MiB, and protoactor batches messages.
	ropts := []remote.ConfigOption{
		remote.WithServerOptions(grpc.MaxRecvMsgSize(maxRemoteMessageBytes), grpc.MaxSendMsgSize(maxRemoteMessageBytes)),
		remote.WithCallOptions(grpc.MaxCallSendMsgSize(maxRemoteMessageBytes), grpc.MaxCallRecvMsgSize(maxRemoteMessageBytes)),
	}
	if cfg.Advertise != "" {
		ropts = append(ropts, remote.WithAdvertisedHost(cfg.Advertise))
	}
	emb, keys := marker{"embedder", embedder}, marker{"licence-keys", licenceKeys}
	kinds = slices.Clone(kinds)
	for _, m := range []marker{emb, keys} {
		kinds = append(kinds, cluster.NewKind(m.kind(), actor.PropsFromFunc(func(actor.Context) {})))
	}
	opts := []cluster.ConfigOption{cluster.WithKinds(kinds...)}
	n.c = cluster.New(sys, cluster.Configure(cfg.Name, p, disthash.New(), remote.Configure(cfg.Host, cfg.Port, ropts...), opts...))

	// The member count for readiness and metrics comes from protoactor's
	// own topology events (MemberList.Members is read without its lock).
	n.sub = sys.EventStream.Subscribe(func(evt any) {
		t, ok := evt.(*cluster.ClusterTopology)
		if !ok {
			return
		}
		n.members.Store(int32(len(t.Members)))
		n.self.Store(slices.ContainsFunc(t.Members, func(m *cluster.Member) bool { return m.Id == sys.ID }))
	})

	if beforeJoin != nil {
		beforeJoin(n.c)
	}
	if err := startMember(n.c); err != nil {
		sys.EventStream.Unsubscribe(n.sub)
		if errors.Is(err, membership.ErrUnavailable) {
			return nil, fmt.Errorf("SEMVEC_CLUSTER_ETCD: cannot join cluster %q: %w", cfg.Name, err)
		}
		return nil, fmt.Errorf("SEMVEC_CLUSTER: cannot join cluster %q: %w", cfg.Name, err)
	}
	if err := n.sameSetting(emb); err != nil {
		n.kill()
		return nil, fmt.Errorf("SEMVEC_EMBEDDER/SEMVEC_EMBEDDER_DIM: cannot join cluster %q: %w: every member needs the same embedder and dimension", cfg.Name, err)
	}
	if err := n.sameSetting(keys); err != nil {
		n.log.Warn("another member trusts other licence keys: a token may be accepted by one member and refused (401) by another; "+
			"give every member the same SEMVEC_LICENSE_PUBLIC_KEY (during a rotation, the old and the new key)", "err", err)
	}
	n.log.Info("joined the cluster", "cluster", cfg.Name, "member", sys.ID, "address", sys.Address(),
		"etcd", strings.Join(cfg.Etcd, ","), "members", n.members.Load())
	return n, nil
}

// sameSetting checks that every other member this node sees advertises
// m's setting with m's value (members that advertise none, of an earlier
// version, are let be). It is checked once, after joining: two members
// started at the same moment may miss each other.
func (n *clusterNode) sameSetting(m marker) error {
	prefix := markerPrefix + m.setting + ":"
	for _, peer := range n.p.Members() {
		if peer.Id == n.sys.ID {
			continue
		}
		for _, k := range peer.Kinds {
			if v, ok := strings.CutPrefix(k, prefix); ok && v != m.value {
				return fmt.Errorf("member %s at %s:%d has %s %s, this node %s", peer.Id, peer.Host, peer.Port, m.setting, v, m.value)
			}
		}
	}
	return nil
}

// startMember is membership.Start that also turns protoactor's panic on a
// remote port it cannot bind into an error (after shutting down what was
// started).
func startMember(c *cluster.Cluster) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		e, ok := r.(error)
		if !ok || !strings.HasPrefix(e.Error(), "failed to listen") {
			panic(r)
		}
		c.ActorSystem.Shutdown()
		err = fmt.Errorf("SEMVEC_CLUSTER_HOST/SEMVEC_CLUSTER_PORT: %w", e)
	}()
	return membership.Start(c)
}

// Members reports how many members this node sees and whether it is one.
func (n *clusterNode) Members() (int, bool) {
	return int(n.members.Load()), n.self.Load()
}

// registerMetrics adds semvec_cluster_members to reg.
func (n *clusterNode) registerMetrics(reg prometheus.Registerer) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "semvec_cluster_members",
		Help: "Members of the cluster this node sees in its member list, itself included.",
	}, func() float64 { return float64(n.members.Load()) }))
}

// leave leaves the cluster gracefully: the node's etcd key is revoked (the
// others drop it at once), protoactor waits for grain ownership to move
// (2 s) and stops its remote listener. It returns when ctx ends first,
// leaving the rest to the process's exit. protoactor's cluster shutdown
// also shuts the actor system down.
func (n *clusterNode) leave(ctx context.Context) error {
	var err error
	n.left.Do(func() {
		n.sys.EventStream.Unsubscribe(n.sub)
		done := make(chan struct{})
		go func() { defer close(done); n.c.Shutdown(true) }()
		select {
		case <-done:
			n.log.Info("left the cluster")
		case <-ctx.Done():
			err = fmt.Errorf("leaving the cluster: %w", ctx.Err())
		}
	})
	return err
}

// kill stops the node at once, without protoactor's graceful wait. It is
// not quite a crash: the provider's lease refresh runs in this process, so
// to stop it the provider shuts down, which revokes the lease (the others
// drop the node at once instead of after a TTL). A real crash is a killed
// process (cmd/semvec/clustertest).
func (n *clusterNode) kill() {
	n.left.Do(func() {
		n.sys.EventStream.Unsubscribe(n.sub)
		_ = n.p.Shutdown(false)
		n.c.Shutdown(false)
	})
}

// maxRemoteMessageBytes bounds one gRPC message between members (a batch of
// actor messages): far above an import's body (at most 32 MiB and its
// envelope) times the few a member receives at once under its body budget.
// gRPC allocates what a message holds, not this.
const maxRemoteMessageBytes = 1 << 30
