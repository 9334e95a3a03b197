package actors

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines running: every
// actor system, registry activation, work goroutine and writer must be gone
// once its test has cleaned up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// protoactor's dead-letter throttle resets its counter on a
		// goroutine that ends one throttle interval (1 s) after a dead letter.
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
