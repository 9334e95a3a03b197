package placementtest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"

	"github.com/semvec-go/semvec"
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
		if n := turns(t, nodes[1], own, id); n != int64(len(nodes)*rounds) {
			t.Errorf("%s counts %d turns, want %d", id, n, len(nodes)*rounds)
		}
	}
}

// A session's own not-found answers keep their detail through a router:
// an unknown memory of an existing session is "Memory not found", not
// "Session not found" (every NotFound through another member used to be
// reported as the session's).
func TestRoutedNotFoundKeepsItsDetail(t *testing.T) {
	nodes := startNodes(t, 2, filepath.Join(t.TempDir(), "shared.db"))
	const own = "tenant"
	ids := createSessions(t, nodes[0], own, 6)
	for _, id := range ids {
		for _, nd := range nodes { // one of them is not the host
			_, err := actors.AskSession[*pb.MemoryResponse](context.Background(), nd.sessions, id, &pb.MemoryRequest{Owner: own, SessionId: id, MemoryHash: "nope"})
			if semvec.KindOf(err) != semvec.KindNotFound || !strings.Contains(err.Error(), "Memory not found") {
				t.Fatalf("unknown memory of %s: %v, want Memory not found", id, err)
			}
			_, err = actors.AskSession[*pb.MemoryResponse](context.Background(), nd.sessions, id+"x", &pb.MemoryRequest{Owner: own, SessionId: id + "x", MemoryHash: "nope"})
			if semvec.KindOf(err) != semvec.KindNotFound || !strings.Contains(err.Error(), "Session not found") {
				t.Fatalf("memory of an unknown session: %v, want Session not found", err)
			}
		}
	}
}
