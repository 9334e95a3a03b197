package migrations

import (
	"context"
	"errors"

	"github.com/uptrace/bun"
)

// Migration 20261205000020: fencing epochs. Every activation of a session
// (of any kind: clusters, regions and observers keep their state in session
// rows too) takes the next epoch of its row, and the log appends and
// checkpoints of an activation land only while the row still carries its
// epoch: an older activation that is still running somewhere (a paused
// process, a node that has not yet seen a membership change) has its writes
// refused instead of interleaving them with the newer one's.

func addSessionEpochs(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		done, err := hasColumn(ctx, tx, "sessions", "epoch")
		if err != nil || done {
			return err
		}
		_, err = tx.ExecContext(ctx, "ALTER TABLE sessions ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0")
		return err
	})
}

func init() {
	Migrations.MustRegister(addSessionEpochs, func(context.Context, *bun.DB) error {
		return errors.New("migration 20261205000020 (session epochs) cannot be reverted: restore a backup")
	})
}
