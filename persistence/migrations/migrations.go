// Package migrations holds the schema migrations of package persistence as
// Go functions written against bun models, so the same code creates the
// schema on SQLite and on PostgreSQL.
//
// Each migration lives in a file named NNNNNNNNNNNNNN_name.go (bun/migrate
// takes the id and the comment from the file name) and declares its own
// frozen copies of the models it creates: a migration must keep producing the
// same schema after persistence's live models evolve.
//
// Every Up is idempotent (IF NOT EXISTS) and runs in one transaction, so a
// migration interrupted before bun records it as applied simply runs again.
package migrations

import (
	"context"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// Migrations is the registry that the migration files fill in their init
// functions. It is read-only once the package is initialised; persistence.Open
// hands it to a migrate.Migrator.
var Migrations = migrate.NewMigrations()

// table describes one table a migration creates: its model, its foreign keys
// and its secondary indexes.
type table struct {
	model       any
	foreignKeys []string // "(col) REFERENCES other (col) ON DELETE CASCADE"
	indexes     []index
}

type index struct {
	name    string
	columns []string
}

// createTables creates the tables and their indexes, in order, in one
// transaction.
func createTables(ctx context.Context, db *bun.DB, tables []table) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, t := range tables {
			q := tx.NewCreateTable().Model(t.model).IfNotExists()
			for _, fk := range t.foreignKeys {
				q = q.ForeignKey(fk)
			}
			if _, err := q.Exec(ctx); err != nil {
				return err
			}
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

// dropTables drops the tables in reverse order, in one transaction.
func dropTables(ctx context.Context, db *bun.DB, tables []table) error {
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for i := len(tables) - 1; i >= 0; i-- {
			if _, err := tx.NewDropTable().Model(tables[i].model).IfExists().Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}
