package actors

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	"github.com/semvec-go/semvec/vecmath"
)

// enrolledPair creates two of owner's sessions with states on different
// topics (a on 0, b on 1) and enrols both in the active partition with a
// transfer from b to a.
func (e *layersEnv) enrolledPair(owner string) (a, b string) {
	e.t.Helper()
	a, b = e.session(owner), e.session(owner)
	e.steady(owner, a, 0, 2)
	e.steady(owner, b, 1, 2)
	ok(e.layers.Transfer(ctxT(e.t), owner, b, a, 0.15))(e.t)
	return a, b
}

// A user partition holds its sessions' semantic states: switching away
// saves them, switching back sets the sessions back to them, so what one
// end user's conversation did to a shared session does not leak into
// another's.
func TestPartitionsHoldTheirSessionsSemanticState(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	s1, s2 := e.enrolledPair(own) // both enrol in "default"
	defaultS1 := e.state(own, s1).GetState()

	sw := ok(e.layers.SwitchUser(ctx, own, "alice"))(t)
	if sw.GetSavedSessions() != 2 || sw.GetRestoredSessions() != 0 {
		t.Fatalf("switch to a new partition = %+v, want 2 saved, 0 restored", sw)
	}
	// Under alice, s1 is moved all the way to s2.
	ok(e.layers.Transfer(ctx, own, s2, s1, 1))(t)
	aliceS1 := e.state(own, s1).GetState()
	if c := vecmath.Cosine(aliceS1, defaultS1); c > 0.99 {
		t.Fatalf("s1 did not move under alice (cos %v)", c)
	}

	sw = ok(e.layers.SwitchUser(ctx, own, "default"))(t)
	if sw.GetSavedSessions() != 2 || sw.GetRestoredSessions() != 2 {
		t.Fatalf("switch back = %+v, want 2 saved, 2 restored", sw)
	}
	if c := vecmath.Cosine(e.state(own, s1).GetState(), defaultS1); c < 0.99999 {
		t.Fatalf("s1 under default again: cos to its default state %v, want 1", c)
	}
	// And alice's view comes back too, after a restart.
	e.restart()
	ctx = ctxT(t)
	ok(e.layers.SwitchUser(ctx, own, "alice"))(t)
	if c := vecmath.Cosine(e.state(own, s1).GetState(), aliceS1); c < 0.99999 {
		t.Fatalf("s1 under alice again: cos to alice's state %v, want 1", c)
	}
	ser := ok(e.layers.SerializeUser(ctx, own, "default"))(t)
	if !strings.Contains(string(ser.GetState()), `"saved_states":2`) {
		t.Fatalf("serialized default partition = %s, want saved_states 2", ser.GetState())
	}
	// Switching to the active user changes nothing.
	if sw := ok(e.layers.SwitchUser(ctx, own, "alice"))(t); sw.GetPreviousUser() != "alice" || sw.GetSavedSessions() != 0 {
		t.Fatalf("switch to the active user = %+v", sw)
	}
}

// The electorate is the caller's sessions in the network: a fresh
// partition's first proposal is voted on by the caller's recently active
// sessions, not by the proposer alone.
func TestConsensusElectorateIsTheCallersSessions(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	proposer, agree, disagree := e.session(own), e.session(own), e.session(own)
	e.steady(own, proposer, 0, 2)
	e.steady(own, agree, 0, 2)
	e.steady(own, disagree, 3, 2)
	foreign := e.session("tenant-b")
	e.steady("tenant-b", foreign, 0, 2)

	c := ok(e.layers.Propose(ctx, own, proposer, topic(0, 0)))(t)
	var voters []string
	for _, v := range c.GetVotes() {
		voters = append(voters, v.GetSessionId())
	}
	slices.Sort(voters)
	want := []string{agree, disagree}
	slices.Sort(want)
	if !slices.Equal(voters, want) {
		t.Fatalf("voters = %v, want the caller's other two sessions %v (never another tenant's, nor the proposer)", voters, want)
	}
	// 1 of 2 equal-trust ballots says yes: a share of 0.5, accepted.
	if !c.GetAccepted() || c.GetWeightedYesShare() != 0.5 {
		t.Fatalf("proposal = %+v, want accepted with share 1/2", c)
	}
	// Only the proposer enrols.
	if tr := ok(e.layers.Trust(ctx, own))(t); len(tr) != 1 || tr[proposer] != 0.55 {
		t.Fatalf("trust = %v, want only the proposer at 0.55", tr)
	}
}

// An owner holds at most maxPartitions user partitions.
func TestUserPartitionsAreBounded(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	st := newNetworkState(time.Now())
	for i := len(st.Partitions); i < maxPartitions; i++ {
		st.Partitions[fmt.Sprintf("u%d", i)] = newPartition(time.Now())
	}
	epoch, err := e.store.ActivateNetwork(ctx, own)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SaveNetworkState(ctx, own, epoch, st.stored(nil, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.layers.SwitchUser(ctx, own, "one-too-many"); semvec.KindOf(err) != semvec.KindConflict {
		t.Fatalf("switch to partition %d: err = %v, want Conflict", maxPartitions+1, err)
	}
	if sw := ok(e.layers.SwitchUser(ctx, own, "u7"))(t); sw.GetActiveUser() != "u7" {
		t.Fatalf("switch to an existing partition at the cap = %+v", sw)
	}
}

// A network state saved in one blob (before each partition was stored in
// a row of its own) loads as it was; its first save stores every partition
// apart, not only the one the change edited, so none is lost.
func TestANetworkStateSavedInOneBlobKeepsEveryPartition(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	s1, s2 := e.session(own), e.session(own)
	st := newNetworkState(time.Now())
	st.join(s1)
	st.switchTo("alice", time.Now())
	st.join(s2)
	epoch := ok(e.store.ActivateNetwork(ctx, own))(t)
	if err := e.store.SaveNetworkState(ctx, own, epoch, persistence.NetworkState{Data: mustJSON(st)}); err != nil {
		t.Fatal(err)
	}
	if u := ok(e.layers.ActiveUser(ctx, own))(t); u != "alice" {
		t.Fatalf("active user of a state saved in one blob = %q", u)
	}
	ok(e.layers.Transfer(ctx, own, s1, s2, 0.1))(t) // edits alice's partition only
	stored := ok(e.store.LoadNetworkState(ctx, own))(t)
	if strings.Contains(string(stored.Data), "partitions") || len(stored.Partitions) != 2 {
		t.Fatalf("stored after the first save: %s with partitions %v, want both partitions apart", stored.Data, slices.Sorted(maps.Keys(stored.Partitions)))
	}
	e.restart()
	ctx = ctxT(t)
	if ser := string(ok(e.layers.SerializeUser(ctx, own, defaultUserName))(t).GetState()); !strings.Contains(ser, s1) {
		t.Fatalf("default's partition after a restart = %s, want %s in it", ser, s1)
	}
	if ser := string(ok(e.layers.SerializeUser(ctx, own, "alice"))(t).GetState()); !strings.Contains(ser, `"transfers":1`) {
		t.Fatalf("alice's partition after a restart = %s, want the transfer", ser)
	}
}

// A proposer that cannot enrol (the caller's network already holds
// maxInstances sessions) votes but gets no trust score in the partition:
// trust scores are the instances', so the scores a change rewrites stay
// bounded by the instance caps. Before, every such proposer added a score
// for good, and a deleted one's never left.
func TestAProposerThatCannotEnrolGetsNoTrustScore(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	st := newNetworkState(time.Now())
	for range maxInstances {
		st.join(e.session(own))
	}
	epoch, err := e.store.ActivateNetwork(ctx, own)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SaveNetworkState(ctx, own, epoch, st.stored(nil, true)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		proposer := e.session(own)
		e.steady(own, proposer, 0, 2)
		c := ok(e.layers.Propose(ctx, own, proposer, topic(0, 0)))(t)
		if _, scored := c.GetTrustScores()[proposer]; scored {
			t.Fatalf("a proposer that could not enrol got a trust score in the answer: %v", c.GetTrustScores()[proposer])
		}
	}
	tr := ok(e.layers.Trust(ctx, own))(t)
	if len(tr) != maxInstances {
		t.Fatalf("the partition holds %d trust scores for %d instances", len(tr), maxInstances)
	}
}

// A switch saves every session of the caller's network, not only the
// instances of the partition it leaves: a session that only "default"
// enrolled, used by alice, then by bob, comes back to each user as that
// user left it.
func TestASharedSessionComesBackAsEachUserLeftIt(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	s, _ := e.enrolledPair(own) // s enrols in "default" only
	defaultS := e.state(own, s).GetState()

	ok(e.layers.SwitchUser(ctx, own, "alice"))(t)
	for j := range 3 { // alice's turns, on a session alice never enrolled
		e.run(own, s, topic(2, j))
	}
	aliceS := e.state(own, s).GetState()
	ok(e.layers.SwitchUser(ctx, own, "bob"))(t) // bob is new: s stays as alice left it
	for j := range 3 {
		e.run(own, s, topic(3, j))
	}
	bobS := e.state(own, s).GetState()

	for _, step := range []struct {
		user string
		want []float32
	}{{"alice", aliceS}, {"default", defaultS}, {"bob", bobS}, {"alice", aliceS}} {
		ok(e.layers.SwitchUser(ctx, own, step.user))(t)
		if c := vecmath.Cosine(e.state(own, s).GetState(), step.want); c < 0.99999 {
			t.Fatalf("after switching to %s, cos(s, the state %s left it in) = %v, want 1", step.user, step.user, c)
		}
	}
}

// A deleted session's saved partition state never comes back, not into a
// session created again under its id (another incarnation; the id keeps
// its place in the network, as ids are what partitions hold), and a session
// deleted for good leaves every partition at the next switch.
func TestADeletedSessionsPartitionStateNeverComesBack(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	s, other := e.enrolledPair(own)
	ok(e.layers.SwitchUser(ctx, own, "bob"))(t) // saves s's state with "default"

	ok(0, e.sessions.Delete(ctx, own, s))(t)
	if _, err := e.sessions.Create(ctx, own, CreateOptions{ID: s}); err != nil {
		t.Fatal(err)
	}
	e.steady(own, s, 3, 2)
	fresh := e.state(own, s).GetState()
	sw := ok(e.layers.SwitchUser(ctx, own, "default"))(t)
	if c := vecmath.Cosine(e.state(own, s).GetState(), fresh); c < 0.99999 {
		t.Fatalf("the session created again moved at the switch (cos %v to its own state): the deleted one's state came back", c)
	}
	if sw.GetRestoredSessions() != 1 { // other
		t.Fatalf("switch = %+v, want only the other session restored", sw)
	}

	ok(0, e.sessions.Delete(ctx, own, other))(t)
	ok(e.layers.SwitchUser(ctx, own, "bob"))(t)
	for _, user := range []string{"default", "bob"} {
		ser := ok(e.layers.SerializeUser(ctx, own, user))(t)
		if strings.Contains(string(ser.GetState()), other) {
			t.Fatalf("partition %s still names the deleted session: %s", user, ser.GetState())
		}
	}
}

// The layers' meta sessions are their own: a transfer to or from one, a
// proposal by one, or one as a cluster member is refused (409), so none
// enrols in the network or votes.
func TestMetaSessionsTakeNoPartInTheNetworkOrClusters(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	s := e.session(own)
	e.steady(own, s, 0, 2)
	r := e.region(own, 0.5, 60)
	obs, _, err := e.layers.EnsureObserver(ctx, own, 3600, nil)
	if err != nil {
		t.Fatal(err)
	}
	cid := e.cluster(own, AggregationWeightedAverage, 0.5)
	for _, meta := range []string{r.MetaSessionID, obs.MetaSessionID} {
		if _, err := e.layers.Transfer(ctx, own, s, meta, 0.15); semvec.KindOf(err) != semvec.KindConflict {
			t.Fatalf("transfer into meta session %s: %v, want conflict", meta, err)
		}
		if _, err := e.layers.Transfer(ctx, own, meta, s, 0.15); semvec.KindOf(err) != semvec.KindConflict {
			t.Fatalf("transfer from meta session %s: %v, want conflict", meta, err)
		}
		if _, err := e.layers.Propose(ctx, own, meta, topic(0, 0)); semvec.KindOf(err) != semvec.KindConflict {
			t.Fatalf("proposal by meta session %s: %v, want conflict", meta, err)
		}
		if _, err := e.layers.AddMember(ctx, own, cid, meta); semvec.KindOf(err) != semvec.KindConflict {
			t.Fatalf("meta session %s as a cluster member: %v, want conflict", meta, err)
		}
	}
	ser := ok(e.layers.SerializeUser(ctx, own, "default"))(t)
	if strings.Contains(string(ser.GetState()), r.MetaSessionID) || strings.Contains(string(ser.GetState()), obs.MetaSessionID) {
		t.Fatalf("a meta session enrolled: %s", ser.GetState())
	}
	c := ok(e.layers.Propose(ctx, own, s, topic(0, 0)))(t)
	for _, v := range c.GetVotes() {
		if v.GetSessionId() == r.MetaSessionID || v.GetSessionId() == obs.MetaSessionID {
			t.Fatalf("meta session %s voted", v.GetSessionId())
		}
	}
}

// failFor fails the log appends of one session while armed, as a database
// that went away during a switch's third step would.
type failFor struct {
	*persistence.Store
	armed atomic.Bool
	id    atomic.Value // string: the session whose appends fail
}

// startFailingEnv starts a layers stack on SQLite whose sessions' log
// appends go through a failFor (disarmed).
func startFailingEnv(t *testing.T) (*layersEnv, *failFor) {
	f := &failFor{}
	e := newWrappedSessionsEnv(t, func(s *persistence.Store) SessionStore { f.Store = s; return f })
	return e, f
}

func (f *failFor) AppendLog(ctx context.Context, es []persistence.LogEntry) ([]error, error) {
	if !f.armed.Load() {
		return f.Store.AppendLog(ctx, es)
	}
	// This session's entries fail; the others commit.
	var pass []persistence.LogEntry
	for _, e := range es {
		if e.SessionID != f.id.Load() {
			pass = append(pass, e)
		}
	}
	passErrs, err := f.Store.AppendLog(ctx, pass)
	if err != nil {
		return nil, err
	}
	errs := make([]error, 0, len(es))
	for _, e := range es {
		if e.SessionID == f.id.Load() {
			errs = append(errs, semvec.Errorf(semvec.KindUnavailable, "database unavailable"))
			continue
		}
		errs, passErrs = append(errs, passErrs[0]), passErrs[1:]
	}
	return errs, nil
}

// A switch whose third step (setting the sessions back) fails part way
// answers 503 and leaves the new user active and marked; the next switch
// first finishes setting them back, so the partition it leaves saves the
// states it restored, never a mix: every user's state comes back. Finishing
// sets back only the sessions still as they were: work acknowledged in
// between (turns, a transfer) is kept.
func TestASwitchThatFailsSettingSessionsBackIsFinishedByTheNext(t *testing.T) {
	e, f := startFailingEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	s1, s2 := e.enrolledPair(own) // both enrol in "default"
	defaultS1, defaultS2 := e.state(own, s1).GetState(), e.state(own, s2).GetState()

	ok(e.layers.SwitchUser(ctx, own, "alice"))(t)
	for j := range 2 {
		e.run(own, s1, topic(2, j))
		e.run(own, s2, topic(3, j))
	}
	aliceS1, aliceS2 := e.state(own, s1).GetState(), e.state(own, s2).GetState()

	f.id.Store(s2)
	f.armed.Store(true)
	if _, err := e.layers.SwitchUser(ctx, own, "default"); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a switch whose blend of s2 failed: %v, want unavailable", err)
	}
	f.armed.Store(false)
	if c := vecmath.Cosine(e.state(own, s1).GetState(), defaultS1); c < 0.99999 {
		t.Fatalf("s1 was not set back by the failed switch (cos %v): the test does not test a switch that failed part way", c)
	}
	if got := ok(e.layers.ActiveUser(ctx, own))(t); got != "default" {
		t.Fatalf("active user %q after the failed switch, want default (it got to its third step)", got)
	}

	// Work under default before the next switch, all acknowledged: the
	// switch that finishes the failed one must not undo it.
	for j := range 3 {
		e.run(own, s1, topic(4, j))
	}
	ok(e.layers.Transfer(ctx, own, s2, s1, 0.3))(t)
	workedS1 := e.state(own, s1).GetState()

	ok(e.layers.SwitchUser(ctx, own, "bob"))(t) // finishes setting default's back first
	for _, step := range []struct {
		user   string
		s1, s2 []float32
	}{{"default", workedS1, defaultS2}, {"alice", aliceS1, aliceS2}, {"default", workedS1, defaultS2}} {
		ok(e.layers.SwitchUser(ctx, own, step.user))(t)
		for id, want := range map[string][]float32{s1: step.s1, s2: step.s2} {
			if c := vecmath.Cosine(e.state(own, id).GetState(), want); c < 0.99999 {
				t.Fatalf("under %s, cos(%s, the state %s left it in) = %v, want 1", step.user, id, step.user, c)
			}
		}
	}
}

// A switch cut short in its third step is finished by the network itself:
// when its actor starts again (after a crash or a restart), without waiting
// for the next switch.
func TestACutShortSwitchIsFinishedWhenTheNetworkStartsAgain(t *testing.T) {
	e, f := startFailingEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	_, s2 := e.enrolledPair(own)
	defaultS2 := e.state(own, s2).GetState()
	ok(e.layers.SwitchUser(ctx, own, "alice"))(t)
	for j := range 2 {
		e.run(own, s2, topic(3, j))
	}
	f.id.Store(s2)
	f.armed.Store(true)
	if _, err := e.layers.SwitchUser(ctx, own, "default"); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a switch whose blend of s2 failed: %v, want unavailable", err)
	}
	f.armed.Store(false)

	e.restart()
	ctx = ctxT(t)
	if got := ok(e.layers.ActiveUser(ctx, own))(t); got != "default" { // starts the network actor
		t.Fatalf("active user %q, want default", got)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c := vecmath.Cosine(e.state(own, s2).GetState(), defaultS2); c > 0.99999 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("s2 was not set back to default's state after the network started again")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A user id may be an e-mail address; never dots alone, a slash or a space.
func TestValidUserID(t *testing.T) {
	for id, want := range map[string]bool{
		"alice": true, "bob+test@example.com": true, "x:y.z-1_2": true, strings.Repeat("u", 128): true,
		"": false, ".": false, "..": false, "a/b": false, "no spaces": false, "a\x00": false, strings.Repeat("u", 129): false, "ünï": false,
	} {
		if got := ValidUserID(id); got != want {
			t.Errorf("ValidUserID(%q) = %v, want %v", id, got, want)
		}
	}
}

// A switch on a network actor that a newer activation has superseded
// (another server on the same database) writes nothing: its first step,
// saving the states of the partition it leaves, is fenced like its commit.
// It landed before, so the newer activation's saved states of that
// partition were overwritten with whatever the sessions held then, and
// its switch back restored those instead of the ones it had acknowledged.
func TestASupersededSwitchSavesNoPartitionStates(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	e.enrolledPair(own)
	ok(e.layers.SwitchUser(ctx, own, "alice"))(t) // the network actor runs here, alice active

	// Another server activates the owner's network.
	if _, err := e.store.ActivateNetwork(ctx, own); err != nil {
		t.Fatal(err)
	}
	_, err := e.layers.SwitchUser(ctx, own, "bob")
	if semvec.KindOf(err) != semvec.KindUnavailable || !strings.Contains(err.Error(), "newer activation") {
		t.Fatalf("a superseded switch: %v, want 503 (newer activation)", err)
	}
	if got, err := e.store.LoadPartitionStates(ctx, own, "alice"); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("alice's states after a superseded switch: %d bytes, %v; want none written", len(got), err)
	}
	// The next request activates the network again, from what is stored.
	sw := ok(e.layers.SwitchUser(ctx, own, "bob"))(t)
	if sw.GetPreviousUser() != "alice" || sw.GetActiveUser() != "bob" {
		t.Fatalf("the switch on a new activation = %+v", sw)
	}
}
