package migrations

import (
	"context"
	"errors"

	"github.com/uptrace/bun"
)

// Migration 20261206000003: a fencing epoch for an owner's network state.
// Each activation of the owner's network actor takes the next epoch of its
// row, and its saves land only while the row still carries that epoch (see
// migration 20261205000020 for sessions, 20261205000021 for regions and
// observers).

func addNetworkEpoch(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		done, err := hasColumn(ctx, tx, "network_states", "epoch")
		if err != nil || done {
			return err
		}
		_, err = tx.ExecContext(ctx, "ALTER TABLE network_states ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0")
		return err
	})
}

func init() {
	Migrations.MustRegister(addNetworkEpoch, func(context.Context, *bun.DB) error {
		return errors.New("migration 20261206000003 (network epoch) cannot be reverted: restore a backup")
	})
}
