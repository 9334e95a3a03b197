package actors

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// heldStore is a LayerStore whose AddMember for one owner waits until the
// test releases it: a topology change of that owner that cannot finish.
type heldStore struct {
	*persistence.Store
	owner   string
	entered chan struct{}
	release chan struct{}
}

func (s *heldStore) AddMember(ctx context.Context, owner, cid, sid string) (bool, error) {
	if owner == s.owner {
		close(s.entered)
		<-s.release
	}
	return s.Store.AddMember(ctx, owner, cid, sid)
}

// One tenant's topology change, stuck inside its database write, never
// holds up another tenant's: there is no lock across tenants.
func TestTopologyChangeOfOneTenantNeverWaitsForAnother(t *testing.T) {
	ctx := ctxT(t)
	var held *heldStore
	st := newWrappedStack(t, func(s *persistence.Store) LayerStore {
		held = &heldStore{Store: s, owner: "slow", entered: make(chan struct{}), release: make(chan struct{})}
		return held
	})
	sessions, layers := st.sessions, st.layers

	setup := func(owner string) (cid, sid string) {
		c := ok(layers.CreateCluster(ctx, owner, "c", AggregationWeightedAverage, 0.5))(t)
		return c.ID, ok(sessions.Create(ctx, owner, CreateOptions{}))(t)
	}
	slowC, slowS := setup("slow")
	fastC, fastS := setup("fast")
	ok(layers.ClusterState(ctx, "fast", fastC))(t) // its actor runs: the change must reach it

	slowDone := make(chan error, 1)
	go func() {
		_, err := layers.AddMember(ctx, "slow", slowC, slowS)
		slowDone <- err
	}()
	<-held.entered // the slow tenant's change is inside its write

	if added := ok(layers.AddMember(ctx, "fast", fastC, fastS))(t); !added {
		t.Fatal("the fast tenant's member was not added")
	}
	if st := ok(layers.ClusterState(ctx, "fast", fastC))(t); !slices.Equal(st.GetMemberIds(), []string{fastS}) {
		t.Fatalf("fast cluster members = %v, want [%s] as soon as AddMember answered", st.GetMemberIds(), fastS)
	}
	select {
	case err := <-slowDone:
		t.Fatalf("the slow tenant's change finished while held: %v", err)
	default:
	}
	close(held.release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	if st := ok(layers.ClusterState(ctx, "slow", slowC))(t); !slices.Equal(st.GetMemberIds(), []string{slowS}) {
		t.Fatalf("slow cluster members = %v", st.GetMemberIds())
	}
}

// Concurrent membership changes of one session converge on what is stored:
// every AddMember/RemoveMember answers only once the session and cluster
// actors have reloaded their links, and an older reload never replaces a
// newer one.
func TestConcurrentMembershipChangesConverge(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	sid := e.session(own)
	clusters := make([]string, 8)
	for i := range clusters {
		clusters[i] = e.cluster(own, AggregationWeightedAverage, 0)
		ok(e.layers.ClusterState(ctx, own, clusters[i]))(t) // active, so every change is told
	}
	e.state(own, sid) // the session is active too
	var wg sync.WaitGroup
	for round := range 3 {
		for i, c := range clusters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.layers.AddMember(ctx, own, c, sid); err != nil {
					t.Error(err)
				}
				if (i+round)%2 == 0 {
					if err := e.layers.RemoveMember(ctx, own, c, sid); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
	}
	stored := ok(e.store.ClustersOfSession(ctx, own, sid))(t)
	for _, c := range clusters {
		st := ok(e.layers.ClusterState(ctx, own, c))(t)
		if member := slices.Contains(stored, c); member != slices.Contains(st.GetMemberIds(), sid) {
			t.Errorf("cluster %s: stored membership %v, actor's view %v", c, member, st.GetMemberIds())
		}
	}
	// The session's own view decides where its drift goes: provoke drift and
	// count the clusters it reached.
	e.steady(own, sid, 0, 4)
	e.switchTopic(own, sid, 5)
	for _, c := range clusters {
		st := ok(e.layers.ClusterState(ctx, own, c))(t) // queued behind the drift event
		want := int64(0)
		if slices.Contains(stored, c) {
			want = 1
		}
		if st.GetDriftEvents() != want {
			t.Errorf("cluster %s got %d drift events, want %d (member: %v)", c, st.GetDriftEvents(), want, want == 1)
		}
	}
}

// recorder is an actor that records what it is told.
type recorder struct {
	mu  *sync.Mutex
	got *[]string
}

func (r recorder) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*pb.Flush); ok {
		r.mu.Lock()
		*r.got = append(*r.got, "flush")
		r.mu.Unlock()
	}
	if m, ok := ctx.Message().(*pb.DriftEvent); ok {
		r.mu.Lock()
		*r.got = append(*r.got, m.GetSessionId())
		r.mu.Unlock()
	}
}

// Tell never waits: messages told while the actor activates are delivered,
// in order, once it runs; an absent actor is activated only when asked to;
// a missing one drops them.
func TestRegistryTellDeliversInOrderAcrossActivation(t *testing.T) {
	sys := NewActorSystem(slog.New(slog.DiscardHandler))
	defer sys.Shutdown()
	var mu sync.Mutex
	var got []string
	loading := make(chan struct{})
	release := make(chan struct{})
	loads := 0
	reg := NewRegistry("rec", sys.Root, func(ctx context.Context, id string) (actor.Producer, error) {
		mu.Lock()
		loads++
		mu.Unlock()
		if id == "missing" {
			return nil, semvec.NotFound("Thing")
		}
		close(loading)
		<-release
		return func() actor.Actor { return recorder{mu: &mu, got: &got} }, nil
	}, nil)

	reg.Tell("absent", &pb.Flush{}, false) // not active, not activated
	reg.Tell("missing", &pb.DriftEvent{SessionId: "x"}, true)
	for _, s := range []string{"1", "2", "3"} {
		reg.Tell("a", &pb.DriftEvent{SessionId: s}, true) // returns while the loader is held
	}
	<-loading
	close(release)
	ok(reg.Get(context.Background(), "a"))(t)
	reg.Tell("a", &pb.DriftEvent{SessionId: "4"}, false)
	reg.Tell("a", &pb.Flush{}, false)
	eventually(t, "five messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 5
	})
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"1", "2", "3", "4", "flush"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if loads != 2 { // "a" once (not once per Tell), "missing" once, "absent" never
		t.Fatalf("loader ran %d times, want 2", loads)
	}
	if reg.Has("missing") || reg.Has("absent") {
		t.Fatal("a failed or never-started activation left an entry")
	}
}
