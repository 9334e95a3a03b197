// Package actortest builds the actor side of the service for tests of the
// packages above it (http, cmd): a real store, an actor system, the session
// and layer actors — wired and stopped the way cmd/semvec does — and a
// helper to wait for a condition without a blind sleep.
package actortest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/semvec-go/semvec/actors"
	"github.com/semvec-go/semvec/persistence"
)

// Stack is one running actor side over its own database.
type Stack struct {
	Store    *persistence.Store
	System   *actor.ActorSystem
	Asker    *actors.Asker
	Sessions *actors.Sessions
	Layers   *actors.Layers
}

// Options configure New; the zero value is a 384-dimension stack on a fresh
// SQLite file with a 5 s ask timeout.
type Options struct {
	// DatabaseURL defaults to a SQLite file in t.TempDir().
	DatabaseURL string
	// Session is the session layer's configuration; Dim defaults to 384 and
	// ModelName to "hash-384" (the built-in embedder's).
	Session actors.SessionConfig
	// AskTimeout defaults to 5 s.
	AskTimeout time.Duration
	// Log defaults to discarding everything.
	Log *slog.Logger
	// Sessions, when set, wraps the store the session layer reads and writes
	// (for example a store whose reads of one session never return, so the
	// session's actor never answers).
	Sessions func(*persistence.Store) actors.SessionStore
}

// New starts a stack and stops it when the test ends: layers, then
// sessions (every session passivated), then the actor system and the store.
func New(t testing.TB, opts Options) *Stack {
	t.Helper()
	if opts.DatabaseURL == "" {
		opts.DatabaseURL = "sqlite:///" + filepath.Join(t.TempDir(), "semvec.db")
	}
	if opts.Session.Dim == 0 {
		opts.Session.Dim, opts.Session.ModelName = 384, "hash-384"
	}
	if opts.AskTimeout == 0 {
		opts.AskTimeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	store, err := persistence.Open(context.Background(), opts.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	s := &Stack{Store: store, System: actors.NewActorSystem(opts.Log)}
	s.Asker = &actors.Asker{Root: s.System.Root, Timeout: opts.AskTimeout}
	var sessionStore actors.SessionStore = store
	if opts.Sessions != nil {
		sessionStore = opts.Sessions(store)
	}
	s.Sessions = actors.NewSessions(s.System.Root, sessionStore, s.Asker, opts.Session, opts.Log, nil)
	s.Layers = actors.NewLayers(s.System.Root, store, s.Asker, s.Sessions, opts.Log, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { s.Sessions.Run(ctx); done <- struct{}{} }()
	go func() { s.Layers.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := s.Layers.Shutdown(sctx); err != nil {
			t.Errorf("layers shutdown: %v", err)
		}
		if err := s.Sessions.Shutdown(sctx); err != nil {
			t.Errorf("sessions shutdown: %v", err)
		}
		s.System.Shutdown()
		_ = store.Close()
	})
	return s
}

// Eventually waits until cond holds, checking every 10 ms, and fails the
// test after 10 s. Use it for what happens on its own schedule (a periodic
// sample, a background write); for what travels through mailboxes, ask the
// next actor on the path instead — its answer comes after what was sent.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
