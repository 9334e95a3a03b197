package placementtest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"

	"github.com/semvec-go/semvec/actors"
	pb "github.com/semvec-go/semvec/proto"
)

// TestRoutedRequestsUnderTheSessionCap: members that hold two sessions
// each, and every session asked through every member at once, so that the
// owning member's routers hand requests to actors that its cap keeps
// passivating. No request is lost behind a passivation (it would time out):
// each one is answered, and each session counts every turn.
func TestRoutedRequestsUnderTheSessionCap(t *testing.T) {
	nodes := startCappedNodesOn(t, test.NewInMemAgent(), 3, filepath.Join(t.TempDir(), "shared.db"), 2)
	const own, rounds = "tenant", 4
	ids := createSessions(t, nodes[0], own, 12)
	var wg sync.WaitGroup
	errs := make(chan error, len(ids)*len(nodes)*rounds)
	for _, id := range ids {
		for k, nd := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range rounds {
					_, err := actors.AskSession[*pb.RunResponse](context.Background(), nd.sessions, id, &pb.RunRequest{
						Owner: own, SessionId: id, Message: fmt.Sprintf("turn %d via %d", j, k), MessageVec: topic(k, j),
						ShortCircuitThreshold: 0.85, NowUnixNano: time.Now().UnixNano()})
					if err != nil {
						errs <- fmt.Errorf("%s via member %d: %w", id, k, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, id := range ids {
		if n := turns(t, nodes[1], own, id); n != int32(len(nodes)*rounds) {
			t.Errorf("%s counts %d turns, want %d", id, n, len(nodes)*rounds)
		}
	}
}
