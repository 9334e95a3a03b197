package persistence

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/semvec-go/semvec"
)

// ClusterRecord is the metadata of a cluster. Its state lives in its backing
// session, whose id is the cluster id.
type ClusterRecord struct {
	ID, Owner, Name, AggregationMode string
	CouplingFactor                   float64
	CreatedAt                        time.Time
}

// ClusterSummary is a cluster with its member count, as ListClusters returns.
type ClusterSummary struct {
	ClusterRecord
	MemberCount int
}

// CreateCluster inserts the cluster's backing session and the cluster row in
// one transaction, with a "create" audit row. backing.ID and backing.Owner
// default to the cluster's and must match them if set; backing.Kind defaults
// to "cluster". KindConflict if the id is taken (by a cluster or a session).
func (s *Store) CreateCluster(ctx context.Context, c ClusterRecord, backing SessionRecord) error {
	if c.ID == "" {
		return semvec.Errorf(semvec.KindInvalid, "cluster id is empty")
	}
	if err := alignMetaSession(&backing, c.ID, c.Owner, "cluster"); err != nil {
		return err
	}
	if backing.CreatedAt.IsZero() {
		backing.CreatedAt = c.CreatedAt
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.lockOwnerList(ctx, tx, "clusters", c.Owner); err != nil {
			return err
		}
		b, err := s.insertSession(ctx, tx, backing, SessionKindCluster)
		if err != nil {
			return err
		}
		m := &clusterModel{
			ID: c.ID, Owner: c.Owner, Name: c.Name, AggregationMode: c.AggregationMode,
			CouplingFactor: c.CouplingFactor, CreatedAt: b.CreatedAt,
		}
		if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
			if isUniqueViolation(err) {
				return semvec.Errorf(semvec.KindConflict, "Cluster already exists")
			}
			return err
		}
		if err := withinCap(ctx, tx, (*clusterModel)(nil), s.maxEntities, "cluster", "owner = ?", c.Owner); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, c.Owner, ActionCreate, ResourceCluster, c.ID,
			detail("name", c.Name, "aggregation_mode", c.AggregationMode))
	})
}

// alignMetaSession fills a backing/meta session's id and owner from its
// parent and rejects a mismatch.
func alignMetaSession(rec *SessionRecord, id, owner, what string) error {
	if rec.ID == "" {
		rec.ID = id
	}
	if rec.Owner == "" {
		rec.Owner = owner
	}
	if rec.ID != id || rec.Owner != owner {
		return semvec.Errorf(semvec.KindInvalid, "the %s's session must have its id and owner", what)
	}
	return nil
}

// GetCluster returns the cluster id owned by owner, or NotFound("Cluster").
func (s *Store) GetCluster(ctx context.Context, owner, id string) (ClusterRecord, error) {
	var m clusterModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("c.owner = ? AND c.id = ?", owner, id).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Cluster")
		}
		return err
	})
	if err != nil {
		return ClusterRecord{}, err
	}
	return m.record(), nil
}

func (m *clusterModel) record() ClusterRecord {
	return ClusterRecord{
		ID: m.ID, Owner: m.Owner, Name: m.Name, AggregationMode: m.AggregationMode,
		CouplingFactor: m.CouplingFactor, CreatedAt: m.CreatedAt.UTC(),
	}
}

// ListClusters returns owner's clusters with their member counts, ordered by
// creation time, then id.
func (s *Store) ListClusters(ctx context.Context, owner string) ([]ClusterSummary, error) {
	var rows []clusterModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model(&rows).
			ColumnExpr("c.*").
			ColumnExpr("(SELECT COUNT(*) FROM cluster_members AS cm WHERE cm.owner = c.owner AND cm.cluster_id = c.id) AS member_count").
			Where("c.owner = ?", owner).
			OrderExpr("c.created_at, c.id").
			Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make([]ClusterSummary, len(rows))
	for i := range rows {
		out[i] = ClusterSummary{ClusterRecord: rows[i].record(), MemberCount: rows[i].MemberCount}
	}
	return out, nil
}

// DeleteCluster deletes, in one transaction, the cluster's memberships, its
// region links, the cluster row, and its backing session with its snapshot
// and memberships, and writes a "delete" audit row; it returns the other
// ends of the links it deleted. NotFound("Cluster") when missing or not
// owner's.
func (s *Store) DeleteCluster(ctx context.Context, owner, id string) (Unlinked, error) {
	var u Unlinked
	backing := rowMark{"sessions", "owner = ? AND id = ? AND kind = ?", []any{owner, id, SessionKindCluster}}
	err := s.deleteMarked(ctx, []rowMark{backing}, func(ctx context.Context, tx bun.Tx) error {
		u = Unlinked{}
		if err := s.mustOwn(ctx, tx, (*clusterModel)(nil), id, owner, "Cluster", lockUpdate); err != nil {
			return err
		}
		if err := s.lockSession(ctx, tx, owner, id); err != nil {
			return err
		}
		if err := tx.NewDelete().Model((*clusterMemberModel)(nil)).Where("owner = ? AND cluster_id = ?", owner, id).
			Returning("session_id").Scan(ctx, &u.Members); err != nil {
			return err
		}
		if err := tx.NewDelete().Model((*regionClusterModel)(nil)).Where("owner = ? AND cluster_id = ?", owner, id).
			Returning("region_id").Scan(ctx, &u.Regions); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*clusterModel)(nil)).Where("owner = ? AND id = ?", owner, id).Exec(ctx); err != nil {
			return err
		}
		var err error
		if u.Clusters, err = deleteSessionRows(ctx, tx, owner, id); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, owner, ActionDelete, ResourceCluster, id, "")
	})
	return u, err
}

// AddMember makes session sessionID a member of cluster clusterID; both must
// be owner's (else NotFound("Cluster") / NotFound("Session")). It is
// idempotent: added is false when the session already was a member. A new
// membership writes a "member_add" audit row; one past the link cap
// (WithMaxLinks), or past the session's cap of clusters (WithMaxParents), is
// a Conflict. A cluster cannot be a member of itself (a
// KindValidation error naming session_id: a 422).
func (s *Store) AddMember(ctx context.Context, owner, clusterID, sessionID string) (added bool, err error) {
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.mustOwn(ctx, tx, (*clusterModel)(nil), clusterID, owner, "Cluster", lockAdd); err != nil {
			return err
		}
		if err := s.mustOwn(ctx, tx, (*sessionModel)(nil), sessionID, owner, "Session", lockAdd); err != nil {
			return err
		}
		if clusterID == sessionID {
			return semvec.FieldError("session_id", "a cluster cannot be a member of itself")
		}
		var kind string
		if err := tx.NewSelect().Model((*sessionModel)(nil)).Column("kind").
			Where("owner = ? AND id = ?", owner, sessionID).Scan(ctx, &kind); err != nil {
			return err
		}
		if kind == SessionKindRegionMeta || kind == SessionKindObserverMeta {
			return semvec.Errorf(semvec.KindConflict, "Session %s is a layer's meta session (%s): it cannot be a cluster member", sessionID, kind)
		}
		res, err := tx.NewInsert().
			Model(&clusterMemberModel{Owner: owner, ClusterID: clusterID, SessionID: sessionID, JoinedAt: s.timestamp(time.Time{})}).
			On("CONFLICT (owner, cluster_id, session_id) DO NOTHING").Exec(ctx)
		if isForeignKeyViolation(err) { // deleted concurrently (PostgreSQL)
			return semvec.NotFound("Session")
		}
		if err != nil {
			return err
		}
		if added = rowsAffected(res) > 0; !added {
			return nil
		}
		if err := withinCap(ctx, tx, (*clusterMemberModel)(nil), s.maxLinks, "cluster member",
			"owner = ? AND cluster_id = ?", owner, clusterID); err != nil {
			return err
		}
		if err := withinCap(ctx, tx, (*clusterMemberModel)(nil), s.maxParents, "clusters per session",
			"owner = ? AND session_id = ?", owner, sessionID); err != nil {
			return err
		}
		return s.auditTx(ctx, tx, owner, ActionMemberAdd, ResourceCluster, clusterID, detail("session_id", sessionID))
	})
	return added && err == nil, err
}

// RemoveMember removes session sessionID from cluster clusterID (owner's,
// else NotFound("Cluster")) and writes a "member_remove" audit row.
// NotFound("Member") when it is not a member.
func (s *Store) RemoveMember(ctx context.Context, owner, clusterID, sessionID string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.mustOwn(ctx, tx, (*clusterModel)(nil), clusterID, owner, "Cluster", lockShare); err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*clusterMemberModel)(nil)).
			Where("owner = ? AND cluster_id = ? AND session_id = ?", owner, clusterID, sessionID).Exec(ctx)
		if err != nil {
			return err
		}
		if rowsAffected(res) == 0 {
			return semvec.NotFound("Member")
		}
		return s.auditTx(ctx, tx, owner, ActionMemberRemove, ResourceCluster, clusterID, detail("session_id", sessionID))
	})
}

// ListMembers returns the member session ids of owner's cluster in joining
// order (empty, not an error, for a cluster that does not exist).
func (s *Store) ListMembers(ctx context.Context, owner, clusterID string) ([]string, error) {
	ids := []string{}
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model((*clusterMemberModel)(nil)).Column("session_id").
			Where("owner = ? AND cluster_id = ?", owner, clusterID).OrderExpr("joined_at, session_id").Scan(ctx, &ids)
	})
	return ids, err
}

// ClustersOfSession returns, sorted, the ids of owner's clusters that
// owner's session sessionID is a member of or backs (the cluster whose id it
// is).
func (s *Store) ClustersOfSession(ctx context.Context, owner, sessionID string) ([]string, error) {
	ids := []string{}
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		if err := db.NewSelect().Model((*clusterMemberModel)(nil)).Column("cluster_id").
			Where("owner = ? AND session_id = ?", owner, sessionID).Scan(ctx, &ids); err != nil {
			return err
		}
		backs, err := db.NewSelect().Model((*clusterModel)(nil)).Where("owner = ? AND id = ?", owner, sessionID).Exists(ctx)
		if backs {
			ids = append(ids, sessionID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}
