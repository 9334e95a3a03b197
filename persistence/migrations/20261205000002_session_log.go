package migrations

import (
	"context"
	"errors"

	"github.com/uptrace/bun"
)

// Migration 3: a durable log per session. Every acknowledged change of a
// session is a row of session_log, committed before the request is
// answered; a snapshot becomes a checkpoint that records the last log entry
// it covers (log_seq), and the entries it covers are deleted.

type sessionLog20261205 struct {
	bun.BaseModel `bun:"table:session_log"`
	Owner         string `bun:"owner,pk"`
	SessionID     string `bun:"session_id,pk"`
	Seq           int64  `bun:"seq,pk"`
	Data          []byte `bun:"data,notnull"`
}

func addSessionLog(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		done, err := hasColumn(ctx, tx, "snapshots", "log_seq")
		if err != nil {
			return err
		}
		if !done {
			if _, err := tx.ExecContext(ctx, "ALTER TABLE snapshots ADD COLUMN log_seq BIGINT NOT NULL DEFAULT 0"); err != nil {
				return err
			}
		}
		_, err = tx.NewCreateTable().Model((*sessionLog20261205)(nil)).IfNotExists().
			ForeignKey("(owner, session_id) REFERENCES sessions (owner, id)" + cascade).Exec(ctx)
		return err
	})
}

func init() {
	Migrations.MustRegister(addSessionLog, func(context.Context, *bun.DB) error {
		return errors.New("migration 20261205000002 (session log) cannot be reverted: restore a backup")
	})
}
