package migrations

import (
	"context"
	"errors"

	"github.com/uptrace/bun"
)

// Migration 20261205000021: fencing epochs for the layers' own logs. Each
// activation of a region or an observer takes the next epoch of its row, and
// its drift-event and anomaly writes land only while the row still carries
// that epoch (see migration 20261205000020 for sessions).

func addLayerEpochs(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, table := range []string{"regions", "observers"} {
			done, err := hasColumn(ctx, tx, table, "epoch")
			if err != nil {
				return err
			}
			if !done {
				if _, err := tx.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0"); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func init() {
	Migrations.MustRegister(addLayerEpochs, func(context.Context, *bun.DB) error {
		return errors.New("migration 20261205000021 (layer epochs) cannot be reverted: restore a backup")
	})
}
