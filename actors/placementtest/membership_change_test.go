package placementtest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"

	"github.com/semvec-go/semvec/actors"
	pb "github.com/semvec-go/semvec/proto"
)

// TestDriftAfterMemberJoins: a member joins; identities move to
// it; the routers on their old members are poisoned by disthash, but the
// other members' PidCaches keep the dead router PIDs (protoactor removes
// cache entries only for members that LEFT). Placement.deliver sends the
// drift notifications to the dead PIDs: they are dead-lettered and lost,
// and nothing ever forgets the stale entry on the tell path.
func TestDriftAfterMemberJoins(t *testing.T) {
	db := filepath.Join(t.TempDir(), "shared.db")
	agent := test.NewInMemAgent()
	nodes := startNodesOn(t, agent, 3, db)
	ctx := context.Background()
	const own = "tenant"
	sid, err := nodes[0].sessions.Create(ctx, own, actors.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := nodes[0].place.HostOf(ctx, "session", own, sid)
	var hostNode *node
	for _, nd := range nodes {
		if nd.c.ActorSystem.Address() == sh {
			hostNode = nd
		}
	}
	var cids []string
	before := map[string]string{}
	for i := range 16 {
		c, err := nodes[0].layers.CreateCluster(ctx, own, fmt.Sprint("c", i), actors.AggregationWeightedAverage, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nodes[0].layers.AddMember(ctx, own, c.ID, sid); err != nil {
			t.Fatal(err)
		}
		cids = append(cids, c.ID)
	}
	for j := range 5 {
		turn(t, nodes[j%3], own, sid, topic(2, j))
	}
	if res := turn(t, nodes[0], own, sid, topic(5, 0)); !res.GetDriftDetected() {
		t.Fatal("no drift")
	}
	drift := func(nd *node, cid string) int64 {
		st, err := nd.layers.ClusterState(ctx, own, cid)
		if err != nil {
			t.Fatal(err)
		}
		return st.GetDriftEvents()
	}
	eventually(t, 10*time.Second, "first drift reaches every cluster", func() bool {
		for _, c := range cids {
			if drift(hostNode, c) != 1 {
				return false
			}
		}
		return true
	})
	for _, c := range cids {
		before[c], _ = hostNode.place.HostOf(ctx, "cluster", own, c) // cached on the session's member
	}
	// A fourth member joins.
	n4 := joinFourth(t, nodes, agent, db)
	var moved []string
	for _, c := range cids {
		now, _ := n4.place.HostOf(ctx, "cluster", own, c)
		if now != before[c] && before[c] != sh {
			moved = append(moved, c)
		}
	}
	t.Logf("clusters moved away from a member other than the session's: %d of %d", len(moved), len(cids))
	if len(moved) == 0 {
		t.Skip("no cluster moved")
	}
	// Drift again.
	for j := range 5 {
		turn(t, nodes[j%3], own, sid, topic(5, j))
	}
	if res := turn(t, nodes[0], own, sid, topic(7, 0)); !res.GetDriftDetected() {
		t.Fatal("no second drift")
	}
	time.Sleep(2 * time.Second)
	lost := 0
	for _, c := range moved {
		// Ask through the new member (not the session's one, whose cache is stale).
		if d := drift(n4, c); d == 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d moved clusters never received the second drift event (dead-lettered at a stale router PID)", lost, len(moved))
	}
}

var _ = pb.DriftEvent{}

// TestNoStaleActorAfterMembershipFlip: a member joins, sessions move to it
// (disthash poisons their routers on the old members, but the session actors
// there keep running); turns are acknowledged on the new member; the new
// member leaves again, the identities come back, and the new routers on the
// old members adopt the stale actors: reads miss acknowledged turns.
func TestNoStaleActorAfterMembershipFlip(t *testing.T) {
	db := filepath.Join(t.TempDir(), "shared.db")
	agent := test.NewInMemAgent()
	nodes := startNodesOn(t, agent, 3, db)
	ctx := context.Background()
	const n = 16
	var ids []string
	for i := range n {
		id, err := nodes[0].sessions.Create(ctx, "o", actors.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := run(ctx, nodes[i%3], "o", id, 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	n4 := joinFourth(t, nodes, agent, db)
	active := 0
	for _, nd := range nodes {
		active += nd.sessions.Active()
	}
	var moved []string
	for _, id := range ids {
		if h, _ := n4.place.HostOf(ctx, "session", "o", id); h == n4.c.ActorSystem.Address() {
			moved = append(moved, id)
		}
	}
	t.Logf("moved to the new member: %d; session actors still running on the old three: %d", len(moved), active)
	for _, id := range moved {
		for attempt := 0; ; attempt++ {
			_, err := run(ctx, n4, "o", id, 1)
			if err == nil {
				break
			}
			if attempt == 10 {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The new member leaves gracefully (passivates, then leaves).
	{
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = n4.layers.Shutdown(sctx)
		_ = n4.sessions.Shutdown(sctx)
		cancel()
		_ = n4.provider.Shutdown(true)
		n4.place.Close(ctx)
		n4.c.Shutdown(true)
		n4.c = nil
	}
	eventually(t, 10*time.Second, "every member sees 3", func() bool {
		for _, nd := range nodes {
			if nd.c.MemberList.Members().Len() != 3 {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond)
	stale := 0
	for _, id := range moved {
		for i, nd := range nodes {
			m, err := actors.AskSession[*pb.MetricsResponse](ctx, nd.sessions, id, &pb.MetricsRequest{Owner: "o", SessionId: id})
			if err != nil {
				t.Logf("metrics of %s through %d: %v", id, i, err)
				continue
			}
			if m.GetInteractionCount() != 2 {
				stale++
				t.Logf("%s through node %d: %d turns, 2 acknowledged", id, i, m.GetInteractionCount())
			}
		}
	}
	if stale > 0 {
		t.Fatalf("%d stale reads: an acknowledged turn is missing", stale)
	}
}

// joinFourth starts a fourth member, waits until every member sees four,
// then gives the routers half a second to follow the topology change.
func joinFourth(t *testing.T, nodes []*node, agent *test.InMemAgent, db string) *node {
	t.Helper()
	n4 := joinNode(t, agent, db)
	eventually(t, 10*time.Second, "every member sees 4", func() bool {
		for _, nd := range append(nodes, n4) {
			if nd.c.MemberList.Members().Len() != 4 {
				return false
			}
		}
		return true
	})
	time.Sleep(500 * time.Millisecond)
	return n4
}
