package persistence_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// The log is appended in groups, refuses entries of a deleted incarnation
// one by one, loads in order after a checkpoint's seq, and a checkpoint
// deletes the entries it covers and never goes back in time.
func TestSessionLogAndCheckpoints(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := context.Background()
		must(t, s.CreateSession(ctx, session("a", "s1")))
		must(t, s.CreateSession(ctx, session("b", "s1")))
		incA, incB := incarnation(t, s, "a", "s1"), incarnation(t, s, "b", "s1")
		var batch []persistence.LogEntry
		for seq := int64(1); seq <= 5; seq++ {
			batch = append(batch,
				persistence.LogEntry{Owner: "a", SessionID: "s1", Incarnation: incA, Seq: seq, Data: []byte(fmt.Sprintf("a%d", seq))},
				persistence.LogEntry{Owner: "b", SessionID: "s1", Incarnation: incB, Seq: seq, Data: []byte(fmt.Sprintf("b%d", seq))})
		}
		batch = append(batch, persistence.LogEntry{Owner: "a", SessionID: "s1", Incarnation: "stale", Seq: 6, Data: []byte("x")},
			persistence.LogEntry{Owner: "a", SessionID: "missing", Incarnation: incA, Seq: 1, Data: []byte("x")})
		refused, err := s.AppendLog(ctx, batch)
		must(t, err)
		for i, r := range refused {
			if (i >= 10) != (r != nil) {
				t.Fatalf("entry %d: refused %v", i, r)
			}
		}
		wantKind(t, refused[10], semvec.KindNotFound, "Session not found")
		got, err := s.LoadLog(ctx, "a", "s1", 2)
		must(t, err)
		if len(got) != 3 || got[0].Seq != 3 || !bytes.Equal(got[2].Data, []byte("a5")) {
			t.Fatalf("LoadLog after 2: %+v", got)
		}
		// A seq the log already holds (a commit whose acknowledgement was
		// lost, numbered again) refuses that session's entries in the
		// group, the colliding one and those after it; the other sessions'
		// entries are written, the held one is not replaced.
		refused, err = s.AppendLog(ctx, []persistence.LogEntry{
			{Owner: "a", SessionID: "s1", Incarnation: incA, Seq: 5, Data: []byte("dup")},
			{Owner: "b", SessionID: "s1", Incarnation: incB, Seq: 6, Data: []byte("b6")},
			{Owner: "a", SessionID: "s1", Incarnation: incA, Seq: 6, Data: []byte("after the dup")}})
		must(t, err)
		if !errors.Is(refused[0], persistence.ErrBehindLog) || refused[1] != nil || !errors.Is(refused[2], persistence.ErrBehindLog) {
			t.Fatalf("duplicate seq: refused %v", refused)
		}
		got, err = s.LoadLog(ctx, "a", "s1", 4)
		must(t, err)
		if len(got) != 1 || string(got[0].Data) != "a5" {
			t.Fatalf("the duplicate replaced the held entry: %+v", got)
		}
		if got, err := s.LoadLog(ctx, "b", "s1", 5); err != nil || len(got) != 1 || string(got[0].Data) != "b6" {
			t.Fatalf("the entry committed with a duplicate: %+v (%v)", got, err)
		}

		// Checkpoint at 4: entries 1-4 deleted, 5 kept; b's untouched.
		n, err := s.SaveSnapshots(ctx, []persistence.Snapshot{{Owner: "a", ID: "s1", Incarnation: incA, Data: []byte("state@4"), At: ts(1), Seq: 4}})
		must(t, err)
		if n != 1 {
			t.Fatalf("saved %d", n)
		}
		entries, _, err := s.LogStats(ctx, "a", "s1")
		must(t, err)
		if entries != 1 {
			t.Fatalf("a has %d entries after the checkpoint", entries)
		}
		if entries, _, _ := s.LogStats(ctx, "b", "s1"); entries != 6 {
			t.Fatalf("b has %d entries", entries)
		}
		// An older checkpoint landing late changes nothing.
		_, err = s.SaveSnapshots(ctx, []persistence.Snapshot{{Owner: "a", ID: "s1", Incarnation: incA, Data: []byte("state@2"), At: ts(2), Seq: 2}})
		must(t, err)
		cp, err := s.LoadCheckpoint(ctx, "a", "s1")
		must(t, err)
		if cp.Seq != 4 || string(cp.Data) != "state@4" {
			t.Fatalf("checkpoint went back: %d %q", cp.Seq, cp.Data)
		}
		_, err = s.LoadCheckpoint(ctx, "b", "s1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
		// Deleting the session deletes its log.
		must(t, errOf(s.DeleteSession(ctx, "b", "s1")))
		if entries, _, _ := s.LogStats(ctx, "b", "s1"); entries != 0 {
			t.Fatalf("b's log outlived its session: %d", entries)
		}
	})
}

// One SaveSnapshots of several sessions of one owner deletes, for each, the
// entries its checkpoint covers and nothing else.
func TestCheckpointsOfOneOwnerDeleteWhatEachCovers(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := context.Background()
		ids := []string{"s1", "s2", "s3"}
		incs := map[string]string{}
		var batch []persistence.LogEntry
		for _, id := range ids {
			must(t, s.CreateSession(ctx, session("o", id)))
			incs[id] = incarnation(t, s, "o", id)
			for seq := int64(1); seq <= 10; seq++ {
				batch = append(batch, persistence.LogEntry{Owner: "o", SessionID: id, Incarnation: incs[id], Seq: seq, Data: []byte(fmt.Sprint(id, seq))})
			}
		}
		must(t, s.CreateSession(ctx, session("p", "s1"))) // another owner, same id
		batch = append(batch, persistence.LogEntry{Owner: "p", SessionID: "s1", Incarnation: incarnation(t, s, "p", "s1"), Seq: 1, Data: []byte("p1")})
		_, err := s.AppendLog(ctx, batch)
		must(t, err)
		covered := map[string]int64{"s1": 3, "s2": 10, "s3": 7}
		var snaps []persistence.Snapshot
		for _, id := range ids {
			snaps = append(snaps, persistence.Snapshot{Owner: "o", ID: id, Incarnation: incs[id], Data: []byte("state"), At: ts(1), Seq: covered[id]})
		}
		n, err := s.SaveSnapshots(ctx, snaps)
		must(t, err)
		if n != len(ids) {
			t.Fatalf("saved %d checkpoints, want %d", n, len(ids))
		}
		for _, id := range ids {
			got, err := s.LoadLog(ctx, "o", id, 0)
			must(t, err)
			if want := 10 - covered[id]; int64(len(got)) != want || (want > 0 && got[0].Seq != covered[id]+1) {
				t.Fatalf("%s: %d entries left after a checkpoint at %d, want %d from %d", id, len(got), covered[id], want, covered[id]+1)
			}
		}
		if got, err := s.LoadLog(ctx, "p", "s1", 0); err != nil || len(got) != 1 {
			t.Fatalf("another owner's log: %d entries (%v), want 1", len(got), err)
		}
	})
}
