package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
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

// The reads that are logged only for the accesses they count (a context
// block, an entity keyword query) keep working while the database is down:
// they answer the same items and count nothing, so the session's export
// is unchanged; once the database is back they count again.
func TestCountingReadsServedWhileDown(t *testing.T) {
	ctx := ctxT(t)
	sessions, ds, _ := sessionsOn(t, func(s *persistence.Store) *downStore { return &downStore{Store: s} })
	if _, err := sessions.Create(ctx, "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	ok(AskSession[*pb.RunResponse](ctx, sessions, "s", &pb.RunRequest{Owner: "o", SessionId: "s",
		Message: "where is the rota", MessageVec: topic(1, 1), Response: "in the wiki", ResponseVec: topic(1, 2), ShortCircuitThreshold: 0.85}))(t)
	ok(AskSession[*pb.PutEntityResponse](ctx, sessions, "s", &pb.PutEntityRequest{Owner: "o", SessionId: "s", Key: "rota", Kind: "path", Value: "wiki/rota"}))(t)
	context := func() *pb.ContextResponse {
		return ok(AskSession[*pb.ContextResponse](ctx, sessions, "s", &pb.ContextRequest{Owner: "o", SessionId: "s", TopK: 5}))(t)
	}
	entities := func() *pb.ListEntitiesResponse {
		return ok(AskSession[*pb.ListEntitiesResponse](ctx, sessions, "s", &pb.ListEntitiesRequest{Owner: "o", SessionId: "s", Q: "rota"}))(t)
	}
	export := func() string {
		return string(ok(AskSession[*pb.ExportResponse](ctx, sessions, "s", &pb.ExportRequest{Owner: "o", SessionId: "s", KeepReference: true}))(t).GetStateDict())
	}
	items := context().GetItems()
	if len(items) == 0 {
		t.Fatal("no context items")
	}
	counted := entities().GetEntities()[0].GetAccessCount()
	before := export()

	ds.down.Store(true)
	for range 3 {
		if got := context().GetItems(); len(got) != len(items) || got[0].GetMemoryHash() != items[0].GetMemoryHash() {
			t.Fatalf("context while down = %v, want %v", got, items)
		}
		if got := entities().GetEntities(); len(got) != 1 || got[0].GetAccessCount() != counted {
			t.Fatalf("entity query while down = %v, want the entity with access count %d", got, counted)
		}
	}
	if export() != before {
		t.Fatal("reads served while the database was down changed the session")
	}
	ds.down.Store(false)
	if got := entities().GetEntities()[0].GetAccessCount(); got != counted+1 {
		t.Fatalf("entity access count after the database came back = %d, want %d", got, counted+1)
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
// database is seen without another change: a second later the session
// looks at its log, finds the entry, stops, and the next read activates it
// from its log, with the change. Before, a session that took no further
// change served the state without it for as long as it ran (an outside
// attack with a frozen PostgreSQL: metrics, entities, exports and the
// cluster aggregate disagreed with a restart).
func TestALostCommitAcknowledgementIsSeenWithoutAnotherChange(t *testing.T) {
	ctx := ctxT(t)
	sessions, ls, _ := sessionsOn(t, func(s *persistence.Store) *lostAckStore { return &lostAckStore{Store: s} })
	if _, err := sessions.Create(ctx, "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	run := func(i int) error {
		_, err := AskSession[*pb.RunResponse](ctx, sessions, "s", &pb.RunRequest{Owner: "o", SessionId: "s",
			Message: fmt.Sprintf("q%d", i), MessageVec: topic(i, 0), Response: fmt.Sprintf("a%d", i), ResponseVec: topic(i, 1), ShortCircuitThreshold: 0.85})
		return err
	}
	turns := func() int64 {
		m, err := AskSession[*pb.MetricsResponse](ctx, sessions, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"})
		if err != nil {
			return -1 // stopping, or activating again
		}
		return int64(m.GetInteractionCount())
	}
	if err := run(1); err != nil {
		t.Fatal(err)
	}
	ls.lose.Store(true)
	if err := run(2); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("the change whose acknowledgement was lost answered %v, want Unavailable", err)
	}
	eventually(t, "the session serving the change its log holds", func() bool { return turns() == 2 })
	if err := run(3); err != nil { // and it takes changes again
		t.Fatalf("a change after the resync: %v", err)
	}
	if n := turns(); n != 3 {
		t.Fatalf("%d turns, want 3", n)
	}
}

// A failed commit that did not reach the database changes nothing: the
// session looks at its log, finds nothing past its state, and serves on.
func TestAFailedCommitThatDidNotLandKeepsTheSession(t *testing.T) {
	ctx := ctxT(t)
	sessions, fs, _ := sessionsOn(t, func(s *persistence.Store) *failingLogStore { return &failingLogStore{Store: s} })
	if _, err := sessions.Create(ctx, "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	req := func(i int) *pb.RunRequest {
		return &pb.RunRequest{Owner: "o", SessionId: "s", Message: fmt.Sprintf("q%d", i), MessageVec: topic(i, 0), ShortCircuitThreshold: 0.85}
	}
	if _, err := AskSession[*pb.RunResponse](ctx, sessions, "s", req(1)); err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	if _, err := AskSession[*pb.RunResponse](ctx, sessions, "s", req(2)); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a failed commit answered %v, want Unavailable", err)
	}
	fs.fail.Store(false)
	eventually(t, "the session looking at its log", func() bool { return fs.looked.Load() > 0 })
	m, err := AskSession[*pb.MetricsResponse](ctx, sessions, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"})
	if err != nil || m.GetInteractionCount() != 1 {
		t.Fatalf("after a failed commit: %d turns (%v), want 1", m.GetInteractionCount(), err)
	}
	if _, err := AskSession[*pb.RunResponse](ctx, sessions, "s", req(3)); err != nil {
		t.Fatalf("a change after the look: %v", err)
	}
}

// A look at the log that began before a later commit failed does not
// answer for that one: the look finds nothing (it read before the second
// commit landed), and the second failure's own look then finds its entry.
// Before, the stale look cleared the doubt and the session served a state
// without a change its log held.
func TestAStaleLookAtTheLogDoesNotClearALaterFailure(t *testing.T) {
	ctx := ctxT(t)
	sessions, st, _ := sessionsOn(t, func(s *persistence.Store) *heldLookStore {
		return &heldLookStore{Store: s, read: make(chan struct{}), release: make(chan struct{})}
	})
	if _, err := sessions.Create(ctx, "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	run := func(i int) error {
		_, err := AskSession[*pb.RunResponse](ctx, sessions, "s", &pb.RunRequest{Owner: "o", SessionId: "s",
			Message: fmt.Sprintf("q%d", i), MessageVec: topic(i, 0), ShortCircuitThreshold: 0.85})
		return err
	}
	turns := func() int64 {
		m, err := AskSession[*pb.MetricsResponse](ctx, sessions, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"})
		if err != nil {
			return -1
		}
		return m.GetInteractionCount()
	}
	if err := run(1); err != nil {
		t.Fatal(err)
	}
	st.fail.Store(true) // a commit that does not land
	if err := run(2); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a failed commit answered %v", err)
	}
	st.fail.Store(false)
	st.hold.Store(true)
	<-st.read // the look has read the log (nothing past turn 1) and is held
	st.lose.Store(true)
	if err := run(3); semvec.KindOf(err) != semvec.KindUnavailable { // lands, its answer lost
		t.Fatalf("the change whose acknowledgement was lost answered %v", err)
	}
	close(st.release) // the stale look answers now
	eventually(t, "the session serving the change its log holds", func() bool { return turns() == 2 })
}

// heldLookStore is failingLogStore and lostAckStore in one, and once hold
// is set it holds the next look at a session's log after reading it (a
// stale answer), until release is closed.
type heldLookStore struct {
	*persistence.Store
	fail, lose, hold atomic.Bool
	read, release    chan struct{}
}

func (h *heldLookStore) AppendLog(ctx context.Context, e []persistence.LogEntry) ([]error, error) {
	if h.fail.Load() {
		return nil, semvec.Errorf(semvec.KindUnavailable, "database unavailable")
	}
	refused, err := h.Store.AppendLog(ctx, e)
	if err == nil && h.lose.CompareAndSwap(true, false) {
		return nil, semvec.Errorf(semvec.KindUnavailable, "database unavailable")
	}
	return refused, err
}

func (h *heldLookStore) LoadLog(ctx context.Context, owner, id string, after int64) ([]persistence.LogEntry, error) {
	entries, err := h.Store.LoadLog(ctx, owner, id, after)
	if after > 0 && h.hold.CompareAndSwap(true, false) {
		close(h.read)
		<-h.release
	}
	return entries, err
}

// failingLogStore fails every log append while fail is set, writing
// nothing, and counts the reads of a session's log past an entry (the look
// after a failed commit; an activation reads from 0).
type failingLogStore struct {
	*persistence.Store
	fail   atomic.Bool
	looked atomic.Int32
}

func (f *failingLogStore) AppendLog(ctx context.Context, e []persistence.LogEntry) ([]error, error) {
	if f.fail.Load() {
		return nil, semvec.Errorf(semvec.KindUnavailable, "database unavailable")
	}
	return f.Store.AppendLog(ctx, e)
}

func (f *failingLogStore) LoadLog(ctx context.Context, owner, id string, after int64) ([]persistence.LogEntry, error) {
	if after > 0 {
		f.looked.Add(1)
	}
	return f.Store.LoadLog(ctx, owner, id, after)
}

// A change whose commit was reported failed although it reached the
// database (its outcome was lost) is not numbered again forever: the next
// changes find its seq taken (ErrBehindLog) and are answered 503 without
// landing (neither the colliding one nor those queued behind it), the
// session stops, and the next request activates it from its log, with the
// change it had missed; it then takes changes again. Before, every later
// change of the session collided with the held entry (409), and failed the
// other sessions' entries committed with it.
func TestLostCommitAcknowledgementResyncs(t *testing.T) {
	ctx := ctxT(t)
	sessions, ls, store := sessionsOn(t, func(s *persistence.Store) *lostAckStore { return &lostAckStore{Store: s} })
	for _, id := range []string{"s", "other"} {
		if _, err := sessions.Create(ctx, "o", CreateOptions{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(id string, i int) error {
		_, err := AskSession[*pb.RunResponse](ctx, sessions, id, &pb.RunRequest{Owner: "o", SessionId: id,
			Message: fmt.Sprintf("q%d", i), MessageVec: topic(i%8, i), Response: fmt.Sprintf("a%d", i), ResponseVec: topic(i%8, i+1), ShortCircuitThreshold: 0.85})
		return err
	}
	acked := map[string]bool{}
	if err := run("s", 1); err != nil {
		t.Fatal(err)
	}
	acked["q1"] = true
	ls.lose.Store(true)
	if err := run("s", 2); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("the change whose acknowledgement was lost answered %v, want Unavailable", err)
	}
	m, err := AskSession[*pb.MetricsResponse](ctx, sessions, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"})
	if err != nil || m.GetInteractionCount() != 1 { // this activation does not know it committed
		t.Fatalf("%d turns in memory after the lost acknowledgement (%v), want 1", m.GetInteractionCount(), err)
	}
	// Changes pipelined onto the held entry, with another session's
	// changes committed alongside: none of s's may land unanswered.
	type result struct {
		msg string
		err error
	}
	results := make(chan result, 16)
	for i := 3; i <= 10; i++ {
		go func() { results <- result{fmt.Sprintf("q%d", i), run("s", i)} }()
		go func() { results <- result{"other", run("other", i)} }()
	}
	for range 16 {
		r := <-results
		switch {
		case r.msg == "other" && r.err != nil:
			t.Fatalf("another session's change failed beside the collision: %v", r.err)
		case r.msg == "other":
		case r.err == nil:
			acked[r.msg] = true
		case semvec.KindOf(r.err) != semvec.KindUnavailable:
			t.Fatalf("%s answered %v, want 200 or Unavailable", r.msg, r.err)
		}
	}
	// The session comes back from its log and takes changes again.
	for i := 11; i <= 13; i++ {
		if err := run("s", i); err != nil {
			t.Fatalf("turn %d after the resync: %v", i, err)
		}
		acked[fmt.Sprintf("q%d", i)] = true
	}
	// The log holds exactly the acknowledged changes, plus the one whose
	// acknowledgement was lost, in order.
	entries, err := store.LoadLog(ctx, "o", "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	inLog := map[string]bool{}
	for n, e := range entries {
		var c pb.SessionChange
		if err := decodeChange(e.Data, &c); err != nil {
			t.Fatal(err)
		}
		msg := c.GetRun().GetMessage()
		if e.Seq != int64(n+1) || inLog[msg] {
			t.Fatalf("log entry %d has seq %d (%s): the log has a gap or a repeat", n, e.Seq, msg)
		}
		inLog[msg] = true
	}
	want := maps.Clone(acked)
	want["q2"] = true
	if !maps.Equal(inLog, want) {
		t.Fatalf("the log holds %v, want the acknowledged changes and q2: %v", slices.Sorted(maps.Keys(inLog)), slices.Sorted(maps.Keys(want)))
	}
	m, err = AskSession[*pb.MetricsResponse](ctx, sessions, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"})
	if err != nil || int(m.GetInteractionCount()) != len(want) {
		t.Fatalf("%d turns after the resync (%v), want %d", m.GetInteractionCount(), err, len(want))
	}
}

// A change the log refuses at once — one that cannot be encoded, or a log
// that is full or closed — is answered at once on a session with nothing
// else to do, not when the next message reaches it (its asker timed out).
func TestAChangeTheLogRefusesIsAnsweredAtOnce(t *testing.T) {
	sessions, _, _ := sessionsOn(t, func(s *persistence.Store) *persistence.Store { return s })
	ctx := ctxT(t)
	id, err := sessions.Create(ctx, "alice", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	// Not UTF-8: protobuf refuses to encode the log entry.
	_, err = AskSession[*pb.DeleteEntityResponse](short, sessions, id, &pb.DeleteEntityRequest{Owner: "alice", SessionId: id, Key: "\xff"})
	if err == nil || semvec.KindOf(err) == semvec.KindTimeout {
		t.Fatalf("a change the log could not take answered %v, want its error at once", err)
	}
}

// Sessions.Create checks what HTTP checks for its own callers too: an id
// no route could name, a kind that is not one, and a call after Shutdown
// (which wrote a row whose first turn then timed out) are refused.
func TestCreateRefusesWhatNoRouteCouldUse(t *testing.T) {
	sessions, _, store := sessionsOn(t, func(s *persistence.Store) *persistence.Store { return s })
	ctx := ctxT(t)
	for _, tc := range []struct {
		opts CreateOptions
		kind semvec.Kind
	}{
		{CreateOptions{ID: "has/slash"}, semvec.KindValidation},
		{CreateOptions{ID: ".."}, semvec.KindValidation},
		{CreateOptions{ID: strings.Repeat("x", 129)}, semvec.KindValidation},
		{CreateOptions{Kind: "garbage"}, semvec.KindInvalid},
	} {
		if _, err := sessions.Create(ctx, "alice", tc.opts); semvec.KindOf(err) != tc.kind {
			t.Fatalf("Create(%+v) = %v, want kind %v", tc.opts, err, tc.kind)
		}
	}
	if err := sessions.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Create(ctx, "alice", CreateOptions{ID: "after-shutdown"}); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("Create after Shutdown = %v, want unavailable", err)
	}
	if _, err := store.GetSession(ctx, "alice", "after-shutdown"); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("Create after Shutdown wrote a row: %v", err)
	}
}
