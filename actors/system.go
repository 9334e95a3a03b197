// Package actors holds the protoactor actors of semvec-go — one per session,
// cluster, region and observer, plus the per-tenant network actor — and the
// single typed Ask helper through which the HTTP layer talks to them.
//
// Each actor owns its state and replies with copies. Nothing blocks inside
// Receive: database work runs on other goroutines (the change log, the
// checkpoint writer, a layer actor's async work) and comes back as a message.
// Messages are the protobuf types of package proto.
package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// NewActorSystem starts a protoactor system whose logging goes to log at WARN
// and above (protoactor's own INFO chatter and dead-letter lines are noise for
// a server), with dead-letter logging of requests disabled: a requester to a
// stopped actor already gets ErrDeadLetter.
//
// The system is protoactor's own: call its Shutdown once, after
// Layers.Shutdown and Sessions.Shutdown (a second Shutdown panics).
func NewActorSystem(log *slog.Logger) *actor.ActorSystem {
	if log == nil {
		log = slog.Default()
	}
	return actor.NewActorSystem(
		actor.WithLoggerFactory(func(s *actor.ActorSystem) *slog.Logger {
			return slog.New(levelFloor{log.Handler(), slog.LevelWarn}).With("lib", "protoactor")
		}),
		actor.WithDeadLetterThrottleCount(3),
		actor.WithDeadLetterThrottleInterval(time.Second),
		actor.WithDeadLetterRequestLogging(false),
	)
}
