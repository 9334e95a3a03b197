package persistence

import (
	"context"
	"database/sql"
	"errors"
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

// SaveNetworkState replaces owner's serialised network state (user
// partitions, trust scores) for the activation of epoch (ActivateNetwork):
// ErrSuperseded, and nothing written, when the row holds another epoch (a
// newer activation took it) or is gone.
func (s *Store) SaveNetworkState(ctx context.Context, owner string, epoch int64, data []byte) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		err := s.fenceRow(ctx, tx, "network_states", "Network state", epoch, "owner = ?", owner)
		if semvec.KindOf(err) == semvec.KindNotFound {
			return ErrSuperseded // no activation holds it: the next one creates it again
		}
		if err != nil {
			return err
		}
		// The state is bound, not inlined by bun (boundQuery): at the
		// enrolment cap it is ~4.4 MB, and as a hex literal SQLite parsed
		// twice that while holding its write lock.
		_, err = s.boundQuery().sql("UPDATE network_states SET data = ").blob(data).
			sql(", updated_at = ? WHERE owner = ?", s.timestamp(time.Time{}), owner).exec(ctx, tx)
		return err
	})
}

// LoadNetworkState returns owner's network state, or NotFound("Network
// state") when none was saved (no row, or only the one an activation
// created).
func (s *Store) LoadNetworkState(ctx context.Context, owner string) ([]byte, error) {
	var m networkStateModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("ns.owner = ?", owner).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) || err == nil && len(m.Data) == 0 {
			return semvec.NotFound("Network state")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

type networkPartitionModel struct {
	bun.BaseModel `bun:"table:network_partitions"`
	Owner         string `bun:"owner,pk"`
	UserID        string `bun:"user_id,pk"`
	Data          []byte `bun:"data,notnull"`
}

// SavePartitionStates stores (inserts or replaces) the saved session states
// of owner's user partition user.
func (s *Store) SavePartitionStates(ctx context.Context, owner, user string, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	return s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		_, err := db.NewInsert().Model(&networkPartitionModel{Owner: owner, UserID: user, Data: data}).
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
