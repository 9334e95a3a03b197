package migrations

import (
	"context"
	"errors"

	"github.com/uptrace/bun"
)

// Migration 20261206000001: an observer's sample state (the episodes its
// last sample saw, when it sampled, how many clusters it observed, how many
// samples it took), written with each sample's new anomalies, so that a
// restart neither forgets the summary nor raises a continuing episode again.

func addObserverSampleState(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		done, err := hasColumn(ctx, tx, "observers", "sample_state")
		if err != nil || done {
			return err
		}
		_, err = tx.ExecContext(ctx, "ALTER TABLE observers ADD COLUMN sample_state TEXT")
		return err
	})
}

func init() {
	Migrations.MustRegister(addObserverSampleState, func(context.Context, *bun.DB) error {
		return errors.New("migration 20261206000001 (observer sample state) cannot be reverted: restore a backup")
	})
}
