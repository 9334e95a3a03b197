package persistence_test

import (
	"context"
	"database/sql"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"
	"github.com/uptrace/bun/migrate"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	"github.com/semvec-go/semvec/persistence/migrations"
)

const initialMigration = "20261126000001"

// openBun opens databaseURL (as forEachURL makes them) as a bare bun.DB, for
// building a database as an earlier version of the service left it.
func openBun(t *testing.T, databaseURL string) *bun.DB {
	t.Helper()
	if path, ok := strings.CutPrefix(databaseURL, "sqlite:///"); ok {
		sqldb, err := sql.Open(sqliteshim.ShimName, "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)")
		must(t, err)
		sqldb.SetMaxOpenConns(1)
		db := bun.NewDB(sqldb, sqlitedialect.New())
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	sqldb, err := sql.Open("pgx", databaseURL)
	must(t, err)
	db := bun.NewDB(sqldb, pgdialect.New())
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// migrateToInitial applies only the first migration, and records it as
// applied the way persistence.Open does, so the database is what the first
// release of the schema left.
func migrateToInitial(ctx context.Context, t *testing.T, db *bun.DB) {
	t.Helper()
	all := migrations.Migrations.Sorted()
	if len(all) < 2 || all[0].Name != initialMigration {
		t.Fatalf("registered migrations %v: want %s first, and more after it", all, initialMigration)
	}
	only := migrate.NewMigrations()
	only.Add(all[0])
	m := migrate.NewMigrator(db, only, migrate.WithMarkAppliedOnSuccess(true))
	must(t, m.Init(ctx))
	group, err := m.Migrate(ctx)
	must(t, err)
	if len(group.Migrations) != 1 || group.Migrations[0].Name != initialMigration {
		t.Fatalf("applied %v, want only %s", group.Migrations, initialMigration)
	}
	// The new schema is not there yet.
	var n int
	q := `SELECT COUNT(*) FROM pragma_table_info('sessions') WHERE name = 'incarnation'`
	if db.Dialect().Name().String() == "pg" {
		q = `SELECT COUNT(*) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'sessions' AND column_name = 'incarnation'`
	}
	must(t, db.QueryRowContext(ctx, q).Scan(&n))
	if n != 0 {
		t.Fatal("the initial migration already has sessions.incarnation")
	}
}

// v1 is the content of a database of the initial schema, where ids were one
// global namespace: alice's and bob's resources, with every kind of row.
type v1Session struct {
	id, owner, kind string
	dim             int
	model           string
	options         *string
}

func strp(s string) *string { return &s }

var (
	v1Sessions = []v1Session{
		{"a-s1", "alice", persistence.SessionKindSession, 384, "hash-384", strp(`{"short_term_size":15}`)},
		{"a-s2", "alice", persistence.SessionKindSession, 384, "hash-384", nil},
		{"a-c1", "alice", persistence.SessionKindCluster, 384, "hash-384", nil},
		{"a-r1-meta", "alice", persistence.SessionKindRegionMeta, 384, "hash-384", nil},
		{"a-o-meta", "alice", persistence.SessionKindObserverMeta, 384, "hash-384", nil},
		{"b-s1", "bob", persistence.SessionKindSession, 16, "model-b", strp(`{"x":1}`)},
		{"b-c1", "bob", persistence.SessionKindCluster, 16, "model-b", nil},
		{"b-r1-meta", "bob", persistence.SessionKindRegionMeta, 16, "model-b", nil},
		{"b-o-meta", "bob", persistence.SessionKindObserverMeta, 16, "model-b", nil},
	}
	v1Snapshots = map[string]string{ // session id → data (the owner is the session's)
		"a-s1": "alice state \x00\xff", "a-c1": "alice cluster", "a-r1-meta": "alice region",
		"b-s1": "bob state", "b-c1": "bob cluster",
	}
	v1Members = [][3]string{ // owner, cluster, session, in joining order
		{"alice", "a-c1", "a-s2"}, {"alice", "a-c1", "a-s1"}, {"bob", "b-c1", "b-s1"},
	}
)

// v1Time is the i-th timestamp of the v1 rows.
func v1Time(i int) time.Time { return ts(i) }

func fillV1(ctx context.Context, t *testing.T, db *bun.DB) {
	t.Helper()
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	for i, s := range v1Sessions {
		exec(`INSERT INTO sessions (id, owner, kind, dimension, model_name, options, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.id, s.owner, s.kind, s.dim, s.model, s.options, v1Time(i), v1Time(i+20))
	}
	for id, data := range v1Snapshots {
		exec(`INSERT INTO snapshots (session_id, data, saved_at) VALUES (?, ?, ?)`, id, []byte(data), v1Time(40))
	}
	exec(`INSERT INTO clusters (id, owner, name, aggregation_mode, coupling_factor, created_at)
		VALUES ('a-c1', 'alice', 'alice cluster', 'weighted_average', 0.25, ?), ('b-c1', 'bob', 'bob cluster', 'max', 0.5, ?)`,
		v1Time(2), v1Time(6))
	for i, m := range v1Members {
		exec(`INSERT INTO cluster_members (cluster_id, session_id, joined_at) VALUES (?, ?, ?)`, m[1], m[2], v1Time(41+i))
	}
	exec(`INSERT INTO regions (id, owner, name, meta_session_id, consensus_threshold, vote_window_seconds, last_realignment, created_at)
		VALUES ('a-r1', 'alice', 'alice region', 'a-r1-meta', 0.6, 30, ?, ?), ('b-r1', 'bob', 'bob region', 'b-r1-meta', 0.7, 40, NULL, ?)`,
		v1Time(50), v1Time(3), v1Time(7))
	exec(`INSERT INTO region_clusters (region_id, cluster_id, attached_at) VALUES ('a-r1', 'a-c1', ?), ('b-r1', 'b-c1', ?)`,
		v1Time(51), v1Time(52))
	exec(`INSERT INTO observers (id, owner, meta_session_id, sample_interval_seconds, created_at)
		VALUES ('a-o', 'alice', 'a-o-meta', 30, ?), ('b-o', 'bob', 'b-o-meta', 60, ?)`, v1Time(4), v1Time(8))
	exec(`INSERT INTO observer_regions (observer_id, region_id, registered_at) VALUES ('a-o', 'a-r1', ?), ('b-o', 'b-r1', ?)`,
		v1Time(53), v1Time(54))
	exec(`INSERT INTO network_states (owner, data, updated_at) VALUES ('alice', ?, ?)`, []byte("alice network"), v1Time(55))
	exec(`INSERT INTO audit_log (at, subject, action, resource_type, resource_id, detail) VALUES (?, 'alice', 'create', 'session', 'a-s1', '')`,
		v1Time(56))
}

// checkV1 fails unless every row fillV1 wrote reads back through the store,
// under its owner only.
func checkV1(t *testing.T, s *persistence.Store) {
	t.Helper()
	ctx := t.Context()
	for i, v := range v1Sessions {
		got, err := s.GetSession(ctx, v.owner, v.id)
		must(t, err)
		want := persistence.SessionRecord{
			ID: v.id, Owner: v.owner, Incarnation: got.Incarnation, Kind: v.kind, Dimension: v.dim, ModelName: v.model,
			CreatedAt: us(v1Time(i)), UpdatedAt: us(v1Time(i + 20)),
		}
		if v.options != nil {
			want.Options = []byte(*v.options)
		}
		if got.Incarnation == "" || !reflect.DeepEqual(got, want) {
			t.Fatalf("migrated session %s = %+v\nwant %+v (with an incarnation)", v.id, got, want)
		}
		other := "bob"
		if v.owner == "bob" {
			other = "alice"
		}
		_, err = s.GetSession(ctx, other, v.id)
		wantKind(t, err, semvec.KindNotFound, "Session not found")
		_, _, err = s.LoadSnapshot(ctx, other, v.id)
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")

		data, at, err := s.LoadSnapshot(ctx, v.owner, v.id)
		if want, ok := v1Snapshots[v.id]; ok {
			must(t, err)
			if string(data) != want || !at.Equal(us(v1Time(40))) {
				t.Fatalf("migrated snapshot of %s = %q at %v", v.id, data, at)
			}
		} else {
			wantKind(t, err, semvec.KindNotFound, "Snapshot not found")
		}
	}

	for _, c := range []persistence.ClusterRecord{
		{ID: "a-c1", Owner: "alice", Name: "alice cluster", AggregationMode: "weighted_average", CouplingFactor: 0.25, CreatedAt: us(v1Time(2))},
		{ID: "b-c1", Owner: "bob", Name: "bob cluster", AggregationMode: "max", CouplingFactor: 0.5, CreatedAt: us(v1Time(6))},
	} {
		got, err := s.GetCluster(ctx, c.Owner, c.ID)
		must(t, err)
		if got != c {
			t.Fatalf("migrated cluster = %+v, want %+v", got, c)
		}
	}
	if m, err := s.ListMembers(ctx, "alice", "a-c1"); err != nil || !slices.Equal(m, []string{"a-s2", "a-s1"}) {
		t.Fatalf("ListMembers(alice, a-c1) = %v, %v", m, err)
	}
	if m, err := s.ListMembers(ctx, "bob", "b-c1"); err != nil || !slices.Equal(m, []string{"b-s1"}) {
		t.Fatalf("ListMembers(bob, b-c1) = %v, %v", m, err)
	}
	if m, _ := s.ListMembers(ctx, "bob", "a-c1"); len(m) != 0 {
		t.Fatalf("ListMembers(bob, a-c1) = %v", m)
	}
	if of, err := s.ClustersOfSession(ctx, "alice", "a-s1"); err != nil || !slices.Equal(of, []string{"a-c1"}) {
		t.Fatalf("ClustersOfSession(alice, a-s1) = %v, %v", of, err)
	}
	if l, err := s.ListClusters(ctx, "alice"); err != nil || len(l) != 1 || l[0].ID != "a-c1" || l[0].MemberCount != 2 {
		t.Fatalf("ListClusters(alice) = %+v, %v", l, err)
	}

	last := us(v1Time(50))
	for _, r := range []persistence.RegionRecord{
		{ID: "a-r1", Owner: "alice", Name: "alice region", MetaSessionID: "a-r1-meta", ConsensusThreshold: 0.6,
			VoteWindowSeconds: 30, LastRealignment: &last, CreatedAt: us(v1Time(3))},
		{ID: "b-r1", Owner: "bob", Name: "bob region", MetaSessionID: "b-r1-meta", ConsensusThreshold: 0.7,
			VoteWindowSeconds: 40, CreatedAt: us(v1Time(7))},
	} {
		got, err := s.GetRegion(ctx, r.Owner, r.ID)
		must(t, err)
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("migrated region = %+v, want %+v", got, r)
		}
		_, err = s.GetRegion(ctx, map[string]string{"alice": "bob", "bob": "alice"}[r.Owner], r.ID)
		wantKind(t, err, semvec.KindNotFound, "Region not found")
	}
	if rc, err := s.RegionClusters(ctx, "alice", "a-r1"); err != nil || !slices.Equal(rc, []string{"a-c1"}) {
		t.Fatalf("RegionClusters(alice, a-r1) = %v, %v", rc, err)
	}
	if rc, err := s.RegionsOfCluster(ctx, "bob", "b-c1"); err != nil || !slices.Equal(rc, []string{"b-r1"}) {
		t.Fatalf("RegionsOfCluster(bob, b-c1) = %v, %v", rc, err)
	}
	if l, err := s.ListRegions(ctx, "bob"); err != nil || len(l) != 1 || l[0].ID != "b-r1" || l[0].ClusterCount != 1 {
		t.Fatalf("ListRegions(bob) = %+v, %v", l, err)
	}

	for _, o := range []persistence.ObserverRecord{
		{ID: "a-o", Owner: "alice", MetaSessionID: "a-o-meta", SampleIntervalSeconds: 30, CreatedAt: us(v1Time(4))},
		{ID: "b-o", Owner: "bob", MetaSessionID: "b-o-meta", SampleIntervalSeconds: 60, CreatedAt: us(v1Time(8))},
	} {
		got, err := s.GetObserver(ctx, o.Owner)
		must(t, err)
		if got != o {
			t.Fatalf("migrated observer = %+v, want %+v", got, o)
		}
	}
	if regs, err := s.ObserverRegions(ctx, "alice"); err != nil || !slices.Equal(regs, []string{"a-r1"}) {
		t.Fatalf("ObserverRegions(alice) = %v, %v", regs, err)
	}
	if regs, err := s.ObserverRegions(ctx, "bob"); err != nil || !slices.Equal(regs, []string{"b-r1"}) {
		t.Fatalf("ObserverRegions(bob) = %v, %v", regs, err)
	}
	if all, err := s.ListObservers(ctx); err != nil || len(all) != 2 {
		t.Fatalf("ListObservers = %+v, %v", all, err)
	}

	if st, err := s.LoadNetworkState(ctx, "alice"); err != nil || string(st.Data) != "alice network" || len(st.Partitions) != 0 {
		t.Fatalf("LoadNetworkState(alice) = %+v, %v", st, err)
	}
	log, err := s.AuditLog(ctx, "alice", 0)
	must(t, err)
	if len(log) == 0 || log[len(log)-1].ResourceID != "a-s1" || !log[len(log)-1].At.Equal(us(v1Time(56))) {
		t.Fatalf("AuditLog(alice) = %+v", log)
	}
}

// A database of the initial schema (ids global, no incarnations) migrates:
// every row keeps its owner and reads back, and the store works on it as on
// a new one.
func TestMigrateOwnerScopedIDs(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		ctx := t.Context()
		db := openBun(t, databaseURL)
		migrateToInitial(ctx, t, db)
		fillV1(ctx, t, db)
		must(t, db.Close())

		s := openStore(t, databaseURL)
		checkV1(t, s)
		checkNoLeftovers(t, databaseURL)
		for _, owner := range []string{"alice", "bob"} { // the sessions that were there are counted
			kept, counted, err := s.SessionCounts(ctx, owner)
			must(t, err)
			if kept != counted || counted == 0 {
				t.Fatalf("%s's migrated sessions: %d counted, %d rows", owner, kept, counted)
			}
		}

		// The migrated sessions take snapshots in their incarnation.
		incS1 := incarnation(t, s, "alice", "a-s1")
		n, err := s.SaveSnapshots(ctx, []persistence.Snapshot{
			{Owner: "alice", ID: "a-s1", Incarnation: incS1, Data: []byte("alice v2"), At: ts(57)},
			{Owner: "bob", ID: "b-s1", Incarnation: incarnation(t, s, "bob", "b-s1"), Data: []byte("bob v2"), At: ts(57)},
			{Owner: "bob", ID: "a-s1", Incarnation: incS1, Data: []byte("to bob"), At: ts(57)},
		})
		must(t, err)
		if n != 2 {
			t.Fatalf("SaveSnapshots on migrated sessions wrote %d, want 2", n)
		}
		if data, _, err := s.LoadSnapshot(ctx, "alice", "a-s1"); err != nil || string(data) != "alice v2" {
			t.Fatalf("alice's a-s1 after save: %q, %v", data, err)
		}

		// Ids are now per owner: bob can take alice's ids, and alice's stay.
		must(t, s.CreateSession(ctx, session("bob", "a-s1")))
		c, b := cluster("bob", "a-c1", 60)
		must(t, s.CreateCluster(ctx, c, b))
		r, m := region("bob", "a-r1", 61)
		must(t, s.CreateRegion(ctx, r, m))
		_, err = s.AddMember(ctx, "bob", "a-c1", "a-s1")
		must(t, err)
		_, err = s.AttachCluster(ctx, "bob", "a-r1", "a-c1")
		must(t, err)
		if m, _ := s.ListMembers(ctx, "alice", "a-c1"); !slices.Equal(m, []string{"a-s2", "a-s1"}) {
			t.Fatalf("alice's members after bob's: %v", m)
		}
		if regs, err := s.RegisterObserverRegion(ctx, "bob", "a-r1"); err != nil || regs != 2 {
			t.Fatalf("RegisterObserverRegion(bob, a-r1) = %d, %v", regs, err)
		}
		_, _, err = s.LoadSnapshot(ctx, "bob", "a-s1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")

		// New writes on migrated rows.
		must(t, s.CreateSession(ctx, session("alice", "a-s3")))
		if added, err := s.AddMember(ctx, "alice", "a-c1", "a-s3"); err != nil || !added {
			t.Fatalf("AddMember(alice, a-c1, a-s3) = %v, %v", added, err)
		}
		if added, err := s.AddMember(ctx, "alice", "a-c1", "a-s1"); err != nil || added {
			t.Fatalf("AddMember of a migrated membership = %v, %v; want false, nil", added, err)
		}
		must(t, s.RecordRealignment(ctx, "alice", "a-r1", 0, ts(58), 1))
		must(t, s.TouchSession(ctx, "bob", "b-s1", ts(58)))

		// Deleting a migrated session and re-creating its id drops a
		// snapshot write in the migrated incarnation.
		must(t, errOf(s.DeleteSession(ctx, "alice", "a-s1")))
		must(t, s.CreateSession(ctx, session("alice", "a-s1")))
		if incarnation(t, s, "alice", "a-s1") == incS1 {
			t.Fatal("re-created a-s1 has the migrated incarnation")
		}
		n, err = s.SaveSnapshots(ctx, []persistence.Snapshot{{Owner: "alice", ID: "a-s1", Incarnation: incS1, Data: []byte("stale"), At: ts(59)}})
		if n != 0 || err != nil {
			t.Fatalf("stale SaveSnapshots = %d, %v", n, err)
		}
		_, _, err = s.LoadSnapshot(ctx, "alice", "a-s1")
		wantKind(t, err, semvec.KindNotFound, "Snapshot not found")

		// Cascades follow the composite keys.
		must(t, errOf(s.DeleteCluster(ctx, "alice", "a-c1")))
		if rc, _ := s.RegionClusters(ctx, "alice", "a-r1"); len(rc) != 0 {
			t.Fatalf("alice's region links survive her cluster: %v", rc)
		}
		if rc, _ := s.RegionClusters(ctx, "bob", "a-r1"); !slices.Equal(rc, []string{"a-c1"}) {
			t.Fatalf("bob's region links after alice's delete: %v", rc)
		}
		if m, _ := s.ListMembers(ctx, "bob", "a-c1"); !slices.Equal(m, []string{"a-s1"}) {
			t.Fatalf("bob's members after alice's delete: %v", m)
		}
		must(t, errOf(s.DeleteSession(ctx, "bob", "b-o-meta"))) // the observer goes with it
		_, err = s.GetObserver(ctx, "bob")
		wantKind(t, err, semvec.KindNotFound, "Observer not found")
		if o, err := s.GetObserver(ctx, "alice"); err != nil || o.ID != "a-o" {
			t.Fatalf("alice's observer = %+v, %v", o, err)
		}
		must(t, errOf(s.DeleteRegion(ctx, "alice", "a-r1")))
		if regs, _ := s.ObserverRegions(ctx, "alice"); len(regs) != 0 {
			t.Fatalf("alice's registrations survive her region: %v", regs)
		}
		if _, err := s.GetRegion(ctx, "bob", "a-r1"); err != nil {
			t.Fatalf("bob's a-r1 after alice's delete: %v", err)
		}
		must(t, s.Close())

		// Re-opening does not migrate again.
		s2 := openStore(t, databaseURL)
		if data, _, err := s2.LoadSnapshot(ctx, "bob", "b-s1"); err != nil || string(data) != "bob v2" {
			t.Fatalf("bob's b-s1 after re-open: %q, %v", data, err)
		}
		if _, err := s2.GetSession(ctx, "bob", "a-s1"); err != nil {
			t.Fatalf("bob's a-s1 after re-open: %v", err)
		}
	})
}

// The migration of an initial-schema database with no rows leaves a working
// empty store (as a service upgraded before its first use).
func TestMigrateOwnerScopedIDsEmpty(t *testing.T) {
	forEachURL(t, func(t *testing.T, databaseURL string) {
		ctx := t.Context()
		db := openBun(t, databaseURL)
		migrateToInitial(ctx, t, db)
		must(t, db.Close())
		s := openStore(t, databaseURL)
		sameIDs(t, s, "alice", 8)
		sameIDs(t, s, "bob", 16)
		checkOwnIDs(t, s, "alice", 8)
		checkOwnIDs(t, s, "bob", 16)
	})
}

// checkNoLeftovers fails if the migration left its renamed tables behind or,
// on SQLite, a row whose foreign key does not hold.
func checkNoLeftovers(t *testing.T, databaseURL string) {
	t.Helper()
	ctx := t.Context()
	raw := rawDB(t, databaseURL)
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%\_v1' ESCAPE '\'`
	sqlite := strings.HasPrefix(databaseURL, "sqlite")
	if !sqlite {
		q = `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_name LIKE '%\_v1' ESCAPE '\'`
	}
	rows, err := raw.QueryContext(ctx, q)
	must(t, err)
	var left []string
	for rows.Next() {
		var name string
		must(t, rows.Scan(&name))
		left = append(left, name)
	}
	must(t, rows.Err())
	must(t, rows.Close())
	if len(left) != 0 {
		t.Fatalf("tables left by the migration: %v", left)
	}
	if sqlite {
		rows, err := raw.QueryContext(ctx, "PRAGMA foreign_key_check")
		must(t, err)
		defer rows.Close()
		if rows.Next() {
			t.Fatal("PRAGMA foreign_key_check reports violations after the migration")
		}
		must(t, rows.Err())
	}
}
