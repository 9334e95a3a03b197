package persistence

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/semvec-go/semvec"
)

// ActivateNetwork takes the next epoch of owner's network state for an
// activation of its network actor and returns it, creating the row (with
// no state yet: LoadNetworkState answers NotFound) when there is none. From
// then on, earlier activations' saves are refused (ErrSuperseded); it
// returns once the saves of earlier epochs still under way have committed
// (awaitEarlierEpochs), so a LoadNetworkState that follows sees them.
func (s *Store) ActivateNetwork(ctx context.Context, owner string) (epoch int64, err error) {
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().
			Model(&networkStateModel{Owner: owner, Data: []byte{}, UpdatedAt: s.timestamp(time.Time{})}).
			On("CONFLICT (owner) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewUpdate().TableExpr("network_states").Set(nextEpoch).Where("owner = ?", owner).Exec(ctx); err != nil {
			return err
		}
		return tx.NewSelect().TableExpr("network_states").Column("epoch").Where("owner = ?", owner).Scan(ctx, &epoch)
	})
	if err != nil {
		return 0, err
	}
	return epoch, s.awaitEarlierEpochs(ctx, "network_states", "owner = ?", owner)
}

// NetworkState is an owner's network state as stored: Data, the state
// without its user partitions, and Partitions, the partitions' (by user
// id), each in a row of its own (table network_state_partitions), so that
// a change rewrites only the partitions it changed.
type NetworkState struct {
	Data []byte
	// Partitions: to SaveNetworkState, the partitions to write (the others
	// stored are kept, unless All); from LoadNetworkState, all of them.
	Partitions map[string][]byte
	// All (SaveNetworkState): Partitions are all the state's partitions;
	// the stored partitions of other users are deleted.
	All bool
}

// SaveNetworkState replaces owner's serialised network state (user
// partitions, trust scores) for the activation of epoch (ActivateNetwork):
// st.Data, and the partitions st holds (every other stored one deleted when
// st.All), in one transaction. ErrSuperseded, and nothing written, when the
// row holds another epoch (a newer activation took it) or is gone.
func (s *Store) SaveNetworkState(ctx context.Context, owner string, epoch int64, st NetworkState) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		err := s.fenceRow(ctx, tx, "network_states", "Network state", epoch, "owner = ?", owner)
		if semvec.KindOf(err) == semvec.KindNotFound {
			return ErrSuperseded // no activation holds it: the next one creates it again
		}
		if err != nil {
			return err
		}
		// Blobs are bound, not inlined by bun (boundQuery): as hex literals
		// SQLite parsed twice their size while holding its write lock.
		if _, err := s.boundQuery().sql("UPDATE network_states SET data = ").blob(st.Data).
			sql(", updated_at = ? WHERE owner = ?", s.timestamp(time.Time{}), owner).exec(ctx, tx); err != nil {
			return err
		}
		users := slices.Sorted(maps.Keys(st.Partitions))
		if st.All {
			del := tx.NewDelete().TableExpr("network_state_partitions").Where("owner = ?", owner)
			if len(users) > 0 {
				del = del.Where("user_id NOT IN (?)", bun.List(users))
			}
			if _, err := del.Exec(ctx); err != nil {
				return err
			}
		}
		if len(users) == 0 {
			return nil
		}
		q := s.boundQuery().sql("INSERT INTO network_state_partitions (owner, user_id, data) VALUES ")
		for i, user := range users {
			if i > 0 {
				q.sql(", ")
			}
			q.sql("(?, ?, ", owner, user).blob(st.Partitions[user]).sql(")")
		}
		_, err = q.sql(" ON CONFLICT (owner, user_id) DO UPDATE SET data = EXCLUDED.data").exec(ctx, tx)
		return err
	})
}

// LoadNetworkState returns owner's network state with all its partitions,
// or NotFound("Network state") when none was saved (no row, or only the one
// an activation created).
func (s *Store) LoadNetworkState(ctx context.Context, owner string) (NetworkState, error) {
	var st NetworkState
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var m networkStateModel
		err := tx.NewSelect().Model(&m).Where("ns.owner = ?", owner).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) || err == nil && len(m.Data) == 0 {
			return semvec.NotFound("Network state")
		}
		if err != nil {
			return err
		}
		var parts []networkStatePartitionModel
		if err := tx.NewSelect().Model(&parts).Where("owner = ?", owner).Scan(ctx); err != nil {
			return err
		}
		st = NetworkState{Data: m.Data, Partitions: make(map[string][]byte, len(parts))}
		for _, p := range parts {
			st.Partitions[p.UserID] = p.Data
		}
		return nil
	})
	if err != nil {
		return NetworkState{}, err
	}
	return st, nil
}

type networkStatePartitionModel struct {
	bun.BaseModel `bun:"table:network_state_partitions"`
	Owner         string `bun:"owner,pk"`
	UserID        string `bun:"user_id,pk"`
	Data          []byte `bun:"data,notnull"`
}

type networkPartitionModel struct {
	bun.BaseModel `bun:"table:network_partitions"`
	Owner         string `bun:"owner,pk"`
	UserID        string `bun:"user_id,pk"`
	Data          []byte `bun:"data,notnull"`
}

// SavePartitionStates stores (inserts or replaces) the saved session states
// of owner's user partition user, for the network activation of epoch
// (ActivateNetwork), fenced as SaveNetworkState is: ErrSuperseded, and
// nothing written, when the network state's row holds another epoch or is
// gone. A superseded activation (another server on the same database, a
// process paused past a failover) would otherwise overwrite, in a switch's
// first step, the states a newer activation had saved for that partition,
// before its own commit was refused.
func (s *Store) SavePartitionStates(ctx context.Context, owner string, epoch int64, user string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		err := s.fenceRow(ctx, tx, "network_states", "Network state", epoch, "owner = ?", owner)
		if semvec.KindOf(err) == semvec.KindNotFound {
			return ErrSuperseded
		}
		if err != nil {
			return err
		}
		_, err = tx.NewInsert().Model(&networkPartitionModel{Owner: owner, UserID: user, Data: data}).
			On("CONFLICT (owner, user_id) DO UPDATE").Set("data = EXCLUDED.data").Exec(ctx)
		return err
	})
}

// LoadPartitionStates returns the saved session states of owner's user
// partition user, or NotFound("User partition") when none were saved.
func (s *Store) LoadPartitionStates(ctx context.Context, owner, user string) ([]byte, error) {
	var m networkPartitionModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("owner = ? AND user_id = ?", owner, user).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("User partition")
		}
		return err
	})
	return m.Data, err
}
