package persistence

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"
)

// boundQuery builds a statement whose blobs are bound parameters. bun
// inlines every value in the SQL text, a []byte as a hex literal twice its
// size, so a batch of log entries or checkpoints would make the database
// parse (and modernc's allocator map and unmap) megabytes of text per
// commit. Other values are formatted by bun, as in every other statement.
type boundQuery struct {
	gen  schema.QueryGen
	pg   bool
	text []byte
	args []any
}

func (s *Store) boundQuery() *boundQuery {
	return &boundQuery{gen: s.db.QueryGen(), pg: s.dialect == DialectPostgres}
}

// sql appends query with bun's formatting of args (? placeholders).
func (q *boundQuery) sql(query string, args ...any) *boundQuery {
	q.text = q.gen.AppendQuery(q.text, query, args...)
	return q
}

// blob appends a placeholder bound to b (never NULL: an empty blob for nil).
func (q *boundQuery) blob(b []byte) *boundQuery {
	q.args = append(q.args, notNil(b))
	if q.pg {
		q.text = strconv.AppendInt(append(q.text, '$'), int64(len(q.args)), 10)
	} else {
		q.text = append(q.text, '?')
	}
	return q
}

// exec runs the statement in tx through database/sql, bypassing bun's
// formatting, so the blobs travel as parameters.
func (q *boundQuery) exec(ctx context.Context, tx bun.Tx) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, string(q.text), q.args...)
}

// notNil is b, or an empty blob for nil (a nil []byte binds as NULL).
func notNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
