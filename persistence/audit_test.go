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
