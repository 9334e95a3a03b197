package persistence

import (
	"time"

	"github.com/uptrace/bun"
)

// The bun models of the live schema. Every id is scoped by its owner: the
// primary and foreign keys all start with the owner column. The tables themselves are created by
// package migrations from frozen copies; a change here needs a migration.

type sessionModel struct {
	bun.BaseModel `bun:"table:sessions,alias:s"`
	Owner         string    `bun:"owner,pk"`
	ID            string    `bun:"id,pk"`
	Incarnation   string    `bun:"incarnation,notnull"`
	Epoch         int64     `bun:"epoch,notnull"`
	Kind          string    `bun:"kind,notnull"`
	Dimension     int       `bun:"dimension,notnull"`
	ModelName     string    `bun:"model_name,notnull"`
	Options       string    `bun:"options,type:text,nullzero"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
	UpdatedAt     time.Time `bun:"updated_at,notnull"`
}

type snapshotModel struct {
	bun.BaseModel `bun:"table:snapshots,alias:sn"`
	Owner         string    `bun:"owner,pk"`
	SessionID     string    `bun:"session_id,pk"`
	Data          []byte    `bun:"data,notnull"`
	SavedAt       time.Time `bun:"saved_at,notnull"`
	LogSeq        int64     `bun:"log_seq,notnull"`
}

type clusterModel struct {
	bun.BaseModel   `bun:"table:clusters,alias:c"`
	Owner           string    `bun:"owner,pk"`
	ID              string    `bun:"id,pk"`
	Name            string    `bun:"name,notnull"`
	AggregationMode string    `bun:"aggregation_mode,notnull"`
	CouplingFactor  float64   `bun:"coupling_factor,notnull"`
	CreatedAt       time.Time `bun:"created_at,notnull"`
	MemberCount     int       `bun:"member_count,scanonly"`
}

type clusterMemberModel struct {
	bun.BaseModel `bun:"table:cluster_members,alias:cm"`
	Owner         string    `bun:"owner,pk"`
	ClusterID     string    `bun:"cluster_id,pk"`
	SessionID     string    `bun:"session_id,pk"`
	JoinedAt      time.Time `bun:"joined_at,notnull"`
}

type regionModel struct {
	bun.BaseModel      `bun:"table:regions,alias:r"`
	Owner              string     `bun:"owner,pk"`
	ID                 string     `bun:"id,pk"`
	Name               string     `bun:"name,notnull"`
	MetaSessionID      string     `bun:"meta_session_id,notnull"`
	ConsensusThreshold float64    `bun:"consensus_threshold,notnull"`
	VoteWindowSeconds  float64    `bun:"vote_window_seconds,notnull"`
	LastRealignment    *time.Time `bun:"last_realignment"`
	Realignments       int64      `bun:"realignments,notnull"`
	Epoch              int64      `bun:"epoch,notnull"` // fencing: see Store.ActivateRegion
	CreatedAt          time.Time  `bun:"created_at,notnull"`
	ClusterCount       int        `bun:"cluster_count,scanonly"`
}

type regionClusterModel struct {
	bun.BaseModel `bun:"table:region_clusters,alias:rc"`
	Owner         string    `bun:"owner,pk"`
	RegionID      string    `bun:"region_id,pk"`
	ClusterID     string    `bun:"cluster_id,pk"`
	AttachedAt    time.Time `bun:"attached_at,notnull"`
}

type observerModel struct {
	bun.BaseModel         `bun:"table:observers,alias:o"`
	Owner                 string    `bun:"owner,pk,unique"`
	ID                    string    `bun:"id,pk"`
	MetaSessionID         string    `bun:"meta_session_id,notnull"`
	SampleIntervalSeconds float64   `bun:"sample_interval_seconds,notnull"`
	Epoch                 int64     `bun:"epoch,notnull"` // fencing: see Store.ActivateObserver
	CreatedAt             time.Time `bun:"created_at,notnull"`
}

type observerRegionModel struct {
	bun.BaseModel `bun:"table:observer_regions,alias:orr"`
	Owner         string    `bun:"owner,pk"`
	ObserverID    string    `bun:"observer_id,pk"`
	RegionID      string    `bun:"region_id,pk"`
	RegisteredAt  time.Time `bun:"registered_at,notnull"`
}

type networkStateModel struct {
	bun.BaseModel `bun:"table:network_states,alias:ns"`
	Owner         string    `bun:"owner,pk"`
	Data          []byte    `bun:"data,notnull"` // empty: no state saved yet (row created by ActivateNetwork)
	UpdatedAt     time.Time `bun:"updated_at,notnull"`
	Epoch         int64     `bun:"epoch,notnull"` // fencing: see Store.ActivateNetwork
}

type auditModel struct {
	bun.BaseModel `bun:"table:audit_log,alias:a"`
	ID            int64     `bun:"id,pk,autoincrement"`
	At            time.Time `bun:"at,notnull"`
	Subject       string    `bun:"subject,notnull"`
	Action        string    `bun:"action,notnull"`
	ResourceType  string    `bun:"resource_type,notnull"`
	ResourceID    string    `bun:"resource_id,notnull"`
	Detail        string    `bun:"detail,type:text,notnull"`
}
