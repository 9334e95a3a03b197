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
