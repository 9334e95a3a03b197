package persistence

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// Audit actions. The mutating methods of Store write their own audit row in
// the same transaction, with the owner as subject; see doc.go for which.
const (
	ActionCreate             = "create"
	ActionDelete             = "delete"
	ActionImport             = "import"
	ActionMemberAdd          = "member_add"
	ActionMemberRemove       = "member_remove"
	ActionRegionAttach       = "region_attach"
	ActionRegionDetach       = "region_detach"
	ActionObserverRegister   = "observer_register"
	ActionObserverUnregister = "observer_unregister"
)

// Audit resource types beyond the session kinds.
const (
	ResourceCluster  = "cluster"
	ResourceRegion   = "region"
	ResourceObserver = "observer"
)

// Default and maximum number of rows AuditLog returns.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// DefaultAuditRetention is how many audit rows the store keeps per subject
// (owner): the newest. Like every other list a tenant can grow, its audit
// log is bounded: each audited change adds a row of about 150 bytes (with
// its index entries) and nothing else removes them, so a tenant creating
// and deleting sessions all day grew the database by gigabytes a day.
// 10,000 rows, about 1.5 MB per tenant, is ten times what AuditLog returns
// at once (MaxAuditLimit). SEMVEC_AUDIT_ROWS_PER_TENANT sets it.
const DefaultAuditRetention = 10_000

// WithAuditRetention sets how many audit rows are kept per subject, the
// newest (default DefaultAuditRetention).
func WithAuditRetention(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.auditKeep = n
		}
	}
}

// auditPruneBatch bounds the rows one prune deletes, so that a write which
// prunes never stalls on a long log: one a previous version let grow, or
// one kept under a higher retention. A full batch makes the subject's next
// insert prune again, so such a log shrinks by a batch per audited change.
const auditPruneBatch = 1000

// auditTrackedSubjects bounds the subjects whose insert count a Store
// keeps. Past it the counts are forgotten, which only makes each subject's
// next insert prune: a subject whose count is unknown is pruned first.
const auditTrackedSubjects = 10_000

// auditPruneEvery is how many of a subject's inserts come between two
// prunes of its log (1 % of keep, between 1 and 100), so a prune deletes a
// handful of rows and most writes do not prune at all. Between prunes a
// subject's log exceeds keep by fewer than that many rows per process.
func auditPruneEvery(keep int) int {
	return min(max(keep/100, 1), 100)
}

// auditPrunes decides which audit inserts also prune their subject's log:
// a subject's first insert in this process (the log may have grown past the
// bound before a restart), then every auditPruneEvery-th.
type auditPrunes struct {
	mu    sync.Mutex
	every int
	since map[string]int // inserts since the subject's last prune
}

func newAuditPrunes(keep int) *auditPrunes {
	return &auditPrunes{every: auditPruneEvery(keep), since: make(map[string]int)}
}

// due counts an insert for subject and reports whether it must prune.
func (p *auditPrunes) due(subject string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.since[subject]
	if !ok && len(p.since) >= auditTrackedSubjects {
		clear(p.since)
	}
	if !ok || n+1 >= p.every {
		p.since[subject] = 0
		return true
	}
	p.since[subject] = n + 1
	return false
}

// again makes subject's next insert prune: its prune failed or left rows
// to delete.
func (p *auditPrunes) again(subject string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.since, subject)
}

// AuditEntry is one row of the audit log. Detail is a JSON object (or empty).
type AuditEntry struct {
	ID                                                int64
	At                                                time.Time
	Subject, Action, ResourceType, ResourceID, Detail string
}

// Audit appends e to the audit log (a zero At becomes now), pruning
// e.Subject's log like every audit write (see insertAudit). Use it for
// actions the Store does not audit itself.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		return s.insertAudit(ctx, tx, auditModel{
			At: s.timestamp(e.At), Subject: e.Subject, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, Detail: e.Detail,
		})
	})
}

// auditTx writes an audit row inside tx.
func (s *Store) auditTx(ctx context.Context, tx bun.Tx, subject, action, resourceType, resourceID, detail string) error {
	return s.insertAudit(ctx, tx, auditModel{
		At: s.timestamp(time.Time{}), Subject: subject, Action: action,
		ResourceType: resourceType, ResourceID: resourceID, Detail: detail,
	})
}

// insertAudit inserts m and, when its subject is due (auditPrunes), deletes
// the subject's rows past the newest s.auditKeep, oldest first, at most
// auditPruneBatch of them, in the same transaction: the write that grows
// the log is the one that bounds it, so the bound holds with no background
// work, and no write pays for more than a batch.
func (s *Store) insertAudit(ctx context.Context, tx bun.Tx, m auditModel) error {
	if _, err := tx.NewInsert().Model(&m).Exec(ctx); err != nil {
		return err
	}
	if !s.auditPrunes.due(m.Subject) {
		return nil
	}
	// Both statements walk the index (subject, id): the cut is the id of the
	// newest row past the ones kept (none, so NULL and nothing deleted,
	// while the subject has at most auditKeep).
	cut := tx.NewSelect().TableExpr("audit_log").Column("id").
		Where("subject = ?", m.Subject).OrderExpr("id DESC").Limit(1).Offset(int64(s.auditKeep))
	oldest := tx.NewSelect().TableExpr("audit_log").Column("id").
		Where("subject = ?", m.Subject).Where("id <= (?)", cut).OrderExpr("id ASC").Limit(auditPruneBatch)
	res, err := tx.NewDelete().TableExpr("audit_log").Where("id IN (?)", oldest).Exec(ctx)
	if err != nil || rowsAffected(res) >= auditPruneBatch {
		s.auditPrunes.again(m.Subject)
	}
	return err
}

// AuditLog returns subject's audit rows, newest first, at most limit of them
// (limit <= 0 means DefaultAuditLimit; capped at MaxAuditLimit). An empty
// subject returns every subject's rows.
func (s *Store) AuditLog(ctx context.Context, subject string, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	limit = min(limit, MaxAuditLimit)
	var rows []auditModel
	err := s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		q := db.NewSelect().Model(&rows).OrderExpr("a.id DESC").Limit(int64(limit))
		if subject != "" {
			q = q.Where("a.subject = ?", subject)
		}
		return q.Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{
			ID: r.ID, At: r.At.UTC(), Subject: r.Subject, Action: r.Action,
			ResourceType: r.ResourceType, ResourceID: r.ResourceID, Detail: r.Detail,
		}
	}
	return out, nil
}

// detail renders key/value pairs as a JSON object for AuditEntry.Detail.
func detail(kv ...any) string {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b, err := json.Marshal(m)
	if err != nil {
		return ""
	}
	return string(b)
}
