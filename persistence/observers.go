package persistence

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/semvec-go/semvec"
)

// ObserverRecord is the metadata of an owner's (single) observer.
type ObserverRecord struct {
	ID, Owner, MetaSessionID string
	SampleIntervalSeconds    float64
	CreatedAt                time.Time
}

// EnsureObserver returns owner's observer, creating it (with its meta session
// and a "create" audit row, in one transaction) when there is none. created
// reports which. Concurrent calls for one owner, in this or other processes,
// yield one observer: the losers get the winner's record. o.MetaSessionID and
// meta.ID default to each other and must match; meta.Kind defaults to
// "observer_meta".
func (s *Store) EnsureObserver(ctx context.Context, o ObserverRecord, meta SessionRecord) (rec ObserverRecord, created bool, err error) {
	rec, err = s.GetObserver(ctx, o.Owner)
	if semvec.KindOf(err) != semvec.KindNotFound {
		return rec, false, err
	}
	if o.ID == "" {
		return ObserverRecord{}, false, semvec.Errorf(semvec.KindInvalid, "observer id is empty")
	}
	if o.MetaSessionID == "" {
		o.MetaSessionID = meta.ID
	}
	if o.MetaSessionID == "" {
		return ObserverRecord{}, false, semvec.Errorf(semvec.KindInvalid, "observer meta session id is empty")
	}
	if err := alignMetaSession(&meta, o.MetaSessionID, o.Owner, "observer"); err != nil {
		return ObserverRecord{}, false, err
	}
	if meta.CreatedAt.IsZero() {
		meta.CreatedAt = o.CreatedAt
	}
	lost := false
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		ms, err := s.insertSession(ctx, tx, meta, SessionKindObserverMeta)
		if err != nil {
			return err
		}
		m := &observerModel{
			ID: o.ID, Owner: o.Owner, MetaSessionID: o.MetaSessionID,
			SampleIntervalSeconds: o.SampleIntervalSeconds, CreatedAt: ms.CreatedAt,
		}
		res, err := tx.NewInsert().Model(m).On("CONFLICT (owner) DO NOTHING").Exec(ctx)
		if err != nil {
			if isUniqueViolation(err) {
				return semvec.Errorf(semvec.KindConflict, "Observer already exists")
			}
			return err
		}
		if rowsAffected(res) == 0 {
			// Another caller created owner's observer since our read;
			// drop our meta session and return theirs.
			lost = true
			return errRollback
		}
		rec = m.record()
		return s.auditTx(ctx, tx, o.Owner, ActionCreate, ResourceObserver, o.ID,
			detail("sample_interval_seconds", o.SampleIntervalSeconds))
	})
	if lost {
		rec, err = s.GetObserver(ctx, o.Owner)
		return rec, false, err
	}
	if err != nil {
		return ObserverRecord{}, false, err
	}
	return rec, true, nil
}

// GetObserver returns owner's observer, or NotFound("Observer").
func (s *Store) GetObserver(ctx context.Context, owner string) (ObserverRecord, error) {
	var m observerModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("o.owner = ?", owner).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Observer")
		}
		return err
	})
	if err != nil {
		return ObserverRecord{}, err
	}
	return m.record(), nil
}

func (m *observerModel) record() ObserverRecord {
	return ObserverRecord{
		ID: m.ID, Owner: m.Owner, MetaSessionID: m.MetaSessionID,
		SampleIntervalSeconds: m.SampleIntervalSeconds, CreatedAt: m.CreatedAt.UTC(),
	}
}

// ListObservers returns every owner's observer, ordered by creation time,
// then id (at start-up, to re-spawn their periodic samplers).
func (s *Store) ListObservers(ctx context.Context) ([]ObserverRecord, error) {
	var rows []observerModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model(&rows).OrderExpr("o.created_at, o.id").Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make([]ObserverRecord, len(rows))
	for i := range rows {
		out[i] = rows[i].record()
	}
	return out, nil
}

// observerID returns owner's observer id, or NotFound("Observer").
func observerID(ctx context.Context, db bun.IDB, owner string) (string, error) {
	var id string
	err := db.NewSelect().Model((*observerModel)(nil)).Column("id").Where("owner = ?", owner).Scan(ctx, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", semvec.NotFound("Observer")
	}
	return id, err
}

func countObserverRegions(ctx context.Context, db bun.IDB, owner, observerID string) (int, error) {
	n, err := db.NewSelect().Model((*observerRegionModel)(nil)).Where("owner = ? AND observer_id = ?", owner, observerID).Count(ctx)
	return int(n), err
}

// RegisterObserverRegion registers region regionID (owner's, else
// NotFound("Region")) with owner's observer (else NotFound("Observer")) and
// returns how many regions are now registered. Idempotent; a new registration
// writes an "observer_register" audit row; one past the link cap
// (WithMaxLinks) is a Conflict.
func (s *Store) RegisterObserverRegion(ctx context.Context, owner, regionID string) (count int, err error) {
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		oid, err := observerID(ctx, tx, owner)
		if err != nil {
			return err
		}
		if err := s.mustOwn(ctx, tx, (*observerModel)(nil), oid, owner, "Observer", lockAdd); err != nil {
			return err
		}
		if err := s.mustOwn(ctx, tx, (*regionModel)(nil), regionID, owner, "Region", lockShare); err != nil {
			return err
		}
		res, err := tx.NewInsert().
			Model(&observerRegionModel{Owner: owner, ObserverID: oid, RegionID: regionID, RegisteredAt: s.timestamp(time.Time{})}).
			On("CONFLICT (owner, observer_id, region_id) DO NOTHING").Exec(ctx)
		if isForeignKeyViolation(err) { // deleted concurrently (PostgreSQL)
			return semvec.NotFound("Region")
		}
		if err != nil {
			return err
		}
		if rowsAffected(res) > 0 {
			if err := withinCap(ctx, tx, (*observerRegionModel)(nil), s.maxLinks, "observer region",
				"owner = ? AND observer_id = ?", owner, oid); err != nil {
				return err
			}
			if err := s.auditTx(ctx, tx, owner, ActionObserverRegister, ResourceObserver, oid, detail("region_id", regionID)); err != nil {
				return err
			}
		}
		count, err = countObserverRegions(ctx, tx, owner, oid)
		return err
	})
	return count, err
}

// UnregisterObserverRegion removes region regionID from owner's observer
// (else NotFound("Observer")) and returns how many regions remain registered.
// NotFound("Region") when it was not registered. Writes an
// "observer_unregister" audit row.
func (s *Store) UnregisterObserverRegion(ctx context.Context, owner, regionID string) (count int, err error) {
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		oid, err := observerID(ctx, tx, owner)
		if err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*observerRegionModel)(nil)).
			Where("owner = ? AND observer_id = ? AND region_id = ?", owner, oid, regionID).Exec(ctx)
		if err != nil {
			return err
		}
		if rowsAffected(res) == 0 {
			return semvec.NotFound("Region")
		}
		if err := s.auditTx(ctx, tx, owner, ActionObserverUnregister, ResourceObserver, oid, detail("region_id", regionID)); err != nil {
			return err
		}
		count, err = countObserverRegions(ctx, tx, owner, oid)
		return err
	})
	return count, err
}

// ObserverRegions returns the region ids registered with owner's observer in
// registration order (empty when owner has no observer).
func (s *Store) ObserverRegions(ctx context.Context, owner string) ([]string, error) {
	ids := []string{}
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model((*observerRegionModel)(nil)).Column("orr.region_id").
			Join("JOIN observers AS o ON o.owner = orr.owner AND o.id = orr.observer_id").
			Where("o.owner = ?", owner).
			OrderExpr("orr.registered_at, orr.region_id").Scan(ctx, &ids)
	})
	return ids, err
}
