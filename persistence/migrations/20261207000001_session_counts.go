package migrations

import (
	"context"
	"errors"

	"github.com/uptrace/bun"
)

// Migration 20261207000001: each owner's number of sessions (of every kind:
// a cluster's backing session, a region's and an observer's meta session
// count too), kept by triggers on the sessions table, so the per-tenant cap
// on sessions is checked with one row read instead of a count of the
// owner's sessions inside the write transaction. The triggers fire for
// every insert and every delete, cascaded deletes included, on both
// dialects. A later migration that rebuilds the sessions table must create
// them again.

type sessionCount20261207 struct {
	bun.BaseModel `bun:"table:session_counts"`
	Owner         string `bun:"owner,pk"`
	N             int64  `bun:"n,notnull"`
}

// sessionCountTriggers are the statements that keep session_counts, per
// dialect; each can run again.
var sessionCountTriggers = map[string][]string{
	"sqlite": {
		`CREATE TRIGGER IF NOT EXISTS sessions_counted_insert AFTER INSERT ON sessions BEGIN
			INSERT INTO session_counts (owner, n) VALUES (NEW.owner, 1)
				ON CONFLICT (owner) DO UPDATE SET n = n + 1;
		END`,
		`CREATE TRIGGER IF NOT EXISTS sessions_counted_delete AFTER DELETE ON sessions BEGIN
			UPDATE session_counts SET n = n - 1 WHERE owner = OLD.owner;
		END`,
	},
	"pg": {
		`CREATE OR REPLACE FUNCTION semvec_count_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF TG_OP = 'INSERT' THEN
				INSERT INTO session_counts (owner, n) VALUES (NEW.owner, 1)
					ON CONFLICT (owner) DO UPDATE SET n = session_counts.n + 1;
				RETURN NEW;
			END IF;
			UPDATE session_counts SET n = n - 1 WHERE owner = OLD.owner;
			RETURN OLD;
		END $$`,
		`DROP TRIGGER IF EXISTS sessions_counted ON sessions`,
		`CREATE TRIGGER sessions_counted AFTER INSERT OR DELETE ON sessions
			FOR EACH ROW EXECUTE FUNCTION semvec_count_sessions()`,
	},
}

func countSessions(ctx context.Context, db *bun.DB) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		dialect := tx.Dialect().Name().String()
		if dialect == "pg" {
			// No session is added or removed until this commits, so the
			// counts below stay exact for the triggers to carry on.
			if _, err := tx.ExecContext(ctx, "LOCK TABLE sessions IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return err
			}
		}
		if _, err := tx.NewCreateTable().Model((*sessionCount20261207)(nil)).IfNotExists().Exec(ctx); err != nil {
			return err
		}
		for _, stmt := range sessionCountTriggers[dialect] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM session_counts"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO session_counts (owner, n) SELECT owner, COUNT(*) FROM sessions GROUP BY owner")
		return err
	})
}

func init() {
	Migrations.MustRegister(countSessions, func(context.Context, *bun.DB) error {
		return errors.New("migration 20261207000001 (session counts) cannot be reverted: restore a backup")
	})
}
