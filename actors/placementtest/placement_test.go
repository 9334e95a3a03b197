// Package placementtest runs several cluster-mode nodes (actor system,
// session layer, layers, protoactor cluster with the routers of
// actors.Placement) in one process over one database. protoactor's cluster
// and remote code race inside themselves, so the Makefile runs this package
// without -race.
package placementtest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
	"github.com/semvec-go/semvec/vecmath"
	"github.com/semvec-go/semvec/vecmath/embed"
)

const dim = 64

type node struct {
	sessions *actors.Sessions
	layers   *actors.Layers
	place    *actors.Placement
	c        *cluster.Cluster
	provider *test.Provider
	store    *persistence.Store
}

// startNodes starts n members on a new in-memory membership agent and one
// database (a SQLite file path, or a postgresql:// URL), and waits until
// each sees all of them.
func startNodes(t testing.TB, n int, db string) []*node {
	return startNodesOn(t, test.NewInMemAgent(), n, db)
}

// startNodesOn is startNodes on agent: the members start at once.
func startNodesOn(t testing.TB, agent *test.InMemAgent, n int, db string) []*node {
	return startCappedNodesOn(t, agent, n, db, 0)
}

// startCappedNodesOn is startNodesOn with members that hold at most
// maxSessions sessions in memory each (0: the default, no cap).
func startCappedNodesOn(t testing.TB, agent *test.InMemAgent, n int, db string, maxSessions int) []*node {
	t.Helper()
	nodes := make([]*node, n)
	var wg sync.WaitGroup
	for i := range nodes {
		nodes[i] = newCappedNode(t, agent, db, maxSessions)
		wg.Add(1)
		go func() { defer wg.Done(); nodes[i].c.StartMember() }()
	}
	wg.Wait()
	for _, nd := range nodes {
		nd.place.Start(nd.c)
	}
	eventually(t, 10*time.Second, "every member sees every other", func() bool {
		for _, nd := range nodes {
			if nd.c.MemberList.Members().Len() != n {
				return false
			}
		}
		return true
	})
	return nodes
}

// joinNode starts one more member on agent and db.
func joinNode(t testing.TB, agent *test.InMemAgent, db string) *node {
	nd := newNode(t, agent, db)
	nd.c.StartMember()
	nd.place.Start(nd.c)
	return nd
}

// newNode builds a member (not started) on agent and db; it stops when
// the test ends.
func newNode(t testing.TB, agent *test.InMemAgent, db string) *node {
	t.Helper()
	return newCappedNode(t, agent, db, 0)
}

// newCappedNode is newNode holding at most maxSessions sessions in memory
// (0: no cap).
func newCappedNode(t testing.TB, agent *test.InMemAgent, db string, maxSessions int) *node {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	url := db
	if !strings.HasPrefix(db, "postgres") {
		url = "sqlite:///" + db
	}
	// TestDriftAfterMemberJoins puts one session in 16 clusters, so that
	// some move when a member joins: above the default cap of 8.
	store, err := persistence.Open(context.Background(), url, persistence.WithMaxParents(16))
	if err != nil {
		t.Fatal(err)
	}
	sys := actors.NewActorSystem(log)
	ask := &actors.Asker{Root: sys.Root, Timeout: 3 * time.Second}
	s := actors.NewSessions(sys.Root, store, ask, actors.SessionConfig{Dim: dim, ModelName: "test", MaxSessions: maxSessions}, log, nil)
	l := actors.NewLayers(sys.Root, store, ask, s, log, nil)
	p := actors.NewPlacement(s, l, log)
	p.RouterIdle = 300 * time.Millisecond
	provider := test.NewTestProvider(agent, test.WithTestProviderServiceTtl(time.Second), test.WithTestProviderRefreshTtl(200*time.Millisecond))
	c := cluster.New(sys, cluster.Configure("semvec-test", provider, disthash.New(), remote.Configure("127.0.0.1", 0),
		cluster.WithKinds(p.Kinds()...)))
	nd := &node{sessions: s, layers: l, place: p, c: c, provider: provider, store: store}
	t.Cleanup(nd.stop)
	return nd
}

func (nd *node) stop() {
	if nd.c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = nd.layers.Shutdown(ctx)
	_ = nd.sessions.Shutdown(ctx)
	nd.place.Close(ctx)
	nd.c.Shutdown(false) // stops the actor system too
	_ = nd.store.Close()
	nd.c = nil
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func run(ctx context.Context, nd *node, owner, id string, k int) (*pb.RunResponse, error) {
	h := embed.NewHashing(dim)
	msg := fmt.Sprintf("what do we know about topic %d of %s", k, id)
	resp := fmt.Sprintf("fact %d of %s", k, id)
	return actors.AskSession[*pb.RunResponse](ctx, nd.sessions, id, &pb.RunRequest{Owner: owner, SessionId: id,
		Message: msg, Response: resp, MessageVec: h.EmbedTo(nil, msg), ResponseVec: h.EmbedTo(nil, resp),
		ShortCircuitThreshold: 0.99, NowUnixNano: time.Now().UnixNano()})
}

func turns(t *testing.T, nd *node, owner, id string) int64 {
	t.Helper()
	m, err := actors.AskSession[*pb.MetricsResponse](context.Background(), nd.sessions, id, &pb.MetricsRequest{Owner: owner, SessionId: id})
	if err != nil {
		t.Fatalf("metrics of %s: %v", id, err)
	}
	return m.GetInteractionCount()
}

// createSessions creates n sessions of owner through nd.
func createSessions(t *testing.T, nd *node, owner string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := nd.sessions.Create(context.Background(), owner, actors.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// TestSessionsSpreadAndAnswerThroughEveryNode: sessions created through one
// node live on the members that own their ids, each on exactly one; every
// node serves every session, and a deletion through one node is seen
// through the others.
func TestSessionsSpreadAndAnswerThroughEveryNode(t *testing.T) {
	nodes := startNodes(t, 3, filepath.Join(t.TempDir(), "shared.db"))
	ctx := context.Background()
	const n = 24
	ids := createSessions(t, nodes[0], "o", n)
	for round := range 3 {
		for i, id := range ids {
			if _, err := run(ctx, nodes[(i+round)%3], "o", id, round); err != nil {
				t.Fatalf("turn %d of %s through node %d: %v", round, id, (i+round)%3, err)
			}
		}
	}
	total := 0
	for i, nd := range nodes {
		a := nd.sessions.Active()
		t.Logf("node %d hosts %d sessions", i, a)
		if a == 0 {
			t.Errorf("node %d hosts no session: placement did not spread them", i)
		}
		total += a
	}
	if total != n {
		t.Fatalf("%d session actors across the nodes for %d sessions: some run twice", total, n)
	}
	for _, id := range ids {
		for i, nd := range nodes {
			if got := turns(t, nd, "o", id); got != 3 {
				t.Fatalf("%s through node %d: %d turns, want 3", id, i, got)
			}
		}
	}
	// Tenancy holds across nodes: another owner's request for the id is a 404.
	if _, err := actors.AskSession[*pb.MetricsResponse](ctx, nodes[1].sessions, ids[0], &pb.MetricsRequest{Owner: "other", SessionId: ids[0]}); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("another owner's metrics: %v, want not found", err)
	}
	// Deleted through node 2, gone through every node.
	for _, id := range ids[:6] {
		if err := nodes[2].sessions.Delete(ctx, "o", id); err != nil {
			t.Fatal(err)
		}
		for i, nd := range nodes {
			if _, err := actors.AskSession[*pb.MetricsResponse](ctx, nd.sessions, id, &pb.MetricsRequest{Owner: "o", SessionId: id}); semvec.KindOf(err) != semvec.KindNotFound {
				t.Fatalf("deleted %s through node %d: %v, want not found", id, i, err)
			}
		}
	}
	// Routers never outnumber actors: one per live session, none left for
	// the deleted ones (their routers stopped with their actors, or after
	// failing to activate them).
	eventually(t, 10*time.Second, "one router per live session", func() bool {
		routers, actives := int32(0), 0
		for _, nd := range nodes {
			routers += nd.c.GetClusterKind("session").Count()
			actives += nd.sessions.Active()
		}
		if routers != n-6 || actives != n-6 {
			t.Logf("routers %d, actors %d", routers, actives)
		}
		return routers == n-6 && actives == n-6
	})
}

// TestNodeLossLosesNothing: a member stops without passivating anything
// (its process died); its sessions move to the survivors, which activate
// them from the database with every acknowledged turn, after at most a few
// 503s while the membership changes.
func TestNodeLossLosesNothing(t *testing.T) {
	nodes := startNodes(t, 3, filepath.Join(t.TempDir(), "shared.db"))
	ctx := context.Background()
	const n = 24
	ids := createSessions(t, nodes[0], "o", n)
	for i, id := range ids {
		for k := range 2 {
			if _, err := run(ctx, nodes[i%3], "o", id, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Node 2 dies: nothing is passivated or saved, and the membership drops
	// it (as etcd does once its lease runs out).
	dead := nodes[2]
	dead.sessions.Abandon()
	_ = dead.provider.Shutdown(false)
	dead.c.Shutdown(false)
	dead.c = nil
	survivors := nodes[:2]
	unavailable := 0
	for i, id := range ids {
		nd := survivors[i%2]
		for attempt := 0; ; attempt++ {
			rctx, cancel := context.WithTimeout(ctx, 4*time.Second)
			_, err := run(rctx, nd, "o", id, 2)
			cancel()
			if err == nil {
				break
			}
			if semvec.KindOf(err) != semvec.KindUnavailable || attempt == 20 {
				t.Fatalf("turn of %s after the node loss (attempt %d): %v, want success or 503", id, attempt, err)
			}
			unavailable++
			t.Logf("attempt %d: %v (members %d/%d)", attempt, err, survivors[0].c.MemberList.Members().Len(), survivors[1].c.MemberList.Members().Len())
			time.Sleep(250 * time.Millisecond)
		}
	}
	t.Logf("503s during the failover: %d", unavailable)
	for _, id := range ids {
		if got := turns(t, survivors[0], "o", id); got != 3 {
			t.Fatalf("%s after the failover: %d turns, want the 2 acknowledged before it and 1 after", id, got)
		}
	}
}

// topic is a unit vector on axis k with a little of axis 8+j%8: turns on one
// topic are steady, a turn on another drifts.
func topic(k, j int) []float32 {
	v := make([]float32, dim)
	v[k], v[8+(j%8)] = 1, 0.15
	vecmath.Normalize(v)
	return v
}

func turn(t *testing.T, nd *node, owner, sid string, vec []float32) *pb.RunResponse {
	t.Helper()
	res, err := actors.AskSession[*pb.RunResponse](context.Background(), nd.sessions, sid, &pb.RunRequest{
		Owner: owner, SessionId: sid, Message: fmt.Sprintf("turn %v", vec[:3]), MessageVec: vec,
		ShortCircuitThreshold: 0.85, NowUnixNano: time.Now().UnixNano()})
	if err != nil {
		t.Fatalf("run on %s: %v", sid, err)
	}
	return res
}

// TestDriftCrossesNodes: a session on one member, its cluster on a second
// and the cluster's region on a third; the session's drift event travels
// session → cluster → region as messages between the members, and the
// region's realignment reaches the cluster's session back.
func TestDriftCrossesNodes(t *testing.T) {
	nodes := startNodes(t, 3, filepath.Join(t.TempDir(), "shared.db"))
	ctx := context.Background()
	const own = "tenant"
	host := func(kind, id string) string {
		a, err := nodes[0].place.HostOf(ctx, kind, own, id)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// Placement hashes the ids: create one of each until some session,
	// cluster and region sit on three different members (6 rounds almost
	// always do; 30 leave no chance to luck).
	hosts := map[string]map[string]string{"session": {}, "cluster": {}, "region": {}} // kind → id → member
	var sid, cid, rid string
	for round := 0; sid == "" && round < 30; round++ {
		s, err := nodes[0].sessions.Create(ctx, own, actors.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := nodes[1].layers.CreateCluster(ctx, own, "c", actors.AggregationWeightedAverage, 0)
		if err != nil {
			t.Fatal(err)
		}
		r, err := nodes[2].layers.CreateRegion(ctx, own, "r", 0.5, 60)
		if err != nil {
			t.Fatal(err)
		}
		hosts["session"][s], hosts["cluster"][c.ID], hosts["region"][r.ID] = host("session", s), host("cluster", c.ID), host("region", r.ID)
	search:
		for s, hs := range hosts["session"] {
			for c, hc := range hosts["cluster"] {
				for r, hr := range hosts["region"] {
					if hs != hc && hc != hr && hs != hr {
						sid, cid, rid = s, c, r
						break search
					}
				}
			}
		}
	}
	if sid == "" {
		t.Fatal("no session, cluster and region on three different members among 30 of each")
	}
	if _, err := nodes[1].layers.AddMember(ctx, own, cid, sid); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[2].layers.AttachCluster(ctx, own, rid, cid); err != nil {
		t.Fatal(err)
	}
	for j := range 3 { // the cluster's own session gets a state
		turn(t, nodes[j], own, cid, topic(1, j))
	}
	for j := range 5 {
		if res := turn(t, nodes[j%3], own, sid, topic(2, j)); res.GetDriftDetected() {
			t.Fatalf("steady turn %d drifted", j)
		}
	}
	if res := turn(t, nodes[0], own, sid, topic(5, 0)); !res.GetDriftDetected() {
		t.Fatal("the topic switch detected no drift")
	}
	var events []*pb.RegionDriftEvent
	eventually(t, 10*time.Second, "the drift event reaches the region", func() bool {
		evs, err := nodes[1].layers.RegionEvents(ctx, own, rid, 20)
		if err != nil {
			t.Fatal(err)
		}
		events = evs
		return len(evs) > 0
	})
	if len(events) != 1 || events[0].GetSessionId() != sid || events[0].GetClusterId() != cid {
		t.Fatalf("region events: %v", events)
	}
	// 1 of 1 attached clusters voted: the region realigns.
	eventually(t, 10*time.Second, "the realignment", func() bool {
		rs, err := nodes[0].layers.RegionState(ctx, own, rid, 20)
		if err != nil {
			t.Fatal(err)
		}
		return rs.GetRealignments() == 1
	})
}
