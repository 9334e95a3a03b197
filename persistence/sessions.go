package persistence

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/semvec-go/semvec"
)

// Session kinds. Clusters, regions and observers each keep their state in a
// session row of their own kind.
const (
	SessionKindSession      = "session"
	SessionKindCluster      = "cluster"       // a cluster's backing session; its id is the cluster id
	SessionKindRegionMeta   = "region_meta"   // a region's meta session
	SessionKindObserverMeta = "observer_meta" // an observer's meta session
)

// SessionRecord is the metadata of a session. Options is a JSON document (or
// empty). Times read back are UTC at microsecond precision.
type SessionRecord struct {
	ID, Owner string
	// Incarnation names this life of the session: chosen when the row is
	// created (NewIncarnation when empty), it never changes, and a snapshot
	// is written only when it carries the incarnation of the row it lands
	// in. A session deleted and re-created under the same id has a new one,
	// so a write meant for the old session can never reach the new.
	Incarnation string
	// Epoch is the fencing token of the session's current activation: every
	// activation takes the next one (ActivateSession), and a log append or
	// checkpoint lands only while the row still carries the epoch of the
	// activation that wrote it. 0 on a row never activated.
	Epoch     int64
	Kind      string // one of the SessionKind constants; empty means "session" on create
	Dimension int
	ModelName string
	Options   []byte // JSON
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Snapshot is a session's serialised state.
type Snapshot struct {
	Owner, ID   string // the session
	Incarnation string // must match the session row's, or the write is dropped
	Epoch       int64  // must match the session row's, or the write is dropped (see SessionRecord.Epoch)
	Data        []byte
	At          time.Time
	Seq         int64 // the last log entry Data includes; entries up to it are deleted
}

// NewIncarnation returns a fresh random incarnation.
func NewIncarnation() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// snapshotChunk bounds the rows of one INSERT (snapshots can be large).
const snapshotChunk = 50

// CreateSession inserts a session row and its "create" audit row (subject
// rec.Owner). An empty Kind becomes "session"; zero times become now. It
// fails with KindConflict if the id exists and KindInvalid if Options is not
// JSON.
func (s *Store) CreateSession(ctx context.Context, rec SessionRecord) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		m, err := s.insertSession(ctx, tx, rec, "")
		if err != nil {
			return err
		}
		return s.auditTx(ctx, tx, m.Owner, ActionCreate, m.Kind, m.ID,
			detail("dimension", m.Dimension, "model_name", m.ModelName))
	})
}

// CreateSessionWithSnapshot is CreateSession with the session's initial
// state (a template, policy anchors) saved in the same transaction, so the
// session is never seen without it.
func (s *Store) CreateSessionWithSnapshot(ctx context.Context, rec SessionRecord, data []byte, at time.Time) error {
	return s.createWithSnapshot(ctx, rec, data, at, ActionCreate)
}

// ImportSession creates a session together with its snapshot (an imported
// state) in one transaction and writes an "import" audit row. Errors are
// those of CreateSession.
func (s *Store) ImportSession(ctx context.Context, rec SessionRecord, data []byte, at time.Time) error {
	return s.createWithSnapshot(ctx, rec, data, at, ActionImport)
}

func (s *Store) createWithSnapshot(ctx context.Context, rec SessionRecord, data []byte, at time.Time, action string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		m, err := s.insertSession(ctx, tx, rec, "")
		if err != nil {
			return err
		}
		if _, err := s.saveSnapshotsTx(ctx, tx, []Snapshot{{Owner: m.Owner, ID: m.ID, Incarnation: m.Incarnation, Epoch: m.Epoch, Data: data, At: at}}); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, m.Owner, action, m.Kind, m.ID,
			detail("dimension", m.Dimension, "model_name", m.ModelName, "bytes", len(data)))
	})
}

// insertSession validates and inserts rec. defaultKind applies when rec.Kind
// is empty ("" means SessionKindSession). A taken id is a Conflict ("Cluster
// already exists" for a cluster's backing session, "Session already exists"
// otherwise), and so is a session past the owner's cap (WithMaxSessions):
// "session limit reached (N)".
func (s *Store) insertSession(ctx context.Context, tx bun.Tx, rec SessionRecord, defaultKind string) (*sessionModel, error) {
	if rec.ID == "" {
		return nil, semvec.Errorf(semvec.KindInvalid, "session id is empty")
	}
	if len(rec.Options) > 0 && (!json.Valid(rec.Options) || !utf8.Valid(rec.Options)) {
		return nil, semvec.Errorf(semvec.KindInvalid, "session options are not valid JSON")
	}
	kind := rec.Kind
	if kind == "" {
		kind = defaultKind
	}
	if kind == "" {
		kind = SessionKindSession
	}
	created := s.timestamp(rec.CreatedAt)
	updated := created
	if !rec.UpdatedAt.IsZero() {
		updated = utc(rec.UpdatedAt)
	}
	inc := rec.Incarnation
	if inc == "" {
		inc = NewIncarnation()
	}
	m := &sessionModel{
		ID: rec.ID, Owner: rec.Owner, Incarnation: inc, Epoch: rec.Epoch, Kind: kind, Dimension: rec.Dimension, ModelName: rec.ModelName,
		Options: string(rec.Options), CreatedAt: created, UpdatedAt: updated,
	}
	if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
		if isUniqueViolation(err) && kind == SessionKindCluster {
			return nil, semvec.Errorf(semvec.KindConflict, "Cluster already exists") // the id is taken by a cluster or a session
		}
		if isUniqueViolation(err) {
			return nil, semvec.Errorf(semvec.KindConflict, "Session already exists")
		}
		return nil, err
	}
	// The insert's trigger has counted it (migration 20261207000001); on
	// PostgreSQL it holds the owner's count row until the commit, so
	// concurrent creates count one after the other.
	var n int64
	if err := tx.NewSelect().Table("session_counts").Column("n").Where("owner = ?", m.Owner).Scan(ctx, &n); err != nil {
		return nil, err
	}
	if n > int64(s.maxSessions) {
		return nil, semvec.Errorf(semvec.KindConflict, "session limit reached (%d)", s.maxSessions)
	}
	return m, nil
}

// GetSession returns owner's session id. Ids are scoped by owner: another
// owner's session of the same id is a different session, so it is simply
// not found (NotFound("Session")), by the same query as a missing one.
func (s *Store) GetSession(ctx context.Context, owner, id string) (SessionRecord, error) {
	var m sessionModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("s.owner = ? AND s.id = ?", owner, id).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Session")
		}
		return err
	})
	if err != nil {
		return SessionRecord{}, err
	}
	return m.record(), nil
}

// ActivateSession returns owner's session id with the next epoch, which it
// takes for the caller's activation: from the moment it returns, log
// appends and checkpoints of every earlier activation are refused
// (ErrSuperseded for log entries; checkpoints are dropped). The caller
// reads the checkpoint and log only after this, so it sees every entry an
// earlier activation committed. NotFound("Session") like GetSession.
func (s *Store) ActivateSession(ctx context.Context, owner, id string) (SessionRecord, error) {
	var m sessionModel
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*sessionModel)(nil)).Set(nextEpoch).
			Where("owner = ? AND id = ?", owner, id).Exec(ctx)
		if err != nil {
			return err
		}
		if rowsAffected(res) == 0 {
			return semvec.NotFound("Session")
		}
		return tx.NewSelect().Model(&m).Where("s.owner = ? AND s.id = ?", owner, id).Scan(ctx)
	})
	if err != nil {
		return SessionRecord{}, err
	}
	if err := s.awaitEarlierEpochs(ctx, "sessions", "owner = ? AND id = ?", owner, id); err != nil {
		return SessionRecord{}, err
	}
	return m.record(), nil
}

func (m *sessionModel) record() SessionRecord {
	r := SessionRecord{
		ID: m.ID, Owner: m.Owner, Incarnation: m.Incarnation, Epoch: m.Epoch, Kind: m.Kind, Dimension: m.Dimension, ModelName: m.ModelName,
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}
	if m.Options != "" {
		r.Options = []byte(m.Options)
	}
	return r
}

// TouchSession sets a session's UpdatedAt (for example when the actor
// passivates). NotFound("Session") if it does not exist.
func (s *Store) TouchSession(ctx context.Context, owner, id string, at time.Time) error {
	return s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		res, err := db.NewUpdate().Model((*sessionModel)(nil)).
			Set("updated_at = ?", s.timestamp(at)).Where("owner = ? AND id = ?", owner, id).Exec(ctx)
		if err != nil {
			return err
		}
		if rowsAffected(res) == 0 {
			return semvec.NotFound("Session")
		}
		return nil
	})
}

// DeleteSession deletes the session owned by owner together with its
// snapshot and its cluster memberships, and writes a "delete" audit row.
// Deleting a cluster's backing session (or a region's or observer's meta
// session) also removes that cluster (region, observer) through the foreign
// keys' ON DELETE CASCADE; use DeleteCluster / DeleteRegion for those.
// It returns the clusters the session was a member of. NotFound("Session")
// when missing or owned by someone else.
func (s *Store) DeleteSession(ctx context.Context, owner, id string) (Unlinked, error) {
	var u Unlinked
	mark := rowMark{"sessions", "owner = ? AND id = ?", []any{owner, id}}
	err := s.deleteMarked(ctx, []rowMark{mark}, func(ctx context.Context, tx bun.Tx) error {
		u = Unlinked{}
		var kind string
		err := s.lock(tx.NewSelect().Model((*sessionModel)(nil)).Column("kind").
			Where("owner = ? AND id = ?", owner, id), lockUpdate).Scan(ctx, &kind)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Session")
		}
		if err != nil {
			return err
		}
		if u.Clusters, err = deleteSessionRows(ctx, tx, owner, id); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, owner, ActionDelete, kind, id, "")
	})
	return u, err
}

// Unlinked is what a deletion unlinked from the entity it deleted, read
// from the link rows it deleted, in its transaction: the other ends, whose
// actors hold those links in their views and must be told. A link added
// concurrently is either deleted (and named here) or refused (the deleted
// row is locked first).
type Unlinked struct {
	Members  []string // sessions that were members of the deleted cluster
	Clusters []string // clusters that lost a member (the deleted session) or a region
	Regions  []string // regions that lost the deleted cluster
	Observer bool     // the owner's observer lost the deleted region
}

// lockSession locks owner's session id for deletion (see locks.go); a
// missing row is not an error.
func (s *Store) lockSession(ctx context.Context, tx bun.Tx, owner, id string) error {
	var got string
	err := s.lock(tx.NewSelect().Model((*sessionModel)(nil)).Column("id").Where("owner = ? AND id = ?", owner, id), lockUpdate).Scan(ctx, &got)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

// deleteSessionRows deletes a session row with its memberships, snapshot
// and log, and returns the clusters it was a member of. The caller has
// locked it with lockSession.
func deleteSessionRows(ctx context.Context, tx bun.Tx, owner, id string) (memberOf []string, err error) {
	if err := tx.NewDelete().Model((*clusterMemberModel)(nil)).Where("owner = ? AND session_id = ?", owner, id).
		Returning("cluster_id").Scan(ctx, &memberOf); err != nil {
		return nil, err
	}
	if _, err := tx.NewDelete().Model((*snapshotModel)(nil)).Where("owner = ? AND session_id = ?", owner, id).Exec(ctx); err != nil {
		return nil, err
	}
	if _, err := tx.NewDelete().Model((*logModel)(nil)).Where("owner = ? AND session_id = ?", owner, id).Exec(ctx); err != nil {
		return nil, err
	}
	if _, err := tx.NewDelete().Model((*sessionModel)(nil)).Where("owner = ? AND id = ?", owner, id).Exec(ctx); err != nil {
		return nil, err
	}
	return memberOf, nil
}

// RecentSessions returns the ids of owner's ordinary and cluster sessions
// (not the layers' meta sessions), most recently updated (TouchSession; else created) first, at most
// limit.
func (s *Store) RecentSessions(ctx context.Context, owner string, limit int) ([]string, error) {
	var ids []string
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model((*sessionModel)(nil)).Column("id").
			Where("owner = ? AND kind IN (?)", owner, bun.List([]string{SessionKindSession, SessionKindCluster})).
			OrderExpr("updated_at DESC, id").Limit(int64(limit)).Scan(ctx, &ids)
	})
	return ids, err
}

// CountSessions counts the sessions of kind "session" (not the backing and
// meta sessions of clusters, regions and observers), of all owners.
func (s *Store) CountSessions(ctx context.Context) (int, error) {
	var n int64
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) (err error) {
		n, err = db.NewSelect().Model((*sessionModel)(nil)).Where("kind = ?", SessionKindSession).Count(ctx)
		return err
	})
	return int(n), err
}

// SaveSnapshots stores many snapshots in one transaction. A snapshot is
// written only when its session exists with the snapshot's incarnation:
// snapshots of deleted sessions, and of earlier lives of a re-created id, are
// dropped (the returned count says how many were written). When a session
// repeats, the last one wins. Give ctx a deadline sized for the batch:
// without one the whole transaction gets DefaultOpTimeout.
func (s *Store) SaveSnapshots(ctx context.Context, snaps []Snapshot) (saved int, err error) {
	if len(snaps) == 0 {
		return 0, nil
	}
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		saved, err = s.saveSnapshotsTx(ctx, tx, snaps)
		return err
	})
	return saved, err
}

type sessionRef struct{ owner, id string }

// deleteCoveredLog deletes the log entries the checkpoints rows cover.
// SQLite gets a prepared single-session DELETE per checkpoint: given the OR
// chain of all of them, its planner factors out the common owner and walks
// every log entry of that owner (a tenant with many sessions made each
// checkpoint scan its whole log). PostgreSQL keeps one statement (one round
// trip; it combines the terms' index scans).
func (s *Store) deleteCoveredLog(ctx context.Context, tx bun.Tx, rows []snapshotModel) error {
	if s.dialect == DialectSQLite {
		stmt, err := tx.Tx.PrepareContext(ctx, "DELETE FROM session_log WHERE owner = ? AND session_id = ? AND seq <= ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			if _, err := stmt.ExecContext(ctx, r.Owner, r.SessionID, r.LogSeq); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := tx.NewDelete().Model((*logModel)(nil)).WhereGroup(" AND ", func(q *bun.DeleteQuery) *bun.DeleteQuery {
		for _, r := range rows {
			q = q.WhereOr("(owner = ? AND session_id = ? AND seq <= ?)", r.Owner, r.SessionID, r.LogSeq)
		}
		return q
	}).Exec(ctx)
	return err
}

func compareSnapshots(a, b Snapshot) int {
	if c := strings.Compare(a.Owner, b.Owner); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// saveSnapshotsTx upserts the snapshots whose session exists with their
// incarnation and returns how many it wrote. The session rows are locked
// (lockShare) so a concurrent delete waits instead of failing the batch on
// the foreign key, and rows are written in (owner, id) order so two batches
// cannot deadlock.
func (s *Store) saveSnapshotsTx(ctx context.Context, tx bun.Tx, snaps []Snapshot) (int, error) {
	last := make(map[sessionRef]Snapshot, len(snaps))
	for _, sn := range snaps {
		last[sessionRef{sn.Owner, sn.ID}] = sn // the last one wins
	}
	snaps = slices.SortedFunc(maps.Values(last), compareSnapshots)
	saved := 0
	for start := 0; start < len(snaps); start += snapshotChunk {
		chunk := snaps[start:min(start+snapshotChunk, len(snaps))]
		keys := make([]incarnationOf, len(chunk))
		for i, sn := range chunk {
			keys[i] = incarnationOf{sn.Owner, sn.ID, sn.Incarnation}
		}
		current, err := s.liveIncarnations(ctx, tx, keys)
		if err != nil {
			return saved, err
		}
		rows := make([]snapshotModel, 0, len(chunk))
		q := s.boundQuery().sql("INSERT INTO snapshots (owner, session_id, data, saved_at, log_seq) VALUES ")
		for _, sn := range chunk {
			if epoch, ok := current[incarnationOf{sn.Owner, sn.ID, sn.Incarnation}]; !ok || epoch != sn.Epoch {
				continue // deleted, re-created, or written by a superseded activation
			}
			r := snapshotModel{Owner: sn.Owner, SessionID: sn.ID, SavedAt: s.timestamp(sn.At), LogSeq: sn.Seq}
			if len(rows) > 0 {
				q.sql(", ")
			}
			q.sql("(?, ?, ", r.Owner, r.SessionID).blob(sn.Data).sql(", ?, ?)", r.SavedAt, r.LogSeq)
			rows = append(rows, r)
		}
		if len(rows) == 0 {
			continue
		}
		// A checkpoint never replaces a newer one (an activation's last
		// save may land after its successor's first).
		q.sql(" ON CONFLICT (owner, session_id) DO UPDATE SET data = excluded.data, saved_at = excluded.saved_at," +
			" log_seq = excluded.log_seq WHERE snapshots.log_seq <= excluded.log_seq")
		if _, err := q.exec(ctx, tx); err != nil {
			return saved, err
		}
		if err := s.deleteCoveredLog(ctx, tx, rows); err != nil {
			return saved, err
		}
		saved += len(rows)
	}
	return saved, nil
}

// LoadCheckpoint returns the checkpoint of owner's session id.
// NotFound("Snapshot") when there is none.
func (s *Store) LoadCheckpoint(ctx context.Context, owner, id string) (Checkpoint, error) {
	var m snapshotModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("owner = ? AND session_id = ?", owner, id).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Snapshot")
		}
		return err
	})
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Data: m.Data, At: m.SavedAt.UTC(), Seq: m.LogSeq}, nil
}

// LoadSnapshot returns the snapshot of owner's session id and when it was
// taken. NotFound("Snapshot") when there is none.
func (s *Store) LoadSnapshot(ctx context.Context, owner, id string) ([]byte, time.Time, error) {
	var m snapshotModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("owner = ? AND session_id = ?", owner, id).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Snapshot")
		}
		return err
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return m.Data, m.SavedAt.UTC(), nil
}
