package persistence_test

import (
	"context"
	"errors"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// TestActivationFencing: each activation takes the next epoch of its
// session, and from then on the log entries and checkpoints of every
// earlier activation are refused, while the newest one's land.
func TestActivationFencing(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := context.Background()
		rec := session("a", "s1")
		rec.Epoch = 1 // created by its first activation
		must(t, s.CreateSession(ctx, rec))
		must(t, s.CreateSession(ctx, session("a", "other")))
		inc := incarnation(t, s, "a", "s1")
		entry := func(epoch, seq int64, data string) persistence.LogEntry {
			return persistence.LogEntry{Owner: "a", SessionID: "s1", Incarnation: inc, Epoch: epoch, Seq: seq, Data: []byte(data)}
		}
		refused, err := s.AppendLog(ctx, []persistence.LogEntry{entry(1, 1, "first")})
		must(t, err)
		must(t, refused[0])

		second, err := s.ActivateSession(ctx, "a", "s1")
		must(t, err)
		if second.Epoch != 2 || second.Incarnation != inc {
			t.Fatalf("second activation: epoch %d incarnation %q, want 2 %q", second.Epoch, second.Incarnation, inc)
		}
		if got, _ := s.GetSession(ctx, "a", "s1"); got.Epoch != 2 {
			t.Fatalf("GetSession after activation: epoch %d", got.Epoch)
		}
		// The first activation, still running somewhere, writes on: its
		// entries are refused one by one, in the same group as others'
		// that land.
		otherInc := incarnation(t, s, "a", "other")
		refused, err = s.AppendLog(ctx, []persistence.LogEntry{entry(1, 2, "stale"), entry(2, 2, "fresh"),
			{Owner: "a", SessionID: "other", Incarnation: otherInc, Seq: 1, Data: []byte("x")}})
		must(t, err)
		if !errors.Is(refused[0], persistence.ErrSuperseded) || semvec.KindOf(refused[0]) != semvec.KindUnavailable {
			t.Fatalf("stale entry: %v, want ErrSuperseded (503)", refused[0])
		}
		must(t, refused[1])
		must(t, refused[2])
		got, err := s.LoadLog(ctx, "a", "s1", 0)
		must(t, err)
		if len(got) != 2 || string(got[0].Data) != "first" || string(got[1].Data) != "fresh" {
			t.Fatalf("log: %+v", got)
		}

		// A stale checkpoint is dropped, even one claiming a later seq; the
		// current activation's lands.
		n, err := s.SaveSnapshots(ctx, []persistence.Snapshot{{Owner: "a", ID: "s1", Incarnation: inc, Epoch: 1, Data: []byte("stale"), At: ts(3), Seq: 9}})
		must(t, err)
		if n != 0 {
			t.Fatalf("a superseded activation's checkpoint was saved")
		}
		if _, err := s.LoadCheckpoint(ctx, "a", "s1"); semvec.KindOf(err) != semvec.KindNotFound {
			t.Fatalf("checkpoint after a stale save: %v", err)
		}
		n, err = s.SaveSnapshots(ctx, []persistence.Snapshot{{Owner: "a", ID: "s1", Incarnation: inc, Epoch: 2, Data: []byte("fresh"), At: ts(3), Seq: 2}})
		must(t, err)
		if cp, err := s.LoadCheckpoint(ctx, "a", "s1"); n != 1 || err != nil || string(cp.Data) != "fresh" {
			t.Fatalf("current checkpoint: saved %d, %q %v", n, cp.Data, err)
		}

		// Epochs belong to the session: another owner's same id, or a
		// missing one, is not activated.
		if _, err := s.ActivateSession(ctx, "b", "s1"); semvec.KindOf(err) != semvec.KindNotFound {
			t.Fatalf("foreign activation: %v", err)
		}
		third, err := s.ActivateSession(ctx, "a", "s1")
		must(t, err)
		if third.Epoch != 3 {
			t.Fatalf("third activation: epoch %d", third.Epoch)
		}
	})
}

// netState is a network state of data with one partition, "p", holding
// data too.
func netState(data string) persistence.NetworkState {
	return persistence.NetworkState{Data: []byte(data), Partitions: map[string][]byte{"p": []byte(data)}}
}

// TestNetworkStateFencing: each activation of an owner's network actor
// takes the next epoch of its network state row (creating the row the
// first time); from then on an earlier activation's save is refused
// (ErrSuperseded, 503) and the newer one's committed state stays.
func TestNetworkStateFencing(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := context.Background()
		load := func(owner string) string {
			t.Helper()
			st, err := s.LoadNetworkState(ctx, owner)
			must(t, err)
			return string(st.Data)
		}
		first, err := s.ActivateNetwork(ctx, "a")
		must(t, err)
		if first != 1 {
			t.Fatalf("first activation: epoch %d, want 1", first)
		}
		must(t, s.SaveNetworkState(ctx, "a", first, netState("first")))

		second, err := s.ActivateNetwork(ctx, "a")
		must(t, err)
		if second != 2 {
			t.Fatalf("second activation: epoch %d, want 2", second)
		}
		if got := load("a"); got != "first" {
			t.Fatalf("the second activation reads %q, want the first one's committed state", got)
		}
		must(t, s.SaveNetworkState(ctx, "a", second, netState("second")))

		// The first activation, still running somewhere, saves on: refused,
		// and the newer state stays.
		err = s.SaveNetworkState(ctx, "a", first, persistence.NetworkState{Data: []byte("stale"),
			Partitions: map[string][]byte{"u": []byte("stale")}, All: true})
		if !errors.Is(err, persistence.ErrSuperseded) || semvec.KindOf(err) != semvec.KindUnavailable {
			t.Fatalf("stale save: %v, want ErrSuperseded (503)", err)
		}
		if got := load("a"); got != "second" {
			t.Fatalf("state after a stale save: %q, want %q", got, "second")
		}
		if st, err := s.LoadNetworkState(ctx, "a"); err != nil || len(st.Partitions) != 1 || string(st.Partitions["p"]) != "second" {
			t.Fatalf("partitions after a stale save: %q, %v; want the second activation's", st.Partitions, err)
		}
		// A save for an epoch never taken, or for an owner without a row,
		// is refused too.
		if err := s.SaveNetworkState(ctx, "a", 3, netState("future")); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("save of an epoch not taken: %v", err)
		}
		if err := s.SaveNetworkState(ctx, "b", 1, netState("b")); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("save without an activation: %v", err)
		}
		if _, err := s.LoadNetworkState(ctx, "b"); semvec.KindOf(err) != semvec.KindNotFound {
			t.Fatalf("b's state after a refused save: %v", err)
		}

		// Epochs are per owner; a third activation moves a's on again and
		// keeps its state.
		eb, err := s.ActivateNetwork(ctx, "b")
		must(t, err)
		if eb != 1 {
			t.Fatalf("b's first activation: epoch %d", eb)
		}
		third, err := s.ActivateNetwork(ctx, "a")
		must(t, err)
		if third != 3 || load("a") != "second" {
			t.Fatalf("third activation: epoch %d, state %q", third, load("a"))
		}
		if err := s.SaveNetworkState(ctx, "a", second, netState("stale")); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("second activation's save after the third: %v", err)
		}
	})
}

// A user partition's saved session states (a switch's first step) are
// fenced by the network state's epoch, as the state itself is: a
// superseded activation (another server on the same database) once
// overwrote the states a newer activation had saved for the partition it
// was leaving, before its own commit was refused, and the newer one's
// switch back then restored the wrong states.
func TestPartitionStatesFencing(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := context.Background()
		states := func() string {
			t.Helper()
			got, err := s.LoadPartitionStates(ctx, "a", "default")
			must(t, err)
			return string(got)
		}
		first, err := s.ActivateNetwork(ctx, "a")
		must(t, err)
		must(t, s.SavePartitionStates(ctx, "a", first, "default", []byte("first")))
		second, err := s.ActivateNetwork(ctx, "a")
		must(t, err)
		must(t, s.SavePartitionStates(ctx, "a", second, "default", []byte("second")))

		err = s.SavePartitionStates(ctx, "a", first, "default", []byte("stale"))
		if !errors.Is(err, persistence.ErrSuperseded) || semvec.KindOf(err) != semvec.KindUnavailable {
			t.Fatalf("stale partition save: %v, want ErrSuperseded (503)", err)
		}
		if got := states(); got != "second" {
			t.Fatalf("partition states after a stale save: %q, want %q", got, "second")
		}
		if err := s.SavePartitionStates(ctx, "a", first, "bob", []byte("stale")); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("stale save of another partition: %v", err)
		}
		if _, err := s.LoadPartitionStates(ctx, "a", "bob"); semvec.KindOf(err) != semvec.KindNotFound {
			t.Fatalf("bob's states after a refused save: %v", err)
		}
		// Without an activation (no row) nothing is written either.
		if err := s.SavePartitionStates(ctx, "b", 1, "default", []byte("b")); !errors.Is(err, persistence.ErrSuperseded) {
			t.Fatalf("save without an activation: %v", err)
		}
	})
}
