package actors

import (
	"context"
	"testing"
	"time"

	pb "github.com/semvec-go/semvec/proto"
)

// A region evicted under its memory budget (marked stopping, its stop
// message on the way behind its work) and told a drift event meanwhile is
// activated again once it has stopped. Layers.Shutdown neither waited for
// such a region (PIDs leaves out the stopping) nor refused that next
// activation (the layers' registries were never closed): a region ran
// (and wrote, and in cluster mode fenced its new owner) past the
// shutdown, with the store about to close.
func TestNoRegionActivatesAfterLayersShutdown(t *testing.T) {
	e := newLayersEnv(t)
	e.layers.LimitRegionMemory(1 << 20)
	ctx := ctxT(t)
	const own = "tenant-a"
	r := e.region(own, 0.99, 60)
	key := ownedKey(own, r.ID)
	if _, err := e.layers.regions.Get(ctx, key); err != nil {
		t.Fatal(err)
	}
	pid := e.layers.regions.Stop(key) // as an eviction marks it
	if pid == nil {
		t.Fatal("the region is not running")
	}
	e.layers.regions.Tell(key, &pb.DriftEvent{Owner: own, SessionId: "s", ClusterId: "c", RegionId: r.ID,
		DriftScore: 0.9, DriftPhase: "shift", AtUnixNano: time.Now().UnixNano()}, true)

	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The eviction's stop reaches it while the shutdown runs (behind the
	// work it had in flight).
	time.AfterFunc(200*time.Millisecond, func() { e.layers.regions.poison(pid) })
	if err := e.layers.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // an activation started by its stop would be running by now
	if n := e.layers.regions.Active(); n != 0 || e.layers.regions.Has(key) {
		t.Fatalf("after Layers.Shutdown: %d region actors in memory (has %v)", n, e.layers.regions.Has(key))
	}
}
