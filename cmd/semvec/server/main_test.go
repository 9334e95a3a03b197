package server

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines running, as in
// every other package whose tests run in one process (README, "Two
// commands").
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
