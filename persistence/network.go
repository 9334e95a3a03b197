package persistence

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"

	"github.com/semvec-go/semvec"
)

// SaveNetworkState stores (inserts or replaces) owner's serialised network
// state (user partitions, trust scores).
func (s *Store) SaveNetworkState(ctx context.Context, owner string, data []byte) error {
	if data == nil {
		data = []byte{} // NOT NULL
	}
	return s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		_, err := db.NewInsert().
			Model(&networkStateModel{Owner: owner, Data: data, UpdatedAt: s.timestamp(time.Time{})}).
			On("CONFLICT (owner) DO UPDATE").
			Set("data = EXCLUDED.data").
			Set("updated_at = EXCLUDED.updated_at").
			Exec(ctx)
		return err
	})
}

// LoadNetworkState returns owner's network state, or NotFound("Network state").
func (s *Store) LoadNetworkState(ctx context.Context, owner string) ([]byte, error) {
	var m networkStateModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().Model(&m).Where("ns.owner = ?", owner).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
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
