package actors

import (
	"context"
	"database/sql"
	"testing"

	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// markLeftLayerStore is a store whose cluster and region deletions fail as
// they do on PostgreSQL when the database goes away in the middle of one:
// the deletion's mark (fenceOff: the rows' epoch made negative, committed
// in a transaction of its own) landed, the deletion itself did not, and
// lifting the mark failed too (the database was gone).
type markLeftLayerStore struct {
	*persistence.Store
	db *sql.DB
}

func (s *markLeftLayerStore) markDeleting(ctx context.Context, owner, id string) error {
	_, err := s.db.ExecContext(ctx, "UPDATE sessions SET epoch = -(abs(epoch) + 1) WHERE owner = ? AND id = ?", owner, id)
	return err
}

func (s *markLeftLayerStore) DeleteCluster(ctx context.Context, owner, id string) (persistence.Unlinked, error) {
	if err := s.markDeleting(ctx, owner, id); err != nil {
		return persistence.Unlinked{}, err
	}
	return persistence.Unlinked{}, semvec.Errorf(semvec.KindUnavailable, "database unavailable")
}

func (s *markLeftLayerStore) DeleteRegion(ctx context.Context, owner, id string) (persistence.Unlinked, error) {
	var meta string
	if err := s.db.QueryRowContext(ctx, "SELECT meta_session_id FROM regions WHERE owner = ? AND id = ?", owner, id).Scan(&meta); err != nil {
		return persistence.Unlinked{}, err
	}
	if err := s.markDeleting(ctx, owner, meta); err != nil {
		return persistence.Unlinked{}, err
	}
	return persistence.Unlinked{}, semvec.Errorf(semvec.KindUnavailable, "database unavailable")
}

// A cluster or region deletion that failed with its outcome unknown, and
// left its mark on the backing (meta) session's row, does not make that
// session answer 404: the session exists, and its next change is applied
// (by a new activation). Before, the session's running actor wrote on,
// was refused as deleted (NotFound) and answered 404 for a cluster that
// GET /v1/cluster/{id} still listed (seen over HTTP against PostgreSQL
// stopped with -m immediate under load: an export of the backing session
// answered 404 after the database was back).
func TestAFailedDeletionsMarkDoesNotMakeItsSessionAnswer404(t *testing.T) {
	var db *sql.DB
	e := newWrappedLayersEnv(t, func(s *persistence.Store) LayerStore {
		return &markLeftLayerStore{Store: s, db: db}
	})
	var err error
	db, err = sql.Open(sqliteshim.ShimName, "file:"+e.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	e.restart() // the wrapper now holds the connection
	ctx := ctxT(t)
	const own = "tenant-a"

	cid := e.cluster(own, AggregationWeightedAverage, 0)
	r := e.region(own, 0.5, 3600)
	for _, id := range []string{cid, r.MetaSessionID} { // both actors run
		ok(AskSession[*pb.TriggerResponse](ctx, e.sessions, id, &pb.TriggerRequest{Owner: own, SessionId: id, Keyword: "before"}))(t)
	}

	if err := e.layers.DeleteCluster(ctx, own, cid); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("the failed cluster deletion: %v, want unavailable", err)
	}
	if err := e.layers.DeleteRegion(ctx, own, r.ID); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Fatalf("the failed region deletion: %v, want unavailable", err)
	}
	ok(e.layers.ClusterState(ctx, own, cid))(t) // the cluster is still there

	for _, id := range []string{cid, r.MetaSessionID} {
		res, err := AskSession[*pb.TriggerResponse](ctx, e.sessions, id, &pb.TriggerRequest{Owner: own, SessionId: id, Keyword: "after"})
		if err != nil {
			t.Fatalf("a change to session %s after the failed deletion: %v (kind %v), want it applied", id, err, semvec.KindOf(err))
		}
		if res.GetTriggerCount() != 2 {
			t.Fatalf("session %s: %d triggers, want 2", id, res.GetTriggerCount())
		}
	}
}
