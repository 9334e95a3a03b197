package migrations

import (
	"context"
	"errors"

	"github.com/uptrace/bun"
)

// Migration 20261208000001: an owner's network state keeps each user
// partition in a row of its own, so that a change rewrites only the
// partitions it changed instead of the whole state (up to ~4.4 MB at the
// enrolment cap). network_states.data keeps the rest of the state; a state
// saved before this migration holds its partitions there too, and its
// first save moves them here (the network actor reads both forms).

type networkStatePartition20261208 struct {
	bun.BaseModel `bun:"table:network_state_partitions"`
	Owner         string `bun:"owner,pk"`
	UserID        string `bun:"user_id,pk"`
	Data          []byte `bun:"data,notnull"`
}

func addNetworkStatePartitions(ctx context.Context, db *bun.DB) error {
	return createTables(ctx, db, []table{{model: (*networkStatePartition20261208)(nil)}})
}

func init() {
	Migrations.MustRegister(addNetworkStatePartitions, func(context.Context, *bun.DB) error {
		return errors.New("migration 20261208000001 (network state partitions) cannot be reverted: restore a backup")
	})
}
