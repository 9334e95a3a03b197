package persistence

import (
	"context"
	"database/sql"
	"errors"

	"github.com/uptrace/bun"

	"github.com/semvec-go/semvec"
)

// Row locks. SQLite needs none: BEGIN IMMEDIATE serialises writers. On
// PostgreSQL (READ COMMITTED) transactions lock the rows they depend on, in
// this order, so concurrent mutations wait for each other instead of failing
// on a foreign key or deadlocking:
//
//   - a mutation that adds rows referencing a parent (member, link,
//     registration, snapshot) takes lockShare on the parent first, so the
//     parent cannot be deleted until it commits;
//   - a delete takes lockUpdate on the entity row (cluster, region), then on
//     its session row, before deleting any dependent row;
//   - a snapshot batch locks its sessions, and writes its rows, in id order.
//
// inTx reruns the rare deadlock that remains (for example deleting a
// cluster's backing session while deleting the cluster).
const (
	lockShare  = "KEY SHARE" // the row must still exist when we commit
	lockUpdate = "UPDATE"    // we are going to delete the row
)

// lock adds FOR <strength> to q on PostgreSQL.
func (s *Store) lock(q *bun.SelectQuery, strength string) *bun.SelectQuery {
	if s.dialect == DialectPostgres {
		return q.For(strength)
	}
	return q
}

// mustOwn returns NotFound(what) unless model's table has a row id owned by
// owner, and locks that row with strength.
func (s *Store) mustOwn(ctx context.Context, tx bun.Tx, model any, id, owner, what, strength string) error {
	var got string
	err := s.lock(tx.NewSelect().Model(model).Column("id").Where("id = ? AND owner = ?", id, owner), strength).Scan(ctx, &got)
	if errors.Is(err, sql.ErrNoRows) {
		return semvec.NotFound(what)
	}
	return err
}
