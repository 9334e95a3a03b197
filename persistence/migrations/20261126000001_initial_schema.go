package migrations

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Frozen models of the initial schema. Do not edit them: change the schema
// with a new migration file instead.

type session20261126 struct {
	bun.BaseModel `bun:"table:sessions"`
	ID            string    `bun:"id,pk"`
	Owner         string    `bun:"owner,notnull"`
	Kind          string    `bun:"kind,notnull"`
	Dimension     int       `bun:"dimension,notnull"`
	ModelName     string    `bun:"model_name,notnull"`
	Options       string    `bun:"options,type:text,nullzero"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
	UpdatedAt     time.Time `bun:"updated_at,notnull"`
}

type snapshot20261126 struct {
	bun.BaseModel `bun:"table:snapshots"`
	SessionID     string    `bun:"session_id,pk"`
	Data          []byte    `bun:"data,notnull"`
	SavedAt       time.Time `bun:"saved_at,notnull"`
}

type cluster20261126 struct {
	bun.BaseModel   `bun:"table:clusters"`
	ID              string    `bun:"id,pk"`
	Owner           string    `bun:"owner,notnull"`
	Name            string    `bun:"name,notnull"`
	AggregationMode string    `bun:"aggregation_mode,notnull"`
	CouplingFactor  float64   `bun:"coupling_factor,notnull"`
	CreatedAt       time.Time `bun:"created_at,notnull"`
}

type clusterMember20261126 struct {
	bun.BaseModel `bun:"table:cluster_members"`
	ClusterID     string    `bun:"cluster_id,pk"`
	SessionID     string    `bun:"session_id,pk"`
	JoinedAt      time.Time `bun:"joined_at,notnull"`
}

type region20261126 struct {
	bun.BaseModel      `bun:"table:regions"`
	ID                 string     `bun:"id,pk"`
	Owner              string     `bun:"owner,notnull"`
	Name               string     `bun:"name,notnull"`
	MetaSessionID      string     `bun:"meta_session_id,notnull"`
	ConsensusThreshold float64    `bun:"consensus_threshold,notnull"`
	VoteWindowSeconds  float64    `bun:"vote_window_seconds,notnull"`
	LastRealignment    *time.Time `bun:"last_realignment"`
	CreatedAt          time.Time  `bun:"created_at,notnull"`
}

type regionCluster20261126 struct {
	bun.BaseModel `bun:"table:region_clusters"`
	RegionID      string    `bun:"region_id,pk"`
	ClusterID     string    `bun:"cluster_id,pk"`
	AttachedAt    time.Time `bun:"attached_at,notnull"`
}

type observer20261126 struct {
	bun.BaseModel         `bun:"table:observers"`
	ID                    string    `bun:"id,pk"`
	Owner                 string    `bun:"owner,notnull,unique"`
	MetaSessionID         string    `bun:"meta_session_id,notnull"`
	SampleIntervalSeconds float64   `bun:"sample_interval_seconds,notnull"`
	CreatedAt             time.Time `bun:"created_at,notnull"`
}

type observerRegion20261126 struct {
	bun.BaseModel `bun:"table:observer_regions"`
	ObserverID    string    `bun:"observer_id,pk"`
	RegionID      string    `bun:"region_id,pk"`
	RegisteredAt  time.Time `bun:"registered_at,notnull"`
}

type networkState20261126 struct {
	bun.BaseModel `bun:"table:network_states"`
	Owner         string    `bun:"owner,pk"`
	Data          []byte    `bun:"data,notnull"`
	UpdatedAt     time.Time `bun:"updated_at,notnull"`
}

type audit20261126 struct {
	bun.BaseModel `bun:"table:audit_log"`
	ID            int64     `bun:"id,pk,autoincrement"`
	At            time.Time `bun:"at,notnull"`
	Subject       string    `bun:"subject,notnull"`
	Action        string    `bun:"action,notnull"`
	ResourceType  string    `bun:"resource_type,notnull"`
	ResourceID    string    `bun:"resource_id,notnull"`
	Detail        string    `bun:"detail,type:text,notnull"`
}

const cascade = " ON DELETE CASCADE"

// initialSchema lists the tables in creation order (referenced tables first).
func initialSchema() []table {
	return []table{
		{model: (*session20261126)(nil), indexes: []index{
			{"sessions_owner_idx", []string{"owner"}},
		}},
		{model: (*snapshot20261126)(nil), foreignKeys: []string{
			"(session_id) REFERENCES sessions (id)" + cascade,
		}},
		{model: (*cluster20261126)(nil), foreignKeys: []string{
			"(id) REFERENCES sessions (id)" + cascade, // the backing session
		}, indexes: []index{
			{"clusters_owner_idx", []string{"owner", "created_at"}},
		}},
		{model: (*clusterMember20261126)(nil), foreignKeys: []string{
			"(cluster_id) REFERENCES clusters (id)" + cascade,
			"(session_id) REFERENCES sessions (id)" + cascade,
		}, indexes: []index{
			{"cluster_members_session_id_idx", []string{"session_id"}},
		}},
		{model: (*region20261126)(nil), foreignKeys: []string{
			"(meta_session_id) REFERENCES sessions (id)" + cascade,
		}, indexes: []index{
			{"regions_owner_idx", []string{"owner", "created_at"}},
			{"regions_meta_session_id_idx", []string{"meta_session_id"}},
		}},
		{model: (*regionCluster20261126)(nil), foreignKeys: []string{
			"(region_id) REFERENCES regions (id)" + cascade,
			"(cluster_id) REFERENCES clusters (id)" + cascade,
		}, indexes: []index{
			{"region_clusters_cluster_id_idx", []string{"cluster_id"}},
		}},
		{model: (*observer20261126)(nil), foreignKeys: []string{
			"(meta_session_id) REFERENCES sessions (id)" + cascade,
		}, indexes: []index{
			{"observers_meta_session_id_idx", []string{"meta_session_id"}},
		}},
		{model: (*observerRegion20261126)(nil), foreignKeys: []string{
			"(observer_id) REFERENCES observers (id)" + cascade,
			"(region_id) REFERENCES regions (id)" + cascade,
		}, indexes: []index{
			{"observer_regions_region_id_idx", []string{"region_id"}},
		}},
		{model: (*networkState20261126)(nil)},
		{model: (*audit20261126)(nil), indexes: []index{
			{"audit_log_subject_idx", []string{"subject", "id"}},
		}},
	}
}

func init() {
	Migrations.MustRegister(
		func(ctx context.Context, db *bun.DB) error { return createTables(ctx, db, initialSchema()) },
		func(ctx context.Context, db *bun.DB) error { return dropTables(ctx, db, initialSchema()) },
	)
}
