package actors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// counterLimit is the largest value Import accepts for a counter (2^50).
const counterLimit = "1125899906842624"

// forgeCounters sets the turn, next_seq, and every access_count and merged
// of an exported state_dict to counterLimit and signs it again as a client
// can (the checksum is a plain SHA-256 of the canonical encoding, which is
// the dict without its checksum field, the last one).
func forgeCounters(t *testing.T, dict []byte) (forged []byte, checksum string) {
	t.Helper()
	canon := regexp.MustCompile(`,"checksum":"[0-9a-f]{64}"}$`).ReplaceAll(dict, []byte("}"))
	if len(canon) == len(dict) {
		t.Fatalf("no checksum at the end of %s", dict)
	}
	turn := regexp.MustCompile(`"turn":\d+`)
	first := true
	canon = turn.ReplaceAllFunc(canon, func(b []byte) []byte { // the first is the session's; memories follow
		if !first {
			return b
		}
		first = false
		return []byte(`"turn":` + counterLimit)
	})
	for _, f := range []string{"next_seq", "access_count", "merged"} {
		canon = regexp.MustCompile(`"`+f+`":\d+`).ReplaceAll(canon, []byte(`"`+f+`":`+counterLimit))
	}
	sum := sha256.Sum256(canon)
	checksum = hex.EncodeToString(sum[:])
	return append(canon[:len(canon)-1], []byte(`,"checksum":"`+checksum+`"}`)...), checksum
}

// TestReplayOfAnImportAtTheCounterLimits: a state imported with its turn,
// next_seq, access counts and merged items at the largest values Import
// accepts keeps being served: after more turns, stores and injections its
// own export imports again, and after its checkpoint is written and the
// process restarts, it is activated from that checkpoint and answers (the
// outside tester's report: the turn went past the decoder's limit, the
// re-import was a 400 and, after the restart, every request a 500).
func TestReplayOfAnImportAtTheCounterLimits(t *testing.T) {
	store := openReplayStore(t)
	p := startReplayProc(store, testDim)
	t.Cleanup(p.crash)
	const owner, id = "o", "limits"
	if _, err := p.sessions.Create(ctxT(t), owner, CreateOptions{ID: id}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	turn := func(s *Sessions, k int) {
		t.Helper()
		askOK[*pb.RunResponse](t, s, id, &pb.RunRequest{Owner: owner, SessionId: id, Message: fmt.Sprintf("question %d", k),
			MessageVec: topic(k%6, 1), Response: fmt.Sprintf("answer %d", k), ResponseVec: topic(k%6, 2),
			ShortCircuitThreshold: 0.85, NowUnixNano: at.Add(time.Duration(k) * time.Minute).UnixNano()})
	}
	for k := range 4 {
		turn(p.sessions, k)
	}
	dict, sum := forgeCounters(t, exportOf(t, p.sessions, owner, id))
	askOK[*pb.ImportResponse](t, p.sessions, id, &pb.ImportRequest{Owner: owner, SessionId: id, StateDict: dict, Checksum: sum})

	for k := 4; k < 10; k++ {
		turn(p.sessions, k)
	}
	askOK[*pb.StoreResponse](t, p.sessions, id, &pb.StoreRequest{Owner: owner, SessionId: id, Response: "a stored answer",
		ResponseVec: topic(7, 2), NowUnixNano: at.UnixNano()})
	for range 2 { // the second merges into the first
		askOK[*pb.InjectMemoryResponse](t, p.sessions, id, &pb.InjectMemoryRequest{Owner: owner, SessionId: id, Text: "a fact",
			Embedding: topic(5, 3), Tier: "long_term", Importance: 1, AccessCount: 1 << 30, NowUnixNano: at.UnixNano()})
	}
	askOK[*pb.ContextResponse](t, p.sessions, id, &pb.ContextRequest{Owner: owner, SessionId: id, TopK: 20})

	own := askOK[*pb.ExportResponse](t, p.sessions, id, &pb.ExportRequest{Owner: owner, SessionId: id})
	askOK[*pb.ImportResponse](t, p.sessions, id, &pb.ImportRequest{Owner: owner, SessionId: id, StateDict: own.GetStateDict(), Checksum: own.GetChecksum()})
	turn(p.sessions, 10)

	if err := p.sessions.Notify(ctxT(t), owner, id, &pb.Flush{}); err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, store, owner, id, func(cp persistence.Checkpoint, n int64) bool { return n == 0 && cp.Seq > 0 })
	want := exportOf(t, p.sessions, owner, id)
	q := recoverAndCompare(t, p, store, owner, id, want)
	turn(q.sessions, 11)
	if got := askOK[*pb.StateResponse](t, q.sessions, id, &pb.StateRequest{Owner: owner, SessionId: id}); !got.GetInitialized() {
		t.Fatal("the reactivated session lost its state")
	}
}

// unloadable is a session store whose checkpoint of one session (bad) is
// garbage: that session cannot be activated, and every request to it fails.
type unloadable struct {
	*persistence.Store
	bad atomic.Value // string
}

func (u *unloadable) LoadCheckpoint(ctx context.Context, owner, id string) (persistence.Checkpoint, error) {
	cp, err := u.Store.LoadCheckpoint(ctx, owner, id)
	if bad, _ := u.bad.Load().(string); bad == id {
		return persistence.Checkpoint{Data: []byte("not a session snapshot"), Seq: cp.Seq}, nil
	}
	return cp, err
}

// TestConsensusSkipsAVoterThatCannotBeLoaded: one session of a tenant whose
// checkpoint does not load fails its own requests (500) but not every
// proposal of the tenant: it does not vote. As the proposer it still fails
// the proposal.
func TestConsensusSkipsAVoterThatCannotBeLoaded(t *testing.T) {
	store := &unloadable{}
	e := newWrappedSessionsEnv(t, func(st *persistence.Store) SessionStore { store.Store = st; return store })
	ctx := ctxT(t)
	const own = "tenant-a"
	s1, s2, s3 := e.session(own), e.session(own), e.session(own)
	e.steady(own, s1, 0, 2)
	e.steady(own, s2, 0, 2)
	e.steady(own, s3, 0, 2)
	e.restart() // every session passivated: the next request activates it
	store.bad.Store(s2)

	if _, err := AskSession[*pb.StateResponse](ctx, e.sessions, s2, &pb.StateRequest{Owner: own, SessionId: s2}); semvec.KindOf(err) != semvec.KindInternal {
		t.Fatalf("a session whose checkpoint does not load: %v", err)
	}
	c := ok(e.layers.Propose(ctx, own, s1, topic(0, 0)))(t)
	if !c.GetAccepted() || len(c.GetVotes()) != 1 || c.GetVotes()[0].GetSessionId() != s3 {
		t.Fatalf("proposal with an unloadable voter = %+v", c)
	}
	if _, err := e.layers.Propose(ctx, own, s2, topic(0, 0)); semvec.KindOf(err) != semvec.KindInternal {
		t.Fatalf("proposal by an unloadable session: %v", err)
	}
}

// TestLayersLeaveOutASessionThatCannotBeLoaded: a session whose checkpoint
// does not load fails its own requests (500) but no layer operation it
// takes part in: cluster feedback aggregates and blends the members that
// load, a switch saves the partition of the sessions that load, and the
// observer samples the clusters whose sessions load. A cluster whose own
// backing session does not load still fails (500, not a 404).
func TestLayersLeaveOutASessionThatCannotBeLoaded(t *testing.T) {
	store := &unloadable{}
	e := newWrappedSessionsEnv(t, func(st *persistence.Store) SessionStore { store.Store = st; return store })
	ctx := ctxT(t)
	const own = "tenant-a"
	good, good2, bad := e.session(own), e.session(own), e.session(own)
	e.steady(own, good, 0, 2)
	e.steady(own, good2, 2, 2)
	e.steady(own, bad, 1, 2)
	c := e.cluster(own, AggregationWeightedAverage, 0.5)
	for _, m := range []string{good, good2, bad} {
		ok(e.layers.AddMember(ctx, own, c, m))(t)
	}
	broken := e.cluster(own, AggregationWeightedAverage, 0.5) // its backing session will not load
	r := e.region(own, 0.5, 60)
	ok(e.layers.AttachCluster(ctx, own, r.ID, c))(t)
	ok(e.layers.AttachCluster(ctx, own, r.ID, broken))(t)
	if _, _, err := e.layers.EnsureObserver(ctx, own, 3600, []string{r.ID}); err != nil {
		t.Fatal(err)
	}
	ok(e.layers.Propose(ctx, own, good, topic(0, 0)))(t) // both enrol in the network
	ok(e.layers.Propose(ctx, own, bad, topic(0, 0)))(t)
	e.restart() // every session passivated: the next request activates it
	store.bad.Store(bad)

	fb := ok(e.layers.ClusterFeedback(ctx, own, c))(t)
	if fb.GetSessionsUpdated() != 2 {
		t.Errorf("cluster feedback with an unloadable member updated %d sessions, want the other two", fb.GetSessionsUpdated())
	}
	if _, err := e.layers.SwitchUser(ctx, own, "someone-else"); err != nil {
		t.Errorf("a switch with an unloadable session in the network: %v", err)
	}
	if s := ok(e.layers.ObserverSample(ctx, own))(t); s.GetRegionsSampled() != 1 {
		t.Errorf("observer sample = %+v", s)
	}
	store.bad.Store(broken)
	e.restart()
	if _, err := e.layers.ClusterFeedback(ctx, own, broken); semvec.KindOf(err) != semvec.KindInternal {
		t.Errorf("feedback of a cluster whose backing session does not load: %v, want an internal error", err)
	}
	if s := ok(e.layers.ObserverSample(ctx, own))(t); s.GetRegionsSampled() != 1 {
		t.Errorf("observer sample with a cluster that does not load = %+v", s)
	}
}
