package persistence

import (
	"context"
	"encoding/json"
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

// AuditEntry is one row of the audit log. Detail is a JSON object (or empty).
type AuditEntry struct {
	ID                                                int64
	At                                                time.Time
	Subject, Action, ResourceType, ResourceID, Detail string
}

// Audit appends e to the audit log (a zero At becomes now). Use it for
// actions the Store does not audit itself.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return s.run(ctx, func(ctx context.Context, db bun.IDB) error {
		return insertAudit(ctx, db, auditModel{
			At: s.timestamp(e.At), Subject: e.Subject, Action: e.Action,
			ResourceType: e.ResourceType, ResourceID: e.ResourceID, Detail: e.Detail,
		})
	})
}

// auditTx writes an audit row inside tx.
func (s *Store) auditTx(ctx context.Context, tx bun.Tx, subject, action, resourceType, resourceID, detail string) error {
	return insertAudit(ctx, tx, auditModel{
		At: s.timestamp(time.Time{}), Subject: subject, Action: action,
		ResourceType: resourceType, ResourceID: resourceID, Detail: detail,
	})
}

func insertAudit(ctx context.Context, db bun.IDB, m auditModel) error {
	_, err := db.NewInsert().Model(&m).Exec(ctx)
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
