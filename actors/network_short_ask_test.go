package actors

import (
	"path/filepath"
	"testing"
	"time"
)

// An ask timeout at or under opMargin (SEMVEC_ASK_TIMEOUT=250ms is
// accepted) still leaves a network operation most of the ask: before the
// margin was cut to a quarter of a short ask, it left no time at all, and
// every switch was refused before it started.
func TestAShortAskTimeoutLeavesASwitchTime(t *testing.T) {
	e := &layersEnv{t: t, dbPath: filepath.Join(t.TempDir(), "layers.db"), askTimeout: 250 * time.Millisecond}
	e.start()
	t.Cleanup(e.stop)
	_, err := e.layers.SwitchUser(ctxT(t), "tenant-a", "alice")
	if err != nil {
		t.Fatalf("a switch on an idle, healthy database with a 250ms ask timeout: %v", err)
	}
}
