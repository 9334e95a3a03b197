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
//     parent cannot be deleted until it commits; adding a capped link
//     (member, cluster of a region, region of an observer) takes lockAdd
//     instead, so two adds to one parent count its links one after the
//     other and cannot both pass the cap (lockAdd does not conflict with
//     the lockShare of log appends and checkpoints); a member's session
//     and an attached cluster, whose own links are capped too
//     (WithMaxParents), take lockAdd after the parent;
//   - a delete first moves the epoch of the rows whose actors write
//     (fenceOff), then takes lockUpdate on the entity row (cluster,
//     region), then on its session row, before deleting any dependent row;
//   - a snapshot batch locks its sessions, and writes its rows, in id order.
//
// inTx reruns the rare deadlock that remains (for example deleting a
// cluster's backing session while deleting the cluster).
const (
	lockShare  = "KEY SHARE"     // the row must still exist when we commit
	lockAdd    = "NO KEY UPDATE" // as lockShare, and one adder at a time (capped links)
	lockUpdate = "UPDATE"        // we are going to delete the row
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

// withinCap returns a Conflict ("<what> limit reached (max)") when more
// than max rows of model match where (max is the Store's link cap,
// WithMaxLinks). An add calls it after inserting its row (so adding a link
// that exists stays an idempotent success at the cap) and rolls back on the
// error; it holds lockAdd on the parent, so no other add to that parent
// counts before it commits.
func withinCap(ctx context.Context, tx bun.Tx, model any, max int, what, where string, args ...any) error {
	n, err := tx.NewSelect().Model(model).Where(where, args...).Count(ctx)
	if err != nil {
		return err
	}
	if n > int64(max) {
		return semvec.Errorf(semvec.KindConflict, "%s limit reached (%d)", what, max)
	}
	return nil
}

// awaitEarlierEpochs returns once no transaction that checked an earlier
// epoch of the row of table that where selects is still writing (a
// session's, region's or observer's row: "owner = ? AND id = ?"; an owner's
// network state: "owner = ?"), so an activation that has just committed the
// row's next epoch reads every entry its predecessors committed. A writer
// checks the epoch under lockShare (liveIncarnations, fenceRow) and holds
// that lock until it commits; the activation waits for those locks with
// lockUpdate, which conflicts only with them.
//
// The epoch moves first, in a transaction of its own, and the wait comes
// after. Waiting first (FOR UPDATE, then the update, in one transaction)
// could starve: PostgreSQL grants a KEY SHARE lock to every newcomer while
// others hold one, even with a FOR UPDATE waiting, so an earlier activation
// appending back to back kept the lock held for as long as it liked (its
// appends still passed the check). Once the epoch has moved, each of its
// writes is refused and it stops, so the wait ends. A writer that read the
// old epoch while the update was in flight holds its lock on the new row
// version as well (PostgreSQL carries share locks along the update chain),
// so it is waited for too. SQLite needs no wait: BEGIN IMMEDIATE serialises
// writers, so none is in flight.
func (s *Store) awaitEarlierEpochs(ctx context.Context, table, where string, args ...any) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var got int64
		err := s.lock(tx.NewSelect().TableExpr(table).Column("epoch").Where(where, args...), lockUpdate).Scan(ctx, &got)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // deleted meanwhile: nothing left to read
		}
		return err
	})
}

// fenceRow checks, inside tx, that the row of table that where selects
// exists and still carries epoch, and locks it (lockShare) so an activation
// waits for the write (awaitEarlierEpochs): NotFound(what) when it is gone,
// ErrSuperseded when a newer activation took it.
func (s *Store) fenceRow(ctx context.Context, tx bun.Tx, table, what string, epoch int64, where string, args ...any) error {
	var current int64
	err := s.lock(tx.NewSelect().TableExpr(table).Column("epoch").Where(where, args...), lockShare).Scan(ctx, &current)
	if err == nil && s.dialect == DialectPostgres {
		// Read again after the lock, in a statement of its own (see
		// liveIncarnations: a KEY SHARE read may return the epoch as it
		// was before an activation's committed update).
		err = tx.NewSelect().TableExpr(table).Column("epoch").Where(where, args...).Scan(ctx, &current)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return semvec.NotFound(what)
	case err != nil:
		return err
	case current != epoch:
		return refusedEpoch(current, what)
	}
	return nil
}

// fenceOff marks the rows of table that where selects (the row of an actor
// about to be deleted) as being deleted, in a transaction of its own: their
// epoch becomes negative (deletingEpoch), so from its commit on the writes
// of their current activations are refused as NotFound, as they are once
// the row is gone, and those actors stop. A delete's FOR UPDATE that
// follows then waits only for the writes already under way: without this,
// a session, cluster or region whose actor wrote back to back kept its row
// under KEY SHARE locks and starved the delete (see awaitEarlierEpochs).
// SQLite serialises writers and needs none. If the delete then fails, its
// caller lifts the mark again (unmark): the live actors' writes are then
// refused as superseded (they stop, and the next request activates them
// again), not as deleted. Should that fail too, the next activation still
// takes a positive epoch (nextEpoch).
func (s *Store) fenceOff(ctx context.Context, table, where string, args ...any) (unmark func(), err error) {
	if s.dialect != DialectPostgres {
		return func() {}, nil
	}
	err = s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		_, err := db.NewUpdate().TableExpr(table).Set(deletingEpoch).Where(where, args...).Exec(ctx)
		return err
	})
	unmark = func() {
		err := s.run(context.WithoutCancel(ctx), func(ctx context.Context, db bun.IDB) error {
			_, err := db.NewUpdate().TableExpr(table).Set("epoch = abs(epoch)").Where("("+where+") AND epoch < 0", args...).Exec(ctx)
			return err
		})
		if err != nil {
			s.log.Warn("a failed deletion's mark was not lifted: the actor stops at its next write", "table", table, "err", err)
		}
	}
	return unmark, err
}

// lockOwnerList serialises, until tx ends, the additions to owner's list
// named list (its clusters, its regions), so that withinCap counts exactly
// on PostgreSQL, where no parent row exists to lock (a transaction-scoped
// advisory lock on the pair's hash; a collision only serialises two lists
// more). SQLite serialises every writer already.
func (s *Store) lockOwnerList(ctx context.Context, tx bun.Tx, list, owner string) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", list+":"+owner)
	return err
}

// rowMark selects the rows a deletion marks (fenceOff): where, with args,
// in table.
type rowMark struct {
	table, where string
	args         []any
}

// deleteMarked is a deletion: it marks the rows of marks (fenceOff), then
// runs fn in a transaction; when that fails, the marks are lifted again.
// Once begun, it runs to its end (or the store's timeout) whatever its
// caller does: a deletion cancelled after its marks would leave its actors'
// writes refused.
func (s *Store) deleteMarked(ctx context.Context, marks []rowMark, fn func(ctx context.Context, tx bun.Tx) error) error {
	ctx = context.WithoutCancel(ctx)
	var unmarks []func()
	err := func() error {
		for _, m := range marks {
			unmark, err := s.fenceOff(ctx, m.table, m.where, m.args...)
			if err != nil {
				return err
			}
			unmarks = append(unmarks, unmark)
		}
		return s.inTx(ctx, fn)
	}()
	if err != nil {
		for _, unmark := range unmarks {
			unmark()
		}
	}
	return err
}

// Epoch updates. An activation takes the next epoch (nextEpoch): positive,
// above every epoch the row had. A row being deleted (fenceOff) carries the
// negation of such an epoch (deletingEpoch): it matches no activation, and
// a write refused by it is NotFound, not ErrSuperseded (no newer activation
// exists; the resource is going away).
const (
	nextEpoch     = "epoch = abs(epoch) + 1"
	deletingEpoch = "epoch = -(abs(epoch) + 1)"
)

// refusedEpoch is why a write of an activation holding epoch mine is
// refused by a row whose epoch is current (!= mine).
func refusedEpoch(current int64, what string) error {
	if current < 0 {
		return semvec.NotFound(what)
	}
	return ErrSuperseded
}
