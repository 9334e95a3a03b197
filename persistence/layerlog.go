package persistence

import (
	"context"
	"database/sql"
	"errors"

	"github.com/uptrace/bun"

	"github.com/semvec-go/semvec"
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

// layerLog names one layer log: its table, the columns that key it, and
// the table of the rows it belongs to (whose epoch fences its writers).
// With resend, an entry whose sequence number is already stored is kept
// as stored instead of failing the write: its writer sends the same
// entries again after a write whose answer it did not get (a COMMIT that
// landed with its answer lost), and only that writer numbers them.
type layerLog struct {
	table, idColumn string
	parent, what    string
	resend          bool
}

var (
	regionEvents      = layerLog{"region_events", "region_id", "regions", "Region", true}
	observerAnomalies = layerLog{"observer_anomalies", "observer_id", "observers", "Observer", false}
)

// activate takes the next epoch of log's parent row (owner, id) for an
// activation of its actor and returns it.
func (s *Store) activate(ctx context.Context, log layerLog, owner, id string) (epoch int64, err error) {
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().TableExpr(log.parent).Set(nextEpoch).Where("owner = ? AND id = ?", owner, id).Exec(ctx)
		if err != nil {
			return err
		}
		if rowsAffected(res) == 0 {
			return semvec.NotFound(log.what)
		}
		return tx.NewSelect().TableExpr(log.parent).Column("epoch").Where("owner = ? AND id = ?", owner, id).Scan(ctx, &epoch)
	})
	if err != nil {
		return 0, err
	}
	return epoch, s.awaitEarlierEpochs(ctx, log.parent, "owner = ? AND id = ?", owner, id)
}

// fence checks, inside tx, that log's parent row (owner, id) exists and
// still carries epoch, and locks it (see fenceRow): NotFound when it is
// gone, ErrSuperseded when a newer activation took it.
func (s *Store) fence(ctx context.Context, tx bun.Tx, log layerLog, owner, id string, epoch int64) error {
	return s.fenceRow(ctx, tx, log.parent, log.what, epoch, "owner = ? AND id = ?", owner, id)
}

// appendItems inserts items into log (owner, id) and deletes all but its
// newest keep entries, in one transaction, if the activation of epoch still
// holds the parent row (see fence).
func (s *Store) appendItems(ctx context.Context, log layerLog, owner, id string, epoch int64, items []LoggedItem, keep int, model func(LoggedItem) any) error {
	if len(items) == 0 {
		return nil
	}
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.fence(ctx, tx, log, owner, id, epoch); err != nil {
			return err
		}
		return appendItemsTx(ctx, tx, log, owner, id, items, keep, model)
	})
}

// appendItemsTx is appendItems inside tx, once fenced.
func appendItemsTx(ctx context.Context, tx bun.Tx, log layerLog, owner, id string, items []LoggedItem, keep int, model func(LoggedItem) any) error {
	if len(items) == 0 {
		return nil
	}
	for _, it := range items {
		q := tx.NewInsert().Model(model(it))
		if log.resend {
			q = q.On("CONFLICT (owner, " + log.idColumn + ", seq) DO NOTHING")
		}
		if _, err := q.Exec(ctx); err != nil {
			return err
		}
	}
	cut := items[len(items)-1].Seq - int64(keep)
	_, err := tx.NewDelete().TableExpr(log.table).
		Where("owner = ? AND "+log.idColumn+" = ? AND seq <= ?", owner, id, cut).Exec(ctx)
	return err
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

// ActivateRegion takes the next epoch of owner's region regionID for an
// activation of its actor: from then on, earlier activations' event writes
// are refused (ErrSuperseded). NotFound("Region") when it does not exist.
func (s *Store) ActivateRegion(ctx context.Context, owner, regionID string) (int64, error) {
	return s.activate(ctx, regionEvents, owner, regionID)
}

// ActivateObserver is ActivateRegion for owner's observer observerID.
func (s *Store) ActivateObserver(ctx context.Context, owner, observerID string) (int64, error) {
	return s.activate(ctx, observerAnomalies, owner, observerID)
}

// AppendRegionEvents appends drift events to owner's region regionID and
// keeps its newest keep, for the activation of epoch (ErrSuperseded when a
// newer one exists, NotFound when the region is gone). An event whose
// sequence number is already stored is left as it is: the region writes a
// batch again when it was not told the first write landed.
func (s *Store) AppendRegionEvents(ctx context.Context, owner, regionID string, epoch int64, items []LoggedItem, keep int) error {
	return s.appendItems(ctx, regionEvents, owner, regionID, epoch, items, keep, func(it LoggedItem) any {
		return &regionEventModel{Owner: owner, RegionID: regionID, Seq: it.Seq, Data: it.Data}
	})
}

// LoadRegionEvents returns the region's newest limit drift events, oldest
// first.
func (s *Store) LoadRegionEvents(ctx context.Context, owner, regionID string, limit int) ([]LoggedItem, error) {
	return s.loadItems(ctx, regionEvents, owner, regionID, limit)
}

// RecordSample writes what one of the observer's samples found, in one
// transaction fenced like AppendRegionEvents: its new anomalies (items, maybe
// none; the newest keep are kept) and the observer's sample state (opaque
// to the store, see LoadSampleState).
func (s *Store) RecordSample(ctx context.Context, owner, observerID string, epoch int64, items []LoggedItem, keep int, state string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.fence(ctx, tx, observerAnomalies, owner, observerID, epoch); err != nil {
			return err
		}
		if err := appendItemsTx(ctx, tx, observerAnomalies, owner, observerID, items, keep, func(it LoggedItem) any {
			return &observerAnomalyModel{Owner: owner, ObserverID: observerID, Seq: it.Seq, Data: it.Data}
		}); err != nil {
			return err
		}
		_, err := tx.NewUpdate().TableExpr(observerAnomalies.parent).Set("sample_state = ?", state).
			Where("owner = ? AND id = ?", owner, observerID).Exec(ctx)
		return err
	})
}

// LoadSampleState returns the sample state the observer's last
// RecordSample wrote ("" when none).
func (s *Store) LoadSampleState(ctx context.Context, owner, observerID string) (string, error) {
	var state sql.NullString
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		err := db.NewSelect().TableExpr(observerAnomalies.parent).Column("sample_state").
			Where("owner = ? AND id = ?", owner, observerID).Scan(ctx, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return semvec.NotFound("Observer")
		}
		return err
	})
	return state.String, err
}

// LoadAnomalies returns the observer's newest limit anomalies, oldest first.
func (s *Store) LoadAnomalies(ctx context.Context, owner, observerID string, limit int) ([]LoggedItem, error) {
	return s.loadItems(ctx, observerAnomalies, owner, observerID, limit)
}

// ClearAnomalies deletes every anomaly of the observer, for the activation
// of epoch (fenced like RecordSample).
func (s *Store) ClearAnomalies(ctx context.Context, owner, observerID string, epoch int64) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := s.fence(ctx, tx, observerAnomalies, owner, observerID, epoch); err != nil {
			return err
		}
		_, err := tx.NewDelete().TableExpr(observerAnomalies.table).
			Where("owner = ? AND observer_id = ?", owner, observerID).Exec(ctx)
		return err
	})
}
