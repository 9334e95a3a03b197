package actors

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// gateStore holds the first snapshot batch written after arm until release
// is closed, like a slow database.
type gateStore struct {
	*persistence.Store
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (g *gateStore) SaveSnapshots(ctx context.Context, snaps []persistence.Snapshot) (int, error) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.release
	}
	return g.Store.SaveSnapshots(ctx, snaps)
}

// A snapshot queued before a DELETE never lands in the session re-created
// under the same id, by the same owner or by another: the queued write is
// cancelled, and the one already in flight carries the old incarnation,
// which the database refuses.
func TestDeletedSessionStateNeverComesBack(t *testing.T) {
	ctx := ctxT(t)
	store, err := persistence.Open(ctx, "sqlite:///"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	gate := &gateStore{Store: store, entered: make(chan struct{}), release: make(chan struct{})}
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	sessions := NewSessions(sys.Root, gate, ask, SessionConfig{Dim: testDim, ModelName: "test"}, log, nil)

	secret := "The vault code is ALPHA-7731."
	remember := func(owner, id string) {
		t.Helper()
		if _, err := AskSession[*pb.RunResponse](ctx, sessions, id, &pb.RunRequest{
			Owner: owner, SessionId: id, Message: "What is the vault code?", MessageVec: topic(1, 1),
			Response: secret, ResponseVec: topic(1, 2), ShortCircuitThreshold: 0.85, NowUnixNano: time.Now().UnixNano(),
		}); err != nil {
			t.Fatal(err)
		}
	}
	flush := func(owner, id string) {
		t.Helper()
		if err := sessions.Notify(ctx, owner, id, &pb.Flush{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"in-flight", "queued", "control"} {
		if _, err := sessions.Create(ctx, "tenant-a", CreateOptions{ID: id}); err != nil {
			t.Fatal(err)
		}
		remember("tenant-a", id)
	}
	gate.armed.Store(true)
	flush("tenant-a", "in-flight")
	<-gate.entered // the writer holds in-flight's snapshot; the next ones queue
	flush("tenant-a", "queued")
	flush("tenant-a", "control")
	for _, id := range []string{"in-flight", "queued"} {
		if err := sessions.Delete(ctx, "tenant-a", id); err != nil {
			t.Fatal(err)
		}
		for _, owner := range []string{"tenant-a", "tenant-b"} {
			if _, err := sessions.Create(ctx, owner, CreateOptions{ID: id}); err != nil {
				t.Fatalf("re-create %s/%s: %v", owner, id, err)
			}
		}
	}
	close(gate.release)
	if err := sessions.Shutdown(ctx); err != nil { // drains the writer
		t.Fatal(err)
	}
	sys.Shutdown()

	data, _, err := store.LoadSnapshot(ctx, "tenant-a", "control")
	if err != nil || !bytes.Contains(data, []byte("ALPHA-7731")) {
		t.Fatalf("control: the secret should be in its snapshot (err %v)", err)
	}
	for _, id := range []string{"in-flight", "queued"} {
		for _, owner := range []string{"tenant-a", "tenant-b"} {
			data, _, err := store.LoadSnapshot(ctx, owner, id)
			if err != nil && semvec.KindOf(err) != semvec.KindNotFound {
				t.Fatalf("%s/%s: %v", owner, id, err)
			}
			if bytes.Contains(data, []byte("ALPHA-7731")) {
				t.Fatalf("%s/%s: the deleted session's memories came back", owner, id)
			}
			if n, _, err := store.LogStats(ctx, owner, id); err != nil || n != 0 {
				t.Fatalf("%s/%s: %d log entries (%v)", owner, id, n, err)
			}
		}
	}
}
