package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// downStore fails every log append while down is set, like a database that
// is unreachable.
type downStore struct {
	*persistence.Store
	down atomic.Bool
}

func (d *downStore) AppendLog(ctx context.Context, e []persistence.LogEntry) ([]error, error) {
	if d.down.Load() {
		return nil, semvec.Wrap(semvec.KindUnavailable, errors.New("connection refused"), "database unavailable")
	}
	return d.Store.AppendLog(ctx, e)
}

// sessionsOn opens a SQLite store in t.TempDir(), wraps it with wrap (a
// store that fails on purpose) and starts sessions on it; everything is
// closed at cleanup. It returns the plain store too.
func sessionsOn[W SessionStore](t *testing.T, wrap func(*persistence.Store) W) (*Sessions, W, *persistence.Store) {
	t.Helper()
	store, err := persistence.Open(ctxT(t), "sqlite:///"+filepath.Join(t.TempDir(), "wrapped.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	w := wrap(store)
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	t.Cleanup(sys.Shutdown)
	ask := &Asker{Root: sys.Root, Timeout: 5 * time.Second}
	sessions := NewSessions(sys.Root, w, ask, SessionConfig{Dim: testDim, ModelName: "test"}, log, nil)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sessions.Shutdown(ctx)
	})
	return sessions, w, store
}

// A change whose log entry cannot be committed answers Unavailable and
// changes nothing in memory; reads keep working; once the database is back
// the same session takes changes again, with no restart.
func TestChangeNotCommittedChangesNothing(t *testing.T) {
	ctx := ctxT(t)
	sessions, ds, _ := sessionsOn(t, func(s *persistence.Store) *downStore { return &downStore{Store: s} })
	if _, err := sessions.Create(ctx, "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	run := func() error {
		_, err := AskSession[*pb.RunResponse](ctx, sessions, "s", &pb.RunRequest{Owner: "o", SessionId: "s",
			Message: "q", MessageVec: topic(1, 1), Response: "a", ResponseVec: topic(1, 2), ShortCircuitThreshold: 0.85})
		return err
	}
	export := func() string {
		t.Helper()
		res, err := AskSession[*pb.ExportResponse](ctx, sessions, "s", &pb.ExportRequest{Owner: "o", SessionId: "s"})
		if err != nil {
			t.Fatal(err)
		}
		return string(res.GetStateDict())
	}
	if err := run(); err != nil {
		t.Fatal(err)
	}
	before := export()
	ds.down.Store(true)
	for range 3 {
		if err := run(); semvec.KindOf(err) != semvec.KindUnavailable {
			t.Fatalf("run with the database down: %v", err)
		}
		if _, err := AskSession[*pb.TriggerResponse](ctx, sessions, "s", &pb.TriggerRequest{Owner: "o", SessionId: "s", Keyword: "X"}); semvec.KindOf(err) != semvec.KindUnavailable {
			t.Fatalf("trigger with the database down: %v", err)
		}
	}
	if after := export(); after != before { // a read, served while down
		t.Fatal("a change that was not committed altered the session")
	}
	ds.down.Store(false)
	if err := run(); err != nil {
		t.Fatalf("after the database came back: %v", err)
	}
	res, err := AskSession[*pb.MetricsResponse](ctx, sessions, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"})
	if err != nil || res.GetInteractionCount() != 2 {
		t.Fatalf("turns %d (%v), want 2", res.GetInteractionCount(), err)
	}
}

// flakyStore fails the first log append it is given, after holding it until
// release is closed.
type flakyStore struct {
	*persistence.Store
	calls   atomic.Int32
	entered chan struct{}
	release chan struct{}
}

func (f *flakyStore) AppendLog(ctx context.Context, e []persistence.LogEntry) ([]error, error) {
	if f.calls.Add(1) == 1 {
		close(f.entered)
		<-f.release
		return nil, semvec.Wrap(semvec.KindUnavailable, errors.New("connection reset"), "database unavailable")
	}
	return f.Store.AppendLog(ctx, e)
}

// Changes of one session are pipelined to the log; when one commit fails,
// the changes queued after it are refused too (the log never has a gap),
// every answered change is in the log, and the session recovered from the
// log equals the live one.
func TestPipelinedChangesNeverLeaveAGap(t *testing.T) {
	ctx := ctxT(t)
	sessions, fs, store := sessionsOn(t, func(s *persistence.Store) *flakyStore {
		return &flakyStore{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
	})
	if _, err := sessions.Create(ctx, "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	run := func(i int) error {
		_, err := AskSession[*pb.RunResponse](ctx, sessions, "s", &pb.RunRequest{Owner: "o", SessionId: "s",
			Message: "q", MessageVec: topic(i%8, i), ShortCircuitThreshold: 0.85})
		return err
	}
	first := make(chan error, 1)
	go func() { first <- run(0) }()
	<-fs.entered // the first commit is held; the next changes queue behind it
	errs := make(chan error, 8)
	for i := 1; i <= 8; i++ {
		go func() { errs <- run(i) }()
	}
	// Let the eight reach the actor and the log's queue before the failure.
	deadline := time.Now().Add(5 * time.Second)
	for sessions.deps.changes.queue.queued() < 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(fs.release)
	if err := <-first; semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("the failed commit answered %v", err)
	}
	for range 8 {
		if err := <-errs; semvec.KindOf(err) != semvec.KindUnavailable {
			t.Fatalf("a change queued behind a failed commit answered %v", err)
		}
	}
	for i := 10; i < 15; i++ { // the session takes changes again
		if err := run(i); err != nil {
			t.Fatal(err)
		}
	}
	live, err := AskSession[*pb.ExportResponse](ctx, sessions, "s", &pb.ExportRequest{Owner: "o", SessionId: "s"})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := AskSession[*pb.MetricsResponse](ctx, sessions, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"})
	if m.GetInteractionCount() != 5 {
		t.Fatalf("%d turns, want the 5 acknowledged", m.GetInteractionCount())
	}
	rec, err := store.GetSession(ctx, "o", "s")
	if err != nil {
		t.Fatal(err)
	}
	recovered, err := sessions.recover(ctx, rec) // checkpoint (none) + log
	if err != nil {
		t.Fatal(err)
	}
	dict, _, err := recovered.eng.Export()
	if err != nil {
		t.Fatal(err)
	}
	if string(dict) != string(live.GetStateDict()) {
		t.Fatal("the session recovered from its log differs from the live one")
	}
	_ = sessions.Shutdown(ctx)
}

// lostAckStore commits the log append it is given while lose is set, then
// reports it failed, like a connection that broke during COMMIT.
type lostAckStore struct {
	*persistence.Store
	lose atomic.Bool
}

func (l *lostAckStore) AppendLog(ctx context.Context, e []persistence.LogEntry) ([]error, error) {
	refused, err := l.Store.AppendLog(ctx, e)
	if err == nil && l.lose.CompareAndSwap(true, false) {
		return nil, semvec.Wrap(semvec.KindUnavailable, errors.New("connection reset during COMMIT"), "database unavailable")
	}
	return refused, err
}

// A change whose commit was reported failed although it reached the
// database (its outcome was lost) is not numbered again forever: the next
// change finds its seq taken (ErrBehindLog), is answered 503, and the
// session stops; the next request activates it from its log, with the
// change it had missed, and the session takes changes again. Before, every
// later change of the session collided with the held entry (409), and
// failed the other sessions' entries committed with it.
func TestLostCommitAcknowledgementResyncs(t *testing.T) {
	ctx := ctxT(t)
	sessions, ls, store := sessionsOn(t, func(s *persistence.Store) *lostAckStore { return &lostAckStore{Store: s} })
	if _, err := sessions.Create(ctx, "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	run := func(i int) error {
		_, err := AskSession[*pb.RunResponse](ctx, sessions, "s", &pb.RunRequest{Owner: "o", SessionId: "s",
			Message: fmt.Sprintf("q%d", i), MessageVec: topic(i%8, i), Response: fmt.Sprintf("a%d", i), ResponseVec: topic(i%8, i+1), ShortCircuitThreshold: 0.85})
		return err
	}
	turns := func() int32 {
		t.Helper()
		m, err := AskSession[*pb.MetricsResponse](ctx, sessions, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"})
		if err != nil {
			t.Fatal(err)
		}
		return m.GetInteractionCount()
	}
	if err := run(1); err != nil {
		t.Fatal(err)
	}
	ls.lose.Store(true)
	if err := run(2); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("the change whose acknowledgement was lost answered %v, want Unavailable", err)
	}
	if n := turns(); n != 1 { // this activation does not know it committed
		t.Fatalf("%d turns in memory after the lost acknowledgement, want 1", n)
	}
	// The next change takes the seq the lost one holds: refused, 503.
	if err := run(3); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("the change numbered onto the held entry answered %v, want Unavailable", err)
	}
	// The session comes back from its log, with the change it had missed.
	for i := 4; i <= 6; i++ {
		if err := run(i); err != nil {
			t.Fatalf("turn %d after the resync: %v", i, err)
		}
	}
	if n := turns(); n != 5 { // 1, 2 (committed, reported failed), 4, 5, 6
		t.Fatalf("%d turns after the resync, want 5", n)
	}
	entries, _, err := store.LogStats(ctx, "o", "s")
	if err != nil || entries != 5 {
		t.Fatalf("%d log entries (%v), want 5", entries, err)
	}
}
