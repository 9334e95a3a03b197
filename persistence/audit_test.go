package persistence_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

func TestAuditWrittenByMutations(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		must(t, s.CreateSession(ctx, session("alice", "s1")))
		c1, b1 := cluster("alice", "c1", 1)
		must(t, s.CreateCluster(ctx, c1, b1))
		_, err := s.AddMember(ctx, "alice", "c1", "s1")
		must(t, err)
		_, err = s.AddMember(ctx, "alice", "c1", "s1") // no-op: no audit row
		must(t, err)
		must(t, s.RemoveMember(ctx, "alice", "c1", "s1"))
		r1, m1 := region("alice", "r1", 1)
		must(t, s.CreateRegion(ctx, r1, m1))
		_, err = s.AttachCluster(ctx, "alice", "r1", "c1")
		must(t, err)
		must(t, s.DetachCluster(ctx, "alice", "r1", "c1"))
		_, _, err = s.EnsureObserver(ctx, observer("alice", "o1"), persistence.SessionRecord{})
		must(t, err)
		_, _, err = s.EnsureObserver(ctx, observer("alice", "o2"), persistence.SessionRecord{}) // exists: no row
		must(t, err)
		_, err = s.RegisterObserverRegion(ctx, "alice", "r1")
		must(t, err)
		_, err = s.UnregisterObserverRegion(ctx, "alice", "r1")
		must(t, err)
		must(t, errOf(s.DeleteRegion(ctx, "alice", "r1")))
		must(t, errOf(s.DeleteCluster(ctx, "alice", "c1")))
		must(t, errOf(s.DeleteSession(ctx, "alice", "s1")))
		// Failed mutations write nothing.
		wantKind(t, errOf(s.DeleteSession(ctx, "alice", "s1")), semvec.KindNotFound, "")
		wantKind(t, s.CreateSession(ctx, session("alice", "o1-meta")), semvec.KindConflict, "")
		// Another owner's mutation of the same id is audited for that owner only.
		must(t, s.CreateSession(ctx, session("bob", "o1-meta")))
		if bob, err := s.AuditLog(ctx, "bob", 0); err != nil || len(bob) != 1 ||
			bob[0].Action != persistence.ActionCreate || bob[0].ResourceID != "o1-meta" {
			t.Fatalf("AuditLog(bob) = %+v, %v", bob, err)
		}

		log, err := s.AuditLog(ctx, "alice", 0)
		must(t, err)
		var got []string
		for i := len(log) - 1; i >= 0; i-- { // oldest first
			e := log[i]
			got = append(got, e.Action+" "+e.ResourceType+" "+e.ResourceID)
			if e.Subject != "alice" || e.At.IsZero() || e.At.Location() != time.UTC {
				t.Fatalf("entry %+v", e)
			}
			if e.Detail != "" && !json.Valid([]byte(e.Detail)) {
				t.Fatalf("detail %q is not JSON", e.Detail)
			}
			if i > 0 && log[i].ID >= log[i-1].ID {
				t.Fatalf("not newest first: %+v", log)
			}
		}
		want := []string{
			"create session s1", "create cluster c1", "member_add cluster c1", "member_remove cluster c1",
			"create region r1", "region_attach region r1", "region_detach region r1",
			"create observer o1", "observer_register observer o1", "observer_unregister observer o1",
			"delete region r1", "delete cluster c1", "delete session s1",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("audit actions\n got %q\nwant %q", got, want)
		}
		if log[len(log)-3].Detail != `{"session_id":"s1"}` {
			t.Fatalf("member_add entry %+v", log[len(log)-3])
		}
	})
}

func TestAuditLog(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		for i := range 5 {
			must(t, s.Audit(ctx, persistence.AuditEntry{
				At: ts(i), Subject: "alice", Action: "run", ResourceType: "session",
				ResourceID: fmt.Sprint(i), Detail: `{"n":1}`,
			}))
		}
		must(t, s.Audit(ctx, persistence.AuditEntry{Subject: "bob", Action: "run"}))

		log, err := s.AuditLog(ctx, "alice", 3)
		must(t, err)
		if len(log) != 3 || log[0].ResourceID != "4" || log[2].ResourceID != "2" {
			t.Fatalf("AuditLog(alice, 3) = %+v", log)
		}
		if !log[0].At.Equal(us(ts(4))) || log[0].Detail != `{"n":1}` || log[0].ID == 0 {
			t.Fatalf("entry %+v", log[0])
		}
		bob, err := s.AuditLog(ctx, "bob", 10)
		must(t, err)
		if len(bob) != 1 || bob[0].At.IsZero() {
			t.Fatalf("AuditLog(bob) = %+v", bob)
		}
		all, err := s.AuditLog(ctx, "", 0)
		must(t, err)
		if len(all) != 6 || all[0].Subject != "bob" {
			t.Fatalf("AuditLog(\"\") = %+v", all)
		}
	})
}

// auditIDs returns subject's audit rows, oldest first, as "action resource_id".
func auditIDs(t *testing.T, s *persistence.Store, subject string) []string {
	t.Helper()
	log, err := s.AuditLog(t.Context(), subject, persistence.MaxAuditLimit)
	must(t, err)
	out := make([]string, len(log))
	for i, e := range log {
		out[len(log)-1-i] = e.Action + " " + e.ResourceID
	}
	return out
}

// An owner's audit log keeps its newest rows (WithAuditRetention): the
// audited change past the bound deletes the oldest, and another owner's
// rows stay.
func TestAuditLogKeepsTheNewestRowsPerOwner(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		const keep = 5
		if persistence.AuditPruneEvery(keep) != 1 {
			t.Fatalf("a retention of %d prunes every %d writes: this test wants every write", keep, persistence.AuditPruneEvery(keep))
		}
		s := openStore(t, databaseURL, persistence.WithAuditRetention(keep))
		ctx := t.Context()
		must(t, s.Audit(ctx, persistence.AuditEntry{Subject: "bob", Action: "run", ResourceID: "b0"}))
		for i := range 8 { // 16 audited changes
			id := fmt.Sprint("s", i)
			must(t, s.CreateSession(ctx, session("alice", id)))
			must(t, errOf(s.DeleteSession(ctx, "alice", id)))
			if i == 3 {
				must(t, s.CreateSession(ctx, session("bob", "b1")))
			}
			if n, err := s.AuditRows(ctx, "alice"); err != nil || n > keep {
				t.Fatalf("after %d cycles alice has %d audit rows (%v), want at most %d", i+1, n, err, keep)
			}
		}
		want := []string{"delete s5", "create s6", "delete s6", "create s7", "delete s7"}
		if got := auditIDs(t, s, "alice"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("alice's audit log\n got %q\nwant %q", got, want)
		}
		if got, want := auditIDs(t, s, "bob"), []string{"run b0", "create b1"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("bob's audit log\n got %q\nwant %q", got, want)
		}
	})
}

// With a larger retention an owner's log is pruned every few writes: it
// never holds more than keep plus the writes between two prunes, and what
// it holds is the newest.
func TestAuditLogBoundBetweenPrunes(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		const keep, writes = 300, 400
		every := persistence.AuditPruneEvery(keep)
		if every < 2 {
			t.Fatalf("a retention of %d prunes every write: this test wants fewer", keep)
		}
		s := openStore(t, databaseURL, persistence.WithAuditRetention(keep))
		ctx := t.Context()
		for i := range writes {
			must(t, s.Audit(ctx, persistence.AuditEntry{Subject: "alice", Action: "run", ResourceID: fmt.Sprint(i)}))
			if i%100 == 0 {
				must(t, s.Audit(ctx, persistence.AuditEntry{Subject: "bob", Action: "run", ResourceID: fmt.Sprint(i)}))
			}
			n, err := s.AuditRows(ctx, "alice")
			must(t, err)
			if n > keep+every-1 || n < min(i+1, keep) {
				t.Fatalf("after %d writes alice has %d audit rows, want %d to %d", i+1, n, min(i+1, keep), keep+every-1)
			}
		}
		got := auditIDs(t, s, "alice")
		for j, e := range got {
			if want := fmt.Sprint("run ", writes-len(got)+j); e != want {
				t.Fatalf("alice's audit row %d of %d is %q, want %q (the newest)", j, len(got), e, want)
			}
		}
		if got, want := auditIDs(t, s, "bob"), []string{"run 0", "run 100", "run 200", "run 300"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("bob's audit log\n got %q\nwant %q", got, want)
		}
	})
}

// A log that grew past the bound before (a version that did not bound it,
// or a higher retention) is cut a batch per write, starting with the
// owner's first write after Open, so no write deletes more than a batch.
func TestAuditLogPastTheBoundShrinksABatchPerWrite(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		const keep = 5
		batch := persistence.AuditPruneBatch
		s := openStore(t, databaseURL, persistence.WithAuditRetention(keep))
		ctx := t.Context()
		old := 2*batch + batch/2
		must(t, s.AppendAuditRows(ctx, "alice", old))
		must(t, s.AppendAuditRows(ctx, "bob", 3))
		rows := old
		for i := 0; rows > keep; i++ {
			must(t, s.Audit(ctx, persistence.AuditEntry{Subject: "alice", Action: "run", ResourceID: fmt.Sprint(i)}))
			rows = max(rows+1-batch, keep)
			if n, err := s.AuditRows(ctx, "alice"); err != nil || n != rows {
				t.Fatalf("after %d writes alice has %d audit rows (%v), want %d", i+1, n, err, rows)
			}
		}
		want := []string{fmt.Sprint("run old", old-2), fmt.Sprint("run old", old-1), "run 0", "run 1", "run 2"}
		if got := auditIDs(t, s, "alice"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("alice's audit log\n got %q\nwant %q", got, want)
		}
		if n, err := s.AuditRows(ctx, "bob"); err != nil || n != 3 {
			t.Fatalf("bob has %d audit rows (%v), want his 3", n, err)
		}
	})
}
