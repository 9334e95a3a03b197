package migrations

import (
	"context"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// Migration 2: every resource id is scoped by its owner. The same id used by
// two tenants names two separate resources, so every primary key, foreign key
// and unique constraint that held an id now starts with the owner. Sessions
// also gain an incarnation: a value chosen when the row is created, which
// every snapshot write must match, so that a write queued for a deleted
// session can never land in a session re-created under the same id.
//
// The tables are rebuilt (SQLite cannot change a primary key in place): the
// old ones are renamed to <name>_v1, the new ones created, the rows copied
// with the owner of their parent (rows keep their owner), the old tables
// dropped, and the indexes created last (their names were taken by the old
// tables until then).

type session20261205 struct {
	bun.BaseModel `bun:"table:sessions"`
	Owner         string    `bun:"owner,pk"`
	ID            string    `bun:"id,pk"`
	Incarnation   string    `bun:"incarnation,notnull"`
	Kind          string    `bun:"kind,notnull"`
	Dimension     int       `bun:"dimension,notnull"`
	ModelName     string    `bun:"model_name,notnull"`
	Options       string    `bun:"options,type:text,nullzero"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
	UpdatedAt     time.Time `bun:"updated_at,notnull"`
}

type snapshot20261205 struct {
	bun.BaseModel `bun:"table:snapshots"`
	Owner         string    `bun:"owner,pk"`
	SessionID     string    `bun:"session_id,pk"`
	Data          []byte    `bun:"data,notnull"`
	SavedAt       time.Time `bun:"saved_at,notnull"`
}

type cluster20261205 struct {
	bun.BaseModel   `bun:"table:clusters"`
	Owner           string    `bun:"owner,pk"`
	ID              string    `bun:"id,pk"`
	Name            string    `bun:"name,notnull"`
	AggregationMode string    `bun:"aggregation_mode,notnull"`
	CouplingFactor  float64   `bun:"coupling_factor,notnull"`
	CreatedAt       time.Time `bun:"created_at,notnull"`
}

type clusterMember20261205 struct {
	bun.BaseModel `bun:"table:cluster_members"`
	Owner         string    `bun:"owner,pk"`
	ClusterID     string    `bun:"cluster_id,pk"`
	SessionID     string    `bun:"session_id,pk"`
	JoinedAt      time.Time `bun:"joined_at,notnull"`
}

type region20261205 struct {
	bun.BaseModel      `bun:"table:regions"`
	Owner              string     `bun:"owner,pk"`
	ID                 string     `bun:"id,pk"`
	Name               string     `bun:"name,notnull"`
	MetaSessionID      string     `bun:"meta_session_id,notnull"`
	ConsensusThreshold float64    `bun:"consensus_threshold,notnull"`
	VoteWindowSeconds  float64    `bun:"vote_window_seconds,notnull"`
	LastRealignment    *time.Time `bun:"last_realignment"`
	CreatedAt          time.Time  `bun:"created_at,notnull"`
}

type regionCluster20261205 struct {
	bun.BaseModel `bun:"table:region_clusters"`
	Owner         string    `bun:"owner,pk"`
	RegionID      string    `bun:"region_id,pk"`
	ClusterID     string    `bun:"cluster_id,pk"`
	AttachedAt    time.Time `bun:"attached_at,notnull"`
}

type observer20261205 struct {
	bun.BaseModel         `bun:"table:observers"`
	Owner                 string    `bun:"owner,pk,unique"`
	ID                    string    `bun:"id,pk"`
	MetaSessionID         string    `bun:"meta_session_id,notnull"`
	SampleIntervalSeconds float64   `bun:"sample_interval_seconds,notnull"`
	CreatedAt             time.Time `bun:"created_at,notnull"`
}

type observerRegion20261205 struct {
	bun.BaseModel `bun:"table:observer_regions"`
	Owner         string    `bun:"owner,pk"`
	ObserverID    string    `bun:"observer_id,pk"`
	RegionID      string    `bun:"region_id,pk"`
	RegisteredAt  time.Time `bun:"registered_at,notnull"`
}

// ownerScoped is the new schema of the rebuilt tables, in creation order,
// each with the statement that copies its rows from the renamed old table.
type rebuilt struct {
	table
	name string
	copy string
}

func ownerScopedSchema() []rebuilt {
	return []rebuilt{
		{name: "sessions", table: table{model: (*session20261205)(nil)},
			copy: `INSERT INTO sessions (owner, id, incarnation, kind, dimension, model_name, options, created_at, updated_at)
			SELECT owner, id, 'v1:' || id, kind, dimension, model_name, options, created_at, updated_at FROM sessions_v1`},
		{name: "snapshots", table: table{model: (*snapshot20261205)(nil), foreignKeys: []string{
			"(owner, session_id) REFERENCES sessions (owner, id)" + cascade,
		}}, copy: `INSERT INTO snapshots (owner, session_id, data, saved_at)
			SELECT s.owner, sn.session_id, sn.data, sn.saved_at FROM snapshots_v1 AS sn JOIN sessions_v1 AS s ON s.id = sn.session_id`},
		{name: "clusters", table: table{model: (*cluster20261205)(nil), foreignKeys: []string{
			"(owner, id) REFERENCES sessions (owner, id)" + cascade, // the backing session
		}, indexes: []index{
			{"clusters_owner_created_idx", []string{"owner", "created_at"}},
		}}, copy: `INSERT INTO clusters (owner, id, name, aggregation_mode, coupling_factor, created_at)
			SELECT owner, id, name, aggregation_mode, coupling_factor, created_at FROM clusters_v1`},
		{name: "cluster_members", table: table{model: (*clusterMember20261205)(nil), foreignKeys: []string{
			"(owner, cluster_id) REFERENCES clusters (owner, id)" + cascade,
			"(owner, session_id) REFERENCES sessions (owner, id)" + cascade,
		}, indexes: []index{
			{"cluster_members_owner_session_idx", []string{"owner", "session_id"}},
		}}, copy: `INSERT INTO cluster_members (owner, cluster_id, session_id, joined_at)
			SELECT c.owner, cm.cluster_id, cm.session_id, cm.joined_at FROM cluster_members_v1 AS cm
			JOIN clusters_v1 AS c ON c.id = cm.cluster_id JOIN sessions_v1 AS s ON s.id = cm.session_id AND s.owner = c.owner`},
		{name: "regions", table: table{model: (*region20261205)(nil), foreignKeys: []string{
			"(owner, meta_session_id) REFERENCES sessions (owner, id)" + cascade,
		}, indexes: []index{
			{"regions_owner_created_idx", []string{"owner", "created_at"}},
			{"regions_owner_meta_idx", []string{"owner", "meta_session_id"}},
		}}, copy: `INSERT INTO regions (owner, id, name, meta_session_id, consensus_threshold, vote_window_seconds, last_realignment, created_at)
			SELECT owner, id, name, meta_session_id, consensus_threshold, vote_window_seconds, last_realignment, created_at FROM regions_v1`},
		{name: "region_clusters", table: table{model: (*regionCluster20261205)(nil), foreignKeys: []string{
			"(owner, region_id) REFERENCES regions (owner, id)" + cascade,
			"(owner, cluster_id) REFERENCES clusters (owner, id)" + cascade,
		}, indexes: []index{
			{"region_clusters_owner_cluster_idx", []string{"owner", "cluster_id"}},
		}}, copy: `INSERT INTO region_clusters (owner, region_id, cluster_id, attached_at)
			SELECT r.owner, rc.region_id, rc.cluster_id, rc.attached_at FROM region_clusters_v1 AS rc
			JOIN regions_v1 AS r ON r.id = rc.region_id JOIN clusters_v1 AS c ON c.id = rc.cluster_id AND c.owner = r.owner`},
		{name: "observers", table: table{model: (*observer20261205)(nil), foreignKeys: []string{
			"(owner, meta_session_id) REFERENCES sessions (owner, id)" + cascade,
		}, indexes: []index{
			{"observers_owner_meta_idx", []string{"owner", "meta_session_id"}},
		}}, copy: `INSERT INTO observers (owner, id, meta_session_id, sample_interval_seconds, created_at)
			SELECT owner, id, meta_session_id, sample_interval_seconds, created_at FROM observers_v1`},
		{name: "observer_regions", table: table{model: (*observerRegion20261205)(nil), foreignKeys: []string{
			"(owner, observer_id) REFERENCES observers (owner, id)" + cascade,
			"(owner, region_id) REFERENCES regions (owner, id)" + cascade,
		}, indexes: []index{
			{"observer_regions_owner_region_idx", []string{"owner", "region_id"}},
		}}, copy: `INSERT INTO observer_regions (owner, observer_id, region_id, registered_at)
			SELECT o.owner, orr.observer_id, orr.region_id, orr.registered_at FROM observer_regions_v1 AS orr
			JOIN observers_v1 AS o ON o.id = orr.observer_id JOIN regions_v1 AS r ON r.id = orr.region_id AND r.owner = o.owner`},
	}
}

func scopeIDsByOwner(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// Idempotence: a database created after this migration was written
		// (or one where it already ran) has sessions.incarnation.
		done, err := hasColumn(ctx, tx, "sessions", "incarnation")
		if err != nil || done {
			return err
		}
		schema := ownerScopedSchema()
		for _, t := range schema {
			if _, err := tx.ExecContext(ctx, "ALTER TABLE "+t.name+" RENAME TO "+t.name+"_v1"); err != nil {
				return err
			}
		}
		for _, t := range schema {
			q := tx.NewCreateTable().Model(t.model)
			for _, fk := range t.foreignKeys {
				q = q.ForeignKey(fk)
			}
			if _, err := q.Exec(ctx); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, t.copy); err != nil {
				return err
			}
		}
		for i := len(schema) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+schema[i].name+"_v1"); err != nil {
				return err
			}
		}
		for _, t := range schema {
			for _, ix := range t.indexes {
				if _, err := tx.NewCreateIndex().Model(t.model).Index(ix.name).
					Column(ix.columns...).IfNotExists().Exec(ctx); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// hasColumn reports whether table has column, on SQLite and PostgreSQL.
func hasColumn(ctx context.Context, tx bun.Tx, table, column string) (bool, error) {
	var n int
	var err error
	if tx.Dialect().Name().String() == "pg" {
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?`, table, column).Scan(&n)
	} else {
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n)
	}
	return n > 0, err
}

func init() {
	Migrations.MustRegister(scopeIDsByOwner, func(context.Context, *bun.DB) error {
		return errors.New("migration 20261205000001 (owner-scoped ids) cannot be reverted: restore a backup")
	})
}
