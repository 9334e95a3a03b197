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
