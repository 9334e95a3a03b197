package migrations

import (
	"context"
	"errors"

	"github.com/uptrace/bun"
)

// Migration 20261205000010: the layers' logs become durable. A region's
// drift events (from which its live votes are rebuilt) and an observer's
// anomalies are rows, and a region counts its realignments. A user
// partition of the network layer keeps the semantic states of its
// sessions, saved when the owner switches away from it.

type regionEvent20261205 struct {
	bun.BaseModel `bun:"table:region_events"`
	Owner         string `bun:"owner,pk"`
	RegionID      string `bun:"region_id,pk"`
	Seq           int64  `bun:"seq,pk"`
	Data          []byte `bun:"data,notnull"`
}

type observerAnomaly20261205 struct {
	bun.BaseModel `bun:"table:observer_anomalies"`
	Owner         string `bun:"owner,pk"`
	ObserverID    string `bun:"observer_id,pk"`
	Seq           int64  `bun:"seq,pk"`
	Data          []byte `bun:"data,notnull"`
}

type networkPartition20261205 struct {
	bun.BaseModel `bun:"table:network_partitions"`
	Owner         string `bun:"owner,pk"`
	UserID        string `bun:"user_id,pk"`
	Data          []byte `bun:"data,notnull"`
}

func addLayerLogs(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		done, err := hasColumn(ctx, tx, "regions", "realignments")
		if err != nil {
			return err
		}
		if !done {
			if _, err := tx.ExecContext(ctx, "ALTER TABLE regions ADD COLUMN realignments BIGINT NOT NULL DEFAULT 0"); err != nil {
				return err
			}
		}
		if _, err := tx.NewCreateTable().Model((*regionEvent20261205)(nil)).IfNotExists().
			ForeignKey("(owner, region_id) REFERENCES regions (owner, id)" + cascade).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewCreateTable().Model((*observerAnomaly20261205)(nil)).IfNotExists().
			ForeignKey("(owner, observer_id) REFERENCES observers (owner, id)" + cascade).Exec(ctx); err != nil {
			return err
		}
		_, err = tx.NewCreateTable().Model((*networkPartition20261205)(nil)).IfNotExists().Exec(ctx)
		return err
	})
}

func init() {
	Migrations.MustRegister(addLayerLogs, func(context.Context, *bun.DB) error {
		return errors.New("migration 20261205000010 (layer logs) cannot be reverted: restore a backup")
	})
}
