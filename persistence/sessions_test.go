package persistence_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

func TestSessionCRUD(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		rec := session("alice", "s1")
		must(t, s.CreateSession(ctx, rec))

		got, err := s.GetSession(ctx, "alice", "s1")
		must(t, err)
		if got.Incarnation == "" {
			t.Fatal("CreateSession gave the session no incarnation")
		}
		want := rec
		want.Incarnation = got.Incarnation // generated
		want.CreatedAt, want.UpdatedAt = us(rec.CreatedAt), us(rec.UpdatedAt)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("GetSession = %+v\nwant %+v", got, want)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
		}

		wantKind(t, s.CreateSession(ctx, rec), semvec.KindConflict, "")
		// Ids are scoped by owner: bob's s1 is another session.
		must(t, s.CreateSession(ctx, session("bob", "s1")))
		bobs, err := s.GetSession(ctx, "bob", "s1")
		must(t, err)
		if bobs.Owner != "bob" || bobs.Incarnation == "" || bobs.Incarnation == got.Incarnation {
			t.Fatalf("bob's s1 = %+v (alice's incarnation %q)", bobs, got.Incarnation)
		}
		if again, _ := s.GetSession(ctx, "alice", "s1"); !reflect.DeepEqual(again, want) {
			t.Fatalf("alice's s1 after bob's create = %+v", again)
		}

		// Defaults: kind "session", zero times become now, nil options stay nil.
		must(t, s.CreateSession(ctx, persistence.SessionRecord{ID: "s2", Owner: "alice", Dimension: 8}))
		got, err = s.GetSession(ctx, "alice", "s2")
		must(t, err)
		if got.Kind != persistence.SessionKindSession || got.Options != nil ||
			got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Fatalf("defaults: %+v", got)
		}

		wantKind(t, s.CreateSession(ctx, persistence.SessionRecord{Owner: "alice"}), semvec.KindInvalid, "")
		wantKind(t, s.CreateSession(ctx, persistence.SessionRecord{ID: "s3", Options: []byte("{nope")}), semvec.KindInvalid, "")
		wantKind(t, s.CreateSession(ctx, persistence.SessionRecord{ID: "s3", Options: []byte("\"\xff\"")}), semvec.KindInvalid, "")

		must(t, s.TouchSession(ctx, "alice", "s1", ts(30)))
		got, _ = s.GetSession(ctx, "alice", "s1")
		if !got.UpdatedAt.Equal(us(ts(30))) {
			t.Fatalf("UpdatedAt after touch = %v", got.UpdatedAt)
		}
		if b, _ := s.GetSession(ctx, "bob", "s1"); !b.UpdatedAt.Equal(us(ts(2))) {
			t.Fatalf("alice's touch moved bob's s1: UpdatedAt %v", b.UpdatedAt)
		}
		wantKind(t, s.TouchSession(ctx, "alice", "nope", ts(30)), semvec.KindNotFound, "Session not found")
		wantKind(t, s.TouchSession(ctx, "carol", "s1", ts(30)), semvec.KindNotFound, "Session not found")

		n, err := s.CountSessions(ctx)
		must(t, err)
		if n != 3 {
			t.Fatalf("CountSessions = %d, want 3", n)
		}

		must(t, errOf(s.DeleteSession(ctx, "alice", "s1")))
		wantKind(t, errOf(s.DeleteSession(ctx, "alice", "s1")), semvec.KindNotFound, "Session not found")
		_, err = s.GetSession(ctx, "alice", "s1")
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		if _, err := s.GetSession(ctx, "bob", "s1"); err != nil {
			t.Fatalf("bob's s1 gone after alice's delete: %v", err)
		}
		if n, _ := s.CountSessions(ctx); n != 2 {
			t.Fatalf("CountSessions after delete = %d, want 2", n)
		}
	})
}

func TestSessionOwnerIsolation(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		must(t, s.CreateSession(ctx, session("alice", "s1")))

		_, errOther := s.GetSession(ctx, "bob", "s1")
		_, errMissing := s.GetSession(ctx, "bob", "missing")
		wantKind(t, errOther, semvec.KindNotFound, "Session not found")
		if errOther.Error() != errMissing.Error() {
			t.Fatalf("other owner %q differs from missing %q", errOther, errMissing)
		}
		wantKind(t, errOf(s.DeleteSession(ctx, "bob", "s1")), semvec.KindNotFound, "Session not found")
		if _, err := s.GetSession(ctx, "alice", "s1"); err != nil {
			t.Fatalf("alice's session gone after bob's delete: %v", err)
		}
	})
}

func TestSnapshots(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		for _, id := range []string{"s1", "s2", "s3"} {
			must(t, s.CreateSession(ctx, session("alice", id)))
		}
		_, _, err := s.LoadSnapshot(ctx, "alice", "s1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")

		blob := bytes.Repeat([]byte{0, 1, 2, 0xff, 'x'}, 100_000) // 500 kB with NULs
		must(t, saveSnapshot(t, s, "alice", "s1", blob, ts(10)))
		data, at, err := s.LoadSnapshot(ctx, "alice", "s1")
		must(t, err)
		if !bytes.Equal(data, blob) || !at.Equal(us(ts(10))) {
			t.Fatalf("LoadSnapshot = %d bytes at %v", len(data), at)
		}

		// Upsert replaces.
		must(t, saveSnapshot(t, s, "alice", "s1", []byte("v2"), ts(11)))
		data, at, err = s.LoadSnapshot(ctx, "alice", "s1")
		must(t, err)
		if string(data) != "v2" || !at.Equal(us(ts(11))) {
			t.Fatalf("after upsert: %q at %v", data, at)
		}

		// Empty and nil snapshots are stored as empty.
		must(t, saveSnapshot(t, s, "alice", "s2", nil, ts(12)))
		data, _, err = s.LoadSnapshot(ctx, "alice", "s2")
		must(t, err)
		if len(data) != 0 {
			t.Fatalf("nil snapshot read back as %q", data)
		}

		wantKind(t, saveSnapshot(t, s, "alice", "missing", []byte("x"), ts(1)), semvec.KindNotFound, "Session not found")
		n, err := s.SaveSnapshots(ctx, []persistence.Snapshot{{Owner: "alice", ID: "missing", Incarnation: "x", Data: []byte("x"), At: ts(1)}})
		if n != 0 || err != nil {
			t.Fatalf("SaveSnapshots(missing) = %d, %v; want 0, nil", n, err)
		}

		// Batch: upserts and inserts, repeated id (last wins), missing session
		// skipped, more rows than one INSERT chunk.
		snap := func(id, data string, sec int) persistence.Snapshot {
			inc := "no-such-incarnation"
			if rec, err := s.GetSession(ctx, "alice", id); err == nil {
				inc = rec.Incarnation
			}
			return persistence.Snapshot{Owner: "alice", ID: id, Incarnation: inc, Data: []byte(data), At: ts(sec)}
		}
		batch := []persistence.Snapshot{
			snap("s1", "b1", 20),
			snap("s2", "old", 20),
			snap("gone", "x", 20),
			snap("s2", "b2", 21),
			snap("s3", "b3", 22),
		}
		for i := range 120 {
			id := "bulk-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
			must(t, s.CreateSession(ctx, session("alice", id)))
			batch = append(batch, snap(id, id, 23))
		}
		n, err = s.SaveSnapshots(ctx, batch)
		must(t, err)
		if n != 123 { // s1, s2 (once), s3 and the 120 bulk sessions
			t.Fatalf("SaveSnapshots wrote %d, want 123", n)
		}
		if n, err := s.SaveSnapshots(ctx, nil); n != 0 || err != nil {
			t.Fatalf("SaveSnapshots(nil) = %d, %v", n, err)
		}
		for _, want := range []persistence.Snapshot{
			{ID: "s1", Data: []byte("b1"), At: ts(20)},
			{ID: "s2", Data: []byte("b2"), At: ts(21)},
			{ID: "s3", Data: []byte("b3"), At: ts(22)},
			{ID: "bulk-ea", Data: []byte("bulk-ea"), At: ts(23)},
		} {
			data, at, err := s.LoadSnapshot(ctx, "alice", want.ID)
			must(t, err)
			if !bytes.Equal(data, want.Data) || !at.Equal(us(want.At)) {
				t.Fatalf("%s: %q at %v, want %q at %v", want.ID, data, at, want.Data, us(want.At))
			}
		}
		_, _, err = s.LoadSnapshot(ctx, "alice", "gone")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")

		// Deleting the session deletes its snapshot.
		must(t, errOf(s.DeleteSession(ctx, "alice", "s1")))
		_, _, err = s.LoadSnapshot(ctx, "alice", "s1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
		// And a re-created session with the same id does not see it.
		must(t, s.CreateSession(ctx, session("alice", "s1")))
		_, _, err = s.LoadSnapshot(ctx, "alice", "s1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
	})
}

func TestImportSession(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		must(t, s.ImportSession(ctx, session("alice", "imp"), []byte("state"), ts(5)))
		data, at, err := s.LoadSnapshot(ctx, "alice", "imp")
		must(t, err)
		if string(data) != "state" || !at.Equal(us(ts(5))) {
			t.Fatalf("imported snapshot %q at %v", data, at)
		}
		wantKind(t, s.ImportSession(ctx, session("alice", "imp"), []byte("again"), ts(6)), semvec.KindConflict, "")
		data, _, _ = s.LoadSnapshot(ctx, "alice", "imp")
		if string(data) != "state" {
			t.Fatalf("failed import overwrote the snapshot: %q", data)
		}
		log, err := s.AuditLog(ctx, "alice", 10)
		must(t, err)
		if len(log) != 1 || log[0].Action != persistence.ActionImport || log[0].ResourceID != "imp" {
			t.Fatalf("audit after import: %+v", log)
		}
	})
}

func TestNetworkState(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *persistence.Store) {
		ctx := t.Context()
		_, err := s.LoadNetworkState(ctx, "alice")
		wantKind(t, err, semvec.KindNotFound, "Network state not found")
		ea, err := s.ActivateNetwork(ctx, "alice")
		must(t, err)
		// The row an activation creates holds no state yet.
		_, err = s.LoadNetworkState(ctx, "alice")
		wantKind(t, err, semvec.KindNotFound, "Network state not found")
		eb, err := s.ActivateNetwork(ctx, "bob")
		must(t, err)
		save := func(owner string, epoch int64, st persistence.NetworkState) {
			t.Helper()
			must(t, s.SaveNetworkState(ctx, owner, epoch, st))
		}
		parts := func(kv ...string) map[string][]byte {
			m := map[string][]byte{}
			for i := 0; i < len(kv); i += 2 {
				m[kv[i]] = []byte(kv[i+1])
			}
			return m
		}
		want := func(owner, data string, partitions map[string][]byte) {
			t.Helper()
			st, err := s.LoadNetworkState(ctx, owner)
			must(t, err)
			if string(st.Data) != data || len(st.Partitions) != len(partitions) {
				t.Fatalf("%s: %q with partitions %q, want %q with %q", owner, st.Data, st.Partitions, data, partitions)
			}
			for user, p := range partitions {
				if !bytes.Equal(st.Partitions[user], p) {
					t.Fatalf("%s: partition %s = %q, want %q", owner, user, st.Partitions[user], p)
				}
			}
		}
		save("alice", ea, persistence.NetworkState{Data: []byte("v1"), Partitions: parts("default", "d1", "u1", "x1")})
		save("bob", eb, persistence.NetworkState{Data: []byte("bob"), Partitions: parts("default", "bob's")})
		// A save writes the partitions it holds and keeps the others.
		save("alice", ea, persistence.NetworkState{Data: []byte("v2"), Partitions: parts("u1", "x2", "u2", "y2")})
		want("alice", "v2", parts("default", "d1", "u1", "x2", "u2", "y2"))
		want("bob", "bob", parts("default", "bob's"))
		// All: the partitions it holds are all of them.
		save("alice", ea, persistence.NetworkState{Data: []byte("v3"), Partitions: parts("u2", "y3"), All: true})
		want("alice", "v3", parts("u2", "y3"))
		want("bob", "bob", parts("default", "bob's"))
		save("alice", ea, persistence.NetworkState{Data: []byte("v4")})
		want("alice", "v4", parts("u2", "y3"))

		// Blobs are bound parameters: any bytes come back as they were,
		// placeholders and quotes in them included.
		raw := []byte("?, $1 ' \" \x00")
		for b := range 256 {
			raw = append(raw, byte(b))
		}
		save("alice", ea, persistence.NetworkState{Data: raw, Partitions: map[string][]byte{"u2": raw, "?": raw}})
		want("alice", string(raw), map[string][]byte{"u2": raw, "?": raw})
		save("alice", ea, persistence.NetworkState{Data: []byte("v5"), All: true})
		want("alice", "v5", parts())
		save("bob", eb, persistence.NetworkState{}) // stored empty (NOT NULL): no state
		_, err = s.LoadNetworkState(ctx, "bob")
		wantKind(t, err, semvec.KindNotFound, "Network state not found")
	})
}
