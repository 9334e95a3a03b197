package actors

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// gatedNetStore holds the next call of one method of the layers' store,
// once armed (hold), until release is closed, then runs it without its
// context: a database call that outlives the work that made it and lands
// late (a frozen database that wakes up), the worst case for a change
// answered 503 or 504.
type gatedNetStore struct {
	*persistence.Store
	armed    atomic.Value // string: the method whose next call is held
	entered  chan struct{}
	release  chan struct{}
	finished chan error // the held call's outcome
	deadline time.Time  // of the held call's context (zero: none); set before entered is closed
}

func (g *gatedNetStore) hold(method string) { g.armed.Store(method) }

func (g *gatedNetStore) held(method string) bool {
	return g.armed.CompareAndSwap(method, "")
}

func (g *gatedNetStore) wait(ctx context.Context) context.Context {
	g.deadline, _ = ctx.Deadline()
	close(g.entered)
	<-g.release
	return context.WithoutCancel(ctx)
}

func (g *gatedNetStore) SaveNetworkState(ctx context.Context, owner string, epoch int64, data persistence.NetworkState) error {
	if !g.held("SaveNetworkState") {
		return g.Store.SaveNetworkState(ctx, owner, epoch, data)
	}
	err := g.Store.SaveNetworkState(g.wait(ctx), owner, epoch, data)
	g.finished <- err
	return err
}

func (g *gatedNetStore) SavePartitionStates(ctx context.Context, owner string, epoch int64, user string, data []byte) error {
	if !g.held("SavePartitionStates") {
		return g.Store.SavePartitionStates(ctx, owner, epoch, user, data)
	}
	err := g.Store.SavePartitionStates(g.wait(ctx), owner, epoch, user, data)
	g.finished <- err
	return err
}

func (g *gatedNetStore) LoadPartitionStates(ctx context.Context, owner, user string) ([]byte, error) {
	if !g.held("LoadPartitionStates") {
		return g.Store.LoadPartitionStates(ctx, owner, user)
	}
	data, err := g.Store.LoadPartitionStates(g.wait(ctx), owner, user)
	g.finished <- err
	return data, err
}

// gatedNetworkEnv starts a layers stack whose network store is a
// gatedNetStore (disarmed), with a 1 s ask timeout: a piece of network
// work is cut short after 1 s, its continuation after 2 s (asyncFor).
func gatedNetworkEnv(t *testing.T) (*layersEnv, *gatedNetStore) {
	g := &gatedNetStore{entered: make(chan struct{}), release: make(chan struct{}), finished: make(chan error, 1)}
	g.armed.Store("")
	e := &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db"), askTimeout: time.Second,
		wrap: func(s *persistence.Store) LayerStore { g.Store = s; return g }}
	e.start()
	t.Cleanup(e.stop)
	return e, g
}

// switchNow asks own's network actor directly for a switch to user and
// waits for its answer, however long the actor takes (not the Asker's
// timeout): once it has answered, the switch's turn among the network's
// operations is over.
func switchNow(t *testing.T, e *layersEnv, own, user string) (*pb.SwitchUserResponse, error) {
	t.Helper()
	pid := ok(e.layers.networks.Get(ctxT(t), own))(t)
	f := e.sys.Root.RequestFuture(pid, &pb.SwitchUserRequest{Owner: own, UserId: user}, 10*time.Second)
	res, err := f.Result()
	if err != nil {
		t.Fatalf("switch to %s: no answer: %v", user, err)
	}
	r := res.(*pb.SwitchUserResponse)
	if r.GetError() != nil {
		return r, FromProtoError(r.GetError())
	}
	return r, nil
}

func wantActive(t *testing.T, e *layersEnv, own, want, when string) {
	t.Helper()
	if got := ok(e.layers.ActiveUser(ctxT(t), own))(t); got != want {
		t.Fatalf("%s: active user %q, want %q", when, got, want)
	}
}

// A switch whose second step (the network state saved with the new user
// active) is cut short, and whose save then lands late, never undoes a
// switch acknowledged after it: the late save lands before the next
// switch's save (netSaver writes one at a time, in version order), and its
// continuation is gone (the work's future timed out first), so it changes
// nothing in memory. The late save does reach the disk, but the actor,
// whose save failed, saves what it serves again (resync): the disk comes
// back to the user reads showed.
func TestALateSaveOfACutShortSwitchNeverUndoesTheNextSwitch(t *testing.T) {
	e, g := gatedNetworkEnv(t)
	const own = "tenant-a"
	e.enrolledPair(own)

	g.hold("SaveNetworkState")
	if _, err := switchNow(t, e, own, "x"); semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("a switch whose save hangs: %v, want a timeout", err)
	}
	wantActive(t, e, own, defaultUserName, "after the cut-short switch to x")
	close(g.release)
	if err := <-g.finished; err != nil {
		t.Fatalf("the late save: %v", err)
	}
	wantActive(t, e, own, defaultUserName, "after the late save of x") // nothing re-applies it in memory
	eventually(t, "the store holds the user reads showed again", func() bool { return storedActive(t, e, own) == defaultUserName })

	res, err := switchNow(t, e, own, "y")
	if err != nil {
		t.Fatalf("the next switch: %v", err)
	}
	if res.GetActiveUser() != "y" || res.GetPreviousUser() != defaultUserName {
		t.Fatalf("the next switch answered %v, want y from default", res)
	}
	wantActive(t, e, own, "y", "after the switch to y was acknowledged")
	e.restart()
	wantActive(t, e, own, "y", "after a restart")
}

// A switch cut short in its third step (setting the new user's sessions
// back), whose read of the saved states then lands late, never undoes a
// switch acknowledged after it: the next switch finishes the third step
// first, the late work's continuation is gone, and the retry the cut-short
// switch scheduled finds nothing left to finish. Finishing a switch only
// clears the mark on the state committed last; it never sets the active
// user.
func TestALateRestoreOfACutShortSwitchNeverUndoesTheNextSwitch(t *testing.T) {
	e, g := gatedNetworkEnv(t)
	ctx := ctxT(t)
	const own = "tenant-a"
	s1, _ := e.enrolledPair(own)
	ok(e.layers.SwitchUser(ctx, own, "alice"))(t)
	e.run(own, s1, topic(2, 0)) // alice's partition will hold states to set back
	ok(e.layers.SwitchUser(ctx, own, defaultUserName))(t)

	g.hold("LoadPartitionStates")
	if _, err := switchNow(t, e, own, "alice"); semvec.KindOf(err) != semvec.KindTimeout {
		t.Fatalf("a switch whose third step hangs: %v, want a timeout", err)
	}
	wantActive(t, e, own, "alice", "after the switch to alice was cut short in its third step")

	res, err := switchNow(t, e, own, "bob")
	if err != nil {
		t.Fatalf("the next switch: %v", err)
	}
	if res.GetActiveUser() != "bob" || res.GetPreviousUser() != "alice" {
		t.Fatalf("the next switch answered %v, want bob from alice", res)
	}
	close(g.release)
	if err := <-g.finished; err != nil {
		t.Fatalf("the late read: %v", err)
	}
	// The retry the cut-short switch scheduled (restoreRetry later), now.
	pid := ok(e.layers.networks.Get(ctx, own))(t)
	e.sys.Root.Send(pid, retryRestore{})
	wantActive(t, e, own, "bob", "after the late third step and the retry")
	e.restart()
	wantActive(t, e, own, "bob", "after a restart")
}

// storedActive is the active user of own's network state on disk.
func storedActive(t *testing.T, e *layersEnv, own string) string {
	t.Helper()
	st, _, err := decodeNetworkState(ok(e.store.LoadNetworkState(ctxT(t), own))(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return st.Active
}

// lostAckNetStore commits the next network state save it is armed for and
// then reports it failed: a COMMIT that reached the database whose answer
// was lost (a connection cut, a database frozen just after it).
type lostAckNetStore struct {
	*persistence.Store
	armed atomic.Bool
}

func (s *lostAckNetStore) SaveNetworkState(ctx context.Context, owner string, epoch int64, data persistence.NetworkState) error {
	err := s.Store.SaveNetworkState(ctx, owner, epoch, data)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		return semvec.Errorf(semvec.KindUnavailable, "database unavailable")
	}
	return err
}

// A switch whose save committed although the actor was told it failed is
// answered 503 and not served; the actor then saves what it serves again,
// so the disk, and a restart, agree with what reads showed: the 503'd
// switch did not happen. Without that, reads would answer the previous
// user while the disk held the new one, and a restart would bring back a
// switch no read had shown.
func TestANetworkSaveWhoseAnswerIsLostIsUndone(t *testing.T) {
	lost := &lostAckNetStore{}
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore { lost.Store = s; return lost })
	ctx := ctxT(t)
	const own = "tenant-a"
	e.enrolledPair(own)

	lost.armed.Store(true)
	if _, err := e.layers.SwitchUser(ctx, own, "x"); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("a switch whose save's answer is lost: %v, want unavailable", err)
	}
	wantActive(t, e, own, defaultUserName, "after the 503")
	eventually(t, "the store holds the user reads show", func() bool { return storedActive(t, e, own) == defaultUserName })
	wantActive(t, e, own, defaultUserName, "after the resync")
	e.restart()
	ctx = ctxT(t)
	wantActive(t, e, own, defaultUserName, "after a restart")
	// Nor the partitions it wrote: the resync saved them all again, and
	// deleted the new user's.
	if _, err := e.layers.SerializeUser(ctx, own, "x"); semvec.KindOf(err) != semvec.KindNotFound {
		t.Fatalf("the 503'd switch's new partition after a restart: %v, want NotFound", err)
	}
	if ser := string(ok(e.layers.SerializeUser(ctx, own, defaultUserName))(t).GetState()); !strings.Contains(ser, `"saved_at":0`) {
		t.Fatalf("the partition the 503'd switch left, after a restart = %s, want it never saved", ser)
	}
	ok(e.layers.SwitchUser(ctx, own, "x"))(t) // and the network works on
	wantActive(t, e, own, "x", "after a switch answered 2xx")
	e.restart()
	wantActive(t, e, own, "x", "after a second restart")
}
