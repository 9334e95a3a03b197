package persistence

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"time"

	"github.com/uptrace/bun"

	"github.com/semvec-go/semvec"
)

// LogEntry is one change in a session's durable log. Seq numbers a
// session's entries from 1 without gaps; Data is the encoded change.
type LogEntry struct {
	Owner, SessionID string
	Incarnation      string // must be the session row's, else the entry is refused
	Epoch            int64  // must be the session row's, else the entry is refused (ErrSuperseded)
	Seq              int64
	Data             []byte
}

type logModel struct {
	bun.BaseModel `bun:"table:session_log,alias:l"`
	Owner         string `bun:"owner,pk"`
	SessionID     string `bun:"session_id,pk"`
	Seq           int64  `bun:"seq,pk"`
	Data          []byte `bun:"data,notnull"`
}

// Checkpoint is a session's saved state and the last log entry it covers.
type Checkpoint struct {
	Data []byte
	At   time.Time
	Seq  int64
}

// AppendLog appends entries of any number of sessions in one transaction,
// so that many requests share one commit (group commit). An entry whose
// session does not exist with the entry's incarnation is not written and its
// slot in refused is NotFound("Session"); an entry of an activation that a
// newer one has superseded (its epoch is no longer the row's) is not written
// either, and its slot is ErrSuperseded; when the log already holds the seq
// of an entry, none of that session's entries in entries is written, and
// their slots are ErrBehindLog (the first of them collides, the others
// follow it and must not land without it); err (KindUnavailable for a
// database failure) means nothing was written.
func (s *Store) AppendLog(ctx context.Context, entries []LogEntry) (refused []error, err error) {
	refused = make([]error, len(entries))
	if len(entries) == 0 {
		return refused, nil
	}
	// Sessions with an entry the log already holds: found by an insert, the
	// transaction is rolled back and done again without them (rare: only
	// after a commit whose outcome was lost).
	behind := map[incarnationOf]bool{}
	for {
		again := false
		err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
			clear(refused)
			again = false
			present, rows, err := s.appendLogTx(ctx, tx, entries, refused, behind)
			if err != nil {
				return err
			}
			for _, n := range present {
				behind[incarnationOf{rows[n].Owner, rows[n].SessionID, rows[n].Incarnation}] = true
			}
			if len(present) > 0 {
				again = true
				return errAppendAgain // rolls back
			}
			return nil
		})
		if !again {
			return refused, err
		}
	}
}

var errAppendAgain = errors.New("log append: again without the sessions behind their log")

// appendLogTx writes, in tx, the entries whose session is live with their
// incarnation and epoch and not in behind, sets the others' refusals, and
// returns the rows it tried with the indexes of those the log already held.
func (s *Store) appendLogTx(ctx context.Context, tx bun.Tx, entries []LogEntry, refused []error, behind map[incarnationOf]bool) (present []int, rows []LogEntry, err error) {
	seen := make(map[incarnationOf]bool, len(entries))
	keys := make([]incarnationOf, 0, len(entries))
	for _, e := range entries {
		if k := (incarnationOf{e.Owner, e.SessionID, e.Incarnation}); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	live := make(map[incarnationOf]int64, len(keys))
	for start := 0; start < len(keys); start += snapshotChunk { // an OR chain per chunk
		chunk, err := s.liveIncarnations(ctx, tx, keys[start:min(start+snapshotChunk, len(keys))])
		if err != nil {
			return nil, nil, err
		}
		maps.Copy(live, chunk)
	}
	rows = make([]LogEntry, 0, len(entries))
	for i, e := range entries {
		k := incarnationOf{e.Owner, e.SessionID, e.Incarnation}
		switch epoch, ok := live[k]; {
		case !ok:
			refused[i] = semvec.NotFound("Session")
		case epoch != e.Epoch:
			refused[i] = refusedEpoch(epoch, "Session")
		case behind[k]:
			refused[i] = ErrBehindLog
		default:
			rows = append(rows, e)
		}
	}
	present, err = s.insertLog(ctx, tx, rows)
	return present, rows, err
}

// insertLog writes rows with their data bound as parameters, and returns
// the indexes of the rows it did not write because the log already holds
// their seq (ErrBehindLog). PostgreSQL gets one multi-row INSERT (one round
// trip) that skips those rows and returns the ones it wrote. SQLite, in
// process, gets a prepared single-row INSERT per row: SQLite compiles a
// multi-row VALUES as a SELECT, which makes it copy every page the
// statement changes to a statement journal first (to undo a half-done
// statement); a single-row INSERT needs none, and one refused by the
// primary key leaves the transaction and the other rows as they were.
func (s *Store) insertLog(ctx context.Context, tx bun.Tx, rows []LogEntry) (present []int, err error) {
	if len(rows) == 0 {
		return nil, nil
	}
	if s.dialect == DialectSQLite {
		stmt, err := tx.Tx.PrepareContext(ctx, "INSERT INTO session_log (owner, session_id, seq, data) VALUES (?, ?, ?, ?)")
		if err != nil {
			return nil, err
		}
		defer stmt.Close()
		for i, e := range rows {
			if _, err := stmt.ExecContext(ctx, e.Owner, e.SessionID, e.Seq, notNil(e.Data)); err != nil {
				if !isUniqueViolation(err) {
					return nil, err
				}
				present = append(present, i)
			}
		}
		return present, nil
	}
	q := s.boundQuery().sql("INSERT INTO session_log (owner, session_id, seq, data) VALUES ")
	for i, e := range rows {
		if i > 0 {
			q.sql(", ")
		}
		q.sql("(?, ?, ?, ", e.Owner, e.SessionID, e.Seq).blob(e.Data).sql(")")
	}
	q.sql(" ON CONFLICT (owner, session_id, seq) DO NOTHING RETURNING owner, session_id, seq")
	res, err := tx.Tx.QueryContext(ctx, string(q.text), q.args...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	type key struct {
		owner, id string
		seq       int64
	}
	written := make(map[key]bool, len(rows))
	for res.Next() {
		var k key
		if err := res.Scan(&k.owner, &k.id, &k.seq); err != nil {
			return nil, err
		}
		written[k] = true
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	for i, e := range rows {
		if !written[key{e.Owner, e.SessionID, e.Seq}] {
			present = append(present, i)
		}
	}
	return present, nil
}

// ErrSuperseded refuses a write of a session activation that a newer
// activation has superseded (fencing, see SessionRecord.Epoch): the writer
// must stop, and its caller retry against the newer one.
var ErrSuperseded = semvec.Errorf(semvec.KindUnavailable, "this session is now served by a newer activation; retry")

// ErrBehindLog refuses a log entry whose seq the session's log already
// holds. Within one activation this happens only after a commit whose
// outcome its writer could not learn (the connection broke during COMMIT):
// the commit was reported failed, but the entry reached the database, so
// the activation's state lacks a change its log has. Like a superseded
// activation it must stop, and the next activation replays the log.
var ErrBehindLog = semvec.Errorf(semvec.KindUnavailable, "this session's log holds a change its state lacks (a commit's outcome was lost); retry")

type incarnationOf struct{ owner, id, incarnation string }

// liveIncarnations locks (lockShare), in (owner, id) order, the session
// rows that exist with one of keys' incarnations, and returns those keys
// with each row's current epoch. The snapshot and log writes land only in
// them, and only from the activation holding that epoch.
//
// On PostgreSQL the epochs are read again after the lock, in a statement of
// its own: a KEY SHARE lock does not conflict with the activation's update
// of the epoch (not a key column), so a locking read whose snapshot was
// taken before that update committed locks the row and returns the epoch
// as it was. An activation that had already waited for the row's lockers
// and read the log would then miss the entry written under the old epoch.
// The second statement gets a snapshot taken after the lock: if the update
// had committed by then, it reads the new epoch and the write is refused;
// if not, the lock was taken before the update committed, and the
// activation waits for it (awaitEarlierEpochs).
func (s *Store) liveIncarnations(ctx context.Context, tx bun.Tx, keys []incarnationOf) (map[incarnationOf]int64, error) {
	if s.dialect == DialectSQLite {
		return liveIncarnationsSQLite(ctx, tx, keys)
	}
	oneOf := func(q *bun.SelectQuery) *bun.SelectQuery {
		for _, k := range keys {
			q = q.WhereOr("(s.owner = ? AND s.id = ? AND s.incarnation = ?)", k.owner, k.id, k.incarnation)
		}
		return q
	}
	var live []sessionModel
	q := tx.NewSelect().Model(&live).Column("owner", "id", "incarnation").WhereGroup(" AND ", oneOf).OrderExpr("s.owner, s.id")
	if err := s.lock(q, lockShare).Scan(ctx); err != nil {
		return nil, err
	}
	// The same rows: the lock keeps them from being deleted, and no other
	// row can take one of these (random) incarnations.
	live = live[:0]
	if err := tx.NewSelect().Model(&live).Column("owner", "id", "incarnation", "epoch").WhereGroup(" AND ", oneOf).Scan(ctx); err != nil {
		return nil, err
	}
	out := make(map[incarnationOf]int64, len(live))
	for _, m := range live {
		out[incarnationOf{m.Owner, m.ID, m.Incarnation}] = m.Epoch
	}
	return out, nil
}

// LoadLog returns the log entries of owner's session id after seq, in order.
func (s *Store) LoadLog(ctx context.Context, owner, id string, after int64) ([]LogEntry, error) {
	var rows []logModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model(&rows).Where("l.owner = ? AND l.session_id = ? AND l.seq > ?", owner, id, after).
			OrderExpr("l.seq").Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make([]LogEntry, len(rows))
	for i, r := range rows {
		out[i] = LogEntry{Owner: r.Owner, SessionID: r.SessionID, Seq: r.Seq, Data: r.Data}
	}
	return out, nil
}

// LogStats returns how many log entries owner's session id holds and their
// total size in bytes.
func (s *Store) LogStats(ctx context.Context, owner, id string) (entries, bytes int64, err error) {
	err = s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return db.NewSelect().Model((*logModel)(nil)).
			ColumnExpr("COUNT(*), COALESCE(SUM(LENGTH(l.data)), 0)").
			Where("l.owner = ? AND l.session_id = ?", owner, id).Scan(ctx, &entries, &bytes)
	})
	return entries, bytes, err
}

// liveIncarnationsSQLite is liveIncarnations on SQLite, which needs no row
// locks (BEGIN IMMEDIATE serialises writers) and runs in process: a prepared
// lookup per key costs no round trip, and SQLite parses an OR chain of a
// hundred keys more slowly than it runs a hundred lookups.
func liveIncarnationsSQLite(ctx context.Context, tx bun.Tx, keys []incarnationOf) (map[incarnationOf]int64, error) {
	stmt, err := tx.Tx.PrepareContext(ctx, "SELECT epoch FROM sessions WHERE owner = ? AND id = ? AND incarnation = ?")
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	out := make(map[incarnationOf]int64, len(keys))
	for _, k := range keys {
		var epoch int64
		switch err := stmt.QueryRowContext(ctx, k.owner, k.id, k.incarnation).Scan(&epoch); {
		case err == nil:
			out[k] = epoch
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
	}
	return out, nil
}
