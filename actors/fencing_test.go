package actors

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// fencingNode is one process's session layer over a shared database.
func fencingNode(t *testing.T, dbPath string) *Sessions {
	t.Helper()
	store, err := persistence.Open(context.Background(), "sqlite:///"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	s := NewSessions(sys.Root, store, &Asker{Root: sys.Root, Timeout: 10 * time.Second}, SessionConfig{Dim: replayDim, ModelName: "test"}, log, nil)
	t.Cleanup(func() {
		_ = s.Shutdown(context.Background())
		sys.Shutdown()
		_ = store.Close()
	})
	return s
}

func interactions(t *testing.T, s *Sessions, owner, id string) int64 {
	t.Helper()
	return askOK[*pb.MetricsResponse](t, s, id, &pb.MetricsRequest{Owner: owner, SessionId: id}).GetInteractionCount()
}

// TestSupersededActivationStops: two nodes share a database and both
// activate one session (a start-up race, a paused process). The newer
// activation takes the next epoch; the older one's next change is refused
// (503), it stops without writing, and its node's next request activates
// the session again from everything the newer one committed. The log never
// holds a write of a stale activation.
func TestSupersededActivationStops(t *testing.T) {
	db := filepath.Join(t.TempDir(), "shared.db")
	a, b := fencingNode(t, db), fencingNode(t, db)
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	if _, err := a.Create(ctxT(t), "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	turn := 0
	run := func(s *Sessions) (*pb.RunResponse, error) {
		turn++
		return AskSession[*pb.RunResponse](ctxT(t), s, "s", turnRequest("o", "s", turn, at, false))
	}
	for range 3 {
		if _, err := run(a); err != nil {
			t.Fatal(err)
		}
	}
	// b activates the session (epoch 2) from a's committed turns.
	if got := interactions(t, b, "o", "s"); got != 3 {
		t.Fatalf("b sees %d turns, want a's 3", got)
	}
	for range 2 {
		if _, err := run(b); err != nil {
			t.Fatal(err)
		}
	}
	// a still holds epoch 1: its change is refused and it stops.
	_, err := run(a)
	if semvec.KindOf(err) != semvec.KindUnavailable || !strings.Contains(err.Error(), "newer activation") {
		t.Fatalf("stale activation's change: %v, want 503 %q", err, persistence.ErrSuperseded)
	}
	turn-- // not acknowledged
	eventually(t, "the superseded activation stops", func() bool { return a.Active() == 0 })
	entries, err := a.store.LoadLog(ctxT(t), "o", "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 5 {
		t.Fatalf("log holds %d entries, want the 5 acknowledged ones", len(entries))
	}
	for i, e := range entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("log seqs %v: not 1…5", entries)
		}
	}
	// a's next request activates the session again (epoch 3), with b's turns.
	if _, err := run(a); err != nil {
		t.Fatalf("a after reactivation: %v", err)
	}
	if got := interactions(t, a, "o", "s"); got != 6 {
		t.Fatalf("a sees %d turns after reactivating, want 6", got)
	}
	// Now b is the stale one.
	if _, err := run(b); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("b's change after a took over: %v, want 503", err)
	}
}

// TestSupersededNetworkActivationStops: two nodes (actor systems, sessions
// and layers) share a database and both activate one owner's network actor
// (cluster mode: a process paused past a failover). The newer activation
// takes the next epoch of the owner's network state; the older one's next
// change is refused (503) instead of overwriting the newer one's committed
// partitions and trust, it stops, and its node's next request activates
// the network again from what the newer one committed.
func TestSupersededNetworkActivationStops(t *testing.T) {
	db := filepath.Join(t.TempDir(), "shared.db")
	a := &layersEnv{t: t, dbPath: db}
	a.start()
	t.Cleanup(a.stop)
	b := &layersEnv{t: t, dbPath: db}
	b.start()
	t.Cleanup(b.stop)
	const own = "tenant-a"
	ctx := ctxT(t)

	// a activates the owner's network (epoch 1) and switches to alice.
	ok(a.layers.SwitchUser(ctx, own, "alice"))(t)
	// b activates it (epoch 2) from a's committed state, then changes it:
	// a new partition (bob) and a trust score in alice's.
	if u := ok(b.layers.ActiveUser(ctx, own))(t); u != "alice" {
		t.Fatalf("b's activation reads active user %q, want a's alice", u)
	}
	proposer := b.session(own)
	ok(b.layers.Propose(ctx, own, proposer, topic(0, 0)))(t)
	ok(b.layers.SwitchUser(ctx, own, "bob"))(t)
	ok(b.layers.SwitchUser(ctx, own, "alice"))(t)

	// a still holds epoch 1 and alice's partition without b's changes:
	// its change is refused, and it stops.
	_, err := a.layers.SwitchUser(ctx, own, "carol")
	if semvec.KindOf(err) != semvec.KindUnavailable || !strings.Contains(err.Error(), "newer activation") {
		t.Fatalf("stale activation's change: %v, want 503 %q", err, persistence.ErrSuperseded)
	}
	eventually(t, "the superseded network actor stops", func() bool { return a.layers.networks.Active() == 0 })
	data, err := a.store.LoadNetworkState(ctx, own)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := decodeNetworkState(data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Active != "alice" || st.Partitions["bob"] == nil || st.Partitions["carol"] != nil || st.Partitions["alice"].Trust[proposer] == 0 {
		t.Fatalf("stored network state after the stale change = %s, want b's (alice active, bob's partition, the proposer's trust, no carol)", mustJSON(st))
	}

	// a's next request activates the network again (epoch 3) with b's
	// changes, and its change lands.
	if tr := ok(a.layers.Trust(ctx, own))(t); tr[proposer] == 0 {
		t.Fatalf("a's trust after reactivating = %v, want b's score for %s", tr, proposer)
	}
	if sw := ok(a.layers.SwitchUser(ctx, own, "carol"))(t); sw.GetPreviousUser() != "alice" || sw.GetActiveUser() != "carol" {
		t.Fatalf("a's switch after reactivating = %+v", sw)
	}
	if _, err := a.layers.SerializeUser(ctx, own, "bob"); err != nil {
		t.Fatalf("bob's partition (b's) after a took over: %v", err)
	}
	// Now b is the stale one.
	if _, err := b.layers.SwitchUser(ctx, own, "dave"); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("b's change after a took over: %v, want 503", err)
	}
	if u := ok(a.layers.ActiveUser(ctx, own))(t); u != "carol" {
		t.Fatalf("active user = %q, want a's carol", u)
	}
}

// Counters past 2^31 are reported as they are, not wrapped to negative
// int32s: a long-term memory that merged many injected ones adds up their
// access counts (here 2,200 × 1,000,000), and the memory read answers the sum.
func TestLargeAccessCountsAreReportedExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("2,200 durable injections")
	}
	s := fencingNode(t, filepath.Join(t.TempDir(), "counts.db"))
	if _, err := s.Create(ctxT(t), "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	vec := make([]float32, replayDim)
	vec[0] = 1
	const n, each = 2200, 1_000_000
	var wg sync.WaitGroup
	for w := range 8 { // concurrent, so that their commits are grouped
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				askOK[*pb.InjectMemoryResponse](t, s, "s", &pb.InjectMemoryRequest{Owner: "o", SessionId: "s",
					Text: "fact " + strconv.Itoa(i), Embedding: vec, Tier: "long_term", Importance: 1, AccessCount: each})
			}
		}()
	}
	wg.Wait()
	ctx := askOK[*pb.ContextResponse](t, s, "s", &pb.ContextRequest{Owner: "o", SessionId: "s", TopK: 100, MaxChars: 100000})
	var most int64
	for _, it := range ctx.GetItems() {
		m := askOK[*pb.MemoryResponse](t, s, "s", &pb.MemoryRequest{Owner: "o", SessionId: "s", MemoryHash: it.GetMemoryHash()})
		if m.GetAccessCount() < 0 {
			t.Fatalf("memory %s: access_count %d", it.GetMemoryHash(), m.GetAccessCount())
		}
		most = max(most, m.GetAccessCount())
	}
	if most <= 1<<31 {
		t.Fatalf("the largest access count read is %d: no memory merged past 2^31, the test proves nothing", most)
	}
}
