package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
	"github.com/semvec-go/semvec/vecmath"
	"github.com/semvec-go/semvec/vecmath/embed"
)

// Replay tests: a session driven through every kind of change, then the
// process "crashes" (its actor system is shut down without Sessions.Shutdown,
// so no session is passivated and no checkpoint is written at the end), and
// a new process on the same database activates it from its checkpoint and
// log. The recovered session must export byte-identically.

// replayProc is one "process": an actor system and a session layer on a
// shared store.
type replayProc struct {
	sys      *actor.ActorSystem
	sessions *Sessions
	once     sync.Once
}

func startReplayProc(store SessionStore, dim int) *replayProc {
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	ask := &Asker{Root: sys.Root, Timeout: 10 * time.Second}
	return &replayProc{sys: sys, sessions: NewSessions(sys.Root, store, ask, SessionConfig{Dim: dim, ModelName: "test"}, log, nil)}
}

// crash ends the process the way SIGKILL would for the session layer: no
// passivation, no final checkpoint. Then its log and checkpoint goroutines
// end too (nothing is queued on them: every change was answered).
func (p *replayProc) crash() {
	p.once.Do(func() {
		p.sys.Shutdown()
		p.sessions.Abandon()
	})
}

func openReplayStore(t testing.TB) *persistence.Store {
	t.Helper()
	store, err := persistence.Open(context.Background(), "sqlite:///"+filepath.Join(t.TempDir(), "replay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// askOK sends req to session id and fails the test on an error.
func askOK[R Reply](t *testing.T, s *Sessions, id string, req OwnedRequest) R {
	t.Helper()
	r, err := AskSession[R](ctxT(t), s, id, req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return r
}

// askFails sends a change that the session refuses; it is logged all the
// same, so its replay must refuse it again and change nothing.
func askFails[R Reply](t *testing.T, s *Sessions, id string, req OwnedRequest, kind semvec.Kind) {
	t.Helper()
	if _, err := AskSession[R](ctxT(t), s, id, req); semvec.KindOf(err) != kind {
		t.Fatalf("%T: %v, want %v", req, err, kind)
	}
}

func exportOf(t *testing.T, s *Sessions, owner, id string) []byte {
	t.Helper()
	return askOK[*pb.ExportResponse](t, s, id, &pb.ExportRequest{Owner: owner, SessionId: id}).GetStateDict()
}

// driveSession sends session id every kind of change the log records (and
// the reads in between, which must not change what is replayed). round
// varies the texts so that the script can be run several times.
func driveSession(t *testing.T, s *Sessions, owner, id, donor string, round int) {
	t.Helper()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).Add(time.Duration(round) * time.Hour)
	tick := func() int64 { now = now.Add(1500 * time.Millisecond); return now.UnixNano() }
	r := func(f string, args ...any) string { return fmt.Sprintf("r%d ", round) + fmt.Sprintf(f, args...) }
	run := func(msg string, mv []float32, resp string, rv []float32) *pb.RunResponse {
		t.Helper()
		req := &pb.RunRequest{Owner: owner, SessionId: id, Message: msg, MessageVec: mv, ShortCircuitThreshold: 0.85}
		if resp != "" {
			req.Response, req.ResponseVec = resp, rv
		}
		if round%2 == 0 {
			req.NowUnixNano = tick() // otherwise the actor's clock stamps it
		}
		return askOK[*pb.RunResponse](t, s, id, req)
	}

	// Import a donor's state first (the whole engine is replaced), then
	// build on it. The checksum must match the one inside the state_dict.
	donorState := askOK[*pb.ExportResponse](t, s, donor, &pb.ExportRequest{Owner: owner, SessionId: donor})
	if round == 0 {
		askOK[*pb.ImportResponse](t, s, id, &pb.ImportRequest{Owner: owner, SessionId: id, StateDict: donorState.GetStateDict(), Checksum: donorState.GetChecksum()})
	}
	askFails[*pb.ImportResponse](t, s, id, &pb.ImportRequest{Owner: owner, SessionId: id, StateDict: donorState.GetStateDict(), Checksum: "0000"}, semvec.KindInvalid)

	// Turns with and without responses, explicit stores and pairs.
	run(r("How do I scale a deployment?"), topic(1, 1), "", nil)
	askOK[*pb.StoreResponse](t, s, id, &pb.StoreRequest{Owner: owner, SessionId: id, Response: r("Use kubectl scale."), ResponseVec: topic(1, 2), NowUnixNano: tick()})
	run(r("What is a pod?"), topic(2, 1), r("An answer nobody asked for."), topic(2, 2))
	askOK[*pb.StoreResponse](t, s, id, &pb.StoreRequest{Owner: owner, SessionId: id, Message: r("Where are the logs?"), MessageVec: topic(3, 1),
		Response: r("In /var/log."), ResponseVec: topic(3, 2)})
	askFails[*pb.RunResponse](t, s, id, &pb.RunRequest{Owner: owner, SessionId: id, Message: "wrong dimension", MessageVec: []float32{1, 0}, ShortCircuitThreshold: 0.85}, semvec.KindValidation)

	// Triggers (keyword and embedding), anchors; a trigger fires on a turn.
	askOK[*pb.TriggerResponse](t, s, id, &pb.TriggerRequest{Owner: owner, SessionId: id, Keyword: "deploy"})
	askOK[*pb.TriggerResponse](t, s, id, &pb.TriggerRequest{Owner: owner, SessionId: id, Embedding: topic(4, 1), Threshold: 0.8})
	askOK[*pb.AnchorResponse](t, s, id, &pb.AnchorRequest{Owner: owner, SessionId: id, Embedding: topic(2, 3)})
	for k := 0; k < 8; k++ {
		run(r("turn %d: how do I deploy topic %d?", k, k%5), topic(1+k%5, k), r("answer %d", k), topic(1+k%5, k+1))
	}
	askOK[*pb.TriggerResponse](t, s, id, &pb.TriggerRequest{Owner: owner, SessionId: id, Clear: true})
	askOK[*pb.TriggerResponse](t, s, id, &pb.TriggerRequest{Owner: owner, SessionId: id, Keyword: "vault"})

	// Reads that count accesses (logged) and reads that do not.
	ctxRes := askOK[*pb.ContextResponse](t, s, id, &pb.ContextRequest{Owner: owner, SessionId: id, TopK: 5, FullFirst: true, MaxChars: 200})
	askOK[*pb.ContextResponse](t, s, id, &pb.ContextRequest{Owner: owner, SessionId: id, TopK: 3})
	askOK[*pb.MetricsResponse](t, s, id, &pb.MetricsRequest{Owner: owner, SessionId: id})
	askOK[*pb.AnchorScoreResponse](t, s, id, &pb.AnchorScoreRequest{Owner: owner, SessionId: id})
	askOK[*pb.StateResponse](t, s, id, &pb.StateRequest{Owner: owner, SessionId: id})
	askOK[*pb.VerifyResponse](t, s, id, &pb.VerifyRequest{Owner: owner, SessionId: id, TestEmbeddings: []*pb.Vector{{Values: topic(1, 1)}}})
	if items := ctxRes.GetItems(); len(items) > 0 {
		askOK[*pb.MemoryResponse](t, s, id, &pb.MemoryRequest{Owner: owner, SessionId: id, MemoryHash: items[0].GetMemoryHash()})
	}

	// The literal cache: puts, a keyword query (counts accesses), a plain
	// listing (counts nothing), deletes, a delete of an unknown key.
	for k := 0; k < 3; k++ {
		askOK[*pb.PutEntityResponse](t, s, id, &pb.PutEntityRequest{Owner: owner, SessionId: id, Key: fmt.Sprintf("src/file%d.go", k), Kind: "path",
			Value: r("file %d", k), Context: "seen in the stack trace", Importance: 1 + float64(k)})
	}
	askOK[*pb.ListEntitiesResponse](t, s, id, &pb.ListEntitiesRequest{Owner: owner, SessionId: id, Q: "file1", MaxResults: 10})
	askOK[*pb.ListEntitiesResponse](t, s, id, &pb.ListEntitiesRequest{Owner: owner, SessionId: id, MaxResults: 10})
	askOK[*pb.DeleteEntityResponse](t, s, id, &pb.DeleteEntityRequest{Owner: owner, SessionId: id, Key: "src/file0.go"})
	askFails[*pb.DeleteEntityResponse](t, s, id, &pb.DeleteEntityRequest{Owner: owner, SessionId: id, Key: "no/such/key"}, semvec.KindNotFound)

	// Injected memories in every tier.
	for k, tier := range []string{"short_term", "medium_term", "long_term"} {
		askOK[*pb.InjectMemoryResponse](t, s, id, &pb.InjectMemoryRequest{Owner: owner, SessionId: id, Text: r("injected %s fact", tier),
			Embedding: topic(5, k), Tier: tier, Importance: 2.5, AccessCount: int32(k), NowUnixNano: tick()})
	}
	// Long-term facts: from the second round on past the tier's cap, they
	// merge into full clusters, which keep their newest items (multi-line
	// ones joined). Round 0 stays below checkpointEvery entries.
	for k := 0; k < 12; k++ {
		askOK[*pb.InjectMemoryResponse](t, s, id, &pb.InjectMemoryRequest{Owner: owner, SessionId: id,
			Text:      r("long-term fact %d:\n%s", k, strings.Repeat("a detail that makes the text long enough to fill a cluster. ", 6)),
			Embedding: topic(5+k%2, k), Tier: "long_term", NowUnixNano: tick()})
	}

	// Blend the state towards a target (what a cluster does).
	askOK[*pb.BlendResponse](t, s, id, &pb.BlendRequest{Owner: owner, SessionId: id, Target: topic(6, 1), Weight: 0.3})

	// Isolation: FILTER drops an excluded message, QUARANTINE shadows one
	// (its answer too), release brings the shadowed ones back, OPEN again.
	excl := []*pb.Vector{{Values: topic(7, 0)}}
	askOK[*pb.IsolationResponse](t, s, id, &pb.IsolationRequest{Owner: owner, SessionId: id, Level: "FILTER", ExclusionEmbeddings: excl, SimilarityThreshold: 0.9})
	run(r("about the excluded topic"), topic(7, 0), r("answer 8"), topic(1, 3))
	askOK[*pb.IsolationResponse](t, s, id, &pb.IsolationRequest{Owner: owner, SessionId: id, Level: "QUARANTINE", ExclusionEmbeddings: excl, SimilarityThreshold: 0.9})
	run(r("the excluded topic again"), topic(7, 0), "", nil)
	run(r("and a normal one"), topic(2, 4), r("the shadowed answer"), topic(7, 1))
	askOK[*pb.ReleaseResponse](t, s, id, &pb.ReleaseRequest{Owner: owner, SessionId: id, NowUnixNano: tick()})
	askOK[*pb.ReleaseResponse](t, s, id, &pb.ReleaseRequest{Owner: owner, SessionId: id})
	askOK[*pb.IsolationResponse](t, s, id, &pb.IsolationRequest{Owner: owner, SessionId: id, Level: "OPEN"})
	askFails[*pb.IsolationResponse](t, s, id, &pb.IsolationRequest{Owner: owner, SessionId: id, Level: "NO-SUCH-LEVEL"}, semvec.KindValidation)

	// A reset in the middle of a later round, then more turns.
	if round == 2 {
		run(r("start over"), topic(3, 3), "", nil)
		askOK[*pb.RunResponse](t, s, id, &pb.RunRequest{Owner: owner, SessionId: id, Message: r("fresh start"), MessageVec: topic(3, 4), ResetContext: true, ShortCircuitThreshold: 0.85})
	}
	for k := 0; k < 4; k++ {
		run(r("closing turn %d", k), topic(1+k, 5), r("closing answer %d", k), topic(1+k, 6))
	}
}

// newReplaySession creates session id (with a template and a policy
// vector, so it starts from a checkpoint of seq 0) and a donor session to
// import from, driven a little.
func newReplaySession(t *testing.T, s *Sessions, owner, id string) (donor string) {
	t.Helper()
	ctx := ctxT(t)
	tmpl := topic(0, 3)
	if _, err := s.Create(ctx, owner, CreateOptions{ID: id, Template: tmpl, Policy: []PolicyVector{{Embedding: topic(2, 0)}}}); err != nil {
		t.Fatal(err)
	}
	donor = id + "-donor"
	if _, err := s.Create(ctx, owner, CreateOptions{ID: donor}); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 3; k++ {
		askOK[*pb.RunResponse](t, s, donor, &pb.RunRequest{Owner: owner, SessionId: donor, Message: fmt.Sprintf("donor question %d", k),
			MessageVec: topic(4+k, 1), Response: fmt.Sprintf("donor answer %d", k), ResponseVec: topic(4+k, 2), ShortCircuitThreshold: 0.85})
	}
	return donor
}

// waitCheckpoint polls (at most 10 s) until the checkpoint of owner's
// session id satisfies ok, and returns it with the log entries after it.
func waitCheckpoint(t *testing.T, store *persistence.Store, owner, id string, ok func(cp persistence.Checkpoint, logged int64) bool) (persistence.Checkpoint, int64) {
	t.Helper()
	ctx := ctxT(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp, err := store.LoadCheckpoint(ctx, owner, id)
		if err != nil && semvec.KindOf(err) != semvec.KindNotFound {
			t.Fatal(err)
		}
		n, _, err := store.LogStats(ctx, owner, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(cp, n) {
			return cp, n
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint of %s: seq %d with %d log entries after it, still not as expected after 10 s", id, cp.Seq, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recoverAndCompare crashes p, starts a new process on store, and checks
// that session id exports exactly want.
func recoverAndCompare(t *testing.T, p *replayProc, store *persistence.Store, owner, id string, want []byte) *replayProc {
	t.Helper()
	p.crash()
	q := startReplayProc(store, testDim)
	t.Cleanup(q.crash)
	got := exportOf(t, q.sessions, owner, id)
	if !bytes.Equal(got, want) {
		t.Fatalf("the recovered session differs from the one before the crash:\nbefore: %s\nafter:  %s", want, got)
	}
	return q
}

// Recovery from the log alone (the checkpoint is the one written at create,
// seq 0): every change is replayed.
func TestReplayFromLogIsByteIdentical(t *testing.T) {
	store := openReplayStore(t)
	p := startReplayProc(store, testDim)
	donor := newReplaySession(t, p.sessions, "o", "log-only")
	driveSession(t, p.sessions, "o", "log-only", donor, 0)
	cp, n := waitCheckpoint(t, store, "o", "log-only", func(cp persistence.Checkpoint, n int64) bool { return true })
	if cp.Seq != 0 || n < 40 || n >= checkpointEvery {
		t.Fatalf("want only the create checkpoint and under %d log entries: checkpoint seq %d, %d entries", checkpointEvery, cp.Seq, n)
	}
	want := exportOf(t, p.sessions, "o", "log-only")
	q := recoverAndCompare(t, p, store, "o", "log-only", want)

	// The recovered session goes on from the right sequence number: a new
	// change commits, and survives the next crash too.
	askOK[*pb.RunResponse](t, q.sessions, "log-only", &pb.RunRequest{Owner: "o", SessionId: "log-only", Message: "after the crash",
		MessageVec: topic(1, 7), Response: "still here", ResponseVec: topic(1, 6), ShortCircuitThreshold: 0.85})
	want = exportOf(t, q.sessions, "o", "log-only")
	recoverAndCompare(t, q, store, "o", "log-only", want)
}

// Recovery from a checkpoint taken in the middle plus the log after it.
func TestReplayFromCheckpointAndLogIsByteIdentical(t *testing.T) {
	store := openReplayStore(t)
	p := startReplayProc(store, testDim)
	donor := newReplaySession(t, p.sessions, "o", "mid")
	driveSession(t, p.sessions, "o", "mid", donor, 0)
	_, before := waitCheckpoint(t, store, "o", "mid", func(persistence.Checkpoint, int64) bool { return true })
	if err := p.sessions.Notify(ctxT(t), "o", "mid", &pb.Flush{}); err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, store, "o", "mid", func(cp persistence.Checkpoint, n int64) bool { return cp.Seq == before && n == 0 })
	driveSession(t, p.sessions, "o", "mid", donor, 1)
	cp, n := waitCheckpoint(t, store, "o", "mid", func(persistence.Checkpoint, int64) bool { return true })
	if cp.Seq != before || n == 0 {
		t.Fatalf("want the flushed checkpoint (seq %d) and the log after it: seq %d, %d entries", before, cp.Seq, n)
	}
	want := exportOf(t, p.sessions, "o", "mid")
	recoverAndCompare(t, p, store, "o", "mid", want)
}

// Many changes: the session writes its own checkpoints every
// checkpointEvery entries; recovery is the last of them plus the rest.
func TestReplayAfterAutomaticCheckpointsIsByteIdentical(t *testing.T) {
	store := openReplayStore(t)
	p := startReplayProc(store, testDim)
	donor := newReplaySession(t, p.sessions, "o", "long")
	for round := 0; round < 4; round++ {
		driveSession(t, p.sessions, "o", "long", donor, round)
	}
	// Wait for the last automatic checkpoint to land (the session never
	// waits for its writes), so that the crash does not race it: the
	// checkpoint is past the first one, fewer than checkpointEvery entries
	// follow it, and it stays put for 100 ms.
	var last persistence.Checkpoint
	var since time.Time
	cp, n := waitCheckpoint(t, store, "o", "long", func(cp persistence.Checkpoint, n int64) bool {
		if cp.Seq != last.Seq {
			last, since = cp, time.Now()
		}
		return cp.Seq > checkpointEvery && n < checkpointEvery && time.Since(since) > 100*time.Millisecond
	})
	if n == 0 {
		t.Logf("the script ended on a checkpoint (seq %d): recovery is the checkpoint alone", cp.Seq)
	}
	want := exportOf(t, p.sessions, "o", "long")
	recoverAndCompare(t, p, store, "o", "long", want)
}

// replayDim is the server's default embedding dimension (the hashing
// embedder's), for the recovery benchmark.
const replayDim = 384

// replayVec is a dense vector, as an external embedder's: every component
// non-zero.
func replayVec(dim, seed int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32((i*7919+seed*104729)%2003) - 1001
	}
	vecmath.Normalize(v)
	return v
}

// turnRequest is one /v1/run turn: a message and the previous answer,
// embedded at replayDim by the server's default embedder (the built-in
// hashing one, whose vectors are mostly zeros), or, when dense, by dense
// vectors as an external embedder's.
func turnRequest(owner, id string, k int, at time.Time, dense bool) *pb.RunRequest {
	req := &pb.RunRequest{Owner: owner, SessionId: id,
		Message:               fmt.Sprintf("How do I scale a Kubernetes deployment? (variant %d)", k%97),
		Response:              fmt.Sprintf("Use kubectl scale deployment web --replicas=%d.", k%7+2),
		ShortCircuitThreshold: 0.85, NowUnixNano: at.Add(time.Duration(k) * time.Second).UnixNano()}
	if dense {
		req.MessageVec, req.ResponseVec = replayVec(replayDim, 2*k), replayVec(replayDim, 2*k+1)
	} else {
		h := embed.NewHashing(replayDim)
		req.MessageVec, req.ResponseVec = h.EmbedTo(nil, req.Message), h.EmbedTo(nil, req.Response)
	}
	return req
}

// The size of one turn's log entry: the entry data (the table adds its key
// columns: owner, session id, seq). With the server's default embedder an
// entry is well under 2 KiB; dense vectors have no zero runs to shorten and
// stay plain (two 384-d float32 vectors alone are 3,072 bytes).
func TestLogEntryBytesPerTurn(t *testing.T) {
	for _, dense := range []bool{false, true} {
		name := map[bool]string{false: "built-in embedder", true: "dense vectors"}[dense]
		t.Run(name, func(t *testing.T) {
			store := openReplayStore(t)
			p := startReplayProc(store, replayDim)
			t.Cleanup(p.crash)
			ctx := ctxT(t)
			if _, err := p.sessions.Create(ctx, "o", CreateOptions{ID: "turns"}); err != nil {
				t.Fatal(err)
			}
			const turns = 50 // under checkpointEvery: every entry stays in the log
			for k := 0; k < turns; k++ {
				run := turnRequest("o", "turns", k, time.Now(), dense)
				run.NowUnixNano = 0
				askOK[*pb.RunResponse](t, p.sessions, "turns", run)
			}
			n, size, err := store.LogStats(ctx, "o", "turns")
			if err != nil || n != turns {
				t.Fatalf("%d entries (%v), want %d", n, err, turns)
			}
			t.Logf("log: %d /v1/run turns (message + answer, %d-d vectors, %s) take %d bytes of entry data: %.0f bytes per turn", n, replayDim, name, size, float64(size)/float64(n))
			if !dense && size > 2048*n {
				t.Errorf("%.0f bytes per turn with the built-in embedder, want at most 2 KiB", float64(size)/float64(n))
			}
		})
	}
}

// plainLog is a store on which the odd log entries are written in the
// format of the versions before entries were packed: the plain encoding.
type plainLog struct{ *persistence.Store }

func (s plainLog) AppendLog(ctx context.Context, entries []persistence.LogEntry) ([]error, error) {
	entries = slices.Clone(entries)
	for i, e := range entries {
		if e.Seq%2 == 1 {
			var c pb.SessionChange
			if err := decodeChange(e.Data, &c); err != nil {
				return nil, err
			}
			plain, err := proto.Marshal(&c)
			if err != nil {
				return nil, err
			}
			entries[i].Data = plain
		}
	}
	return s.Store.AppendLog(ctx, entries)
}

// A log written partly by an older version (plain entries) and partly by
// this one (entries with their zero runs shortened) replays exactly.
func TestReplayOfPlainAndPackedEntriesIsByteIdentical(t *testing.T) {
	store := openReplayStore(t)
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	ask := &Asker{Root: sys.Root, Timeout: 10 * time.Second}
	p := &replayProc{sys: sys, sessions: NewSessions(sys.Root, plainLog{store}, ask, SessionConfig{Dim: testDim, ModelName: "test"}, log, nil)}
	donor := newReplaySession(t, p.sessions, "o", "mixed")
	driveSession(t, p.sessions, "o", "mixed", donor, 0)
	if _, size, err := store.LogStats(ctxT(t), "o", "mixed"); err != nil || size == 0 {
		t.Fatalf("log of %d bytes (%v)", size, err)
	}
	entries, err := store.LoadLog(ctxT(t), "o", "mixed", 0)
	if err != nil {
		t.Fatal(err)
	}
	formats := map[bool]int{}
	for _, e := range entries {
		formats[e.Data[0] == entryZeroRuns]++
	}
	if formats[true] == 0 || formats[false] == 0 {
		t.Fatalf("want plain and packed entries: %v", formats)
	}
	want := exportOf(t, p.sessions, "o", "mixed")
	recoverAndCompare(t, p, store, "o", "mixed", want)
}

// An entry decodes to the change it encoded: packed when that is
// shorter (the built-in embedder's vectors), plain otherwise (dense
// vectors). An unknown format or an invalid zero run is corrupt.
func TestEncodeChangeRoundTrip(t *testing.T) {
	for _, dense := range []bool{false, true} {
		c := &pb.SessionChange{Change: &pb.SessionChange_Run{Run: turnRequest("o", "s", 1, time.Now(), dense)}}
		data, err := encodeChange(c)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := proto.Marshal(c)
		if packed := data[0] == entryZeroRuns; packed == dense || len(data) > len(plain) {
			t.Errorf("dense %v: packed %v, %d bytes for %d plain", dense, packed, len(data), len(plain))
		}
		var got pb.SessionChange
		if err := decodeChange(data, &got); err != nil || !proto.Equal(&got, c) {
			t.Fatalf("dense %v: decoded %v (%v)", dense, &got, err)
		}
	}
	var c pb.SessionChange
	for _, bad := range [][]byte{{2, 1, 2, 3}, {entryZeroRuns, 8, 0}, {entryZeroRuns, 8, 0, 0, 1}} {
		if err := decodeChange(bad, &c); err == nil {
			t.Errorf("% x: decoded", bad)
		}
	}
}

// The zero-run code gives back any input exactly, whatever its zeros.
func TestZeroRunsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, in := range [][]byte{nil, {0}, {1}, make([]byte, 255), make([]byte, 256), make([]byte, 1000), {0, 1, 0, 0, 2, 0}} {
		checkZeroRuns(t, in)
	}
	for range 500 {
		in := make([]byte, r.IntN(4000))
		zeros := r.Float64()
		for i := range in {
			if r.Float64() >= zeros {
				in[i] = byte(1 + r.IntN(255))
			}
		}
		checkZeroRuns(t, in)
	}
}

func FuzzZeroRuns(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		checkZeroRuns(t, in)
		_, _ = expandZeroRuns(nil, in) // arbitrary input: an error, never a panic
	})
}

func checkZeroRuns(t *testing.T, in []byte) {
	t.Helper()
	enc := appendZeroRuns(nil, in)
	if bytes.Contains(enc, []byte{0, 0}) { // a run's length is never 0, data bytes never 0
		t.Fatalf("a zero-length run in % x", enc)
	}
	out, err := expandZeroRuns(nil, enc)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("% x -> % x -> % x (%v)", in, enc, out, err)
	}
}

// BenchmarkRecover1000 measures the activation of a session whose log holds
// 1,000 /v1/run turns (message + answer, 384-d) after its checkpoint: read
// the session row, the checkpoint and the log, replay every turn.
func BenchmarkRecover1000(b *testing.B) {
	store := openReplayStore(b)
	p := startReplayProc(store, replayDim)
	defer p.crash()
	ctx := context.Background()
	rec := p.sessions.NewRecord("o", "recover", "session")
	if err := store.CreateSession(ctx, rec); err != nil {
		b.Fatal(err)
	}
	const n = 1000
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	entries := make([]persistence.LogEntry, n)
	for k := range entries {
		data, err := encodeChange(&pb.SessionChange{Change: &pb.SessionChange_Run{Run: turnRequest("o", "recover", k, at, false)}})
		if err != nil {
			b.Fatal(err)
		}
		entries[k] = persistence.LogEntry{Owner: "o", SessionID: "recover", Incarnation: rec.Incarnation, Seq: int64(k + 1), Data: data}
	}
	for start := 0; start < n; start += 250 {
		refused, err := store.AppendLog(ctx, entries[start:min(start+250, n)])
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range refused {
			if e != nil {
				b.Fatal(e)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := AskSession[*pb.MetricsResponse](ctx, p.sessions, "recover", &pb.MetricsRequest{Owner: "o", SessionId: "recover"})
		if err != nil {
			b.Fatal(err)
		}
		if res.GetInteractionCount() != n {
			b.Fatalf("%d turns after recovery, want %d", res.GetInteractionCount(), n)
		}
		b.StopTimer()
		p.sessions.Discard(ctx, "o", "recover") // stop without saving: the next ask recovers again
		b.StartTimer()
	}
}

// A turn whose state norm reaches the engine's cap (maxNorm, 1.2) records it
// in the norm history as float32(1.2) = 1.20000005, which the snapshot
// decoder then refuses as out of range: a checkpoint taken after such a turn
// cannot be loaded, and the session cannot be activated again. The script's
// second round reaches the cap.
func TestCheckpointAtTheNormCapLoads(t *testing.T) {
	store := openReplayStore(t)
	p := startReplayProc(store, testDim)
	donor := newReplaySession(t, p.sessions, "o", "cap")
	driveSession(t, p.sessions, "o", "cap", donor, 0)
	driveSession(t, p.sessions, "o", "cap", donor, 1)
	want := exportOf(t, p.sessions, "o", "cap")
	var sd struct {
		History struct {
			Norm []float32 `json:"norm"`
		} `json:"history"`
	}
	if err := json.Unmarshal(want, &sd); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sd.History.Norm, float32(1.2)) {
		t.Fatalf("the script no longer reaches the norm cap: %v", sd.History.Norm)
	}
	if err := p.sessions.Notify(ctxT(t), "o", "cap", &pb.Flush{}); err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, store, "o", "cap", func(cp persistence.Checkpoint, n int64) bool { return n == 0 && cp.Seq > 0 })
	recoverAndCompare(t, p, store, "o", "cap", want)
}

// raceStore lets a test hold the next snapshot batch (armed) and release it,
// and run hook right after the next LoadCheckpoint returns.
type raceStore struct {
	*persistence.Store
	armed            atomic.Bool
	entered, release chan struct{}
	saved            chan struct{}
	hook             atomic.Bool
}

func (r *raceStore) SaveSnapshots(ctx context.Context, snaps []persistence.Snapshot) (int, error) {
	if r.armed.CompareAndSwap(true, false) {
		close(r.entered)
		<-r.release
		defer close(r.saved)
	}
	return r.Store.SaveSnapshots(ctx, snaps)
}

func (r *raceStore) LoadCheckpoint(ctx context.Context, owner, id string) (persistence.Checkpoint, error) {
	cp, err := r.Store.LoadCheckpoint(ctx, owner, id)
	if r.hook.CompareAndSwap(true, false) {
		close(r.release) // the passivation's checkpoint lands now ...
		<-r.saved
	}
	return cp, err // ... between this read and the log's
}

// A session passivated while its checkpoint is still queued may be
// activated again at once (a request for it, or SEMVEC_MAX_SESSIONS
// evicting and re-activating). Its activation reads the checkpoint and then
// the log in two statements; when the passivation's checkpoint lands in
// between, it deletes the log entries the activation was about to replay,
// and the activation comes back with the older checkpoint and no log: every
// change since that older checkpoint is silently gone.
func TestReactivationRacingThePassivationCheckpointLosesNothing(t *testing.T) {
	store := openReplayStore(t)
	rs := &raceStore{Store: store, entered: make(chan struct{}), release: make(chan struct{}), saved: make(chan struct{})}
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	defer sys.Shutdown()
	ask := &Asker{Root: sys.Root, Timeout: 10 * time.Second}
	s := NewSessions(sys.Root, rs, ask, SessionConfig{Dim: testDim, ModelName: "test", IdleTTL: time.Nanosecond, MaxSessions: 100}, log, nil)
	ctx := ctxT(t)
	if _, err := s.Create(ctx, "o", CreateOptions{ID: "s"}); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 10; k++ {
		askOK[*pb.RunResponse](t, s, "s", &pb.RunRequest{Owner: "o", SessionId: "s", Message: fmt.Sprintf("question %d", k), MessageVec: topic(1, k),
			Response: fmt.Sprintf("answer %d", k), ResponseVec: topic(2, k), ShortCircuitThreshold: 0.85})
	}
	rs.armed.Store(true)
	time.Sleep(time.Millisecond) // IdleTTL is 1 ns: the session is idle now
	if n := s.Sweep(ctx); n != 1 {
		t.Fatalf("the sweep passivated %d sessions, want 1", n)
	}
	<-rs.entered // the passivation's checkpoint is being written
	rs.hook.Store(true)
	res, err := AskSession[*pb.MetricsResponse](ctx, s, "s", &pb.MetricsRequest{Owner: "o", SessionId: "s"})
	if err != nil {
		t.Fatalf("re-activation: %v", err)
	}
	if res.GetInteractionCount() != 10 {
		t.Fatalf("re-activated with %d turns, 10 were acknowledged", res.GetInteractionCount())
	}
	_ = s.Shutdown(ctx)
}

// gatedCheckpoints holds the first checkpoint batch until release is closed
// and counts the checkpoints it is handed.
type gatedCheckpoints struct {
	*persistence.Store
	entered, release chan struct{}
	once             sync.Once
	count            atomic.Int64
}

func (g *gatedCheckpoints) SaveSnapshots(ctx context.Context, snaps []persistence.Snapshot) (int, error) {
	g.count.Add(int64(len(snaps)))
	g.once.Do(func() { close(g.entered); <-g.release })
	return g.Store.SaveSnapshots(ctx, snaps)
}

// While a session's checkpoint waits for the writer, its later entries do
// not queue more: one checkpoint at a time, whatever the writer's delay.
func TestOneCheckpointQueuedAtATime(t *testing.T) {
	store := &gatedCheckpoints{Store: openReplayStore(t), entered: make(chan struct{}), release: make(chan struct{})}
	log := slog.New(slog.DiscardHandler)
	sys := NewActorSystem(log)
	t.Cleanup(sys.Shutdown)
	s := NewSessions(sys.Root, store, &Asker{Root: sys.Root, Timeout: 10 * time.Second}, SessionConfig{Dim: replayDim, ModelName: "test"}, log, nil)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) }) // stops the change log's goroutine too
	if _, err := s.Create(ctxT(t), "o", CreateOptions{ID: "busy"}); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 3*checkpointEvery; k++ {
		askOK[*pb.RunResponse](t, s, "busy", turnRequest("o", "busy", k, time.Now(), false))
		if k == checkpointEvery {
			<-store.entered // the first checkpoint is being written, and held
		}
	}
	close(store.release)
	s.deps.writer.close() // drains the queue
	if n := store.count.Load(); n != 1 {
		t.Fatalf("%d checkpoints handed to the writer over %d entries, want 1 (the one being written)", n, 3*checkpointEvery)
	}
}

// An export sets the session's Verify reference (engine.Export), so it is
// logged like a change: after a crash the recovered session verifies
// against the same reference, not against itself.
func TestVerifyReferenceSurvivesCrash(t *testing.T) {
	store := openReplayStore(t)
	p := startReplayProc(store, testDim)
	ctx := ctxT(t)
	if _, err := p.sessions.Create(ctx, "o", CreateOptions{ID: "ref"}); err != nil {
		t.Fatal(err)
	}
	turn := func(s *Sessions, k int) {
		askOK[*pb.RunResponse](t, s, "ref", &pb.RunRequest{Owner: "o", SessionId: "ref", Message: fmt.Sprintf("question %d", k),
			MessageVec: topic(k, 1), Response: fmt.Sprintf("answer %d", k), ResponseVec: topic(k, 2), ShortCircuitThreshold: 0.85})
	}
	consistent := func(s *Sessions) bool {
		return askOK[*pb.VerifyResponse](t, s, "ref", &pb.VerifyRequest{Owner: "o", SessionId: "ref",
			TestEmbeddings: []*pb.Vector{{Values: topic(1, 0)}, {Values: topic(6, 0)}}}).GetConsistent()
	}
	for k := range 3 {
		turn(p.sessions, k)
	}
	exportOf(t, p.sessions, "o", "ref")
	if !consistent(p.sessions) {
		t.Fatal("a session is not consistent with its own export")
	}
	for k := 5; k < 9; k++ { // the state moves away from the exported one
		turn(p.sessions, k)
	}
	if consistent(p.sessions) {
		t.Fatal("the moved session still verifies against its export")
	}
	p.crash()
	q := startReplayProc(store, testDim)
	t.Cleanup(q.crash)
	if consistent(q.sessions) {
		t.Fatal("after the crash the session verifies against itself: the export's reference was lost")
	}
}
