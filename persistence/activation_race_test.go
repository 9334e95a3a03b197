package persistence_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// TestActivationWaitsForAppendsOfTheOldEpoch: a writer appends entries of epoch e as
// fast as it can while another activation takes epoch e+1 and reads the
// log right after. Every entry acknowledged to the old writer must be in
// what the new activation read (else an acknowledged write is lost: the
// new activation numbers its next entry from what it read).
//
// With 16 writers their appends overlap without a gap; on PostgreSQL an
// activation that waited for their locks before taking the epoch was
// starved by them (KEY SHARE is granted to newcomers while a FOR UPDATE
// waits) until its operation timeout.
func TestActivationWaitsForAppendsOfTheOldEpoch(t *testing.T) {
	for _, c := range []struct{ writers, rounds int }{{4, 30}, {16, 8}} {
		t.Run(fmt.Sprint(c.writers, "writers"), func(t *testing.T) {
			forEachDB(t, func(t *testing.T, s *persistence.Store) {
				activationRace(t, c.writers, c.rounds, sessionLog(t, s))
			})
		})
	}
}

// TestRegionActivationWaitsForEventsOfTheOldEpoch is the same race for a
// layer log (a region's events; the observers' anomalies share the code):
// 16 writers append events of epoch 0 back to back while an activation
// takes epoch 1 and reads the events right after.
func TestRegionActivationWaitsForEventsOfTheOldEpoch(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		activationRace(t, 16, 6, regionLog(t, s))
	})
}

// TestNetworkActivationWaitsForSavesOfTheOldEpoch is the same race for an
// owner's network state, a single row that each save replaces: a writer of
// epoch 1 saves increasing values back to back while an activation takes
// epoch 2 and reads the state right after. What it reads must be the last
// save acknowledged to the old writer (an earlier one would lose an
// acknowledged change; a later one would be a write that landed after the
// activation read).
func TestNetworkActivationWaitsForSavesOfTheOldEpoch(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := context.Background()
		for round := range 20 {
			owner := fmt.Sprint("n", round)
			epoch, err := s.ActivateNetwork(ctx, owner)
			must(t, err)
			var acked int64
			done := make(chan error, 1)
			go func() {
				for v := int64(1); ; v++ {
					err := s.SaveNetworkState(ctx, owner, epoch, persistence.NetworkState{Data: fmt.Append(nil, v)})
					if err != nil {
						if errors.Is(err, persistence.ErrSuperseded) {
							err = nil
						}
						done <- err
						return
					}
					acked = v
				}
			}()
			time.Sleep(time.Duration(2+round%7) * time.Millisecond)
			next, err := s.ActivateNetwork(ctx, owner)
			must(t, err)
			st, err := s.LoadNetworkState(ctx, owner)
			data := st.Data
			if semvec.KindOf(err) == semvec.KindNotFound {
				data, err = []byte("0"), nil
			}
			must(t, err)
			must(t, <-done) // the writer stops at its first refusal
			if next != epoch+1 || string(data) != fmt.Sprint(acked) {
				t.Fatalf("round %d: activation took epoch %d and read %q; the last save acknowledged to epoch %d was %d",
					round, next, data, epoch, acked)
			}
		}
	})
}

// epochLog is one fenced log under test: create makes a fresh owner of
// it, append writes seq as the first activation, activate takes the next
// epoch, load reads what the log holds.
type epochLog struct {
	create   func(id string)
	append   func(id string, seq int64) error
	activate func(id string) error
	load     func(id string) ([]int64, error)
}

// writeBackToBack starts writers goroutines that append distinct seqs to
// l's id back to back, each calling ok for every append that succeeded,
// until an append fails with an error done accepts (a superseded writer
// stops) or stop is called; stop waits for them.
func writeBackToBack(l epochLog, id string, writers int, ok func(seq int64), done func(error) bool) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := int64(w + 1); ; seq += int64(writers) {
				select {
				case <-quit:
					return
				default:
				}
				err := l.append(id, seq)
				if err == nil {
					ok(seq)
				}
				if done(err) {
					return
				}
			}
		}()
	}
	return func() {
		close(quit)
		wg.Wait()
	}
}

// sessionLog is a session's log as an epochLog: sessions of owner "a"
// created at epoch 1, their log entries, ActivateSession.
func sessionLog(t *testing.T, s *persistence.Store) epochLog {
	ctx := context.Background()
	var inc string
	return epochLog{
		create: func(id string) {
			rec := session("a", id)
			rec.Epoch = 1
			must(t, s.CreateSession(ctx, rec))
			inc = incarnation(t, s, "a", id)
		},
		append: func(id string, seq int64) error {
			refused, err := s.AppendLog(ctx, []persistence.LogEntry{{Owner: "a", SessionID: id, Incarnation: inc, Epoch: 1, Seq: seq, Data: []byte("x")}})
			if err != nil {
				return err
			}
			return refused[0]
		},
		activate: func(id string) error { _, err := s.ActivateSession(ctx, "a", id); return err },
		load: func(id string) ([]int64, error) {
			got, err := s.LoadLog(ctx, "a", id, 0)
			seqs := make([]int64, len(got))
			for i, e := range got {
				seqs[i] = e.Seq
			}
			return seqs, err
		},
	}
}

// regionLog is a region's events as an epochLog: regions of owner "a",
// events of epoch 0, ActivateRegion (which must take epoch 1).
func regionLog(t *testing.T, s *persistence.Store) epochLog {
	ctx := context.Background()
	return epochLog{
		create: func(id string) {
			r, m := region("a", id, 1)
			must(t, s.CreateRegion(ctx, r, m))
		},
		append: func(id string, seq int64) error {
			return s.AppendRegionEvents(ctx, "a", id, 0, []persistence.LoggedItem{{Seq: seq, Data: fmt.Appendf(nil, "e%d", seq)}}, 1<<20)
		},
		activate: func(id string) error {
			epoch, err := s.ActivateRegion(ctx, "a", id)
			if err == nil && epoch != 1 {
				err = fmt.Errorf("activation took epoch %d, want 1", epoch)
			}
			return err
		},
		load: func(id string) ([]int64, error) {
			got, err := s.LoadRegionEvents(ctx, "a", id, 1<<20)
			return seqs(got), err
		},
	}
}

// activationRace runs rounds of writers appending back to back (distinct
// seqs, each its own transaction) while an activation takes the next
// epoch and reads the log right after: every append acknowledged to the
// old epoch must be in what the activation read. A writer stops at its
// first refusal (ErrSuperseded), as a superseded actor does.
func activationRace(t *testing.T, writers, rounds int, l epochLog) {
	t.Helper()
	for round := range rounds {
		id := fmt.Sprint("e", round)
		l.create(id)
		var mu sync.Mutex
		acked := map[int64]bool{}
		stop := writeBackToBack(l, id, writers, func(seq int64) {
			mu.Lock()
			acked[seq] = true
			mu.Unlock()
		}, func(err error) bool { return errors.Is(err, persistence.ErrSuperseded) })
		time.Sleep(time.Duration(5+round%7) * time.Millisecond)
		err := l.activate(id)
		var got []int64
		if err == nil {
			got, err = l.load(id)
		}
		stop()
		must(t, err)
		seen := map[int64]bool{}
		for _, seq := range got {
			seen[seq] = true
		}
		for seq := range acked {
			if !seen[seq] {
				t.Fatalf("round %d: %d acknowledged to the superseded activation but not read by the new one (%d read, %d acked)", round, seq, len(got), len(acked))
			}
		}
	}
}

// TestPostgresKeyShareFollowsTheEpochUpdate pins down the PostgreSQL
// behaviour the activation's two steps rely on (awaitEarlierEpochs): a
// writer that checks the epoch with FOR KEY SHARE while the activation's
// UPDATE of the epoch is not yet committed is not blocked and reads the
// old epoch, and its lock follows the row to the updated version, so a
// FOR UPDATE taken after the update commits waits for that writer.
func TestPostgresKeyShareFollowsTheEpochUpdate(t *testing.T) {
	db := fenceTable(t)
	ctx := t.Context()
	activation, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := activation.ExecContext(ctx, "UPDATE fence SET epoch = epoch + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	writer, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback()
	var seen int
	// Not blocked by the uncommitted update (a timeout would fail here).
	if _, err := writer.ExecContext(ctx, "SET LOCAL lock_timeout = '2s'"); err != nil {
		t.Fatal(err)
	}
	if err := writer.QueryRowContext(ctx, "SELECT epoch FROM fence WHERE id = 1 FOR KEY SHARE").Scan(&seen); err != nil {
		t.Fatalf("the writer's epoch check waited for the uncommitted update: %v", err)
	}
	if seen != 1 {
		t.Fatalf("the writer read epoch %d before the update committed, want 1", seen)
	}
	if err := activation.Commit(); err != nil {
		t.Fatal(err)
	}
	wait, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wait.Rollback()
	if _, err := wait.ExecContext(ctx, "SET LOCAL lock_timeout = '300ms'"); err != nil {
		t.Fatal(err)
	}
	var id int
	err = wait.QueryRowContext(ctx, "SELECT id FROM fence WHERE id = 1 FOR UPDATE").Scan(&id)
	if err == nil {
		t.Fatal("FOR UPDATE after the update did not wait for the writer that read the old epoch")
	}
	if !strings.Contains(err.Error(), "lock timeout") {
		t.Fatalf("FOR UPDATE: %v, want a lock timeout", err)
	}
}

// TestDeleteIsNotStarvedByAppends: deleting a session, or a region, while
// its actor appends back to back. On PostgreSQL the delete's FOR UPDATE
// waited behind a stream of KEY SHARE epoch checks (see activationRace)
// until its operation timeout; the delete now fences the writers off
// first. What was appended is gone with the row.
func TestDeleteIsNotStarvedByAppends(t *testing.T) {
	t.Run("session", func(t *testing.T) {
		forEachDB(t, func(t *testing.T, s *persistence.Store) {
			deleteRace(t, sessionLog(t, s), func(id string) error { return errOf(s.DeleteSession(context.Background(), "a", id)) })
		})
	})
	t.Run("region", func(t *testing.T) {
		forEachDB(t, func(t *testing.T, s *persistence.Store) {
			deleteRace(t, regionLog(t, s), func(id string) error { return errOf(s.DeleteRegion(context.Background(), "a", id)) })
		})
	})
}

// deleteRace has 16 writers append to l back to back while del deletes
// it, for a few rounds: the delete succeeds and the log is empty after it.
func deleteRace(t *testing.T, l epochLog, del func(id string) error) {
	t.Helper()
	const writers = 16
	for round := range 4 {
		id := fmt.Sprint("d", round)
		l.create(id)
		stop := writeBackToBack(l, id, writers, func(int64) {}, func(err error) bool {
			return errors.Is(err, persistence.ErrSuperseded) || semvec.KindOf(err) == semvec.KindNotFound
		})
		time.Sleep(time.Duration(5+round%7) * time.Millisecond)
		err := del(id)
		stop()
		must(t, err)
		left, err := l.load(id)
		must(t, err)
		if len(left) != 0 {
			t.Fatalf("round %d: %d log entries outlived their owner", round, len(left))
		}
	}
}

// TestPostgresKeyShareCanReadAStaleEpoch pins down why the writers read the
// epoch again after locking (liveIncarnations, fence): a FOR KEY SHARE read
// whose snapshot predates an update of the epoch that commits before the
// lock is taken locks the row without waiting and returns the old epoch,
// so an activation that has already waited for the row's lockers would
// miss what that writer goes on to append. A statement after the lock
// reads the new epoch.
func TestPostgresKeyShareCanReadAStaleEpoch(t *testing.T) {
	db := fenceTable(t)
	ctx := t.Context()
	writer, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback()
	locked := make(chan int, 1)
	go func() {
		// The snapshot is taken when the statement starts; the row is
		// locked after the filter's half-second sleep.
		var epoch int
		if err := writer.QueryRowContext(ctx, "SELECT epoch FROM fence WHERE id = 1 AND pg_sleep(0.5) IS NOT NULL FOR KEY SHARE").Scan(&epoch); err != nil {
			t.Error(err)
		}
		locked <- epoch
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := db.ExecContext(ctx, "UPDATE fence SET epoch = epoch + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if stale := <-locked; stale != 1 {
		t.Fatalf("the locking read returned epoch %d; this test expects PostgreSQL to return the stale 1", stale)
	}
	var fresh int
	if err := writer.QueryRowContext(ctx, "SELECT epoch FROM fence WHERE id = 1").Scan(&fresh); err != nil || fresh != 2 {
		t.Fatalf("a read after the lock: epoch %d (%v), want 2", fresh, err)
	}
}

// fenceTable opens a fresh PostgreSQL schema (skipping without one) with a
// table fence holding the row (id 1, epoch 1).
func fenceTable(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", pgURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	for _, q := range []string{"CREATE TABLE fence (id int PRIMARY KEY, epoch int NOT NULL)", "INSERT INTO fence VALUES (1, 1)"} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}
