package persistence_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// Racing mutations from two Stores (as from two processes) only ever fail
// with NotFound, never with a database error, and leave no orphan rows.
func TestConcurrentMutations(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		ctx := t.Context()
		stores := []*persistence.Store{openStore(t, databaseURL), openStore(t, databaseURL)}
		s := stores[0]
		const n = 12
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("s%02d", i)
			must(t, s.CreateSession(ctx, session("alice", ids[i])))
		}
		c, b := cluster("alice", "c1", 1)
		must(t, s.CreateCluster(ctx, c, b))
		r, m := region("alice", "r1", 1)
		must(t, s.CreateRegion(ctx, r, m))
		incs := map[string]string{}
		for _, id := range append(ids, "c1") {
			incs[id] = incarnation(t, s, "alice", id)
		}

		var mu sync.Mutex
		var bad []error
		check := func(err error) {
			if err != nil && semvec.KindOf(err) != semvec.KindNotFound {
				mu.Lock()
				bad = append(bad, err)
				mu.Unlock()
			}
		}
		var wg sync.WaitGroup
		for w := range 2 {
			st := stores[w]
			wg.Go(func() { // members come and go
				for round := range 3 {
					for _, id := range ids {
						_, err := st.AddMember(ctx, "alice", "c1", id)
						check(err)
						if round == 1 {
							check(st.RemoveMember(ctx, "alice", "c1", id))
						}
					}
				}
			})
			wg.Go(func() { // shutdown-style snapshot batches
				for range 4 {
					batch := make([]persistence.Snapshot, 0, n+1)
					for _, id := range append(ids, "c1") {
						batch = append(batch, persistence.Snapshot{Owner: "alice", ID: id, Incarnation: incs[id], Data: []byte(id), At: ts(1)})
					}
					_, err := st.SaveSnapshots(ctx, batch)
					check(err)
				}
			})
			wg.Go(func() { // attach/detach
				for range 4 {
					_, err := st.AttachCluster(ctx, "alice", "r1", "c1")
					check(err)
					check(st.DetachCluster(ctx, "alice", "r1", "c1"))
				}
			})
		}
		wg.Go(func() { // half the sessions are deleted, then the cluster
			for i := 0; i < n; i += 2 {
				check(errOf(stores[1].DeleteSession(ctx, "alice", ids[i])))
			}
			check(errOf(stores[1].DeleteCluster(ctx, "alice", "c1")))
		})
		wg.Wait()
		for _, err := range bad {
			t.Errorf("unexpected error: %v", err)
		}

		for i, id := range ids {
			_, _, err := s.LoadSnapshot(ctx, "alice", id)
			deleted := i%2 == 0
			if deleted && err == nil {
				t.Errorf("snapshot of deleted session %s survives", id)
			}
			of, err := s.ClustersOfSession(ctx, "alice", id)
			must(t, err)
			if len(of) != 0 {
				t.Errorf("session %s still in clusters %v", id, of)
			}
		}
		for _, id := range []string{"c1"} {
			if _, _, err := s.LoadSnapshot(ctx, "alice", id); err == nil {
				t.Errorf("snapshot of deleted cluster survives")
			}
		}
		if rc, _ := s.RegionClusters(ctx, "alice", "r1"); len(rc) != 0 {
			t.Errorf("region links to a deleted cluster: %v", rc)
		}
	})
}
