// Package persistence stores semvec-go's metadata, session snapshots, network
// state and audit log in SQL through bun: SQLite by default, PostgreSQL when
// DATABASE_URL says so. The hot semantic state lives in the actors; this
// package keeps what must survive a restart.
//
// # Lifecycle
//
// Open(ctx, DATABASE_URL) parses the URL, pings the database and applies the
// pending migrations of package persistence/migrations (bun/migrate, Go
// migrations written against frozen bun models, so one set serves both
// dialects). Several processes may Open one database at once: the first takes
// the migration lock and migrates, the others wait for the lock, find
// nothing left to do and carry on. When nothing is pending no lock is taken.
// The lock dies with the process that holds it (a PostgreSQL session
// advisory lock; for an SQLite file, the write lock of <file>.migrate-lock
// beside it), so a start after a crash in the middle of a migration
// migrates; bun/migrate's lock table is not used.
//
// URLs: sqlite:///rel.db (relative), sqlite:////abs/path.db (absolute),
// sqlite:///:memory: (a private in-memory database per Open),
// postgres://… or postgresql://… (pgx; libpq parameters such as sslmode or
// search_path go in the query string). SQLite runs in WAL mode with
// busy_timeout 2000 (sqliteBusyTimeout), foreign_keys on, synchronous NORMAL, BEGIN IMMEDIATE
// transactions and one connection (one writer; other processes wait up to
// busy_timeout for the write lock). While a SQLite store is open it keeps
// one small block alive in each of modernc.org/sqlite's allocator size
// classes from 1 to 16 KiB, so that SQLite's scratch buffers do not map and
// unmap a page each (sqlitemem.go).
//
// Close closes the pool; calls on a closed Store fail with KindUnavailable.
//
// # Errors
//
// Every error leaving the package is a *semvec.Error:
//
//   - KindNotFound, detail "<Thing> not found", for a missing row and equally
//     for a row another owner holds (Session, Cluster, Region, Observer,
//     Member, Snapshot, Network state);
//   - KindConflict for an id that is taken;
//   - KindInvalid for a malformed argument (empty id, options that are not
//     JSON, a bad DATABASE_URL);
//   - KindUnavailable, detail "database unavailable", for every database
//     failure (refused, timed out, locked, closed), with the driver error kept
//     as the cause for logs. A cancelled or expired ctx is reported this way
//     too, and errors.Is still finds context.Canceled/DeadlineExceeded.
//
// Every method uses the caller's ctx, bounded by DefaultOpTimeout (5 s,
// WithOpTimeout changes it): a longer deadline is cut to that. One caveat: while
// SQLite waits for another process's write lock it does not watch ctx, so that
// wait lasts up to busy_timeout (2 s) whatever the deadline.
//
// # Schema
//
//	table             key                            columns                                        notes
//	sessions          (owner, id)                    incarnation, epoch, kind, dimension,           kind: session | cluster | region_meta |
//	                                                 model_name, options (JSON text),               observer_meta; epoch fences activations
//	                                                 created_at, updated_at
//	session_counts    owner                          n                                              an owner's sessions, kept by triggers
//	                                                                                                on sessions (insert, delete)
//	snapshots         (owner, session_id) → sessions data (BLOB / BYTEA), saved_at, log_seq         one checkpoint per session; upsert only
//	                                                                                                while the row has the writer's
//	                                                                                                incarnation; covers the log to log_seq
//	session_log       (owner, session_id, seq)       data (BLOB / BYTEA)                            a session's changes past its checkpoint
//	clusters          (owner, id) → sessions         name, aggregation_mode,                        id is the backing session's id;
//	                                                 coupling_factor, created_at                    index (owner, created_at)
//	cluster_members   (owner, cluster_id → clusters, joined_at                                      index (owner, session_id)
//	                   session_id → sessions)
//	regions           (owner, id)                    name, meta_session_id → sessions,              index (owner, created_at),
//	                                                 consensus_threshold, vote_window_seconds,      (owner, meta_session_id)
//	                                                 last_realignment (nullable), realignments,
//	                                                 epoch, created_at
//	region_events     (owner, region_id, seq)        data (BLOB / BYTEA)                            a region's drift events (bounded)
//	region_clusters   (owner, region_id → regions,   attached_at                                    index (owner, cluster_id)
//	                   cluster_id → clusters)
//	observers         (owner, id), owner UNIQUE      meta_session_id → sessions,                    one per owner;
//	                                                 sample_interval_seconds, sample_state,         index (owner, meta_session_id)
//	                                                 epoch, created_at
//	observer_anomalies (owner, observer_id, seq)     data (BLOB / BYTEA)                            the anomaly log (bounded)
//	observer_regions  (owner, observer_id →          registered_at                                  index (owner, region_id)
//	                   observers, region_id → regions)
//	network_states    owner                    data (BLOB / BYTEA), updated_at, epoch         an owner's network state but its
//	                                                                                                user partitions
//	network_state_partitions (owner, user_id)  data (BLOB / BYTEA)                            one user partition of it; saved
//	                                                                                                with network_states, fenced by its epoch
//	network_partitions (owner, user_id)        data (BLOB / BYTEA)                            a user partition's saved session states
//	audit_log         id (autoincrement)       at, subject, action, resource_type,            index (subject, id);
//	                                           resource_id, detail (JSON text)                the newest rows per subject (bounded)
//	bun_migrations, bun_migration_locks        bun/migrate's bookkeeping (its lock table unused)
//
// Every id is scoped by its owner: keys and foreign keys all start with the
// owner, so the same id used by two owners names two separate resources and
// a reference can never cross owners. Migration 20261205000001 rebuilt the
// tables of the first schema this way, keeping each row's owner.
//
// A session's incarnation is chosen when its row is created and never
// changes; a snapshot is written only with the incarnation of the row it
// lands in, so a write queued for a deleted session cannot reach a session
// later created under the same id.
//
// Every foreign key is ON DELETE CASCADE, so deleting a session row removes
// its snapshot, memberships and whatever it backs (cluster, region, observer)
// on both dialects. The Delete* methods also delete the documented dependent
// rows explicitly, in one transaction.
//
// Times are stored in UTC at microsecond precision (what PostgreSQL keeps) and
// read back in UTC; a zero time passed in becomes the store's clock.
//
// # Audit
//
// Each successful mutation writes its audit row in its own transaction, with
// the owner as subject and a JSON detail:
//
//	CreateSession            create    <kind>    session id
//	ImportSession            import    <kind>    session id
//	DeleteSession            delete    <kind>    session id
//	CreateCluster            create    cluster   cluster id
//	DeleteCluster            delete    cluster   cluster id
//	AddMember (new only)     member_add          cluster   cluster id  {"session_id":…}
//	RemoveMember             member_remove       cluster   cluster id  {"session_id":…}
//	CreateRegion             create    region    region id
//	DeleteRegion             delete    region    region id
//	AttachCluster (new only) region_attach       region    region id   {"cluster_id":…}
//	DetachCluster            region_detach       region    region id   {"cluster_id":…}
//	EnsureObserver (created) create    observer  observer id
//	RegisterObserverRegion (new only)  observer_register    observer  observer id  {"region_id":…}
//	UnregisterObserverRegion           observer_unregister  observer  observer id  {"region_id":…}
//
// Store.Audit appends any other row; the service writes one (import,
// session, session id) for POST /v1/session/{id}/import. Snapshots, the
// session log, network state (user switches, transfers, proposals),
// TouchSession and RecordRealignment are not audited: they are frequent and
// carry no ownership change.
//
// The log is bounded per subject, like every other list a tenant can grow:
// a subject keeps its newest N rows, N = DefaultAuditRetention (10,000,
// about 1.5 MB) unless WithAuditRetention (SEMVEC_AUDIT_ROWS_PER_TENANT)
// says otherwise. The insert that grows the log prunes it, in the same
// transaction, so no background work is needed: a subject's first insert
// after Open, then every auditPruneEvery-th (1 % of N, from 1 to 100),
// deletes the subject's rows past the newest N, oldest first. Between
// prunes a subject exceeds N by fewer than that many rows per process
// writing to the database. Both statements walk the index (subject, id),
// and one prune deletes at most auditPruneBatch (1,000) rows, so no write
// stalls on a long log: one that grew before the bound (or under a higher
// retention) is cut a batch per audited change of its subject, the next
// change pruning again until it is within the bound. Other subjects' rows
// are never touched.
package persistence
