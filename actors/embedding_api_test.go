package actors_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/actors/actortest"
	"github.com/semvec-go/semvec/persistence"
	pb "github.com/semvec-go/semvec/proto"
)

// The Go API refuses what the HTTP layer never passes it: a nil request is
// an invalid-argument error, not a nil pointer dereference.
func TestAskingWithANilRequestIsInvalid(t *testing.T) {
	s := actortest.New(t, actortest.Options{})
	ctx := context.Background()
	id, err := s.Sessions.Create(ctx, "my-app", actors.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]actors.OwnedRequest{"nil": nil, "typed nil": (*pb.RunRequest)(nil)} {
		if _, err := actors.AskSession[*pb.RunResponse](ctx, s.Sessions, id, req); semvec.KindOf(err) != semvec.KindInvalid {
			t.Errorf("AskSession with a %s request = %v, want KindInvalid", name, err)
		}
	}
	if _, err := actors.Ask[*pb.RunResponse](ctx, s.Asker, s.System.Root.Self(), nil); semvec.KindOf(err) != semvec.KindInvalid {
		t.Errorf("Ask with a nil request = %v, want KindInvalid", err)
	}
}

// Sessions.Create takes as owner what a licence could name as its tenant
// (the HTTP layer's rule, semvec.ValidSubject): a blank, over-long, non-UTF-8
// or control-character owner is refused and nothing is written; the
// anonymous and dev tenants of the server are owners like any other.
func TestCreateRefusesAnOwnerNoLicenceCouldName(t *testing.T) {
	s := actortest.New(t, actortest.Options{})
	ctx := context.Background()
	for _, owner := range []string{"", " \t", strings.Repeat("x", semvec.MaxSubjectBytes+1), "bad\xff", "acme\x00", "a\nb"} {
		_, err := s.Sessions.Create(ctx, owner, actors.CreateOptions{ID: "s"})
		if semvec.KindOf(err) != semvec.KindInvalid || !strings.Contains(err.Error(), "owner") {
			t.Errorf("Create(owner %q) = %v, want KindInvalid naming the owner", owner, err)
		}
	}
	if n, err := s.Store.CountSessions(ctx); err != nil || n != 0 {
		t.Fatalf("the refused owners wrote %d sessions (%v)", n, err)
	}
	for _, owner := range []string{semvec.AnonymousSubject, "dev", "tenant/ünïcode@example.com", strings.Repeat("x", semvec.MaxSubjectBytes)} {
		if _, err := s.Sessions.Create(ctx, owner, actors.CreateOptions{}); err != nil {
			t.Errorf("Create(owner %q): %v", owner, err)
		}
	}
}

// A context already canceled when Create or AskSession is called sends
// nothing, and the error says so: not the database's fault (it was
// KindUnavailable "database unavailable") nor a timeout whose outcome is
// unknown (KindTimeout), but KindInvalid, and errors.Is finds
// context.Canceled. A context already past its deadline is KindTimeout
// (what a request past its deadline answers over HTTP) and errors.Is finds
// context.DeadlineExceeded; nothing was sent either.
func TestCallsWithADoneContextSendNothing(t *testing.T) {
	s := actortest.New(t, actortest.Options{})
	ctx := context.Background()
	active, err := s.Sessions.Create(ctx, "my-app", actors.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A session in the database that no actor holds: asking it starts with
	// an activation, which reads the database.
	if err := s.Store.CreateSession(ctx, s.Sessions.NewRecord("my-app", "cold", persistence.SessionKindSession)); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		cause error
		kind  semvec.Kind
	}{
		{"already canceled", canceled, context.Canceled, semvec.KindInvalid},
		{"past its deadline", expired, context.DeadlineExceeded, semvec.KindTimeout},
	} {
		check := func(what string, err error) {
			t.Helper()
			if !errors.Is(err, tc.cause) || semvec.KindOf(err) != tc.kind || strings.Contains(err.Error(), "database") {
				t.Errorf("%s with a context %s = %v (kind %v), want kind %v naming the context, errors.Is %v", what, tc.name, err, semvec.KindOf(err), tc.kind, tc.cause)
			}
		}
		_, err := s.Sessions.Create(tc.ctx, "my-app", actors.CreateOptions{ID: "new"})
		check("Create", err)
		if _, err := s.Store.GetSession(ctx, "my-app", "new"); semvec.KindOf(err) != semvec.KindNotFound {
			t.Errorf("Create with a context %s wrote a row: %v", tc.name, err)
		}
		for _, id := range []string{active, "cold"} {
			_, err := actors.AskSession[*pb.MetricsResponse](tc.ctx, s.Sessions, id, &pb.MetricsRequest{Owner: "my-app", SessionId: id})
			check("AskSession of session "+id, err)
		}
	}
	// The session is untouched: it answers as ever.
	if _, err := actors.AskSession[*pb.MetricsResponse](ctx, s.Sessions, "cold", &pb.MetricsRequest{Owner: "my-app", SessionId: "cold"}); err != nil {
		t.Fatal(err)
	}
}

// layerCalls calls every exported Layers method that takes an owner, as
// owner, with ids that need not exist.
func layerCalls(s *actortest.Stack, owner string) map[string]func(context.Context) error {
	l := s.Layers
	v := make([]float32, 384)
	v[0] = 1
	return map[string]func(context.Context) error{
		"CreateCluster": func(ctx context.Context) error {
			_, err := l.CreateCluster(ctx, owner, "c", actors.AggregationWeightedAverage, 0.5)
			return err
		},
		"ListClusters":      func(ctx context.Context) error { _, err := l.ListClusters(ctx, owner); return err },
		"ClusterExists":     func(ctx context.Context) error { return l.ClusterExists(ctx, owner, "c") },
		"ClusterState":      func(ctx context.Context) error { _, err := l.ClusterState(ctx, owner, "c"); return err },
		"ClusterFeedback":   func(ctx context.Context) error { _, err := l.ClusterFeedback(ctx, owner, "c"); return err },
		"DeleteCluster":     func(ctx context.Context) error { return l.DeleteCluster(ctx, owner, "c") },
		"AddMember":         func(ctx context.Context) error { _, err := l.AddMember(ctx, owner, "c", "s"); return err },
		"RemoveMember":      func(ctx context.Context) error { return l.RemoveMember(ctx, owner, "c", "s") },
		"CreateRegion":      func(ctx context.Context) error { _, err := l.CreateRegion(ctx, owner, "r", 0.6, 60); return err },
		"ListRegions":       func(ctx context.Context) error { _, err := l.ListRegions(ctx, owner); return err },
		"RegionState":       func(ctx context.Context) error { _, err := l.RegionState(ctx, owner, "r", 10); return err },
		"RegionEvents":      func(ctx context.Context) error { _, err := l.RegionEvents(ctx, owner, "r", 10); return err },
		"DeleteRegion":      func(ctx context.Context) error { return l.DeleteRegion(ctx, owner, "r") },
		"AttachCluster":     func(ctx context.Context) error { _, err := l.AttachCluster(ctx, owner, "r", "c"); return err },
		"DetachCluster":     func(ctx context.Context) error { return l.DetachCluster(ctx, owner, "r", "c") },
		"EnsureObserver":    func(ctx context.Context) error { _, _, err := l.EnsureObserver(ctx, owner, 5, nil); return err },
		"ObserverSummary":   func(ctx context.Context) error { _, err := l.ObserverSummary(ctx, owner, 5); return err },
		"ObserverSample":    func(ctx context.Context) error { _, err := l.ObserverSample(ctx, owner); return err },
		"ObserverAnomalies": func(ctx context.Context) error { _, err := l.ObserverAnomalies(ctx, owner, 5); return err },
		"ClearAnomalies":    func(ctx context.Context) error { _, err := l.ClearAnomalies(ctx, owner); return err },
		"RegisterRegion":    func(ctx context.Context) error { _, _, err := l.RegisterRegion(ctx, owner, "r"); return err },
		"UnregisterRegion":  func(ctx context.Context) error { _, _, err := l.UnregisterRegion(ctx, owner, "r"); return err },
		"Transfer":          func(ctx context.Context) error { _, err := l.Transfer(ctx, owner, "a", "b", 0.5); return err },
		"SwitchUser":        func(ctx context.Context) error { _, err := l.SwitchUser(ctx, owner, "alice"); return err },
		"ActiveUser":        func(ctx context.Context) error { _, err := l.ActiveUser(ctx, owner); return err },
		"SerializeUser":     func(ctx context.Context) error { _, err := l.SerializeUser(ctx, owner, "alice"); return err },
		"Propose":           func(ctx context.Context) error { _, err := l.Propose(ctx, owner, "a", v); return err },
		"Trust":             func(ctx context.Context) error { _, err := l.Trust(ctx, owner); return err },
	}
}

// The layers take as owner what Sessions.Create takes (semvec.ValidSubject):
// a blank or control-character owner is refused, KindInvalid, by every
// method, and nothing is written (they created clusters, regions, an
// observer and network state for owner "" or "a\nb").
func TestLayersRefuseAnOwnerNoLicenceCouldName(t *testing.T) {
	s := actortest.New(t, actortest.Options{})
	ctx := context.Background()
	for _, owner := range []string{"", " ", "acme\x00", "a\nb", "bad\xff", strings.Repeat("x", semvec.MaxSubjectBytes+1)} {
		for name, call := range layerCalls(s, owner) {
			if err := call(ctx); semvec.KindOf(err) != semvec.KindInvalid || !strings.Contains(err.Error(), "owner") {
				t.Errorf("%s(owner %q) = %v, want KindInvalid naming the owner", name, owner, err)
			}
		}
	}
	if n, err := s.Store.CountSessions(ctx); err != nil || n != 0 {
		t.Fatalf("the refused owners wrote %d sessions (%v)", n, err)
	}
	if obs, err := s.Store.ListObservers(ctx); err != nil || len(obs) != 0 {
		t.Fatalf("the refused owners wrote observers %v (%v)", obs, err)
	}
	if _, err := s.Layers.CreateCluster(ctx, "tenant/ünïcode@example.com", "c", actors.AggregationWeightedAverage, 0.5); err != nil {
		t.Fatalf("a valid owner: %v", err)
	}
}

// A layer call whose context is already done does nothing and says so, as
// Create and AskSession do: KindInvalid with context.Canceled, KindTimeout
// with context.DeadlineExceeded (they were KindUnavailable "database
// unavailable", or a KindTimeout "activation timed out", whose outcome is
// unknown). Nothing is written.
func TestLayerCallsWithADoneContextDoNothing(t *testing.T) {
	s := actortest.New(t, actortest.Options{})
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		cause error
		kind  semvec.Kind
	}{
		{"already canceled", canceled, context.Canceled, semvec.KindInvalid},
		{"past its deadline", expired, context.DeadlineExceeded, semvec.KindTimeout},
	} {
		for name, call := range layerCalls(s, "my-app") {
			if err := call(tc.ctx); !errors.Is(err, tc.cause) || semvec.KindOf(err) != tc.kind || strings.Contains(err.Error(), "database") {
				t.Errorf("%s with a context %s = %v (kind %v), want kind %v, errors.Is %v", name, tc.name, err, semvec.KindOf(err), tc.kind, tc.cause)
			}
		}
	}
	if n, err := s.Store.CountSessions(ctx); err != nil || n != 0 {
		t.Fatalf("calls with a done context wrote %d sessions (%v)", n, err)
	}
}

// After Layers.Shutdown every layer call is KindUnavailable and writes
// nothing (CreateCluster still created a cluster); after Sessions.Shutdown,
// Delete is refused like Create (it still deleted the session), and a
// Delete whose context is already done deletes nothing.
func TestCallsAfterShutdownAreRefused(t *testing.T) {
	s := actortest.New(t, actortest.Options{})
	ctx := context.Background()
	id, err := s.Sessions.Create(ctx, "my-app", actors.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Sessions.Delete(canceled, "my-app", id); !errors.Is(err, context.Canceled) || semvec.KindOf(err) != semvec.KindInvalid {
		t.Errorf("Delete with a canceled context = %v, want KindInvalid, context.Canceled", err)
	}
	if err := s.Layers.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for name, call := range layerCalls(s, "my-app") {
		if err := call(ctx); semvec.KindOf(err) != semvec.KindUnavailable {
			t.Errorf("%s after Layers.Shutdown = %v, want KindUnavailable", name, err)
		}
	}
	if err := s.Sessions.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Sessions.Delete(ctx, "my-app", id); semvec.KindOf(err) != semvec.KindUnavailable {
		t.Errorf("Delete after Sessions.Shutdown = %v, want KindUnavailable", err)
	}
	if n, err := s.Store.CountSessions(ctx); err != nil || n != 1 {
		t.Fatalf("%d sessions stored after the refused calls, want the one created (%v)", n, err)
	}
}
