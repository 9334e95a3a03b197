package actors

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// Deleting a cluster while its state is being read answers every read, 200
// or 404: none waits for its ask to time out. Before, the deletion stopped
// the actor while reads were gathering their members' states; their
// continuations were dropped and those callers got a timeout (504 after the
// ask timeout) instead of an answer.
func TestDeletingAClusterAnswersEveryRead(t *testing.T) {
	e := &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db"), askTimeout: 3 * time.Second}
	e.start()
	t.Cleanup(e.stop)
	const own = "tenant-a"
	for round := range 5 {
		ctx := ctxT(t)
		c := e.cluster(own, AggregationWeightedAverage, 0.2)
		for range 3 {
			s := e.session(own)
			ok(e.layers.AddMember(ctx, own, c, s))(t)
			e.steady(own, s, 0, 2)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range cap(errs) {
			wg.Go(func() {
				for {
					_, err := e.layers.ClusterState(ctx, own, c)
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		time.Sleep(2 * time.Millisecond) // the reads are under way (not an assertion)
		if err := e.layers.DeleteCluster(ctx, own, c); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if semvec.KindOf(err) != semvec.KindNotFound {
				t.Fatalf("round %d: a read of the cluster being deleted: %v, want an answer (NotFound once deleted)", round, err)
			}
		}
	}
}

// heldViewStore holds the next cluster view load, once armed, until
// release is closed, then fails it (the database went away).
type heldViewStore struct {
	*persistence.Store
	armed            atomic.Bool
	entered, release chan struct{}
}

func (h *heldViewStore) GetCluster(ctx context.Context, owner, id string) (persistence.ClusterRecord, error) {
	if h.armed.CompareAndSwap(true, false) {
		close(h.entered)
		<-h.release
		return persistence.ClusterRecord{}, semvec.Wrap(semvec.KindUnavailable, errors.New("connection refused"), "database unavailable")
	}
	return h.Store.GetCluster(ctx, owner, id)
}

// A cluster whose view cannot be reloaded after a topology change stops, so
// that its next use reads the view again; the requests already queued, and
// those gathering their members' states, are answered first. Before, it
// stopped at once and they were dropped (each waited for its ask to time
// out).
func TestFailedReloadAnswersQueuedRequests(t *testing.T) {
	held := &heldViewStore{entered: make(chan struct{}), release: make(chan struct{})}
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore { held.Store = s; return held })
	ctx := ctxT(t)
	const own = "tenant-a"
	c := e.cluster(own, AggregationWeightedAverage, 0.2)
	s := e.session(own)
	ok(e.layers.AddMember(ctx, own, c, s))(t)
	e.steady(own, s, 0, 2)
	ok(e.layers.ClusterState(ctx, own, c))(t)
	pid := ok(e.layers.clusters.Get(ctx, ownedKey(own, c)))(t)

	held.armed.Store(true)
	e.sys.Root.Send(pid, &pb.TopologyChanged{})
	<-held.entered // the reload is in flight
	var reqs []proto.Message
	for range 6 {
		reqs = append(reqs, &pb.ClusterStateRequest{Owner: own, ClusterId: c})
	}
	results := sendNow(e.sys.Root, pid, reqs...)
	close(held.release) // the reload fails: the actor stops once idle
	for i, err := range results() {
		if err != nil {
			t.Errorf("queued request %d: %v, want the cluster's state", i, err)
		}
	}
	eventually(t, "the cluster actor to stop", func() bool { return !e.layers.clusters.Has(ownedKey(own, c)) })
	if st := ok(e.layers.ClusterState(ctx, own, c))(t); len(st.GetMemberIds()) != 1 {
		t.Fatalf("after the actor stopped: members %v, want [%s]", st.GetMemberIds(), s)
	}
}
