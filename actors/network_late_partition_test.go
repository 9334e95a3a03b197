package actors

import (
	"context"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	"github.com/semvec-go/semvec/vecmath"
)

// A switch cut short in step 1 (its SavePartitionStates still
// running past the deadline) must not let its late write of the partition
// land over the partition a newer, acknowledged switch saved.
func TestALateStep1WriteNeverUndoesANewerSwitch(t *testing.T) {
	e, g := gatedNetworkEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	s1, _ := e.enrolledPair(own)

	g.hold("SavePartitionStates")
	if _, err := e.layers.SwitchUser(ctx, own, "x"); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("cut-short switch: %v, want 503", err)
	}
	<-g.entered
	t.Cleanup(func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
	})
	// The default user's conversation moves s1 (acknowledged).
	e.run(own, s1, topic(3, 0))
	e.run(own, s1, topic(3, 1))
	acked := e.state(own, s1).GetState()

	_, errX := e.layers.SwitchUser(ctx, own, "x") // step 1 saves default's partition with acked (or waits for the late one: 503)
	close(g.release)
	if err := <-g.finished; err != nil { // the cut-short switch's step 1 lands now
		t.Fatalf("late write: %v", err)
	}
	if errX != nil {
		eventually(t, "switch to x", func() bool { _, err := e.layers.SwitchUser(ctx, own, "x"); return err == nil })
	}
	ok(e.layers.SwitchUser(ctx, own, defaultUserName))(t)
	if c := vecmath.Cosine(e.state(own, s1).GetState(), acked); c < 0.99999 {
		t.Fatalf("s1 back under default: cos to its acknowledged state %v, want 1 (a late step-1 write of an answered-503 switch replaced the partition saved by the acknowledged one)", c)
	}
}

// countingSaves is a LayerStore that counts the network writes it is asked
// for; nothing else of it is used.
type countingSaves struct {
	LayerStore
	states, partitions int
}

func (c *countingSaves) SaveNetworkState(context.Context, string, int64, persistence.NetworkState) error {
	c.states++
	return nil
}

func (c *countingSaves) SavePartitionStates(context.Context, string, int64, string, []byte) error {
	c.partitions++
	return nil
}

// The savers skip a write older than the last one written: a late write
// (its operation answered long ago) never lands over a newer one.
func TestTheNetworkSaversSkipAnOlderWrite(t *testing.T) {
	ctx := ctxT(t)
	store := &countingSaves{}
	ns, ps := &netSaver{}, &partSaver{}
	for _, v := range []uint64{2, 1, 2, 3} {
		if err := ns.save(ctx, store, "o", 1, v, persistence.NetworkState{}); err != nil {
			t.Fatal(err)
		}
		if err := ps.save(ctx, store, "o", 1, "u", v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if store.states != 2 || store.partitions != 2 {
		t.Fatalf("%d network states and %d partitions written, want 2 each (versions 2 and 3)", store.states, store.partitions)
	}
}
