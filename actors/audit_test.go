package actors

import (
	"context"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
)

// hungAuditStore's Audit waits for its context, like a database that does
// not answer.
type hungAuditStore struct{ *persistence.Store }

func (hungAuditStore) Audit(ctx context.Context, _ persistence.AuditEntry) error {
	<-ctx.Done()
	return semvec.Wrap(semvec.KindUnavailable, ctx.Err(), "database unavailable")
}

// An audit row written after its action succeeded (Sessions.Audit) is
// written although the caller went away, and a database that does not
// answer holds the caller's 2xx for auditTimeout, not for the caller's
// whole deadline.
func TestAuditAfterTheAction(t *testing.T) {
	const own = "tenant-a"
	t.Run("caller gone", func(t *testing.T) {
		e := newLayersEnv(t)
		gone, cancel := context.WithCancel(context.Background())
		cancel()
		e.sessions.Audit(gone, own, persistence.ActionImport, "session", "s1")
		log := ok(e.store.AuditLog(ctxT(t), own, 0))(t)
		if len(log) != 1 || log[0].Action != persistence.ActionImport || log[0].ResourceID != "s1" {
			t.Fatalf("audit log = %+v, want the import of s1", log)
		}
	})
	t.Run("database hung", func(t *testing.T) {
		e := newWrappedSessionsEnv(t, func(s *persistence.Store) SessionStore { return hungAuditStore{s} })
		start := time.Now()
		e.sessions.Audit(ctxT(t), own, persistence.ActionImport, "session", "s1") // ctxT: 20 s
		if d := time.Since(start); d < auditTimeout || d >= persistence.DefaultOpTimeout {
			t.Fatalf("Audit on a hung database returned after %v, want %v", d, auditTimeout)
		}
	})
}
