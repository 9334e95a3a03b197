package actors

import (
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	pb "github.com/semvec-go/semvec/proto"
)

// A network operation (a switch, a transfer, a proposal) answers 503 before
// its asker gives up when the database holds one of its steps: the ask says
// how long it waits (patience_nanos), and the operation's steps are cut
// short opMargin before that (networkActor.switchUser). Before, each step
// could wait for the database for a whole ask, and the ask gave up first
// with a 504. The held call ignores its context (as SQLite waiting for
// another process's lock does), so this also shows that the actor does not
// wait for a step past its deadline. A step cut short leaves the network as
// a failed step does: the state as it was (a cut-short third step of a
// switch: the new user active, the rest finished later), and once the
// database answers (the held call lands late) the next switch works and a
// restart serves what reads showed.
func TestANetworkOperationWhoseDatabaseHangsAnswers503BeforeItsAsk(t *testing.T) {
	switchTo := func(user string) func(e *layersEnv, own, s1, s2 string) error {
		return func(e *layersEnv, own, _, _ string) error {
			_, err := e.layers.SwitchUser(ctxT(e.t), own, user)
			return err
		}
	}
	for _, c := range []struct {
		name   string
		hold   string // the store method whose next call hangs
		op     func(e *layersEnv, own, s1, s2 string) error
		active string // the active user after the operation was cut short
	}{
		{"switch, step 1 (the partition's states saved)", "SavePartitionStates", switchTo("x"), defaultUserName},
		{"switch, step 2 (the new user saved active)", "SaveNetworkState", switchTo("x"), defaultUserName},
		{"switch, step 3 (the new partition's states set back)", "LoadPartitionStates", switchTo("alice"), "alice"},
		{"transfer", "SaveNetworkState", func(e *layersEnv, own, s1, s2 string) error {
			_, err := e.layers.Transfer(ctxT(e.t), own, s2, s1, 0.15)
			return err
		}, defaultUserName},
		{"proposal", "SaveNetworkState", func(e *layersEnv, own, s1, _ string) error {
			_, err := e.layers.Propose(ctxT(e.t), own, s1, topic(0, 0))
			return err
		}, defaultUserName},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, g := gatedNetworkEnv(t) // asks time out after 1 s
			const own = "tenant-a"
			s1, s2 := e.enrolledPair(own)
			// alice's partition holds states to set back.
			ok(e.layers.SwitchUser(ctxT(t), own, "alice"))(t)
			e.run(own, s1, topic(2, 0))
			ok(e.layers.SwitchUser(ctxT(t), own, defaultUserName))(t)

			g.hold(c.hold)
			t.Cleanup(func() { // on failure: no shutdown waits for the held call
				select {
				case <-g.release:
				default:
					close(g.release)
				}
			})
			start := time.Now()
			err := c.op(e, own, s1, s2)
			took := time.Since(start)
			select {
			case <-g.entered:
			default:
				t.Fatalf("the operation never called %s (answered %v)", c.hold, err)
			}
			if semvec.KindOf(err) != semvec.KindUnavailable || took >= time.Second {
				t.Fatalf("an operation whose %s hangs answered %v after %s, want Unavailable before the 1 s ask ends", c.hold, err, took.Round(time.Millisecond))
			}
			// A database call that watches its context (PostgreSQL's) ends
			// in time too.
			if g.deadline.IsZero() || !g.deadline.Before(start.Add(time.Second)) {
				t.Fatalf("the held %s ran under a context ending at %v, want before the ask's end %v", c.hold, g.deadline, start.Add(time.Second))
			}
			wantActive(t, e, own, c.active, "after the operation was cut short")

			close(g.release) // the database answers again: the held call lands late
			if err := <-g.finished; err != nil {
				t.Fatalf("the late %s: %v", c.hold, err)
			}
			eventually(t, "the store holds the user reads show", func() bool { return storedActive(t, e, own) == c.active })
			res := ok(e.layers.SwitchUser(ctxT(t), own, "y"))(t)
			if res.GetActiveUser() != "y" || res.GetPreviousUser() != c.active {
				t.Fatalf("the next switch answered %v, want y from %s", res, c.active)
			}
			e.restart()
			wantActive(t, e, own, "y", "after a restart")
		})
	}
}

// The ask tells a patient request how long it waits, on a copy: the
// caller's message is left as it was.
func TestAskSetsPatienceOnACopy(t *testing.T) {
	req := &pb.SwitchUserRequest{Owner: "o", UserId: "u"}
	sent, isCopy := withPatience(req, 3*time.Second).(*pb.SwitchUserRequest)
	if !isCopy || sent == req || sent.GetPatienceNanos() != int64(3*time.Second) || sent.GetUserId() != "u" {
		t.Fatalf("sent %v, want a copy with patience 3 s", sent)
	}
	if req.GetPatienceNanos() != 0 {
		t.Fatalf("the caller's request was changed: %v", req)
	}
	other := &pb.ActiveUserRequest{Owner: "o"}
	if withPatience(other, time.Second) != other {
		t.Fatal("a request without patience was copied")
	}
}

// A router takes the time a request waited in it off the request's
// patience, on a copy; what is left is never zero (no deadline), and a
// request without patience, or with no deadline, is left as it is.
func TestLessPatienceKeepsADeadline(t *testing.T) {
	req := &pb.TransferRequest{Owner: "o", PatienceNanos: int64(3 * time.Second)}
	for _, c := range []struct {
		held time.Duration
		want time.Duration
	}{{time.Second, 2 * time.Second}, {3 * time.Second, time.Nanosecond}, {time.Minute, time.Nanosecond}} {
		sent, isCopy := lessPatience(req, c.held).(*pb.TransferRequest)
		if !isCopy || sent == req || sent.GetPatienceNanos() != int64(c.want) || sent.GetOwner() != "o" {
			t.Fatalf("held %s: sent %v, want a copy with patience %s", c.held, sent, c.want)
		}
	}
	if req.GetPatienceNanos() != int64(3*time.Second) {
		t.Fatalf("the router's request was changed: %v", req)
	}
	unbounded := &pb.SwitchUserRequest{Owner: "o"}
	other := &pb.ActiveUserRequest{Owner: "o"}
	if lessPatience(unbounded, time.Second) != unbounded || lessPatience(other, time.Second) != other {
		t.Fatal("a request without a deadline was changed")
	}
}
