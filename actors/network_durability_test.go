package actors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
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
)

// netDownStore fails every network state save while down is set, like a
// database that went away between a change's reads and its save.
type netDownStore struct {
	*persistence.Store
	down *atomic.Bool
}

func (d netDownStore) SaveNetworkState(ctx context.Context, owner string, epoch int64, data persistence.NetworkState) error {
	if d.down.Load() {
		return semvec.Wrap(semvec.KindUnavailable, errors.New("connection refused"), "database unavailable")
	}
	return d.Store.SaveNetworkState(ctx, owner, epoch, data)
}

// A network change whose save fails answers Unavailable and changes nothing
// in memory: reads do not show it, and a later change that is saved does
// not carry it to disk. Before, the partition was changed first and kept
// the change when the save failed.
func TestNetworkChangeNotSavedChangesNothing(t *testing.T) {
	var down atomic.Bool
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore { return netDownStore{Store: s, down: &down} })
	ctx := ctxT(t)
	const own = "tenant-a"
	s1, s2 := e.session(own), e.session(own) // no state yet: a transfer moves nothing, it only enrols them
	if tr := ok(e.layers.Trust(ctx, own))(t); len(tr) != 0 {
		t.Fatalf("trust before = %v", tr)
	}

	down.Store(true)
	if _, err := e.layers.Transfer(ctx, own, s1, s2, 0.2); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("transfer with the database down: %v, want Unavailable", err)
	}
	if tr := ok(e.layers.Trust(ctx, own))(t); len(tr) != 0 {
		t.Fatalf("trust after a transfer answered 503 = %v, want none", tr)
	}
	if _, err := e.layers.SwitchUser(ctx, own, "alice"); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("switch with the database down: %v, want Unavailable", err)
	}
	if u := ok(e.layers.ActiveUser(ctx, own))(t); u != defaultUserName {
		t.Fatalf("active user after a switch answered 503 = %q", u)
	}

	down.Store(false)
	ok(e.layers.SwitchUser(ctx, own, "bob"))(t)
	ser := string(ok(e.layers.SerializeUser(ctx, own, defaultUserName))(t).GetState())
	if !strings.Contains(ser, `"transfers":0`) || !strings.Contains(ser, `"instances":[]`) {
		t.Fatalf("default partition after the failed transfer = %s, want no transfer and no instance", ser)
	}
	if _, err := e.layers.SerializeUser(ctx, own, "alice"); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("alice's partition (its switch answered 503): %v, want NotFound", err)
	}

	e.restart()
	ctx = ctxT(t)
	if u := ok(e.layers.ActiveUser(ctx, own))(t); u != "bob" {
		t.Fatalf("active user after restart = %q, want bob", u)
	}
	ser = string(ok(e.layers.SerializeUser(ctx, own, defaultUserName))(t).GetState())
	if !strings.Contains(ser, `"transfers":0`) {
		t.Fatalf("default partition after restart = %s", ser)
	}
}

// A transfer whose network state cannot be saved answers 503 and has moved
// nothing: the target's blend comes after the save. (It came first, and a
// transfer could answer 503 with the target durably moved.)
func TestATransferThatCannotBeSavedMovesNothing(t *testing.T) {
	var down atomic.Bool
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore { return netDownStore{Store: s, down: &down} })
	ctx := ctxT(t)
	const own = "tenant-a"
	src, dst := e.session(own), e.session(own)
	e.steady(own, src, 0, 2)
	e.steady(own, dst, 1, 2)
	before := e.state(own, dst).GetState()
	down.Store(true)
	if _, err := e.layers.Transfer(ctx, own, src, dst, 0.5); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("transfer with the network state unsaved: %v, want Unavailable", err)
	}
	if got := e.state(own, dst).GetState(); !slices.Equal(got, before) {
		t.Fatal("a transfer that answered 503 moved its target")
	}
	down.Store(false)
	if tr := ok(e.layers.Transfer(ctx, own, src, dst, 0.5))(t); !tr.GetTransferred() {
		t.Fatalf("transfer = %+v, want it transferred", tr)
	}
	if slices.Equal(e.state(own, dst).GetState(), before) {
		t.Fatal("the transfer did not move its target")
	}
}

// A transfer from a session to itself moves nothing and saves nothing:
// delta_norm 0, transferred false, the session's state as it was and the
// partition's transfer count unchanged. It answered transferred true and
// enrolled the session. Another tenant's session is still not found.
func TestATransferToItselfMovesNothing(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	sid := e.session(own)
	e.steady(own, sid, 0, 2)
	before := e.state(own, sid).GetState()
	tr := ok(e.layers.Transfer(ctx, own, sid, sid, 0.5))(t)
	if tr.GetTransferred() || tr.GetDeltaNorm() != 0 || tr.GetSourceSessionId() != sid || tr.GetTargetSessionId() != sid {
		t.Fatalf("transfer to itself = %+v, want nothing transferred", tr)
	}
	if got := e.state(own, sid).GetState(); !slices.Equal(got, before) {
		t.Fatal("a transfer to itself moved the session")
	}
	ser := string(ok(e.layers.SerializeUser(ctx, own, defaultUserName))(t).GetState())
	if !strings.Contains(ser, `"transfers":0`) || strings.Contains(ser, sid) {
		t.Fatalf("a transfer to itself was saved: %s", ser)
	}
	if _, err := e.layers.Transfer(ctx, "tenant-b", sid, sid, 0.5); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("another tenant's transfer of the session to itself: %v, want NotFound", err)
	}
}

// A transfer, like every network change, writes no audit row: they are
// frequent and change nothing a tenant owns (persistence/doc.go, "Audit").
// Each successful transfer used to write one.
func TestATransferWritesNoAuditRow(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	src, dst := e.session(own), e.session(own)
	e.steady(own, src, 0, 2)
	e.steady(own, dst, 1, 2)
	before := ok(e.store.AuditLog(ctx, own, persistence.MaxAuditLimit))(t)
	for range 3 {
		if tr := ok(e.layers.Transfer(ctx, own, src, dst, 0.5))(t); !tr.GetTransferred() {
			t.Fatalf("transfer = %+v, want it transferred", tr)
		}
	}
	if after := ok(e.store.AuditLog(ctx, own, persistence.MaxAuditLimit))(t); len(after) != len(before) {
		t.Fatalf("transfers added audit rows: %d before, %d after (%+v)", len(before), len(after), after[:len(after)-len(before)])
	}
}

// Concurrent network changes are committed one after the other, each on top
// of the ones before, and each answers its own caller.
func TestConcurrentNetworkChangesAllLand(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	const n = 8
	ids := make([]string, 2*n)
	for i := range ids {
		ids[i] = e.session(own)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.layers.Transfer(ctx, own, ids[2*i], ids[2*i+1], 0.2)
			if err == nil && (res.GetSourceSessionId() != ids[2*i] || res.GetTargetSessionId() != ids[2*i+1]) {
				err = fmt.Errorf("transfer %d answered %s → %s", i, res.GetSourceSessionId(), res.GetTargetSessionId())
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		if tr := ok(e.layers.Trust(ctxT(t), own))(t); len(tr) != 2*n {
			t.Fatalf("%s: %d instances have a trust score, want %d", when, len(tr), 2*n)
		}
		ser := string(ok(e.layers.SerializeUser(ctxT(t), own, defaultUserName))(t).GetState())
		if !strings.Contains(ser, fmt.Sprintf(`"transfers":%d`, n)) {
			t.Fatalf("%s: default partition = %s, want %d transfers", when, ser, n)
		}
	}
	check("before the restart")
	e.restart()
	check("after the restart")
}

// heldNetStore holds the first network state save until release is closed.
type heldNetStore struct {
	*persistence.Store
	entered, release chan struct{}
	calls            atomic.Int32
}

func (h *heldNetStore) SaveNetworkState(ctx context.Context, owner string, epoch int64, data persistence.NetworkState) error {
	if h.calls.Add(1) == 1 {
		close(h.entered)
		<-h.release
	}
	return h.Store.SaveNetworkState(ctx, owner, epoch, data)
}

// sendNow sends each request to pid at once, in order, so all are in its
// mailbox when it returns; results waits for their replies (at most 5 s
// each) and returns each one's error (nil for a success).
func sendNow(root *actor.RootContext, pid *actor.PID, reqs ...proto.Message) (results func() []error) {
	futures := make([]*actor.Future, len(reqs))
	for i, r := range reqs {
		futures[i] = root.RequestFuture(pid, r, 5*time.Second)
	}
	return func() []error {
		errs := make([]error, len(futures))
		for i, f := range futures {
			res, err := f.Result()
			switch r := res.(type) {
			case interface{ GetError() *pb.Error }:
				if e := r.GetError(); e != nil {
					errs[i] = FromProtoError(e)
				}
			default:
				errs[i] = cmp.Or(err, fmt.Errorf("unexpected reply %T", res))
			}
		}
		return errs
	}
}

// heldNetworkEnv starts a layers stack whose first network state save
// waits for held.release (askTimeout 0: the default).
func heldNetworkEnv(t *testing.T, askTimeout time.Duration) (*layersEnv, *heldNetStore) {
	held := &heldNetStore{entered: make(chan struct{}), release: make(chan struct{})}
	e := &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db"), askTimeout: askTimeout,
		wrap: func(s *persistence.Store) LayerStore { held.Store = s; return held }}
	e.start()
	t.Cleanup(e.stop)
	return e, held
}

// heldTransfer is a transfer between two new sessions of its owner whose
// save the store keeps in flight (heldNetworkEnv).
type heldTransfer struct {
	ctx      context.Context
	own      string
	s1, s2   string
	first    chan error         // where the held transfer answers
	transfer func(chan<- error) // asks for another transfer between s1 and s2
}

func startHeldTransfer(t *testing.T, e *layersEnv, held *heldNetStore) heldTransfer {
	h := heldTransfer{ctx: ctxT(t), own: "tenant-a", first: make(chan error, 1)}
	h.s1, h.s2 = e.session(h.own), e.session(h.own)
	h.transfer = func(out chan<- error) {
		_, err := e.layers.Transfer(h.ctx, h.own, h.s1, h.s2, 0.2)
		out <- err
	}
	go h.transfer(h.first)
	<-held.entered // its save is in flight
	return h
}

// The changes waiting for a network save in flight are bounded: past
// maxInflight the next one is refused at once (503), the ones queued all
// land when the save completes. The queued saves run one after another
// (seconds under -race on a loaded machine), so the asks wait longer.
func TestNetworkPendingChangesAreBounded(t *testing.T) {
	e, held := heldNetworkEnv(t, 60*time.Second)
	h := startHeldTransfer(t, e, held)
	ctx, own, transfer, first := h.ctx, h.own, h.transfer, h.first

	const refused = 4
	results := make(chan error, maxInflight+refused)
	for range maxInflight + refused {
		go transfer(results)
	}
	for range refused { // nothing can succeed while the save is held
		if err := <-results; semvec.KindOf(err) != semvec.KindUnavailable {
			t.Fatalf("a change past the bound: %v, want Unavailable", err)
		}
	}
	close(held.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range maxInflight {
		if err := <-results; err != nil {
			t.Fatalf("a queued change: %v", err)
		}
	}
	ser := string(ok(e.layers.SerializeUser(ctx, own, defaultUserName))(t).GetState())
	if want := fmt.Sprintf(`"transfers":%d`, maxInflight+1); !strings.Contains(ser, want) {
		t.Fatalf("default partition = %s, want %s", ser, want)
	}
}

// When the save in flight is refused because a newer activation took the
// row (another member, cluster mode), that change and every change waiting
// behind it or arriving before the actor has stopped are answered 503 at
// once (none waits for its ask to time out), and the next request runs on
// a new activation.
func TestSupersededNetworkAnswersEveryWaitingChange(t *testing.T) {
	e, held := heldNetworkEnv(t, 0)
	h := startHeldTransfer(t, e, held)
	ctx, own, s1, s2, first := h.ctx, h.own, h.s1, h.s2, h.first

	// Six changes reach the actor's mailbox now, before the save is
	// answered (sent from here, in order: a goroutine could be scheduled
	// too late, after the actor has stopped, and its message be dropped).
	pid := ok(e.layers.networks.Get(ctx, own))(t)
	var reqs []proto.Message
	for i := range 3 {
		reqs = append(reqs, &pb.TransferRequest{Owner: own, SourceSessionId: s1, TargetSessionId: s2, MaxWeight: 0.2},
			&pb.SwitchUserRequest{Owner: own, UserId: fmt.Sprintf("user-%d", i)})
	}
	results := sendNow(e.sys.Root, pid, reqs...)
	// Another activation takes the row: the held save will be refused.
	if _, err := e.store.ActivateNetwork(ctx, own); err != nil {
		t.Fatal(err)
	}
	close(held.release)
	superseded := func(err error) bool {
		return semvec.KindOf(err) == semvec.KindUnavailable && strings.Contains(err.Error(), "newer activation")
	}
	if err := <-first; !superseded(err) {
		t.Fatalf("the held change: %v, want superseded", err)
	}
	for _, err := range results() {
		if !superseded(err) && err != nil {
			// nil: it reached the next activation, which is fine too
			t.Errorf("a waiting change: %v, want superseded at once (or served by the next activation)", err)
		}
	}
	if _, err := e.layers.Transfer(ctx, own, s1, s2, 0.2); err != nil {
		t.Fatalf("the next change, on a new activation: %v", err)
	}
}

// Concurrent switches of one caller run one after another, each reading
// the partitions the one before committed: one place left under the
// partition cap is taken by exactly one of several concurrent switches to
// new users; the others answer 409.
func TestConcurrentSwitchesKeepThePartitionCap(t *testing.T) {
	e := newLayersEnv(t)
	ctx := ctxT(t)
	const own, n = "tenant-a", 6
	st := newNetworkState(time.Now())
	for i := len(st.Partitions); i < maxPartitions-1; i++ { // one place left
		st.Partitions[fmt.Sprintf("u%d", i)] = newPartition(time.Now())
	}
	epoch := ok(e.store.ActivateNetwork(ctx, own))(t)
	if err := e.store.SaveNetworkState(ctx, own, epoch, st.stored(nil, true)); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = e.layers.SwitchUser(ctx, own, fmt.Sprintf("new-%d", i)) })
	}
	wg.Wait()
	switched := 0
	for _, err := range errs {
		switch {
		case err == nil:
			switched++
		case semvec.KindOf(err) != semvec.KindConflict:
			t.Fatalf("a concurrent switch: %v, want success or Conflict", err)
		}
	}
	if switched != 1 {
		t.Fatalf("%d of %d concurrent switches to new users took the last place, want 1: %v", switched, n, errs)
	}
}
