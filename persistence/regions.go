package persistence

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/semvec-go/semvec"
)

// RegionRecord is the metadata of a region. Its state lives in its meta
// session MetaSessionID.
type RegionRecord struct {
	ID, Owner, Name, MetaSessionID        string
	ConsensusThreshold, VoteWindowSeconds float64
	LastRealignment                       *time.Time
	Realignments                          int64
	CreatedAt                             time.Time
}

// RegionSummary is a region with its attached-cluster count, as ListRegions
// returns.
type RegionSummary struct {
	RegionRecord
	ClusterCount int
}

// CreateRegion inserts the region's meta session and the region row in one
// transaction, with a "create" audit row. r.MetaSessionID and meta.ID default
// to each other and must match; meta.Owner defaults to r.Owner; meta.Kind to
// "region_meta". KindConflict if an id is taken.
func (s *Store) CreateRegion(ctx context.Context, r RegionRecord, meta SessionRecord) error {
	if r.ID == "" {
		return semvec.Errorf(semvec.KindInvalid, "region id is empty")
	}
	if r.MetaSessionID == "" {
		r.MetaSessionID = meta.ID
	}
	if r.MetaSessionID == "" {
		return semvec.Errorf(semvec.KindInvalid, "region meta session id is empty")
	}
	if err := alignMetaSession(&meta, r.MetaSessionID, r.Owner, "region"); err != nil {
		return err
	}
	if meta.CreatedAt.IsZero() {
		meta.CreatedAt = r.CreatedAt
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockOwnerList(ctx, tx, "regions", r.Owner); err != nil {
			return err
		}
		ms, err := s.insertSession(ctx, tx, meta, SessionKindRegionMeta)
		if err != nil {
			return err
		}
		m := &regionModel{
			ID: r.ID, Owner: r.Owner, Name: r.Name, MetaSessionID: r.MetaSessionID,
			ConsensusThreshold: r.ConsensusThreshold, VoteWindowSeconds: r.VoteWindowSeconds,
			LastRealignment: utcPtr(r.LastRealignment), CreatedAt: ms.CreatedAt,
		}
		if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
			if isUniqueViolation(err) {
				return semvec.Errorf(semvec.KindConflict, "Region already exists")
			}
			return err
		}
		if err := withinCap(ctx, tx, (*regionModel)(nil), s.maxEntities, "region", "owner = ?", r.Owner); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, r.Owner, ActionCreate, ResourceRegion, r.ID, detail("name", r.Name))
	})
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

// GetRegion returns the region id owned by owner, or NotFound("Region").
func (s *Store) GetRegion(ctx context.Context, owner, id string) (RegionRecord, error) {
	var m regionModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("r.owner = ? AND r.id = ?", owner, id).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Region")
		}
		return err
	})
	if err != nil {
		return RegionRecord{}, err
	}
	return m.record(), nil
}

func (m *regionModel) record() RegionRecord {
	return RegionRecord{
		ID: m.ID, Owner: m.Owner, Name: m.Name, MetaSessionID: m.MetaSessionID,
		ConsensusThreshold: m.ConsensusThreshold, VoteWindowSeconds: m.VoteWindowSeconds,
		LastRealignment: utcPtr(m.LastRealignment), Realignments: m.Realignments, CreatedAt: m.CreatedAt.UTC(),
	}
}

// ListRegions returns owner's regions with their attached-cluster counts,
// ordered by creation time, then id.
func (s *Store) ListRegions(ctx context.Context, owner string) ([]RegionSummary, error) {
	var rows []regionModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model(&rows).
			ColumnExpr("r.*").
			ColumnExpr("(SELECT COUNT(*) FROM region_clusters AS rc WHERE rc.owner = r.owner AND rc.region_id = r.id) AS cluster_count").
			Where("r.owner = ?", owner).
			OrderExpr("r.created_at, r.id").
			Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make([]RegionSummary, len(rows))
	for i := range rows {
		out[i] = RegionSummary{RegionRecord: rows[i].record(), ClusterCount: rows[i].ClusterCount}
	}
	return out, nil
}

// DeleteRegion deletes, in one transaction, the region's cluster links and
// observer registrations, the region row, and its meta session with its
// snapshot and memberships, and writes a "delete" audit row; it returns the
// other ends of the links it deleted. NotFound("Region") when missing or
// not owner's.
func (s *Store) DeleteRegion(ctx context.Context, owner, id string) (Unlinked, error) {
	var u Unlinked
	marks := []rowMark{
		{"regions", "owner = ? AND id = ?", []any{owner, id}},
		{"sessions", "owner = ? AND kind = ? AND id = (SELECT meta_session_id FROM regions WHERE owner = ? AND id = ?)",
			[]any{owner, SessionKindRegionMeta, owner, id}},
	}
	err := s.deleteMarked(ctx, marks, func(ctx context.Context, tx bun.Tx) error {
		u = Unlinked{}
		var metaID string
		err := s.lock(tx.NewSelect().Model((*regionModel)(nil)).Column("meta_session_id").
			Where("owner = ? AND id = ?", owner, id), lockUpdate).Scan(ctx, &metaID)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Region")
		}
		if err != nil {
			return err
		}
		if err := s.lockSession(ctx, tx, owner, metaID); err != nil {
			return err
		}
		if err := tx.NewDelete().Model((*regionClusterModel)(nil)).Where("owner = ? AND region_id = ?", owner, id).
			Returning("cluster_id").Scan(ctx, &u.Clusters); err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*observerRegionModel)(nil)).Where("owner = ? AND region_id = ?", owner, id).Exec(ctx)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		u.Observer = n > 0
		if _, err := tx.NewDelete().Model((*regionModel)(nil)).Where("owner = ? AND id = ?", owner, id).Exec(ctx); err != nil {
			return err
		}
		memberOf, err := deleteSessionRows(ctx, tx, owner, metaID)
		if err != nil {
			return err
		}
		u.Clusters = append(u.Clusters, memberOf...)
		return s.auditTx(ctx, tx, owner, ActionDelete, ResourceRegion, id, "")
	})
	return u, err
}

// AttachCluster links cluster clusterID to region regionID; both must be
// owner's (else NotFound("Region") / NotFound("Cluster")). Idempotent: added
// is false when already attached. A new link writes a "region_attach" audit
// row; one past the link cap (WithMaxLinks), or past the cluster's cap of
// regions (WithMaxParents), is a Conflict.
func (s *Store) AttachCluster(ctx context.Context, owner, regionID, clusterID string) (added bool, err error) {
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.mustOwn(ctx, tx, (*regionModel)(nil), regionID, owner, "Region", lockAdd); err != nil {
			return err
		}
		if err := s.mustOwn(ctx, tx, (*clusterModel)(nil), clusterID, owner, "Cluster", lockAdd); err != nil {
			return err
		}
		res, err := tx.NewInsert().
			Model(&regionClusterModel{Owner: owner, RegionID: regionID, ClusterID: clusterID, AttachedAt: s.timestamp(time.Time{})}).
			On("CONFLICT (owner, region_id, cluster_id) DO NOTHING").Exec(ctx)
		if isForeignKeyViolation(err) { // deleted concurrently (PostgreSQL)
			return semvec.NotFound("Cluster")
		}
		if err != nil {
			return err
		}
		if added = rowsAffected(res) > 0; !added {
			return nil
		}
		if err := withinCap(ctx, tx, (*regionClusterModel)(nil), s.maxLinks, "region cluster",
			"owner = ? AND region_id = ?", owner, regionID); err != nil {
			return err
		}
		if err := withinCap(ctx, tx, (*regionClusterModel)(nil), s.maxParents, "regions per cluster",
			"owner = ? AND cluster_id = ?", owner, clusterID); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, owner, ActionRegionAttach, ResourceRegion, regionID, detail("cluster_id", clusterID))
	})
	return added && err == nil, err
}

// DetachCluster unlinks cluster clusterID from region regionID (owner's, else
// NotFound("Region")) and writes a "region_detach" audit row.
// NotFound("Cluster") when it is not attached.
func (s *Store) DetachCluster(ctx context.Context, owner, regionID, clusterID string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.mustOwn(ctx, tx, (*regionModel)(nil), regionID, owner, "Region", lockShare); err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*regionClusterModel)(nil)).
			Where("owner = ? AND region_id = ? AND cluster_id = ?", owner, regionID, clusterID).Exec(ctx)
		if err != nil {
			return err
		}
		if rowsAffected(res) == 0 {
			return semvec.NotFound("Cluster")
		}
		return s.auditTx(ctx, tx, owner, ActionRegionDetach, ResourceRegion, regionID, detail("cluster_id", clusterID))
	})
}

// RegionClusters returns the ids of the clusters attached to owner's region,
// in attaching order (empty for a region that does not exist).
func (s *Store) RegionClusters(ctx context.Context, owner, regionID string) ([]string, error) {
	ids := []string{}
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model((*regionClusterModel)(nil)).Column("cluster_id").
			Where("owner = ? AND region_id = ?", owner, regionID).OrderExpr("attached_at, cluster_id").Scan(ctx, &ids)
	})
	return ids, err
}

// RegionAttachments returns when each cluster attached to owner's region
// regionID was attached (its current attachment).
func (s *Store) RegionAttachments(ctx context.Context, owner, regionID string) (map[string]time.Time, error) {
	var rows []regionClusterModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model(&rows).Where("owner = ? AND region_id = ?", owner, regionID).Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(rows))
	for _, r := range rows {
		out[r.ClusterID] = r.AttachedAt.UTC()
	}
	return out, nil
}

// RegionsOfCluster returns the ids of the regions owner's cluster is
// attached to, in attaching order.
func (s *Store) RegionsOfCluster(ctx context.Context, owner, clusterID string) ([]string, error) {
	ids := []string{}
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model((*regionClusterModel)(nil)).Column("region_id").
			Where("owner = ? AND cluster_id = ?", owner, clusterID).OrderExpr("attached_at, region_id").Scan(ctx, &ids)
	})
	return ids, err
}

// RecordRealignment writes the realignment record of owner's region: the
// time of its latest realignment and how many it has had, as its actor
// holds them (a value, not an increment: a write repeated after its answer
// was lost counts nothing twice), for the activation of epoch (see
// ActivateRegion: ErrSuperseded when a newer one exists). NotFound("Region")
// if it does not exist. A zero at records no realignment time (none yet).
func (s *Store) RecordRealignment(ctx context.Context, owner, regionID string, epoch int64, at time.Time, count int64) error {
	var last *time.Time
	if !at.IsZero() {
		t := s.timestamp(at)
		last = &t
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.fence(ctx, tx, regionEvents, owner, regionID, epoch); err != nil {
			return err
		}
		_, err := tx.NewUpdate().Model((*regionModel)(nil)).
			Set("last_realignment = ?", last).Set("realignments = ?", count).
			Where("owner = ? AND id = ?", owner, regionID).Exec(ctx)
		return err
	})
}
