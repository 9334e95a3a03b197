package persistence

import (
	"context"

	"github.com/uptrace/bun"
)

// The layers' logs: a region's drift events and an observer's anomalies, each
// an ordered list of opaque entries (the actors' protobuf messages) numbered
// by the actor that appends them, bounded to the newest entries.

// LoggedItem is one entry of a layer log.
type LoggedItem struct {
	Seq  int64
	Data []byte
}

type regionEventModel struct {
	bun.BaseModel `bun:"table:region_events"`
	Owner         string `bun:"owner,pk"`
	RegionID      string `bun:"region_id,pk"`
	Seq           int64  `bun:"seq,pk"`
	Data          []byte `bun:"data,notnull"`
}

type observerAnomalyModel struct {
	bun.BaseModel `bun:"table:observer_anomalies"`
	Owner         string `bun:"owner,pk"`
	ObserverID    string `bun:"observer_id,pk"`
	Seq           int64  `bun:"seq,pk"`
	Data          []byte `bun:"data,notnull"`
}

// layerLog names one layer log: its table and the columns that key it.
type layerLog struct {
	table, idColumn string
}

var (
	regionEvents      = layerLog{"region_events", "region_id"}
	observerAnomalies = layerLog{"observer_anomalies", "observer_id"}
)

// appendItems inserts items into log (owner, id) and deletes all but its
// newest keep entries, in one transaction. The parent row missing (a region
// or observer deleted meanwhile) fails the foreign key: NotFound is not
// distinguished, the caller drops the entries either way.
func (s *Store) appendItems(ctx context.Context, log layerLog, owner, id string, items []LoggedItem, keep int, model func(LoggedItem) any) error {
	if len(items) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		for _, it := range items {
			if _, err := tx.NewInsert().Model(model(it)).Exec(ctx); err != nil {
				return err
			}
		}
		cut := items[len(items)-1].Seq - int64(keep)
		_, err := tx.NewDelete().TableExpr(log.table).
			Where("owner = ? AND "+log.idColumn+" = ? AND seq <= ?", owner, id, cut).Exec(ctx)
		return err
	})
}

// loadItems returns the newest limit entries of log (owner, id), oldest first.
func (s *Store) loadItems(ctx context.Context, log layerLog, owner, id string, limit int) ([]LoggedItem, error) {
	var out []LoggedItem
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		rows, err := db.NewSelect().TableExpr(log.table).Column("seq", "data").
			Where("owner = ? AND "+log.idColumn+" = ?", owner, id).
			OrderExpr("seq DESC").Limit(int64(limit)).Rows(ctx)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it LoggedItem
			if err := rows.Scan(&it.Seq, &it.Data); err != nil {
				return err
			}
			out = append(out, it)
		}
		return rows.Err()
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// AppendRegionEvents appends drift events to owner's region regionID and
// keeps its newest keep.
func (s *Store) AppendRegionEvents(ctx context.Context, owner, regionID string, items []LoggedItem, keep int) error {
	return s.appendItems(ctx, regionEvents, owner, regionID, items, keep, func(it LoggedItem) any {
		return &regionEventModel{Owner: owner, RegionID: regionID, Seq: it.Seq, Data: it.Data}
	})
}

// LoadRegionEvents returns the region's newest limit drift events, oldest
// first.
func (s *Store) LoadRegionEvents(ctx context.Context, owner, regionID string, limit int) ([]LoggedItem, error) {
	return s.loadItems(ctx, regionEvents, owner, regionID, limit)
}

// AppendAnomalies appends anomalies to owner's observer observerID and keeps
// its newest keep.
func (s *Store) AppendAnomalies(ctx context.Context, owner, observerID string, items []LoggedItem, keep int) error {
	return s.appendItems(ctx, observerAnomalies, owner, observerID, items, keep, func(it LoggedItem) any {
		return &observerAnomalyModel{Owner: owner, ObserverID: observerID, Seq: it.Seq, Data: it.Data}
	})
}

// LoadAnomalies returns the observer's newest limit anomalies, oldest first.
func (s *Store) LoadAnomalies(ctx context.Context, owner, observerID string, limit int) ([]LoggedItem, error) {
	return s.loadItems(ctx, observerAnomalies, owner, observerID, limit)
}

// ClearAnomalies deletes every anomaly of the observer.
func (s *Store) ClearAnomalies(ctx context.Context, owner, observerID string) error {
	return s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		_, err := db.NewDelete().TableExpr(observerAnomalies.table).
			Where("owner = ? AND observer_id = ?", owner, observerID).Exec(ctx)
		return err
	})
}
