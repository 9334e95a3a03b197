package actors_test

import (
	"context"
	"strings"
	"testing"

	"github.com/semvec-go/semvec"
	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/actors/actortest"
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
