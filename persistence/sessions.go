package persistence

import (
	"context"
	"database/sql"
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
	Kind      string // one of the SessionKind constants; empty means "session" on create
	Dimension int
	ModelName string
	Options   []byte // JSON
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Snapshot is a session's serialised state.
type Snapshot struct {
	ID   string // session id
	Data []byte
	At   time.Time
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

// ImportSession creates a session together with its snapshot (an imported
// state) in one transaction and writes an "import" audit row. Errors are
// those of CreateSession.
func (s *Store) ImportSession(ctx context.Context, rec SessionRecord, data []byte, at time.Time) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		m, err := s.insertSession(ctx, tx, rec, "")
		if err != nil {
			return err
		}
		if _, err := s.saveSnapshotsTx(ctx, tx, []Snapshot{{ID: m.ID, Data: data, At: at}}); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, m.Owner, ActionImport, m.Kind, m.ID,
			detail("dimension", m.Dimension, "model_name", m.ModelName, "bytes", len(data)))
	})
}

// insertSession validates and inserts rec. defaultKind applies when rec.Kind
// is empty ("" means SessionKindSession).
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
	m := &sessionModel{
		ID: rec.ID, Owner: rec.Owner, Kind: kind, Dimension: rec.Dimension, ModelName: rec.ModelName,
		Options: string(rec.Options), CreatedAt: created, UpdatedAt: updated,
	}
	if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
		if isUniqueViolation(err) {
			return nil, semvec.Errorf(semvec.KindConflict, "Session already exists")
		}
		return nil, err
	}
	return m, nil
}

// GetSession returns the session id owned by owner. A session of another
// owner is reported exactly like a missing one: NotFound("Session").
func (s *Store) GetSession(ctx context.Context, owner, id string) (SessionRecord, error) {
	return s.getSession(ctx, id, func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("s.owner = ?", owner)
	})
}

// GetSessionAnyOwner returns the session id whoever owns it (for actors
// reactivating from a snapshot).
func (s *Store) GetSessionAnyOwner(ctx context.Context, id string) (SessionRecord, error) {
	return s.getSession(ctx, id, func(q *bun.SelectQuery) *bun.SelectQuery { return q })
}

func (s *Store) getSession(ctx context.Context, id string, scope func(*bun.SelectQuery) *bun.SelectQuery) (SessionRecord, error) {
	var m sessionModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := scope(db.NewSelect().Model(&m).Where("s.id = ?", id)).Scan(ctx)
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

func (m *sessionModel) record() SessionRecord {
	r := SessionRecord{
		ID: m.ID, Owner: m.Owner, Kind: m.Kind, Dimension: m.Dimension, ModelName: m.ModelName,
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}
	if m.Options != "" {
		r.Options = []byte(m.Options)
	}
	return r
}

// TouchSession sets a session's UpdatedAt (for example when the actor
// passivates). NotFound("Session") if it does not exist.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	return s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		res, err := db.NewUpdate().Model((*sessionModel)(nil)).
			Set("updated_at = ?", s.timestamp(at)).Where("id = ?", id).Exec(ctx)
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
// NotFound("Session") when missing or owned by someone else.
func (s *Store) DeleteSession(ctx context.Context, owner, id string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var kind string
		err := s.lock(tx.NewSelect().Model((*sessionModel)(nil)).Column("kind").
			Where("id = ? AND owner = ?", id, owner), lockUpdate).Scan(ctx, &kind)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Session")
		}
		if err != nil {
			return err
		}
		if err := deleteSessionRows(ctx, tx, id); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, owner, ActionDelete, kind, id, "")
	})
}

// lockSession locks session id for deletion (see locks.go); a missing row is
// not an error.
func (s *Store) lockSession(ctx context.Context, tx bun.Tx, id string) error {
	var got string
	err := s.lock(tx.NewSelect().Model((*sessionModel)(nil)).Column("id").Where("id = ?", id), lockUpdate).Scan(ctx, &got)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	return err
}

// deleteSessionRows deletes a session row with its memberships and snapshot.
// The caller has locked it with lockSession.
func deleteSessionRows(ctx context.Context, tx bun.Tx, id string) error {
	if _, err := tx.NewDelete().Model((*clusterMemberModel)(nil)).Where("session_id = ?", id).Exec(ctx); err != nil {
		return err
	}
	if _, err := tx.NewDelete().Model((*snapshotModel)(nil)).Where("session_id = ?", id).Exec(ctx); err != nil {
		return err
	}
	_, err := tx.NewDelete().Model((*sessionModel)(nil)).Where("id = ?", id).Exec(ctx)
	return err
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

// SaveSnapshot stores (inserts or replaces) the snapshot of session id.
// NotFound("Session") when the session does not exist (a snapshot never
// outlives its session).
func (s *Store) SaveSnapshot(ctx context.Context, id string, data []byte, at time.Time) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		n, err := s.saveSnapshotsTx(ctx, tx, []Snapshot{{ID: id, Data: data, At: at}})
		if err == nil && n == 0 {
			return semvec.NotFound("Session")
		}
		return err
	})
}

// SaveSnapshots stores many snapshots in one transaction (used at shutdown).
// Snapshots of sessions that no longer exist are skipped; when an id repeats,
// the last one wins. Give ctx a deadline sized for the batch: without one the
// whole transaction gets DefaultOpTimeout.
func (s *Store) SaveSnapshots(ctx context.Context, snaps []Snapshot) error {
	if len(snaps) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		_, err := s.saveSnapshotsTx(ctx, tx, snaps)
		return err
	})
}

// saveSnapshotsTx upserts the snapshots whose session exists and returns how
// many it wrote. The session rows are locked (lockShare) so a concurrent
// delete waits instead of failing the batch on the foreign key, and rows are
// written in id order so two batches cannot deadlock.
func (s *Store) saveSnapshotsTx(ctx context.Context, tx bun.Tx, snaps []Snapshot) (int, error) {
	byID := make(map[string]Snapshot, len(snaps))
	for _, sn := range snaps {
		byID[sn.ID] = sn // the last one wins
	}
	snaps = slices.SortedFunc(maps.Values(byID), func(a, b Snapshot) int { return strings.Compare(a.ID, b.ID) })
	saved := 0
	for start := 0; start < len(snaps); start += snapshotChunk {
		chunk := snaps[start:min(start+snapshotChunk, len(snaps))]
		ids := make([]string, 0, len(chunk))
		for _, sn := range chunk {
			ids = append(ids, sn.ID)
		}
		var existing []string
		if err := s.lock(tx.NewSelect().Model((*sessionModel)(nil)).Column("id").
			Where("id IN (?)", bun.List(ids)).OrderExpr("id"), lockShare).Scan(ctx, &existing); err != nil {
			return saved, err
		}
		exists := make(map[string]bool, len(existing))
		for _, id := range existing {
			exists[id] = true
		}
		rows := make([]snapshotModel, 0, len(chunk))
		for _, sn := range chunk {
			if !exists[sn.ID] {
				continue
			}
			data := sn.Data
			if data == nil {
				data = []byte{} // NOT NULL
			}
			rows = append(rows, snapshotModel{SessionID: sn.ID, Data: data, SavedAt: s.timestamp(sn.At)})
		}
		if len(rows) == 0 {
			continue
		}
		if _, err := tx.NewInsert().Model(&rows).
			On("CONFLICT (session_id) DO UPDATE").
			Set("data = EXCLUDED.data").
			Set("saved_at = EXCLUDED.saved_at").
			Exec(ctx); err != nil {
			return saved, err
		}
		saved += len(rows)
	}
	return saved, nil
}

// LoadSnapshot returns the snapshot of session id and when it was taken.
// NotFound("Snapshot") when there is none.
func (s *Store) LoadSnapshot(ctx context.Context, id string) ([]byte, time.Time, error) {
	var m snapshotModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("session_id = ?", id).Scan(ctx)
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
