package persistence

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"

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

type observerAnomalyModel struct {
	bun.BaseModel `bun:"table:observer_anomalies"`
	Owner         string `bun:"owner,pk"`
	ObserverID    string `bun:"observer_id,pk"`
	Seq           int64  `bun:"seq,pk"`
	Data          []byte `bun:"data,notnull"`
}

// layerLog names one layer log: its table, the columns that key it, and
// the table of the rows it belongs to (whose epoch fences its writers).
type layerLog struct {
	table, idColumn string
	parent, what    string
}

var (
	regionEvents      = layerLog{"region_events", "region_id", "regions", "Region"}
	observerAnomalies = layerLog{"observer_anomalies", "observer_id", "observers", "Observer"}
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

// appendItemsTx inserts items into log (owner, id) and deletes all but its
// newest keep entries, in tx, once fenced (see fence).
func appendItemsTx(ctx context.Context, tx bun.Tx, log layerLog, owner, id string, items []LoggedItem, keep int, model func(LoggedItem) any) error {
	if len(items) == 0 {
		return nil
	}
	for _, it := range items {
		if _, err := tx.NewInsert().Model(model(it)).Exec(ctx); err != nil {
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
// batch again when it was not told the first write landed. It is
// AppendRegionEventBatches of one batch.
func (s *Store) AppendRegionEvents(ctx context.Context, owner, regionID string, epoch int64, items []LoggedItem, keep int) error {
	refused, err := s.AppendRegionEventBatches(ctx, []RegionEvents{{Owner: owner, RegionID: regionID, Epoch: epoch, Items: items}}, keep)
	if err != nil {
		return err
	}
	return refused[0]
}

// RegionEvents are drift events of one region, written for the activation
// of its actor that holds Epoch.
type RegionEvents struct {
	Owner, RegionID string
	Epoch           int64
	Items           []LoggedItem
}

// AppendRegionEventBatches appends the events of several regions in one
// transaction (the regions' group commit), each batch as
// AppendRegionEvents does: fenced by its activation's epoch, its events
// already stored kept as they are (its region sends the same events again
// after a write whose answer it did not get, a COMMIT that landed with its
// answer lost, and only that region numbers them), its region's log cut to
// the newest keep.
// refused[i] is why batch i was not written (ErrSuperseded, NotFound): the
// other batches are written all the same. err is for the transaction as a
// whole: nothing was written, or, for a COMMIT whose answer was lost,
// perhaps everything.
//
// The regions are fenced in (owner, region) order, so two group commits
// on PostgreSQL lock their rows in one order. On SQLite every row is
// written by one prepared single-row INSERT (see insertLog); on PostgreSQL
// each batch is one multi-row INSERT.
func (s *Store) AppendRegionEventBatches(ctx context.Context, batches []RegionEvents, keep int) (refused []error, err error) {
	refused = make([]error, len(batches))
	order := make([]int, 0, len(batches))
	for i, b := range batches {
		if len(b.Items) > 0 {
			order = append(order, i)
		}
	}
	if len(order) == 0 {
		return refused, nil
	}
	slices.SortStableFunc(order, func(i, j int) int {
		return cmp.Or(cmp.Compare(batches[i].Owner, batches[j].Owner), cmp.Compare(batches[i].RegionID, batches[j].RegionID))
	})
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		clear(refused)
		var insert *sql.Stmt // SQLite's, prepared once per transaction
		if s.dialect == DialectSQLite {
			stmt, err := tx.Tx.PrepareContext(ctx, "INSERT INTO region_events (owner, region_id, seq, data) VALUES (?, ?, ?, ?) ON CONFLICT (owner, region_id, seq) DO NOTHING")
			if err != nil {
				return err
			}
			defer stmt.Close()
			insert = stmt
		}
		for _, i := range order {
			b := batches[i]
			if err := s.fence(ctx, tx, regionEvents, b.Owner, b.RegionID, b.Epoch); err != nil {
				if errors.Is(err, ErrSuperseded) || semvec.KindOf(err) == semvec.KindNotFound {
					refused[i] = err
					continue
				}
				return err
			}
			if err := s.insertRegionEvents(ctx, tx, insert, b); err != nil {
				return err
			}
			cut := b.Items[len(b.Items)-1].Seq - int64(keep)
			if cut <= 0 {
				continue // nothing numbered that low
			}
			if _, err := tx.NewDelete().TableExpr(regionEvents.table).
				Where("owner = ? AND region_id = ? AND seq <= ?", b.Owner, b.RegionID, cut).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return refused, nil
}

// insertRegionEvents writes b's events in tx, skipping those already
// stored: with insert (SQLite's prepared statement) one row at a time,
// else in one statement.
func (s *Store) insertRegionEvents(ctx context.Context, tx bun.Tx, insert *sql.Stmt, b RegionEvents) error {
	if insert != nil {
		for _, it := range b.Items {
			if _, err := insert.ExecContext(ctx, b.Owner, b.RegionID, it.Seq, notNil(it.Data)); err != nil {
				return err
			}
		}
		return nil
	}
	q := s.boundQuery().sql("INSERT INTO region_events (owner, region_id, seq, data) VALUES ")
	for i, it := range b.Items {
		if i > 0 {
			q.sql(", ")
		}
		q.sql("(?, ?, ?, ", b.Owner, b.RegionID, it.Seq).blob(it.Data).sql(")")
	}
	q.sql(" ON CONFLICT (owner, region_id, seq) DO NOTHING")
	_, err := q.exec(ctx, tx)
	return err
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
